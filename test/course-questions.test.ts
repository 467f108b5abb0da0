import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { importToc } from '../db/books.js';
import { courseQuestionStatements } from '../db/course-questions.js';
import { build, testDialect } from './helper.js';
import { courseOf, enrolled, expectStatus, staffOf, student } from './staff.js';

/** GET /api/courses/:course/questions, and the common answers and correct choices of a question's summary. */

const T = Date.parse('2026-09-01T08:00:00.000Z');

/** ch1: p1 (q1 mchoice 2 points, q2 fitb 3 points), p2 (no question); ch2: p3 (q3 shortanswer 4 points). */
const toc = {
  chapters: [
    {
      id: 'ch1',
      title: 'One',
      pages: [
        { id: 'p1', title: 'Page 1', questions: [{ id: 'q1', kind: 'mchoice', points: 2 }, { id: 'q2', kind: 'fitb', points: 3 }], activities: [] },
        { id: 'p2', title: 'Page 2', questions: [], activities: [] },
      ],
    },
    { id: 'ch2', title: 'Two', pages: [{ id: 'p3', title: 'Page 3', questions: [{ id: 'q3', kind: 'shortanswer', points: 4 }], activities: [] }] },
  ],
};

async function withToc(app: FastifyInstance) {
  await importToc(app.db, 'book', toc);
  await app.books.refresh();
}

const post = (app: FastifyInstance, h: Record<string, string>, question: string, payload: Record<string, unknown>) =>
  expectStatus(app, 201, 'POST', `/api/books/book/answers/${question}`, h, payload);
const get = (app: FastifyInstance, url: string, h: Record<string, string>) => app.inject({ method: 'GET', url, headers: h });
const choice = (answer: string, correct: boolean) => ({ kind: 'mchoice', answer: [answer], correct, page: 'p1' });
const zeros = { attempts: 0, students: 0, correctFirstTry: 0, eventuallyCorrect: 0, medianAttempts: null };

/**
 * c1: ada (q1 wrong then right; q2 right), bob (q1 right; q2 wrong twice), cleo (q1 wrong, wrong, right), dave (q1
 * wrong), ada also an unlisted question; dan (in no course) and eve (in c2) answer too and must not count.
 */
async function seeded(app: FastifyInstance) {
  await withToc(app);
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'c2', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const [ada, bob, cleo, dave] = [await enrolled(app, 'ada', 'c1'), await enrolled(app, 'bob', 'c1'), await enrolled(app, 'cleo', 'c1'), await enrolled(app, 'dave', 'c1')];
  const dan = await student(app, 'dan');
  const eve = await enrolled(app, 'eve', 'c2');
  await post(app, ada.headers, 'q1', choice('a', false));
  await post(app, ada.headers, 'q1', choice('b', true));
  await post(app, bob.headers, 'q1', choice('b', true));
  await post(app, cleo.headers, 'q1', choice('a', false));
  await post(app, cleo.headers, 'q1', choice('c', false));
  await post(app, cleo.headers, 'q1', choice('b', true));
  await post(app, dave.headers, 'q1', choice('a', false));
  await post(app, ada.headers, 'q2', { kind: 'fitb', answer: ['x'], correct: true, page: 'p1' });
  await post(app, bob.headers, 'q2', { kind: 'fitb', answer: ['y'], correct: false, page: 'p1' });
  await post(app, bob.headers, 'q2', { kind: 'fitb', answer: ['z'], correct: false, page: 'p1' });
  await post(app, ada.headers, 'extra', { kind: 'poll', answer: 'yes', page: 'p2' });
  await post(app, dan.headers, 'q1', choice('d', true));
  await post(app, dan.headers, 'q3', { kind: 'shortanswer', answer: 'outside', correct: true, page: 'p3' });
  await post(app, eve.headers, 'q3', { kind: 'shortanswer', answer: 'other course', correct: true, page: 'p3' });
  await post(app, eve.headers, 'elsewhere', { kind: 'poll', answer: 'no', page: 'p2' });
  return { ines, ada, bob, cleo, dave, dan, eve };
}

