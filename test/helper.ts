import { sql } from 'drizzle-orm';
import { SQLiteSyncDialect } from 'drizzle-orm/sqlite-core';
import type { FastifyInstance } from 'fastify';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import tap, { type Test } from 'tap';
import { buildApp } from '../app.js';
import { createBook } from '../db/books.js';
import { openDatabase, type Database, type Query } from '../db/index.js';
import { applyMigrations } from '../db/migrate.js';
import { loadConfig, type Config } from '../lib/config.js';

export const root = join(import.meta.dirname, '..');
export const bookOrigin = 'https://book.example';
export const otherBookOrigin = 'https://other.example';

/**
 * The database the suite runs against: SQLite, or with FOLIO_TEST_DATABASE=postgres the PostgreSQL at
 * FOLIO_TEST_POSTGRES_URL (default: this machine's, database test). `npm test` runs the suite once for each.
 */
export const testDialect: 'sqlite' | 'postgres' = process.env.FOLIO_TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite';
export const postgresTestUrl = process.env.FOLIO_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// The SQLite and PostgreSQL runs go at once (scripts/test.ts) and tap names a test's folder (t.testdir()) after the
// file and the test: the PostgreSQL run's folders get a name of their own, or the same test in the two runs would
// use (and empty) one folder.
if (testDialect === 'postgres') tap.testdirName = `${tap.testdirName}-on-postgres`;

/** The secret every process of a PostgreSQL test shares (PostgreSQL requires FOLIO_SECRET). */
export const testSecret = 'folio-test-secret-0123456789abcdefghijklmnopqrstuvwxyz';

let schemas = 0;

/**
 * A PostgreSQL URL on a schema of this test's own (`ft_<start time>_<pid>_<n>`), dropped when the test ends:
 * tests and runs never see each other's rows. scripts/test.ts drops what a killed run left behind.
 */
export function postgresSchemaUrl(t: Test): string {
  const schema = `ft_${Math.floor(Date.now() / 1000)}_${process.pid}_${++schemas}`;
  t.teardown(async () => {
    const client = new pg.Client({ connectionString: postgresTestUrl });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  });
  return `${postgresTestUrl}?schema=${schema}`;
}

const sqliteFiles = new WeakMap<Test, number>();

/**
 * A new, empty database for one test, in the dialect the suite runs against: a file in the test's folder, or a
 * schema of its own. Each call is another database (the folder is made once: t.testdir() empties it when called).
 */
export function testDatabaseUrl(t: Test): string {
  if (testDialect === 'postgres') return postgresSchemaUrl(t);
  const n = (sqliteFiles.get(t) ?? 0) + 1;
  sqliteFiles.set(t, n);
  return n === 1 ? join(t.testdir(), 'folio.db') : join(t.testdirName, `folio-${n}.db`);
}

/**
 * A database already migrated to the latest for one test, as `testDatabaseUrl` but without migrating it again:
 * migrating costs about 0.7 s a test on PostgreSQL (and dropping the schema 0.2 s), 0.1 s on SQLite, for several hundred
 * tests a run. SQLite: a copy of a file this process migrated once. PostgreSQL: a schema this process migrated once,
 * emptied when the test ends (every row deleted, sequences restarted: a few milliseconds) and handed to its next
 * test; a schema whose relations changed, or that cannot be emptied, is dropped instead. Tests of migrating itself use
 * `testDatabaseUrl`.
 */
export async function migratedDatabaseUrl(t: Test): Promise<string> {
  if (testDialect === 'sqlite') {
    const url = testDatabaseUrl(t);
    copyFileSync(await sqliteTemplate(), url);
    return url;
  }
  const schema = readySchemas.pop() ?? (await migratedSchema());
  t.teardown(() => recycleSchema(schema));
  return `${postgresTestUrl}?schema=${schema}`;
}

let sqliteTemplateFile: Promise<string> | undefined;

/** This process's migrated SQLite file, made on first use and removed when the process ends. */
function sqliteTemplate(): Promise<string> {
  sqliteTemplateFile ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'folio-test-template-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'folio.db');
    const db = await openDatabase(file);
    try {
      await applyMigrations(db);
    } finally {
      await db.close();
    }
    return file;
  })();
  return sqliteTemplateFile;
}

