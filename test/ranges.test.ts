import type { FastifyInstance } from 'fastify';
import t from 'tap';
import { build, fromBook, register } from './helper.js';
import { sql } from 'drizzle-orm';

/** A registered student's request headers. */
async function student(app: FastifyInstance, username = 'ada') {
  const { cookie } = await register(app, username);
  return { ...fromBook, cookie };
}

const count = async (app: FastifyInstance, table: string) => Number(((await app.db.get(sql`SELECT count(*) AS n FROM ${sql.raw(table)}`)) as { n: number }).n);

t.test('a clientTime outside 2000-01-01 to 2100-01-01 (9e15, 1e20, 0, a date in 2200) is a 400 naming the field, and nothing is stored', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (const clientTime of [9e15, 1e20, 0, -1, '2200-01-01T00:00:00Z', '1999-12-31T23:59:59Z']) {
    const res = await app.inject({ method: 'POST', url: '/api/books/book/events', headers, payload: { events: [{ type: 'ok' }, { type: 'run', clientTime }] } });
    t.equal(res.statusCode, 400, String(clientTime));
    t.equal(res.json().error, 'invalid_request');
    t.match(res.json().message, /^body\/events\/1\/clientTime must be/, String(clientTime));
  }
  t.equal(await count(app, 'events'), 0);
  const edges = [Date.UTC(2000, 0, 1), Date.UTC(2100, 0, 1), '2099-12-31T23:59:59.999Z'];
  const ok = await app.inject({ method: 'POST', url: '/api/books/book/events', headers, payload: { events: edges.map((clientTime) => ({ type: 'run', clientTime })) } });
  t.equal(ok.statusCode, 202);
  t.strictSame((await app.db.all(sql`SELECT client_time FROM events ORDER BY id`)).map((r) => Number((r as { client_time: number }).client_time)), [Date.UTC(2000, 0, 1), Date.UTC(2100, 0, 1), Date.UTC(2100, 0, 1) - 1]);
});

t.test('history?before= beyond what an INTEGER column holds is a 400, never a database error', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers, payload: { code: 'v1' } });
  for (const before of ['3000000000', '2147483648', '1e20']) {
    const res = await app.inject({ method: 'GET', url: `/api/books/book/programs/ac1/history?before=${before}`, headers });
    t.equal(res.statusCode, 400, before);
    t.equal(res.json().error, 'invalid_request');
    t.match(res.json().message, 'querystring/before must be <= 2147483647');
  }
  const largest = await app.inject({ method: 'GET', url: '/api/books/book/programs/ac1/history?before=2147483647', headers });
  t.equal(largest.statusCode, 200);
  t.equal(largest.json().versions.length, 1);
});

t.test('counts inside answers have a maximum: unittest passed/failed and codelens step over 1,000,000 are a 400', async (t) => {
  const app = await build(t);
  const headers = await student(app);
  for (const [payload, field] of [
    [{ kind: 'unittest', answer: { passed: 1e20, failed: 0 } }, 'body/answer/passed'],
    [{ kind: 'unittest', answer: { passed: 0, failed: 1_000_001 } }, 'body/answer/failed'],
    [{ kind: 'codelens', answer: { answer: '7', step: 9e15 } }, 'body/answer/step'],
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers, payload });
    t.equal(res.statusCode, 400, field);
    t.match(res.json().message, `${field} must be <= 1000000`);
  }
  t.equal(await count(app, 'answers'), 0);
});

const nested = (depth: number, open = '{"a":', close = '}') => `${open.repeat(depth)}1${close.repeat(depth)}`;

t.test('event data nested 5,000 deep is a 400 naming the maximum depth; 32 deep is stored', async (t) => {
  const app = await build(t);
  const headers = { ...(await student(app)), 'content-type': 'application/json' };
  for (const data of [nested(5000), nested(5000, '[', ']'), nested(33)]) {
    const res = await app.inject({ method: 'POST', url: '/api/books/book/events', headers, payload: `{"events":[{"type":"ok"},{"type":"deep","data":${data}}]}` });
    t.equal(res.statusCode, 400);
    t.same(res.json(), { statusCode: 400, error: 'invalid_request', message: 'body/events/1/data nests arrays and objects deeper than 32 levels' });
  }
  t.equal(await count(app, 'events'), 0);
  const ok = await app.inject({ method: 'POST', url: '/api/books/book/events', headers, payload: `{"events":[{"type":"deep","data":${nested(32)}}]}` });
  t.equal(ok.statusCode, 202);
  t.equal(((await app.db.get(sql`SELECT data FROM events`)) as { data: string }).data, nested(32));
});

t.test('a NUL character 5,000 levels deep is found and named without overflowing the stack', async (t) => {
  const app = await build(t);
  const headers = { ...(await student(app)), 'content-type': 'application/json' };
  const data = `${'{"a":'.repeat(5000)}"x\\u0000"${'}'.repeat(5000)}`;
  const res = await app.inject({ method: 'POST', url: '/api/books/book/events', headers, payload: `{"events":[{"type":"deep","data":${data}}]}` });
  t.equal(res.statusCode, 400);
  t.equal(res.json().message, `body/events/0/data${'/a'.repeat(5000)} must not contain the NUL character (U+0000)`);
  t.equal(await count(app, 'events'), 0);
});
