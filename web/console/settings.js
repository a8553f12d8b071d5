// Site settings (admins): the embed snippet, the site's name, messages (with a welcome per
// widget language), business hours, widget look and visibility, proactive triggers, agents, and
// the identity secret. Reads GET /api/v1/site, saves the name with PATCH /api/v1/site and the
// whole settings object with PUT /api/v1/site/settings (docs/protocol.md, HTTP API).

import { api, upload, session, UNAUTHORIZED } from './api.js';
import { h, $, toast } from './dom.js';

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const TEXT_FIELDS = ['welcome_message', 'reply_inside_hours', 'reply_outside_hours', 'offline_message', 'offline_reply_known_email'];
const REPLY_FIELDS = { reply_inside_hours: 'inside business hours', reply_outside_hours: 'outside business hours',
  offline_message: 'nobody online', offline_reply_known_email: 'nobody online, email known' };
const LANG_NAMES = { en: 'English', es: 'Spanish' };
const LANGS = ['en', 'es']; // the widget's own languages (web/widget.js, STRINGS)
const RULE_KINDS = { time_on_page: 'Seconds on the page', scroll_depth: 'Scrolled this far (%)', url_contains: 'Address contains' };

let site = null;

// Sessions live per tab: sign in on the console, which comes back here.
const signIn = () => { location.href = '/console?next=' + encodeURIComponent(location.pathname); };
window.addEventListener(UNAUTHORIZED, signIn);

async function main() {
  const s = session.get();
  if (!s) { signIn(); return; }
  const me = (await api('GET', '/me')).agent;
  $('#me-name').textContent = me.name;
  myPicture(me);
  if (me.role !== 'admin' && me.role !== 'owner') {
    $('#gate').textContent = 'Only admins can change site settings.';
    return;
  }
  site = (await api('GET', '/site')).site;
  showName();
  $('#embed-snippet').value = `<script async src="${location.origin}/widget.js" data-site="${site.public_key}"></script>`;
  fillTimezones();
  fill(site.settings);
  $('#install').hidden = false;
  $('#settings-form').hidden = false;
  $('#agents-section').hidden = false;
  loadAgents();
}

function showName() {
  $('#site-name').textContent = `Site settings: ${site.name} (key ${site.public_key})`;
  $('#site_name').value = site.name;
}

$('#copy-snippet').addEventListener('click', async () => {
  const box = $('#embed-snippet');
  try {
    await navigator.clipboard.writeText(box.value);
    $('#copy-status').textContent = 'Copied.';
  } catch {
    box.select(); // no clipboard access (an insecure origin, say): selected for Ctrl+C
    $('#copy-status').textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
  }
});

// ---- settings form -----------------------------------------------------------------------------
/** The automatic replies per widget language, each empty one falling back to the text above. */
function replyVariants(st) {
  $('#reply-variants').replaceChildren(...LANGS.map((lang) => h('details', { className: 'variants' },
    h('summary', { textContent: `Automatic replies in ${LANG_NAMES[lang]} (optional)` }),
    ...Object.entries(REPLY_FIELDS).map(([k, what]) => h('label', { for: `${k}_${lang}` },
      `${LANG_NAMES[lang]}, ${what} `,
      h('textarea', { id: `${k}_${lang}`, maxLength: 2000, value: ((st.replies || {})[lang] || {})[k] || '' }))))));
}

function fill(st) {
  for (const k of TEXT_FIELDS) $('#' + k).value = st[k] || '';
  replyVariants(st);
  for (const lang of LANGS) $('#welcome_' + lang).value = (st.welcome_messages || {})[lang] || '';
  $('#reply_time').value = st.reply_time || '';
  $('#auto_close_after_secs').value = st.auto_close_after_secs || 0;
  $('#visibility').value = st.visibility || 'everyone';
  $('#privacy_url').value = st.privacy_url || '';
  $('#terms_url').value = st.terms_url || '';
  $('#widget_color').value = /^#[0-9a-f]{6}$/i.test(st.widget_color) ? st.widget_color : '#2563eb';
  $('#widget_position').value = st.widget_position === 'left' ? 'left' : 'right';
  const bh = st.business_hours;
  $('#hours_enabled').checked = !!bh;
  $('#timezone').value = bh ? bh.timezone : Intl.DateTimeFormat().resolvedOptions().timeZone;
  $('#hours-rows').replaceChildren(...DAYS.map((name, day) => {
    const w = bh && bh.weekly.find((x) => x.day === day);
    const id = `day-${day}`;
    return h('tr', {},
      h('th', { scope: 'row' }, h('label', { for: id, textContent: name })),
      h('td', {}, h('input', { id, type: 'checkbox', checked: !!w || (!bh && day < 5) })),
      h('td', {}, h('input', { type: 'time', value: w ? w.open : '09:00', 'aria-label': `${name} opens at` })),
      h('td', {}, h('input', { type: 'time', value: w ? w.close : '17:00', 'aria-label': `${name} closes at` })));
  }));
  $('#rule-rows').replaceChildren(...(st.triggers || []).map(ruleRow));
}

