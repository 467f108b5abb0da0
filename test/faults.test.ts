import BetterSqlite3 from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { connect, createServer, type Server, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { buildApp } from '../app.js';
import { createBook } from '../db/books.js';
import { faultOf } from '../db/faults.js';
import type { Config } from '../lib/config.js';
import { bookOrigin, migratedDatabaseUrl, postgresSchemaUrl, testConfig, testDialect } from './helper.js';
import { sql } from 'drizzle-orm';

interface LogLine {
  level: number;
  msg: string;
  outage?: string;
  ended?: boolean;
  refused?: number;
  ms?: number;
}

/** The real app with a book, logging at info into `logs` (parsed pino lines). */
async function buildLogged(t: Test, overrides: Partial<Config> = {}): Promise<{ app: FastifyInstance; logs: LogLine[] }> {
  const logs: LogLine[] = [];
  const stream = { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) };
  const app = await buildApp({ config: testConfig(t, { ...overrides, databaseUrl: overrides.databaseUrl ?? (await migratedDatabaseUrl(t)) }), migrate: true, logger: { level: 'info', stream } });
  t.teardown(() => app.close());
  await createBook(app.db, { id: 'book', title: 'A book', origins: [bookOrigin] });
  await app.books.refresh();
  return { app, logs };
}

const outageLines = (logs: LogLine[]) => logs.filter((l) => l.outage !== undefined);
const crashLines = (logs: LogLine[]) => logs.filter((l) => l.level >= 50);

async function token(app: FastifyInstance, username = 'ada'): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username, password: 'correct horse battery', mode: 'token' } });
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode} ${res.body}`);
  return res.json().token as string;
}

const save = (app: FastifyInstance, bearer: string, code: string) =>
  app.inject({ method: 'PUT', url: '/api/books/book/programs/ac1', headers: { authorization: `Bearer ${bearer}` }, payload: { code, page: 'p1' } });

const state = (app: FastifyInstance, bearer: string) => app.inject({ method: 'GET', url: '/api/books/book/state?page=p1', headers: { authorization: `Bearer ${bearer}` } });

async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`waited ${ms} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

t.test('database errors are classified by kind: unreachable, locked, full, or none', async (t) => {
  const cases: [unknown, string | undefined][] = [
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), 'unavailable'],
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'unavailable'],
    [Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }), 'unavailable'],
    [Object.assign(new Error('the database system is starting up'), { code: '57P03' }), 'unavailable'],
    [Object.assign(new Error('connection failure'), { code: '08006' }), 'unavailable'],
    [new Error('Connection terminated unexpectedly'), 'unavailable'],
    [new Error('timeout exceeded when trying to connect'), 'unavailable'],
    [Object.assign(new Error('could not extend file'), { code: '53100' }), 'full'],
    [Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }), 'full'],
    [Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }), 'full'],
    [Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }), 'busy'],
    [Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY_SNAPSHOT' }), 'busy'],
    [Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_WRITE' }), 'unavailable'],
    [Object.assign(new Error('UNIQUE constraint failed'), { code: 'SQLITE_CONSTRAINT_UNIQUE' }), undefined],
    [Object.assign(new Error('duplicate key'), { code: '23505' }), undefined],
    [Object.assign(new Error('syntax error'), { code: '42601' }), undefined],
    [new TypeError('x is undefined'), undefined],
    ['a string', undefined],
  ];
  for (const [err, fault] of cases) t.equal(faultOf(err), fault, (err as Error).message ?? String(err));
});

