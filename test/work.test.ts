import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { answerKinds } from '../schemas/work.js';
import { bookOrigin, build, cookieOf, fromBook, register, testDialect } from './helper.js';
import { sql } from 'drizzle-orm';

/** A registered student's request headers. */
async function student(app: FastifyInstance, username = 'ada') {
  const { cookie } = await register(app, username);
  return { ...fromBook, cookie };
}

const count = async (app: FastifyInstance, table: string) => ((await app.db.get(sql`SELECT count(*) AS n FROM ${sql.raw(table)}`)) as { n: number }).n;

t.test('every save of a program is a new version; GET returns the latest', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (const [i, code] of ['print(1)', 'print(2)', 'print(3)'].entries()) {
    const res = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code, language: 'python', page: 'ch1/intro' } });
    t.equal(res.statusCode, 200);
    t.same(Object.keys(res.json()), ['version', 'savedAt']);
    t.equal(res.json().version, i + 1);
    t.ok(Math.abs(Date.parse(res.json().savedAt) - Date.now()) < 5000);
  }
  const latest = await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1', headers });
  t.equal(latest.statusCode, 200);
  t.match(latest.json(), { activity: 'ac1', version: 3, code: 'print(3)', language: 'python', page: 'ch1/intro' });
  t.same((await app.db.all(sql`SELECT version, code FROM programs ORDER BY version`)), [
    { version: 1, code: 'print(1)' },
    { version: 2, code: 'print(2)' },
    { version: 3, code: 'print(3)' },
  ]);
});

t.test('a program never saved is a 404 naming the activity', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'GET', url: '/api/books/book/programs/nothing', headers: await student(app) });
  t.equal(res.statusCode, 404);
  t.same(res.json(), { statusCode: 404, error: 'no_program', message: 'nothing saved for activity "nothing" yet' });
});

t.test('history is newest first and paginates with a cursor', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (let i = 1; i <= 5; i++) await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: `v${i}` } });
  const first = (await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1/history?limit=2', headers })).json();
  t.same(first.versions.map((v: { code: string }) => v.code), ['v5', 'v4']);
  t.equal(first.next, 4);
  const second = (await app.inject({ method: 'GET', url: `/api/books/book/programs/ac1/history?limit=2&before=${first.next}`, headers })).json();
  t.same(second.versions.map((v: { code: string }) => v.code), ['v3', 'v2']);
  const third = (await app.inject({ method: 'GET', url: `/api/books/book/programs/ac1/history?limit=2&before=${second.next}`, headers })).json();
  t.same(third.versions.map((v: { code: string }) => v.code), ['v1']);
  t.equal(third.next, null);
  const bad = await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1/history?limit=500', headers });
  t.equal(bad.statusCode, 400);
  t.match(bad.json().message, 'querystring/limit must be <= 100');
});

const validAnswers: Record<keyof typeof answerKinds, unknown> = {
  mchoice: ['a', 'c'],
  fitb: ['42', 'forty-two'],
  parsons: [
    { block: 'b1', indent: 0 },
    { block: 'b3', indent: 1 },
  ],
  dragndrop: [{ source: 'x', target: 'y' }],
  clickablearea: [0, 3],
  shortanswer: 'Because the loop never ends.',
  unittest: { passed: 3, failed: 1, output: 'FAIL test_x' },
  poll: 'option-2',
  codelens: { answer: '7', step: 12 },
};

const wrongAnswers: Record<keyof typeof answerKinds, [unknown, string]> = {
  mchoice: ['a', 'body/answer must be array'],
  fitb: [[1], 'body/answer/0 must be string'],
  parsons: [[{ block: 'b1', indent: 'x' }], 'body/answer/0/indent must be integer'],
  dragndrop: [[{ source: 'x' }], "body/answer/0 must have required property 'target'"],
  clickablearea: [[-1], 'body/answer/0 must be >= 0'],
  shortanswer: ['x'.repeat(65537), 'body/answer must NOT have more than 65536 characters'],
  unittest: [{ passed: 1 }, "body/answer must have required property 'failed'"],
  poll: [3, 'body/answer must be string'],
  codelens: [{ answer: '7' }, "body/answer must have required property 'step'"],
};

