// The widget as a visitor sees it: the conversation's notes in their place, one coherent state
// when nobody is online, proactive messages that stay, and what users of other chat widgets
// expect (links, emoji, a growing composer, reply time, the agent's initials, a sound, a
// launcher that closes).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freshNode, updateSettings } from './lib/node.mjs';
import {
  launch, newPage, until, agentLogin, agentClose, agentOpen, consoleMessages, allowConsoleErrors,
  visitorOpen, visitorSend, widgetMessages, widgetText,
} from './lib/browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const agentSend = async (agent, text) => {
  await agent.locator('#reply').fill(text);
  await agent.locator('#reply').press('Enter');
};
const W = (page, sel, options) => page.locator('#switchboard-widget ' + sel, options);

/** The conversation's items in order: "note:<text>" or "msg:<text>". */
const thread = (page) => W(page, '.log .convs').evaluate((el) => [...el.querySelectorAll('.msg p, .note')]
  .map((n) => (n.classList.contains('note') ? 'note:' : 'msg:') + n.textContent));

test('"joined the conversation" shows once, at its place, after reconnects and reloads', async (t) => {
  const node = await freshNode(t);
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  // The test takes the network away: Chromium logs each failed reconnect as an error.
  allowConsoleErrors(visitor, /WebSocket connection to .* failed|ERR_INTERNET_DISCONNECTED/);
  await visitorOpen(visitor, node.url);
  await visitorSend(visitor, 'Is the Huila in stock?');
  await agentOpen(agent, 'Is the Huila in stock?');
  await agentSend(agent, 'It is, 12 bags left.');
  await until('reply in widget', async () => (await widgetMessages(visitor)).includes('It is, 12 bags left.'));

  // The server stores it when the agent is assigned: after the welcome, before the reply.
  const once = async () => {
    const items = await thread(visitor);
    const notes = items.filter((x) => x.includes('joined the conversation'));
    const note = items.indexOf('note:Demo Agent joined the conversation');
    return notes.length === 1 && note > 0 && note < items.indexOf('msg:It is, 12 bags left.') ? items : null;
  };
  assert.ok(await once(), `one note before the reply: ${JSON.stringify(await thread(visitor))}`);
  // The agent sees the same note, once, in the same place.
  const agentSide = await agent.locator('#messages .system').allTextContents();
  assert.deepEqual(agentSide, ['Demo Agent joined the conversation']);

  // Offline and back: the resumed subscription repeats the routing state; the note does not.
  await visitor.context().setOffline(true);
  await W(visitor, '.bar', { hasText: 'Reconnecting' }).waitFor();
  await visitor.context().setOffline(false);
  await W(visitor, '.bar', { hasText: 'Reconnecting' }).waitFor({ state: 'hidden' });
  await agentSend(agent, 'Anything else?');
  await until('reply after reconnect', async () => (await widgetMessages(visitor)).includes('Anything else?'));
  assert.ok(await once(), `still one note after a reconnect: ${JSON.stringify(await thread(visitor))}`);

  await visitor.reload();
  await W(visitor, '.launcher').click();
  await until('history after reload', async () => (await widgetMessages(visitor)).includes('Anything else?'));
  assert.ok(await once(), `still one note, in place, after a reload: ${JSON.stringify(await thread(visitor))}`);
  await visitor.context().close();
  await agentClose(agent);
});

test('nobody online: one coherent state, and nobody asks again for the email the visitor gave', async (t) => {
  const node = await freshNode(t);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await W(visitor, 'input[type=email]').waitFor();
  assert.equal(await W(visitor, 'header p').innerText(), 'Leave us a message');
  await W(visitor, 'input[type=email]').fill('ada@example.com');
  await visitorSend(visitor, 'Do you ship on Fridays?');
  await W(visitor, '.note', { hasText: "We'll reply to ada@example.com" }).waitFor();
  // Both automatic messages (the welcome, then the nobody-online reply) have reached the page,
  // shown or not.
  await until('the automatic reply arrived', async () => (await W(visitor, '.convs .msg.bot').count()) === 2);
  const coherent = async () => {
    const text = await widgetText(visitor);
    return !text.includes('in line') && !text.includes('Leave your email') && (await W(visitor, 'header p').innerText()) === "We'll reply by email";
  };
  await until('no queue position, no second request for the email', coherent);
  // The server knew the email before the first message: its automatic reply thanks, not asks.
  assert.ok((await widgetText(visitor)).includes("Thanks! We'll reply to you by email."));
  assert.equal(await W(visitor, 'input[type=email]').isVisible(), false, 'the email form is gone once given');

  // A reload keeps that state: the widget remembers the email was left.
  await visitor.reload();
  await W(visitor, '.launcher').click();
  await until('history after reload', async () => (await widgetMessages(visitor)).includes('Do you ship on Fridays?'));
  await until('same state after a reload', coherent);
  assert.equal(await W(visitor, 'input[type=email]').isVisible(), false);

  // An agent arrives and answers: the thanks note gives way to the agent.
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  await agentOpen(agent, 'Do you ship on Fridays?');
  await agentSend(agent, 'We ship on Wednesdays.');
  await until('agent reply', async () => (await widgetMessages(visitor)).includes('We ship on Wednesdays.'));
  await until('the agent in the header, no thanks note', async () =>
    (await W(visitor, 'header p').innerText()) === 'Demo Agent' && !(await widgetText(visitor)).includes("We'll reply to ada@"));
  await visitor.context().close();
  await agentClose(agent);
});

