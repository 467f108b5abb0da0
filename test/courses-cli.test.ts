import { sql } from 'drizzle-orm';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createBook } from '../db/books.js';
import { openDatabase, type Database } from '../db/index.js';
import { createAccount } from '../db/users.js';
import { folio, migratedDatabaseUrl } from './helper.js';

/** `folio courses …` and `folio users password-link` against a database of the test's own. */

interface Setup {
  env: Record<string, string>;
  db: Database;
  /** Runs folio on the test's database. */
  run: (...args: string[]) => ReturnType<typeof folio>;
  /** Makes an account (with a password hash), its id. */
  account: (username: string, extra?: { name?: string; email?: string }) => Promise<string>;
}

/** A migrated database with the book `b` and the course `c1` on it. */
async function setUp(t: Test, { course = true } = {}): Promise<Setup> {
  const env = { FOLIO_DATABASE_URL: await migratedDatabaseUrl(t) };
  // The test's folder, for its files (on SQLite migratedDatabaseUrl made it already, with the database in it).
  mkdirSync(t.testdirName, { recursive: true });
  const db = await openDatabase(env.FOLIO_DATABASE_URL);
  t.teardown(() => db.close());
  await createBook(db, { id: 'b', title: 'B', origins: [] });
  const run = (...args: string[]) => folio(args, env);
  if (course) {
    const added = await run('courses', 'add', 'c1', '--book', 'b', '--title', 'Course one');
    t.equal(added.code, 0, added.stderr);
  }
  const account = async (username: string, extra: { name?: string; email?: string } = {}) => (await createAccount(db, { username, passwordHash: 'scrypt$stored', ...extra })).id;
  return { env, db, run, account };
}

const joinCodeOf = async (db: Database, id: string) => (await db.get<{ join_code: string }>(sql`SELECT join_code FROM courses WHERE id = ${id}`))!.join_code;

t.test('courses add makes an open course on a book with a join code, and prints it', async (t) => {
  const { run, db } = await setUp(t, { course: false });
  const res = await run('courses', 'add', 'cs101-2026', '--book', 'b', '--title', 'Intro to CS', '--term', 'Autumn 2026', '--starts', '2026-09-01', '--ends', '2027-01-31');
  t.equal(res.code, 0, res.stderr);
  const stored = await db.get<Record<string, unknown>>(sql`SELECT book_id, title, term, join_code, open, starts_at, ends_at FROM courses WHERE id = 'cs101-2026'`);
  t.match(stored, { book_id: 'b', title: 'Intro to CS', term: 'Autumn 2026', join_code: /^[A-Z2-9]{10}$/, open: 1 });
  t.equal(Number(stored!.starts_at), Date.parse('2026-09-01T00:00:00Z'));
  t.equal(Number(stored!.ends_at), Date.parse('2027-01-31T00:00:00Z'));
  t.equal(
    res.stdout,
    `added course cs101-2026 "Intro to CS" (Autumn 2026) on book b, from 2026-09-01 to 2027-01-31\n` +
      `join code: ${String(stored!.join_code)} (students join with it; "folio courses code cs101-2026 --rotate" replaces it)\n` +
      `next: "folio courses staff add cs101-2026 USER --role instructor"\n`,
  );
});

t.test('courses add refuses an unknown book and a taken id (exit 1), a bad id and dates in the wrong order (exit 2)', async (t) => {
  const { run, db } = await setUp(t);
  const unknown = await run('courses', 'add', 'c2', '--book', 'nope', '--title', 'T');
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, 'folio: there is no book "nope" (see "folio books list")\n');
  const taken = await run('courses', 'add', 'c1', '--book', 'b', '--title', 'Again');
  t.equal(taken.code, 1);
  t.equal(taken.stderr, 'folio: course "c1" already exists: choose another id (see "folio courses list")\n');
  const bad = await run('courses', 'add', 'Bad Id', '--book', 'b', '--title', 'T');
  t.equal(bad.code, 2);
  t.match(bad.stderr, 'a course id is 1-64 characters');
  const backwards = await run('courses', 'add', 'c3', '--book', 'b', '--title', 'T', '--starts', '2026-09-01', '--ends', '2026-08-01');
  t.equal(backwards.code, 2);
  t.match(backwards.stderr, '--starts must be before --ends');
  t.same(await db.all(sql`SELECT id, title FROM courses`), [{ id: 'c1', title: 'Course one' }]);
});

