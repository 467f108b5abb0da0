import t, { type Test } from 'tap';
import { openDatabase } from '../db/index.js';
import { folio, migratedDatabaseUrl, testDatabaseUrl } from './helper.js';
import { sql } from 'drizzle-orm';

/** A migrated database of the test's own (a SQLite file or a PostgreSQL schema), as FOLIO_DATABASE_URL. */
async function migratedDatabase(t: Test): Promise<Record<string, string>> {
  return { FOLIO_DATABASE_URL: await migratedDatabaseUrl(t) };
}

t.test('books add stores the book with normalised origins, and list shows it as a table and as JSON', async (t) => {
  const env = await migratedDatabase(t);
  const add = await folio(['books', 'add', 'thinkcspy', '--title', 'How to Think', '--origin', 'HTTPS://Book.Example:443/', '--origin', 'http://localhost:8080'], env);
  t.equal(add.code, 0, add.stderr);
  t.equal(add.stdout, 'added book thinkcspy allowing https://book.example, http://localhost:8080\n');

  const table = await folio(['books', 'list'], env);
  t.equal(table.code, 0);
  t.equal(table.stdout, 'ID         TITLE         ORIGINS\nthinkcspy  How to Think  http://localhost:8080 https://book.example\n');

  const json = await folio(['books', 'list', '--json'], env);
  t.same(JSON.parse(json.stdout), [{ id: 'thinkcspy', title: 'How to Think', origins: ['http://localhost:8080', 'https://book.example'] }]);

  const db = await openDatabase(env.FOLIO_DATABASE_URL!);
  t.teardown(() => db.close());
  t.same((await db.all(sql`SELECT book_id, origin FROM book_origins ORDER BY origin`)), [
    { book_id: 'thinkcspy', origin: 'http://localhost:8080' },
    { book_id: 'thinkcspy', origin: 'https://book.example' },
  ]);
});

t.test('books add refuses an invalid origin with exit code 2 and stores nothing', async (t) => {
  const env = await migratedDatabase(t);
  const cases: [string, string][] = [
    ['https://book.example/path', 'has a path'],
    ['https://book.example?x=1', 'query or fragment'],
    ['https://*.example', 'wildcard'],
    ['null', 'not allowed'],
    ['book.example', 'no scheme'],
    ['ftp://book.example', 'must use http or https'],
  ];
  for (const [origin, reason] of cases) {
    const res = await folio(['books', 'add', 'b', '--title', 'B', '--origin', origin], env);
    t.equal(res.code, 2, origin);
    t.match(res.stderr, reason, origin);
  }
  const list = await folio(['books', 'list', '--json'], env);
  t.same(JSON.parse(list.stdout), []);
});

t.test('books add refuses an invalid book id (exit 2) and a taken one (exit 1)', async (t) => {
  const env = await migratedDatabase(t);
  const bad = await folio(['books', 'add', 'Bad Id', '--title', 'B'], env);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /book id is 1-64 characters/);
  t.equal((await folio(['books', 'add', 'b', '--title', 'B'], env)).code, 0);
  const again = await folio(['books', 'add', 'b', '--title', 'B'], env);
  t.equal(again.code, 1);
  t.equal(again.stderr, 'folio: book "b" already exists (see "folio books list")\n');
});

t.test('books origins add and remove change one book\'s allowlist', async (t) => {
  const env = await migratedDatabase(t);
  await folio(['books', 'add', 'b', '--title', 'B', '--origin', 'https://one.example'], env);
  const add = await folio(['books', 'origins', 'add', 'b', 'https://Two.Example/'], env);
  t.equal(add.code, 0, add.stderr);
  t.equal(add.stdout, 'book b now allows https://two.example\n');
  const remove = await folio(['books', 'origins', 'remove', 'b', 'https://one.example'], env);
  t.equal(remove.code, 0, remove.stderr);
  t.equal(remove.stdout, 'book b no longer allows https://one.example\n');
  const list = await folio(['books', 'list', '--json'], env);
  t.same(JSON.parse(list.stdout), [{ id: 'b', title: 'B', origins: ['https://two.example'] }]);
  const missing = await folio(['books', 'origins', 'remove', 'b', 'https://one.example'], env);
  t.equal(missing.code, 1);
  t.match(missing.stderr, 'book b does not allow https://one.example');
  const invalid = await folio(['books', 'origins', 'add', 'b', 'https://x.example/p'], env);
  t.equal(invalid.code, 2);
});

