/**
 * The browser client's courses, in Node against the real app: joinCourse and myCourses in cookie and token mode, the
 * server's refusals as FolioErrors with its codes, and the `?course=CODE` offer of the page's address.
 */
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { FolioError } from '../client/folio.js';
import { findCourse, setCourseOpen } from '../db/courses.js';
import { createAccount } from '../db/users.js';
import { hashPassword } from '../lib/passwords.js';
import { FakeBrowser, password } from './client-fakes.js';
import { bookOrigin, build } from './helper.js';
import { courseOf, staffOf } from './staff.js';

async function withCourse(t: Parameters<typeof build>[0], overrides: Parameters<typeof build>[1] = {}) {
  const app = await build(t, overrides);
  await courseOf(app, 'c1', 'book', { title: 'Programming' });
  await createAccount(app.db, { username: 'ada', passwordHash: await hashPassword(password, 10) });
  return { app, code: (await findCourse(app.db, 'c1'))!.joinCode };
}

const enrolmentsOf = (app: FastifyInstance) => app.db.all<{ course_id: string; via: string }>(sql`SELECT course_id, via FROM enrolments ORDER BY course_id`);

/** What a promise rejects with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<FolioError> {
  try {
    await promise;
  } catch (err) {
    return err as FolioError;
  }
  throw new Error('expected a rejection');
}

const c1 = { id: 'c1', title: 'Programming', term: null, book: 'book' };

t.test('joinCourse in cookie mode sends the code as typed with the cookie and resolves to the joined course', async (t) => {
  const { app, code } = await withCourse(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  await folio.login({ username: 'ada', password });
  const typed = `${code.slice(0, 5).toLowerCase()}-${code.slice(5)}`;
  t.strictSame(await folio.joinCourse(typed), { course: c1, enrolled: true, already: false, as: 'student' });
  t.match(browser.network.seen.at(-1), { method: 'POST', path: '/api/courses/join', auth: 'cookie', body: { code: typed }, status: 200 });
  t.strictSame(await enrolmentsOf(app), [{ course_id: 'c1', via: 'code' }]);
  t.match(await folio.joinCourse(code), { already: true });
});

t.test('joinCourse in token mode sends the bearer token', async (t) => {
  const { app, code } = await withCourse(t);
  const browser = new FakeBrowser(app);
  browser.network.refuseCookies = true;
  const { folio } = browser.open(t);
  await folio.login({ username: 'ada', password });
  t.equal(folio.mode, 'token');
  t.match(await folio.joinCourse(code), { course: c1, enrolled: true });
  t.match(browser.network.seen.at(-1), { path: '/api/courses/join', auth: 'token', status: 200 });
});

t.test('joinCourse rejects with the server\'s code: unknown_code (404), course_closed (403), rate_limited (429, with retryAfterMs)', async (t) => {
  const { app, code } = await withCourse(t, { joinRatePerUser: 2 });
  const { folio } = new FakeBrowser(app).open(t);
  await folio.login({ username: 'ada', password });
  const wrong = await rejection(folio.joinCourse('WRONG-CODE'));
  t.ok(wrong instanceof FolioError);
  t.match(wrong, { statusCode: 404, error: 'unknown_code', message: 'no course has this join code: check it with your instructor' });
  await setCourseOpen(app.db, 'c1', false);
  t.match(await rejection(folio.joinCourse(code)), { statusCode: 403, error: 'course_closed', message: /ask your instructor to open it/ });
  const limited = await rejection(folio.joinCourse(code));
  t.match(limited, { statusCode: 429, error: 'rate_limited' });
  t.ok(limited.retryAfterMs! > 0 && limited.retryAfterMs! <= 60_000, `retryAfterMs ${limited.retryAfterMs}`);
  t.strictSame(await enrolmentsOf(app), []);
});

t.test('joinCourse without a session rejects with unauthenticated (log in first) and says nothing of an ended session', async (t) => {
  const { app, code } = await withCourse(t);
  const { folio, events } = new FakeBrowser(app).open(t);
  t.match(await rejection(folio.joinCourse(code)), { statusCode: 401, error: 'unauthenticated' });
  t.strictSame(events.auth, []);
});

t.test('joinCourse after the session ended rejects with session_expired and asks for a login (an auth event)', async (t) => {
  const { app, code } = await withCourse(t);
  const { folio, events } = new FakeBrowser(app).open(t);
  await folio.login({ username: 'ada', password });
  await app.db.run(sql`DELETE FROM sessions`);
  t.match(await rejection(folio.joinCourse(code)), { statusCode: 401, error: 'session_expired' });
  t.match(events.auth.at(-1), { type: 'required', reason: 'session_expired' });
});

t.test('joinCourse refuses a code that cannot be one without asking the server', async (t) => {
  const { app } = await withCourse(t);
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  for (const code of ['abc', 'x'.repeat(65), 'ABCD/EFGH', 42 as unknown as string]) {
    t.match(await rejection(folio.joinCourse(code)), { statusCode: 400, error: 'invalid_request' }, String(code));
  }
  t.strictSame(browser.network.lines, []);
});

t.test('myCourses lists the courses the student studies and those the staff teach (with the join code); none without a session', async (t) => {
  const { app, code } = await withCourse(t);
  const anonymous = new FakeBrowser(app).open(t).folio;
  t.strictSame(await anonymous.myCourses(), []);
  const { folio } = new FakeBrowser(app).open(t);
  await folio.login({ username: 'ada', password });
  t.strictSame(await folio.myCourses(), []);
  await folio.joinCourse(code);
  t.strictSame(await folio.myCourses(), [{ ...c1, as: 'student', open: true }]);
  await staffOf(app, 'teach', 'c1', 'instructor');
  const teacher = new FakeBrowser(app).open(t).folio;
  await teacher.login({ username: 'teach', password });
  t.strictSame(await teacher.myCourses(), [{ ...c1, as: 'instructor', open: true, joinCode: code }]);
});

t.test('a page whose address has ?course=CODE offers that course, the code as the server stores it; other addresses offer none', async (t) => {
  const { app } = await withCourse(t);
  const cases: [string, { code: string } | null][] = [
    ['/ch1.html?course=abcd-efgh-jk', { code: 'ABCDEFGHJK' }],
    ['/ch1.html?x=1&course=K7PX%20M3RQ#top', { code: 'K7PXM3RQ' }],
    ['/ch1.html', null],
    ['/ch1.html?course=', null],
    ['/ch1.html?course=ab', null],
    ['/ch1.html?course=%3Cscript%3E', null],
  ];
  for (const [path, offer] of cases) {
    const browser = new FakeBrowser(app);
    browser.address.href = `${bookOrigin}${path}`;
    t.strictSame(browser.open(t).folio.courseOffer, offer, path);
  }
  t.equal(new FakeBrowser(app).open(t, { runtime: { location: null } }).folio.courseOffer, null, 'no location: no offer');
});

t.test('joining the offered course ends the offer and takes course out of the address bar, keeping the rest of the address', async (t) => {
  const { app, code } = await withCourse(t);
  const browser = new FakeBrowser(app);
  browser.address.href = `${bookOrigin}/ch1.html?x=1&course=${code.toLowerCase()}#top`;
  const { folio } = browser.open(t);
  await folio.login({ username: 'ada', password });
  t.strictSame(folio.courseOffer, { code });
  await folio.joinCourse(folio.courseOffer!.code);
  t.equal(folio.courseOffer, null);
  t.strictSame(browser.address.replaced, [`${bookOrigin}/ch1.html?x=1#top`]);
});

t.test('a refused join and a join of another course keep the offer and the address', async (t) => {
  const { app, code } = await withCourse(t);
  await courseOf(app, 'c2', 'book');
  const other = (await findCourse(app.db, 'c2'))!.joinCode;
  const browser = new FakeBrowser(app);
  browser.address.href = `${bookOrigin}/ch1.html?course=${code}`;
  const { folio } = browser.open(t);
  await rejection(folio.joinCourse(code)); // no session yet
  await folio.login({ username: 'ada', password });
  await folio.joinCourse(other);
  t.strictSame(folio.courseOffer, { code });
  t.strictSame(browser.address.replaced, []);
});

t.test('dismissCourseOffer ends the offer and takes course out of the address bar', async (t) => {
  const { app } = await withCourse(t);
  const browser = new FakeBrowser(app);
  browser.address.href = `${bookOrigin}/ch1.html?course=ABCDEFGHJK`;
  const { folio } = browser.open(t);
  folio.dismissCourseOffer();
  t.equal(folio.courseOffer, null);
  t.strictSame(browser.address.replaced, [`${bookOrigin}/ch1.html`]);
  folio.dismissCourseOffer();
  t.equal(browser.address.replaced.length, 1, 'an address without course is left alone');
});
