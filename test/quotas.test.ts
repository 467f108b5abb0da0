import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { build, cookieOf, fromBook, register, root, testDialect } from './helper.js';
import { sql, type SQL } from 'drizzle-orm';

/** A registered student: request headers and user id. */
async function student(app: FastifyInstance, username = 'ada') {
  const { res, cookie } = await register(app, username);
  return { headers: { ...fromBook, cookie }, id: res.json().user.id as string };
}

const rows = (app: FastifyInstance, query: SQL) => app.db.all<Record<string, unknown>>(query);
/** Everything stored of a user's work, to compare before and after a refused write. */
const stored = async (app: FastifyInstance) => ({
  programs: await rows(app, sql`SELECT id, activity, version, latest, state_bytes FROM programs ORDER BY id`),
  answers: await rows(app, sql`SELECT id, question, attempt, latest, page_entry FROM answers ORDER BY id`),
  events: await rows(app, sql`SELECT id FROM events ORDER BY id`),
  usage: await usage(app),
});
const usage = async (app: FastifyInstance) =>
  (await rows(app, sql`SELECT user_id, versions, events, bytes FROM user_usage ORDER BY user_id`)).map((r) => ({ ...r, versions: Number(r.versions), events: Number(r.events), bytes: Number(r.bytes) }));

const put = async (app: FastifyInstance, headers: Record<string, string>, activity: string, payload: Record<string, unknown>) =>
  app.inject({ method: 'PUT', url: `/api/books/book/programs/${activity}`, headers, payload });

t.test('a save that would take a page state past FOLIO_PAGE_STATE_MAX_BYTES is a 413 page_full, and nothing stored changes', async (t) => {
  const cap = 64 * 1024;
  const app = await build(t, { pageStateMaxBytes: cap });
  const ada = await student(app);
  // Quotes take two bytes each in the page state's JSON: the cap counts what is sent, not what is stored.
  const quoted = '"'.repeat(10_000);
  for (const activity of ['ac1', 'ac2', 'ac3']) t.equal((await put(app, ada.headers, activity, { code: quoted, page: 'p' })).statusCode, 200, activity);
  const before = await stored(app);
  const refused = await put(app, ada.headers, 'ac4', { code: quoted, page: 'p' });
  t.equal(refused.statusCode, 413);
  t.equal(refused.json().error, 'page_full');
  t.match(refused.json().message, /^page "p" is full: with this save its programs and answers would take \d+ bytes, over the 65536 a page may hold \(FOLIO_PAGE_STATE_MAX_BYTES\); save this work on another page/);
  const answer = await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: ada.headers, payload: { kind: 'shortanswer', answer: 'x'.repeat(20_000), page: 'p' } });
  t.equal(answer.statusCode, 413);
  t.equal(answer.json().error, 'page_full');
  t.same(await stored(app), before, 'no row, no latest flag, no usage changed');
  const state = await app.inject({ method: 'GET', url: '/api/books/book/state?page=p', headers: ada.headers });
  t.ok(state.rawPayload.length <= cap, `the page state is ${state.rawPayload.length} bytes`);
  t.same(Object.keys(state.json().programs).sort(), ['ac1', 'ac2', 'ac3']);
  // A new version of a program on the page replaces its old one; other pages and work without a page have room.
  t.equal((await put(app, ada.headers, 'ac3', { code: quoted, page: 'p' })).statusCode, 200);
  t.equal((await put(app, ada.headers, 'ac4', { code: quoted, page: 'q' })).statusCode, 200);
  t.equal((await put(app, ada.headers, 'ac5', { code: quoted })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: ada.headers, payload: { kind: 'shortanswer', answer: 'short', page: 'p' } })).statusCode, 201);
});

t.test('answers fill a page too, and a page state filled to its cap stays under it', async (t) => {
  const cap = 64 * 1024;
  const app = await build(t, { pageStateMaxBytes: cap });
  const ada = await student(app);
  let saved = 0;
  for (let q = 1; q <= 20; q++) {
    const res = await app.inject({ method: 'POST', url: `/api/books/book/answers/q${q}`, headers: ada.headers, payload: { kind: 'shortanswer', answer: '\n'.repeat(5_000), page: 'p' } });
    if (res.statusCode !== 201) {
      t.equal(res.statusCode, 413);
      t.equal(res.json().error, 'page_full');
      break;
    }
    saved++;
  }
  t.ok(saved >= 5 && saved < 7, `${saved} answers of 10 KB as JSON fit in 64 KiB`);
  const state = await app.inject({ method: 'GET', url: '/api/books/book/state?page=p', headers: ada.headers });
  t.ok(state.rawPayload.length <= cap, `the page state is ${state.rawPayload.length} bytes`);
  t.ok(state.rawPayload.length > cap - 12_000, 'and nearly full');
});