t.test('courses list shows each course with its book, term, open or closed, join code, staff and students, as a table and as JSON', async (t) => {
  const { run, db, account } = await setUp(t);
  await createBook(db, { id: 'other', title: 'Other', origins: [] });
  t.equal((await run('courses', 'add', 'c2', '--book', 'other', '--title', 'Course two', '--term', 'Spring')).code, 0);
  await account('prof');
  await account('ada');
  await account('bob');
  t.equal((await run('courses', 'staff', 'add', 'c1', 'prof', '--role', 'instructor')).code, 0);
  t.equal((await run('courses', 'enroll', 'c1', 'ada', 'bob')).code, 0);
  t.equal((await run('courses', 'close', 'c2')).code, 0);
  const [one, two] = [await joinCodeOf(db, 'c1'), await joinCodeOf(db, 'c2')];

  const table = await run('courses', 'list');
  t.equal(table.code, 0, table.stderr);
  t.equal(
    table.stdout,
    'ID  BOOK   TITLE       TERM    JOINING  JOIN CODE   STAFF  STUDENTS\n' +
      `c1  b      Course one  -       open     ${one}  1      2\n` +
      `c2  other  Course two  Spring  closed   ${two}  0      0\n`,
  );
  const json = await run('courses', 'list', '--json');
  t.same(JSON.parse(json.stdout), [
    { id: 'c1', book: 'b', title: 'Course one', term: null, open: true, joinCode: one, startsAt: null, endsAt: null, staff: 1, students: 2 },
    { id: 'c2', book: 'other', title: 'Course two', term: 'Spring', open: false, joinCode: two, startsAt: null, endsAt: null, staff: 0, students: 0 },
  ]);
  t.same(
    JSON.parse((await run('courses', 'list', '--book', 'other', '--json')).stdout).map((c: { id: string }) => c.id),
    ['c2'],
  );
  t.equal((await run('courses', 'list', '--book', 'nobook')).stdout, 'no courses of book nobook yet: add one with "folio courses add ID --book B --title T"\n');
});

t.test('courses staff add makes an account instructor or TA of a course (again: changes the role); remove ends it', async (t) => {
  const { run, db, account } = await setUp(t);
  const prof = await account('prof');
  const add = await run('courses', 'staff', 'add', 'c1', 'prof', '--role', 'instructor');
  t.equal(add.code, 0, add.stderr);
  t.equal(add.stdout, 'prof is now instructor of c1\n');
  const change = await run('courses', 'staff', 'add', 'c1', 'PROF', '--role', 'ta');
  t.equal(change.stdout, 'prof is now ta of c1 (was instructor)\n');
  t.same(await db.all(sql`SELECT course_id, user_id, role FROM course_staff`), [{ course_id: 'c1', user_id: prof, role: 'ta' }]);
  const remove = await run('courses', 'staff', 'remove', 'c1', 'prof');
  t.equal(remove.stdout, 'prof is no longer staff of c1\n');
  t.same(await db.all(sql`SELECT * FROM course_staff`), []);
  const again = await run('courses', 'staff', 'remove', 'c1', 'prof');
  t.equal(again.code, 1);
  t.equal(again.stderr, 'folio: prof is not staff of c1\n');
});

t.test('courses staff add refuses an unknown course or account (exit 1) and a role other than instructor or ta (exit 2)', async (t) => {
  const { run, db, account } = await setUp(t);
  await account('prof');
  const course = await run('courses', 'staff', 'add', 'nope', 'prof', '--role', 'ta');
  t.equal(course.code, 1);
  t.equal(course.stderr, 'folio: there is no course "nope" (see "folio courses list")\n');
  const user = await run('courses', 'staff', 'add', 'c1', 'nobody', '--role', 'ta');
  t.equal(user.code, 1);
  t.equal(user.stderr, 'folio: there is no user "nobody" (see "folio users list")\n');
  const role = await run('courses', 'staff', 'add', 'c1', 'prof', '--role', 'admin');
  t.equal(role.code, 2);
  t.match(role.stderr, 'expected one of instructor, ta');
  t.same(await db.all(sql`SELECT * FROM course_staff`), []);
});

