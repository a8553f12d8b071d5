// Site settings through the admin UI, identity verification, proactive triggers and the
// widget's size budget.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { startNode, updateSettings, apiAs, DEMO, REPO } from './lib/node.mjs';
import { launch, newPage, until, agentLogin, agentClose, agentOpen, visitorOpen, visitorSend, widgetText, screenshot } from './lib/browser.mjs';

let node, browser;
before(async () => { node = await startNode(); browser = await launch(); });
after(async () => { await browser?.close(); await node?.stop(); });

test('an admin changes the welcome message and a fresh widget shows it', async () => {
  const admin = await newPage(browser);
  await agentLogin(admin, node.url, DEMO.admin);
  await admin.click('#settings-link');
  await admin.waitForURL('**/console/settings');
  const welcome = admin.locator('#welcome_message');
  await until('the settings', async () => (await welcome.inputValue()) !== ''); // loaded, not just drawn
  await welcome.fill('¡Hola! Welcome to Acme, ask us anything.');
  await admin.fill('#privacy_url', 'https://example.com/privacy');
  await admin.click('#settings-form button[type=submit]');
  await admin.locator('#save-status', { hasText: 'Saved.' }).waitFor();
  await screenshot(admin, 'settings');

  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await until('new welcome in a fresh widget', async () => (await widgetText(visitor)).includes('¡Hola! Welcome to Acme, ask us anything.'));
  // The privacy link shows before the first message.
  const link = visitor.locator('#switchboard-widget a', { hasText: 'Privacy policy' });
  assert.equal(await link.getAttribute('href'), 'https://example.com/privacy');
  await agentClose(admin);
  await visitor.context().close();
});

test('an admin renames the site and writes a Spanish welcome: the widget shows both', async (t) => {
  const node = await startNode(); // its own: the rename would show in other tests' screenshots
  t.after(() => node.stop());
  const admin = await newPage(browser);
  await agentLogin(admin, node.url, DEMO.admin);
  await admin.goto(node.url + '/console/settings');
  // The form is filled once the site has loaded: wait, or the load overwrites what we type.
  const loaded = () => until('the settings', async () => (await admin.locator('#site_name').inputValue()) !== '');
  await loaded();
  await admin.locator('#site_name').fill('Acme Coffee');
  await admin.locator('#welcome_es').fill('¡Hola! ¿En qué te ayudamos?');
  await admin.click('#settings-form button[type=submit]');
  await admin.locator('#save-status', { hasText: 'Saved.' }).waitFor();
  await admin.reload();
  await loaded();
  assert.equal(await admin.locator('#site_name').inputValue(), 'Acme Coffee', 'the name is stored');

  const es = await newPage(browser, { locale: 'es-ES' });
  await visitorOpen(es, node.url, '/assets/demo/es.html');
  await es.locator('#switchboard-widget h2', { hasText: 'Acme Coffee' }).waitFor();
  await until('Spanish welcome', async () => (await widgetText(es)).includes('¡Hola! ¿En qué te ayudamos?'));
  // Once the conversation starts, the welcome it stores still reads in the visitor's language.
  await es.locator('#switchboard-widget input[type=email]').fill('ana@example.com'); // nobody is online
  await visitorSend(es, 'Hola');
  await until('message sent', async () => (await es.locator('#switchboard-widget .convs .msg.visitor').count()) === 1);
  const texts = await es.locator('#switchboard-widget .log').innerText();
  assert.ok(texts.includes('¡Hola! ¿En qué te ayudamos?') && !texts.includes('How can we help'), texts);

  const en = await newPage(browser);
  await visitorOpen(en, node.url);
  await until('default welcome in English', async () => (await widgetText(en)).includes('How can we help'));
  await es.context().close();
  await en.context().close();
  await agentClose(admin);
});

test('an identified visitor with a bad signature is refused; a good one is verified', async () => {
  const bad = await newPage(browser);
  await visitorOpen(bad, node.url);
  const ok = await bad.evaluate(() => window.Switchboard.identify({ userId: 'u-42', name: 'Ada', email: 'ada@example.com', signature: '00'.repeat(32) }));
  assert.equal(ok, false, 'identify resolves false on a bad signature');
  await bad.locator('#switchboard-widget [role=alert]', { hasText: "couldn't verify your identity" }).waitFor();
  assert.equal(await bad.locator('#switchboard-widget form').isVisible(), false, 'no composer for a refused identity');
  await bad.context().close();

  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const good = await newPage(browser);
  await visitorOpen(good, node.url);
  const signature = createHmac('sha256', DEMO.identitySecret).update('u-42').digest('hex');
  assert.equal(await good.evaluate((sig) => window.Switchboard.identify({ userId: 'u-42', name: 'Ada', email: 'ada@example.com', signature: sig }), signature), true);
  await visitorSend(good, 'Hi, I am logged in');
  await agentOpen(agent, 'Hi, I am logged in');
  await agent.locator('#visitor-info dd', { hasText: 'verified (u-42)' }).waitFor();
  await agent.locator('#thread-title', { hasText: 'Ada' }).waitFor();
  await good.context().close();
  await agentClose(agent);
});

test('a proactive trigger opens the widget only while an agent is online', async (t) => {
  // Its own node: agents of earlier tests stay online for the server's grace period.
  const node = await startNode();
  t.after(() => node.stop());
  await updateSettings(node.url, {
    triggers: [{ condition: { kind: 'url_contains', pattern: '/demo' }, message: 'Need help choosing a roast?' }],
  });
  // Nobody online: the trigger stays quiet.
  const quiet = await newPage(browser);
  await quiet.goto(node.url + '/demo');
  await quiet.locator('#switchboard-widget .launcher').waitFor();
  await quiet.waitForFunction(() => window.Switchboard);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(await quiet.locator('#switchboard-widget #panel').isVisible(), false, 'no proactive open without agents');
  await quiet.context().close();

  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitor.goto(node.url + '/demo');
  await visitor.locator('#switchboard-widget #panel', { hasText: 'Need help choosing a roast?' }).waitFor();
  await agentClose(agent);
  await visitor.context().close();
});

test('the widget is at most 15 KB gzipped, as served', async () => {
  const onDisk = readFileSync(path.join(REPO, 'web/widget.js'));
  const res = await fetch(node.url + '/widget.js');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') || '', /javascript/);
  const served = Buffer.from(await res.arrayBuffer());
  assert.ok(served.equals(onDisk), 'the node serves web/widget.js');
  const gz = gzipSync(served, { level: 9 }).length;
  assert.ok(gz <= 15 * 1024, `widget.js is ${gz} bytes gzipped (budget 15360)`);
});

test('the console pages load under the node\'s Content-Security-Policy without errors', async () => {
  const page = await newPage(browser);
  for (const p of ['/console', '/console/settings', '/demo']) {
    const res = await page.goto(node.url + p);
    assert.match(res.headers()['content-security-policy'] || '', /script-src 'self'/, `${p} has a CSP`);
  }
  await agentLogin(page, node.url, DEMO.admin);
  await page.goto(node.url + '/console/settings');
  await page.locator('#settings-form').waitFor();
  assert.deepEqual(page.errors.map(String), []);
  await page.context().close();
  // The API the tests use for settings agrees with what the page shows.
  const api = await apiAs(node.url, DEMO.admin);
  assert.equal((await api('GET', '/site')).site.public_key, DEMO.site);
});