t.test('each kind of answer is accepted and stored as given', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (const [kind, answer] of Object.entries(validAnswers)) {
    const res = await app.inject({ method: 'POST', url: `/api/books/book/answers/q-${kind}`, headers, payload: { kind, answer, correct: true, score: 1, page: 'p1' } });
    t.equal(res.statusCode, 201, kind);
    t.equal(res.json().attempt, 1);
    const got = await app.inject({ method: 'GET', url: `/api/books/book/answers/q-${kind}`, headers });
    t.same(got.json(), { latest: { question: `q-${kind}`, attempt: 1, kind, answer, correct: true, score: 1, page: 'p1', savedAt: got.json().latest.savedAt }, attempts: 1 }, kind);
  }
});

t.test('a wrong shape for its kind is a 400 naming the field, and nothing is stored', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (const [kind, [answer, message]] of Object.entries(wrongAnswers)) {
    const res = await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload: { kind, answer } });
    t.equal(res.statusCode, 400, kind);
    t.same(res.json(), { statusCode: 400, error: 'invalid_request', message }, kind);
  }
  const unknownKind = await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload: { kind: 'essay', answer: 'x' } });
  t.same(unknownKind.json(), { statusCode: 400, error: 'invalid_request', message: 'body/kind "essay" is not one of the known values' });
  const extra = await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload: { kind: 'poll', answer: 'a', grade: 'A' } });
  t.equal(extra.statusCode, 400);
  t.match(extra.json().message, 'must NOT have additional properties');
  t.equal(await count(app, 'answers'), 0);
});

t.test('attempts count up, and GET answers returns the latest with the count', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (const choice of ['a', 'b', 'c']) {
    await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload: { kind: 'mchoice', answer: [choice], correct: choice === 'c' } });
  }
  const res = await app.inject({ method: 'GET', url: '/api/books/book/answers/q1', headers });
  t.equal(res.json().attempts, 3);
  t.match(res.json().latest, { attempt: 3, answer: ['c'], correct: true });
  const none = await app.inject({ method: 'GET', url: '/api/books/book/answers/q2', headers });
  t.equal(none.statusCode, 404);
  t.equal(none.json().error, 'no_answer');
});

t.test('page state returns the latest program per activity and answer per question on that page only', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  const put = (activity: string, code: string, page: string) => app.inject({ method: 'PUT', url: `/api/books/book/programs/${activity}`, headers, payload: { code, page } });
  const post = (question: string, answer: string, page: string) =>
    app.inject({ method: 'POST', url: `/api/books/book/answers/${question}`, headers, payload: { kind: 'mchoice', answer: [answer], page } });
  await put('ac1', 'one', 'ch1');
  await put('ac1', 'two', 'ch1');
  await put('ac2', 'other', 'ch1');
  await put('ac3', 'elsewhere', 'ch2');
  await post('q1', 'a', 'ch1');
  await post('q1', 'b', 'ch1');
  await post('q2', 'z', 'ch2');
  const res = await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch1', headers });
  t.equal(res.statusCode, 200);
  const state = res.json();
  t.same(Object.keys(state.programs).sort(), ['ac1', 'ac2']);
  t.match(state.programs.ac1, { version: 2, code: 'two' });
  t.same(Object.keys(state.answers), ['q1']);
  t.equal(state.answers.q1.attempts, 2);
  t.same(state.answers.q1.latest.answer, ['b']);
  const ch2 = (await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch2', headers })).json();
  t.same(Object.keys(ch2.programs), ['ac3']);
  t.same(Object.keys(ch2.answers), ['q2']);
  const empty = (await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch9', headers })).json();
  t.same(empty, { programs: {}, answers: {}, completedAt: null });
  const noPage = await app.inject({ method: 'GET', url: '/api/books/book/state', headers });
  t.equal(noPage.statusCode, 400);
});

t.test('page state gives saving times as ISO strings to the millisecond, as the write replies do, also when it builds them from the rows', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  const put = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 'x', page: 'ch1' } });
  const post = await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload: { kind: 'mchoice', answer: ['a'], page: 'ch1' } });
  const state = (await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch1', headers })).json();
  t.equal(state.programs.ac1.savedAt, put.json().savedAt);
  t.equal(state.answers.q1.latest.savedAt, post.json().savedAt);
  for (const ms of [Date.UTC(2026, 0, 2, 3, 4, 5, 0), Date.UTC(2026, 8, 9, 23, 59, 59, 5), Date.UTC(2031, 11, 31, 0, 0, 0, 999), Date.UTC(2027, 1, 28, 12, 30, 7, 40)]) {
    // The answers' entries written with them cleared: the database builds them from the changed times.
    await app.db.run(sql`UPDATE programs SET saved_at = ${ms}`);
    await app.db.run(sql`UPDATE answers SET saved_at = ${ms}, page_entry = NULL`);
    const at = (await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch1', headers })).json();
    t.same([at.programs.ac1.savedAt, at.answers.q1.latest.savedAt], [new Date(ms).toISOString(), new Date(ms).toISOString()]);
  }
});

