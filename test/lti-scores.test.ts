import { sql } from 'drizzle-orm';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyInstance } from 'fastify';
import type { JSONWebKeySet } from 'jose';
import t, { type Test } from 'tap';
import { importToc } from '../db/books.js';
import { addPlatform } from '../db/lti.js';
import { claimDueScores, retryCapMs, retryDelay } from '../db/lti-scores.js';
import { scoresUrl, targetPage } from '../lib/lti-scores.js';
import { checkToc, type StoredToc } from '../lib/toc.js';
import { forgetServiceTokens, ltiScopes } from '../lib/lti-services.js';
import { lis, startPlatform, type LaunchPlan, type Platform } from '../scripts/lti-platform.js';
import { bookOrigin, buildLogged, cookieOf, fromBook } from './helper.js';
import { expectStatus, student } from './staff.js';

/** LTI Assignment and Grade Services score passback (SPEC §9 "LTI 1.3", issue #21), against the jose platform fixture. */

/** intro: q1 (2 points), q2 (3 points, graded by a person); reading: no questions (its completion); special: at /pages/special.html, q3 (4 points). */
const toc = {
  chapters: [
    {
      id: 'ch1',
      title: 'One',
      pages: [
        { id: 'ch1/intro', title: 'Intro', questions: [{ id: 'q1', kind: 'mchoice', points: 2 }, { id: 'q2', kind: 'shortanswer', points: 3 }] },
        { id: 'ch1/reading', title: 'Reading' },
        { id: 'special', title: 'Special', url: '/pages/special.html', questions: [{ id: 'q3', kind: 'mchoice', points: 4 }] },
      ],
    },
  ],
};

const jwksOf = (app: FastifyInstance) => async () => (await app.inject({ method: 'GET', url: '/lti/jwks' })).json() as JSONWebKeySet;

async function setup(t: Test) {
  const { app, events } = await buildLogged(t);
  const platform = await startPlatform({ toolOrigin: 'http://127.0.0.1:3000', toolJwks: jwksOf(app) });
  t.teardown(platform.close);
  await addPlatform(app.db, platform.registration());
  const checked = checkToc(toc);
  if (!('toc' in checked)) throw new Error(checked.problems.join('; '));
  await importToc(app.db, 'book', checked.toc);
  await app.books.refresh();
  forgetServiceTokens();
  t.teardown(forgetServiceTokens);
  return { app, events, platform };
}

let hints = 0;
/** A learner's launch of `page` (a path of the book) with a line item, as the platform plays it; the student's id and bearer headers. */
async function launchAs(app: FastifyInstance, platform: Platform, sub: string, path = '/ch1/intro.html', extra: Partial<LaunchPlan> = {}, session: Record<string, string> = {}) {
  const hint = `hint-${++hints}`;
  const plan: LaunchPlan = {
    sub,
    roles: [`${lis}Learner`],
    targetLinkUri: `${bookOrigin}${path}`,
    context: { id: 'ctx-1', label: 'CS 101', title: 'Programming' },
    resourceLink: { id: `link-${path}` },
    lineItem: { id: `item-${path.replace(/\W/g, '')}`, label: path, scoreMaximum: 5 },
    ...extra,
  };
  platform.plan(hint, plan);
  const login = await app.inject({ method: 'GET', url: `/lti/login?${new URLSearchParams({ iss: platform.issuer, login_hint: hint, target_link_uri: plan.targetLinkUri, client_id: platform.clientId })}` });
  const location = new URL(String(login.headers.location));
  const idToken = await platform.idToken(plan, location.searchParams.get('nonce')!);
  const res = await app.inject({
    method: 'POST',
    url: '/lti/launch',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    payload: new URLSearchParams({ id_token: idToken, state: location.searchParams.get('state')! }).toString(),
  });
  if (res.statusCode !== 302) throw new Error(`launch: ${res.statusCode} ${res.body}`);
  const code = String(res.headers.location).split('#folio-handoff=')[1]!;
  const redeemed = await app.inject({ method: 'POST', url: '/api/auth/handoff', headers: { ...fromBook, ...session }, payload: { book: 'book', code, mode: 'token' } });
  const body = redeemed.json() as { token: string; user: { id: string } };
  return { id: body.user.id, headers: { ...fromBook, authorization: `Bearer ${body.token}` }, lineitem: platform.lineItemUrl(plan.lineItem?.id ?? '') };
}

