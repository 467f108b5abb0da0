import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { courseActivityStatements, dayMs } from '../db/course-activity.js';
import { build, testDialect } from './helper.js';
import { courseOf, enrolled, staffOf, student } from './staff.js';

/** The dashboard's overview reports: activity per UTC day and active this week (GET …/activity), research consent (GET …/consent). */

const get = (app: FastifyInstance, url: string, headers: Record<string, string>) => app.inject({ method: 'GET', url, headers });
/** The start of the UTC day `offset` days from today (negative: before). */
const dayStart = (offset: number) => (Math.floor(Date.now() / dayMs) + offset) * dayMs;
const dayOf = (offset: number) => new Date(dayStart(offset)).toISOString().slice(0, 10);
const hour = 3_600_000;

/** Work stored at exact times, as the API would have stored it then. */
const work = {
  answer: (app: FastifyInstance, user: string, at: number, attempt = 1) =>
    app.db.run(sql`INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, saved_at) VALUES (${user}, 'book', 'q1', ${attempt}, 'mchoice', '["a"]', CAST(${at} AS BIGINT))`),
  save: (app: FastifyInstance, user: string, at: number, version = 1) =>
    app.db.run(sql`INSERT INTO programs (user_id, book_id, activity, version, code, saved_at) VALUES (${user}, 'book', 'ac1', ${version}, 'x = 1', CAST(${at} AS BIGINT))`),
  event: (app: FastifyInstance, user: string, at: number, type = 'page:view') =>
    app.db.run(sql`INSERT INTO events (user_id, book_id, type, page, server_time) VALUES (${user}, 'book', ${type}, 'p1', CAST(${at} AS BIGINT))`),
  complete: (app: FastifyInstance, user: string, at: number, page = 'p1') =>
    app.db.run(sql`INSERT INTO page_completions (user_id, book_id, page, completed_at) VALUES (${user}, 'book', ${page}, CAST(${at} AS BIGINT))`),
};
const zero = (day: string) => ({ day, answers: 0, saves: 0, pageViews: 0, students: 0 });

t.test('GET /api/courses/:course/activity: answers, saves and page views per UTC day of the enrolled students only, every day of the range with zeros', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'c2', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const tia = await staffOf(app, 'tia', 'c1', 'ta');
  const otto = await staffOf(app, 'otto', 'c2', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  const cleo = await enrolled(app, 'cleo', 'c1');
  await enrolled(app, 'dan', 'c1'); // enrolled, never active
  const bob = await enrolled(app, 'bob', 'c2');
  const eve = await student(app, 'eve'); // in no course
  // Two days ago: Ada answers twice and saves a program, Cleo views a page. Yesterday: Ada completes a page (a student, no count).
  // Today: Ada views a page and logs another event (not a view). Bob and Eve, outside c1, work every day.
  await work.answer(app, ada.id, dayStart(-2) + 9 * hour);
  await work.answer(app, ada.id, dayStart(-2) + 23 * hour, 2);
  await work.save(app, ada.id, dayStart(-2) + 10 * hour);
  await work.event(app, cleo.id, dayStart(-2));
  await work.complete(app, ada.id, dayStart(-1) + 12 * hour);
  await work.event(app, ada.id, dayStart(0));
  await work.event(app, ada.id, dayStart(0), 'run');
  for (const other of [bob.id, eve.id]) {
    for (const offset of [-3, -2, -1, 0]) {
      await work.answer(app, other, dayStart(offset), 1 - offset);
      await work.save(app, other, dayStart(offset), 1 - offset);
      await work.event(app, other, dayStart(offset));
    }
  }

  const res = await get(app, '/api/courses/c1/activity?days=4', ines.headers);
  t.equal(res.statusCode, 200);
  t.same(res.json(), {
    course: 'c1',
    enrolled: 3,
    activeThisWeek: 2,
    days: [
      zero(dayOf(-3)),
      { day: dayOf(-2), answers: 2, saves: 1, pageViews: 1, students: 2 },
      { day: dayOf(-1), answers: 0, saves: 0, pageViews: 0, students: 1 },
      { day: dayOf(0), answers: 0, saves: 0, pageViews: 1, students: 1 },
    ],
  });

  const byTa = await get(app, '/api/courses/c1/activity', tia.headers);
  t.equal(byTa.statusCode, 200, 'a TA of the course reads it');
  const days = byTa.json().days as { day: string }[];
  t.equal(days.length, 30, '30 days by default');
  t.equal(days.at(-1)!.day, dayOf(0), 'ending today');
  t.equal(days[0]!.day, dayOf(-29));

  const other = await get(app, '/api/courses/c1/activity', otto.headers);
  t.equal(other.statusCode, 403, "another course's instructor may not");
  t.equal(other.json().error, 'forbidden');
  t.equal((await get(app, '/api/courses/c1/activity', ada.headers)).statusCode, 403, 'nor a student of the course');
  t.same((await get(app, '/api/courses/c2/activity?days=1', otto.headers)).json(), {
    course: 'c2',
    enrolled: 1,
    activeThisWeek: 1,
    days: [{ day: dayOf(0), answers: 1, saves: 1, pageViews: 1, students: 1 }],
  });
});

