// Integrations (admins): webhook endpoints (add, enable, send a test event, delete), the
// delivery log and dead letters (send again), and API keys (create with scopes, revoke).
// Secrets (an endpoint's signing secret, a new key) are shown once, when they are made.

import { api, session, UNAUTHORIZED } from './api.js';
import { h, $, toast, fmtTime } from './dom.js';

const EVENTS = ['conversation.created', 'conversation.assigned', 'conversation.closed', 'message.created', 'csat.submitted', 'conversation.handed_off'];
const SCOPES = { 'conversations:read': 'Read conversations', 'messages:send': 'Send messages', 'conversations:write': 'Close, snooze, transfer', 'webhooks:manage': 'Manage webhooks' };

const signIn = () => { location.href = '/console?next=' + encodeURIComponent(location.pathname); };
window.addEventListener(UNAUTHORIZED, signIn);

const checkbox = (name, value, label) => h('label', { className: 'inline' }, h('input', { type: 'checkbox', name, value }), label);
const checked = (root) => [...root.querySelectorAll('input:checked')].map((i) => i.value);

async function main() {
  if (!session.get()) { signIn(); return; }
  const me = (await api('GET', '/me')).agent;
  $('#me-name').textContent = me.name;
  if (me.role !== 'admin' && me.role !== 'owner') {
    $('#gate').textContent = 'Only admins manage integrations.';
    return;
  }
  $('#webhook-events').append(...EVENTS.map((e) => checkbox('event', e, e)));
  $('#key-scopes').append(...Object.entries(SCOPES).map(([s, label]) => checkbox('scope', s, `${label} (${s})`)));
  $('#webhooks-section').hidden = false;
  $('#keys-section').hidden = false;
  await Promise.all([loadWebhooks(), loadLog(), loadKeys()]);
}

// ---- webhooks ----------------------------------------------------------------------------------
async function loadWebhooks() {
  const { webhooks } = await api('GET', '/webhooks');
  $('#webhook-rows').replaceChildren(...webhooks.map((w) => {
    const enabled = h('input', {
      type: 'checkbox', checked: w.enabled, 'aria-label': `Enabled: ${w.url}`,
      onchange: async (e) => {
        try { await api('PATCH', `/webhooks/${w.id}`, { enabled: e.target.checked }); toast('Saved.'); } catch (err) { toast(err.message, 'error'); }
      },
    });
    const test = h('button', {
      type: 'button', className: 'small', textContent: 'Send test event',
      onclick: async () => {
        try {
          const r = await api('POST', `/webhooks/${w.id}/test`);
          toast(`Test event ${r.event_id} queued.`);
          setTimeout(loadLog, 1000);
        } catch (err) { toast(err.message, 'error'); }
      },
    });
    const remove = h('button', {
      type: 'button', className: 'small danger', textContent: 'Delete',
      onclick: async () => {
        try { await api('DELETE', `/webhooks/${w.id}`); loadWebhooks(); } catch (err) { toast(err.message, 'error'); }
      },
    });
    return h('tr', { 'data-id': w.id }, h('td', { textContent: w.url }), h('td', { textContent: w.events.length ? w.events.join(', ') : 'all' }),
      h('td', {}, enabled), h('td', {}, test, ' ', remove));
  }));
}

$('#webhook-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const r = await api('POST', '/webhooks', { url: $('#webhook-url').value.trim(), events: checked($('#webhook-events')) });
    e.target.reset();
    $('#webhook-secret').value = r.webhook.secret;
    $('#webhook-secret-label').hidden = false;
    loadWebhooks();
  } catch (err) { toast(err.message, 'error'); }
});

async function loadLog() {
  const [{ attempts }, { deliveries }] = await Promise.all([api('GET', '/webhooks/log?limit=100'), api('GET', '/webhooks/deliveries?state=dead&limit=100')]);
  $('#log-rows').replaceChildren(...attempts.map((a) => h('tr', { className: 'outcome-' + a.outcome },
    h('td', { textContent: fmtTime(a.at) }), h('td', {}, h('code', { textContent: a.event_id })), h('td', { textContent: a.kind }),
    h('td', { textContent: String(a.attempt) }), h('td', { textContent: a.outcome }),
    h('td', { textContent: a.status == null ? '—' : String(a.status) }), h('td', { textContent: a.error || '' }))));
  $('#dead-rows').replaceChildren(...deliveries.map((d) => h('tr', {},
    h('td', {}, h('code', { textContent: d.event_id })), h('td', { textContent: d.kind }), h('td', { textContent: d.last_error || '' }),
    h('td', {}, h('button', {
      type: 'button', className: 'small', textContent: 'Send again',
      onclick: async () => {
        try { await api('POST', '/webhooks/deliveries/redeliver', { event_id: d.event_id, endpoint_id: d.endpoint_id }); toast('Queued again.'); setTimeout(loadLog, 1000); } catch (err) { toast(err.message, 'error'); }
      },
    })))));
  $('#log-status').textContent = `${attempts.length} attempts, ${deliveries.length} dead letters.`;
}

$('#log-refresh').addEventListener('click', () => loadLog().catch((err) => toast(err.message, 'error')));

// ---- API keys ------------------------------------------------------------------------------------
async function loadKeys() {
  const { api_keys: keys } = await api('GET', '/api-keys');
  $('#key-rows').replaceChildren(...keys.map((k) => h('tr', {},
    h('td', { textContent: k.name }), h('td', {}, h('code', { textContent: k.prefix + '…' })), h('td', { textContent: k.scopes.join(', ') }),
    h('td', { textContent: k.revoked_at ? `revoked ${fmtTime(k.revoked_at)}` : 'active' }),
    h('td', {}, k.revoked_at ? '' : h('button', {
      type: 'button', className: 'small danger', textContent: 'Revoke', 'aria-label': `Revoke ${k.name}`,
      onclick: async () => {
        try { await api('DELETE', `/api-keys/${k.id}`); loadKeys(); } catch (err) { toast(err.message, 'error'); }
      },
    })))));
}

$('#key-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const r = await api('POST', '/api-keys', { name: $('#key-name').value.trim(), scopes: checked($('#key-scopes')) });
    e.target.reset();
    $('#key-secret').value = r.secret;
    $('#key-secret-label').hidden = false;
    loadKeys();
  } catch (err) { toast(err.message, 'error'); }
});

main().catch((err) => toast(err.message, 'error'));
