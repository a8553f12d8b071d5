// The agent console: sign-in, then the inbox, the conversation view and presence, wired to one
// agent socket. The HTML skeleton is in index.html; each concept lives in its own module.
// A sign-in that came from another console page (?next=/console/settings) returns there.

import { api, login, session, UNAUTHORIZED } from './api.js';
import { $, toast, visitorLabel } from './dom.js';
import { AgentSocket } from './socket.js';
import { Inbox } from './inbox.js';
import { Thread } from './thread.js';
import { Notifier } from './notify.js';

const loginView = $('#login');
const appView = $('#app');
let socket = null;
const notifier = new Notifier();

function showLogin(message) {
  if (socket) socket.stop();
  socket = null;
  session.clear();
  appView.hidden = true;
  loginView.hidden = false;
  $('#login-error').textContent = message || '';
  $('#email').focus();
}

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const button = e.submitter || $('#login-form button');
  button.disabled = true;
  try {
    await login($('#email').value.trim(), $('#password').value);
    $('#password').value = '';
    const next = new URLSearchParams(location.search).get('next');
    if (next && /^\/console\/[a-z/-]+$/.test(next)) { location.href = next; return; } // our own pages only
    // The views bind to the page once; a second sign-in in the same page starts afresh.
    if (started) location.reload(); else await start();
  } catch (err) {
    $('#login-error').textContent = err.code === 'unauthorized' ? 'Wrong email or password.'
      : err.code === 'forbidden' ? 'This account is deactivated. Ask an admin of the site.' : err.message;
  } finally {
    button.disabled = false;
  }
});

window.addEventListener(UNAUTHORIZED, () => showLogin('Your session expired. Please sign in again.'));
window.addEventListener('switchboard:error', (e) => toast(e.detail.message || String(e.detail), 'error'));

let started = false;
async function start() {
  const s = session.get();
  let me;
  try {
    me = (await api('GET', '/me')).agent;
  } catch (err) {
    return showLogin(err.code === 'offline' ? err.message : '');
  }
  const agents = new Map((await api('GET', '/agents')).agents.map((a) => [a.id, a]));
  started = true;
  loginView.hidden = true;
  appView.hidden = false;
  $('#me-name').textContent = me.name;
  const admin = me.role === 'admin' || me.role === 'owner';
  $('#settings-link').hidden = !admin;
  $('#bot-link').hidden = !admin;
  $('#analytics-link').hidden = !admin;
  $('#audit-link').hidden = !admin;

  socket = new AgentSocket(s.token);
  // Narrow screens show one pane: the inbox, or the thread (with a back button).
  const view = (name) => { $('#console').dataset.view = name; };
  const inbox = new Inbox({
    root: $('#inbox'), socket, me, agents,
    onSelect: (id) => { view('thread'); thread.open(id).catch((err) => toast(err.message, 'error')); },
    onNew: (c, d) => notifier.alert({
      title: `${visitorLabel(d.visitor, c.visitor_id)} ${c.assignee ? 'wrote' : 'is waiting'}`, body: d.preview,
      tag: c.id, onClick: () => inbox.select(c.id),
    }),
  });
  const thread = new Thread({ socket, me, agents, inbox });
  $('#back').addEventListener('click', () => {
    view('inbox');
    const row = document.querySelector(`#inbox li[data-conversation-id="${CSS.escape(inbox.selected || '')}"] .conv-row`);
    (row || $('#search')).focus();
  });

  socket.addEventListener('state', (e) => {
    const st = $('#conn');
    st.dataset.state = e.detail;
    st.textContent = { connecting: 'Connecting…', online: 'Connected', offline: 'Offline, reconnecting…' }[e.detail];
  });
  socket.addEventListener('presence', (e) => {
    const a = agents.get(e.detail.agent_id);
    if (a) a.presence = e.detail.status;
  });
  socket.addEventListener('unauthorized', () => showLogin('Your session expired. Please sign in again.'));
  socket.addEventListener('deactivated', () => showLogin('This account is deactivated. Ask an admin of the site.'));

  $('#presence').value = 'online';
  $('#notify-btn').hidden = notifier.permission !== 'default';
  socket.start();
}

// Header controls act on whichever socket is current (a re-login makes a new one).
$('#presence').addEventListener('change', (e) => {
  if (socket) socket.setPresence(e.target.value).catch((err) => toast(err.message, 'error'));
});
$('#notify-btn').addEventListener('click', async (e) => {
  e.target.hidden = (await notifier.requestPermission()) !== 'default';
});
$('#logout').addEventListener('click', () => {
  const done = () => showLogin('Signed out.');
  if (socket) socket.setPresence('offline').then(done, done); else done();
});

if (session.get()) start(); else showLogin();