const answer = (app: FastifyInstance, h: Record<string, string>, question: string, payload: Record<string, unknown>) => expectStatus(app, 201, 'POST', `/api/books/book/answers/${question}`, h, payload);
const complete = (app: FastifyInstance, h: Record<string, string>, page: string, done = true) => expectStatus(app, 200, 'PUT', '/api/books/book/pages/complete', h, { page, complete: done });

type ScoreRow = { user_id: string; lineitem: string; page: string; score_given: number; score_maximum: number; activity_progress: string; grading_progress: string; pending: number; attempts: number; next_attempt_at: number | null; last_error: string | null; sent_at: number | null; changed_at: number };
const scoreRows = async (app: FastifyInstance) =>
  (await app.db.all<ScoreRow>(sql`SELECT user_id, lineitem, page, score_given, score_maximum, activity_progress, grading_progress, pending, attempts, next_attempt_at, last_error, sent_at, changed_at FROM lti_scores ORDER BY user_id, lineitem`)).map((r) => ({
    ...r,
    score_given: Number(r.score_given),
    score_maximum: Number(r.score_maximum),
    next_attempt_at: r.next_attempt_at === null ? null : Number(r.next_attempt_at),
    sent_at: r.sent_at === null ? null : Number(r.sent_at),
    changed_at: Number(r.changed_at),
  }));

/** The scores the platform took, without their (checked elsewhere) timestamps. */
const received = (platform: Platform) => platform.record.scores.map((s) => ({ lineItem: s.lineItem, ...s.body, timestamp: undefined }));

t.test('a learner\'s launch with the AGS claim makes their score row for the line item and target page: nothing done, so nothing pending or sent', async (t) => {
  const { app, platform } = await setup(t);
  const before = Date.now();
  const { id, lineitem } = await launchAs(app, platform, 'lms-ada');
  const [row] = await app.db.all<Record<string, unknown>>(sql`SELECT * FROM lti_scores`);
  const course = await app.db.get<{ course_id: string }>(sql`SELECT course_id FROM lti_contexts`);
  t.match(row, {
    user_id: id,
    lineitem,
    issuer: platform.issuer,
    client_id: platform.clientId,
    deployment_id: 'd1',
    sub: 'lms-ada',
    resource_link_id: 'link-/ch1/intro.html',
    scopes: [ltiScopes.lineitem, ltiScopes.resultReadonly, ltiScopes.score].join(' '),
    book_id: 'book',
    page: 'ch1/intro',
    course_id: course!.course_id,
    activity_progress: 'Initialized',
    grading_progress: 'FullyGraded',
    pending: 0,
    attempts: 0,
    next_attempt_at: null,
    last_error: null,
    sent_at: null,
  });
  t.same([Number(row!.score_given), Number(row!.score_maximum)], [0, 5]);
  t.ok(Number(row!.created_at) >= before);
  await app.ltiScores.idle();
  t.same(platform.record.scores, []);
  t.same(platform.record.tokenRequests, [], 'no token asked for: nothing to send');
});

