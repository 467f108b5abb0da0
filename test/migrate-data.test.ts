import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t, { type Test } from 'tap';
import { buildApp } from '../app.js';
import { runMigrateData } from '../cli/migrate-data.js';
import { createBook, importToc } from '../db/books.js';
import { addStaff, createCourse, enrol } from '../db/courses.js';
import { openDatabase } from '../db/index.js';
import { addPlatform } from '../db/lti.js';
import { applyMigrations } from '../db/migrate.js';
import { rotateKeys, signingKey } from '../lib/lti-keys.js';
import { openSqlite } from '../db/sqlite.js';
import { bookOrigin, folio, fromBook, postgresSchemaUrl, postgresTestUrl, register, root, testConfig, testSecret } from './helper.js';
import { sql } from 'drizzle-orm';

// Always SQLite into PostgreSQL, whatever FOLIO_TEST_DATABASE says: the source is a file, the target a schema of the test's own.

/** Every Folio table with its primary key columns: rows are compared in that order. */
const primaryKeys: Record<string, string[]> = {
  answers: ['id'],
  book_origins: ['book_id', 'origin'],
  book_tocs: ['book_id'],
  books: ['id'],
  change_counters: ['name'],
  course_staff: ['course_id', 'user_id'],
  courses: ['id'],
  enrolments: ['course_id', 'user_id'],
  events: ['id'],
  experiment_assignments: ['experiment_id', 'user_id'],
  experiments: ['id'],
  grid_summaries: ['user_id', 'book_id'],
  handoff_codes: ['id'],
  lti_contexts: ['issuer', 'deployment_id', 'context_id', 'book_id'],
  lti_keys: ['kid'],
  lti_platforms: ['issuer', 'client_id'],
  lti_scores: ['user_id', 'lineitem'],
  lti_states: ['id'],
  lti_users: ['issuer', 'sub'],
  oidc_identities: ['issuer', 'sub'],
  oidc_providers: ['id'],
  oidc_states: ['id'],
  page_completions: ['user_id', 'book_id', 'page'],
  password_links: ['id'],
  positions: ['user_id', 'book_id'],
  programs: ['id'],
  rate_limits: ['key'],
  sessions: ['id'],
  user_usage: ['user_id'],
  users: ['id'],
};
const tableNames = Object.keys(primaryKeys);
/** How many migrations PostgreSQL's schema has: the copy applies them all to an empty target first. */
const postgresMigrations = (JSON.parse(readFileSync(join(root, 'db/migrations/postgres/meta/_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;

/** The count table the filled database gives, in the order the tables are copied (parents first). */
const filledCounts = [
  ['books', 2],
  ['book_origins', 3],
  ['book_tocs', 1],
  // 'origins' (the book registry's version) and 'auth' (SQLite's triggers count session and user changes: migration 0006).
  ['change_counters', 2],
  ['courses', 1],
  ['experiments', 1],
  ['lti_contexts', 1],
  ['lti_keys', 2],
  ['lti_platforms', 1],
  ['lti_states', 1],
  ['oidc_providers', 1],
  // ada's password attempts per client, per username from that client and per username; one anonymous start.
  ['rate_limits', 4],
  ['users', 2],
  ['answers', 4],
  ['course_staff', 1],
  ['enrolments', 1],
  ['events', 3],
  ['experiment_assignments', 1],
  // the grid rows of ada's and the anonymous student's work in the book (db/work.ts keeps them)
  ['grid_summaries', 2],
  ['handoff_codes', 1],
  ['lti_scores', 1],
  ['lti_users', 1],
  ['oidc_identities', 1],
  ['oidc_states', 1],
  ['page_completions', 3],
  ['password_links', 1],
  ['positions', 2],
  ['programs', 6],
  ['sessions', 3],
  ['user_usage', 2],
] as const;
const filledRows = filledCounts.reduce((sum, [, n]) => sum + n, 0);

interface Filled {
  file: string;
  adaCookie: string;
  adaToken: string;
  anonCookie: string;
  /** What the SQLite server answered before the move. */
  adaState: unknown;
  anonState: unknown;
}

async function sqliteApp(t: Test, file: string): Promise<FastifyInstance> {
  const app = await buildApp({ config: testConfig(t, { databaseUrl: file, secret: testSecret }), migrate: true, logger: false });
  t.teardown(() => app.close());
  return app;
}

async function put(app: FastifyInstance, url: string, headers: Record<string, string>, payload: object, method: 'PUT' | 'POST' = 'PUT') {
  const res = await app.inject({ method, url: `/api/books/book/${url}`, headers, payload });
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return res;
}

/**
 * A SQLite database filled through the real API: two books, a registered student (cookie and token sessions) and an
 * anonymous one, each with program versions, answer attempts, events, a position and completed pages. The app is
 * closed before it is returned.
 */
async function filledSqlite(t: Test): Promise<Filled> {
  const file = join(t.testdir(), 'folio.db');
  const app = await sqliteApp(t, file);
  await createBook(app.db, { id: 'book', title: 'A book', origins: [bookOrigin, 'https://mirror.book.example'] });
  await createBook(app.db, { id: 'other', title: 'Another book', origins: ['https://other.example'] });
  await importToc(app.db, 'book', { chapters: [{ id: 'ch1', title: 'One', pages: [{ id: 'ch1/intro', title: 'Intro', questions: [{ id: 'q1', kind: 'mchoice', points: 1 }], activities: [{ id: 'ac1' }] }] }] });
  await app.books.refresh();

  const { cookie: adaCookie } = await register(app, 'ada', { name: 'Ada L.', email: 'ada@example.org', researchConsent: true });
  const ada = { ...fromBook, cookie: adaCookie };
  for (const code of ['print(1)', 'print(2)', 'print("three")']) await put(app, 'programs/ac1', ada, { code, language: 'python', page: 'ch1/intro' });
  await put(app, 'programs/ac2', ada, { code: 'x = 1\n\ty = "ü"\n' });
  await put(app, 'answers/q1', ada, { kind: 'mchoice', answer: ['a'], correct: false, page: 'ch1/intro' }, 'POST');
  await put(app, 'answers/q1', ada, { kind: 'mchoice', answer: ['b'], correct: true, page: 'ch1/intro' }, 'POST');
  await put(app, 'answers/q2', ada, { kind: 'fitb', answer: ['42', 'forty-two'], score: 0.75, page: 'ch1/intro' }, 'POST');
  await put(app, 'events', ada, { events: [{ type: 'run', target: 'ac1', page: 'ch1/intro', data: { ms: 12 }, clientTime: 1_790_000_000_123 }, { type: 'video:play', page: 'ch1/intro' }] }, 'POST');
  await put(app, 'position', ada, { page: 'ch1/intro', scroll: 0.375 });
  await put(app, 'pages/complete', ada, { page: 'ch1/intro', complete: true });
  await put(app, 'pages/complete', ada, { page: 'ch2', complete: true });
  const login = await app.inject({ method: 'POST', url: '/api/auth/login', headers: fromBook, payload: { username: 'ada', password: 'correct horse battery', mode: 'token' } });
  const adaToken = (login.json() as { token: string }).token;
  const adaId = (await app.inject({ method: 'GET', url: '/api/auth/me', headers: ada })).json().user.id as string;
  await createCourse(app.db, { id: 'c1', bookId: 'book', title: 'A course', term: '2026 autumn', startsAt: 1_790_000_000_000 });
  await enrol(app.db, 'c1', [adaId], 'code');
  await addStaff(app.db, 'c1', adaId, 'ta');
  await addPlatform(app.db, { issuer: 'https://lms.example.edu', clientId: 'folio', authUrl: 'https://lms.example.edu/auth', tokenUrl: 'https://lms.example.edu/token', jwksUrl: 'https://lms.example.edu/jwks', deployments: ['d1', 'd2'] });
  // A signing key and a retired one.
  await signingKey(app.db, testSecret);
  await rotateKeys(app.db, testSecret);
  await app.db.run(sql`INSERT INTO password_links (id, user_id, expires_at, created_at) VALUES ('link-hash', ${adaId}, 1790000000000, 1780000000000)`);
  await app.db.run(sql`INSERT INTO experiments (id, book_id, variants, salt, courses, starts_at, ends_at, consent_only, stopped_at, created_at) VALUES ('hints', 'book', '[{"name":"control","weight":1},{"name":"hint","weight":2}]', '0123456789abcdef0123456789abcdef', '["c1"]', 1780000000000, NULL, 1, NULL, 1780000000000)`);
  await app.db.run(sql`INSERT INTO experiment_assignments (experiment_id, user_id, book_id, variant, page, exposed_at, replaced_variant) VALUES ('hints', ${adaId}, 'book', 'hint', 'ch1/intro', 1790000000000, 'control')`);
  await app.db.run(sql`INSERT INTO handoff_codes (id, user_id, book_id, expires_at, created_at) VALUES ('handoff-hash', ${adaId}, 'book', 1790000000000, 1789999940000)`);
  await app.db.run(sql`INSERT INTO lti_states (id, nonce, issuer, client_id, target_link_uri, storage_target, expires_at, created_at) VALUES ('state-hash', 'n1', 'https://lms.example.edu', 'folio', 'https://book.example/ch1/intro.html', '_parent', 1790000300000, 1790000000000)`);
  await app.db.run(sql`INSERT INTO lti_users (issuer, sub, user_id, created_at) VALUES ('https://lms.example.edu', 'sub-ada', ${adaId}, 1790000000000)`);
  await app.db.run(sql`INSERT INTO oidc_providers (id, issuer, client_id, client_secret, title, metadata, allowed_domains, create_accounts, created_at) VALUES ('uni', 'https://idp.example.edu', 'folio', 'v1.sealed', 'University login', '{"issuer":"https://idp.example.edu"}', '["example.edu"]', 0, 1790000000000)`);
  await app.db.run(sql`INSERT INTO oidc_identities (issuer, sub, user_id, provider_id, email, email_verified, linked_at) VALUES ('https://idp.example.edu', 'sub-ada', ${adaId}, 'uni', 'ada@example.edu', 1, 1790000000000)`);
  await app.db.run(sql`INSERT INTO oidc_states (id, provider_id, nonce, code_verifier, book_id, return_url, mode, user_id, expires_at, created_at) VALUES ('oidc-state-hash', 'uni', 'n2', 'verifier', 'book', 'https://book.example/ch1/intro.html', 'link', ${adaId}, 1790000600000, 1790000000000)`);
  await app.db.run(sql`INSERT INTO lti_contexts (issuer, deployment_id, context_id, book_id, course_id, created_at) VALUES ('https://lms.example.edu', 'd1', 'ctx1', 'book', 'c1', 1790000000000)`);
  await app.db.run(sql`INSERT INTO lti_scores (user_id, lineitem, issuer, client_id, deployment_id, sub, resource_link_id, scopes, book_id, page, course_id, score_given, score_maximum, activity_progress, grading_progress, changed_at, pending, attempts, next_attempt_at, last_error, sent_at, created_at) VALUES (${adaId}, 'https://lms.example.edu/lineitems/7', 'https://lms.example.edu', 'folio', 'd1', 'sub-ada', 'rl1', 'https://purl.imsglobal.org/spec/lti-ags/scope/score', 'book', 'ch1/intro', 'c1', 1.5, 2, 'Started', 'FullyGraded', 1790000000000, 1, 2, 1790000060000, 'the platform answered 503', NULL, 1789999000000)`);

  const first = await put(app, 'programs/ac1', fromBook, { code: 'anonymous = True', page: 'ch1/intro' });
  const anonCookie = String(first.headers['set-cookie']).split(';')[0]!;
  const anon = { ...fromBook, cookie: anonCookie };
  await put(app, 'programs/ac1', anon, { code: 'anonymous = False', page: 'ch1/intro' });
  await put(app, 'answers/q3', anon, { kind: 'shortanswer', answer: 'a "quoted" answer, with a comma\nand a line', page: 'ch1/intro' }, 'POST');
  await put(app, 'events', anon, { events: [{ type: 'hint', target: 'q3', data: null }] }, 'POST');
  await put(app, 'position', anon, { page: 'ch2' });
  await put(app, 'pages/complete', anon, { page: 'ch1/intro', complete: true });

  const adaState = (await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch1/intro', headers: ada })).json();
  const anonState = (await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch1/intro', headers: anon })).json();
  await app.close();
  return { file, adaCookie, adaToken, anonCookie, adaState, anonState };
}

/** Every row of a table in the SQLite file, ordered by primary key. */
function sqliteRows(file: string, table: string): Record<string, unknown>[] {
  const db = new Database(file, { readonly: true });
  try {
    return sortByKey(table, db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[]);
  } finally {
    db.close();
  }
}

/** Every row of a table in PostgreSQL, ordered by primary key (compared in JS: PostgreSQL's text collation is not SQLite's). */
async function postgresRows(url: string, table: string): Promise<Record<string, unknown>[]> {
  const db = await openDatabase(url);
  try {
    return sortByKey(table, await db.all<Record<string, unknown>>(sql`SELECT * FROM ${sql.raw(table)}`));
  } finally {
    await db.close();
  }
}

function sortByKey(table: string, rows: Record<string, unknown>[]): Record<string, unknown>[] {
  const key = (row: Record<string, unknown>) => primaryKeys[table]!.map((c) => row[c]);
  return rows.sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] as string | number) < (y[i] as string | number) ? -1 : 1;
    return 0;
  });
}

async function allPostgresRows(url: string): Promise<Record<string, Record<string, unknown>[]>> {
  return Object.fromEntries(await Promise.all(tableNames.map(async (table) => [table, await postgresRows(url, table)])));
}

function countTable(counts: readonly (readonly [string, number])[]): string {
  const width = Math.max(5, ...counts.map(([table]) => table.length));
  return `${'TABLE'.padEnd(width)}  SOURCE  TARGET\n${counts.map(([table, n]) => `${table.padEnd(width)}  ${String(n).padStart(6)}  ${String(n).padStart(6)}\n`).join('')}`;
}

/** A Folio app on the PostgreSQL database the data was moved to, with the secret the SQLite server had. */
async function postgresApp(t: Test, url: string): Promise<FastifyInstance> {
  const app = await buildApp({ config: testConfig(t, { databaseUrl: url, secret: testSecret }), logger: false });
  t.teardown(() => app.close());
  return app;
}

t.test('migrate-data copies every row of every table unchanged and prints the row counts of both sides', async (t) => {
  const { file } = await filledSqlite(t);
  const url = postgresSchemaUrl(t);
  const res = await folio(['migrate-data', '--from', `sqlite:${file}`, '--to', url]);
  t.equal(res.code, 0, res.stderr);
  t.equal(res.stdout, '');
  t.equal(
    res.stderr,
    `copying ${file} to ${url} (migrated first: ${postgresMigrations} migration(s) applied)\n` +
      filledCounts.map(([table, n]) => `copied ${n} row(s) of ${table}\n`).join('') +
      countTable(filledCounts) +
      `copied ${filledRows} row(s) of ${filledCounts.length} tables from ${file} to ${url}; every table has as many rows on both sides\n`,
  );
  const db = new Database(file, { readonly: true });
  const sqliteTables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('sqlite_sequence', '__drizzle_migrations') ORDER BY name`).pluck().all();
  db.close();
  t.same(sqliteTables, tableNames, 'the test compares every table of the file');
  for (const table of tableNames) {
    const rows = sqliteRows(file, table);
    t.ok(rows.length > 0, `${table} has rows to compare`);
    t.strictSame(await postgresRows(url, table), rows, table);
  }
});

t.test('a table of several batches (2,500 events) is copied whole and in order', async (t) => {
  const { file } = await filledSqlite(t);
  const db = new Database(file);
  const user = db.prepare(`SELECT id FROM users WHERE username = 'ada'`).pluck().get();
  db.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
     INSERT INTO events (user_id, book_id, type, page, data, server_time) SELECT ?, 'book', 'scroll', 'ch' || i, '{"i":' || i || '}', 1790000000000 + i FROM n`,
  ).run(user);
  db.close();
  const url = postgresSchemaUrl(t);
  const res = await folio(['migrate-data', '--from', file, '--to', url]);
  t.equal(res.code, 0, res.stderr);
  t.match(res.stderr, '\ncopied 2503 row(s) of events\n');
  t.strictSame(await postgresRows(url, 'events'), sqliteRows(file, 'events'));
});

t.test('a session cookie and a token from the SQLite server work on PostgreSQL with the same secret, and page state is equal', async (t) => {
  const filled = await filledSqlite(t);
  const url = postgresSchemaUrl(t);
  t.equal((await folio(['migrate-data', '--from', filled.file, '--to', url])).code, 0);
  const app = await postgresApp(t, url);
  const ada = { ...fromBook, cookie: filled.adaCookie };
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: ada });
  t.equal(me.statusCode, 200);
  t.match(me.json(), { user: { username: 'ada', name: 'Ada L.', email: 'ada@example.org', researchConsent: true, anonymous: false } });
  const state = await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch1/intro', headers: ada });
  t.equal(state.statusCode, 200);
  t.strictSame(JSON.parse(state.body), filled.adaState);
  const byToken = await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch1/intro', headers: { ...fromBook, authorization: `Bearer ${filled.adaToken}` } });
  t.strictSame(JSON.parse(byToken.body), filled.adaState);
  const anon = await app.inject({ method: 'GET', url: '/api/books/book/state?page=ch1/intro', headers: { ...fromBook, cookie: filled.anonCookie } });
  t.strictSame(JSON.parse(anon.body), filled.anonState);
});