function ruleRow(rule = { condition: { kind: 'time_on_page', seconds: 30 }, message: '' }) {
  const c = rule.condition;
  const value = c.kind === 'time_on_page' ? c.seconds : c.kind === 'scroll_depth' ? c.percent : c.pattern;
  const kind = h('select', { 'aria-label': 'Condition' },
    ...Object.entries(RULE_KINDS).map(([k, label]) => h('option', { value: k, textContent: label, selected: k === c.kind })));
  const tr = h('tr', { className: 'rule' },
    h('td', {}, kind),
    h('td', {}, h('input', { className: 'rule-value', value: value ?? '', 'aria-label': 'Value', size: 12 })),
    h('td', {}, h('input', { className: 'rule-message', value: rule.message, 'aria-label': 'Message', maxLength: 500, size: 36 })),
    h('td', {}, h('button', { type: 'button', className: 'small danger', textContent: 'Remove', onclick: () => tr.remove() })));
  return tr;
}

function readRules() {
  return [...document.querySelectorAll('#rule-rows tr')].map((tr) => {
    const kind = tr.querySelector('select').value;
    const raw = tr.querySelector('.rule-value').value.trim();
    const message = tr.querySelector('.rule-message').value.trim();
    const n = Math.max(0, Math.round(Number(raw)));
    if (kind !== 'url_contains' && !Number.isFinite(Number(raw))) throw new Error(`"${raw}" is not a number.`);
    const condition = kind === 'time_on_page' ? { kind, seconds: n }
      : kind === 'scroll_depth' ? { kind, percent: Math.min(100, n) } : { kind, pattern: raw };
    if (!message) throw new Error('Every proactive rule needs a message.');
    return { condition, message };
  });
}

function read() {
  const st = { ...site.settings };
  for (const k of TEXT_FIELDS) st[k] = $('#' + k).value.trim();
  st.welcome_messages = {};
  for (const lang of LANGS) if ($('#welcome_' + lang).value.trim()) st.welcome_messages[lang] = $('#welcome_' + lang).value.trim();
  st.replies = {};
  for (const lang of LANGS) {
    const texts = Object.fromEntries(Object.keys(REPLY_FIELDS).map((k) => [k, $(`#${k}_${lang}`).value.trim()]));
    if (Object.values(texts).some(Boolean)) st.replies[lang] = texts;
  }
  st.reply_time = $('#reply_time').value || null;
  st.auto_close_after_secs = Math.max(0, Math.round(Number($('#auto_close_after_secs').value) || 0));
  st.visibility = $('#visibility').value;
  st.privacy_url = $('#privacy_url').value.trim() || null;
  st.terms_url = $('#terms_url').value.trim() || null;
  st.widget_color = $('#widget_color').value;
  st.widget_position = $('#widget_position').value;
  st.business_hours = !$('#hours_enabled').checked ? null : {
    timezone: $('#timezone').value.trim() || 'UTC',
    weekly: [...document.querySelectorAll('#hours-rows tr')].flatMap((tr, day) => {
      const [on, open, close] = tr.querySelectorAll('input');
      return on.checked ? [{ day, open: open.value, close: close.value }] : [];
    }),
  };
  st.triggers = readRules();
  return st;
}

function fillTimezones() {
  const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : ['UTC'];
  $('#timezones').replaceChildren(...zones.map((z) => h('option', { value: z })));
}

$('#add-rule').addEventListener('click', () => {
  const row = ruleRow();
  $('#rule-rows').append(row);
  row.querySelector('select').focus();
});