t.test('activity: days must be 1 to 366, or the request is a 400 that says so', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  for (const days of ['0', '367', 'week']) {
    const res = await get(app, `/api/courses/c1/activity?days=${days}`, ines.headers);
    t.equal(res.statusCode, 400, days);
    t.match(res.json().message, 'days', days);
  }
  const empty = await get(app, '/api/courses/c1/activity?days=366', ines.headers);
  t.equal(empty.json().days.length, 366);
  t.same({ ...empty.json(), days: undefined }, { course: 'c1', enrolled: 0, activeThisWeek: 0, days: undefined }, 'a course without students: zeros');
});

t.test('active this week: work 7 days ago less a minute counts, 7 days and a minute ago does not; each kind of work counts', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const week = 7 * dayMs;
  const now = Date.now();
  const [justIn, justOut, completer, saver, answerer] = [
    await enrolled(app, 'justin', 'c1'),
    await enrolled(app, 'justout', 'c1'),
    await enrolled(app, 'completer', 'c1'),
    await enrolled(app, 'saver', 'c1'),
    await enrolled(app, 'answerer', 'c1'),
  ];
  await work.event(app, justIn.id, now - week + 60_000, 'run');
  await work.answer(app, justOut.id, now - week - 60_000);
  await work.save(app, justOut.id, now - week - 120_000);
  await work.complete(app, completer.id, now - 3 * dayMs);
  await work.save(app, saver.id, now - dayMs);
  await work.answer(app, answerer.id, now - 2 * dayMs);
  const body = (await get(app, '/api/courses/c1/activity?days=1', ines.headers)).json();
  t.equal(body.enrolled, 5);
  t.equal(body.activeThisWeek, 4, 'all but the one whose work is 7 days and a minute old');
});

t.test("a course's dates bound its activity: work before its start or after its end counts nowhere, and an ended course's days end on its last day", async (t) => {
  const app = await build(t);
  await courseOf(app, 'old', 'book', { startsAt: dayStart(-8), endsAt: dayStart(-5) + 12 * hour });
  await courseOf(app, 'new', 'book', { startsAt: dayStart(-1) + 12 * hour });
  const ines = await staffOf(app, 'ines', 'old', 'instructor');
  const nina = await staffOf(app, 'nina', 'new', 'instructor');
  const ada = await enrolled(app, 'ada', 'old');
  const { enrol } = await import('../db/courses.js');
  await enrol(app.db, 'new', [ada.id], 'staff');
  await work.answer(app, ada.id, dayStart(-9) + 12 * hour); // before the old course
  await work.answer(app, ada.id, dayStart(-6) + 12 * hour, 2);
  await work.save(app, ada.id, dayStart(-5) + 6 * hour);
  await work.save(app, ada.id, dayStart(-5) + 18 * hour, 2); // after the old course's end
  await work.event(app, ada.id, dayStart(-1) + 6 * hour); // before the new course
  await work.event(app, ada.id, dayStart(-1) + 13 * hour);
  await work.answer(app, ada.id, dayStart(0), 3);

  t.same((await get(app, '/api/courses/old/activity?days=3', ines.headers)).json(), {
    course: 'old',
    enrolled: 1,
    activeThisWeek: 1, // the answer of 6 days ago, within the dates
    days: [zero(dayOf(-7)), { day: dayOf(-6), answers: 1, saves: 0, pageViews: 0, students: 1 }, { day: dayOf(-5), answers: 0, saves: 1, pageViews: 0, students: 1 }],
  });
  t.same((await get(app, '/api/courses/new/activity?days=3', nina.headers)).json(), {
    course: 'new',
    enrolled: 1,
    activeThisWeek: 1,
    days: [zero(dayOf(-2)), { day: dayOf(-1), answers: 0, saves: 0, pageViews: 1, students: 1 }, { day: dayOf(0), answers: 1, saves: 0, pageViews: 0, students: 1 }],
  });
});