t.test('the questions report lists every question of the table of contents by chapter and page with attempts, students, first try, eventually correct and median attempts, then the unlisted ones', async (t) => {
  const app = await build(t);
  await seeded(app);
  const ines = await app.inject({ method: 'GET', url: '/api/courses/c1/questions', headers: (await staffOf(app, 'ian', 'c1', 'instructor')).headers });
  t.equal(ines.statusCode, 200);
  t.match(ines.headers['content-type'], /^application\/json/);
  t.same(ines.json(), {
    course: 'c1',
    book: 'book',
    window: { startsAt: null, endsAt: null },
    enrolled: 4,
    chapters: [
      {
        id: 'ch1',
        title: 'One',
        pages: [
          {
            id: 'p1',
            title: 'Page 1',
            questions: [
              // ada 2 attempts, bob 1, cleo 3, dave 1: median (1 + 2) / 2; bob right at once, dave never.
              { id: 'q1', kind: 'mchoice', points: 2, page: 'p1', attempts: 7, students: 4, correctFirstTry: 1, eventuallyCorrect: 3, medianAttempts: 1.5 },
              { id: 'q2', kind: 'fitb', points: 3, page: 'p1', attempts: 3, students: 2, correctFirstTry: 1, eventuallyCorrect: 1, medianAttempts: 1.5 },
            ],
          },
        ],
      },
      { id: 'ch2', title: 'Two', pages: [{ id: 'p3', title: 'Page 3', questions: [{ id: 'q3', kind: 'shortanswer', points: 4, page: 'p3', ...zeros }] }] },
    ],
    unlisted: [{ id: 'extra', unlisted: true, kind: 'poll', points: null, page: 'p2', attempts: 1, students: 1, correctFirstTry: 0, eventuallyCorrect: 0, medianAttempts: 1 }],
  });
});

t.test('a chapter\'s questions report (?chapter=) has exactly the whole book\'s rows for that chapter and no unlisted question; ?unlisted=true only those', async (t) => {
  const app = await build(t);
  await seeded(app);
  const { headers } = await staffOf(app, 'ian', 'c1', 'instructor');
  const whole = (await get(app, '/api/courses/c1/questions', headers)).json();
  for (const [i, id] of ['ch1', 'ch2'].entries()) {
    const res = await get(app, `/api/courses/c1/questions?chapter=${id}`, headers);
    t.equal(res.statusCode, 200);
    t.same(res.json(), { ...whole, chapters: [whole.chapters[i]], unlisted: [] }, id);
  }
  t.equal(whole.chapters[0].pages[0].questions[0].attempts, 7);
  const unlisted = await get(app, '/api/courses/c1/questions?unlisted=true', headers);
  t.equal(unlisted.statusCode, 200);
  t.same(unlisted.json(), { ...whole, chapters: [] });
  t.equal(whole.unlisted.length, 1);
  t.same((await get(app, '/api/courses/c1/questions?unlisted=false', headers)).json(), whole);
});

t.test('an unknown chapter is a 400 that names it, and a chapter with unlisted=true a 400 too', async (t) => {
  const app = await build(t);
  await seeded(app);
  const { headers } = await staffOf(app, 'ian', 'c1', 'instructor');
  const unknown = await get(app, '/api/courses/c1/questions?chapter=ch9', headers);
  t.equal(unknown.statusCode, 400);
  t.match(unknown.headers['content-type'], /^application\/json/);
  t.same(unknown.json(), {
    statusCode: 400,
    error: 'unknown_chapter',
    message: 'the table of contents of book "book" has no chapter "ch9": use a chapter id of GET /api/books/book/toc, or leave out `chapter`',
  });
  const both = await get(app, '/api/courses/c1/questions?chapter=ch1&unlisted=true', headers);
  t.equal(both.statusCode, 400);
  t.same(both.json(), { statusCode: 400, error: 'invalid_request', message: 'ask for a chapter or for the unlisted questions, not both: leave out `chapter` or `unlisted`' });
});

