// Accessibility checks with axe-core (npm) in the page under test: WCAG 2.1 A and AA rules,
// open shadow roots included, so the widget is checked inside its Shadow DOM too.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Violations as readable lines ("rule: help (selector)"); empty when the page passes.
 *  Evaluated over the DevTools protocol, so the pages' Content-Security-Policy does not block it. */
export async function axeViolations(page, context = 'html') {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE);
  return page.evaluate(async (ctx) => {
    const r = await window.axe.run(ctx, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
    return r.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${v.help} (${n.target.join(' > ')})`));
  }, context);
}
