import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { importToc } from '../db/books.js';
import { createAnonymousUser, deleteUser, mergeUsers } from '../db/users.js';
import { saveAnswer, saveEvents, saveProgram, setPageComplete, setPosition } from '../db/work.js';
import { build } from './helper.js';
import { courseOf, enrolled, staffOf, twoChapterToc } from './staff.js';

/**
 * GET /api/courses/:course/grid, the dashboard's grid by chapter, and the grid rows it reads (grid_summaries): each
 * student's grades kept by every write that changes them, equal to a recomputation from the raw rows after each.
 */

const T = Date.parse('2026-09-01T08:00:00.000Z');

const toc = twoChapterToc;

async function setUp(t: Parameters<typeof build>[0]) {
  const app = await build(t);
  await importToc(app.db, 'book', toc);
  await app.books.refresh();
  await courseOf(app, 'c1', 'book');
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1', { name: 'Ada L.' });
  const cleo = await enrolled(app, 'cleo', 'c1');
  return { app, ines, ada, cleo };
}

const owner = (userId: string) => ({ userId, bookId: 'book' });

async function grid(app: FastifyInstance, headers: Record<string, string>, query = '') {
  const res = await app.inject({ method: 'GET', url: `/api/courses/c1/grid${query}`, headers });
  if (res.statusCode !== 200) throw new Error(`grid: ${res.statusCode} ${res.body}`);
  return res.json() as { columns: string[]; chapters: { id: string; title: string }[]; chapter: string | null; students: { user: { username: string }; cells: number[][]; totals: Record<string, number>; lastActivity: string | null; unlisted?: unknown }[] };
}

/** The grid rows of the course's book: [user id, generation, generation built, has its cells and pages]. */
const rows = async (app: FastifyInstance) =>
  (await app.db.all<{ user_id: string; gen: number; built_gen: number; chapters: string | null; grades: string | null }>(sql`SELECT user_id, gen, built_gen, chapters, grades FROM grid_summaries WHERE book_id = 'book' ORDER BY user_id`)).map((r) => [
    r.user_id,
    Number(r.gen),
    Number(r.built_gen),
    r.chapters !== null && r.grades !== null,
  ]);

/** The grid as the rows give it equals the grid recomputed from the raw rows (no grid row), chapters and every chapter's pages. */
async function expectExact(t: Parameters<typeof build>[0], app: FastifyInstance, headers: Record<string, string>, what: string) {
  const queries = ['', '?chapter=ch1', '?chapter=ch2'];
  const kept = [];
  for (const q of queries) kept.push(await grid(app, headers, q));
  for (const [id, gen, built] of await rows(app)) t.equal(built, gen, `${what}: ${id}'s row is built at its generation after a read`);
  await app.db.run(sql`DELETE FROM grid_summaries`);
  const recomputed = [];
  for (const q of queries) recomputed.push(await grid(app, headers, q));
  t.same(kept, recomputed, `${what}: the grid from the rows equals the grid from the raw rows`);
}

