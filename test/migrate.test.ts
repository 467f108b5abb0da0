import { readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { buildApp } from '../app.js';
import { DatabaseUrlError, ensureReachable, openDatabase } from '../db/index.js';
import { applyMigrations, migrationLock, pendingMigrations } from '../db/migrate.js';
import { PendingMigrationsError } from '../plugins/db.js';
import type { SqliteDatabase } from '../db/sqlite.js';
import { folio, postgresTestUrl, root, tableNames, testConfig, testDatabaseUrl, testDialect } from './helper.js';
import { sql } from 'drizzle-orm';

/** The migrations this build ships for the dialect under test, by name. */
const shipped = (JSON.parse(readFileSync(join(root, `db/migrations/${testDialect}/meta/_journal.json`), 'utf8')) as { entries: { tag: string }[] }).entries.map((e) => e.tag);
const sqliteOnly = { skip: testDialect !== 'sqlite' && 'SQLite only' };
const postgresOnly = { skip: testDialect !== 'postgres' && 'PostgreSQL only' };

t.test('a fresh database gets every migration once; a second run applies nothing', async (t) => {
  const db = await openDatabase(testDatabaseUrl(t));
  t.teardown(() => db.close());
  const pending = await pendingMigrations(db);
  t.same(pending, shipped);
  t.same(await applyMigrations(db), pending);
  t.same(await pendingMigrations(db), []);
  t.same(await applyMigrations(db), []);
  t.same(await tableNames(db), [
    '__drizzle_migrations',
    'answers',
    'book_origins',
    'book_tocs',
    'books',
    'change_counters',
    'course_staff',
    'courses',
    'enrolments',
    'events',
    'experiment_assignments',
    'experiments',
    'grid_summaries',
    'handoff_codes',
    'lti_contexts',
    'lti_keys',
    'lti_platforms',
    'lti_scores',
    'lti_states',
    'lti_users',
    'oidc_identities',
    'oidc_providers',
    'oidc_states',
    'page_completions',
    'password_links',
    'positions',
    'programs',
    'rate_limits',
    'sessions',
    'user_usage',
    'users',
  ]);
});

t.test('migrations of one schema take turns (an advisory lock of that schema); another schema\'s do not wait', postgresOnly, async (t) => {
  const [urlA, urlB] = [testDatabaseUrl(t), testDatabaseUrl(t)];
  const [a, b] = await Promise.all([openDatabase(urlA), openDatabase(urlB)]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  // Another process migrating schema A holds its lock.
  const holder = new pg.Client({ connectionString: postgresTestUrl });
  await holder.connect();
  t.teardown(() => holder.end());
  await holder.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [migrationLock(new URL(urlA).searchParams.get('schema')!)]);
  let aDone = false;
  const migratingA = applyMigrations(a).then((applied) => ((aDone = true), applied));
  t.same(await applyMigrations(b), shipped, 'schema B migrates while A is locked');
  t.equal(aDone, false, 'schema A waits for its lock');
  await holder.query('SELECT pg_advisory_unlock_all()');
  t.same(await migratingA, shipped, 'and migrates once it is free');
});

t.test('a database server that accepts the connection but never answers is refused within the timeout, naming it', async (t) => {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const { port } = silent.address() as { port: number };
  const db = await openDatabase(`postgres://folio@127.0.0.1:${port}/test`);
  const started = Date.now();
  await t.rejects(ensureReachable(db, 300), DatabaseUrlError);
  await t.rejects(ensureReachable(await openDatabase(`postgres://folio@127.0.0.1:${port}/test`), 300), {
    message: `cannot use the database postgres://folio@127.0.0.1:${port}/test: no answer within 0.3 s (check FOLIO_DATABASE_URL, and that the server runs)`,
  });
  t.ok(Date.now() - started < 5000);
});

t.test('folio migrate says what it applied, then that nothing is pending', async (t) => {
  const env = { FOLIO_DATABASE_URL: testDatabaseUrl(t) };
  const first = await folio(['migrate'], env);
  t.equal(first.code, 0, first.stderr);
  t.equal(first.stdout, `${env.FOLIO_DATABASE_URL}: applied ${shipped.length} migration(s):\n${shipped.map((m) => `  ${m}\n`).join('')}`);
  const second = await folio(['migrate'], env);
  t.equal(second.code, 0);
  t.match(second.stdout, /up to date, nothing to apply/);
});

t.test('the database is opened in WAL mode with synchronous=NORMAL (the group commit fsyncs the log itself), foreign keys and a busy timeout', sqliteOnly, async (t) => {
  const db = (await openDatabase(join(t.testdir(), 'folio.db'))) as SqliteDatabase;
  t.teardown(() => db.close());
  t.equal(db.sqlite.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.sqlite.pragma('synchronous', { simple: true }), 1);
  t.equal(db.sqlite.pragma('foreign_keys', { simple: true }), 1);
  t.equal(db.sqlite.pragma('busy_timeout', { simple: true }), 5000);
});

t.test('the app refuses to start on a database with pending migrations', async (t) => {
  await t.rejects(buildApp({ config: testConfig(t), logger: false }), PendingMigrationsError);
  await t.rejects(buildApp({ config: testConfig(t), logger: false }), { message: new RegExp(`pending migration\\(s\\) \\(${shipped.join(', ')}\\): run "folio migrate" first, or serve with --migrate`) });
});

t.test('folio serve on an unmigrated database exits 1 saying to run folio migrate', async (t) => {
  const res = await folio(['serve', '--port', '0'], { FOLIO_DATABASE_URL: testDatabaseUrl(t), FOLIO_SECRET: 'a-test-secret-of-at-least-32-characters' });
  t.equal(res.code, 1);
  t.match(res.stderr, /run "folio migrate" first, or serve with --migrate/);
});

t.test('the app migrates at start when told to', async (t) => {
  const app = await buildApp({ config: testConfig(t), migrate: true, logger: false });
  t.teardown(() => app.close());
  t.same(await pendingMigrations(app.db), []);
});

t.test('migration 0004 marks the newest version and attempt of work stored before it as latest', sqliteOnly, async (t) => {
  const db = (await openDatabase(join(t.testdir(), 'folio.db'))) as SqliteDatabase;
  t.teardown(() => db.close());
  await applyMigrations(db);
  db.sqlite.exec(`INSERT INTO books (id, title, created_at) VALUES ('b', 'B', 0);
    INSERT INTO users (id, created_at, updated_at) VALUES ('u', 0, 0);
    INSERT INTO programs (user_id, book_id, activity, version, code, saved_at) VALUES ('u', 'b', 'a1', 1, 'x', 0), ('u', 'b', 'a1', 2, 'y', 0), ('u', 'b', 'a2', 1, 'z', 0);
    INSERT INTO answers (user_id, book_id, question, attempt, kind, answer, saved_at) VALUES ('u', 'b', 'q1', 1, 'poll', '"a"', 0), ('u', 'b', 'q1', 2, 'poll', '"b"', 0);`);
  const statements = readFileSync(join(root, 'db/migrations/sqlite/0004_latest_rows.sql'), 'utf8').split('--> statement-breakpoint');
  for (const statement of statements.filter((s) => s.includes('UPDATE'))) db.sqlite.exec(statement);
  t.same((await db.all(sql`SELECT activity, version FROM programs WHERE latest = 1 ORDER BY activity`)), [
    { activity: 'a1', version: 2 },
    { activity: 'a2', version: 1 },
  ]);
  t.same((await db.all(sql`SELECT question, attempt FROM answers WHERE latest = 1`)), [{ question: 'q1', attempt: 2 }]);
});

t.test('migration 0005 numbers the origins stored before it in the order they were added', sqliteOnly, async (t) => {
  const db = (await openDatabase(join(t.testdir(), 'folio.db'))) as SqliteDatabase;
  t.teardown(() => db.close());
  await applyMigrations(db);
  db.sqlite.exec(`INSERT INTO books (id, title, created_at) VALUES ('b', 'B', 0);
    INSERT INTO book_origins (book_id, origin) VALUES ('b', 'https://z.example'), ('b', 'https://a.example');`);
  const statements = readFileSync(join(root, 'db/migrations/sqlite/0005_rate_limits.sql'), 'utf8').split('--> statement-breakpoint');
  for (const statement of statements.filter((s) => s.includes('UPDATE'))) db.sqlite.exec(statement);
  t.same(await db.all(sql`SELECT origin FROM book_origins ORDER BY position`), [{ origin: 'https://z.example' }, { origin: 'https://a.example' }]);
});
