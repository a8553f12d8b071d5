// The widget on a customer's site: another origin, hostile page styles, and a page that keeps
// rendering while the widget loads. Chat still reaches the console, styles do not leak in.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startNode } from './lib/node.mjs';
import { launch, newPage, until, agentLogin, agentClose, agentOpen, consoleMessages, visitorSend, widgetMessages } from './lib/browser.mjs';

let node, browser, site, siteUrl;
before(async () => {
  node = await startNode();
  browser = await launch();
  // A "customer" page on its own origin, with CSS that would wreck an unisolated widget.
  site = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><head><title>Customer shop</title>
<style>* { color: rgb(255, 0, 0) !important; font-size: 40px; } p { display: none; } button { background: lime; }</style>
</head><body><h1 id="shop">Customer shop</h1>
<script async src="${node.url}/widget.js" data-site="pk_demo"></script></body></html>`);
  });
  await new Promise((r) => site.listen(0, '127.0.0.1', r));
  siteUrl = `http://127.0.0.1:${site.address().port}/pricing`;
});
after(async () => { await browser?.close(); await node?.stop(); site?.close(); });

test('embedded on another origin: isolated styles, chat reaches the console', async () => {
  const agent = await newPage(browser);
  await agentLogin(agent, node.url);
  const visitor = await newPage(browser);
  await visitor.goto(siteUrl);
  assert.equal(await visitor.locator('#shop').innerText(), 'Customer shop');
  await visitor.locator('#switchboard-widget .launcher').click();
  await visitorSend(visitor, 'Hello from a customer site');
  await until('own message shown', async () => (await widgetMessages(visitor)).includes('Hello from a customer site'));

  // The page's `p { display: none }` and red `*` do not reach into the Shadow DOM.
  const style = await visitor.locator('#switchboard-widget .msg.visitor p').first().evaluate((el) => {
    const cs = getComputedStyle(el);
    return { display: cs.display, color: cs.color, size: cs.fontSize };
  });
  assert.notEqual(style.display, 'none');
  assert.notEqual(style.color, 'rgb(255, 0, 0)');
  assert.notEqual(style.size, '40px');

  await agentOpen(agent, 'Hello from a customer site');
  await until('message in console', async () => (await consoleMessages(agent)).includes('Hello from a customer site'));
  // The page view names the customer's page.
  await agent.locator('#visitor-events li', { hasText: 'Customer shop' }).first().waitFor();
  assert.deepEqual(visitor.errors, []);
  await visitor.context().close();
  await agentClose(agent);
});