t.test('a correct answer posts the score at once: userId the platform\'s sub, points from the TOC, InProgress, FullyGraded, its change time; with a token for the score scope only', async (t) => {
  const { app, events, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada');
  const before = Date.now();
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' });
  const [stored] = await scoreRows(app);
  t.match(stored, { pending: 1, attempts: 0, score_given: 2, score_maximum: 5, activity_progress: 'InProgress', grading_progress: 'FullyGraded', last_error: null }, 'pending once the answer\'s 201 is sent');
  await app.ltiScores.idle();
  t.equal(platform.record.scores.length, 1);
  const [score] = platform.record.scores;
  t.equal(score!.lineItem, 'item-ch1introhtml');
  t.equal(score!.contentType, 'application/vnd.ims.lis.v1.score+json');
  t.same(score!.body, { userId: 'lms-ada', scoreGiven: 2, scoreMaximum: 5, activityProgress: 'InProgress', gradingProgress: 'FullyGraded', timestamp: new Date(stored!.changed_at).toISOString() });
  t.ok(stored!.changed_at >= before);
  t.same(platform.record.tokenRequests, [{ ok: true, scope: ltiScopes.score }]);
  const [sent] = await scoreRows(app);
  t.match(sent, { pending: 0, attempts: 1, next_attempt_at: null, last_error: null });
  t.ok(sent!.sent_at! >= stored!.changed_at);
  t.match(events('lti_score_sent'), [{ issuer: platform.issuer, lineitem: ada.lineitem, userId: ada.id, sub: 'lms-ada', status: 204 }]);
});

t.test('a page marked complete is Completed; each change has a later timestamp', async (t) => {
  const { app, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada');
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' });
  await app.ltiScores.idle();
  await complete(app, ada.headers, 'ch1/intro');
  await app.ltiScores.idle();
  t.same(received(platform), [
    { lineItem: 'item-ch1introhtml', userId: 'lms-ada', scoreGiven: 2, scoreMaximum: 5, activityProgress: 'InProgress', gradingProgress: 'FullyGraded', timestamp: undefined },
    { lineItem: 'item-ch1introhtml', userId: 'lms-ada', scoreGiven: 2, scoreMaximum: 5, activityProgress: 'Completed', gradingProgress: 'FullyGraded', timestamp: undefined },
  ]);
  const [first, second] = platform.record.scores.map((s) => Date.parse(String(s.body.timestamp)));
  t.ok(second! > first!, 'the timestamps increase');
  t.same(platform.record.tokenRequests.length, 1, 'the token is cached');
});

t.test('an attempt without correctness or score (for a person to grade) is PendingManual; its score counts for nothing until graded', async (t) => {
  const { app, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada');
  await answer(app, ada.headers, 'q2', { kind: 'shortanswer', answer: 'an essay', page: 'ch1/intro' });
  await app.ltiScores.idle();
  t.same(received(platform), [{ lineItem: 'item-ch1introhtml', userId: 'lms-ada', scoreGiven: 0, scoreMaximum: 5, activityProgress: 'InProgress', gradingProgress: 'PendingManual', timestamp: undefined }]);
});

t.test('a save that leaves the score as it was posts nothing: a second wrong answer, an answer on another page', async (t) => {
  const { app, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada');
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['b'], correct: false, page: 'ch1/intro' });
  await app.ltiScores.idle();
  const [sent] = await scoreRows(app);
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['c'], correct: false, page: 'ch1/intro' });
  await answer(app, ada.headers, 'q3', { kind: 'mchoice', answer: ['a'], correct: true, page: 'special' });
  await complete(app, ada.headers, 'ch1/reading');
  await app.ltiScores.idle();
  t.equal(platform.record.scores.length, 1);
  t.same(await scoreRows(app), [sent], 'the row is as it was');
});