t.test('GET /api/courses/:course/consent: how many enrolled students consented to research and how many did not', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'c2', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const tia = await staffOf(app, 'tia', 'c1', 'ta');
  const otto = await staffOf(app, 'otto', 'c2', 'instructor');
  await enrolled(app, 'ada', 'c1', { researchConsent: true });
  await enrolled(app, 'bob', 'c1', { researchConsent: false });
  await enrolled(app, 'cleo', 'c1', { researchConsent: true });
  await enrolled(app, 'dan', 'c2', { researchConsent: true });
  await student(app, 'eve', { researchConsent: true });
  const res = await get(app, '/api/courses/c1/consent', ines.headers);
  t.equal(res.statusCode, 200);
  t.same(res.json(), { course: 'c1', enrolled: 3, consented: 2, notConsented: 1 });
  t.same((await get(app, '/api/courses/c1/consent', tia.headers)).json(), { course: 'c1', enrolled: 3, consented: 2, notConsented: 1 }, 'a TA reads it too');
  t.equal((await get(app, '/api/courses/c1/consent', otto.headers)).statusCode, 403, "another course's instructor may not");
  await courseOf(app, 'c3', 'book');
  const ivo = await staffOf(app, 'ivo', 'c3', 'instructor');
  t.same((await get(app, '/api/courses/c3/consent', ivo.headers)).json(), { course: 'c3', enrolled: 0, consented: 0, notConsented: 0 }, 'no student: zeros');
});

t.test('GET /api/courses/:course/lti-scores says whether an LMS is linked: a course no launch made has none and nothing pending', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  t.same((await get(app, '/api/courses/c1/lti-scores', ines.headers)).json(), { course: 'c1', linked: false, pending: [] });
});

t.test('the activity reads the book\'s rows of the days by the (book_id, time) indexes and each row\'s enrolment by its key: no scan', { skip: testDialect !== 'sqlite' && 'SQLite query plans' }, async (t) => {
  const app = await build(t);
  const values = { course: 'c1', book: 'book', since: 0, until: 1, recent: 0, recentUntil: 1 };
  for (const [name, query] of Object.entries(courseActivityStatements('sqlite'))) {
    const plan = (await app.db.all<{ detail: string }>(sql`EXPLAIN QUERY PLAN ${query}`, values)).map((p) => p.detail);
    t.notOk(plan.some((d) => /^SCAN (a|c|w|v|e|n|u)\b/.test(d)), `${name}: no scan`, { plan });
    if (name === 'activity') {
      for (const index of ['answers_book_time_idx', 'programs_book_time_idx', 'events_book_time_idx', 'page_completions_book_time_idx']) {
        t.equal(plan.filter((d) => d.includes(`USING INDEX ${index} (book_id=? AND`)).length, 2, `${index}: for the days and for the week`, { plan });
        t.ok(plan.some((d) => d.startsWith('SEARCH e USING COVERING INDEX sqlite_autoindex_enrolments_1 (course_id=? AND user_id=?)')), 'each row\'s enrolment by its key', { plan });
      }
    }
  }
});
