import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import xapiValidation from 'xapi-validation';
import { enrol } from '../db/courses.js';
import { createExperiment, experimentReport, findExperiment } from '../db/experiments.js';
import { chooseVariant, parseVariants, twoProportionZTest, twoSidedNormalP, twoSidedTP, welchTTest, type Variant } from '../lib/experiments.js';
import { pseudonym } from '../lib/pseudonym.js';
import { build, cookieOf, fromBook, otherBookOrigin } from './helper.js';
import { courseOf, expectStatus, loginAs, student } from './staff.js';

const secret = 'a-test-secret-of-at-least-32-characters';
/** A fixed salt: the split and the assignments below are the same on every run. */
const salt = '0123456789abcdef0123456789abcdef';
const threeWay: Variant[] = [
  { name: 'control', weight: 1 },
  { name: 'hint', weight: 2 },
  { name: 'worked', weight: 1 },
];
// Learning Locker's validator is CommonJS: its default export arrives as the module object's `default`.
const validateStatement = ((xapiValidation as unknown as { default?: unknown }).default ?? xapiValidation) as unknown as (statement: unknown) => unknown[];

async function setUp(t: Test) {
  const app = await build(t, { secret, publicOrigin: 'https://folio.example.edu' });
  await createExperiment(app.db, { id: 'hints', bookId: 'book', variants: threeWay, salt });
  const researcher = await loginAs(app, 'rita', 'researcher');
  return { app, researcher };
}

const variantOf = (app: FastifyInstance, headers: Record<string, string>, page = 'ch1/intro', experiment = 'hints') =>
  app.inject({ method: 'GET', url: `/api/books/book/experiments/${experiment}?page=${encodeURIComponent(page)}`, headers });

const assignments = (app: FastifyInstance) =>
  app.db.all<{ experiment_id: string; user_id: string; book_id: string; variant: string; page: string | null; replaced_variant: string | null }>(
    sql`SELECT experiment_id, user_id, book_id, variant, page, replaced_variant FROM experiment_assignments ORDER BY experiment_id, user_id`,
  );

// ---- the statistics -----------------------------------------------------------------------------------------