t.test('a student who did the page before their launch gets their score sent at the launch', async (t) => {
  const { app, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada', '/ch1/reading.html');
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' });
  await complete(app, ada.headers, 'ch1/intro');
  await app.ltiScores.idle();
  t.equal(platform.record.scores.length, 0, 'no link to ch1/intro yet');
  await launchAs(app, platform, 'lms-ada');
  await app.ltiScores.idle();
  t.same(received(platform), [{ lineItem: 'item-ch1introhtml', userId: 'lms-ada', scoreGiven: 2, scoreMaximum: 5, activityProgress: 'Completed', gradingProgress: 'FullyGraded', timestamp: undefined }]);
});

t.test('work done anonymously before the launch, moved to the LMS account by the hand-off, is scored and sent', async (t) => {
  const { app, platform } = await setup(t);
  const first = await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: fromBook, payload: { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' } });
  t.equal(first.statusCode, 201, first.body);
  await launchAs(app, platform, 'lms-ada', '/ch1/intro.html', {}, { cookie: cookieOf(first) });
  await app.ltiScores.idle();
  t.same(received(platform), [{ lineItem: 'item-ch1introhtml', userId: 'lms-ada', scoreGiven: 2, scoreMaximum: 5, activityProgress: 'InProgress', gradingProgress: 'FullyGraded', timestamp: undefined }]);
});

t.test('the target page is the TOC page whose url is the target\'s path, else the path as a page id; a page the TOC does not list is graded by its completion', async (t) => {
  const { app, platform } = await setup(t);
  const special = await launchAs(app, platform, 'lms-ada', '/pages/special.html');
  await launchAs(app, platform, 'lms-ada', '/ch9/extra.html');
  t.same(
    (await scoreRows(app)).map((r) => [r.page, r.score_maximum]).sort(),
    [
      ['ch9/extra', 1],
      ['special', 4],
    ],
  );
  await answer(app, special.headers, 'qx', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch9/extra' });
  await app.ltiScores.idle();
  await complete(app, special.headers, 'ch9/extra');
  await app.ltiScores.idle();
  t.same(received(platform), [
    { lineItem: 'item-ch9extrahtml', userId: 'lms-ada', scoreGiven: 0, scoreMaximum: 1, activityProgress: 'InProgress', gradingProgress: 'FullyGraded', timestamp: undefined },
    { lineItem: 'item-ch9extrahtml', userId: 'lms-ada', scoreGiven: 1, scoreMaximum: 1, activityProgress: 'Completed', gradingProgress: 'FullyGraded', timestamp: undefined },
  ]);
});

t.test('targetPage and scoresUrl: a TOC url first, else the path less its slash and .html; /scores before the line item\'s query', async (t) => {
  const checked = checkToc(toc) as { toc: StoredToc };
  const registered = { ...checked.toc, importedAt: 0 };
  t.equal(targetPage(registered, 'https://book.example/pages/special.html?x=1'), 'special');
  t.equal(targetPage(registered, 'https://book.example/ch1/intro.html'), 'ch1/intro');
  t.equal(targetPage(undefined, 'https://book.example/ch2/new'), 'ch2/new');
  t.equal(targetPage(undefined, 'https://book.example/'), undefined);
  t.equal(scoresUrl('https://lms.example/api/lti/courses/1/line_items/7?type_id=3'), 'https://lms.example/api/lti/courses/1/line_items/7/scores?type_id=3');
  t.equal(scoresUrl('https://lms.example/lineitems/7/'), 'https://lms.example/lineitems/7/scores');
});

t.test('a launch without the AGS claim, without the score scope, or by staff, makes no score row', async (t) => {
  const { app, events, platform } = await setup(t);
  await launchAs(app, platform, 'lms-ada', '/ch1/intro.html', { lineItem: undefined });
  t.same(await scoreRows(app), []);
  await launchAs(app, platform, 'lms-ines', '/ch1/intro.html', { roles: [`${lis}Instructor`] });
  t.same(await scoreRows(app), [], 'gradebooks take learners\' scores');
  const ags = 'https://purl.imsglobal.org/spec/lti-ags/claim/endpoint';
  await launchAs(app, platform, 'lms-bob', '/ch1/intro.html', { overrides: { [ags]: { scope: [ltiScopes.lineitem], lineitem: platform.lineItemUrl('item-x') } } });
  t.same(await scoreRows(app), []);
  t.match(events('lti_score_skipped'), [{ issuer: platform.issuer, lineitem: platform.lineItemUrl('item-x') }]);
});

t.test('a platform down (503): the score stays pending with its attempt, error and next attempt 24-30 s on; a later round delivers it', async (t) => {
  const { app, events, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada');
  platform.failScores(503);
  const before = Date.now();
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' });
  await app.ltiScores.idle();
  const [failed] = await scoreRows(app);
  t.match(failed, { pending: 1, attempts: 1, sent_at: null, last_error: `${ada.lineitem}/scores answered 503: {"error":"unavailable"}` });
  t.ok(failed!.next_attempt_at! >= before + 24_000 && failed!.next_attempt_at! <= Date.now() + 30_000, 'backed off 30 s, less some jitter');
  t.match(events('lti_score_failed'), [{ issuer: platform.issuer, lineitem: ada.lineitem, userId: ada.id, status: 503, retryable: true, attempts: 1 }]);
  t.same(await app.ltiScores.sendDue(Date.now()), { sent: 0, failed: 0 }, 'not due yet');

  t.same(await app.ltiScores.sendDue(failed!.next_attempt_at!), { sent: 1, failed: 0 });
  t.same(received(platform), [{ lineItem: 'item-ch1introhtml', userId: 'lms-ada', scoreGiven: 2, scoreMaximum: 5, activityProgress: 'InProgress', gradingProgress: 'FullyGraded', timestamp: undefined }]);
  t.equal(platform.record.scores[0]!.body.timestamp, new Date(failed!.changed_at).toISOString(), 'the time of the change, not of the send');
  t.match((await scoreRows(app))[0], { pending: 0, attempts: 2, last_error: null, next_attempt_at: null });
});

t.test('retries back off 30 s doubling to at most an hour, less up to a fifth at random', async (t) => {
  t.same([1, 2, 3, 8, 20].map((n) => retryDelay(n, 0)), [30_000, 60_000, 120_000, 3_600_000, 3_600_000]);
  t.equal(retryDelay(1, 1), 24_000);
});

t.test('a line item gone (404) is not dropped: the score stays pending, tried again after an hour, and the error says so', async (t) => {
  const { app, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada');
  platform.lineItems.delete('item-ch1introhtml');
  const before = Date.now();
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' });
  await app.ltiScores.idle();
  const [failed] = await scoreRows(app);
  t.match(failed, { pending: 1, attempts: 1, last_error: `${ada.lineitem}/scores answered 404: {"error":"no such line item"} (not a failure that passes by itself: tried again hourly)` });
  t.ok(failed!.next_attempt_at! >= before + retryCapMs && failed!.next_attempt_at! <= Date.now() + retryCapMs);
});

t.test('a score changed while a failed one waits is pending anew, due at once, and the newest is what is sent', async (t) => {
  const { app, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada');
  platform.failScores(503);
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' });
  await app.ltiScores.idle();
  await complete(app, ada.headers, 'ch1/intro');
  await app.ltiScores.idle();
  t.same(received(platform), [{ lineItem: 'item-ch1introhtml', userId: 'lms-ada', scoreGiven: 2, scoreMaximum: 5, activityProgress: 'Completed', gradingProgress: 'FullyGraded', timestamp: undefined }]);
  t.match((await scoreRows(app))[0], { pending: 0, attempts: 1 });
});

t.test('two senders at once (two processes) claim a due score once: it is posted once', async (t) => {
  const { app, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada');
  const bob = await launchAs(app, platform, 'lms-bob');
  platform.failScores(503, 503);
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' });
  await answer(app, bob.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' });
  await app.ltiScores.idle();
  const later = Date.now() + retryCapMs;
  const claims = [await claimDueScores(app.db, later), await claimDueScores(app.db, later)];
  t.same(claims.map((c) => c.map((s) => s.sub).sort()), [['lms-ada', 'lms-bob'], []], 'a claimed row is not due to another sender');
  t.same((await scoreRows(app)).map((r) => r.next_attempt_at), [later + 60_000, later + 60_000], 'claimed for a minute');

  const rounds = await Promise.all([app.ltiScores.sendDue(later + 60_000), app.ltiScores.sendDue(later + 60_000)]);
  t.equal(rounds[0].sent + rounds[1].sent, 2);
  t.same(platform.record.scores.map((s) => s.body.userId).sort(), ['lms-ada', 'lms-bob'], 'each posted once');
});

t.test('GET /api/courses/:course/lti-scores lists the course\'s scores not delivered: student, page, score, attempts, next attempt, last error', async (t) => {
  const { app, platform } = await setup(t);
  const ada = await launchAs(app, platform, 'lms-ada');
  platform.failScores(503);
  await answer(app, ada.headers, 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'ch1/intro' });
  await app.ltiScores.idle();
  const teacher = await launchAs(app, platform, 'lms-ines', '/ch1/intro.html', { roles: [`${lis}Instructor`], lineItem: undefined });
  const course = (await app.db.get<{ course_id: string }>(sql`SELECT course_id FROM lti_contexts`))!.course_id;
  const [row] = await scoreRows(app);
  const user = (await app.db.get<{ username: string }>(sql`SELECT username FROM users WHERE id = ${ada.id}`))!;
  const res = await app.inject({ method: 'GET', url: `/api/courses/${course}/lti-scores`, headers: teacher.headers });
  t.equal(res.statusCode, 200);
  t.same(res.json(), {
    course,
    linked: true,
    pending: [
      {
        user: { id: ada.id, username: user.username, name: null },
        page: 'ch1/intro',
        lineitem: ada.lineitem,
        scoreGiven: 2,
        scoreMaximum: 5,
        activityProgress: 'InProgress',
        gradingProgress: 'FullyGraded',
        changedAt: new Date(row!.changed_at).toISOString(),
        attempts: 1,
        nextAttemptAt: new Date(row!.next_attempt_at!).toISOString(),
        lastError: `${ada.lineitem}/scores answered 503: {"error":"unavailable"}`,
        lastSentAt: null,
      },
    ],
  });
  await app.ltiScores.sendDue(row!.next_attempt_at!);
  t.same((await app.inject({ method: 'GET', url: `/api/courses/${course}/lti-scores`, headers: teacher.headers })).json(), { course, linked: true, pending: [] });
  const outsider = await student(app, 'eve');
  t.equal((await app.inject({ method: 'GET', url: `/api/courses/${course}/lti-scores`, headers: outsider.headers })).statusCode, 403);
});

t.test('a student without score rows costs one read after a save, and no write', async (t) => {
  const { app, platform } = await setup(t);
  await launchAs(app, platform, 'lms-ada');
  const bob = await student(app, 'bob');
  const counted = { reads: 0, writes: 0 };
  const db = app.db;
  const [all, get, write] = [db.all.bind(db), db.get.bind(db), db.write.bind(db)];
  // Only what this call does counts (its async context), not the server's own timers meanwhile.
  const call = new AsyncLocalStorage<true>();
  const count = (key: keyof typeof counted) => void (call.getStore() && counted[key]++);
  Object.assign(db, {
    all: (...args: Parameters<typeof all>) => (count('reads'), all(...args)),
    get: (...args: Parameters<typeof get>) => (count('reads'), get(...args)),
    write: (...args: Parameters<typeof write>) => (count('writes'), write(...args)),
  });
  t.teardown(() => void Object.assign(db, { all, get, write }));
  await call.run(true, () => app.ltiScores.workChanged({ userId: bob.id, bookId: 'book' }, { question: 'q1', page: 'ch1/intro' }));
  t.same(counted, { reads: 1, writes: 0 });
});
