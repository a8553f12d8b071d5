// A visitor on /demo and an agent in /console chat in two browser contexts: both directions,
// typing, read state, emoji, page views, history after a reload, closing and starting anew.
// Screenshots of the widget (desktop and phone) go to artifacts/; the README's are taken by
// a11y.test.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from './lib/node.mjs';
import {
  launch, newPage, screenshot, until, agentLogin, agentClose, agentOpen, consoleMessages,
  visitorOpen, visitorSend, widgetMessages, widgetText,
} from './lib/browser.mjs';

let node, browser;
before(async () => { node = await startNode(); browser = await launch(); });
after(async () => { await browser?.close(); await node?.stop(); });

test('visitor and agent chat both ways with typing and read state', async () => {
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  // The widget shows the welcome message before anything is sent.
  await until('welcome message', async () => (await widgetText(visitor)).includes('How can we help'));

  await visitorSend(visitor, 'Hello, do you ship to Spain?');
  const cid = await agentOpen(agent, 'Hello, do you ship to Spain?');
  assert.ok(cid);
  await until('visitor message in console', async () => (await consoleMessages(agent)).includes('Hello, do you ship to Spain?'));

  // The agent types: the visitor sees it.
  await agent.locator('#reply').pressSequentially('Yes, we', { delay: 20 });
  await visitor.locator('#switchboard-widget .typing', { hasText: 'typing' }).waitFor();
  await agent.locator('#reply').pressSequentially(' do!', { delay: 10 });
  await agent.locator('#reply').press('Enter');
  // Several messages in a row, one with an emoji from the picker.
  await agent.locator('#reply').fill('Shipping takes 2 days ');
  await agent.click('#emoji-btn');
  await agent.locator('#emoji-panel button', { hasText: '🚚' }).click();
  await agent.locator('#reply').press('Enter');
  await until('agent replies in widget', async () => {
    const m = await widgetMessages(visitor);
    return m.includes('Yes, we do!') && m.includes('Shipping takes 2 days 🚚');
  });
  assert.equal(await visitor.locator('#switchboard-widget .typing').isVisible(), false, 'typing indicator hides after the message');

  // The widget is open and visible, so the visitor has read them: the agent sees "Read".
  await until('read receipts in console', async () => {
    const r = await agent.locator('#messages .msg.agent .receipt').allTextContents();
    return r.length === 2 && r.every((x) => x.includes('Read'));
  });

  // The visitor types: the agent sees it; the agent has the thread open, so it reads it.
  await visitor.locator('#switchboard-widget textarea').pressSequentially('Great', { delay: 20 });
  await agent.locator('#typing:not([hidden])').waitFor();
  await visitor.locator('#switchboard-widget textarea').press('Enter');
  await until('visitor reply in console', async () => (await consoleMessages(agent)).includes('Great'));
  await until('visitor sees Read', async () => {
    const metas = await visitor.locator('#switchboard-widget .msg.visitor .meta').allTextContents();
    return metas.length === 2 && metas.every((m) => m.includes('Read'));
  });

  // The agent sees the page the visitor is on.
  await agent.locator('#visitor-events li', { hasText: 'Acme Coffee Roasters' }).first().waitFor();

  // Both sides show the same messages, once each, in the same order.
  const expected = ['Hello, do you ship to Spain?', 'Yes, we do!', 'Shipping takes 2 days 🚚', 'Great'];
  const w = await widgetMessages(visitor);
  const c = await consoleMessages(agent);
  assert.deepEqual(w.filter((x) => expected.includes(x)), expected);
  assert.deepEqual(c, w, 'console and widget show the same thread');

  await screenshot(visitor, 'widget-open');

  // A reload keeps the history (the visitor token is in localStorage), without duplicates.
  await visitor.reload();
  await visitor.locator('#switchboard-widget .launcher').click();
  await until('history after reload', async () => JSON.stringify(await widgetMessages(visitor)) === JSON.stringify(w));

  assert.deepEqual(visitor.errors, [], 'no errors in the widget page');
  assert.deepEqual(agent.errors, [], 'no errors in the console');
  await visitor.context().close();
  await agentClose(agent);
});

test('after the agent closes, the visitor starts a new conversation', async () => {
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await visitorSend(visitor, 'First question');
  const first = await agentOpen(agent, 'First question');
  await agent.click('#act-close');
  await agent.locator('#closed-note:not([hidden])').waitFor();

  await visitor.locator('#switchboard-widget .ended', { hasText: 'This conversation has ended.' }).waitFor();
  const again = visitor.locator('#switchboard-widget button.again');
  await again.waitFor();
  assert.equal(await visitor.locator('#switchboard-widget form').isVisible(), false, 'no composer on a closed conversation');
  await again.click();
  await visitorSend(visitor, 'Second question');

  // A new conversation reaches the inbox; the closed one is under "Closed".
  const row = agent.locator('#inbox li[data-conversation-id]', { hasText: 'Second question' }).first();
  await row.waitFor();
  const second = await row.getAttribute('data-conversation-id');
  assert.notEqual(second, first);
  await agent.click('[role=tab][data-status=closed]');
  await agent.locator(`#conv-list li[data-conversation-id="${first}"]`).waitFor();
  await visitor.context().close();
  await agentClose(agent);
});

test('the widget works on a phone-sized screen', async () => {
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const phone = await newPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'es-ES' });
  // A Spanish customer page (lang="es"): the widget speaks Spanish.
  await visitorOpen(phone, node.url, '/assets/demo/es.html');
  assert.equal(await phone.locator('#switchboard-widget textarea').getAttribute('placeholder'), 'Escribe un mensaje…');
  const box = await phone.locator('#switchboard-widget .panel').boundingBox();
  assert.ok(box.width >= 389 && box.height >= 843, `the panel fills the phone screen: ${JSON.stringify(box)}`);
  await visitorSend(phone, 'Hi from my phone');
  await agentOpen(agent, 'Hi from my phone');
  await agent.locator('#reply').fill('Hello! How can I help?');
  await agent.locator('#reply').press('Enter');
  await until('reply on the phone', async () => (await widgetMessages(phone)).includes('Hello! How can I help?'));
  await screenshot(phone, 'widget-phone');
  await phone.context().close();
  await agentClose(agent);
});