t.test('10,000 simulated students split as the weights say: chi-square under the 0.999 critical value (13.816, 2 df) for a fixed salt', async (t) => {
  const n = 10_000;
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const variant = chooseVariant(salt, 'hints', `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, threeWay);
    counts.set(variant, (counts.get(variant) ?? 0) + 1);
  }
  const total = threeWay.reduce((s, v) => s + v.weight, 0);
  const chiSquare = threeWay.reduce((s, v) => s + ((counts.get(v.name) ?? 0) - (n * v.weight) / total) ** 2 / ((n * v.weight) / total), 0);
  t.ok(chiSquare < 13.816, `chi-square ${chiSquare.toFixed(3)} (counts ${JSON.stringify(Object.fromEntries(counts))})`);
  t.equal([...counts.values()].reduce((a, b) => a + b, 0), n);
  // Deterministic: the same student, the same variant; another salt splits anew.
  t.equal(chooseVariant(salt, 'hints', 'u1', threeWay), chooseVariant(salt, 'hints', 'u1', threeWay));
  const moved = Array.from({ length: 200 }, (_, i) => `u${i}`).filter((u) => chooseVariant(salt, 'hints', u, threeWay) !== chooseVariant('another salt', 'hints', u, threeWay));
  t.ok(moved.length > 50, `${moved.length} of 200 students get another variant under another salt`);
});

t.test('p-values match known values (scipy): Student t, normal, Welch t-test and the two-proportion z-test', async (t) => {
  const close = (got: number | undefined, want: number, what: string) => t.ok(got !== undefined && Math.abs(got - want) <= 1e-7 * Math.max(want, 1e-3), `${what}: ${got} ≈ ${want}`);
  close(twoSidedTP(2, 10), 0.07338803477074037, 't = 2, df = 10');
  close(twoSidedTP(2.5, 3.7), 0.07182202291182678, 't = 2.5, df = 3.7');
  close(twoSidedTP(0.5, 100), 0.6181735658308866, 't = 0.5, df = 100');
  close(twoSidedNormalP(1.96), 0.04999579029644087, 'z = 1.96');
  close(twoSidedNormalP(3.5), 0.00046525815807105003, 'z = 3.5');
  close(twoSidedNormalP(0.1), 0.920344325445942, 'z = 0.1');
  const welch = welchTTest([19.1, 20.3, 21.2, 18.7, 22.4, 20.0], [22.8, 23.1, 21.9, 24.6, 20.8, 25.2, 23.3]);
  close(welch?.statistic, -3.54253545734896, 'Welch t');
  close(welch?.df ?? undefined, 10.941979297907608, 'Welch df');
  close(welch?.p, 0.0046490601786132206, 'Welch p (scipy.stats.ttest_ind, equal_var=False)');
  const z = twoProportionZTest(45, 100, 30, 100);
  close(z?.statistic, 2.1908902300206647, 'z of 45/100 against 30/100');
  close(z?.p, 0.02845973691631055, 'its p');
  t.equal(welchTTest([1], [2, 3]), null, 'a group of one: no test');
  t.equal(twoProportionZTest(0, 10, 0, 10), null, 'nobody completed: no test');
});

t.test('variants parse as name[:weight], at least two, unique names, whole weights 1-1000', async (t) => {
  t.same(parseVariants('control,hint:2'), [
    { name: 'control', weight: 1 },
    { name: 'hint', weight: 2 },
  ]);
  t.throws(() => parseVariants('control'), /at least two variants/);
  t.throws(() => parseVariants('a,a'), /named twice/);
  t.throws(() => parseVariants('a,b:0'), /whole number from 1 to 1000/);
  t.throws(() => parseVariants('a,b:1.5'), /whole number/);
  t.throws(() => parseVariants('a,b c'), /variant name/);
});

// ---- assignment and exposure ------------------------------------------------------------------------------------

t.test('the first call assigns the deterministic variant and records the exposure once, with its time and page; later calls change nothing', async (t) => {
  const { app } = await setUp(t);
  const ada = await student(app, 'ada');
  const before = Date.now();
  const first = await variantOf(app, ada.headers, 'ch1/intro');
  t.equal(first.statusCode, 200);
  const want = chooseVariant(salt, 'hints', ada.id, threeWay);
  t.same(first.json(), { variant: want, exposure: 'recorded' });
  const again = await variantOf(app, ada.headers, 'ch2/other');
  t.same(again.json(), { variant: want, exposure: 'recorded' });
  t.same(await assignments(app), [{ experiment_id: 'hints', user_id: ada.id, book_id: 'book', variant: want, page: 'ch1/intro', replaced_variant: null }]);
  const exposed_at = (await app.db.all<{ exposed_at: number }>(sql`SELECT exposed_at FROM experiment_assignments`))[0]!.exposed_at;
  t.ok(exposed_at >= before && exposed_at <= Date.now(), 'the time of the first call');
});

t.test('the same variant on two devices: the second device finds it in the page state, already recorded, without asking', async (t) => {
  const { app } = await setUp(t);
  const ada = await student(app, 'ada');
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password: 'correct horse battery' } });
  const phone = { ...fromBook, cookie: cookieOf(login) };
  const state = async (headers: Record<string, string>) => (await expectStatus(app, 200, 'GET', '/api/books/book/state?page=ch1/intro', headers)).json();
  const want = chooseVariant(salt, 'hints', ada.id, threeWay);
  t.same((await state(phone)).experiments, { hints: { variant: want, exposure: 'pending' } }, 'before any exposure: the variant the first call will record');
  t.equal((await variantOf(app, ada.headers)).json().variant, want);
  t.same(await state(phone), { programs: {}, answers: {}, completedAt: null, experiments: { hints: { variant: want, exposure: 'recorded' } } });
  t.same((await variantOf(app, phone)).json(), { variant: want, exposure: 'recorded' });
  t.equal((await assignments(app)).length, 1);
});

t.test('a book without experiments has no experiments key in its page state', async (t) => {
  const { app } = await setUp(t);
  const yolanda = await student(app, 'yolanda');
  const res = await expectStatus(app, 200, 'GET', '/api/books/other/state?page=p', { origin: otherBookOrigin, cookie: yolanda.headers.cookie });
  t.same(res.json(), { programs: {}, answers: {}, completedAt: null });
});

t.test("an anonymous student's assignment moves to the account at login, with its time and page", async (t) => {
  const { app } = await setUp(t);
  await student(app, 'ada');
  const first = await app.inject({ method: 'POST', url: '/api/books/book/events', headers: fromBook, payload: { events: [{ type: 'hello' }] } });
  const anonymous = { ...fromBook, cookie: cookieOf(first) };
  const anonymousId = (await app.inject({ method: 'GET', url: '/api/auth/me', headers: anonymous })).json().user.id as string;
  const seen = (await variantOf(app, anonymous, 'ch3/anon')).json().variant as string;
  const anonymousTime = (await app.db.all<{ exposed_at: number }>(sql`SELECT exposed_at FROM experiment_assignments`))[0]!.exposed_at;
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: anonymous, payload: { username: 'ada', password: 'correct horse battery' } });
  t.equal(login.statusCode, 200);
  const ada = { ...fromBook, cookie: cookieOf(login) };
  const adaId = login.json().user.id as string;
  t.same((await variantOf(app, ada)).json(), { variant: seen, exposure: 'recorded' }, 'the anonymous variant, even where the account would have drawn another');
  t.same(await assignments(app), [{ experiment_id: 'hints', user_id: adaId, book_id: 'book', variant: seen, page: 'ch3/anon', replaced_variant: null }]);
  t.same(await app.db.all(sql`SELECT exposed_at FROM experiment_assignments`), [{ exposed_at: anonymousTime }]);
  t.same(await app.db.all(sql`SELECT id FROM users WHERE id = ${anonymousId}`), [], 'the anonymous user is gone');
});

t.test('when the anonymous student and the account were both assigned, the anonymous variant wins and the account\'s is kept as replaced_variant', async (t) => {
  const { app } = await setUp(t);
  const ada = await student(app, 'ada');
  const first = await app.inject({ method: 'POST', url: '/api/books/book/events', headers: fromBook, payload: { events: [{ type: 'hello' }] } });
  const anonymous = { ...fromBook, cookie: cookieOf(first) };
  const seen = (await variantOf(app, anonymous, 'ch3/anon')).json().variant as string;
  const other = threeWay.find((v) => v.name !== seen)!.name;
  await app.db.run(sql`INSERT INTO experiment_assignments (experiment_id, user_id, book_id, variant, page, exposed_at) VALUES ('hints', ${ada.id}, 'book', ${other}, 'ch1/intro', 1)`);
  await expectStatus(app, 200, 'POST', '/api/auth/login', anonymous, { username: 'ada', password: 'correct horse battery' });
  t.same(await assignments(app), [{ experiment_id: 'hints', user_id: ada.id, book_id: 'book', variant: seen, page: 'ch3/anon', replaced_variant: other }]);
});

t.test('consent-only experiments never expose a student without research consent: the first variant, nothing recorded', async (t) => {
  const { app } = await setUp(t);
  await createExperiment(app.db, { id: 'consented', bookId: 'book', variants: threeWay, consentOnly: true, salt });
  const walter = await student(app, 'walter', { researchConsent: false });
  const ursula = await student(app, 'ursula', { researchConsent: true });
  t.same((await variantOf(app, walter.headers, 'p', 'consented')).json(), { variant: 'control', exposure: 'none' });
  t.same((await expectStatus(app, 200, 'GET', '/api/books/book/state?page=p', walter.headers)).json().experiments.consented, { variant: 'control', exposure: 'none' });
  t.equal((await variantOf(app, ursula.headers, 'p', 'consented')).json().exposure, 'recorded');
  t.same((await assignments(app)).map((a) => a.user_id), [ursula.id]);
  // Withdrawing consent: the first variant from then on (the row stays, and exports leave the student out).
  t.equal((await app.inject({ method: 'PATCH', url: '/api/auth/me', headers: ursula.headers, payload: { researchConsent: false } })).statusCode, 200);
  t.same((await variantOf(app, ursula.headers, 'p', 'consented')).json(), { variant: 'control', exposure: 'none' });
});

t.test('a stopped experiment keeps its assignments: the assigned keep their variant, a newcomer gets the first variant unrecorded', async (t) => {
  const { app, researcher } = await setUp(t);
  const ada = await student(app, 'ada');
  const bob = await student(app, 'bob');
  const adaVariant = (await variantOf(app, ada.headers)).json().variant as string;
  const stopped = await expectStatus(app, 200, 'POST', '/api/books/book/experiments/hints/stop', researcher.headers);
  t.equal(stopped.json().status, 'stopped');
  t.same((await variantOf(app, ada.headers)).json(), { variant: adaVariant, exposure: 'recorded' });
  t.same((await variantOf(app, bob.headers)).json(), { variant: 'control', exposure: 'none' });
  t.same((await assignments(app)).map((a) => [a.user_id, a.variant]), [[ada.id, adaVariant]]);
  const stoppedAt = (await findExperiment(app.db, 'hints'))!.stoppedAt;
  await expectStatus(app, 200, 'POST', '/api/books/book/experiments/hints/stop', researcher.headers);
  t.equal((await findExperiment(app.db, 'hints'))!.stoppedAt, stoppedAt, 'a second stop changes nothing');
});

t.test("an experiment limited to courses assigns their enrolled students only; one not started yet assigns nobody", async (t) => {
  const { app } = await setUp(t);
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'c2', 'book');
  await createExperiment(app.db, { id: 'c1-only', bookId: 'book', variants: threeWay, courses: ['c1'], salt });
  await createExperiment(app.db, { id: 'later', bookId: 'book', variants: threeWay, startsAt: Date.now() + 3_600_000, salt });
  const inC1 = await student(app, 'ines');
  const inC2 = await student(app, 'otto');
  await enrol(app.db, 'c1', [inC1.id], 'staff');
  await enrol(app.db, 'c2', [inC2.id], 'staff');
  t.equal((await variantOf(app, inC1.headers, 'p', 'c1-only')).json().exposure, 'recorded');
  t.same((await variantOf(app, inC2.headers, 'p', 'c1-only')).json(), { variant: 'control', exposure: 'none' });
  t.same((await variantOf(app, inC1.headers, 'p', 'later')).json(), { variant: 'control', exposure: 'none' });
  t.same((await assignments(app)).map((a) => [a.experiment_id, a.user_id]), [['c1-only', inC1.id]]);
});

t.test('a variant request with a cookie from an origin that is not the book\'s is refused, as a write is (it records)', async (t) => {
  const { app } = await setUp(t);
  const ada = await student(app, 'ada');
  const res = await variantOf(app, { origin: 'https://evil.example', cookie: ada.headers.cookie });
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, 'origin_not_allowed');
  t.same(await assignments(app), []);
});

t.test('unknown experiments, and experiments of another book, are 404 unknown_experiment', async (t) => {
  const { app, researcher } = await setUp(t);
  await createExperiment(app.db, { id: 'elsewhere', bookId: 'other', variants: threeWay });
  const ada = await student(app, 'ada');
  for (const url of ['/api/books/book/experiments/nope', '/api/books/book/experiments/elsewhere']) {
    const res = await app.inject({ method: 'GET', url, headers: ada.headers });
    t.equal(res.statusCode, 404, url);
    t.equal(res.json().error, 'unknown_experiment');
  }
  t.equal((await app.inject({ method: 'GET', url: '/api/books/book/experiments/elsewhere/report', headers: researcher.headers })).statusCode, 404);
});

// ---- the researchers' API ---------------------------------------------------------------------------------------

t.test('researchers define experiments over the API; a taken id is 409, a course of another book or a bad window 400', async (t) => {
  const { app, researcher } = await setUp(t);
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'o1', 'other');
  const add = (payload: unknown) => app.inject({ method: 'POST', url: '/api/books/book/experiments', headers: researcher.headers, payload: payload as object });
  const created = await add({ id: 'order', variants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }], courses: ['c1'], start: '2026-01-01', end: '2030-01-01', consentOnly: true });
  t.equal(created.statusCode, 201);
  t.same(created.json(), {
    id: 'order',
    book: 'book',
    variants: [
      { name: 'a', weight: 1, exposed: 0, consenting: 0 },
      { name: 'b', weight: 3, exposed: 0, consenting: 0 },
    ],
    courses: ['c1'],
    startsAt: '2026-01-01T00:00:00.000Z',
    endsAt: '2030-01-01T00:00:00.000Z',
    consentOnly: true,
    stoppedAt: null,
    status: Date.now() < Date.parse('2026-01-01') ? 'scheduled' : 'running',
    createdAt: created.json().createdAt,
  });
  t.notOk('salt' in created.json(), 'the salt is never shown');
  t.equal((await add({ id: 'order', variants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }] })).json().error, 'experiment_exists');
  const otherCourse = await add({ id: 'x1', variants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }], courses: ['o1'] });
  t.equal(otherCourse.statusCode, 400);
  t.match(otherCourse.json(), { error: 'invalid_experiment', message: /course "o1" uses book other/ });
  const window = await add({ id: 'x2', variants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }], start: '2026-02-01', end: '2026-01-01' });
  t.match(window.json(), { statusCode: 400, message: /end must be after/ });
  const twice = await add({ id: 'x3', variants: [{ name: 'a', weight: 1 }, { name: 'a', weight: 1 }] });
  t.match(twice.json(), { statusCode: 400, error: 'invalid_experiment', message: /named twice/ });
  t.equal((await add({ id: 'x4', variants: [{ name: 'a', weight: 1 }] })).statusCode, 400, 'one variant');
});

t.test("the researcher's view counts students exposed per variant, and those with consent", async (t) => {
  const { app, researcher } = await setUp(t);
  const people = [await student(app, 'ada', { researchConsent: true }), await student(app, 'bob'), await student(app, 'cleo', { researchConsent: true })];
  const got: Record<string, { exposed: number; consenting: number }> = {};
  for (const [i, p] of people.entries()) {
    const v = (await variantOf(app, p.headers)).json().variant as string;
    got[v] ??= { exposed: 0, consenting: 0 };
    got[v].exposed++;
    if (i !== 1) got[v].consenting++;
  }
  const list = await expectStatus(app, 200, 'GET', '/api/books/book/experiments', researcher.headers);
  t.same(
    list.json().experiments[0].variants,
    threeWay.map((v) => ({ name: v.name, weight: v.weight, exposed: got[v.name]?.exposed ?? 0, consenting: got[v.name]?.consenting ?? 0 })),
  );
});

t.test('the report: per variant the consenting students exposed, their mean score and completion on the pages, Welch and z tests against the first', async (t) => {
  const { app, researcher } = await setUp(t);
  await createExperiment(app.db, { id: 'ab', bookId: 'book', variants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }], salt });
  // Eight consenting students, four a piece (assigned by hand), and one without consent who is left out.
  const scores = { a: [0.2, 0.4, 0.5, 0.3], b: [0.9, 0.7, 0.8, 1] };
  const completes = { a: [true, false, false, false], b: [true, true, true, false] };
  for (const variant of ['a', 'b'] as const) {
    for (let i = 0; i < 4; i++) {
      const s = await student(app, `${variant}student${i}`, { researchConsent: true });
      await app.db.run(sql`INSERT INTO experiment_assignments (experiment_id, user_id, book_id, variant, page, exposed_at) VALUES ('ab', ${s.id}, 'book', ${variant}, 'ch2/ab', 1)`);
      // Two attempts: the latest counts.
      await expectStatus(app, 201, 'POST', '/api/books/book/answers/q1', s.headers, { kind: 'poll', answer: 'x', score: 0, page: 'ch2/ab' });
      await expectStatus(app, 201, 'POST', '/api/books/book/answers/q1', s.headers, { kind: 'poll', answer: 'y', score: scores[variant][i], page: 'ch2/ab' });
      await expectStatus(app, 201, 'POST', '/api/books/book/answers/q9', s.headers, { kind: 'poll', answer: 'y', score: 1, page: 'elsewhere' });
      if (completes[variant][i]) await expectStatus(app, 200, 'PUT', '/api/books/book/pages/complete', s.headers, { page: 'ch2/ab', complete: true });
    }
  }
  const walter = await student(app, 'walter');
  await app.db.run(sql`INSERT INTO experiment_assignments (experiment_id, user_id, book_id, variant, page, exposed_at) VALUES ('ab', ${walter.id}, 'book', 'a', 'ch2/ab', 1)`);
  const report = (await expectStatus(app, 200, 'GET', '/api/books/book/experiments/ab/report', researcher.headers)).json();
  // Means summed in the database's row order: equal to within rounding.
  t.ok(Math.abs(report.variants[0].meanScore - 0.35) < 1e-12 && Math.abs(report.variants[1].meanScore - 0.85) < 1e-12, 'mean scores 0.35 and 0.85');
  const welch = welchTTest(scores.b, scores.a)!;
  const z = twoProportionZTest(3, 4, 1, 4)!;
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-9 * Math.max(1, Math.abs(b));
  t.ok(near(report.comparisons[0].score.statistic, welch.statistic) && near(report.comparisons[0].score.df, welch.df!) && near(report.comparisons[0].score.p, welch.p), 'Welch t of the scores');
  report.comparisons[0].score = { test: 'welch-t', ...welch };
  t.same(report, {
    experiment: 'ab',
    book: 'book',
    pages: ['ch2/ab'],
    excluded: 1,
    variants: [
      { variant: 'a', students: 4, scored: 4, meanScore: report.variants[0].meanScore, completed: 1, completion: 0.25 },
      { variant: 'b', students: 4, scored: 4, meanScore: report.variants[1].meanScore, completed: 3, completion: 0.75 },
    ],
    comparisons: [{ variant: 'b', against: 'a', score: { test: 'welch-t', ...welch }, completion: { test: 'two-proportion-z', ...z } }],
  });
  // Pages given: the figures of those pages.
  const elsewhere = await experimentReport(app.db, (await findExperiment(app.db, 'ab'))!, ['elsewhere']);
  t.same(elsewhere.variants.map((v) => [v.meanScore, v.completed]), [
    [1, 0],
    [1, 0],
  ]);
});

// ---- exports ----------------------------------------------------------------------------------------------------

/** Two consenting students exposed (ada on hints, bob not), one without consent exposed, each with an answer. */
async function exposedClass(app: FastifyInstance) {
  const ada = await student(app, 'ada', { researchConsent: true });
  const bob = await student(app, 'bob', { researchConsent: true });
  const walter = await student(app, 'walter', { researchConsent: false });
  await createExperiment(app.db, { id: 'order', bookId: 'book', variants: [{ name: 'first', weight: 1 }, { name: 'second', weight: 1 }], salt });
  const adaHints = (await variantOf(app, ada.headers, 'ch1/intro')).json().variant as string;
  const adaOrder = (await variantOf(app, ada.headers, 'ch2', 'order')).json().variant as string;
  await variantOf(app, walter.headers);
  for (const s of [ada, bob, walter]) await expectStatus(app, 201, 'POST', '/api/books/book/answers/q1', s.headers, { kind: 'poll', answer: 'x', page: 'ch1/intro' });
  await new Promise((resolve) => setTimeout(resolve, 2));
  return { ada, bob, walter, adaHints, adaOrder };
}

const jsonLines = (body: string) => body.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('every jsonl row carries the student\'s experiments: {id: variant} ({} for a student never exposed)', async (t) => {
  const { app, researcher } = await setUp(t);
  const { ada, bob, adaHints, adaOrder } = await exposedClass(app);
  const res = await expectStatus(app, 200, 'GET', '/api/books/book/export?kind=answers&format=jsonl', researcher.headers);
  const [, ...rows] = jsonLines(res.body);
  t.same(
    rows.map((r) => [r.user, r.experiments]),
    [
      [pseudonym(secret, 'book', ada.id), { hints: adaHints, order: adaOrder }],
      [pseudonym(secret, 'book', bob.id), {}],
    ],
  );
});

t.test('csv has one column per experiment of the book, experiments.ID, holding the variant (empty when not exposed)', async (t) => {
  const { app, researcher } = await setUp(t);
  const { adaHints, adaOrder } = await exposedClass(app);
  const res = await expectStatus(app, 200, 'GET', '/api/books/book/export?kind=answers&format=csv', researcher.headers);
  const [header, adaRow, bobRow] = res.body.split('\r\n').map((l) => l.split(','));
  t.same(header!.slice(-2), ['experiments.hints', 'experiments.order']);
  t.same(adaRow!.slice(-2), [adaHints, adaOrder]);
  t.same(bobRow!.slice(-2), ['', '']);
});

t.test('xAPI statements of an exposed student carry <home page>/xapi/experiments in context.extensions, and pass Learning Locker\'s validator', async (t) => {
  const { app, researcher } = await setUp(t);
  const { adaHints, adaOrder } = await exposedClass(app);
  const key = 'https://folio.example.edu/xapi/experiments';
  let checked = 0;
  for (const kind of ['answers', 'assignments']) {
    const res = await expectStatus(app, 200, 'GET', `/api/books/book/export?kind=${kind}&format=xapi`, researcher.headers);
    for (const statement of jsonLines(res.body)) {
      t.same(validateStatement(statement), [], `${kind}: valid xAPI`);
      checked++;
    }
  }
  t.equal(checked, 2 + 2, 'two answers of consenting students, two assignments of ada');
  const [adaAnswer, bobAnswer] = jsonLines((await expectStatus(app, 200, 'GET', '/api/books/book/export?kind=answers&format=xapi', researcher.headers)).body) as {
    context: { extensions: Record<string, unknown> };
  }[];
  t.same(adaAnswer!.context.extensions[key], { hints: adaHints, order: adaOrder });
  t.notOk(key in bobAnswer!.context.extensions, 'nothing for a student never exposed');
});

t.test('the assignments export lists who got what, where and when, pseudonymised, consenting students only, in jsonl, csv and xAPI', async (t) => {
  const { app, researcher } = await setUp(t);
  const { ada, adaHints, adaOrder } = await exposedClass(app);
  const times = await app.db.all<{ experiment_id: string; exposed_at: number }>(sql`SELECT experiment_id, exposed_at FROM experiment_assignments WHERE user_id = ${ada.id} ORDER BY exposed_at, experiment_id`);
  const res = await expectStatus(app, 200, 'GET', '/api/books/book/export?kind=assignments&format=jsonl', researcher.headers);
  t.equal(res.headers['x-folio-export-users'], '1');
  t.equal(res.headers['x-folio-excluded-users'], '1', 'walter, exposed without consent, is left out');
  const [meta, ...rows] = jsonLines(res.body);
  t.match(meta, { meta: { kind: 'assignments', users: 1, excludedUsers: 1, pseudonymised: true } });
  const user = pseudonym(secret, 'book', ada.id);
  const experiments = { hints: adaHints, order: adaOrder };
  t.same(rows, [
    { user, experiment: 'hints', variant: adaHints, page: 'ch1/intro', replacedVariant: null, exposedAt: new Date(times[0]!.exposed_at).toISOString(), experiments },
    { user, experiment: 'order', variant: adaOrder, page: 'ch2', replacedVariant: null, exposedAt: new Date(times[1]!.exposed_at).toISOString(), experiments },
  ]);
  const csv = await expectStatus(app, 200, 'GET', '/api/books/book/export?kind=assignments&format=csv', researcher.headers);
  t.equal(csv.body.split('\r\n')[0], 'user,experiment,variant,page,replacedVariant,exposedAt,experiments.hints,experiments.order');
  t.equal(csv.body.split('\r\n')[1], `${user},hints,${adaHints},ch1/intro,,${new Date(times[0]!.exposed_at).toISOString()},${adaHints},${adaOrder}`);
  const [statement] = jsonLines((await expectStatus(app, 200, 'GET', '/api/books/book/export?kind=assignments&format=xapi', researcher.headers)).body);
  t.match(statement, {
    actor: { objectType: 'Agent', account: { homePage: 'https://folio.example.edu', name: user } },
    verb: { id: 'http://adlnet.gov/expapi/verbs/registered' },
    object: { objectType: 'Activity', id: 'https://folio.example.edu/xapi/experiments/book/hints' },
    context: { extensions: { 'https://folio.example.edu/xapi/variant': adaHints, 'https://folio.example.edu/xapi/page': 'ch1/intro' } },
  });
  t.equal(JSON.stringify(statement).includes(ada.id), false, 'no user id anywhere');
});
