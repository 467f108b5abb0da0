import { sql } from 'drizzle-orm';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openDatabase, type Database } from '../db/index.js';
import { coursesMigration } from '../db/migrate.js';
import type { openPostgres } from '../db/postgres.js';
import type { SqliteDatabase } from '../db/sqlite.js';
import { buildLogged, folio, root, testDatabaseUrl, testDialect } from './helper.js';

/**
 * The migration that retires the server-wide instructor role (sqlite 0010_courses, postgres 0004_courses), on a
 * database as the version before it left it: what it makes, and what `folio migrate` and `folio serve --migrate` say.
 */

const migration = coursesMigration[testDialect];
/** The shipped migrations from the courses migration on: what `folio migrate` applies to a database just before it. */
const shipped = (JSON.parse(readFileSync(join(root, `db/migrations/${testDialect}/meta/_journal.json`), 'utf8')) as { entries: { tag: string }[] }).entries.map((e) => e.tag);
const fromCourses = shipped.slice(shipped.indexOf(migration));

/** Migrates a new database up to (not including) the courses migration, with drizzle's migrator over a copy of the folder without it. */
async function databaseBeforeCourses(t: Test): Promise<{ url: string; db: Database }> {
  // First: on SQLite it makes the test's folder (t.testdir() empties it).
  const url = testDatabaseUrl(t);
  mkdirSync(t.testdirName, { recursive: true });
  const folder = join(t.testdirName, 'migrations-before-courses');
  cpSync(join(root, `db/migrations/${testDialect}`), folder, { recursive: true });
  const journalFile = join(folder, 'meta/_journal.json');
  const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((e) => e.tag === migration);
  t.ok(at > 0, `${migration} is shipped`);
  writeFileSync(journalFile, JSON.stringify({ ...journal, entries: journal.entries.slice(0, at) }));
  const db = await openDatabase(url);
  t.teardown(() => db.close());
  const migrationsTable = '__drizzle_migrations';
  if (db.dialect === 'sqlite') {
    const [{ migrate }, { drizzle }] = await Promise.all([import('drizzle-orm/better-sqlite3/migrator'), import('drizzle-orm/better-sqlite3')]);
    migrate(drizzle((db as SqliteDatabase).sqlite), { migrationsFolder: folder, migrationsTable });
  } else {
    const pg = db as ReturnType<typeof openPostgres>;
    const [{ migrate }, { drizzle }] = await Promise.all([import('drizzle-orm/node-postgres/migrator'), import('drizzle-orm/node-postgres')]);
    const client = await pg.pool.connect();
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${pg.schema!}"`);
      await migrate(drizzle(client), { migrationsFolder: folder, migrationsTable, migrationsSchema: pg.schema! });
    } finally {
      client.release();
    }
  }
  return { url, db };
}

/**
 * What a Folio before courses held: an instructor, a book with the work of a registered student and of an anonymous
 * one, a registered student without work, and a book without work.
 */
async function oldData(db: Database): Promise<void> {
  const user = (id: string, username: string | null, role: string, anonymous: number) =>
    db.run(
      sql`INSERT INTO users (id, username, username_key, name, email, role, password_hash, research_consent, anonymous, created_at, updated_at)
          VALUES (${id}, ${username}, ${username?.toLowerCase() ?? null}, NULL, NULL, ${role}, ${anonymous ? null : 'scrypt$x'}, 0, ${anonymous}, 1, 1)`,
    );
  await db.run(sql`INSERT INTO books (id, title, created_at) VALUES ('b1', 'Book one', 1), ('b2', 'Book two', 1)`);
  await user('u-prof', 'prof', 'instructor', 0);
  await user('u-ada', 'ada', 'student', 0);
  await user('u-anon', null, 'student', 1);
  await user('u-bob', 'bob', 'student', 0);
  await user('u-root', 'root', 'admin', 0);
  await db.run(sql`INSERT INTO positions (user_id, book_id, page, scroll, updated_at) VALUES ('u-ada', 'b1', 'p1', NULL, 2), ('u-anon', 'b1', 'p1', NULL, 2)`);
  await db.run(sql`INSERT INTO page_completions (user_id, book_id, page, completed_at) VALUES ('u-ada', 'b1', 'p1', 3)`);
}