t.test('a history page stops before the version that would pass FOLIO_HISTORY_PAGE_MAX_BYTES of code; the cursor continues', async (t) => {
  const app = await build(t, { historyPageMaxBytes: 64 * 1024 });
  const ada = await student(app);
  for (let v = 1; v <= 5; v++) t.equal((await put(app, ada.headers, 'ac1', { code: String(v).repeat(30_000) })).statusCode, 200);
  const page = async (query: string) => (await app.inject({ method: 'GET', url: `/api/books/book/programs/ac1/history?${query}`, headers: ada.headers })).json();
  const first = await page('limit=20');
  t.same(first.versions.map((v: { version: number }) => v.version), [5, 4]);
  t.equal(first.next, 4);
  const second = await page(`limit=20&before=${first.next}`);
  t.same(second.versions.map((v: { version: number }) => v.version), [3, 2]);
  const third = await page(`limit=20&before=${second.next}`);
  t.same(third.versions.map((v: { version: number }) => v.version), [1]);
  t.equal(third.next, null);
  t.equal(third.versions[0].code, '1'.repeat(30_000));
  // One version larger than the budget comes alone.
  t.equal((await put(app, ada.headers, 'ac1', { code: 'x'.repeat(100_000) })).statusCode, 200);
  const big = await page('limit=20');
  t.same(big.versions.map((v: { version: number }) => v.version), [6]);
  t.equal(big.next, 6);
});

t.test('past FOLIO_QUOTA_VERSIONS a save is a 413 quota_exceeded naming the quota, and nothing stored changes', async (t) => {
  const app = await build(t, { quotaVersions: 3 });
  const ada = await student(app);
  const bob = await student(app, 'bob');
  t.equal((await put(app, ada.headers, 'ac1', { code: 'v1' })).statusCode, 200);
  t.equal((await put(app, ada.headers, 'ac1', { code: 'v2', page: 'p' })).statusCode, 200);
  t.equal((await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: ada.headers, payload: { kind: 'poll', answer: 'a' } })).statusCode, 201);
  const before = await stored(app);
  t.same(before.usage, [{ user_id: ada.id, versions: 3, events: 0, bytes: 7 }]);
  for (const res of [
    await put(app, ada.headers, 'ac1', { code: 'v3' }),
    await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: ada.headers, payload: { kind: 'poll', answer: 'b' } }),
  ]) {
    t.equal(res.statusCode, 413);
    t.same(res.json(), {
      statusCode: 413,
      error: 'quota_exceeded',
      message: 'this account has stored 3 program versions and answers of the 3 it may (FOLIO_QUOTA_VERSIONS), and this write adds 1: nothing more can be saved until an administrator raises the quota',
    });
  }
  t.same(await stored(app), before);
  t.equal((await put(app, bob.headers, 'ac1', { code: 'v1' })).statusCode, 200, 'the quota is per user');
});

t.test('past FOLIO_QUOTA_EVENTS or FOLIO_QUOTA_BYTES a batch of events is a 413 quota_exceeded, all or nothing', async (t) => {
  const app = await build(t, { quotaEvents: 5, quotaBytes: 1024 * 1024 });
  const ada = await student(app);
  const post = (events: unknown[]) => app.inject({ method: 'POST', url: '/api/books/book/events', headers: ada.headers, payload: { events } });
  t.equal((await post([{ type: 'a' }, { type: 'b' }, { type: 'c' }])).statusCode, 202);
  const over = await post([{ type: 'd' }, { type: 'e' }, { type: 'f' }]);
  t.equal(over.statusCode, 413);
  t.equal(over.json().error, 'quota_exceeded');
  t.match(over.json().message, 'has stored 3 events of the 5 it may (FOLIO_QUOTA_EVENTS), and this write adds 3');
  t.equal((await post([{ type: 'd' }, { type: 'e' }])).statusCode, 202);
  t.same((await usage(app)).map((u) => u.events), [5]);
  const carl = await student(app, 'carl');
  const first = await app.inject({ method: 'POST', url: '/api/books/book/events', headers: carl.headers, payload: { events: Array.from({ length: 6 }, () => ({ type: 'x' })) } });
  t.equal(first.statusCode, 413, 'a first batch larger than the quota is refused too');
  t.match(first.json().message, 'has stored 0 events of the 5 it may (FOLIO_QUOTA_EVENTS), and this write adds 6');

  const big = await build(t, { quotaBytes: 1024 * 1024 });
  const bob = await student(big, 'bob');
  const data = 'x'.repeat(2000);
  const batch = (n: number) => big.inject({ method: 'POST', url: '/api/books/book/events', headers: bob.headers, payload: { events: Array.from({ length: n }, () => ({ type: 't', data })) } });
  t.equal((await batch(400)).statusCode, 202);
  const before = await stored(big);
  const full = await batch(200);
  t.equal(full.statusCode, 413);
  t.match(full.json().message, `has stored ${400 * 2002} bytes of the 1048576 it may (FOLIO_QUOTA_BYTES), and this write adds ${200 * 2002}`);
  t.same(await stored(big), before);
});