t.test('page state reads only the latest rows, through the partial page indexes', { skip: testDialect !== 'sqlite' && 'SQLite query plans' }, async (t) => {
  const app = await build(t);
  for (const [table, index] of [
    ['programs', 'programs_latest_page_idx'],
    ['answers', 'answers_latest_page_idx'],
  ] as const) {
    const plan = (await app.db.all(sql`EXPLAIN QUERY PLAN SELECT * FROM ${sql.raw(table)} WHERE user_id = ${'u'} AND book_id = ${'b'} AND page = ${'p'} AND latest = 1`)) as { detail: string }[];
    t.match(plan.map((p) => p.detail).join('\n'), new RegExp(`SEARCH ${table} USING INDEX ${index} \\(user_id=\\? AND book_id=\\? AND page=\\?\\)`), table);
  }
});

t.test('exactly one row per activity and per question is marked latest: the newest', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (let i = 1; i <= 4; i++) {
    await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: `v${i}`, page: i < 4 ? 'p1' : 'p2' } });
    await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload: { kind: 'poll', answer: `a${i}`, page: 'p1' } });
  }
  t.same((await app.db.all(sql`SELECT version FROM programs WHERE latest = 1`)), [{ version: 4 }]);
  t.same((await app.db.all(sql`SELECT attempt FROM answers WHERE latest = 1`)), [{ attempt: 4 }]);
  const p1 = (await app.inject({ method: 'GET', url: '/api/books/book/state?page=p1', headers })).json();
  t.same(Object.keys(p1.programs), [], 'the activity\'s newest version moved to p2');
  t.equal(p1.answers.q1.attempts, 4);
  t.same(p1.answers.q1.latest.answer, 'a4');
  const p2 = (await app.inject({ method: 'GET', url: '/api/books/book/state?page=p2', headers })).json();
  t.equal(p2.programs.ac1.code, 'v4');
});

t.test('position is saved and read back; no position yet is a 404', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  t.equal((await app.inject({ method: 'GET', url: '/api/books/book/position', headers })).statusCode, 404);
  const put = await app.inject({ method: 'PUT', url: '/api/books/book/position', headers, payload: { page: 'ch2/loops', scroll: 0.5 } });
  t.equal(put.statusCode, 200);
  t.match(put.json(), { page: 'ch2/loops', scroll: 0.5 });
  await app.inject({ method: 'PUT', url: '/api/books/book/position', headers, payload: { page: 'ch3' } });
  const got = await app.inject({ method: 'GET', url: '/api/books/book/position', headers });
  t.match(got.json(), { page: 'ch3', scroll: null });
  t.equal(await count(app, 'positions'), 1);
});

t.test('pages are marked complete and not complete; progress lists the completed ones', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (const [page, complete] of [
    ['ch1', true],
    ['ch2', true],
    ['ch1', true],
    ['ch3', true],
    ['ch2', false],
  ] as const) {
    const res = await app.inject({ method: 'PUT', url: '/api/books/book/pages/complete', headers, payload: { page, complete } });
    t.equal(res.statusCode, 200);
    t.same(res.json(), { page, complete });
  }
  const progress = await app.inject({ method: 'GET', url: '/api/books/book/progress/me', headers });
  t.same(progress.json().completed.map((c: { page: string }) => c.page), ['ch1', 'ch3']);
});