t.test('saves after the move get the next ids, after the highest copied', async (t) => {
  const { file, adaCookie } = await filledSqlite(t);
  const url = postgresSchemaUrl(t);
  t.equal((await folio(['migrate-data', '--from', file, '--to', url])).code, 0);
  const app = await postgresApp(t, url);
  const ada = { ...fromBook, cookie: adaCookie };
  t.same((await put(app, 'programs/ac1', ada, { code: 'print(4)' })).json().version, 4);
  t.equal((await put(app, 'answers/q1', ada, { kind: 'mchoice', answer: ['c'] }, 'POST')).statusCode, 201);
  t.equal((await put(app, 'events', ada, { events: [{ type: 'run' }] }, 'POST')).statusCode, 202);
  const newest = async (table: string) => (await app.db.get<{ id: number }>(sql`SELECT MAX(id) AS id FROM ${sql.raw(table)}`))!.id;
  t.same({ programs: await newest('programs'), answers: await newest('answers'), events: await newest('events') }, { programs: 7, answers: 5, events: 4 });
});

t.test('ids of rows deleted from SQLite are not handed out again after the move', async (t) => {
  const { file, adaCookie } = await filledSqlite(t);
  const db = new Database(file);
  db.prepare('DELETE FROM events WHERE id = 3').run();
  db.close();
  const url = postgresSchemaUrl(t);
  t.equal((await folio(['migrate-data', '--from', file, '--to', url])).code, 0);
  const app = await postgresApp(t, url);
  await put(app, 'events', { ...fromBook, cookie: adaCookie }, { events: [{ type: 'run' }] }, 'POST');
  t.same(await app.db.all(sql`SELECT id, type FROM events ORDER BY id`), [
    { id: 1, type: 'run' },
    { id: 2, type: 'video:play' },
    { id: 4, type: 'run' },
  ]);
});

