// Debian's Chromium driven by playwright-core, plus helpers for the widget and the console.
// Playwright's CSS locators pierce open shadow roots, so widget parts are found by class.
// Every page made here is watched for JavaScript errors (uncaught exceptions and console.error):
// after each test, any error on any of its pages fails that test.

import { afterEach } from 'node:test';
import { chromium } from 'playwright-core';
import { mkdirSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { REPO, DEMO } from './node.mjs';

export const ARTIFACTS = path.join(REPO, 'tests/browser/artifacts');
const TIMEOUT = 15000;

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
}

const watched = []; // pages of the running test

/** A fresh browser context (its own storage: one visitor or one agent). */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.errors = [];
  page.allowed = [];
  page.on('pageerror', (e) => page.errors.push('uncaught: ' + String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !page.allowed.some((re) => re.test(m.text()))) page.errors.push('console.error: ' + m.text());
  });
  watched.push(page);
  return page;
}

/** Accept console errors matching `pattern` on this page: only for noise the test itself causes
 *  on purpose (taking the network away makes Chromium log each failed reconnect). */
export function allowConsoleErrors(page, pattern) {
  page.allowed.push(pattern);
}

afterEach(() => {
  const errors = watched.flatMap((p) => p.errors);
  watched.length = 0;
  if (errors.length) throw new Error('JavaScript errors in the browser:\n' + errors.join('\n'));
});

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name + '.png');
  await page.screenshot({ path: file });
  return file;
}

/** Poll until `fn()` returns a truthy value; fail with `what` and the last value. */
export async function until(what, fn, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- the agent console ------------------------------------------------------------------------
export async function agentLogin(page, url, email = DEMO.agent) {
  await page.goto(url + '/console');
  await page.fill('#email', email);
  await page.fill('#password', DEMO.password);
  await page.click('#login-form button[type=submit]');
  await page.locator('#conn[data-state=online]').waitFor();
}

/** Sign out (presence offline, so routing stops counting this agent at once) and close. A
 *  socket that just drops stays online for the server's grace period and would take chats. */
export async function agentClose(page) {
  const url = new URL(page.url());
  if (url.pathname !== '/console') {
    await page.goto(url.origin + '/console');
    await page.locator('#conn[data-state=online]').waitFor();
  }
  await page.click('#logout');
  await page.locator('#login:not([hidden])').waitFor();
  await page.context().close();
}

/** Open the first conversation in the inbox (queue or tab) whose preview or label has `text`. */
export async function agentOpen(page, text) {
  const row = page.locator('#inbox li[data-conversation-id]', { hasText: text }).first();
  await row.waitFor();
  await row.locator('.conv-row').click();
  await page.locator('#thread-view').waitFor();
  return row.getAttribute('data-conversation-id');
}

export const consoleMessages = (page) => page.locator('#messages .msg .body').allTextContents();

// ---- the widget -------------------------------------------------------------------------------
export async function visitorOpen(page, url, pathname = '/demo') {
  await page.goto(url + pathname);
  await page.locator('#switchboard-widget .launcher').click();
  await page.locator('#switchboard-widget #panel').waitFor();
}

export async function visitorSend(page, text) {
  await page.locator('#switchboard-widget textarea').fill(text);
  await page.locator('#switchboard-widget textarea').press('Enter');
}

/** Conversation messages (stored ones, then those still being sent), not the intro. */
export const widgetMessages = (page) => page.locator('#switchboard-widget .log .convs .msg p, #switchboard-widget .log .outbox .msg p').allTextContents();
export const widgetText = (page) => page.locator('#switchboard-widget .panel').innerText();

/** With UPDATE_DOCS_IMG=1 a screenshot also replaces the README's copy in docs/img/. */
export function keepForDocs(file, name) {
  if (process.env.UPDATE_DOCS_IMG !== '1') return;
  mkdirSync(path.join(REPO, 'docs/img'), { recursive: true });
  copyFileSync(file, path.join(REPO, 'docs/img', name));
}
