// Bots and agent tools in real Chromium (issue 11): the visitor asks a question the demo help
// centre answers and gets the bot's answer with its link; asks for a human and is handed off;
// the agent sees the bot's turns, the hand-off reason and a private note the visitor never sees;
// a canned reply goes in with "/shortcut"; an attachment goes each way; after the close the
// visitor rates the conversation and the agent sees the rating.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, apiAs, DEMO } from './lib/node.mjs';
import {
  launch, newPage, until, screenshot, agentLogin, agentClose, agentOpen, consoleMessages,
  visitorOpen, visitorSend, widgetMessages, widgetText,
} from './lib/browser.mjs';

let node, browser;
before(async () => { node = await startNode(); browser = await launch(); });
after(async () => { await browser?.close(); await node?.stop(); });

const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
  '1f15c4890000000d49444154789c6300010000050001' + '0d0a2db40000000049454e44ae426082', 'hex');

test('the bot answers with its link, hands off, and the agent takes it from there', async () => {
  const admin = await apiAs(node.url, DEMO.admin);
  await admin('PUT', '/bot-settings', { bot: { mode: 'bot_first' } });
  await admin('POST', '/canned-replies', { shortcut: 'thanks', body: 'Thanks for waiting, I am on it.' });

  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);

  // A question the help centre answers: the excerpt, the link, and the quick actions.
  await visitorSend(visitor, 'Do you sell decaf coffee?');
  const link = visitor.locator('#switchboard-widget .msg.bot .cite a', { hasText: 'Decaf coffee' });
  await link.waitFor();
  assert.match(await link.getAttribute('href'), /\/demo\/help\/decaf$/);
  await visitor.locator('#switchboard-widget .msg.bot .acts button', { hasText: 'Yes, thanks' }).waitFor();
  await screenshot(visitor, 'widget-bot-answer');

  // The permanent button asks for a person: the hand-off notice shows, the button goes.
  const human = visitor.locator('#switchboard-widget button.human');
  await human.waitFor();
  await human.click();
  await until('the hand-off notice', async () => (await widgetMessages(visitor)).some((m) => /person|agent|persona/i.test(m) && !/decaf/i.test(m)));
  await until('the human button hides', async () => !(await human.isVisible()));

  // The agent opens it: the bot's turns and why it handed off.
  await agentOpen(agent, 'Do you sell decaf coffee?');
  await agent.locator('#thread-owner', { hasText: 'handed off: the visitor asked for a person' }).waitFor();
  await agent.locator('#messages .msg.bot .sources a', { hasText: 'Decaf coffee' }).waitFor();
  await agent.locator('#messages .msg .handoff', { hasText: 'the visitor asked for a person' }).waitFor();

  // A private note: the console shows it apart, the visitor never gets it.
  await agent.check('#note-toggle');
  await agent.locator('#reply').fill('VIP customer, be extra nice');
  await agent.locator('#reply').press('Enter');
  await agent.locator('#messages .msg.private .body', { hasText: 'VIP customer' }).waitFor();
  // A canned reply by shortcut, then sent.
  await agent.locator('#reply').pressSequentially('/tha', { delay: 20 });
  await agent.locator('#canned-list li', { hasText: '/thanks' }).waitFor();
  await agent.locator('#reply').press('Enter');
  assert.equal(await agent.locator('#reply').inputValue(), 'Thanks for waiting, I am on it.');
  await agent.locator('#reply').press('Enter');
  await until('the reply reaches the widget', async () => (await widgetMessages(visitor)).includes('Thanks for waiting, I am on it.'));
  assert.ok(!(await widgetText(visitor)).includes('VIP customer'), 'the note never reaches the visitor');
  await agent.locator('#thread-owner', { hasText: 'You are answering' }).waitFor();

  // An attachment each way: the visitor's picture shows in the console, the agent's file in
  // the widget.
  await visitor.locator('#switchboard-widget input[type=file]').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: PNG });
  const img = agent.locator('#messages .attachment img[alt="photo.png"]');
  await img.waitFor();
  await until('the picture loads in the console', async () => /^blob:/.test(await img.getAttribute('src') || ''));
  await agent.locator('#attach-file').setInputFiles({ name: 'receipt.txt', mimeType: 'text/plain', buffer: Buffer.from('Order 42: paid') });
  const file = visitor.locator('#switchboard-widget .att a', { hasText: 'receipt.txt' });
  await file.waitFor();
  await until('the file link is ready in the widget', async () => /^blob:/.test(await file.getAttribute('href') || ''));
  const mine = visitor.locator('#switchboard-widget .msg.visitor .att img[alt="photo.png"]');
  await mine.waitFor();
  await screenshot(agent, 'console-bot-handoff');

  // The close: the visitor rates it, the agent sees the rating.
  await agent.click('#act-close');
  await visitor.locator('#switchboard-widget .rate').waitFor();
  await visitor.locator('#switchboard-widget .stars button[aria-label="4 out of 5"]').click();
  await visitor.locator('#switchboard-widget .rate input').fill('Quick and kind');
  await visitor.locator('#switchboard-widget .rate .go').click();
  await visitor.locator('#switchboard-widget .rate', { hasText: 'Thanks for your rating!' }).waitFor();
  await agent.locator('#thread-csat', { hasText: '(4/5)' }).waitFor();
  assert.ok((await agent.locator('#thread-csat').textContent()).includes('Quick and kind'));
  const c = await consoleMessages(agent);
  assert.ok(c.includes('VIP customer, be extra nice'));
  await visitor.context().close();
  await agentClose(agent);
});

test('admins edit articles and canned replies on the Bot & replies page', async () => {
  const admin = await newPage(browser);
  await agentLogin(admin, node.url, DEMO.admin);
  await admin.locator('#bot-link').click();
  await admin.locator('#bot-form').waitFor();
  assert.equal(await admin.locator('#mode').inputValue(), 'bot_first');
  await admin.fill('#a-title', 'Parking at the roastery');
  await admin.fill('#a-url', '/demo/help/parking');
  await admin.fill('#a-body', 'Free parking for visitors is behind the roastery building.');
  await admin.click('#article-form button[type=submit]');
  await admin.locator('#article-list li', { hasText: 'Parking at the roastery' }).waitFor();
  // The key is write-only: stored, never shown.
  await admin.fill('#api_key', 'sk-browser-secret');
  await admin.click('#bot-form button[type=submit]');
  await admin.locator('#key-state', { hasText: 'A key is stored' }).waitFor();
  assert.equal(await admin.locator('#api_key').inputValue(), '');
  assert.ok(!(await admin.content()).includes('sk-browser-secret'));
  await admin.goto(node.url + '/console');
  await admin.locator('#conn[data-state=online]').waitFor();
  await agentClose(admin);
});
