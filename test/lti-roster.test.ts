import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import type { JSONWebKeySet } from 'jose';
import t, { type Test } from 'tap';
import { createCourse, enrol } from '../db/courses.js';
import { addPlatform } from '../db/lti.js';
import { ltiCourse, ltiUser } from '../db/lti-launch.js';
import { jwks } from '../lib/lti-keys.js';
import { nextLink, RosterSyncError, syncRoster } from '../lib/lti-roster.js';
import { forgetServiceTokens, ltiScopes } from '../lib/lti-services.js';
import { lis, startPlatform, type LaunchPlan, type Platform } from '../scripts/lti-platform.js';
import { bookOrigin, buildLogged, folio, testDatabaseUrl, testSecret } from './helper.js';
import { createBook } from '../db/books.js';
import { openDatabase } from '../db/index.js';

/** Roster sync by LTI Names and Role Provisioning Services (lib/lti-roster.ts), against the jose platform fixture. */

const target = `${bookOrigin}/ch1/intro.html`;
const context = { id: 'ctx-1', label: 'CS 101', title: 'Introduction to Programming' };
const instructor: LaunchPlan = { sub: 'teacher', roles: [`${lis}Instructor`], name: 'Grace Hopper', targetLinkUri: target, context, nrps: true };
const learner = (sub: string, extra: Partial<LaunchPlan> = {}): LaunchPlan => ({ sub, roles: [`${lis}Learner`], targetLinkUri: target, context, nrps: true, ...extra });

async function setup(t: Test) {
  const { app, events } = await buildLogged(t);
  const platform = await startPlatform({ toolOrigin: 'http://127.0.0.1:3000', toolJwks: async () => (await app.inject({ method: 'GET', url: '/lti/jwks' })).json() as JSONWebKeySet });
  t.teardown(platform.close);
  await addPlatform(app.db, platform.registration());
  forgetServiceTokens();
  t.teardown(forgetServiceTokens);
  return { app, events, platform };
}

/** A launch as a browser makes it: Folio's login redirects to the platform, whose page posts the id_token back to Folio. */
async function launch(app: FastifyInstance, platform: Platform, hint: string, plan: LaunchPlan) {
  platform.plan(hint, plan);
  const query = new URLSearchParams({ iss: platform.issuer, login_hint: hint, target_link_uri: plan.targetLinkUri, client_id: platform.clientId, lti_deployment_id: platform.deploymentId });
  const login = await app.inject({ method: 'GET', url: `/lti/login?${query}` });
  const page = await (await fetch(String(login.headers.location))).text();
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page)![1]!;
  return app.inject({
    method: 'POST',
    url: '/lti/launch',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: platform.issuer, accept: 'text/html' },
    payload: new URLSearchParams({ id_token: field('id_token'), state: field('state') }).toString(),
  });
}