t.test('an unknown book gives exit code 1 and says so', async (t) => {
  const env = await migratedDatabase(t);
  for (const args of [
    ['books', 'remove', 'nope'],
    ['books', 'origins', 'add', 'nope', 'https://a.example'],
    ['books', 'origins', 'remove', 'nope', 'https://a.example'],
  ]) {
    const res = await folio(args, env);
    t.equal(res.code, 1, args.join(' '));
    t.equal(res.stderr, 'folio: there is no book "nope" (see "folio books list")\n');
  }
});

t.test('books remove deletes the book and its origins', async (t) => {
  const env = await migratedDatabase(t);
  await folio(['books', 'add', 'b', '--title', 'B', '--origin', 'https://one.example'], env);
  const res = await folio(['books', 'remove', 'b'], env);
  t.equal(res.code, 0);
  const db = await openDatabase(env.FOLIO_DATABASE_URL!);
  t.teardown(() => db.close());
  t.same((await db.get(sql`SELECT count(*) AS n FROM book_origins`)), { n: 0 });
  t.same((await db.get(sql`SELECT count(*) AS n FROM books`)), { n: 0 });
});

t.test('a command on an unmigrated database says to run folio migrate', async (t) => {
  const res = await folio(['books', 'list'], { FOLIO_DATABASE_URL: testDatabaseUrl(t) });
  t.equal(res.code, 1);
  t.match(res.stderr, /pending migrations \(0000_\w+[^)]*\): run "folio migrate" first/);
});