$('#settings-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const status = $('#save-status');
  try {
    const settings = read();
    const name = $('#site_name').value.trim();
    if (!name) throw new Error('The site needs a name.');
    if (name !== site.name) site = (await api('PATCH', '/site', { name })).site;
    const r = await api('PUT', '/site/settings', settings);
    site.settings = r.settings;
    showName();
    fill(r.settings);
    status.textContent = 'Saved.';
  } catch (err) {
    status.textContent = '';
    toast(`Not saved: ${err.message}`, 'error');
  }
});

// ---- pictures ----------------------------------------------------------------------------------
/** The agent's picture, or initials when there is none. */
function avatar(a) {
  const box = h('span', { className: 'avatar', 'aria-hidden': 'true' });
  if (a.avatar_version) box.append(h('img', { src: `/api/v1/avatars/${a.id}?v=${a.avatar_version}`, alt: '' }));
  else box.textContent = a.name.split(/\s+/).map((w) => w[0] || '').join('').slice(0, 2).toUpperCase();
  return box;
}

function myPicture(me) {
  $('#me-section').hidden = false;
  $('#my-avatar').replaceWith(Object.assign(avatar(me), { id: 'my-avatar' }));
  $('#my-avatar-file').onchange = async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      const r = await upload('PUT', `/agents/${me.id}/avatar`, file);
      $('#my-avatar-status').textContent = 'Picture saved.';
      myPicture(r.agent);
    } catch (err) { toast(err.message, 'error'); }
    e.target.value = '';
  };
  $('#my-avatar-remove').onclick = async () => {
    try { myPicture((await api('DELETE', `/agents/${me.id}/avatar`)).agent); } catch (err) { toast(err.message, 'error'); }
  };
}

// ---- agents ----------------------------------------------------------------------------------
async function loadAgents() {
  const { agents } = await api('GET', '/agents');
  const me = session.get().agent || {};
  $('#agent-rows').replaceChildren(...agents.map((a) => {
    const role = h('select', { 'aria-label': `Role of ${a.name}` },
      h('option', { value: 'agent', textContent: 'Agent', selected: a.role === 'agent' }),
      h('option', { value: 'admin', textContent: 'Admin', selected: a.role === 'admin' }));
    const capacity = h('input', { type: 'number', min: 1, max: 100, value: a.capacity, 'aria-label': `Capacity of ${a.name}`, size: 4 });
    const save = h('button', {
      type: 'button', className: 'small', textContent: 'Save',
      onclick: async () => {
        try {
          await api('PATCH', `/agents/${a.id}`, { role: role.value, capacity: Number(capacity.value) });
          toast(`Saved ${a.name}.`);
        } catch (err) { toast(err.message, 'error'); }
      },
    });
    // Deactivated agents cannot sign in; their chats go back to the queue at once.
    const toggle = a.id === me.id ? null : h('button', {
      type: 'button', className: 'small' + (a.active === false ? '' : ' danger'),
      textContent: a.active === false ? 'Reactivate' : 'Deactivate',
      onclick: async () => {
        try {
          await api('PATCH', `/agents/${a.id}`, { active: a.active === false });
          toast(`${a.active === false ? 'Reactivated' : 'Deactivated'} ${a.name}.`);
          loadAgents();
        } catch (err) { toast(err.message, 'error'); }
      },
    });
    const tr = h('tr', { className: a.active === false ? 'inactive' : '' },
      h('td', {}, avatar(a), ' ', a.name), h('td', { textContent: a.email }),
      h('td', {}, role), h('td', {}, capacity),
      h('td', { textContent: a.active === false ? 'deactivated' : a.presence || 'offline' }), h('td', {}, save, ' ', toggle));
    tr.dataset.agentId = a.id;
    return tr;
  }));
}

$('#agent-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    await api('POST', '/agents', {
      name: $('#new-name').value.trim(), email: $('#new-email').value.trim(), password: $('#new-password').value,
      role: $('#new-role').value, capacity: Number($('#new-capacity').value),
    });
    e.target.reset();
    $('#agent-status').textContent = 'Agent added.';
    loadAgents();
  } catch (err) {
    $('#agent-status').textContent = '';
    toast(err.message, 'error');
  }
});

$('#rotate').addEventListener('click', async () => {
  if (!window.confirm('Rotate the identity secret? Signatures made with the old one stop working at once.')) return;
  try {
    const r = await api('POST', '/site/rotate-secret');
    $('#new-secret').value = r.identity_secret;
    $('#secret-label').hidden = false;
    $('#new-secret').select();
  } catch (err) { toast(err.message, 'error'); }
});

main().catch((err) => { $('#gate').textContent = err.message; });
