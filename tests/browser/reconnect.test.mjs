// The network drops mid-conversation (context.setOffline on both sides), both sides write
// meanwhile, and after it returns each side shows every message once, in the same order.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from './lib/node.mjs';
import { launch, newPage, until, allowConsoleErrors, agentLogin, agentClose, agentOpen, consoleMessages, visitorOpen, visitorSend, widgetMessages } from './lib/browser.mjs';

let node, browser;
before(async () => { node = await startNode(); browser = await launch(); });
after(async () => { await browser?.close(); await node?.stop(); });

const agentSend = async (agent, text) => {
  await agent.locator('#reply').fill(text);
  await agent.locator('#reply').press('Enter');
};

test('offline on both sides: queued messages are delivered once, in order', async () => {
  const agent = await newPage(browser);
  const visitor = await newPage(browser);
  // The test takes the network away: Chromium logs each failed reconnect and request as an error.
  for (const page of [agent, visitor]) allowConsoleErrors(page, /WebSocket connection to .* failed|ERR_INTERNET_DISCONNECTED/);
  await agentLogin(agent, node.url);
  await visitorOpen(visitor, node.url);
  await visitorSend(visitor, 'v1 before the drop');
  await agentOpen(agent, 'v1 before the drop');
  await agentSend(agent, 'a1 before the drop');
  await until('a1 in widget', async () => (await widgetMessages(visitor)).includes('a1 before the drop'));

  // 1. Only the visitor drops: the agent keeps writing, the visitor queues.
  await visitor.context().setOffline(true);
  await visitor.locator('#switchboard-widget .bar', { hasText: 'Reconnecting' }).waitFor();
  await agentSend(agent, 'a2 while the visitor is offline');
  await visitorSend(visitor, 'v2 typed offline');
  await visitorSend(visitor, 'v3 typed offline');
  await until('agent has a2', async () => (await consoleMessages(agent)).includes('a2 while the visitor is offline'));
  assert.equal((await widgetMessages(visitor)).includes('a2 while the visitor is offline'), false, 'the visitor really is offline');
  await visitor.context().setOffline(false);

  // 2. Both drop: both sides queue.
  await until('v3 delivered', async () => (await consoleMessages(agent)).includes('v3 typed offline'));
  await visitor.context().setOffline(true);
  await agent.context().setOffline(true);
  await agent.locator('#conn[data-state=offline]').waitFor();
  await agentSend(agent, 'a3 both offline');
  await visitorSend(visitor, 'v4 both offline');
  await agentSend(agent, 'a4 both offline');
  await visitorSend(visitor, 'v5 both offline');
  await agent.context().setOffline(false);
  await visitor.context().setOffline(false);

  const all = ['v1 before the drop', 'a1 before the drop', 'a2 while the visitor is offline', 'v2 typed offline',
    'v3 typed offline', 'a3 both offline', 'a4 both offline', 'v4 both offline', 'v5 both offline'];
  const settled = async () => {
    const w = await widgetMessages(visitor);
    const c = await consoleMessages(agent);
    const pending = await visitor.locator('#switchboard-widget .msg.pending').count() + await agent.locator('#pending .msg').count();
    return pending === 0 && all.every((m) => w.includes(m) && c.includes(m)) ? { w, c } : null;
  };
  const { w, c } = await until('every message on both sides', settled, 30000);
  for (const m of all) {
    assert.equal(w.filter((x) => x === m).length, 1, `widget shows "${m}" once`);
    assert.equal(c.filter((x) => x === m).length, 1, `console shows "${m}" once`);
  }
  assert.deepEqual(w, c, 'both sides show the same order');
  // Each side's own queued messages stay in the order they were typed.
  const order = (list, prefix) => list.filter((x) => x.startsWith(prefix));
  assert.deepEqual(order(w, 'v'), ['v1 before the drop', 'v2 typed offline', 'v3 typed offline', 'v4 both offline', 'v5 both offline']);
  assert.deepEqual(order(c, 'a'), ['a1 before the drop', 'a2 while the visitor is offline', 'a3 both offline', 'a4 both offline']);
  await visitor.context().close();
  await agentClose(agent);
});
