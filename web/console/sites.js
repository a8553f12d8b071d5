// Sites and team (admins; owners see and create every site): rotate a site's public key and
// identity secret, create a site with an invitation for its first admin, invite people to
// this site and deactivate (or bring back) its agents.

import { api, session, UNAUTHORIZED } from './api.js';
import { h, $, toast } from './dom.js';

const signIn = () => { location.href = '/console?next=' + encodeURIComponent(location.pathname); };
window.addEventListener(UNAUTHORIZED, signIn);

let me = null;

function showLink(link) {
  $('#invite-link').value = link;
  $('#invite-link-label').hidden = false;
}

async function main() {
  if (!session.get()) { signIn(); return; }
  me = (await api('GET', '/me')).agent;
  $('#me-name').textContent = me.name;
  if (me.role !== 'admin' && me.role !== 'owner') {
    $('#gate').textContent = 'Only admins manage sites and their team.';
    return;
  }
  if (me.role === 'owner') {
    $('#site-form').hidden = false;
    $('#invite-role').append(h('option', { value: 'owner', textContent: 'Owner' }));
  }
  $('#sites-section').hidden = false;
  $('#team-section').hidden = false;
  await Promise.all([loadSites(), loadTeam()]);
}

async function loadSites() {
  const { sites } = await api('GET', '/sites');
  $('#site-rows').replaceChildren(...sites.map((s) => {
    const rotateKey = h('button', {
      type: 'button', className: 'small danger', textContent: 'Rotate key', 'aria-label': `Rotate key of ${s.name}`,
      onclick: async () => {
        try { await api('POST', `/sites/${s.id}/rotate-key`); toast(`New key for ${s.name}.`); loadSites(); } catch (err) { toast(err.message, 'error'); }
      },
    });
    const rotateSecret = h('button', {
      type: 'button', className: 'small danger', textContent: 'Rotate secret', 'aria-label': `Rotate secret of ${s.name}`,
      onclick: async () => {
        try {
          const r = await api('POST', `/sites/${s.id}/rotate-secret`);
          $('#site-secret').value = r.site.identity_secret;
          $('#site-secret-label').hidden = false;
        } catch (err) { toast(err.message, 'error'); }
      },
    });
    return h('tr', { 'data-site': s.id }, h('td', { textContent: s.name }), h('td', {}, h('code', { className: 'public-key', textContent: s.public_key })),
      h('td', {}, rotateKey, ' ', rotateSecret));
  }));
}

$('#site-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const email = $('#site-admin-email').value.trim();
  try {
    const r = await api('POST', '/sites', { name: $('#site-new-name').value.trim(), admin_email: email || undefined });
    e.target.reset();
    if (r.invite_link) showLink(r.invite_link);
    toast(`Created ${r.site.name}.`);
    loadSites();
  } catch (err) { toast(err.message, 'error'); }
});

async function loadTeam() {
  const { agents } = await api('GET', '/agents');
  $('#team-rows').replaceChildren(...agents.map((a) => {
    const active = a.active !== false;
    const toggle = a.id === me.id ? '' : h('button', {
      type: 'button', className: active ? 'small danger' : 'small', textContent: active ? 'Deactivate' : 'Reactivate',
      'aria-label': `${active ? 'Deactivate' : 'Reactivate'} ${a.name}`,
      onclick: async () => {
        try { await api('PUT', `/sites/${me.site_id}/agents/${a.id}/active`, { active: !active }); loadTeam(); } catch (err) { toast(err.message, 'error'); }
      },
    });
    return h('tr', { 'data-agent': a.email }, h('td', { textContent: a.name }), h('td', { textContent: a.email }), h('td', { textContent: a.role }),
      h('td', { className: 'state', textContent: active ? 'active' : 'deactivated' }), h('td', {}, toggle));
  }));
}

$('#invite-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    const r = await api('POST', `/sites/${me.site_id}/invites`, { email: $('#invite-email').value.trim(), role: $('#invite-role').value });
    e.target.reset();
    showLink(r.invite_link);
  } catch (err) { toast(err.message, 'error'); }
});

main().catch((err) => toast(err.message, 'error'));
