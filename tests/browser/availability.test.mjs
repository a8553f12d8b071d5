// Nobody online: the widget asks for an email, and the message reaches the inbox once an agent
// signs in. Outside business hours: the outside-hours reply shows.

import { test, beforeEach, afterEach, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNode, updateSettings } from './lib/node.mjs';
import { launch, newPage, until, agentLogin, agentClose, agentOpen, consoleMessages, visitorOpen, visitorSend, widgetText, screenshot } from './lib/browser.mjs';

let node, browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });
beforeEach(async () => { node = await startNode(); }); // each test needs its own site state
afterEach(async () => { await node?.stop(); });

test('nobody online: leave-a-message form, and the message reaches the inbox', async () => {
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  const email = visitor.locator('#switchboard-widget input[type=email]');
  await email.waitFor();
  assert.equal(await visitor.locator('#switchboard-widget label[for=email]').innerText().then((t) => t.includes('Your email')), true);

  // Without a valid email the widget does not send.
  await visitorSend(visitor, 'Do you sell decaf?');
  await visitor.locator('#switchboard-widget .errtext', { hasText: 'valid email' }).waitFor();
  await email.fill('ada@example.com');
  await visitor.locator('#switchboard-widget input#name').fill('Ada');
  await visitor.locator('#switchboard-widget button.send').click();

  // The thanks confirms the email; the automatic reply asking for it again stays out of sight.
  await until('thanks', async () => (await widgetText(visitor)).includes("We'll reply to ada@example.com"));
  assert.equal((await widgetText(visitor)).includes('Leave your email'), false);
  await screenshot(visitor, 'widget-leave-message');

  // An agent signs in later: the conversation is there with the message and the email.
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  await agentOpen(agent, 'Do you sell decaf?');
  await until('message in thread', async () => (await consoleMessages(agent)).includes('Do you sell decaf?'));
  await agent.locator('#visitor-info dd', { hasText: 'ada@example.com' }).waitFor();
  assert.deepEqual(visitor.errors, []);
  await visitor.context().close();
  await agentClose(agent);
});

test('outside business hours the widget shows the outside-hours reply', async () => {
  // A schedule with no opening window: it is never inside hours.
  const settings = await updateSettings(node.url, {
    business_hours: { timezone: 'UTC', weekly: [] },
    reply_outside_hours: 'We are closed now; back at 9:00.',
  });
  assert.equal(settings.business_hours.weekly.length, 0);
  const agent = await newPage(browser);
  await agentLogin(agent, node.url); // an agent online does not change the outside-hours answer
  const visitor = await newPage(browser);
  await visitorOpen(visitor, node.url);
  await until('outside-hours note before the first message', async () => (await widgetText(visitor)).includes('outside business hours'));
  await visitorSend(visitor, 'Are you there?');
  await until('outside-hours reply', async () => (await widgetText(visitor)).includes('We are closed now; back at 9:00.'));
  await visitor.context().close();
  await agentClose(agent);
});