/** A TCP proxy in front of PostgreSQL that can go away (its connections cut, new ones refused) and come back on its port. */
class Proxy {
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const db = connect(this.target.port, this.target.host);
      for (const s of [client, db]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(db).pipe(client);
      client.on('close', () => db.destroy());
      db.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** PostgreSQL "stops": every connection is cut and new ones are refused (ECONNREFUSED). */
  async cut(): Promise<void> {
    const server = this.server!;
    this.server = undefined;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async close(): Promise<void> {
    if (this.server) await this.cut();
  }
}

t.test('PostgreSQL out of reach: 503 database_unavailable with Retry-After, one outage in the log, and every acknowledged write kept', { skip: testDialect !== 'postgres' && 'PostgreSQL only: its connections go through a proxy the test cuts' }, async (t) => {
  const real = new URL(postgresSchemaUrl(t));
  const proxy = new Proxy({ host: real.hostname, port: Number(real.port || 5432) });
  await proxy.start();
  t.teardown(() => proxy.close());
  const viaProxy = new URL(real);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  const { app, logs } = await buildLogged(t, { databaseUrl: viaProxy.toString() });
  const bearer = await token(app);
  t.equal((await save(app, bearer, 'v1')).statusCode, 200);

  await proxy.cut();
  // Eight writers keep saving while PostgreSQL is away; reads are refused the same way.
  const acknowledged: string[] = ['v1'];
  const statuses = new Map<string, number>();
  let refused = 0;
  const until = Date.now() + 1500;
  await Promise.all(
    Array.from({ length: 8 }, async (_, writer) => {
      for (let n = 0; Date.now() < until; n++) {
        const code = `w${writer}-${n}`;
        const res = await save(app, bearer, code);
        const outcome = `${res.statusCode} ${res.json().error ?? ''} ${res.headers['retry-after'] ?? ''}`;
        statuses.set(outcome, (statuses.get(outcome) ?? 0) + 1);
        if (res.statusCode === 200) acknowledged.push(code);
        else refused++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }),
  );
  t.same([...statuses.keys()], ['503 database_unavailable 5'], 'every write while away is a 503 with Retry-After');
  const read = await state(app, bearer);
  t.equal(read.statusCode, 503);
  t.same(read.json(), { statusCode: 503, error: 'database_unavailable', message: read.json().message });
  t.equal(read.headers['retry-after'], '5');
  refused++;
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 503);
  t.same(ready.json(), { status: 'not_ready', database: 'unavailable' });
  t.same(crashLines(logs), [], 'no request logged as a crash');
  t.same(outageLines(logs).map((l) => [l.level, l.outage]), [[40, 'unavailable']], 'one warning for the whole outage');

  await proxy.start();
  await waitFor('a save to succeed again', async () => (await save(app, bearer, 'after')).statusCode === 200);
  acknowledged.push('after');
  await waitFor('the outage to end in the log', () => outageLines(logs).length === 2);
  const [began, ended] = outageLines(logs);
  t.equal(began!.level, 40);
  t.match(ended, { level: 30, ended: true, outage: 'unavailable' });
  t.ok(ended!.refused! >= refused, `the end line counts the refused requests (${ended!.refused} >= ${refused})`);
  t.ok(ended!.ms! >= 1500, 'and how long it lasted');
  t.equal((await app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);

  const stored = await app.db.all<{ code: string }>(sql`SELECT code FROM programs ORDER BY version`);
  const codes = new Set(stored.map((r) => r.code));
  t.same(acknowledged.filter((c) => !codes.has(c)), [], 'every acknowledged write is stored');
  t.same(crashLines(logs), []);
});

t.test('SQLite locked by another program past the busy timeout: writes get 503 database_busy, reads go on, one outage in the log', { skip: testDialect !== 'sqlite' && 'SQLite only: another connection holds its write lock' }, async (t) => {
  const { app, logs } = await buildLogged(t);
  const bearer = await token(app);
  t.equal((await save(app, bearer, 'v1')).statusCode, 200);

  const other = new BetterSqlite3(app.db.location);
  t.teardown(() => other.close());
  // The session is due for its renewal (a write): the read below still answers, the renewal waits for a later request.
  other.prepare('UPDATE sessions SET expires_at = ?').run(Date.now() + 60_000);
  other.exec('BEGIN IMMEDIATE');
  const started = Date.now();
  const waiting = save(app, bearer, 'while locked');
  const read = await state(app, bearer);
  t.equal(read.statusCode, 200, 'reads go on');
  t.equal(read.json().programs.ac1.code, 'v1');
  const refused = await waiting;
  t.ok(Date.now() - started >= 4500, 'the write waited for the busy timeout');
  t.equal(refused.statusCode, 503);
  t.equal(refused.json().error, 'database_busy');
  t.equal(refused.headers['retry-after'], '5');
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 503);
  t.same(ready.json(), { status: 'not_ready', database: 'busy' });
  t.same(outageLines(logs).map((l) => [l.level, l.outage]), [[40, 'busy']]);

  other.exec('ROLLBACK');
  await waitFor('the outage to end', () => outageLines(logs).length === 2);
  t.match(outageLines(logs)[1], { level: 30, ended: true, outage: 'busy', refused: 1 });
  t.same((await app.inject({ method: 'GET', url: '/readyz' })).json(), { status: 'ok', database: 'ok' });
  const after = await save(app, bearer, 'v2');
  t.equal(after.statusCode, 200);
  t.equal(after.json().version, 2, 'the refused write was not stored');
  t.same(crashLines(logs), []);
});

t.test('SQLite full: writes get 507 insufficient_storage, reads go on, /readyz says full, and nothing acknowledged is lost', { skip: testDialect !== 'sqlite' && 'SQLite only: max_page_count stands for a full disk' }, async (t) => {
  const { app, logs } = await buildLogged(t);
  const sqlite = (app.db as unknown as { sqlite: BetterSqlite3.Database }).sqlite;
  const bearer = await token(app);
  t.equal((await save(app, bearer, 'v1')).statusCode, 200);

  // The event loop's connection (accounts and sessions are written there) may not grow the file any more.
  const pages = sqlite.pragma('page_count', { simple: true }) as number;
  sqlite.pragma(`max_page_count = ${pages}`);
  const acknowledged: string[] = ['ada'];
  let full: Awaited<ReturnType<FastifyInstance['inject']>> | undefined;
  for (let n = 0; n < 300 && !full; n++) {
    const res = await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: `student${n}`, password: 'correct horse battery', mode: 'token' } });
    if (res.statusCode === 201) acknowledged.push(`student${n}`);
    else full = res;
  }
  t.ok(full, 'registrations stopped fitting');
  t.equal(full!.statusCode, 507);
  t.same(full!.json(), { statusCode: 507, error: 'insufficient_storage', message: full!.json().message });
  t.equal(full!.headers['retry-after'], '60');
  for (let n = 0; n < 3; n++) {
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: `late${n}`, password: 'correct horse battery' } })).statusCode, 507);
  }

  const read = await state(app, bearer);
  t.equal(read.statusCode, 200, 'reads go on');
  t.equal(read.json().programs.ac1.code, 'v1');
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 503);
  t.same(ready.json(), { status: 'not_ready', database: 'full' });
  t.same(outageLines(logs).map((l) => [l.level, l.outage]), [[40, 'full']], 'one warning, however many writes were refused');
  t.same(crashLines(logs), []);

  const stored = new Set((await app.db.all<{ username: string }>(sql`SELECT username FROM users`)).map((r) => r.username));
  t.same(acknowledged.filter((u) => !stored.has(u)), [], 'every acknowledged account is stored');

  // Room again: the next write succeeds and ends the outage.
  sqlite.pragma('max_page_count = 1073741823');
  t.equal((await app.inject({ method: 'POST', url: '/api/auth/register', payload: { username: 'again', password: 'correct horse battery' } })).statusCode, 201);
  t.match(outageLines(logs)[1], { level: 30, ended: true, outage: 'full', refused: 4 });
  t.same((await app.inject({ method: 'GET', url: '/readyz' })).json(), { status: 'ok', database: 'ok' });
});