t.test('the questions report counts only work saved within the course\'s dates: the first try is attempt 1, wherever it falls', async (t) => {
  const app = await build(t);
  await withToc(app);
  await courseOf(app, 'c1', 'book', { startsAt: T + 1000, endsAt: T + 2000 });
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  const bob = await enrolled(app, 'bob', 'c1');
  await post(app, ada.headers, 'q1', choice('a', true)); // before
  await post(app, ada.headers, 'q1', choice('b', true)); // within
  await post(app, ada.headers, 'q1', choice('c', false)); // within
  await post(app, ada.headers, 'q1', choice('d', true)); // after
  await post(app, bob.headers, 'q3', { kind: 'shortanswer', answer: 'late', correct: true, page: 'p3' }); // after
  await app.db.run(sql`UPDATE answers SET saved_at = CAST(${T} AS BIGINT) + CASE attempt WHEN 1 THEN 500 WHEN 2 THEN 1000 WHEN 3 THEN 1999 ELSE 2000 END WHERE question = 'q1'`);
  await app.db.run(sql`UPDATE answers SET saved_at = CAST(${T} AS BIGINT) + 2000 WHERE question = 'q3'`);
  const body = (await get(app, '/api/courses/c1/questions', ines.headers)).json();
  t.same(body.window, { startsAt: new Date(T + 1000).toISOString(), endsAt: new Date(T + 2000).toISOString() });
  t.same(body.chapters[0].pages[0].questions[0], { id: 'q1', kind: 'mchoice', points: 2, page: 'p1', attempts: 2, students: 1, correctFirstTry: 0, eventuallyCorrect: 1, medianAttempts: 2 });
  t.same(body.chapters[1].pages[0].questions[0], { id: 'q3', kind: 'shortanswer', points: 4, page: 'p3', ...zeros });
  t.same(body.unlisted, []);
  t.same((await get(app, '/api/courses/c1/questions?chapter=ch1', ines.headers)).json().chapters, [body.chapters[0]], 'a chapter keeps to the dates too');
});

t.test('a book without a table of contents: no chapters, every answered question unlisted', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  await post(app, ada.headers, 'b', { kind: 'shortanswer', answer: 'one', page: 'x' });
  await post(app, ada.headers, 'a', { kind: 'mchoice', answer: ['1'], correct: true });
  const body = (await get(app, '/api/courses/c1/questions', ines.headers)).json();
  t.same(body.chapters, []);
  t.same(body.unlisted, [
    { id: 'a', unlisted: true, kind: 'mchoice', points: null, page: null, attempts: 1, students: 1, correctFirstTry: 1, eventuallyCorrect: 1, medianAttempts: 1 },
    { id: 'b', unlisted: true, kind: 'shortanswer', points: null, page: 'x', attempts: 1, students: 1, correctFirstTry: 0, eventuallyCorrect: 0, medianAttempts: 1 },
  ]);
});

t.test('many unlisted questions (more than 20) take their kind and page from one pass over the course\'s attempts: the newest attempt\'s', async (t) => {
  const app = await build(t);
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  const bob = await enrolled(app, 'bob', 'c1');
  const ids = Array.from({ length: 21 }, (_, i) => `u${String(i).padStart(2, '0')}`);
  for (const id of ids) await post(app, ada.headers, id, { kind: 'poll', answer: 'a', page: `page-${id}` });
  await post(app, bob.headers, 'u00', { kind: 'shortanswer', answer: 'newer', page: 'newer-page' });
  const body = (await get(app, '/api/courses/c1/questions', ines.headers)).json();
  t.same(body.unlisted.map((q: { id: string }) => q.id), ids);
  t.same(body.unlisted[0], { id: 'u00', unlisted: true, kind: 'shortanswer', points: null, page: 'newer-page', attempts: 2, students: 2, correctFirstTry: 0, eventuallyCorrect: 0, medianAttempts: 1 });
  t.same(body.unlisted[20], { id: 'u20', unlisted: true, kind: 'poll', points: null, page: 'page-u20', attempts: 1, students: 1, correctFirstTry: 0, eventuallyCorrect: 0, medianAttempts: 1 });
});

t.test('the questions report is for the course\'s staff: a teaching assistant reads it, another course\'s instructor gets a 403, a student too', async (t) => {
  const app = await build(t);
  const { ada } = await seeded(app);
  const tia = await staffOf(app, 'tia', 'c1', 'ta');
  const otto = await staffOf(app, 'otto', 'c2', 'instructor');
  const ta = await get(app, '/api/courses/c1/questions', tia.headers);
  t.equal(ta.statusCode, 200);
  t.equal(ta.json().enrolled, 4);
  const other = await get(app, '/api/courses/c1/questions', otto.headers);
  t.equal(other.statusCode, 403);
  t.same(other.json(), { statusCode: 403, error: 'forbidden', message: 'only the staff of course "c1" may see this' });
  t.equal((await get(app, '/api/courses/c1/questions', ada.headers)).statusCode, 403);
  const own = (await get(app, '/api/courses/c2/questions', otto.headers)).json();
  t.same(own.chapters[1].pages[0].questions[0], { id: 'q3', kind: 'shortanswer', points: 4, page: 'p3', attempts: 1, students: 1, correctFirstTry: 1, eventuallyCorrect: 1, medianAttempts: 1 });
  t.same(own.unlisted.map((q: { id: string }) => q.id), ['elsewhere']);
});