t.test('usage counts exactly what is stored: versions, attempts, events and their bytes', async (t) => {
  const app = await build(t);
  const ada = await student(app);
  await put(app, ada.headers, 'ac1', { code: 'héllo', page: 'p' });
  await put(app, ada.headers, 'ac1', { code: 'print(1)', page: 'p' });
  await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: ada.headers, payload: { kind: 'fitb', answer: ['a', 'b'], page: 'p' } });
  await app.inject({ method: 'POST', url: '/api/books/book/events', headers: ada.headers, payload: { events: [{ type: 'a', data: { ms: 1 } }, { type: 'b' }] } });
  const counted = await rows(
    app,
    sql`SELECT (SELECT COUNT(*) FROM programs) + (SELECT COUNT(*) FROM answers) AS versions, (SELECT COUNT(*) FROM events) AS events,
       (SELECT SUM(octet_length(code)) FROM programs) + (SELECT SUM(octet_length(answer)) FROM answers) + (SELECT COALESCE(SUM(octet_length(data)), 0) FROM events) AS bytes`,
  );
  t.same(await usage(app), [{ user_id: ada.id, versions: Number(counted[0]!.versions), events: Number(counted[0]!.events), bytes: Number(counted[0]!.bytes) }]);
  t.same(await usage(app), [{ user_id: ada.id, versions: 3, events: 2, bytes: 6 + 8 + 9 + 8 }]);
});

t.test('logging in from an anonymous session moves its usage to the account', async (t) => {
  const app = await build(t, { quotaVersions: 3 });
  const { res: reg } = await register(app, 'ada');
  const ada = reg.json().user.id as string;
  const first = await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: fromBook, payload: { code: 'anon' } });
  const anonCookie = cookieOf(first);
  const anon = { ...fromBook, cookie: anonCookie };
  await app.inject({ method: 'POST', url: '/api/books/book/events', headers: anon, payload: { events: [{ type: 'a', data: 'xy' }] } });
  await app.inject({ method: 'PUT', url: '/api/books/book/programs/ac2', headers: anon, payload: { code: 'anon2' } });
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: anon, payload: { username: 'ada', password: 'correct horse battery' } });
  t.equal(login.statusCode, 200);
  t.same(await usage(app), [{ user_id: ada, versions: 2, events: 1, bytes: 4 + 4 + 5 }], 'one row, the account\'s, with the anonymous work');
  const headers = { ...fromBook, cookie: cookieOf(login) };
  t.equal((await put(app, headers, 'ac3', { code: 'mine' })).statusCode, 200);
  t.equal((await put(app, headers, 'ac3', { code: 'mine again' })).statusCode, 413, 'the moved versions count toward the quota');
});

t.test('the quota migration gives work stored before it the usage and page sizes the writes give', async (t) => {
  const app = await build(t);
  const ada = await student(app);
  const bob = await student(app, 'bob');
  await put(app, ada.headers, 'ac1', { code: 'print("héllo")\n\t"quoted"', language: 'python', page: 'ch1/intro' });
  await put(app, ada.headers, 'ac1', { code: 'print(2)', page: 'ch1/intro' });
  await put(app, bob.headers, 'ac2', { code: '\u0001 control', page: 'p' });
  await app.inject({ method: 'POST', url: '/api/books/book/answers/q1', headers: ada.headers, payload: { kind: 'fitb', answer: ['a'], page: 'p' } });
  await app.inject({ method: 'POST', url: '/api/books/book/events', headers: bob.headers, payload: { events: [{ type: 'a', data: { x: 'ü' } }, { type: 'b' }] } });
  const written = { usage: await usage(app), sizes: await rows(app, sql`SELECT id, state_bytes FROM programs WHERE latest = 1 ORDER BY id`) };
  t.equal(written.usage.length, 2);
  // As a database migrated before 0008 holds it: no usage, no sizes; then the migration's statements that fill them.
  await app.db.run(sql`DELETE FROM user_usage`);
  await app.db.run(sql`UPDATE programs SET state_bytes = 0`);
  const file = testDialect === 'sqlite' ? 'sqlite/0008_quotas.sql' : 'postgres/0002_quotas.sql';
  const statements = readFileSync(join(root, 'db/migrations', file), 'utf8').split('--> statement-breakpoint');
  for (const statement of statements.map((s) => s.replace(/^\s*(--.*\n)*/, '')).filter((s) => /^(INSERT|UPDATE) /.test(s))) await app.db.run(sql.raw(statement));
  t.same({ usage: await usage(app), sizes: await rows(app, sql`SELECT id, state_bytes FROM programs WHERE latest = 1 ORDER BY id`) }, written);
});