t.test("a page's state carries when it was marked complete (the stored time, to the millisecond), null before and after unmarking", async (t) => {
  const app = await build(t);
  const headers = await student(app);
  const state = async (page: string) => (await app.inject({ method: 'GET', url: `/api/books/book/state?page=${page}`, headers })).json();
  t.equal((await state('ch1')).completedAt, null);
  await app.inject({ method: 'PUT', url: '/api/books/book/pages/complete', headers, payload: { page: 'ch1', complete: true } });
  const stored = (await app.db.get<{ completed_at: number }>(sql`SELECT completed_at FROM page_completions WHERE page = 'ch1'`))!.completed_at;
  t.equal((await state('ch1')).completedAt, new Date(Number(stored)).toISOString());
  t.equal((await state('ch2')).completedAt, null, 'another page of the book is not complete');
  await app.inject({ method: 'PUT', url: '/api/books/book/pages/complete', headers, payload: { page: 'ch1', complete: false } });
  t.equal((await state('ch1')).completedAt, null);
});

t.test('events are stored with the server time, 202 with the count', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  const before = Date.now();
  const res = await app.inject({
    method: 'POST',
    url: '/api/books/book/events',
    headers,
    payload: { events: [{ type: 'run', target: 'ac1', page: 'ch1', data: { ms: 12 }, clientTime: '2026-01-02T03:04:05.000Z' }, { type: 'video:play' }] },
  });
  t.equal(res.statusCode, 202);
  t.same(res.json(), { accepted: 2 });
  const rows = (await app.db.all(sql`SELECT type, target, page, data, client_time, server_time FROM events ORDER BY id`)) as Record<string, unknown>[];
  t.same(rows.map((r) => ({ ...r, server_time: undefined })), [
    { type: 'run', target: 'ac1', page: 'ch1', data: '{"ms":12}', client_time: Date.parse('2026-01-02T03:04:05.000Z'), server_time: undefined },
    { type: 'video:play', target: null, page: null, data: null, client_time: null, server_time: undefined },
  ]);
  t.ok((rows[0]!.server_time as number) >= before);
});

t.test('a batch of events is stored in its order with every value exact (quotes, Unicode, JSON-looking data, numbers)', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  const events = [
    { type: 'video:play', target: 'ac1', page: 'ch1', data: 'null', clientTime: 1_700_000_000_123 },
    { type: 'say', data: { text: 'say "hi" 日本語 🎉 \\ [1,2]', nested: ['a', { b: null }], n: 1.5 } },
    { type: 'nulls', data: null },
    ...Array.from({ length: 47 }, (_, i) => ({ type: `t${i}`, clientTime: 1_800_000_000_000 + i })),
  ];
  const res = await app.inject({ method: 'POST', url: '/api/books/book/events', headers, payload: { events } });
  t.equal(res.statusCode, 202);
  const rows = (await app.db.all(sql`SELECT type, target, page, data, client_time FROM events ORDER BY id`)) as Record<string, unknown>[];
  t.strictSame(rows.slice(0, 4), [
    { type: 'video:play', target: 'ac1', page: 'ch1', data: '"null"', client_time: 1_700_000_000_123 },
    { type: 'say', target: null, page: null, data: '{"text":"say \\"hi\\" 日本語 🎉 \\\\ [1,2]","nested":["a",{"b":null}],"n":1.5}', client_time: null },
    { type: 'nulls', target: null, page: null, data: 'null', client_time: null },
    { type: 't0', target: null, page: null, data: null, client_time: 1_800_000_000_000 },
  ]);
  t.strictSame(rows.map((r) => r.type), events.map((e) => e.type));
});