test('after "Start a new conversation" the welcome is in view above the composer', async (t) => {
  const node = await freshNode(t);
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  // Enough messages that the log scrolls.
  for (let i = 1; i <= 8; i++) await visitorSend(visitor, `Question number ${i}`);
  await until('all sent', async () => (await W(visitor, '.msg.pending').count()) === 0 && (await widgetMessages(visitor)).includes('Question number 8'));
  await agentOpen(agent, 'Question number');
  await agent.click('#act-close');
  await W(visitor, 'button.again').click();
  const welcome = W(visitor, '.intro .msg').first();
  await welcome.waitFor();
  await until('the welcome is fully inside the visible log', async () => {
    const w = await welcome.boundingBox();
    const log = await W(visitor, '.log').boundingBox();
    return w && w.y >= log.y && w.y + w.height <= log.y + log.height + 1;
  });
  await visitor.context().close();
  await agentClose(agent);
});

test('a proactive message the visitor answers stays in the conversation, in order', async (t) => {
  const node = await freshNode(t);
  await updateSettings(node.url, {
    triggers: [{ condition: { kind: 'url_contains', pattern: '/demo' }, message: 'Need help choosing a roast?' }],
  });
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitor.goto(node.url + '/demo');
  await W(visitor, '#panel', { hasText: 'Need help choosing a roast?' }).waitFor();
  await visitorSend(visitor, 'Yes, something fruity');
  const order = async () => {
    const m = await widgetMessages(visitor);
    const p = m.indexOf('Need help choosing a roast?');
    return p >= 0 && p < m.indexOf('Yes, something fruity') ? m : null;
  };
  await until('the proactive message, then the answer', order);
  await visitor.reload();
  await W(visitor, '.launcher').click();
  await until('still there after a reload', order);
  await visitor.context().close();
  await agentClose(agent);
});

test('the agent sees the proactive message the visitor answered', async (t) => {
  const node = await freshNode(t);
  await updateSettings(node.url, {
    triggers: [{ condition: { kind: 'url_contains', pattern: '/demo' }, message: 'Need help choosing a roast?' }],
  });
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitor.goto(node.url + '/demo');
  await W(visitor, '#panel', { hasText: 'Need help choosing a roast?' }).waitFor();
  await visitorSend(visitor, 'Yes, something fruity');
  await agentOpen(agent, 'Yes, something fruity');
  try {
    await until('the proactive message in the console, before the answer', async () => {
      const c = await consoleMessages(agent);
      const p = c.indexOf('Need help choosing a roast?');
      return p >= 0 && p < c.indexOf('Yes, something fruity');
    });
  } finally {
    await visitor.context().close();
    await agentClose(agent);
  }
});

test('the header names the agent with initials after the team\'s reply time; links in replies open', async (t) => {
  const node = await freshNode(t);
  await updateSettings(node.url, { reply_time: 'minutes' });
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await until('reply time', async () => (await W(visitor, 'header p').innerText()) === 'Usually replies in a few minutes');
  await visitorSend(visitor, 'Where is the brewing guide?');
  await agentOpen(agent, 'Where is the brewing guide?');
  await agentSend(agent, 'Here: https://example.com/brew-guide. Enjoy!');
  const link = W(visitor, '.msg.agent a');
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), 'https://example.com/brew-guide', 'the full stop stays out of the link');
  assert.equal(await link.getAttribute('target'), '_blank');
  assert.match(await W(visitor, '.msg.agent .who').innerText(), /Demo Agent$/);
  assert.equal(await W(visitor, '.msg.agent .who .av').innerText(), 'DA');
  assert.equal(await W(visitor, 'header p').innerText(), 'Demo Agent');
  assert.equal(await W(visitor, 'header .av').innerText(), 'DA');
  await visitor.context().close();
  await agentClose(agent);
});