t.test('a target that has rows is refused, naming its tables, and nothing in it changes', async (t) => {
  // The target first: testConfig empties the test's folder (t.testdir()), where the SQLite file is made next.
  const url = postgresSchemaUrl(t);
  const app = await buildApp({ config: testConfig(t, { databaseUrl: url, secret: testSecret }), migrate: true, logger: false });
  await createBook(app.db, { id: 'own', title: 'Already here', origins: ['https://own.example'] });
  await app.close();
  const { file } = await filledSqlite(t);
  const before = await allPostgresRows(url);
  const res = await folio(['migrate-data', '--from', file, '--to', url]);
  t.equal(res.code, 1);
  t.equal(res.stderr, 'folio: the target already has rows in books, book_origins, change_counters: migrate-data copies into an empty database only (nothing was written)\n');
  t.strictSame(await allPostgresRows(url), before);
  t.same(before.books!.map((b) => b.id), ['own']);
});

t.test('a source with pending migrations is refused, saying to run folio migrate on it, and the target is not touched', async (t) => {
  const file = join(t.testdir(), 'old.db');
  new Database(file).close();
  const url = postgresSchemaUrl(t);
  const shipped = (JSON.parse(readFileSync(join(root, 'db/migrations/sqlite/meta/_journal.json'), 'utf8')) as { entries: { tag: string }[] }).entries.map((e) => e.tag);
  const res = await folio(['migrate-data', '--from', file, '--to', url]);
  t.equal(res.code, 1);
  t.equal(res.stderr, `folio: the source ${file} has ${shipped.length} pending migration(s) (${shipped.join(', ')}): run "folio migrate --database ${file}" first\n`);
  const schema = new URL(url).searchParams.get('schema');
  const db = await openDatabase(postgresTestUrl);
  t.teardown(() => db.close());
  t.same(await db.all(sql`SELECT schema_name FROM information_schema.schemata WHERE schema_name = ${schema}`), []);
});

