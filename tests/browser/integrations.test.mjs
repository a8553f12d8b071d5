// The integrations and sites pages in real Chromium: an admin adds a webhook endpoint (a real
// HTTP receiver in this process), sends a test event and reads it in the delivery log, makes
// and revokes an API key; invites an agent who joins through the link; deactivates them and
// rotates the site's public key. Each page passes axe-core's WCAG 2.1 AA checks.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { startNode, DEMO } from './lib/node.mjs';
import { launch, newPage, until, agentLogin, screenshot } from './lib/browser.mjs';
import { axeViolations } from './lib/a11y.mjs';

let node, browser, receiver;
const received = [];
let secret = '';

before(async () => {
  node = await startNode();
  browser = await launch();
  // A receiver that checks each signature with node's own HMAC before answering 200.
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const sig = Object.fromEntries(String(req.headers['x-switchboard-signature'] || '').split(',').map((p) => p.split('=')));
      const ok = sig.v1 === createHmac('sha256', secret).update(`${sig.t}.${body}`).digest('hex');
      received.push({ id: req.headers['x-switchboard-event-id'], ok, body: JSON.parse(body) });
      res.writeHead(ok ? 200 : 401).end();
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
});
after(async () => { receiver?.close(); await browser?.close(); await node?.stop(); });

test('an admin adds a webhook, sends a test event and sees it in the delivery log', async () => {
  const admin = await newPage(browser);
  await agentLogin(admin, node.url, DEMO.admin);
  await admin.goto(node.url + '/console/integrations');
  await admin.locator('#webhooks-section').waitFor();
  await admin.fill('#webhook-url', `http://127.0.0.1:${receiver.address().port}/hook`);
  await admin.locator('#webhook-events input[value="conversation.closed"]').check();
  await admin.click('#webhook-form button[type=submit]');
  await admin.locator('#webhook-secret-label:not([hidden])').waitFor();
  secret = await admin.inputValue('#webhook-secret');
  assert.match(secret, /^whsec_/);
  await admin.locator('#webhook-rows tr', { hasText: 'conversation.closed' }).waitFor();

  await admin.click('#webhook-rows button:has-text("Send test event")');
  await until('the test event at the receiver', () => received.some((e) => e.ok && e.body.type === 'webhook.test'));
  const event = received.find((e) => e.body.type === 'webhook.test');
  await until('the delivered attempt in the log', async () => {
    await admin.click('#log-refresh');
    return (await admin.locator('#log-rows tr', { hasText: event.id }).allTextContents()).some((t) => t.includes('delivered') && t.includes('200'));
  });

  await admin.fill('#key-name', 'Warehouse');
  await admin.locator('#key-scopes input[value="conversations:read"]').check();
  await admin.click('#key-form button[type=submit]');
  await admin.locator('#key-secret-label:not([hidden])').waitFor();
  const key = await admin.inputValue('#key-secret');
  const res = await fetch(node.url + '/api/v1/conversations', { headers: { authorization: 'Bearer ' + key } });
  assert.equal(res.status, 200, 'the new key reads conversations');
  assert.deepEqual(await axeViolations(admin), []);
  await screenshot(admin, 'integrations');
  await admin.click('#key-rows button:has-text("Revoke")');
  await admin.locator('#key-rows td', { hasText: 'revoked' }).waitFor();
  const after = await fetch(node.url + '/api/v1/conversations', { headers: { authorization: 'Bearer ' + key } });
  assert.equal(after.status, 401, 'revoked');
  await admin.context().close();
});

test('an admin invites an agent who joins, then deactivates them and rotates the site key', async () => {
  const admin = await newPage(browser);
  await agentLogin(admin, node.url, DEMO.admin);
  await admin.goto(node.url + '/console/sites');
  await admin.locator('#team-section').waitFor();
  await admin.fill('#invite-email', 'newcomer@demo.local');
  await admin.click('#invite-form button[type=submit]');
  await admin.locator('#invite-link-label:not([hidden])').waitFor();
  const link = await admin.inputValue('#invite-link');
  assert.match(link, /\/console\/invite#inv_/);
  assert.deepEqual(await axeViolations(admin), []);

  const newcomer = await newPage(browser);
  await newcomer.goto(link);
  await newcomer.locator('#accept-form:not([hidden])').waitFor();
  assert.equal(await newcomer.textContent('#invite-email'), 'newcomer@demo.local');
  assert.deepEqual(await axeViolations(newcomer), []);
  await newcomer.fill('#accept-name', 'Nia Newcomer');
  await newcomer.fill('#accept-password', 'newcomer-pass-1');
  await newcomer.click('#accept-form button[type=submit]');
  await newcomer.waitForURL('**/console');
  await newcomer.context().close();

  await admin.reload();
  const row = admin.locator('#team-rows tr[data-agent="newcomer@demo.local"]');
  await row.waitFor();
  await row.locator('button', { hasText: 'Deactivate' }).click();
  await admin.locator('#team-rows tr[data-agent="newcomer@demo.local"] .state', { hasText: 'deactivated' }).waitFor();

  const before = await admin.textContent('#site-rows .public-key');
  await admin.click('#site-rows button:has-text("Rotate key")');
  await until('a new public key', async () => (await admin.textContent('#site-rows .public-key')) !== before);
  await screenshot(admin, 'sites');
  await admin.context().close();
});