t.test('the grid by chapter: points, pages completed and pages with work a chapter, totals as the progress report, ?chapter= a cell a page', async (t) => {
  const { app, ines, ada } = await setUp(t);
  await saveAnswer(app.db, owner(ada.id), 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'p1' }, undefined, T);
  await saveAnswer(app.db, owner(ada.id), 'q2', { kind: 'fitb', answer: ['x'], correct: false, score: 0.5, page: 'p1' }, undefined, T + 1);
  await saveAnswer(app.db, owner(ada.id), 'q3', { kind: 'shortanswer', answer: 'because', page: 'p3' }, undefined, T + 2);
  await setPageComplete(app.db, owner(ada.id), 'p2', true, T + 3);
  await setPageComplete(app.db, owner(ada.id), 'extra', true, T + 4);

  const body = await grid(app, ines.headers);
  t.same(body.columns, ['ch1', 'ch2']);
  t.same(body.chapters, [{ id: 'ch1', title: 'One' }, { id: 'ch2', title: 'Two' }], "the chapters' titles, for the columns' labels");
  t.equal(body.chapter, null);
  const of = (b: typeof body, username: string) => b.students.find((s) => s.user.username === username)!;
  const [a, c] = [of(body, 'ada'), of(body, 'cleo')];
  t.same(a!.cells, [[4.5, 1, 2], [0, 0, 1]], 'ch1: 2 + 1.5 + p2 completed, 1 page completed, 2 with work; ch2: q3 ungraded');
  t.same(a!.totals, { pagesCompleted: 2, pages: 4, attempted: 3, correct: 1, questions: 3, earned: 5.5, possible: 11 });
  t.same(a!.unlisted, [{ page: 'extra', completed: true }]);
  t.equal(a!.lastActivity, new Date(T + 4).toISOString());
  t.same(c!.cells, [[0, 0, 0], [0, 0, 0]]);
  t.equal(c!.lastActivity, null);
  t.notOk('unlisted' in c!);

  const progress = (await app.inject({ method: 'GET', url: '/api/courses/c1/progress', headers: ines.headers })).json();
  t.same(body.students.map((s) => [s.totals, s.lastActivity]), progress.students.map((s: { totals: unknown; lastActivity: unknown }) => [s.totals, s.lastActivity]), 'the progress report\'s totals');

  const ch1 = await grid(app, ines.headers, '?chapter=ch1');
  t.same(ch1.columns, ['p1', 'p2']);
  t.same(ch1.chapters, body.chapters);
  t.same(of(ch1, 'ada').cells, [[3.5, 0, 1], [1, 1, 1]]);
  const unknown = await app.inject({ method: 'GET', url: '/api/courses/c1/grid?chapter=nope', headers: ines.headers });
  t.equal(unknown.statusCode, 404);
  t.same(unknown.json(), { statusCode: 404, error: 'unknown_chapter', message: 'the table of contents of book "book" has no chapter "nope" (its chapters are in the reply without chapter=)' });
});

t.test('a read stores each student\'s grid row, the next reads it, and a grading write makes it stale', async (t) => {
  const { app, ines, ada, cleo } = await setUp(t);
  await saveAnswer(app.db, owner(ada.id), 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'p1' }, undefined, T);
  t.same(await rows(app), [[ada.id, 1, -1, false]].sort(), 'the answer made ada\'s row, not built');
  await grid(app, ines.headers);
  t.same(await rows(app), [[ada.id, 1, 1, true], [cleo.id, 0, 0, true]].sort((x, y) => String(x[0]).localeCompare(String(y[0]))), 'both built by the read');

  // The reply comes from the row: a row changed behind Folio's back shows.
  await app.db.run(sql`UPDATE grid_summaries SET chapters = ${JSON.stringify({ cells: [0, 0, 0, 4, 0, 1], totals: [0, 1, 0, 4], unlisted: [] })} WHERE user_id = ${ada.id}`);
  t.same((await grid(app, ines.headers)).students.find((s) => s.user.username === 'ada')!.cells, [[0, 0, 0], [4, 0, 1]]);
  await app.db.run(sql`UPDATE grid_summaries SET grades = ${JSON.stringify({ pages: [[2, 4, 0, 1, 0]], unlisted: [] })} WHERE user_id = ${ada.id}`);
  t.same((await grid(app, ines.headers, '?chapter=ch2')).students.find((s) => s.user.username === 'ada')!.cells, [[4, 0, 1]], 'and a chapter\'s pages from its pages');

  await saveAnswer(app.db, owner(ada.id), 'q1', { kind: 'mchoice', answer: ['b'], correct: false, page: 'p1' }, undefined, T + 1);
  t.same((await rows(app)).find((r) => r[0] === ada.id), [ada.id, 2, 1, true], 'the answer bumped the generation');
  t.same((await grid(app, ines.headers)).students.find((s) => s.user.username === 'ada')!.cells, [[0, 0, 1], [0, 0, 0]], 'recomputed: q1 now wrong');
});