t.test('a value PostgreSQL cannot store fails the copy, naming the row, and leaves the target empty', async (t) => {
  const file = join(t.testdir(), 'folio.db');
  const source = openSqlite(file);
  await applyMigrations(source);
  source.sqlite.exec(`INSERT INTO books (id, title, created_at) VALUES ('b', 'B', 0);
    INSERT INTO users (id, created_at, updated_at) VALUES ('u', 0, 0);
    INSERT INTO programs (user_id, book_id, activity, version, code, saved_at, latest) VALUES ('u', 'b', 'a1', 1, 'fine', 0, 0), ('u', 'b', 'a1', 2, 'nul' || char(0) || 'here', 0, 1);`);
  await source.close();
  const url = postgresSchemaUrl(t);
  const res = await folio(['migrate-data', '--from', file, '--to', url]);
  t.equal(res.code, 1);
  t.ok(
    res.stderr.endsWith('\nfolio: programs (id=2): code holds a NUL character (\\u0000), which PostgreSQL text cannot hold; correct that row in the SQLite file and run again (nothing was copied)\n'),
    res.stderr,
  );
  const after = await allPostgresRows(url);
  t.same(Object.entries(after).filter(([, rows]) => rows.length > 0), [], 'every table of the target is empty');
});

t.test('a wrong kind of URL, a missing file or a missing option is refused with exit code 2', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'folio.db');
  new Database(file).close();
  const missing = join(dir, 'missing.db');
  const cases: [string[], string][] = [
    [['--from', postgresTestUrl, '--to', postgresTestUrl], 'folio: --from takes a SQLite file (sqlite:PATH or a path), not a PostgreSQL URL: the copy goes from SQLite to PostgreSQL\n'],
    [['--from', 'mysql://db/folio', '--to', postgresTestUrl], 'folio: --from takes a SQLite file (sqlite:PATH or a path), not "mysql://db/folio"\n'],
    [['--from', `sqlite:${missing}`, '--to', postgresTestUrl], `folio: --from: there is no file ${missing} (the SQLite database is FOLIO_DATABASE_URL of the server, default ./data/folio.db)\n`],
    [['--from', file, '--to', missing], `folio: --to takes a PostgreSQL URL (postgres://user:password@host:port/database[?schema=name]), not ${JSON.stringify(missing)}\n`],
    [['--from', file, '--to', `${postgresTestUrl}?schema=1bad`], 'folio: --to: schema="1bad" is not a plain identifier (letters, digits and _, not starting with a digit)\n'],
  ];
  for (const [args, stderr] of cases) {
    const res = await folio(['migrate-data', ...args]);
    t.equal(res.code, 2, args.join(' '));
    t.equal(res.stderr, stderr, args.join(' '));
  }
  const noTarget = await folio(['migrate-data', '--from', file]);
  t.equal(noTarget.code, 2);
  t.match(noTarget.stderr, "error: required option '--to <url>' not specified");
});

