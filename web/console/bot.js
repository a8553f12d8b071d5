// The Bot & replies page (admins): the bot's mode and thresholds, the optional language model
// (its key is write-only: the page only learns whether one is stored), the help-centre
// articles the bot answers from, and the site's canned replies. REST: /api/v1/bot-settings,
// /api/v1/articles, /api/v1/canned-replies (docs/protocol.md, HTTP API).

import { api, session, UNAUTHORIZED } from './api.js';
import { h, $, toast } from './dom.js';

const signIn = () => { location.href = '/console?next=' + encodeURIComponent(location.pathname); };
window.addEventListener(UNAUTHORIZED, signIn);

let settings = null;
let editing = null; // the article in the form, or null for a new one

async function main() {
  if (!session.get()) { signIn(); return; }
  const me = (await api('GET', '/me')).agent;
  $('#me-name').textContent = me.name;
  if (me.role !== 'admin' && me.role !== 'owner') {
    $('#gate').textContent = 'Only admins can change the bot and the canned replies.';
    return;
  }
  settings = await api('GET', '/bot-settings');
  fillSettings();
  $('#bot-form').hidden = false;
  $('#articles').hidden = false;
  $('#canned').hidden = false;
  await Promise.all([loadArticles(), loadCanned()]);
}

// ---- bot and model settings ------------------------------------------------------------------
function fillSettings() {
  const { bot, llm } = settings;
  $('#mode').value = bot.mode;
  for (const k of ['min_score', 'min_margin', 'max_dont_know', 'max_bot_turns']) $('#' + k).value = bot[k];
  $('#llm_enabled').checked = llm.enabled;
  $('#base_url').value = llm.base_url;
  $('#model').value = llm.model;
  $('#daily_token_budget').value = llm.daily_token_budget;
  $('#api_key').value = '';
  $('#clear_key').checked = false;
  $('#key-state').textContent = settings.llm_key_set ? 'A key is stored (it is never shown).' : 'No key is stored.';
}

$('#bot-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const bot = { ...settings.bot, mode: $('#mode').value };
  for (const k of ['min_score', 'min_margin']) bot[k] = Number($('#' + k).value);
  for (const k of ['max_dont_know', 'max_bot_turns']) bot[k] = Math.round(Number($('#' + k).value));
  const llm = {
    ...settings.llm,
    enabled: $('#llm_enabled').checked,
    base_url: $('#base_url').value.trim(),
    model: $('#model').value.trim(),
    daily_token_budget: Math.max(0, Math.round(Number($('#daily_token_budget').value) || 0)),
  };
  // Write-only: absent keeps the stored key, "" removes it.
  if ($('#clear_key').checked) llm.api_key = '';
  else if ($('#api_key').value) llm.api_key = $('#api_key').value;
  try {
    settings = await api('PUT', '/bot-settings', { bot, llm });
    fillSettings();
    $('#bot-status').textContent = 'Saved.';
  } catch (err) {
    $('#bot-status').textContent = err.message;
  }
});

// ---- articles ------------------------------------------------------------------------------------
async function loadArticles() {
  const { articles } = await api('GET', '/articles');
  articles.sort((a, b) => a.title.localeCompare(b.title));
  $('#article-list').replaceChildren(...articles.map((a) => h('li', {},
    h('span', { textContent: `${a.title} (${a.language})` }),
    h('button', { type: 'button', className: 'small', textContent: 'Edit', 'aria-label': `Edit ${a.title}`, onclick: () => edit(a) }))));
}

function edit(a) {
  editing = a;
  $('#article-form-title').textContent = a ? `Edit: ${a.title}` : 'New article';
  $('#a-title').value = a ? a.title : '';
  $('#a-url').value = a ? a.url : '';
  $('#a-language').value = a ? a.language : 'en';
  $('#a-body').value = a ? a.body : '';
  $('#a-delete').hidden = !a;
  $('#article-status').textContent = '';
  $('#a-title').focus();
}

$('#a-new').addEventListener('click', () => edit(null));

$('#article-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const body = { title: $('#a-title').value, url: $('#a-url').value, language: $('#a-language').value, body: $('#a-body').value };
  try {
    const r = editing ? await api('PUT', `/articles/${editing.id}`, body) : await api('POST', '/articles', body);
    editing = r.article;
    $('#article-status').textContent = 'Saved. The bot answers from it now.';
    $('#a-delete').hidden = false;
    await loadArticles();
  } catch (err) {
    $('#article-status').textContent = err.message;
  }
});

$('#a-delete').addEventListener('click', async () => {
  if (!editing) return;
  try {
    await api('DELETE', `/articles/${editing.id}`);
    toast('Article deleted.');
    edit(null);
    await loadArticles();
  } catch (err) {
    $('#article-status').textContent = err.message;
  }
});

// ---- canned replies --------------------------------------------------------------------------
async function loadCanned() {
  const { canned_replies: replies } = await api('GET', '/canned-replies');
  $('#canned-rows').replaceChildren(...replies.map((c) => h('li', {},
    h('span', {}, h('code', { textContent: '/' + c.shortcut }), ' ', c.body),
    h('button', {
      type: 'button', className: 'small danger', textContent: 'Delete', 'aria-label': `Delete /${c.shortcut}`,
      onclick: async () => { await api('DELETE', `/canned-replies/${c.id}`).catch((err) => toast(err.message, 'error')); loadCanned(); },
    }))));
}

$('#canned-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    await api('POST', '/canned-replies', { shortcut: $('#c-shortcut').value, body: $('#c-body').value });
    $('#c-shortcut').value = '';
    $('#c-body').value = '';
    $('#canned-status').textContent = 'Added.';
    await loadCanned();
  } catch (err) {
    $('#canned-status').textContent = err.message;
  }
});

main().catch((err) => { $('#gate').textContent = err.message; });