t.test('events: 1 to 500 a request, data at most 16 KiB, all or nothing', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  const post = (events: unknown[]) => app.inject({ method: 'POST', url: '/api/books/book/events', headers, payload: { events } });
  t.equal((await post([])).statusCode, 400);
  t.equal((await post(Array.from({ length: 501 }, () => ({ type: 'x' })))).statusCode, 400);
  t.equal((await post(Array.from({ length: 500 }, () => ({ type: 'x' })))).statusCode, 202);
  const big = await post([{ type: 'ok' }, { type: 'big', data: 'x'.repeat(17 * 1024) }]);
  t.equal(big.statusCode, 413);
  t.same(big.json(), { statusCode: 413, error: 'too_large', message: 'body/events/1/data is over 16 KiB' });
  t.equal(await count(app, 'events'), 500, 'nothing of the refused batch was stored');
});

t.test('events are accepted from a keepalive fetch sent without a session', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'POST', url: '/api/books/book/events', headers: { ...fromBook, 'sec-fetch-mode': 'cors' }, payload: { events: [{ type: 'pagehide' }] } });
  t.equal(res.statusCode, 202);
  t.equal(await count(app, 'events'), 1);
});

t.test('a student sees only their own work', async (t) => {
  const app = await build(t);
  const ada = await student(app, 'ada');
  const bob = await student(app, 'bob');
  await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: ada, payload: { code: 'ada code', page: 'p' } });
  await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: ada, payload: { kind: 'poll', answer: 'a', page: 'p' } });
  await app.inject({ method: 'PUT', url: '/api/books/book/position', headers: ada, payload: { page: 'p' } });
  await app.inject({ method: 'PUT', url: '/api/books/book/pages/complete', headers: ada, payload: { page: 'p', complete: true } });
  t.equal((await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1', headers: bob })).statusCode, 404);
  t.equal((await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1/history', headers: bob })).json().versions.length, 0);
  t.equal((await app.inject({ method: 'GET', url: '/api/books/book/answers/q1', headers: bob })).statusCode, 404);
  t.same((await app.inject({ method: 'GET', url: '/api/books/book/state?page=p', headers: bob })).json(), { programs: {}, answers: {}, completedAt: null });
  t.equal((await app.inject({ method: 'GET', url: '/api/books/book/position', headers: bob })).statusCode, 404);
  t.same((await app.inject({ method: 'GET', url: '/api/books/book/progress/me', headers: bob })).json(), { completed: [] });
  const bobSave = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: bob, payload: { code: 'bob code' } });
  t.equal(bobSave.json().version, 1, 'versions are per student');
  t.equal((await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1', headers: ada })).json().code, 'ada code');
});

t.test('work is per book', async (t) => {
  const app = await build(t);
  const { cookie } = await register(app);
  await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { ...fromBook, cookie }, payload: { code: 'in book' } });
  const other = await app.inject({ method: 'GET', url: '/api/books/other/programs/ac1', headers: { origin: 'https://other.example', cookie } });
  t.equal(other.statusCode, 404);
});

t.test('reads without a session are 401; an unknown book is 404', async (t) => {
  const app = await build(t);
  for (const url of ['/api/books/book/programs/ac1', '/api/books/book/programs/ac1/history', '/api/books/book/answers/q1', '/api/books/book/state?page=p', '/api/books/book/position', '/api/books/book/progress/me']) {
    const res = await app.inject({ method: 'GET', url, headers: fromBook });
    t.equal(res.statusCode, 401, url);
    t.equal(res.json().error, 'unauthenticated');
  }
  const headers = await student(app);
  for (const [method, url, payload] of [
    ['GET', '/api/books/nope/state?page=p', undefined],
    ['PUT', '/api/books/nope/programs/ac1', { code: 'x' }],
    ['POST', '/api/books/nope/events', { events: [{ type: 'x' }] }],
  ] as const) {
    const res = await app.inject({ method, url, headers: { ...headers, origin: bookOrigin }, payload });
    // The origin of `book` is not allowed to write to another book with a cookie: 403 before 404.
    t.equal(res.statusCode, method === 'GET' ? 404 : 403, url);
  }
  const bearer = (await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password: 'correct horse battery', mode: 'token' } })).json().token;
  const unknown = await app.inject({ method: 'PUT', url: '/api/books/nope/programs/ac1', headers: { authorization: `Bearer ${bearer}` }, payload: { code: 'x' } });
  t.equal(unknown.statusCode, 404);
  t.same(unknown.json(), { statusCode: 404, error: 'unknown_book', message: 'there is no book "nope"' });
});

