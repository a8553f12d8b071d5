// The console's analytics and audit log (admins), and the widget when it is rate limited. The
// analytics page draws its three uPlot charts from a real chat, filters, and downloads the CSV;
// the audit page lists the admin's own sign-in and runs a visitor data request (export, then
// erasure); both pass axe and run under the node's CSP. A visitor who sends faster than
// the node allows sees a clear note, and every message still arrives.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startNode, apiAs, DEMO } from './lib/node.mjs';
import { axeViolations } from './lib/a11y.mjs';
import {
  launch, newPage, until, agentLogin, agentClose, agentOpen, visitorOpen, visitorSend, widgetMessages, screenshot,
} from './lib/browser.mjs';

let node, browser;
before(async () => { node = await startNode(); browser = await launch(); });
after(async () => { await browser?.close(); await node?.stop(); });

test('an admin reads the analytics of a real chat as charts and downloads the CSV', async () => {
  // One chat, answered by the agent, so every chart has something to draw.
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await visitorSend(visitor, 'Where is my order?');
  await agentOpen(agent, 'Where is my order?');
  await agent.locator('#reply').fill('On its way!');
  await agent.locator('#reply').press('Enter');
  await until('the answer reaches the visitor', async () => (await widgetMessages(visitor)).includes('On its way!'));

  const admin = await newPage(browser, { acceptDownloads: true });
  // Both pages (and uPlot) run under the node's Content-Security-Policy: nothing may be blocked.
  const cspViolations = [];
  admin.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
  await agentLogin(admin, node.url, DEMO.admin);
  await admin.click('#analytics-link');
  await admin.waitForURL('**/console/analytics');
  await admin.locator('#report:not([hidden])').waitFor();
  await until('three charts drawn', async () => (await admin.locator('.chart canvas').count()) === 3);
  const kpis = await admin.locator('#kpis').innerText();
  assert.match(kpis, /New conversations\s*1/, kpis);
  assert.match(kpis, /First response/, kpis);
  const agents = await admin.locator('#agent-rows').innerText();
  assert.ok(agents.includes('Demo Agent'), agents);
  assert.deepEqual(await axeViolations(admin), [], 'analytics page');
  await screenshot(admin, 'analytics');

  // Filters: outside business hours there is nothing (the demo site has no hours: all inside).
  await admin.selectOption('#hours', 'outside');
  await admin.click('#range button[type=submit]');
  await until('filtered totals', async () => /New conversations\s*0/.test(await admin.locator('#kpis').innerText()));

  const [download] = await Promise.all([admin.waitForEvent('download'), admin.click('#csv')]);
  const csv = readFileSync(await download.path(), 'utf8');
  assert.ok(csv.startsWith('date,hour,agent_id,agent_name,inside_hours,'), csv.slice(0, 200));

  // The audit log shows the admin's own sign-in and the CSV export.
  const auditPage = await admin.goto(node.url + '/console/audit');
  assert.match(auditPage.headers()['content-security-policy'] ?? '', /script-src 'self'/);
  await admin.locator('#audit:not([hidden])').waitFor();
  await admin.locator('#audit-rows tr[data-action="agent.login"]').first().waitFor();
  await admin.locator('#audit-rows tr[data-action="analytics.exported"]').waitFor();
  assert.deepEqual(await axeViolations(admin), [], 'audit page');

  // A data request: the visitor id from the agent's visitor pane, exported, then erased.
  const visitorId = (await agent.locator('#visitor-info code').innerText()).trim();
  await admin.fill('#visitor-id', visitorId);
  const [exported] = await Promise.all([admin.waitForEvent('download'), admin.click('#gdpr-form button[type=submit]')]);
  const data = JSON.parse(readFileSync(await exported.path(), 'utf8'));
  assert.equal(data.visitor.id, visitorId);
  assert.ok(data.conversations[0].messages.some((m) => m.body === 'Where is my order?'), JSON.stringify(data));
  admin.once('dialog', (d) => d.accept());
  await admin.click('#erase');
  await admin.locator('#gdpr-status', { hasText: 'Erased: 1 conversations' }).waitFor();
  await admin.locator('#audit-rows tr[data-action="visitor.erased"]').waitFor();
  await admin.locator('#audit-rows tr[data-action="visitor.exported"]').waitFor();
  await screenshot(admin, 'audit');
  assert.deepEqual(cspViolations, [], 'CSP violations on the analytics and audit pages');

  // Agents are told the pages are for admins.
  await agent.goto(node.url + '/console/analytics');
  await agent.locator('#gate', { hasText: 'Only admins' }).waitFor();

  await visitor.context().close();
  await agentClose(admin);
  await agentClose(agent);
});

test('a visitor sending too fast is told so, and every message still arrives', async (t) => {
  const slow = await startNode(['--rate-per-sec', '1', '--rate-burst', '4']);
  t.after(() => slow.stop());
  const visitor = await newPage(browser);
  await visitorOpen(visitor, slow.url);
  await visitor.locator('#switchboard-widget input[type=email]').fill('fast@example.com'); // nobody is online
  const lines = ['one', 'two', 'three', 'four', 'five', 'six', 'seven'];
  for (const line of lines) await visitorSend(visitor, line);
  await visitor.locator('#switchboard-widget .bar', { hasText: 'sending messages very quickly' }).waitFor();
  await screenshot(visitor, 'widget-rate-limited');
  const api = await apiAs(slow.url, DEMO.admin);
  await until('all seven messages stored', async () => {
    const { conversations } = await api('GET', '/conversations');
    if (!conversations.length) return false;
    const { messages } = await api('GET', `/conversations/${conversations[0].id}/messages?limit=50`);
    const bodies = messages.map((m) => m.body);
    return lines.every((l) => bodies.includes(l));
  }, 40000);
  await until('the note goes away', async () => !(await visitor.locator('#switchboard-widget .bar', { hasText: 'sending messages very quickly' }).isVisible()));
  await visitor.context().close();
});
