/**
 * The set-password page in a real Chromium: a student opens the link a roster import printed, types a password
 * twice, and the page (with Folio's CSP: scripts from 'self' only) sets it; the account then logs in. A used link
 * and two different passwords are told on the page.
 */
import type { Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { newPasswordLink } from '../../db/password-links.js';
import { createAccount } from '../../db/users.js';
import { launchBrowser, makeCertificate, startFolio } from './harness.js';

const certificate = await makeCertificate(t);
const folio = await startFolio(t, { ...certificate, configOverrides: { passwordCost: 10 } });
const context = await launchBrowser(t);

/** A page of the browser that records what its console says (a CSP refusal is a console error). */
async function openLink(t: Test, url: string): Promise<{ page: Page; console: string[] }> {
  const page = await context.newPage();
  t.teardown(() => page.close());
  const console: string[] = [];
  // Errors and warnings (a CSP refusal is one), but the 404 of the favicon the browser asks for by itself.
  page.on('console', (message) => {
    if (['error', 'warning'].includes(message.type()) && !message.text().startsWith('Failed to load resource')) console.push(`${message.type()}: ${message.text()}`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400 && !res.url().endsWith('/favicon.ico')) console.push(`${res.status()} ${res.url()}`);
  });
  page.on('pageerror', (err) => void console.push(`pageerror: ${err.message}`));
  await page.goto(url);
  return { page, console };
}

const login = (username: string, password: string) =>
  folio.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });

t.test('a student sets the password with the link, the page says to log in from the book, and the account logs in with it', async (t) => {
  const user = await createAccount(folio.app.db, { username: 'cleo', passwordHash: null });
  const token = await newPasswordLink(folio.app.db, user.id, 14);
  const { page, console } = await openLink(t, `${folio.origin}/account/set-password#token=${token}`);
  await page.fill('#password', 'cleo chose this one');
  await page.fill('#again', 'cleo chose this one');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.getElementById('message')?.textContent?.startsWith('Password set'));
  t.equal(await page.textContent('#message'), 'Password set: log in from your book.');
  t.equal(await page.isHidden('#set-password'), true, 'the form is gone');
  t.equal(new URL(page.url()).hash, '', 'the token is taken out of the address bar');
  t.same(console, [], 'no CSP refusal, no error');
  t.equal((await login('cleo', 'cleo chose this one')).statusCode, 200);
});

t.test('a used link shows the server\'s message to ask staff for a new one', async (t) => {
  const user = await createAccount(folio.app.db, { username: 'dora', passwordHash: null });
  const token = await newPasswordLink(folio.app.db, user.id, 14);
  t.equal((await folio.app.inject({ method: 'POST', url: '/api/auth/password-link', payload: { token, password: 'already set once' } })).statusCode, 204);
  const { page } = await openLink(t, `${folio.origin}/account/set-password#token=${token}`);
  await page.fill('#password', 'another password');
  await page.fill('#again', 'another password');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => document.getElementById('message')?.className === 'error');
  t.equal(await page.textContent('#message'), 'this set-password link is unknown, used or expired: ask your course staff for a new link');
  t.equal((await login('dora', 'another password')).statusCode, 401);
});

t.test('two different passwords are refused on the page, and a link without its token says so', async (t) => {
  const { page } = await openLink(t, `${folio.origin}/account/set-password#token=whatever`);
  await page.fill('#password', 'one password here');
  await page.fill('#again', 'another one there');
  await page.click('button[type=submit]');
  t.equal(await page.textContent('#message'), 'The two passwords differ: type the same one twice.');
  const bare = await openLink(t, `${folio.origin}/account/set-password`);
  t.equal(await bare.page.isHidden('#set-password'), true);
  t.match(await bare.page.textContent('#message'), 'This link is incomplete');
});