/** Migrated PostgreSQL schemas of this process that no test holds, and the number of relations a migrated one has. */
const readySchemas: string[] = [];
let migratedRelations: number | undefined;
let recycler: pg.Pool | undefined;

/**
 * The connection that empties and drops this process's schemas (it lets the process end while idle). Made with the
 * first schema; the schemas no test holds are dropped once the file's tests have ended.
 */
function recyclerPool(): pg.Pool {
  if (!recycler) {
    recycler = new pg.Pool({ connectionString: postgresTestUrl, max: 1, allowExitOnIdle: true });
    tap.teardown(async () => {
      for (const schema of readySchemas.splice(0)) await recycler!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    });
  }
  return recycler;
}

const relationCount = async (client: pg.Pool | pg.PoolClient, schema: string) =>
  Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_class WHERE relnamespace = $1::regnamespace', [schema])).rows[0]!.n);

async function migratedSchema(): Promise<string> {
  const schema = `ft_${Math.floor(Date.now() / 1000)}_${process.pid}_${++schemas}`;
  const db = await openDatabase(`${postgresTestUrl}?schema=${schema}`);
  try {
    await applyMigrations(db);
  } finally {
    await db.close();
  }
  migratedRelations ??= await relationCount(recyclerPool(), schema);
  return schema;
}

/**
 * Empties a test's schema for the next test (rows deleted with foreign keys and triggers off for the session, which
 * needs a superuser, as the test server's postgres is; sequences restarted), or drops it when its relations changed.
 */
async function recycleSchema(schema: string): Promise<void> {
  const client = await recyclerPool().connect();
  try {
    await client.query("SET lock_timeout = '5s'");
    if ((await relationCount(client, schema)) === migratedRelations) {
      try {
        const { rows: tables } = await client.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 AND tablename <> '__drizzle_migrations'", [schema]);
        await client.query(
          [
            'BEGIN',
            "SET LOCAL session_replication_role = 'replica'",
            ...tables.map(({ name }) => `DELETE FROM "${schema}"."${name}"`),
            `SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = '"${schema}"'::regnamespace`,
            'COMMIT',
          ].join(';\n'),
        );
        readySchemas.push(schema);
        return;
      } catch {
        await client.query('ROLLBACK').catch(() => {});
      }
    }
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    client.release();
  }
}

/**
 * A configuration for one test: its own database, no demo book, quiet, and the cheapest scrypt cost (tests
 * lower it through config; the default stays 2^17).
 */
export function testConfig(t: Test, overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({}),
    databaseUrl: overrides.databaseUrl ?? testDatabaseUrl(t),
    ...(testDialect === 'postgres' ? { secret: testSecret } : {}),
    demo: false,
    logLevel: 'silent' as const,
    passwordCost: 10,
    ...overrides,
  };
}

/** The environment that points a `folio` process at a test's database (and, on PostgreSQL, the shared secret). */
export function databaseEnv(config: Config): Record<string, string> {
  return { FOLIO_DATABASE_URL: config.databaseUrl, ...(config.secret ? { FOLIO_SECRET: config.secret } : {}) };
}

/**
 * The real app on a fresh database with two books: `book` (allowing https://book.example) and
 * `other` (allowing https://other.example). Closed when the test ends.
 */
export async function build(t: Test, overrides: Partial<Config> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ config: testConfig(t, { ...overrides, databaseUrl: overrides.databaseUrl ?? (await migratedDatabaseUrl(t)) }), migrate: true, logger: false });
  t.teardown(() => app.close());
  await createBook(app.db, { id: 'book', title: 'A book', origins: [bookOrigin] });
  await createBook(app.db, { id: 'other', title: 'Another book', origins: [otherBookOrigin] });
  await app.books.refresh();
  return app;
}

/** The Access-Control-* headers of a reply, by lower-case name. */
export function corsHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.toLowerCase().startsWith('access-control-')));
}

const run = promisify(execFile);

/** The environment for a child process: none of the caller's FOLIO_* settings. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('FOLIO_')) delete env[name];
  return env;
}

/**
 * The command line that runs a Node script as a plain process: tap's process tracking adds a loader to the
 * NODE_OPTIONS of every child it sees, which costs each start a second; `env -u` drops it.
 */
