import t from 'tap';
import { openDatabase } from '../db/index.js';
import type { SqliteDatabase } from '../db/sqlite.js';
import { spawnServer, testDatabaseUrl, testDialect, testSecret } from './helper.js';
import { sql } from 'drizzle-orm';

/** The server's environment on the test's database (SQLite file or PostgreSQL schema). */
const env = (url: string) => ({ FOLIO_DATABASE_URL: url, FOLIO_PASSWORD_COST: '10', ...(testDialect === 'postgres' ? { FOLIO_SECRET: testSecret } : {}) });
const origin = 'http://localhost:8080';

t.test('every write acknowledged with a 2xx survives kill -9 the instant the reply arrives', async (t) => {
  const file = testDatabaseUrl(t);
  const first = await spawnServer(t, env(file), ['--migrate']);
  const call = (method: string, path: string, body: unknown, token?: string) =>
    fetch(`${first.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', origin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  const { token } = (await (await call('POST', '/api/auth/register', { username: 'ada', password: 'correct horse battery', mode: 'token' })).json()) as { token: string };

  const acknowledged: { kind: string; id: string; value: string }[] = [];
  const writes = Array.from({ length: 30 }, async (_, i) => {
    const [res, kind, id, value] =
      i % 3 === 0
        ? [await call('PUT', `/api/books/demo/programs/ac${i}`, { code: `code ${i}`, page: 'p' }, token), 'program', `ac${i}`, `code ${i}`]
        : i % 3 === 1
          ? [await call('POST', `/api/books/demo/answers/q${i}`, { kind: 'shortanswer', answer: `answer ${i}`, page: 'p' }, token), 'answer', `q${i}`, `answer ${i}`]
          : [await call('POST', '/api/books/demo/events', { events: [{ type: `event-${i}` }] }, token), 'event', `event-${i}`, ''];
    if (res.ok) acknowledged.push({ kind, id, value });
    return res.status;
  });
  // Kill the moment the last reply is in (whichever write that is): no time for a lazy flush, and no write still in flight.
  let replied = 0;
  const statuses = await Promise.all(writes.map((w) => w.then((s) => (++replied === writes.length && first.child.kill('SIGKILL'), s))));
  await first.exited;
  t.ok(statuses.every((s) => s >= 200 && s < 300), `all writes acknowledged: ${statuses.join(',')}`);

  const second = await spawnServer(t, env(file));
  const auth = { origin, authorization: `Bearer ${token}` };
  for (const w of acknowledged) {
    if (w.kind === 'program') {
      const res = await fetch(`${second.url}/api/books/demo/programs/${w.id}`, { headers: auth });
      t.equal(res.status, 200, w.id);
      t.equal(((await res.json()) as { code: string }).code, w.value);
    } else if (w.kind === 'answer') {
      const res = await fetch(`${second.url}/api/books/demo/answers/${w.id}`, { headers: auth });
      t.equal(res.status, 200, w.id);
      t.equal(((await res.json()) as { latest: { answer: string } }).latest.answer, w.value);
    }
  }
  const db = openDatabase(file);
  t.teardown(() => db.close());
  const events = (await db.all<{ type: string }>(sql`SELECT type FROM events`)).map((e) => e.type);
  for (const w of acknowledged.filter((a) => a.kind === 'event')) t.ok(events.includes(w.id), w.id);
  second.child.kill('SIGTERM');
  t.equal(await second.exited, 0);
});

t.test('under 16 concurrent writers, three kill -9 at random moments lose no acknowledged write and leave nothing half-written', async (t) => {
  const file = testDatabaseUrl(t);
  let server = await spawnServer(t, env(file), ['--migrate']);
  const register = await fetch(`${server.url}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ username: 'ada', password: 'correct horse battery', mode: 'token' }),
  });
  const { token } = (await register.json()) as { token: string };
  const headers = { 'content-type': 'application/json', origin, authorization: `Bearer ${token}` };

  const acknowledged = new Map<number, string[]>();
  let stop = false;
  const writer = async (w: number) => {
    const mine: string[] = [];
    acknowledged.set(w, mine);
    for (let i = 0; !stop; i++) {
      const code = `writer ${w} save ${i} ${'x'.repeat(i % 7 === 0 ? 20_000 : 10)} end`;
      try {
        const res = await fetch(`${server.url}/api/books/demo/programs/w${w}`, { method: 'PUT', headers, body: JSON.stringify({ code }) });
        if (res.ok) mine.push(code);
        else await res.arrayBuffer();
      } catch {
        await new Promise((r) => setTimeout(r, 20)); // the server is down: try again on the next one
      }
    }
  };
  const writers = Array.from({ length: 16 }, (_, w) => writer(w));

  const count = () => [...acknowledged.values()].reduce((sum, codes) => sum + codes.length, 0);
  for (let kill = 0; kill < 3; kill++) {
    // Each server first acknowledges 40 writes (a fixed delay measured nothing on a loaded machine, where the first
    // answers came late), then dies at a random moment of the next 0.8 s.
    const before = count();
    while (count() < before + 40) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, Math.random() * 800));
    server.child.kill('SIGKILL');
    await server.exited;
    server = await spawnServer(t, env(file));
  }
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(writers);
  server.child.kill('SIGTERM');
  await server.exited;

  const db = openDatabase(file);
  t.teardown(() => db.close());
  if (db.dialect === 'sqlite') t.equal((db as SqliteDatabase).sqlite.pragma('integrity_check', { simple: true }), 'ok');
  let total = 0;
  for (const [w, codes] of acknowledged) {
    const rows = await db.all<{ version: number; code: string }>(sql`SELECT version, code FROM programs WHERE activity = ${`w${w}`} ORDER BY version`);
    const stored = new Set(rows.map((r) => r.code));
    const lost = codes.filter((c) => !stored.has(c));
    t.same(lost, [], `writer ${w}: every acknowledged save is there`);
    t.same(rows.map((r) => r.version), rows.map((_, i) => i + 1), `writer ${w}: versions have no gaps`);
    t.ok(rows.every((r) => /^writer \d+ save \d+ x+ end$/.test(r.code)), `writer ${w}: no half-written code`);
    total += codes.length;
  }
  t.ok(total > 100, `${total} acknowledged writes across three crashes`);
});