t.test('a short answer\'s summary lists the most common latest answers, counted trimmed and case-folded, with whether they are correct', async (t) => {
  const app = await build(t);
  const { ines, ada, bob, cleo, dave, dan } = await seeded(app);
  const short = (h: Record<string, string>, answer: string, correct?: boolean) => post(app, h, 'q3', { kind: 'shortanswer', answer, page: 'p3', ...(correct === undefined ? {} : { correct }) });
  await short(ada.headers, 'Because it halts', true);
  await short(bob.headers, '  because   it HALTS\n', true);
  await short(cleo.headers, 'because it halts', true); // not her latest
  await short(cleo.headers, 'no idea', false);
  await short(dave.headers, 'No idea');
  await short(dan.headers, 'not enrolled', true);
  const res = await get(app, '/api/courses/c1/questions/q3/summary', ines.headers);
  t.equal(res.statusCode, 200);
  t.match(res.json(), { kind: 'shortanswer', students: 4, attempts: 5, correctFirstTry: 3, eventuallyCorrect: 3, distribution: null, distinctAnswers: 2 });
  t.same(res.json().commonAnswers, [
    { answer: 'Because it halts', count: 2, correct: true },
    { answer: 'No idea', count: 2, correct: false }, // a tie: the first spelling in code-point order
  ]);

  const blanks = (await get(app, '/api/courses/c1/questions/q2/summary', ines.headers)).json();
  t.same(blanks.commonAnswers, [{ answer: 'x', count: 1, correct: true }, { answer: 'z', count: 1, correct: false }]);
  t.equal(blanks.distinctAnswers, 2);
});

t.test('a choice question\'s summary marks the correct choices the attempts tell, and nothing when no latest answer is marked correct', async (t) => {
  const app = await build(t);
  const { ines } = await seeded(app);
  const q1 = (await get(app, '/api/courses/c1/questions/q1/summary', ines.headers)).json();
  t.same(q1.distribution, [{ choice: 'b', count: 3, correct: true }, { choice: 'a', count: 1, correct: false }]);
  t.equal(q1.commonAnswers, null);
  t.equal(q1.distinctAnswers, null);
  const poll = (await get(app, '/api/courses/c1/questions/extra/summary', ines.headers)).json();
  t.same(poll.distribution, [{ choice: 'yes', count: 1 }]);
});

t.test('the questions report reads each student\'s attempts by index, from the course\'s enrolments', { skip: testDialect !== 'sqlite' && 'SQLite query plans' }, async (t) => {
  const app = await build(t);
  const values = { course: 'c1', book: 'book', since: 0, until: 1, question: 'q1', questions: '["q1","q2"]', listed: '["q1","q2"]' };
  for (const [name, query] of Object.entries(courseQuestionStatements('sqlite'))) {
    const plan = (await app.db.all<{ detail: string }>(sql`EXPLAIN QUERY PLAN ${query}`, values)).map((p) => p.detail);
    t.notOk(plan.some((d) => /^SCAN (a|e|answers|enrolments)\b/.test(d) || /_book_time_idx/.test(d)), `${name}:\n${plan.join('\n')}`);
    t.ok(plan.some((d) => d.startsWith('SEARCH e USING COVERING INDEX sqlite_autoindex_enrolments_1 (course_id=?')), `${name}: by the course's enrolments`);
    t.ok(plan.some((d) => d.startsWith('SEARCH a USING INDEX answers_attempt_idx (user_id=? AND book_id=?')), `${name}: each student's attempts by index`);
  }
});

t.test('a chapter\'s questions report reads each enrolled student\'s attempts at its questions by index on PostgreSQL, never the book\'s by time', { skip: testDialect !== 'postgres' && 'PostgreSQL query plans' }, async (t) => {
  const app = await build(t);
  const values = { course: 'c1', book: 'book', since: 0, until: 1, questions: ['q1', 'q2'] };
  const query = courseQuestionStatements('postgres')['questions: stats, a chapter']!;
  const plan = (await app.db.all<{ 'QUERY PLAN': string }>(sql`EXPLAIN ${query}`, values)).map((r) => r['QUERY PLAN']).join('\n');
  t.match(plan, /Nested Loop[\s\S]*Index (Only )?Scan using answers_attempt_idx on answers a .*\n\s+Index Cond: \(\(user_id = e\.user_id\) AND \(book_id = /, plan);
  t.notMatch(plan, /answers_book_time_idx|Seq Scan on answers/, plan);
});