t.test('ids are 1-128 characters of [A-Za-z0-9._:/-]', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  const ok = await app.inject({ method: 'PUT', url: `/api/books/book/programs/${encodeURIComponent('ch1/ex-2.a:b_c')}`, headers, payload: { code: 'x' } });
  t.equal(ok.statusCode, 200);
  for (const id of ['a'.repeat(129), 'a b', 'ä', '<script>']) {
    const res = await app.inject({ method: 'PUT', url: `/api/books/book/programs/${encodeURIComponent(id)}`, headers, payload: { code: 'x' } });
    t.equal(res.statusCode, 400, id);
    t.match(res.json().message, /^params\/activity must/);
  }
  const page = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 'x', page: 'bad page' } });
  t.equal(page.statusCode, 400);
  t.match(page.json().message, /^body\/page must match pattern/);
});

t.test('code over 512 KiB is a 413; a body over 1 MiB is a 413; stored work is untouched', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 'keep me' } });
  const code = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 'é'.repeat(300 * 1024) } });
  t.equal(code.statusCode, 413);
  t.same(code.json(), { statusCode: 413, error: 'too_large', message: 'body/code is over 512 KiB' });
  const body = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 'x'.repeat(1024 * 1024) } });
  t.equal(body.statusCode, 413);
  t.equal(body.json().error, 'body_too_large');
  const wrongType = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 12 } });
  t.equal(wrongType.statusCode, 400);
  t.same(wrongType.json(), { statusCode: 400, error: 'invalid_request', message: 'body/code must be string' });
  t.same((await app.db.all(sql`SELECT version, code FROM programs`)), [{ version: 1, code: 'keep me' }]);
});

t.test('a first write without a session creates an anonymous user and a cookie session', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: fromBook, payload: { code: 'before login' } });
  t.equal(res.statusCode, 200);
  const cookie = cookieOf(res);
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.match(me.json().user, { anonymous: true, username: null, role: 'student' });
  t.same((await app.db.all(sql`SELECT anonymous FROM users`)), [{ anonymous: 1 }]);
  const again = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { ...fromBook, cookie }, payload: { code: 'still anonymous' } });
  t.equal(again.json().version, 2);
  t.equal(await count(app, 'users'), 1, 'the same anonymous user');
});

t.test('with X-Folio-Mode: token a first write returns the anonymous token in X-Folio-Token', async (t) => {
  const app = await build(t);
  const res = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { ...fromBook, 'x-folio-mode': 'token' }, payload: { code: 'x' } });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['set-cookie'], undefined);
  const token = res.headers['x-folio-token'] as string;
  t.match(token, /^[\w-]{43}$/);
  const got = await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1', headers: { authorization: `Bearer ${token}` } });
  t.equal(got.json().code, 'x');
});

t.test('a write with an expired session is refused with 401 session_expired and no new identity', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  (await app.db.run(sql`DELETE FROM sessions`));
  const res = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 'precious' } });
  t.equal(res.statusCode, 401);
  t.equal(res.json().error, 'session_expired');
  t.match(res.headers['set-cookie'], /^folio=; Max-Age=0;/, 'the dead cookie is cleared, no new one is set');
  t.equal(await count(app, 'programs'), 0);
  t.equal(await count(app, 'users'), 1);
});

/** Saves one of everything as the given headers. */
async function doEverything(app: FastifyInstance, given: Record<string, string>, label: string): Promise<string> {
  const first = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: given, payload: { code: `${label} code`, page: 'p' } });
  const headers = { ...given, cookie: given.cookie ?? cookieOf(first) };
  const results = [
    first,
    await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload: { kind: 'fitb', answer: [label], page: 'p' } }),
    await app.inject({ method: 'POST', url: '/api/books/book/events', headers, payload: { events: [{ type: `${label}-event` }] } }),
    await app.inject({ method: 'PUT', url: '/api/books/book/position', headers, payload: { page: `${label}-page` } }),
    await app.inject({ method: 'PUT', url: '/api/books/book/pages/complete', headers, payload: { page: `${label}-done`, complete: true } }),
  ];
  for (const r of results) if (r.statusCode >= 300) throw new Error(`${r.statusCode} ${r.body}`);
  return headers.cookie;
}

