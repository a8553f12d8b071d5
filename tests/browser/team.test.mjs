// The console's server-backed features (issue 12, phase 2): an agent's picture uploaded in
// settings and shown in the widget, deactivating an agent, tags and tag search, the visitor's
// device, browser, location and referrer, and the automatic reply in the visitor's language.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { freshNode, DEMO } from './lib/node.mjs';
import {
  launch, newPage, until, agentLogin, agentClose, agentOpen, visitorOpen, visitorSend, widgetMessages, allowConsoleErrors,
} from './lib/browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const W = (page, sel, options) => page.locator('#switchboard-widget ' + sel, options);

/** A real 8x8 PNG of one colour, written to a temp file for the file input. */
function pngFile() {
  const crc = (buf) => {
    let c = ~0;
    for (const b of buf) { c ^= b; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); }
    return ~c >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const sum = Buffer.alloc(4); sum.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(8, 0); ihdr.writeUInt32BE(8, 4); ihdr[8] = 8; ihdr[9] = 2;
  const rows = Buffer.concat(Array.from({ length: 8 }, () => Buffer.from([0, ...Array(8).fill([22, 163, 74]).flat()])));
  const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'sb-avatar-')), 'me.png');
  writeFileSync(file, png);
  return file;
}

test('an agent uploads a picture in settings and the widget shows it with the agent\'s replies', async (t) => {
  const node = await freshNode(t);
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  await agent.goto(node.url + '/console/settings');
  await agent.locator('#me-section').waitFor();
  await agent.setInputFiles('#my-avatar-file', pngFile());
  await agent.locator('#my-avatar-status', { hasText: 'Picture saved.' }).waitFor();
  await agent.locator('#my-avatar img').waitFor();
  await agent.goto(node.url + '/console');
  await agent.locator('#conn[data-state=online]').waitFor();

  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await visitorSend(visitor, 'Who is answering?');
  await agentOpen(agent, 'Who is answering?');
  await agent.locator('#reply').fill('Me, with my picture.');
  await agent.locator('#reply').press('Enter');
  await until('reply', async () => (await widgetMessages(visitor)).includes('Me, with my picture.'));
  const header = W(visitor, 'header .av img');
  await header.waitFor();
  assert.match(await header.getAttribute('src'), /\/api\/v1\/avatars\/[0-9a-f-]+\?v=\d+$/);
  assert.ok(await header.evaluate((img) => img.complete && img.naturalWidth === 8), 'the picture loads');
  await W(visitor, '.msg.agent .who .av img').waitFor();
  await visitor.context().close();
  await agentClose(agent);
});

test('an admin deactivates an agent: its console signs out and it cannot sign in', async (t) => {
  const node = await freshNode(t);
  const agent = await newPage(browser);
  // The test signs in while deactivated on purpose: Chromium logs the refused request.
  allowConsoleErrors(agent, /status of 403/);
  await agentLogin(agent, node.url);
  const admin = await newPage(browser);
  await agentLogin(admin, node.url, DEMO.admin);
  await admin.goto(node.url + '/console/settings');
  const row = admin.locator('#agent-rows tr', { hasText: DEMO.agent });
  await row.locator('button', { hasText: 'Deactivate' }).click();
  await row.locator('td', { hasText: 'deactivated' }).waitFor();
  await row.locator('button', { hasText: 'Reactivate' }).waitFor();
  // The signed-in agent is shown the sign-in form, saying why.
  await agent.locator('#login:not([hidden])').waitFor();
  await agent.locator('#login-error', { hasText: 'deactivated' }).waitFor();
  await agent.fill('#email', DEMO.agent);
  await agent.fill('#password', DEMO.password);
  await agent.click('#login-form button[type=submit]');
  await agent.locator('#login-error', { hasText: 'This account is deactivated' }).waitFor();
  // The admin's own row has no such button: nobody locks themself out.
  const own = admin.locator('#agent-rows tr', { hasText: DEMO.admin });
  assert.equal(await own.locator('button', { hasText: 'Deactivate' }).count(), 0);
  await row.locator('button', { hasText: 'Reactivate' }).click();
  await row.locator('button', { hasText: 'Deactivate' }).waitFor();
  await agent.click('#login-form button[type=submit]');
  await agent.locator('#conn[data-state=online]').waitFor();
  await agentClose(agent);
  await agentClose(admin);
});

test('tags on a conversation, found by #tag; the profile shows device, browser, location and referrer', async (t) => {
  const node = await freshNode(t);
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser, {
    userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    timezoneId: 'Europe/Madrid', locale: 'es-ES',
  });
  // Arrive from another page, so the widget has a referrer to report.
  await visitor.goto(node.url + '/assets/demo/es.html');
  await visitor.goto(node.url + '/demo', { referer: node.url + '/assets/demo/es.html' });
  await W(visitor, '.launcher').click();
  await visitorSend(visitor, 'Quiero devolver un pedido');
  await agentOpen(agent, 'Quiero devolver un pedido');
  const info = agent.locator('#visitor-info');
  await info.locator('dd', { hasText: 'phone' }).waitFor();
  await info.locator('dd', { hasText: 'Safari 17' }).waitFor();
  await info.locator('dd', { hasText: 'Madrid' }).waitFor();
  await info.locator('dd', { hasText: 'es-ES' }).waitFor();
  await info.locator('dd a', { hasText: '/assets/demo/es.html' }).waitFor();

  await agent.fill('#tag-input', 'Refund');
  await agent.press('#tag-input', 'Enter');
  await agent.locator('#tag-list .tag', { hasText: 'refund' }).waitFor();
  await agent.fill('#search', '#refund');
  await until('the tagged conversation found', async () =>
    JSON.stringify(await agent.locator('#inbox li[data-conversation-id] .preview').allTextContents()) === '["Quiero devolver un pedido"]');
  await agent.fill('#search', '#nothing');
  await agent.locator('#list-empty', { hasText: 'No conversation matches.' }).waitFor();
  await agent.fill('#search', '');
  await agent.locator('#tag-list button', { hasText: '×' }).click();
  await until('tag removed', async () => (await agent.locator('#tag-list .tag').count()) === 0);
  await visitor.context().close();
  await agentClose(agent);
});

test('with nobody online, a Spanish visitor gets the Spanish automatic reply, and no second request for the email', async (t) => {
  const node = await freshNode(t);
  const admin = await newPage(browser);
  await agentLogin(admin, node.url, DEMO.admin);
  await admin.goto(node.url + '/console/settings');
  await admin.locator('summary', { hasText: 'Automatic replies in Spanish' }).click();
  await admin.locator('#offline_reply_known_email_es').fill('¡Gracias! Te responderemos por correo.');
  await admin.click('#settings-form button[type=submit]');
  await admin.locator('#save-status', { hasText: 'Saved.' }).waitFor();
  await agentClose(admin); // signed out: nobody is online for the visitor
  const es = await newPage(browser, { locale: 'es-ES' });
  await visitorOpen(es, node.url, '/assets/demo/es.html');
  await es.locator('#switchboard-widget input[type=email]').fill('ana@example.com');
  await visitorSend(es, 'Hola, ¿enviáis a Canarias?');
  await until('the Spanish reply', async () => (await widgetMessages(es)).includes('¡Gracias! Te responderemos por correo.'));
  assert.ok(!(await widgetMessages(es)).some((m) => m.includes('correo y te responderemos')), 'not asked again');
  await es.context().close();
});