t.test('courses enroll enrols existing accounts; unknown usernames are all listed (exit 1) and nobody is enrolled', async (t) => {
  const { run, db, account } = await setUp(t);
  const ada = await account('ada');
  const bob = await account('bob');
  const unknown = await run('courses', 'enroll', 'c1', 'ada', 'zed', 'bob', 'yves');
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, 'folio: no account has the username(s) zed, yves: nobody was enrolled (make accounts with "folio courses roster import c1 FILE.csv")\n');
  t.same(await db.all(sql`SELECT * FROM enrolments`), []);
  const res = await run('courses', 'enroll', 'c1', 'ada', 'BOB');
  t.equal(res.code, 0, res.stderr);
  t.equal(res.stdout, 'enrolled 2 student(s) in c1\n');
  t.same(await db.all(sql`SELECT user_id, via FROM enrolments ORDER BY user_id`), [
    { user_id: ada, via: 'staff' },
    { user_id: bob, via: 'staff' },
  ].sort((a, b) => (a.user_id < b.user_id ? -1 : 1)));
  t.equal((await run('courses', 'enroll', 'c1', 'ada')).stdout, 'enrolled 0 student(s) in c1; 1 already were\n');
});

t.test('courses unenroll takes a student out of the course and keeps their account; a student not enrolled is exit 1', async (t) => {
  const { run, db, account } = await setUp(t);
  const ada = await account('ada');
  await run('courses', 'enroll', 'c1', 'ada');
  const res = await run('courses', 'unenroll', 'c1', 'ada');
  t.equal(res.code, 0, res.stderr);
  t.equal(res.stdout, 'ada is no longer enrolled in c1\n');
  t.same(await db.all(sql`SELECT * FROM enrolments`), []);
  t.same(await db.all(sql`SELECT id FROM users WHERE id = ${ada}`), [{ id: ada }]);
  const again = await run('courses', 'unenroll', 'c1', 'ada');
  t.equal(again.code, 1);
  t.equal(again.stderr, 'folio: ada is not enrolled in c1\n');
});

t.test('courses code prints the join code, --rotate replaces it; close and open change whether the code enrols', async (t) => {
  const { run, db } = await setUp(t);
  const before = await joinCodeOf(db, 'c1');
  t.equal((await run('courses', 'code', 'c1')).stdout, `${before}\n`);
  const rotated = await run('courses', 'code', 'c1', '--rotate');
  t.equal(rotated.code, 0, rotated.stderr);
  const after = await joinCodeOf(db, 'c1');
  t.not(after, before);
  t.equal(rotated.stdout, `${after}\n`);
  const close = await run('courses', 'close', 'c1');
  t.equal(close.stdout, 'c1 is closed: its code enrols nobody\n');
  t.same(await db.get(sql`SELECT open FROM courses`), { open: 0 });
  const closedCode = await run('courses', 'code', 'c1');
  t.equal(closedCode.stdout, `${after}\n`);
  t.equal(closedCode.stderr, 'c1 is closed: the code enrols nobody until "folio courses open c1"\n');
  t.equal((await run('courses', 'open', 'c1')).stdout, 'c1 is open: students may join with its code\n');
  t.same(await db.get(sql`SELECT open FROM courses`), { open: 1 });
  for (const args of [['code', 'nope'], ['code', 'nope', '--rotate'], ['open', 'nope'], ['close', 'nope']]) {
    const res = await run('courses', ...args);
    t.equal(res.code, 1, args.join(' '));
    t.equal(res.stderr, 'folio: there is no course "nope" (see "folio courses list")\n');
  }
});

/** The rows of password_links, by user. */
const linksOf = (db: Database) => db.all<{ id: string; user_id: string; expires_at: number | string; created_at: number | string }>(sql`SELECT * FROM password_links`);

