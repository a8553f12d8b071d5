// The agent console beyond chatting: sign-in that returns to the page asked for, a layout that
// fits (one row of thread actions at 1440 px, whole emails, phone width), no empty headings,
// unread counts, search, readable visitor names, notifications and the embed snippet.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startNode, DEMO } from './lib/node.mjs';
import { launch, newPage, until, agentLogin, agentClose, agentOpen, visitorOpen, visitorSend } from './lib/browser.mjs';

let node, browser;
before(async () => { node = await startNode(); browser = await launch(); });
after(async () => { await browser?.close(); await node?.stop(); });

const identify = (page, userId, name, email) => page.evaluate(({ userId, name, email, signature }) =>
  window.Switchboard.identify({ userId, name, email, signature }),
{ userId, name, email, signature: createHmac('sha256', DEMO.identitySecret).update(userId).digest('hex') });

test('opening settings in a new tab returns to settings after sign-in', async () => {
  const admin = await newPage(browser);
  await admin.goto(node.url + '/console/settings');
  await admin.locator('#login-form').waitFor();
  await admin.fill('#email', DEMO.admin);
  await admin.fill('#password', DEMO.password);
  await admin.click('#login-form button[type=submit]');
  await admin.waitForURL('**/console/settings');
  await admin.locator('#settings-form').waitFor();
  await admin.context().close();
});

test('the console fits: one row of actions at 1440 px, whole emails, no empty headings', async () => {
  const agent = await newPage(browser, { viewport: { width: 1440, height: 900 } });
  await agentLogin(agent, node.url);
  // Nothing selected: no heading stands over an empty panel.
  const emptyHeadings = () => agent.evaluate(() => [...document.querySelectorAll('main h2, main h3')]
    .filter((e) => e.checkVisibility() && !e.textContent.trim()).length);
  assert.equal(await agent.locator('#profile h2').isVisible(), false, 'no visitor heading without a visitor');
  assert.equal(await emptyHeadings(), 0);

  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await identify(visitor, 'u-fit', 'Ada Lovelace', 'ada.lovelace@example.com');
  await visitorSend(visitor, 'Checking the layout');
  await agentOpen(agent, 'Checking the layout');
  await agent.locator('#visitor-info dd', { hasText: 'ada.lovelace@example.com' }).waitFor();
  const tops = await agent.locator('.thread-head .actions > :is(button, details, .group):visible').evaluateAll((els) =>
    els.map((e) => Math.round(e.getBoundingClientRect().top)));
  assert.ok(tops.length >= 3 && new Set(tops).size === 1, `thread actions on one row: ${tops}`);
  const lines = await agent.locator('#visitor-info dd', { hasText: 'ada.lovelace@example.com' }).evaluate((dd) => {
    const r = document.createRange();
    r.selectNodeContents(dd);
    return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size;
  });
  assert.equal(lines, 1, 'the email is on one line');
  assert.equal(await emptyHeadings(), 0);
  await visitor.context().close();
  await agentClose(agent);
});

test('the console is usable on a phone', async () => {
  const agent = await newPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await agentLogin(agent, node.url);
  const overflow = () => agent.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok((await overflow()) <= 0, 'nothing runs off the screen');
  for (const el of await agent.locator('.topbar :is(button, select, a, h1):visible').all()) {
    const b = await el.boundingBox();
    assert.ok(b.x >= 0 && b.x + b.width <= 390, `top bar control inside the screen: ${await el.innerText()} ${JSON.stringify(b)}`);
  }
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await visitorSend(visitor, 'Hello from a phone agent test');
  await agentOpen(agent, 'Hello from a phone agent test');
  // One pane at a time: the thread fills the screen, and a back button returns to the inbox.
  await agent.locator('#reply').waitFor();
  assert.equal(await agent.locator('#inbox').isVisible(), false);
  assert.ok((await overflow()) <= 0);
  await agent.locator('#back').click();
  await agent.locator('#inbox').waitFor();
  await visitor.context().close();
  await agentClose(agent);
});

