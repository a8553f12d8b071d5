// The audit log (admins): GET /api/v1/audit, newest first, a page at a time ("Load older
// records" follows the page's `next` cursor). Records are append-only on the server. Also the
// visitor data requests (GDPR export and erasure, docs/api.md), which the log then records.

import { api, session, UNAUTHORIZED, ApiError } from './api.js';
import { h, $ } from './dom.js';

const signIn = () => { location.href = '/console?next=' + encodeURIComponent(location.pathname); };
window.addEventListener(UNAUTHORIZED, signIn);

const PAGE = 50;
let next = null;

/** Details as short `key: value` text (changed fields, counts). */
function detail(d) {
  if (!d || typeof d !== 'object') return '';
  return Object.entries(d).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`).join('; ');
}

function row(r) {
  return h('tr', { 'data-action': r.action },
    h('td', { textContent: new Date(r.at).toLocaleString() }),
    h('td', { textContent: r.actor.kind === 'system' ? 'Switchboard (automatic)' : r.actor.name }),
    h('td', {}, h('code', { textContent: r.action })),
    h('td', { textContent: r.target || '' }),
    h('td', { className: 'detail', textContent: detail(r.detail) }),
    h('td', { textContent: r.ip || '' }));
}

async function loadPage() {
  $('#status').textContent = 'Loading…';
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (next) q.set('before', next);
  const page = await api('GET', '/audit?' + q);
  $('#audit-rows').append(...page.records.map(row));
  next = page.next;
  $('#more').hidden = !next;
  $('#status').textContent = page.records.length ? '' : 'No records yet.';
}

async function main() {
  if (!session.get()) return signIn();
  const me = (await api('GET', '/me')).agent;
  $('#me-name').textContent = me.name;
  if (me.role !== 'admin' && me.role !== 'owner') {
    $('#gate').textContent = 'Only admins can read the audit log.';
    return;
  }
  $('#audit').hidden = false;
  $('#gdpr').hidden = false;
  await loadPage();
}

/** Start over from the newest record (after a data request added some). */
async function reload() {
  next = null;
  $('#audit-rows').replaceChildren();
  await loadPage();
}

// ---- visitor data requests (GDPR): GET /visitors/{id}/export, DELETE /visitors/{id} ----------
const visitorId = () => $('#visitor-id').value.trim();
const say = (text) => { $('#gdpr-status').textContent = text; };

$('#gdpr-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const id = visitorId();
  // A link cannot carry the bearer token: fetch the export, then save it.
  const res = await fetch(`/api/v1/visitors/${encodeURIComponent(id)}/export`, { headers: { authorization: 'Bearer ' + session.get().token } });
  if (!res.ok) {
    const err = (await res.json().catch(() => ({}))).error || {};
    return say(err.message || res.statusText);
  }
  const a = h('a', { href: URL.createObjectURL(await res.blob()), download: `visitor-${id}.json` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  say('Exported.');
  await reload();
});

$('#erase').addEventListener('click', async () => {
  const id = visitorId();
  if (!$('#visitor-id').reportValidity()) return;
  if (!window.confirm(`Erase visitor ${id} everywhere? Their profile, page views, conversations and messages are deleted for good.`)) return;
  try {
    const { erased } = await api('DELETE', `/visitors/${encodeURIComponent(id)}`);
    say(`Erased: ${erased.conversations} conversations, ${erased.messages} messages, ${erased.events} page views.`);
    await reload();
  } catch (err) {
    say(err.message);
  }
});

$('#more').addEventListener('click', () => loadPage().catch((err) => { $('#status').textContent = err.message; }));

main().catch((err) => {
  if (err instanceof ApiError && err.status === 401) return;
  $('#gate').textContent = err.message;
});