t.test('roster import enrols existing accounts as they are, makes the new ones without a password, prints each new account\'s link on stdout and a summary on stderr', async (t) => {
  const { run, db, account, env } = await setUp(t);
  const ada = await account('ada', { name: 'Ada as she is', email: 'ada@old.example' });
  await run('courses', 'enroll', 'c1', 'ada');
  const file = join(t.testdirName, 'roster.csv');
  writeFileSync(file, 'username,name,email\r\nada,Someone Else,other@example.edu\r\nbob,"Bob, the builder",bob@example.edu\r\ncleo,,\r\n');
  const res = await folio(['courses', 'roster', 'import', 'c1', file], { ...env, FOLIO_PUBLIC_ORIGIN: 'https://folio.example.edu', FOLIO_PASSWORD_LINK_DAYS: '3' });
  t.equal(res.code, 0, res.stderr);
  const lines = res.stdout.trimEnd().split('\n');
  t.equal(lines.length, 2);
  const links = Object.fromEntries(lines.map((line) => line.split('\t') as [string, string]));
  t.same(Object.keys(links), ['bob', 'cleo']);
  for (const link of Object.values(links)) t.match(link, /^https:\/\/folio\.example\.edu\/account\/set-password#token=[A-Za-z0-9_-]{43}$/);
  t.equal(res.stderr, 'c1: created 2 account(s), enrolled 2, already enrolled 1\n');

  const users = await db.all<Record<string, unknown>>(sql`SELECT username, name, email, role, password_hash, anonymous FROM users ORDER BY username_key`);
  t.same(users, [
    { username: 'ada', name: 'Ada as she is', email: 'ada@old.example', role: 'student', password_hash: 'scrypt$stored', anonymous: 0 },
    { username: 'bob', name: 'Bob, the builder', email: 'bob@example.edu', role: 'student', password_hash: null, anonymous: 0 },
    { username: 'cleo', name: null, email: null, role: 'student', password_hash: null, anonymous: 0 },
  ]);
  const enrolled = await db.all<{ username: string; via: string }>(sql`SELECT u.username, e.via FROM enrolments e JOIN users u ON u.id = e.user_id ORDER BY u.username_key`);
  t.same(enrolled, [
    { username: 'ada', via: 'staff' },
    { username: 'bob', via: 'roster' },
    { username: 'cleo', via: 'roster' },
  ]);
  const stored = await linksOf(db);
  t.equal(stored.length, 2);
  const tokens = Object.values(links).map((link) => link.split('#token=')[1]!);
  t.same(stored.map((l) => l.id).sort(), tokens.map((token) => createHash('sha256').update(token).digest('hex')).sort(), 'only the tokens\' SHA-256 is stored');
  for (const link of stored) t.equal(Number(link.expires_at) - Number(link.created_at), 3 * 86_400_000);
  t.not(ada, undefined);
});

t.test('roster import of a file with mistakes lists every bad line with its number and what is wrong, exits 2 and stores nothing', async (t) => {
  const { run, db, account } = await setUp(t);
  await account('ada');
  const file = join(t.testdirName, 'roster.csv');
  writeFileSync(file, ['username,name,email', 'ada,Ada,', 'x,Too short,', 'bob,Bob,not-an-email', 'ADA,Ada again,', 'ok.name,Fine,fine@example.edu', 'has space,,', 'a,b,c,d', ''].join('\n'));
  const res = await run('courses', 'roster', 'import', 'c1', file);
  t.equal(res.code, 2);
  t.equal(res.stdout, '');
  t.equal(
    res.stderr,
    `folio: ${file} cannot be imported (nothing was changed):\n` +
      '  line 3: username "x" is not a username (3-64 characters: letters, digits and . _ @ + -)\n' +
      '  line 4: email "not-an-email" is not an email address\n' +
      '  line 5: username ADA is on line 2 already (usernames are the same regardless of case)\n' +
      '  line 7: username "has space" is not a username (3-64 characters: letters, digits and . _ @ + -)\n' +
      '  line 8: 4 fields where the header has 3 (a comma inside a field needs the field in double quotes)\n' +
      '(see "folio courses roster import --help")\n',
  );
  t.same(await db.all(sql`SELECT username FROM users`), [{ username: 'ada' }]);
  t.same(await db.all(sql`SELECT * FROM enrolments`), []);
  t.same(await linksOf(db), []);
});

t.test('roster import refuses a header without username, unknown columns, an unclosed quote, an empty file and a missing file (exit 2)', async (t) => {
  const { run } = await setUp(t);
  const cases: [string, string][] = [
    ['name,email\nAda,ada@example.edu\n', 'line 1: the header has no username column (it is username,name,email; name and email may be left out)'],
    ['username,phone\nada,123\n', 'line 1: column 2 "phone" is not one of username, name, email'],
    ['username,name\nada,"Ada\n', 'line 2: a quoted field is never closed (a " is missing)'],
    ['', 'the file is empty: its first line is the header username,name,email'],
    ['username\n', 'the file has a header and no student: one student a line after it'],
  ];
  for (const [i, [text, problem]] of cases.entries()) {
    const file = join(t.testdirName, `roster-${i}.csv`);
    writeFileSync(file, text);
    const res = await run('courses', 'roster', 'import', 'c1', file);
    t.equal(res.code, 2, problem);
    t.match(res.stderr, `  ${problem}\n`, problem);
  }
  const missing = await run('courses', 'roster', 'import', 'c1', join(t.testdirName, 'missing.csv'));
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot read .*missing\.csv/);
});