t.test('migrate-data --help says what it copies, that the target must be empty and that servers must be stopped', async (t) => {
  const res = await folio(['migrate-data', '--help']);
  t.equal(res.code, 0);
  t.match(res.stdout, /^Usage: folio migrate-data \[options\]\n/);
  t.match(res.stdout, '--from <sqlite>');
  t.match(res.stdout, '--to <url>');
  t.match(res.stdout, 'Stop every Folio server on both databases first');
  t.match(res.stdout, 'must be empty');
  t.match(res.stdout, 'FOLIO_SECRET');
  const top = await folio(['--help']);
  t.match(top.stdout, /\n  migrate-data \[options\] +copy a SQLite database into an empty PostgreSQL\n/);
});

t.test('on a terminal, migrate-data draws one progress bar over the rows of all tables', async (t) => {
  const { file } = await filledSqlite(t);
  const stderr = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
  let drawn = '';
  stderr.on('data', (chunk: Buffer) => (drawn += chunk.toString()));
  const result = await runMigrateData(file, postgresSchemaUrl(t), stderr);
  t.equal(result.rows, filledRows);
  t.match(drawn, new RegExp(`copying .* 100% \\| ${filledRows}/${filledRows} rows`));
  t.notMatch(drawn, /copied \d+ row\(s\) of books/, 'no line per table on a terminal');
  t.match(drawn, countTable(filledCounts));
});

t.test('the summary says to serve with the secret the SQLite server generated, when there is one', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'folio.db');
  const source = await openDatabase(file);
  await applyMigrations(source);
  await source.close();
  writeFileSync(join(dir, 'folio.secret'), `${testSecret}\n`);
  const res = await folio(['migrate-data', '--from', file, '--to', postgresSchemaUrl(t)]);
  t.equal(res.code, 0, res.stderr);
  const note = `serve from PostgreSQL with FOLIO_SECRET set to the secret in ${join(dir, 'folio.secret')}, or every session ends and every research pseudonym changes\n`;
  t.ok(res.stderr.endsWith(`rows on both sides\n${note}`), res.stderr);
});