t.test('the grid rows equal a recomputation after every write: answers, completions, positions, programs, events, merges, deletion, a new table of contents', async (t) => {
  const { app, ines, ada, cleo } = await setUp(t);
  await expectExact(t, app, ines.headers, 'no work');
  await saveAnswer(app.db, owner(ada.id), 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'p1' }, undefined, T);
  await saveAnswer(app.db, owner(cleo.id), 'q3', { kind: 'shortanswer', answer: 'x', score: 0.25, page: 'p3' }, undefined, T + 5);
  await expectExact(t, app, ines.headers, 'answers');
  await saveAnswer(app.db, owner(ada.id), 'q1', { kind: 'mchoice', answer: ['b'], correct: false, page: 'p1' }, undefined, T + 10);
  await saveAnswer(app.db, owner(ada.id), 'uq', { kind: 'mchoice', answer: ['b'], correct: true, page: 'side' }, undefined, T + 11);
  await expectExact(t, app, ines.headers, 'a new attempt, an unlisted question');
  await setPageComplete(app.db, owner(ada.id), 'p2', true, T + 20);
  await expectExact(t, app, ines.headers, 'a completion');
  await setPageComplete(app.db, owner(ada.id), 'p2', false);
  await expectExact(t, app, ines.headers, 'a completion taken back (the newest time goes back)');
  await setPosition(app.db, owner(ada.id), 'p3', 10, T + 30);
  await expectExact(t, app, ines.headers, 'a position');
  await setPosition(app.db, owner(ada.id), 'p1', 0, T + 12);
  await expectExact(t, app, ines.headers, 'a position older than the last one');
  await saveProgram(app.db, owner(cleo.id), 'ac1', { code: 'x', page: 'p1' }, undefined, T + 40);
  await expectExact(t, app, ines.headers, 'a program');
  await saveEvents(app.db, owner(cleo.id), [{ type: 'view', page: 'p1' }], undefined, T + 50);
  await expectExact(t, app, ines.headers, 'events');

  // An anonymous student's work moves to ada when they log in (login, register, hand-off and OIDC all merge so).
  const anon = await createAnonymousUser(app.db);
  await saveAnswer(app.db, owner(anon.id), 'q2', { kind: 'fitb', answer: ['y'], correct: true, page: 'p1' }, undefined, T + 60);
  await setPageComplete(app.db, owner(anon.id), 'p3', true, T + 61);
  await mergeUsers(app.db, anon.id, ada.id);
  t.same(await app.db.all(sql`SELECT user_id FROM grid_summaries WHERE user_id = ${anon.id}`), [], 'no row of the merged user is left');
  await expectExact(t, app, ines.headers, 'a merge');
  const ada2 = (await grid(app, ines.headers)).students.find((s) => s.user.username === 'ada')!;
  t.same(ada2.cells, [[3, 0, 1], [0, 1, 1]], 'the moved answer (q2: 3 points) and completion (p3, graded by its question) count');

  await importToc(app.db, 'book', { chapters: [{ id: 'ch1', title: 'One', pages: [{ id: 'p1', title: 'Page 1', questions: [{ id: 'q1', kind: 'mchoice', points: 5 }], activities: [] }] }] });
  await app.books.refresh();
  const regraded = await grid(app, ines.headers);
  t.same(regraded.columns, ['ch1']);
  t.same(regraded.students.find((s) => s.user.username === 'ada')!.cells, [[0, 0, 1]], 'graded against the new table of contents');
  await app.db.run(sql`DELETE FROM grid_summaries`);
  t.same(await grid(app, ines.headers), regraded, 'a new table of contents: equal to the recomputation');

  await deleteUser(app.db, cleo.id);
  t.same(await app.db.all(sql`SELECT user_id FROM grid_summaries WHERE user_id = ${cleo.id}`), [], 'a deleted account\'s rows go with it');
  t.same((await grid(app, ines.headers)).students.map((s) => s.user.username), ['ada']);
});

t.test('a course with dates grades the raw rows within them and stores no grid row', async (t) => {
  const app = await build(t);
  await importToc(app.db, 'book', toc);
  await app.books.refresh();
  await courseOf(app, 'c1', 'book', { startsAt: T, endsAt: T + 100 });
  const ines = await staffOf(app, 'ines', 'c1', 'instructor');
  const ada = await enrolled(app, 'ada', 'c1');
  await saveAnswer(app.db, owner(ada.id), 'q1', { kind: 'mchoice', answer: ['a'], correct: true, page: 'p1' }, undefined, T + 10);
  await saveAnswer(app.db, owner(ada.id), 'q1', { kind: 'mchoice', answer: ['b'], correct: false, page: 'p1' }, undefined, T + 200);
  const body = await grid(app, ines.headers);
  t.same(body.students[0]!.cells, [[2, 0, 1], [0, 0, 0]], 'the attempt within the dates');
  t.equal(body.students[0]!.lastActivity, new Date(T + 10).toISOString());
  t.same(await rows(app), [[ada.id, 2, -1, false]], 'nothing stored');
});