/** Runs the CLI with `input` on stdin. */
async function folioWithStdin(args: string[], env: Record<string, string>, input: string) {
  const { spawn } = await import('node:child_process');
  const { nodeCommand, root } = await import('./helper.js');
  const [command, argv] = nodeCommand(`${root}/dist/cli/folio.js`, args);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command, argv, { env: { ...process.env, FOLIO_PASSWORD_COST: '10', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

t.test('users add creates an account with a role and a password from stdin; list shows it', async (t) => {
  const env = await migratedDatabase(t);
  const add = await folioWithStdin(['users', 'add', 'prof', '--role', 'admin', '--name', 'Prof X', '--password-stdin'], env, 'a long password\n');
  t.equal(add.code, 0, add.stderr);
  t.equal(add.stdout, 'added admin prof\n');
  const list = await folio(['users', 'list', '--json'], env);
  t.same(JSON.parse(list.stdout).map((u: Record<string, unknown>) => ({ ...u, id: undefined })), [
    { id: undefined, username: 'prof', name: 'Prof X', email: null, role: 'admin', researchConsent: false, anonymous: false },
  ]);
  const db = await openDatabase(env.FOLIO_DATABASE_URL!);
  t.teardown(() => db.close());
  const { verifyPassword } = await import('../lib/passwords.js');
  const { password_hash } = (await db.get(sql`SELECT password_hash FROM users`)) as { password_hash: string };
  t.equal(await verifyPassword('a long password', password_hash), true, 'the trailing newline is not part of the password');
});

t.test('users add refuses a short password, a bad role and a taken name', async (t) => {
  const env = await migratedDatabase(t);
  const short = await folioWithStdin(['users', 'add', 'prof', '--password-stdin'], env, 'short\n');
  t.equal(short.code, 2);
  t.match(short.stderr, 'the password on stdin must be 10-1024 characters');
  const role = await folioWithStdin(['users', 'add', 'prof', '--role', 'king', '--password-stdin'], env, 'a long password\n');
  t.equal(role.code, 2);
  t.match(role.stderr, 'a role is one of student, admin, researcher (instructors and TAs are per course: "folio courses staff add")');
  t.equal((await folioWithStdin(['users', 'add', 'prof', '--password-stdin'], env, 'a long password\n')).code, 0);
  const taken = await folioWithStdin(['users', 'add', 'PROF', '--password-stdin'], env, 'a long password\n');
  t.equal(taken.code, 1);
  t.match(taken.stderr, 'the username "PROF" is taken');
});

t.test('users add --role instructor and set-role NAME instructor exit 2 naming the course command, and change nothing', async (t) => {
  const env = await migratedDatabase(t);
  const add = await folioWithStdin(['users', 'add', 'prof', '--role', 'instructor', '--password-stdin'], env, 'a long password\n');
  t.equal(add.code, 2);
  t.equal(add.stdout, '');
  t.match(add.stderr, 'nothing was changed: the server-wide instructor role is retired, instructors are staff of a course now. Run "folio courses staff add COURSE prof --role instructor"');
  t.same(JSON.parse((await folio(['users', 'list', '--json'], env)).stdout), [], 'no account was made');
  t.equal((await folioWithStdin(['users', 'add', 'rita', '--role', 'researcher', '--password-stdin'], env, 'a long password\n')).code, 0);
  const set = await folio(['users', 'set-role', 'rita', 'instructor'], env);
  t.equal(set.code, 2);
  t.match(set.stderr, '"folio courses staff add COURSE rita --role instructor"');
  t.match(JSON.parse((await folio(['users', 'list', '--json'], env)).stdout), [{ username: 'rita', role: 'researcher' }], 'the role is as it was');
});

t.test('users set-role and reset-password change the account; reset ends its sessions', async (t) => {
  const env = await migratedDatabase(t);
  await folioWithStdin(['users', 'add', 'prof', '--password-stdin'], env, 'a long password\n');
  const db = await openDatabase(env.FOLIO_DATABASE_URL!);
  t.teardown(() => db.close());
  const { id } = (await db.get(sql`SELECT id FROM users`)) as { id: string };
  (await db.run(sql`INSERT INTO sessions (id, user_id, kind, expires_at, data, created_at) VALUES ('s1', ${id}, 'token', ${Date.now() + 100000}, '{}', 0)`));
  const set = await folio(['users', 'set-role', 'prof', 'admin'], env);
  t.equal(set.code, 0, set.stderr);
  t.equal(set.stdout, 'prof is now admin\n');
  t.same((await db.get(sql`SELECT role FROM users`)), { role: 'admin' });
  const reset = await folioWithStdin(['users', 'reset-password', 'prof', '--password-stdin'], env, 'another long password\n');
  t.equal(reset.code, 0, reset.stderr);
  t.equal(reset.stdout, 'new password set for prof; ended 1 session(s)\n');
  const { verifyPassword } = await import('../lib/passwords.js');
  t.equal(await verifyPassword('another long password', ((await db.get(sql`SELECT password_hash FROM users`)) as { password_hash: string }).password_hash), true);
  const unknown = await folio(['users', 'set-role', 'nobody', 'admin'], env);
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, 'folio: there is no user "nobody" (see "folio users list")\n');
});

t.test('a PostgreSQL URL that cannot be used is refused in one line naming it, exit code 2', async (t) => {
  const down = await folio(['migrate'], { FOLIO_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' });
  t.equal(down.code, 2);
  t.equal(down.stderr, 'folio: cannot use the database postgres://postgres@127.0.0.1:1/test: connect ECONNREFUSED 127.0.0.1:1 (check FOLIO_DATABASE_URL, and that the server runs)\n');
  const badSchema = await folio(['migrate'], { FOLIO_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test?schema=1-bad' });
  t.equal(badSchema.code, 2);
  t.equal(badSchema.stderr, 'folio: FOLIO_DATABASE_URL: schema="1-bad" is not a plain identifier (letters, digits and _, not starting with a digit)\n');
  const password = await folio(['migrate'], { FOLIO_DATABASE_URL: 'postgres://folio:hunter2@127.0.0.1:1/test' });
  t.notMatch(password.stderr, /hunter2/, 'the password is not shown');
});

t.test('--help says how to give a PostgreSQL database and what several processes on it need', async (t) => {
  const top = await folio(['--help']);
  t.match(top.stdout, /postgres:\/\/user:password@host:port\/database\[\?schema=name\]/);
  const serve = await folio(['serve', '--help']);
  t.equal(serve.code, 0);
  t.match(serve.stdout, /FOLIO_SECRET \(required there\)/);
  t.match(serve.stdout, /FOLIO_DATABASE_POOL_SIZE/);
  t.match(serve.stdout, /FOLIO_REDIS_URL/);
});

/** The JSON lines of a command's stderr that are security events. */
const eventLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** A migrated database with a book and a student `ada` with work in it (and `bob`, who has some too): the ids. */
async function classWithWork(t: Test) {
  const env = await migratedDatabase(t);
  await folio(['books', 'add', 'book', '--title', 'B', '--origin', 'https://book.example'], env);
  await folioWithStdin(['users', 'add', 'ada', '--name', 'Ada L.', '--password-stdin'], env, 'a long password\n');
  await folioWithStdin(['users', 'add', 'bob', '--password-stdin'], env, 'a long password\n');
  const db = await openDatabase(env.FOLIO_DATABASE_URL!);
  t.teardown(() => db.close());
  const { saveAnswer, saveEvents, saveProgram, setPageComplete, setPosition } = await import('../db/work.js');
  const ids: Record<string, string> = {};
  for (const name of ['ada', 'bob']) {
    const { id } = (await db.get(sql`SELECT id FROM users WHERE username = ${name}`)) as { id: string };
    ids[name] = id;
    const owner = { userId: id, bookId: 'book' };
    await saveProgram(db, owner, 'ac1', { code: `print("${name}")` });
    await saveProgram(db, owner, 'ac1', { code: `print("${name} 2")` });
    await saveAnswer(db, owner, 'q1', { kind: 'poll', answer: 'a' });
    await saveEvents(db, owner, [{ type: 'run' }]);
    await setPosition(db, owner, 'p', 0.25);
    await setPageComplete(db, owner, 'p', true);
  }
  const rows = async (id: string) => {
    const counts: number[] = [];
    for (const table of ['users', 'sessions', 'programs', 'answers', 'events', 'positions', 'page_completions']) {
      counts.push(Number(((await db.get(sql`SELECT COUNT(*) AS n FROM ${sql.raw(table)} WHERE ${sql.raw(table === 'users' ? 'id' : 'user_id')} = ${id}`)) as { n: number }).n));
    }
    return counts;
  };
  return { env, db, ids, rows };
}

t.test('users add --role researcher and set-role are logged as role_changed events on stderr, with who ran them', async (t) => {
  const env = { ...(await migratedDatabase(t)), FOLIO_LOG_LEVEL: 'info' };
  const add = await folioWithStdin(['users', 'add', 'rita', '--role', 'researcher', '--password-stdin'], env, 'a long password\n');
  t.equal(add.code, 0, add.stderr);
  t.equal(add.stdout, 'added researcher rita\n');
  const [added] = eventLines(add.stderr);
  t.match(added, { level: 30, event: 'role_changed', by: /./, user: 'rita', userId: /^[0-9a-f-]{36}$/, from: null, to: 'researcher', msg: 'account added with a role' });
  const set = await folio(['users', 'set-role', 'rita', 'admin'], env);
  t.equal(set.code, 0, set.stderr);
  t.equal(set.stdout, 'rita is now admin\n');
  t.match(eventLines(set.stderr), [{ level: 30, event: 'role_changed', user: 'rita', userId: added!.userId, from: 'researcher', to: 'admin', msg: 'role changed' }]);
  const quiet = await folio(['users', 'set-role', 'rita', 'researcher'], { ...env, FOLIO_LOG_LEVEL: 'warn' });
  t.equal(quiet.stderr, '', 'below FOLIO_LOG_LEVEL nothing is written');
});

t.test('users export writes everything about an account as JSON, to stdout or to a file', async (t) => {
  const { env, ids } = await classWithWork(t);
  const out = await folio(['users', 'export', 'ada'], { ...env, FOLIO_LOG_LEVEL: 'info' });
  t.equal(out.code, 0, out.stderr);
  const data = JSON.parse(out.stdout);
  t.match(data.account, { id: ids.ada, username: 'ada', name: 'Ada L.', role: 'student' });
  t.notOk(out.stdout.includes('scrypt'), 'no password hash');
  t.same(data.programs.map((p: { code: string }) => p.code), ['print("ada")', 'print("ada 2")']);
  t.match(data.answers, [{ book: 'book', question: 'q1', attempt: 1, answer: 'a' }]);
  t.match(data.events, [{ book: 'book', type: 'run' }]);
  t.match(data.positions, [{ book: 'book', page: 'p', scroll: 0.25 }]);
  t.match(data.completions, [{ book: 'book', page: 'p' }]);
  t.notOk(out.stdout.includes('bob'));
  t.match(eventLines(out.stderr), [{ event: 'personal_export', user: 'ada', userId: ids.ada }]);

  const { mkdtempSync, readFileSync, statSync } = await import('node:fs');
  const file = `${mkdtempSync(`${t.testdirName}-out`)}/ada.json`;
  const toFile = await folio(['users', 'export', 'ada', '--out', file], env);
  t.equal(toFile.code, 0, toFile.stderr);
  t.equal(toFile.stdout, '');
  t.equal(toFile.stderr, `wrote everything about ada to ${file}\n`);
  t.same(JSON.parse(readFileSync(file, 'utf8')).programs, data.programs);
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by the admin only');
  const unknown = await folio(['users', 'export', 'nobody'], env);
  t.equal(unknown.code, 1);
  t.equal(unknown.stderr, 'folio: there is no user "nobody" (see "folio users list")\n');
});

t.test('users delete refuses without --yes when stdin is not a terminal, and says what to type; nothing is deleted', async (t) => {
  const { env, ids, rows } = await classWithWork(t);
  const before = await rows(ids.ada!);
  const res = await folioWithStdin(['users', 'delete', 'ada'], env, 'ada\n');
  t.equal(res.code, 2);
  t.equal(res.stderr, 'folio: not deleting ada: stdin is not a terminal, so nothing can be confirmed. Run "folio users delete ada --yes" to delete the account and all of its work\n');
  t.same(await rows(ids.ada!), before);
});

t.test('users delete --yes deletes the account and every row of it, leaves others alone, and logs account_deleted', async (t) => {
  const { env, db, ids, rows } = await classWithWork(t);
  (await db.run(sql`INSERT INTO sessions (id, user_id, kind, expires_at, data, created_at) VALUES ('s1', ${ids.ada}, 'token', ${Date.now() + 100000}, '{}', 0)`));
  const bob = await rows(ids.bob!);
  const res = await folio(['users', 'delete', 'ada', '--yes'], { ...env, FOLIO_LOG_LEVEL: 'info' });
  t.equal(res.code, 0, res.stderr);
  t.equal(res.stdout, 'deleted ada and all of their work\n');
  t.same(await rows(ids.ada!), [0, 0, 0, 0, 0, 0, 0]);
  t.same(await rows(ids.bob!), bob);
  t.match(eventLines(res.stderr), [{ level: 30, event: 'account_deleted', by: /./, user: 'ada', userId: ids.ada, msg: 'account deleted' }]);
  const again = await folio(['users', 'delete', 'ada', '--yes'], env);
  t.equal(again.code, 1);
  t.equal(again.stderr, 'folio: there is no user "ada" (see "folio users list")\n');
});

t.test('users delete on a terminal shows what it deletes and asks for the username: another answer deletes nothing', async (t) => {
  const { env, ids, rows } = await classWithWork(t);
  const { nodeCommand, root } = await import('./helper.js');
  const onTerminal = async (answer: string) => {
    const [command, argv] = nodeCommand(`${root}/dist/cli/folio.js`, ['users', 'delete', 'ada']);
    // script(1) runs the command on a pseudo-terminal, with our stdin as its keyboard.
    const line = [command, ...argv].map((a) => `'${a}'`).join(' ');
    const { spawn } = await import('node:child_process');
    return new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn('script', ['-qec', line, '/dev/null'], { env: { ...process.env, ...env, FOLIO_LOG_LEVEL: 'silent' } });
      let out = '';
      let answered = false;
      child.stdin.on('error', () => {}); // the command may end before reading the answer
      child.stdout.on('data', (d: Buffer) => {
        out += d;
        if (!answered && out.includes('to delete it: ')) {
          answered = true;
          child.stdin.write(`${answer}\n`);
        }
      });
      child.on('close', (code) => resolve({ code, out }));
    });
  };
  const wrong = await onTerminal('bob');
  t.equal(wrong.code, 1);
  t.match(wrong.out, 'This deletes ada (student) and all of their work: 2 program version(s), 1 answer(s), 1 event(s), 1 completed page(s). It cannot be undone.');
  t.match(wrong.out, 'not deleted: the username typed was not ada');
  t.equal((await rows(ids.ada!))[0], 1);
  const right = await onTerminal('ada');
  t.equal(right.code, 0, right.out);
  t.match(right.out, 'deleted ada and all of their work');
  t.same(await rows(ids.ada!), [0, 0, 0, 0, 0, 0, 0]);
});
