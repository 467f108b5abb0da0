/**
 * The demo's class (scripts/demo-class.ts) in the dashboard, in a real Chromium, at 200 students: more than the grid
 * draws at once (dashboard/grid.ts, windowedFrom), so it draws the rows in view and the rest as its region scrolls,
 * while it counts, sorts and filters every student. axe-core checks the screen; it is saved as
 * test-results/dashboard-demo-course.png.
 */
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import t from 'tap';
import { demoStaff, seedClass } from '../../scripts/demo-class.js';
import { dashboardWorld, launchBrowser, makeCertificate, startFolio } from './harness.js';

const students = 200;
const certificate = await makeCertificate(t);
const folio = await startFolio(t, { ...certificate, configOverrides: { passwordCost: 10 } });
const browser: Browser = (await launchBrowser(t)).browser()!;
const { toc, axe, shots } = await dashboardWorld(folio.app);
await seedClass(folio.app.db, { course: { id: 'demo-101', title: 'Demo course' }, bookId: 'demo', toc, students, staff: demoStaff, passwordCost: 10, parallel: 20 });

t.test("the demo's instructor sees all 200 students of the seeded class: the grid draws those in view, scrolling draws the last, sorting and filtering take every student", async (t) => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  t.teardown(() => context.close());
  await context.addInitScript({ content: axe });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => void problems.push(`pageerror: ${err.message}`));
  await page.goto(`${folio.origin}/dashboard/#/courses/demo-101`);
  await page.fill('#username', 'instructor');
  await page.fill('#password', 'demo-instructor');
  await page.click('form.login button[type=submit]');
  await page.click('text=Demo course');
  await page.waitForSelector('table.grid tbody tr[data-student]');

  t.equal(await page.textContent('#grid-count'), `${students} students`);
  t.equal(await page.getAttribute('table.grid', 'aria-rowcount'), String(students + 1), 'the table says how many rows it has');
  const drawn = () => page.$$eval('table.grid tbody tr[data-student]', (rows) => rows.map((r) => [r.getAttribute('aria-rowindex'), r.querySelector('.name')!.textContent]));
  const first = await drawn();
  t.ok(first.length > 10 && first.length < students, `${first.length} rows drawn of ${students}`);
  t.equal(first[0]![0], '2', 'from the first');
  // After the frame that shows the rows in view, those a screenful below come too (course.ts settle), and the spacers
  // take the measured height of a row: the table is as tall as all its rows, so the scroll bar is right.
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll<HTMLElement>('table.grid tbody tr[data-student]');
    return rows.length * rows[0]!.offsetHeight >= 2 * document.querySelector('.grid-scroll')!.clientHeight;
  });
  const { body, rowHeight } = await page.$eval('table.grid tbody', (b) => ({ body: b.getBoundingClientRect().height, rowHeight: b.querySelector<HTMLElement>('tr[data-student]')!.offsetHeight }));
  t.ok(Math.abs(body - students * rowHeight) <= students, `the body is ${body} px for ${students} rows of ${rowHeight} px`);
  const names = await page.evaluate(() => [...document.querySelectorAll('table.grid tbody .name')].map((a) => a.textContent!));
  t.strictSame(names, [...names].sort((a, b) => a.localeCompare(b)), 'by name');

  await page.$eval('.grid-scroll', (region) => region.scrollTo(0, region.scrollHeight));
  await page.waitForFunction((n) => document.querySelector(`table.grid tbody tr[aria-rowindex="${n + 1}"]`) !== null, students);
  const last = await drawn();
  t.equal(last.at(-1)![0], String(students + 1), 'scrolled to the end, the last student is drawn');
  t.ok(last.length < students, 'and not all of them');

  await page.fill('#grid-filter', 'zoe');
  const zoes = await page.textContent('#grid-count');
  t.match(zoes, new RegExp(`^\\d+ of ${students} students match$`));
  const matching = Number(/^(\d+)/.exec(zoes!)![1]);
  t.ok(matching > 0 && matching <= 150, 'fewer than the window: all drawn');
  t.equal((await drawn()).length, matching);
  await page.fill('#grid-filter', '');

  await page.click('table.grid thead button.sort:text("Progress")');
  const top = await page.$eval('table.grid tbody tr[data-student] td.total', (td) => td.firstChild!.textContent);
  t.equal(top, '100%', 'the whole class sorted: someone who finished comes first');
  await page.$eval('.grid-scroll', (region) => region.scrollTo(0, 0));
  const violations = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string }[] }> } }).axe.run();
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id);
  });
  t.strictSame(violations, [], 'no serious or critical axe-core violation');
  await page.screenshot({ path: join(shots, 'dashboard-demo-course.png') });
  t.strictSame(problems, []);
});
