// Accepting an invitation: the token is after `#` in the link (never sent in a request line),
// so the page reads it, shows what the invitation is for, and on "Join" creates the agent and
// signs them in to the console.

import { api, session } from './api.js';
import { $ } from './dom.js';

const token = decodeURIComponent(location.hash.slice(1));

async function main() {
  try {
    const { invite, site_name: siteName } = await api('POST', '/invites/lookup', { token });
    $('#invite-site').textContent = siteName;
    $('#invite-email').textContent = invite.email;
    $('#invite-role').textContent = invite.role;
    $('#accept-form').hidden = false;
    $('#accept-name').focus();
  } catch {
    $('#invite-gone').hidden = false;
  }
}

$('#accept-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const r = await api('POST', '/invites/accept', { token, name: $('#accept-name').value.trim(), password: $('#accept-password').value });
    session.set({ token: r.token, agent: r.agent });
    location.href = '/console';
  } catch (err) {
    $('#accept-error').textContent = err.message;
  }
});

main();