t.test('registering from an anonymous session keeps all its work in the new account', async (t) => {
  const app = await build(t);
  const cookie = await doEverything(app, fromBook, 'anon');
  const anonId = ((await app.db.get(sql`SELECT id FROM users`)) as { id: string }).id;
  const { res } = await register(app, 'ada', {}, { cookie });
  t.equal(res.statusCode, 201);
  const { user } = res.json();
  t.equal(user.anonymous, false);
  t.equal(await count(app, 'users'), 1);
  for (const table of ['programs', 'answers', 'events', 'positions', 'page_completions']) {
    t.same((await app.db.all(sql`SELECT DISTINCT user_id FROM ${sql.raw(table)}`)), [{ user_id: user.id }], table);
  }
  t.equal(user.id, anonId, 'the anonymous user became the account');
  const state = await app.inject({ method: 'GET', url: '/api/books/book/state?page=p', headers: { ...fromBook, cookie: cookieOf(res) } });
  t.equal(state.json().programs.ac1.code, 'anon code');
});

t.test('logging in from an anonymous session moves all its work to the account and deletes the anonymous user', async (t) => {
  const app = await build(t);
  const { res: reg, cookie: adaCookie } = await register(app, 'ada');
  const ada = reg.json().user.id as string;
  await doEverything(app, { ...fromBook, cookie: adaCookie }, 'ada');
  (await app.db.run(sql`UPDATE positions SET updated_at = updated_at - 60000`));
  const anonCookie = await doEverything(app, fromBook, 'anon');
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: { ...fromBook, cookie: anonCookie }, payload: { username: 'ada', password: 'correct horse battery' } });
  t.equal(login.statusCode, 200);
  t.same((await app.db.all(sql`SELECT id, anonymous FROM users`)), [{ id: ada, anonymous: 0 }]);
  t.same((await app.db.all(sql`SELECT version, code FROM programs WHERE user_id = ${ada} ORDER BY version`)), [
    { version: 1, code: 'ada code' },
    { version: 2, code: 'anon code' },
  ]);
  t.same((await app.db.all(sql`SELECT attempt, answer FROM answers WHERE user_id = ${ada} ORDER BY attempt`)), [
    { attempt: 1, answer: '["ada"]' },
    { attempt: 2, answer: '["anon"]' },
  ]);
  t.same((await app.db.all(sql`SELECT type FROM events WHERE user_id = ${ada} ORDER BY id`)), [{ type: 'ada-event' }, { type: 'anon-event' }]);
  t.same((await app.db.all(sql`SELECT page FROM positions WHERE user_id = ${ada}`)), [{ page: 'anon-page' }], 'the newer position wins');
  t.same((await app.db.all(sql`SELECT page FROM page_completions WHERE user_id = ${ada} ORDER BY page`)), [{ page: 'ada-done' }, { page: 'anon-done' }]);
  t.same((await app.db.all(sql`SELECT version FROM programs WHERE user_id = ${ada} AND latest = 1`)), [{ version: 2 }], 'one latest version, the moved one');
  t.same((await app.db.all(sql`SELECT attempt FROM answers WHERE user_id = ${ada} AND latest = 1`)), [{ attempt: 2 }], 'one latest attempt, the moved one');
  const state = (await app.inject({ method: 'GET', url: '/api/books/book/state?page=p', headers: { ...fromBook, cookie: cookieOf(login) } })).json();
  t.equal(state.programs.ac1.code, 'anon code');
  t.equal(state.answers.q1.attempts, 2);
  t.equal((await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie: anonCookie } })).statusCode, 401, 'the anonymous session ended');
});