/** Waits (at most 5 s) for a condition a background task brings about. */
async function until(what: string, condition: () => boolean | Promise<boolean>) {
  for (const start = Date.now(); !(await condition()); ) {
    if (Date.now() - start > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The course of the context, made by a launch or here with the platform's memberships URL. */
async function courseOfContext(app: FastifyInstance, platform: Platform) {
  return (await ltiCourse(app.db, { issuer: platform.issuer, deploymentId: platform.deploymentId, contextId: context.id, bookId: 'book', ...context, membershipsUrl: `${platform.issuer}/memberships/${context.id}` })).courseId;
}

/** The course's enrolments with each student's LMS id, name and email, by LMS id. */
const enrolled = (app: FastifyInstance, courseId: string) =>
  app.db.all<Record<string, unknown>>(
    sql`SELECT l.sub, u.name, u.email, u.role, u.password_hash, e.via FROM enrolments e JOIN users u ON u.id = e.user_id LEFT JOIN lti_users l ON l.user_id = u.id WHERE e.course_id = ${courseId} ORDER BY l.sub`,
  );

const count = async (app: FastifyInstance, table: string) => Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM ${sql.identifier(table)}`))!.n);

t.test("an instructor's launch with the NRPS claim enrols the context's active learners (via lti) after the redirect, named as the LMS lists them", async (t) => {
  const { app, events, platform } = await setup(t);
  platform.members.set(context.id, [
    { user_id: 'teacher', roles: [`${lis}Instructor`], name: 'Grace Hopper' },
    { user_id: 'ta', roles: [`${lis}Instructor#TeachingAssistant`], name: 'Tim Assistant' },
    { user_id: 's1', roles: [`${lis}Learner`], name: 'Ada Lovelace', email: 'ada@example.edu', status: 'Active' },
    { user_id: 's2', roles: ['Learner'], given_name: 'Alan', family_name: 'Turing', email: 'alan@example.edu' },
    { user_id: 's3', roles: [`${lis}Learner`], status: 'Inactive', name: 'Gone Student' },
    { user_id: 'mentor', roles: [`${lis}Mentor`], name: 'A Parent' },
  ]);
  const res = await launch(app, platform, 'teacher', instructor);
  t.equal(res.statusCode, 302);
  t.match(String(res.headers.location), /^https:\/\/book\.example\/ch1\/intro\.html#folio-handoff=/);
  await until('the roster sync', () => events('lti_roster_synced').length === 1);

  const [course] = await app.db.all<{ course_id: string }>(sql`SELECT course_id FROM lti_contexts`);
  const courseId = course!.course_id;
  t.same(await enrolled(app, courseId), [
    { sub: 's1', name: 'Ada Lovelace', email: 'ada@example.edu', role: 'student', password_hash: null, via: 'lti' },
    { sub: 's2', name: 'Alan Turing', email: 'alan@example.edu', role: 'student', password_hash: null, via: 'lti' },
  ]);
  t.same(
    (await app.db.all<{ sub: string; issuer: string }>(sql`SELECT issuer, sub FROM lti_users ORDER BY sub`)).map((r) => [r.issuer, r.sub]),
    [platform.issuer, platform.issuer, platform.issuer].map((iss, i) => [iss, ['s1', 's2', 'teacher'][i]]),
    'accounts only for the learners enrolled (and the instructor who launched)',
  );
  t.same(await app.db.all(sql`SELECT role FROM course_staff`), [{ role: 'instructor' }], 'staff listed by the LMS are not made staff: only their own launch does that');
  t.match(events('lti_roster_synced'), [{ course: courseId, contexts: 1, pages: 1, members: 6, enrolled: 2, alreadyEnrolled: 0, unenrolled: 0, skipped: 4, complete: true }]);
  t.equal(platform.record.membershipRequests.length, 1);
  t.match(platform.record.membershipRequests[0], { context: context.id, authorization: /^Bearer [0-9a-f]{32}$/, accept: 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json' });
  t.same(platform.record.tokenRequests, [{ ok: true, scope: ltiScopes.memberships }], 'a token for the memberships scope alone');
});

t.test("a learner's launch does not read the roster, nor does an instructor's launch without the NRPS claim", async (t) => {
  const { app, events, platform } = await setup(t);
  platform.members.set(context.id, [{ user_id: 's1', roles: ['Learner'] }, { user_id: 's2', roles: ['Learner'] }]);
  t.equal((await launch(app, platform, 's1', learner('s1'))).statusCode, 302);
  t.equal((await launch(app, platform, 'teacher', { ...instructor, nrps: false })).statusCode, 302);
  const courseId = (await app.db.get<{ course_id: string }>(sql`SELECT course_id FROM lti_contexts`))!.course_id;
  t.same((await enrolled(app, courseId)).map((r) => r.sub), ['s1'], 'the learner enrolled by their own launch only');
  await app.close();
  t.same(platform.record.membershipRequests, []);
  t.same(events('lti_roster_synced'), []);
});

t.test('instructors relaunching within 10 minutes start one sync of the course, not one a launch', async (t) => {
  const { app, events, platform } = await setup(t);
  platform.members.set(context.id, [{ user_id: 's1', roles: ['Learner'] }]);
  t.equal((await launch(app, platform, 'teacher', instructor)).statusCode, 302);
  await until('the roster sync', () => events('lti_roster_synced').length === 1);
  t.equal((await launch(app, platform, 'teacher', instructor)).statusCode, 302);
  t.equal((await launch(app, platform, 'co-teacher', { ...instructor, sub: 'co-teacher' })).statusCode, 302);
  await app.close();
  t.equal(platform.record.membershipRequests.length, 1);
  t.equal(events('lti_roster_synced').length, 1);
});

t.test('a roster the platform will not give (a registration without the NRPS scope) is logged as lti_roster_failed; the launch succeeds all the same', async (t) => {
  const { app, events, platform } = await setup(t);
  platform.withholdScopes(ltiScopes.memberships);
  const refused = await launch(app, platform, 'teacher', instructor);
  t.equal(refused.statusCode, 302);
  t.match(String(refused.headers.location), /#folio-handoff=/);
  await until('the failure', () => events('lti_roster_failed').length === 1);
  const [course] = await app.db.all<{ course_id: string }>(sql`SELECT course_id FROM lti_contexts`);
  t.match(events('lti_roster_failed'), [{ course: course!.course_id, reason: 'platform', error: /^the LMS .* did not give the roster of context ctx-1: the platform's token endpoint .* answered 400: .*invalid_scope.*check that Folio's registration in the LMS offers Names and Role Provisioning Services/ }]);
  t.same(platform.record.tokenRequests, [{ ok: false, scope: ltiScopes.memberships, error: 'invalid_scope' }]);

  t.equal(await count(app, 'enrolments'), 0);
});

t.test("a platform whose services cannot be reached (down) is logged as lti_roster_failed, saying to try later; the launch succeeds", async (t) => {
  const { app, events, platform } = await setup(t);
  platform.members.set(context.id, [{ user_id: 's1', roles: ['Learner'] }]);
  await app.db.run(sql`UPDATE lti_platforms SET token_url = 'http://127.0.0.1:1/token'`);
  const res = await launch(app, platform, 'teacher', instructor);
  t.equal(res.statusCode, 302);
  t.match(String(res.headers.location), /#folio-handoff=/);
  await until('the failure', () => events('lti_roster_failed').length === 1);
  t.match(events('lti_roster_failed')[0], { reason: 'platform', error: /^the LMS .* did not give the roster of context ctx-1: http:\/\/127\.0\.0\.1:1\/token could not be reached .*; the LMS may be down or busy: try again later$/ });
  t.equal(await count(app, 'enrolments'), 0);
});

t.test('every page of a paged roster is read (Link rel="next"), with the token the first page got', async (t) => {
  const { app, platform } = await setup(t);
  const courseId = await courseOfContext(app, platform);
  platform.setMembersPageSize(2);
  platform.members.set(context.id, ['s1', 's2', 's3', 's4', 's5'].map((user_id) => ({ user_id, roles: ['Learner'], name: user_id.toUpperCase() })));
  const pages: unknown[] = [];
  const summary = await syncRoster(app.db, testSecret, courseId, { onPage: (p) => pages.push(p) });
  t.same(summary, { contexts: 1, pages: 3, members: 5, enrolled: 5, alreadyEnrolled: 0, unenrolled: 0, skipped: 0, complete: true });
  t.same(pages, [
    { context: context.id, pages: 1, members: 2, more: true },
    { context: context.id, pages: 2, members: 4, more: true },
    { context: context.id, pages: 3, members: 5, more: false },
  ]);
  t.same((await enrolled(app, courseId)).map((r) => [r.sub, r.name]), [['s1', 'S1'], ['s2', 'S2'], ['s3', 'S3'], ['s4', 'S4'], ['s5', 'S5']]);
  t.equal(platform.record.membershipRequests.length, 3);
  t.equal(platform.record.tokenRequests.length, 1);
});

t.test('a next page that loops back, or is on another origin than the memberships URL (the token goes with it), is not read: the summary says the roster is incomplete', async (t) => {
  const { app, platform } = await setup(t);
  const courseId = await courseOfContext(app, platform);
  platform.members.set(context.id, [{ user_id: 's1', roles: ['Learner'] }]);
  const withNext = (next: (url: string) => string): typeof fetch => async (input, init) => {
    const res = await fetch(input, init);
    const url = String(input);
    if (!url.includes('/memberships/')) return res;
    return new Response(await res.text(), { status: res.status, headers: { 'content-type': res.headers.get('content-type')!, link: `<${next(url)}>; rel="next"` } });
  };
  t.same(await syncRoster(app.db, testSecret, courseId, { fetchImpl: withNext((url) => url) }), { contexts: 1, pages: 1, members: 1, enrolled: 1, alreadyEnrolled: 0, unenrolled: 0, skipped: 0, complete: false });
  t.match(await syncRoster(app.db, testSecret, courseId, { fetchImpl: withNext(() => 'https://elsewhere.example/memberships?page=2') }), { pages: 1, complete: false });
  t.equal(platform.record.membershipRequests.length, 2);
});

t.test('a sync again changes nothing: the learners are counted as already enrolled and keep their accounts', async (t) => {
  const { app, platform } = await setup(t);
  const courseId = await courseOfContext(app, platform);
  platform.members.set(context.id, [{ user_id: 's1', roles: ['Learner'], name: 'Ada' }, { user_id: 's2', roles: ['Learner'] }]);
  await syncRoster(app.db, testSecret, courseId);
  const before = await app.db.all(sql`SELECT id, name FROM users ORDER BY id`);
  const again = await syncRoster(app.db, testSecret, courseId);
  t.match(again, { enrolled: 0, alreadyEnrolled: 2, unenrolled: 0, skipped: 0 });
  t.same(await app.db.all(sql`SELECT id, name FROM users ORDER BY id`), before);
  t.equal(await count(app, 'enrolments'), 2);
});

t.test("a learner who launched before is enrolled as the same account; one enrolled with the join code keeps that enrolment", async (t) => {
  const { app, platform } = await setup(t);
  t.equal((await launch(app, platform, 's1', learner('s1', { name: 'Ada' }))).statusCode, 302);
  const courseId = (await app.db.get<{ course_id: string }>(sql`SELECT course_id FROM lti_contexts`))!.course_id;
  await app.db.run(sql`DELETE FROM enrolments`);
  const s2 = (await ltiUser(app.db, platform.issuer, 's2', { name: 'Alan' })).user.id;
  await enrol(app.db, courseId, [s2], 'code');
  platform.members.set(context.id, [{ user_id: 's1', roles: ['Learner'], name: 'Renamed in the LMS' }, { user_id: 's2', roles: ['Learner'] }]);
  t.match(await syncRoster(app.db, testSecret, courseId), { enrolled: 1, alreadyEnrolled: 1 });
  t.same((await enrolled(app, courseId)).map((r) => [r.sub, r.name, r.via]), [['s1', 'Ada', 'lti'], ['s2', 'Alan', 'code']], 'accounts are found by (issuer, sub), not changed');
  t.equal(await count(app, 'users'), 2);
});

t.test('members listed Inactive or Deleted lose an enrolment the LMS made, never one made with a code, by staff or from a roster file', async (t) => {
  const { app, platform } = await setup(t);
  const courseId = await courseOfContext(app, platform);
  const ids: Record<string, string> = {};
  for (const sub of ['lti-made', 'by-code', 'by-staff', 'deleted', 'not-enrolled']) ids[sub] = (await ltiUser(app.db, platform.issuer, sub, {})).user.id;
  await enrol(app.db, courseId, [ids['lti-made']!, ids['deleted']!], 'lti');
  await enrol(app.db, courseId, [ids['by-code']!], 'code');
  await enrol(app.db, courseId, [ids['by-staff']!], 'staff');
  platform.members.set(context.id, [
    { user_id: 'lti-made', roles: ['Learner'], status: 'Inactive' },
    { user_id: 'by-code', roles: ['Learner'], status: 'Inactive' },
    { user_id: 'by-staff', roles: ['Learner'], status: 'Deleted' },
    { user_id: 'deleted', roles: ['Learner'], status: 'Deleted' },
    { user_id: 'not-enrolled', roles: ['Learner'], status: 'Inactive' },
    { user_id: 'never-seen', roles: ['Learner'], status: 'Inactive' },
  ]);
  t.same(await syncRoster(app.db, testSecret, courseId), { contexts: 1, pages: 1, members: 6, enrolled: 0, alreadyEnrolled: 0, unenrolled: 2, skipped: 4, complete: true });
  t.same((await enrolled(app, courseId)).map((r) => [r.sub, r.via]), [['by-code', 'code'], ['by-staff', 'staff']]);
  t.equal(await count(app, 'users'), 5, 'no account is made for an inactive member');
});

t.test('a sync beside another sync and beside the learners\' own launches makes one account and one enrolment each', async (t) => {
  const { app, platform } = await setup(t);
  const courseId = await courseOfContext(app, platform);
  const subs = Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, '0')}`);
  platform.members.set(context.id, subs.map((user_id) => ({ user_id, roles: ['Learner'] })));
  const results = await Promise.all([syncRoster(app.db, testSecret, courseId), syncRoster(app.db, testSecret, courseId), launch(app, platform, 's00', learner('s00')), launch(app, platform, 's05', learner('s05'))]);
  t.equal(results[2].statusCode, 302);
  t.equal(results[3].statusCode, 302);
  t.same((await enrolled(app, courseId)).map((r) => r.sub), subs);
  t.equal(await count(app, 'users'), 12);
  t.equal(await count(app, 'lti_users'), 12);
  for (const summary of [results[0], results[1]]) t.equal(summary.enrolled + summary.alreadyEnrolled, 12, 'each sync counts every learner once, as new or already enrolled');
});

t.test('of several registrations of one issuer, the roster is read with the first the platform answers', async (t) => {
  const { app, platform } = await setup(t);
  const courseId = await courseOfContext(app, platform);
  // Sorted before "folio": tried first, refused by the token endpoint (the assertion names another client).
  await addPlatform(app.db, { ...platform.registration(), clientId: 'an-old-registration' });
  platform.members.set(context.id, [{ user_id: 's1', roles: ['Learner'] }]);
  t.match(await syncRoster(app.db, testSecret, courseId), { enrolled: 1 });
  t.same(
    platform.record.tokenRequests.map((r) => [r.ok, r.error]),
    [
      [false, 'client_assertion iss/sub'],
      [true, undefined],
    ],
  );
});

t.test('a course without an LMS context offering NRPS, or whose platform is gone, is a RosterSyncError saying what to do', async (t) => {
  const { app, platform } = await setup(t);
  await createCourse(app.db, { id: 'plain', bookId: 'book', title: 'Joined with a code' });
  const none = await syncRoster(app.db, testSecret, 'plain').catch((e: unknown) => e);
  t.type(none, RosterSyncError);
  t.equal((none as RosterSyncError).reason, 'no_context');
  t.match((none as RosterSyncError).message, /^course plain has no LMS context with Names and Role Provisioning Services: .*enable the service for Folio in the LMS/);

  const courseId = await courseOfContext(app, platform);
  await app.db.run(sql`DELETE FROM lti_platforms`);
  const gone = await syncRoster(app.db, testSecret, courseId).catch((e: unknown) => e);
  t.equal((gone as RosterSyncError).reason, 'no_platform');
  t.equal((gone as RosterSyncError).message, `no registered LTI platform ${platform.issuer} has the deployment d1 any more: register it again with "folio lti platforms add" (see "folio lti platforms list")`);
});

t.test('Link headers: rel="next" among other links, quoted or not, relative to the page', async (t) => {
  const base = 'https://lms.example/api/memberships?page=1';
  t.equal(nextLink('<https://lms.example/api/memberships?page=2>; rel="next"', base), 'https://lms.example/api/memberships?page=2');
  t.equal(nextLink('<?page=1>; rel="first", </api/memberships?page=3>; rel=next, <?page=9>; rel="last"', base), 'https://lms.example/api/memberships?page=3');
  t.equal(nextLink('<https://lms.example/d>; rel="differences"', base), undefined);
  t.equal(nextLink(null, base), undefined);
});

t.test('folio courses sync-roster prints the summary, progress on stderr; a course without an LMS context is exit 1 saying what to do', async (t) => {
  const databaseUrl = testDatabaseUrl(t);
  const env = { FOLIO_DATABASE_URL: databaseUrl, FOLIO_SECRET: testSecret };
  t.equal((await folio(['migrate'], env)).code, 0);
  const db = await openDatabase(databaseUrl);
  t.teardown(() => db.close());
  const platform = await startPlatform({ toolOrigin: 'http://127.0.0.1:3000', toolJwks: () => jwks(db, testSecret) });
  t.teardown(platform.close);
  await createBook(db, { id: 'book', title: 'Book', origins: [bookOrigin] });
  await addPlatform(db, platform.registration());
  const { courseId } = await ltiCourse(db, { issuer: platform.issuer, deploymentId: 'd1', contextId: context.id, bookId: 'book', ...context, membershipsUrl: `${platform.issuer}/memberships/${context.id}` });
  platform.setMembersPageSize(2);
  platform.members.set(context.id, [
    { user_id: 's1', roles: ['Learner'], name: 'Ada' },
    { user_id: 's2', roles: ['Learner'] },
    { user_id: 't1', roles: ['Instructor'] },
  ]);

  const synced = await folio(['courses', 'sync-roster', courseId], env);
  t.equal(synced.code, 0, synced.stderr);
  t.equal(synced.stdout, `${courseId}: enrolled 2 student(s) from the LMS; 0 already enrolled, 0 unenrolled, 1 member(s) left as they were (1 context, 2 pages)\n`);
  t.equal(synced.stderr, `${courseId}: read page 1 of context ctx-1 (2 members so far)\n${courseId}: read page 2 of context ctx-1 (3 members so far)\n`);
  t.equal(Number((await db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM enrolments WHERE via = 'lti'`))!.n), 2);

  await createCourse(db, { id: 'plain', bookId: 'book', title: 'Joined with a code' });
  const plain = await folio(['courses', 'sync-roster', 'plain'], env);
  t.equal(plain.code, 1);
  t.match(plain.stderr, /^folio: course plain has no LMS context with Names and Role Provisioning Services: .*\n$/);
  const unknown = await folio(['courses', 'sync-roster', 'nope'], env);
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, 'folio: there is no course "nope" (see "folio courses list")\n');

  platform.withholdScopes(ltiScopes.memberships);
  const refused = await folio(['courses', 'sync-roster', courseId], env);
  t.equal(refused.code, 1);
  t.match(refused.stderr, /^folio: the LMS .* did not give the roster of context ctx-1: .*invalid_scope.*\("folio lti tool-info"\)\n$/);

  const help = await folio(['courses', 'sync-roster', '--help'], env);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: folio courses sync-roster \[options\] <id>/);
  t.match(help.stdout, /Members the LMS lists as\s+Inactive or Deleted lose an enrolment an LMS\s+made/);
});