/** The default course the migration made of b1, and what it holds. */
async function assertMigrated(t: Test, db: Database): Promise<string> {
  const courses = await db.all<Record<string, unknown>>(sql`SELECT id, book_id, title, open, join_code FROM courses`);
  t.match(courses, [{ id: 'b1', book_id: 'b1', title: 'Book one', open: Number(1) }], 'one default course, for the book with work only');
  t.equal(courses.length, 1);
  t.same(await db.all(sql`SELECT course_id, user_id, role FROM course_staff`), [{ course_id: 'b1', user_id: 'u-prof', role: 'instructor' }]);
  t.same(await db.all(sql`SELECT course_id, user_id, via FROM enrolments`), [{ course_id: 'b1', user_id: 'u-ada', via: 'migration' }], 'the registered student with work, not the anonymous one nor bob');
  t.same(await db.all(sql`SELECT id, role FROM users ORDER BY id`), [
    { id: 'u-ada', role: 'student' },
    { id: 'u-anon', role: 'student' },
    { id: 'u-bob', role: 'student' },
    { id: 'u-prof', role: 'student' },
    { id: 'u-root', role: 'admin' },
  ], 'the instructor is a student now; the admin stays admin');
  return String(courses[0]!.join_code);
}

t.test(`folio migrate applies ${migration} and prints each default course with its book, join code, staff and students`, async (t) => {
  const { url, db } = await databaseBeforeCourses(t);
  await oldData(db);
  const res = await folio(['migrate'], { FOLIO_DATABASE_URL: url });
  t.equal(res.code, 0, res.stderr);
  const code = await assertMigrated(t, db);
  t.match(code, /^[0-9A-Z]{8,}$/);
  t.equal(
    res.stdout,
    `${url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')}: applied ${fromCourses.length} migration(s):\n${fromCourses.map((m) => `  ${m}\n`).join('')}` +
      `migration ${migration} retired the server-wide instructor role (instructors are staff of courses now): a default course per book with work\n` +
      `  course b1 (book b1): join code ${code}; staff: prof; 1 student(s) enrolled\n` +
      '  (see "folio courses list"; add staff with "folio courses staff add COURSE USER --role instructor|ta")\n',
  );
  const again = await folio(['migrate'], { FOLIO_DATABASE_URL: url });
  t.match(again.stdout, /up to date, nothing to apply\n$/);
  t.notMatch(again.stdout, /retired/, 'said once, when applied');
});

t.test(`folio serve --migrate logs what ${migration} did`, async (t) => {
  const { url, db } = await databaseBeforeCourses(t);
  await oldData(db);
  const { events } = await buildLogged(t, { databaseUrl: url });
  const code = await assertMigrated(t, db);
  const [logged] = events('instructor_role_retired');
  t.match(logged, {
    level: 30,
    migration,
    courses: [{ id: 'b1', bookId: 'b1', joinCode: code, staff: ['prof'], students: 1 }],
    msg: `migration ${migration} retired the server-wide instructor role: 1 default course(s) b1 (book b1, join code ${code}, staff: prof, 1 student(s))`,
  });
});

t.test(`on a database without work, ${migration} makes no course and folio migrate says so; a new database is told nothing`, async (t) => {
  const { url, db } = await databaseBeforeCourses(t);
  await db.run(sql`INSERT INTO books (id, title, created_at) VALUES ('b2', 'Book two', 1)`);
  const res = await folio(['migrate'], { FOLIO_DATABASE_URL: url });
  t.equal(res.code, 0, res.stderr);
  t.match(
    res.stdout,
    new RegExp(
      `  ${fromCourses.at(-1)}\\nmigration ${migration} retired the server-wide instructor role \\(instructors are staff of courses now\\):\\n` +
        '  no book had work, so no default course was made; former instructors are students now\\n$',
    ),
  );
  t.same(await db.all(sql`SELECT id FROM courses`), []);
  const fresh = await folio(['migrate'], { FOLIO_DATABASE_URL: testDatabaseUrl(t) });
  t.equal(fresh.code, 0, fresh.stderr);
  t.notMatch(fresh.stdout, /retired/);
});