t.test('page state holds exactly what the single reads return (same fields, same times)', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 'print("é\\"\\n")', language: 'python', page: 'p' } });
  await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload: { kind: 'unittest', answer: { passed: 2, failed: 0, output: 'ok' }, correct: true, score: 0.5, page: 'p' } });
  await app.inject({ method: 'POST', url: '/api/books/book/answers/q2', headers, payload: { kind: 'shortanswer', answer: 'no verdict', page: 'p' } });
  const state = await app.inject({ method: 'GET', url: '/api/books/book/state?page=p', headers });
  t.equal(state.headers['content-type'], 'application/json; charset=utf-8');
  const { programs, answers } = state.json();
  t.same(programs.ac1, (await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1', headers })).json());
  t.same(answers.q1, (await app.inject({ method: 'GET', url: '/api/books/book/answers/q1', headers })).json());
  t.same(answers.q2, (await app.inject({ method: 'GET', url: '/api/books/book/answers/q2', headers })).json());
  t.equal(answers.q2.latest.correct, null);
});

t.test('a page state put together from the entries written with the answers is the one the database builds from their columns', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  const writes: [method: 'PUT' | 'POST', path: string, payload: object][] = [
    ['PUT', 'programs/ac1', { code: 'print("é\\"\\n\u2028\u0001")', language: 'python', page: 'p' }],
    ['PUT', 'programs/ac1', { code: 'the second version, no language', page: 'p' }],
    ['PUT', 'programs/ac.2:x', { code: '', page: 'p' }],
    ['POST', 'answers/q1', { kind: 'unittest', answer: { passed: 2, failed: 0, output: 'ok "quoted" \\ \u0001' }, correct: true, score: 0.5, page: 'p' }],
    ['POST', 'answers/q1', { kind: 'unittest', answer: { passed: 1, failed: 1 }, correct: false, score: 1e-7, page: 'p' }],
    ['POST', 'answers/q2', { kind: 'shortanswer', answer: 'no verdict 🎉', page: 'p' }],
    ['POST', 'answers/q3', { kind: 'mchoice', answer: ['a', 'b'], correct: true, score: 3, page: 'p' }],
  ];
  for (const [method, path, payload] of writes) {
    const res = await app.inject({ method, url: `/api/books/book/${path}`, headers, payload });
    t.equal(res.statusCode, method === 'PUT' ? 200 : 201, `${method} ${path}`);
  }
  const stored = await app.inject({ method: 'GET', url: '/api/books/book/state?page=p', headers });
  t.equal(await count(app, 'answers WHERE page_entry IS NOT NULL'), 3);
  await app.db.run(sql`UPDATE answers SET page_entry = NULL`);
  const built = await app.inject({ method: 'GET', url: '/api/books/book/state?page=p', headers });
  t.same(JSON.parse(stored.body), JSON.parse(built.body));
  t.same(Object.keys(stored.json().programs).sort(), ['ac.2:x', 'ac1']);
  t.same(Object.keys(stored.json().answers).sort(), ['q1', 'q2', 'q3']);
  t.equal(stored.json().answers.q1.attempts, 2);
  t.equal(stored.json().programs.ac1.language, null);
});

t.test('only the latest attempt keeps a page entry, and it is what the single read returns', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (const answer of ['a', 'b', 'c']) await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload: { kind: 'mchoice', answer: [answer], page: 'p' } });
  const answers = (await app.db.all(sql`SELECT attempt, page_entry FROM answers WHERE page_entry IS NOT NULL`)) as { attempt: number; page_entry: string }[];
  t.same(answers.map((r) => r.attempt), [3]);
  t.same(JSON.parse(answers[0]!.page_entry), (await app.inject({ method: 'GET', url: '/api/books/book/answers/q1', headers })).json());
});

t.test('a NUL character (U+0000) anywhere in a body is refused with a 400 naming where, and nothing is stored', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  const code = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 'a\u0000b' } });
  t.equal(code.statusCode, 400);
  t.same(code.json(), { statusCode: 400, error: 'invalid_request', message: 'body/code must not contain the NUL character (U+0000)' });
  const nested = await app.inject({ method: 'POST', url: '/api/books/book/events', headers, payload: { events: [{ type: 'run', data: { out: ['ok', 'x\u0000'] } }] } });
  t.equal(nested.statusCode, 400);
  t.equal(nested.json().message, 'body/events/0/data/out/1 must not contain the NUL character (U+0000)');
  t.equal(await count(app, 'programs'), 0);
  t.equal(await count(app, 'events'), 0);
});