t.test('roster import takes the columns in any order, and a file with only usernames', async (t) => {
  const { run, db } = await setUp(t);
  const file = join(t.testdirName, 'roster.csv');
  writeFileSync(file, '\ufeffEmail, Username\ndan@example.edu,dan\n');
  t.equal((await run('courses', 'roster', 'import', 'c1', file)).code, 0);
  writeFileSync(file, 'username\neve\n');
  const res = await run('courses', 'roster', 'import', 'c1', file);
  t.equal(res.code, 0, res.stderr);
  t.match(res.stdout, /^eve\thttp:\/\/127\.0\.0\.1:3000\/account\/set-password#token=/);
  t.same(await db.all(sql`SELECT username, email FROM users ORDER BY username`), [
    { username: 'dan', email: 'dan@example.edu' },
    { username: 'eve', email: null },
  ]);
});

t.test('roster import into an unknown course is exit 1 and makes no account', async (t) => {
  const { run, db } = await setUp(t);
  const file = join(t.testdirName, 'roster.csv');
  writeFileSync(file, 'username\nnew1\n');
  const res = await run('courses', 'roster', 'import', 'nope', file);
  t.equal(res.code, 1);
  t.equal(res.stderr, 'folio: there is no course "nope" (see "folio courses list")\n');
  t.same(await db.all(sql`SELECT * FROM users`), []);
});

t.test('users password-link prints a new link for an account, good for FOLIO_PASSWORD_LINK_DAYS; unknown users are exit 1', async (t) => {
  const { db, account, env } = await setUp(t);
  const ada = await account('ada');
  const res = await folio(['users', 'password-link', 'ada'], { ...env, FOLIO_PUBLIC_ORIGIN: 'https://folio.example.edu' });
  t.equal(res.code, 0, res.stderr);
  t.match(res.stdout, /^https:\/\/folio\.example\.edu\/account\/set-password#token=[A-Za-z0-9_-]{43}\n$/);
  t.equal(res.stderr, 'a set-password link for ada, valid 14 day(s), once\n');
  const token = res.stdout.trim().split('#token=')[1]!;
  const [link] = await linksOf(db);
  t.match(link, { id: createHash('sha256').update(token).digest('hex'), user_id: ada });
  t.equal(Number(link!.expires_at) - Number(link!.created_at), 14 * 86_400_000);
  const unknown = await folio(['users', 'password-link', 'nobody'], env);
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, 'folio: there is no user "nobody" (see "folio users list")\n');
});

t.test('a set-password link names the listen address when FOLIO_PUBLIC_ORIGIN is unset', async (t) => {
  const { account, env } = await setUp(t);
  await account('ada');
  const res = await folio(['users', 'password-link', 'ada'], { ...env, FOLIO_HOST: '::1', FOLIO_PORT: '8443' });
  t.match(res.stdout, /^http:\/\/\[::1\]:8443\/account\/set-password#token=/);
});