test('the composer grows with its text; the emoji picker inserts at the cursor and closes on Escape', async (t) => {
  const node = await freshNode(t);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  const input = W(visitor, 'textarea');
  const height = async () => (await input.boundingBox()).height;
  const one = await height();
  await input.fill('Line one\nLine two\nLine three');
  await input.dispatchEvent('input');
  await until('taller composer', async () => (await height()) > one + 20);
  await input.fill('I like coffee');
  await input.dispatchEvent('input');
  await until('back to one line', async () => (await height()) === one);

  await input.evaluate((el) => el.setSelectionRange(2, 2)); // after "I "
  await W(visitor, 'button.emo').click();
  assert.equal(await W(visitor, 'button.emo').getAttribute('aria-expanded'), 'true');
  await W(visitor, '.emojis button', { hasText: '❤️' }).click();
  assert.equal(await input.inputValue(), 'I ❤️like coffee');
  assert.equal(await W(visitor, '.emojis').isVisible(), false, 'the picker closes after a pick');
  assert.ok(await input.evaluate((el) => el.getRootNode().activeElement === el), 'focus returns to the composer');
  await W(visitor, 'button.emo').click();
  await visitor.keyboard.press('Escape');
  assert.equal(await W(visitor, '.emojis').isVisible(), false);
  assert.equal(await W(visitor, '#panel').isVisible(), true, 'Escape in the picker leaves the chat open');
  await visitor.context().close();
});

test('the launcher turns into a close button while the chat is open', async (t) => {
  const node = await freshNode(t);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  const launcher = W(visitor, '.launcher');
  assert.equal(await launcher.getAttribute('aria-label'), 'Close chat');
  assert.equal(await launcher.getAttribute('aria-expanded'), 'true');
  assert.equal(await W(visitor, '.launcher .shut').isVisible(), true);
  await launcher.click();
  assert.equal(await W(visitor, '#panel').isVisible(), false);
  assert.equal(await launcher.getAttribute('aria-label'), 'Open chat');
  assert.equal(await W(visitor, '.launcher .chat').isVisible(), true);
  await visitor.context().close();
});

/** Before any page script: a controllable page visibility and a count of the tones played. */
function soundAndVisibilityProbe() {
  let hidden = false;
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
  window.setHidden = (on) => { hidden = on; document.dispatchEvent(new Event('visibilitychange')); };
  window.tones = 0;
  const create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function createOscillator() { window.tones += 1; return create.call(this); };
}

test('a reply that arrives while the page is in the background plays a sound', async (t) => {
  const node = await freshNode(t);
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitor.addInitScript(soundAndVisibilityProbe);
  await visitorOpen(visitor, node.url);
  await visitorSend(visitor, 'Ring me when you answer');
  await agentOpen(agent, 'Ring me when you answer');
  await agentSend(agent, 'Answer while you look');
  await until('first reply', async () => (await widgetMessages(visitor)).includes('Answer while you look'));
  assert.equal(await visitor.evaluate(() => window.tones), 0, 'no sound while the visitor is looking');
  await visitor.evaluate(() => window.setHidden(true));
  await agentSend(agent, 'Answer in the background');
  await until('a tone', async () => (await visitor.evaluate(() => window.tones)) > 0);
  await visitor.context().close();
  await agentClose(agent);
});

test('phone inputs use 16px text, so iOS does not zoom; focus rings use the brand colour', async (t) => {
  const node = await freshNode(t);
  await updateSettings(node.url, { widget_color: '#16a34a' });
  const phone = await newPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await visitorOpen(phone, node.url);
  await W(phone, 'input[type=email]').waitFor(); // nobody online: the email field shows too
  for (const sel of ['textarea', 'input[type=email]', 'input#name']) {
    const size = await W(phone, sel).evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
    assert.ok(size >= 16, `${sel} is ${size}px`);
  }
  await W(phone, 'textarea').focus();
  assert.equal(await W(phone, 'textarea').evaluate((el) => getComputedStyle(el).outlineColor), 'rgb(22, 163, 74)');
  await phone.context().close();
});

test('the widget script does not hold up the page that embeds it', async (t) => {
  const node = await freshNode(t);
  const visitor = await newPage(browser);
  let release;
  const held = new Promise((r) => { release = r; });
  await visitor.route('**/widget.js', async (route) => {
    const response = await route.fetch();
    await held; // the widget's server is slow
    await route.fulfill({ response });
  });
  await visitor.goto(node.url + '/demo', { waitUntil: 'domcontentloaded' });
  assert.equal(await visitor.locator('h1').innerText(), 'Acme Coffee Roasters', 'the page is there before the widget');
  assert.equal(await visitor.locator('#switchboard-widget').count(), 0);
  release();
  await W(visitor, '.launcher').waitFor();
  await visitor.context().close();
});