test('search finds conversations by visitor name, email and message; anonymous visitors get readable names', async () => {
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const grace = await newPage(browser);
  await visitorOpen(grace, node.url);
  await identify(grace, 'u-grace', 'Grace Hopper', 'grace@example.com');
  await visitorSend(grace, 'Do you sell grinders?');
  const anon = await newPage(browser);
  await visitorOpen(anon, node.url);
  await visitorSend(anon, 'Decaf, please');
  await agent.locator('#inbox li', { hasText: 'Do you sell grinders?' }).waitFor();
  await agent.locator('#inbox li', { hasText: 'Decaf, please' }).waitFor();

  const rows = () => agent.locator('#inbox li[data-conversation-id] .preview').allTextContents();
  const search = async (q, expected) => {
    await agent.fill('#search', q);
    await until(`results for "${q}"`, async () => JSON.stringify(await rows()) === JSON.stringify(expected));
  };
  await search('grace@exa', ['Do you sell grinders?']);
  await search('hopper', ['Do you sell grinders?']);
  await search('DECAF', ['Decaf, please']);
  await search('nothing like this', []);
  await agent.locator('#list-empty', { hasText: 'No conversation matches.' }).waitFor();

  // The anonymous visitor is "Colour Animal", the same in the list, the thread and the profile.
  await search('decaf', ['Decaf, please']);
  const label = await agent.locator('#inbox li[data-conversation-id] .who').innerText();
  assert.match(label, /^[A-Z][a-z]+ [A-Z][a-z]+$/);
  await agentOpen(agent, 'Decaf, please');
  await agent.locator('#thread-title', { hasText: label }).waitFor();
  await agent.locator('#visitor-info dd', { hasText: label }).waitFor();
  // The page the visitor is on, at the top of the profile.
  await agent.locator('#visitor-info dd a', { hasText: 'Acme Coffee Roasters' }).waitFor();
  await agent.fill('#search', '');
  await grace.context().close();
  await anon.context().close();
  await agentClose(agent);
});

/** Before any page script: a controllable page visibility, a count of tones and a recording
 *  Notification (headless Chromium shows none). */
function backgroundProbe() {
  let hidden = false;
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
  window.setHidden = (on) => { hidden = on; document.dispatchEvent(new Event('visibilitychange')); };
  window.tones = 0;
  const create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function createOscillator() { window.tones += 1; return create.call(this); };
  window.shown = [];
  window.Notification = class {
    static permission = 'granted';
    constructor(title, options) { window.shown.push({ title, body: options.body }); }
    addEventListener() {}
  };
}

test('a visitor message in a background tab brings a chime and a notification with its text', async () => {
  const agent = await newPage(browser);
  await agent.addInitScript(backgroundProbe);
  await agentLogin(agent, node.url);
  await agent.evaluate(() => window.setHidden(true));
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await visitorSend(visitor, 'Anyone there? My order is late');
  const notes = (n) => until(`${n} notification(s)`, async () => {
    const s = await agent.evaluate(() => window.shown);
    return s.length >= n ? s : null;
  });
  await notes(1);
  // The automatic reply to the first message raises the unread count too, but is nothing to
  // announce: after a second message there are exactly two notifications.
  await visitorSend(visitor, 'Order 1042');
  const shown = await notes(2);
  assert.deepEqual(shown.map((n) => n.body), ['Anyone there? My order is late', 'Order 1042']);
  assert.match(shown[0].title, /^[A-Z][a-z]+ [A-Z][a-z]+ (wrote|is waiting)$/);
  assert.ok((await agent.evaluate(() => window.tones)) > 0, 'a chime');
  assert.match(await agent.title(), /^\(\d\) /);
  await agent.evaluate(() => window.setHidden(false));
  await visitor.context().close();
  await agentClose(agent);
});

test('settings offer a copy-paste embed snippet', async () => {
  const admin = await newPage(browser, { permissions: ['clipboard-read', 'clipboard-write'] });
  await agentLogin(admin, node.url, DEMO.admin);
  await admin.goto(node.url + '/console/settings');
  // The snippet is filled once the site has loaded.
  const box = admin.locator('#embed-snippet');
  await until('the embed snippet', async () => (await box.inputValue()) !== '');
  const snippet = await box.inputValue();
  assert.equal(snippet, `<script async src="${node.url}/widget.js" data-site="pk_demo"></script>`);
  await admin.click('#copy-snippet');
  await admin.locator('#copy-status', { hasText: 'Copied.' }).waitFor();
  assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), snippet);
  await agentClose(admin);
});

test('unread counts only what visitors wrote', async () => {
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await visitorSend(visitor, 'One message, one unread');
  const row = agent.locator('#inbox li[data-conversation-id]', { hasText: 'One message, one unread' }).first();
  try {
    await until('badge of 1', async () => (await row.locator('.unread-badge').textContent().catch(() => '')) === '1');
  } finally {
    await visitor.context().close();
    await agentClose(agent);
  }
});