export function nodeCommand(script: string, args: string[]): [string, string[]] {
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, script, ...args]];
}

/** Runs the real `folio` command, as built by `npm run build` (npm test builds first), and returns its exit code and output. */
export async function folio(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const [command, argv] = nodeCommand(join(root, 'dist/cli/folio.js'), args);
    const { stdout, stderr } = await run(command, argv, {
      cwd: root,
      env: { ...cleanEnv(), FOLIO_LOG_LEVEL: 'silent', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout, stderr: e.stderr };
  }
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  logs: string[];
}

/** Starts `folio serve` (built) as a real process on a free port and waits until it listens. */
export async function spawnServer(t: Test, env: Record<string, string>, args: string[] = []): Promise<ServerProcess> {
  const [command, argv] = nodeCommand(join(root, 'dist/cli/folio.js'), ['serve', '--port', '0', ...args]);
  const child = spawn(command, argv, { cwd: root, env: { ...cleanEnv(), FOLIO_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const logs: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        logs.push(line);
        const match = /Server listening at (http\S+)"/.exec(line);
        if (match) resolve(match[1]!);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => logs.push(chunk));
    void exited.then((code) => reject(new Error(`folio serve exited with ${code} before listening:\n${logs.join('\n')}`)));
  });
  return { child, url, exited, logs };
}

/** Headers of a request from the book's page. */
export const fromBook = { origin: bookOrigin };

/** The `name=value` part of a reply's Set-Cookie, to send back as a Cookie header. */
export function cookieOf(res: { headers: Record<string, unknown> }): string {
  const header = res.headers['set-cookie'];
  const first = Array.isArray(header) ? header[0] : header;
  if (typeof first !== 'string') throw new Error('the reply set no cookie');
  return first.split(';')[0]!;
}

/** Registers `username` through the API (cookie mode) and returns the reply and its cookie. */
export async function register(app: FastifyInstance, username = 'ada', extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'POST', url: '/api/auth/register', headers: { ...fromBook, ...headers }, payload: { username, password: 'correct horse battery', ...extra } });
  return { res, cookie: res.headers['set-cookie'] ? cookieOf(res) : '' };
}

/** The tables of a test's database (the migrations' own included), by name. */
export async function tableNames(db: Database): Promise<string[]> {
  const rows =
    db.dialect === 'sqlite'
      ? await db.all<{ name: string }>(sql`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
      : await db.all<{ name: string }>(sql`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`);
  return rows.map((r) => r.name);
}

/**
 * Records the SQL (as SQLite's text) of every query the app runs from now on (until the test ends), but the origin allowlist's poll of
 * its change counter (a timer, not a request).
 */
export function recordQueries(t: Test, app: FastifyInstance): string[] {
  const queries: string[] = [];
  const { get, all, run, lookup } = app.db;
  const dialect = new SQLiteSyncDialect();
  const recorded = <F extends (query: Query, ...rest: never[]) => unknown>(f: F) =>
    ((query: Query, ...rest: never[]) => {
      const text = dialect.sqlToQuery(query.getSQL()).sql;
      if (!text.includes('change_counters')) queries.push(text);
      return f(query, ...rest);
    }) as unknown as F;
  Object.assign(app.db, { get: recorded(get), all: recorded(all), run: recorded(run), lookup: recorded(lookup) });
  t.teardown(() => void Object.assign(app.db, { get, all, run, lookup }));
  return queries;
}

/**
 * `build`, with the app's log lines (pino JSON at `info` and above) kept for reading: `logs()` parses those written
 * so far, `events(name)` those with `{event: name}` (security events).
 */
export async function buildLogged(t: Test, overrides: Partial<Config> = {}) {
  const lines: string[] = [];
  const app = await buildApp({ config: testConfig(t, overrides), migrate: true, logger: { level: 'info', stream: { write: (line: string) => void lines.push(line) } } });
  t.teardown(() => app.close());
  await createBook(app.db, { id: 'book', title: 'A book', origins: [bookOrigin] });
  await createBook(app.db, { id: 'other', title: 'Another book', origins: [otherBookOrigin] });
  await app.books.refresh();
  const logs = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { app, logs, events: (name: string) => logs().filter((l) => l.event === name) };
}
