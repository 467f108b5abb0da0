import BetterSqlite3 from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { buildApp } from '../app.js';
import { backupIntervalMs } from '../plugins/backups.js';
import { ConfigError, loadConfig } from '../lib/config.js';
import { bookOrigin, folio, nodeCommand, root, spawnServer, testConfig, testDialect, type ServerProcess } from './helper.js';

/** The migrations a migrated SQLite database has applied: one a file. */
const sqliteMigrations = readdirSync(join(root, 'db/migrations/sqlite')).filter((f) => f.endsWith('.sql')).length;

// Backups of SQLite files: `folio backup` / `restore` and periodic backups. On PostgreSQL Folio only says what to use
// instead (pg_dump, PITR): those tests run in both runs, the rest only in the SQLite run.
const sqliteOnly = { skip: testDialect !== 'sqlite' && 'SQLite only: on PostgreSQL, backups are pg_dump or PITR (tested below in both runs)' };

/** A migrated SQLite database in `dir`, with the book `book`; its path. */
async function migratedDatabase(t: Test, dir: string, name = 'folio.db'): Promise<string> {
  const file = join(dir, name);
  const env = { FOLIO_DATABASE_URL: file };
  t.equal((await folio(['migrate'], env)).code, 0);
  t.equal((await folio(['books', 'add', 'book', '--title', 'A book', '--origin', bookOrigin], env)).code, 0);
  return file;
}

/** Saves a program through a running server (anonymously: the first save sets the cookie the next ones send). */
function student(server: ServerProcess) {
  let cookie: string | undefined;
  return async (activity: string, code: string): Promise<number> => {
    const res = await fetch(`${server.url}/api/books/book/programs/${activity}`, {
      method: 'PUT',
      headers: { origin: bookOrigin, 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
      body: JSON.stringify({ code }),
    });
    await res.arrayBuffer();
    cookie ??= res.headers.getSetCookie()[0]?.split(';')[0];
    return res.status;
  };
}

const codesIn = (file: string) => {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return new Set(db.prepare('SELECT code FROM programs').pluck().all() as string[]);
  } finally {
    db.close();
  }
};

t.test('folio backup --help says what it does, and refuses to overwrite an existing --out without --force', sqliteOnly, async (t) => {
  const dir = t.testdir();
  const help = await folio(['backup', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--out <file>\s+the backup file to write/);
  t.match(help.stdout, /--force\s+replace FILE if it exists/);
  t.match(help.stdout, /every write acknowledged before the backup started is in it/);
  const restoreHelp = await folio(['restore', '--help']);
  t.equal(restoreHelp.code, 0);
  t.match(restoreHelp.stdout, /--force does not get around a\s+running server/);

  const database = await migratedDatabase(t, dir);
  const out = join(dir, 'existing.db');
  writeFileSync(out, 'keep me');
  const refused = await folio(['backup', '--out', out], { FOLIO_DATABASE_URL: database });
  t.equal(refused.code, 1);
  t.equal(refused.stderr, `folio: ${out} exists: choose another file, or add --force to replace it\n`);
  t.equal(readFileSync(out, 'utf8'), 'keep me');
  t.same(readdirSync(dir).filter((f) => f.includes('partial')), []);

  const forced = await folio(['backup', '--out', out, '--force', '--json'], { FOLIO_DATABASE_URL: database });
  t.equal(forced.code, 0, forced.stderr);
  const result = JSON.parse(forced.stdout) as { file: string; bytes: number; integrity: string; tables: Record<string, number> };
  t.equal(result.file, out);
  t.equal(result.bytes, statSync(out).size);
  t.equal(result.integrity, 'ok');
  t.equal(result.tables.books, 1);
  t.equal(result.tables.__drizzle_migrations, sqliteMigrations);
  t.match(forced.stderr, new RegExp(`^backed up ${database} to ${out}: [\\d.]+ MiB in [\\d.]+ s; integrity_check: ok\\nrows: __drizzle_migrations ${sqliteMigrations}, answers 0, book_origins 1, book_tocs 0, books 1, `));
  // A file on its own: no write-ahead log beside it.
  const copy = new BetterSqlite3(out, { readonly: true });
  t.equal(copy.pragma('journal_mode', { simple: true }), 'delete');
  t.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
  copy.close();
  t.notOk(existsSync(`${out}-wal`));
});

t.test('folio backup and restore on PostgreSQL exit with 2 and give the pg_dump / pg_restore command line, without the password', async (t) => {
  const dir = t.testdir();
  const url = 'postgres://folio:s3cret-pw@db.example.edu:5433/course?schema=cs101';
  const backup = await folio(['backup', '--out', join(dir, 'x.dump')], { FOLIO_DATABASE_URL: url });
  t.equal(backup.code, 2);
  t.equal(
    backup.stderr,
    'folio: "folio backup" copies SQLite databases; postgres://folio:***@db.example.edu:5433/course?schema=cs101 is PostgreSQL: back it up with PostgreSQL\'s own tools (README, "Backups"):\n' +
      '  pg_dump --format=custom --file=folio-$(date +%Y%m%d-%H%M).dump --host=db.example.edu --port=5433 --username=folio --schema=cs101 course\n' +
      '  (the password from PGPASSWORD or ~/.pgpass; pg_restore puts it back), or continuous archiving of the write-ahead log\n' +
      '  with point-in-time recovery (PITR): https://www.postgresql.org/docs/current/continuous-archiving.html\n',
  );
  t.notMatch(backup.stderr, /s3cret/);
  const restore = await folio(['restore', 'folio.dump'], { FOLIO_DATABASE_URL: url });
  t.equal(restore.code, 2);
  t.match(restore.stderr, /pg_restore --clean --if-exists --single-transaction --host=db\.example\.edu --port=5433 --username=folio --schema=cs101 --dbname=course folio-….dump/);
  t.notMatch(restore.stderr, /s3cret/);
});

t.test('FOLIO_BACKUP_DIR with PostgreSQL stops the start with a ConfigError saying to use pg_dump or PITR', async (t) => {
  const dir = t.testdir();
  // The check comes before the database is opened: no PostgreSQL is needed to see it.
  const config = testConfig(t, { databaseUrl: 'postgres://folio@127.0.0.1:9/folio', secret: 'x'.repeat(32), backupDir: join(dir, 'backups') });
  await t.rejects(buildApp({ config, logger: false }), {
    constructor: ConfigError,
    message:
      'FOLIO_BACKUP_DIR backs up SQLite databases only: back PostgreSQL up with pg_dump or continuous archiving (PITR); "folio backup" prints a pg_dump command line for this database (README, "Backups")',
  });
  const serve = await folio(['serve'], { FOLIO_DATABASE_URL: 'postgres://folio@127.0.0.1:9/folio', FOLIO_SECRET: 'x'.repeat(32), FOLIO_BACKUP_DIR: join(dir, 'backups') });
  t.equal(serve.code, 2);
  t.match(serve.stderr, /^folio: FOLIO_BACKUP_DIR backs up SQLite databases only: back PostgreSQL up with pg_dump or continuous archiving \(PITR\)/);
});

t.test('FOLIO_BACKUP_EVERY takes minutes or a number with s, m, h or d; FOLIO_BACKUP_KEEP at least 1', async (t) => {
  t.equal(backupIntervalMs(loadConfig({ FOLIO_BACKUP_EVERY: '90' }).backupEvery), 90 * 60_000);
  t.equal(backupIntervalMs(loadConfig({ FOLIO_BACKUP_EVERY: '30s' }).backupEvery), 30_000);
  t.equal(backupIntervalMs(loadConfig({ FOLIO_BACKUP_EVERY: '6h' }).backupEvery), 6 * 3_600_000);
  t.equal(backupIntervalMs(loadConfig({ FOLIO_BACKUP_EVERY: '1d' }).backupEvery), 86_400_000);
  for (const bad of ['0', '6 hours', '1.5h', '-1m', '1w']) {
    t.throws(() => loadConfig({ FOLIO_BACKUP_EVERY: bad }), {
      constructor: ConfigError,
      message: `FOLIO_BACKUP_EVERY=${JSON.stringify(bad)} is invalid: expected a duration: minutes (90), or with a unit (30s, 45m, 6h, 1d)`,
    });
  }
  t.throws(() => loadConfig({ FOLIO_BACKUP_KEEP: '0' }), { message: 'FOLIO_BACKUP_KEEP="0" is invalid: expected an integer from 1 to 100000' });
});

t.test('a backup during 16 concurrent writers holds every write acknowledged before it started, and restores into a new file', sqliteOnly, async (t) => {
  const dir = t.testdir();
  const database = await migratedDatabase(t, dir);
  // About 12 MiB of events, so that the copy takes several steps while the writers go on.
  const seed = new BetterSqlite3(database);
  seed.prepare("INSERT INTO users (id, role, anonymous, research_consent, created_at, updated_at) VALUES ('seed', 'student', 1, 0, 0, 0)").run();
  const insert = seed.prepare("INSERT INTO events (user_id, book_id, type, data, server_time) VALUES ('seed', 'book', 'run', ?, ?)");
  seed.transaction(() => {
    for (let i = 0; i < 6000; i++) insert.run(JSON.stringify({ pad: 'x'.repeat(2000), i }), i);
  })();
  seed.close();
  const server = await spawnServer(t, { FOLIO_DATABASE_URL: database, FOLIO_PASSWORD_COST: '10', FOLIO_DEMO: '0' });

  const acks: { code: string; at: number }[] = [];
  const failures: number[] = [];
  let stop = false;
  const writers = Array.from({ length: 16 }, async (_, w) => {
    const save = student(server);
    for (let n = 0; !stop; n++) {
      const code = `w${w}-${n}`;
      const status = await save(`w${w}`, code);
      if (status >= 200 && status < 300) acks.push({ code, at: performance.now() });
      else failures.push(status);
    }
  });
  while (acks.length < 16 * 10) await sleep(20);

  const out = join(dir, 'backup.db');
  const backupStarted = performance.now();
  const backup = await folio(['backup', '--out', out], { FOLIO_DATABASE_URL: database });
  const backupEnded = performance.now();
  stop = true;
  await Promise.all(writers);

  t.equal(backup.code, 0, backup.stderr);
  t.same(failures, [], 'every write was acknowledged');
  t.match(backup.stderr, /^backing up: \d+% \(\d+\/\d+ pages\)\n/, 'progress on stderr');
  t.match(backup.stderr, /integrity_check: ok\nrows: /);
  const during = acks.filter((a) => a.at > backupStarted && a.at < backupEnded).length;
  t.ok(during > 0, `writes went on during the backup (${during} acknowledged)`);

  const restoredDir = join(dir, 'restored');
  mkdirSync(restoredDir);
  const restored = join(restoredDir, 'folio.db');
  const restore = await folio(['restore', out], { FOLIO_DATABASE_URL: restored });
  t.equal(restore.code, 0, restore.stderr);
  t.match(restore.stdout, new RegExp(`^restored ${out} \\([\\d.]+ MiB; integrity_check: ok\\) into ${restored}\\n`));

  const copy = new BetterSqlite3(restored, { readonly: true });
  t.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
  t.equal(copy.prepare('SELECT count(*) FROM events').pluck().get(), 6000);
  // The rows the backup reported are the rows of the restored file.
  const reported = Object.fromEntries(
    /rows: (.*)\n/
      .exec(backup.stderr)![1]!
      .split(', ')
      .map((pair) => [pair.split(' ')[0]!, Number(pair.split(' ')[1])]),
  );
  for (const [table, rows] of Object.entries(reported)) t.equal(copy.prepare(`SELECT count(*) FROM "${table}"`).pluck().get(), rows, `rows of ${table}`);
  copy.close();
  const stored = codesIn(restored);
  const before = acks.filter((a) => a.at <= backupStarted);
  t.ok(before.length >= 160);
  t.same(
    before.filter((a) => !stored.has(a.code)),
    [],
    `all ${before.length} writes acknowledged before the backup started are in the restored copy`,
  );
  t.ok(stored.size <= acks.length, 'and nothing that was never acknowledged');
});

t.test('folio restore refuses a database a running server uses (even with --force), and works once the server was killed with -9', sqliteOnly, async (t) => {
  const dir = t.testdir();
  const database = await migratedDatabase(t, dir);
  const server = await spawnServer(t, { FOLIO_DATABASE_URL: database, FOLIO_DEMO: '0' });
  const save = student(server);
  t.equal(await save('ac1', 'before the backup'), 200);
  const out = join(dir, 'backup.db');
  t.equal((await folio(['backup', '--out', out], { FOLIO_DATABASE_URL: database })).code, 0);
  t.equal(await save('ac1', 'after the backup'), 200);

  const inode = statSync(database).ino;
  for (const args of [['restore', out], ['restore', out, '--force']]) {
    const refused = await folio(args, { FOLIO_DATABASE_URL: database });
    t.equal(refused.code, 1);
    t.match(
      refused.stderr,
      new RegExp(
        `^folio: the database ${database} is in use by a running Folio server \\(pid ${server.child.pid} on [^,]+, started \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\): ` +
          `stop it first — "systemctl stop folio", or "kill -TERM ${server.child.pid}" \\(it finishes the requests under way, then exits\\) — and run "folio restore" again\\. ` +
          '--force does not get around this: ',
      ),
    );
    t.equal(statSync(database).ino, inode, 'the database is untouched');
  }
  t.equal(await save('ac1', 'still serving'), 200);

  server.child.kill('SIGKILL');
  await server.exited;
  const restore = await folio(['restore', out, '--force'], { FOLIO_DATABASE_URL: database });
  t.equal(restore.code, 0, restore.stderr);
  const replaced = /the database it replaced is kept as (\S+)\n/.exec(restore.stdout)?.[1];
  t.ok(replaced && existsSync(replaced));
  t.same([...codesIn(database)], ['before the backup']);
  // The replaced database keeps everything, its write-ahead log with it.
  t.same([...codesIn(replaced!)].sort(), ['after the backup', 'before the backup', 'still serving']);

  const again = await spawnServer(t, { FOLIO_DATABASE_URL: database, FOLIO_DEMO: '0' });
  const ready = await fetch(`${again.url}/readyz`);
  t.equal(ready.status, 200);
  t.equal(await student(again)('ac2', 'after the restore'), 200);
});

t.test('a server starting while a restore holds the database waits until the restore has finished', sqliteOnly, async (t) => {
  const dir = t.testdir();
  const database = await migratedDatabase(t, dir);
  // What `folio restore` holds while it replaces the file, held here for 3 s.
  const script = `const { holdExclusiveLock } = await import(${JSON.stringify(join(root, 'dist/db/serving-lock.js'))});
    const lock = holdExclusiveLock(${JSON.stringify(database)});
    console.log('locked');
    setTimeout(() => { lock.release(); console.log('released'); }, 3000);`;
  const [command, args] = nodeCommand('--input-type=module', ['-e', script]);
  const holder = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let releasedAt: number | undefined;
  await new Promise<void>((resolve) =>
    holder.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (chunk.includes('locked')) resolve();
      if (chunk.includes('released')) releasedAt = performance.now();
    }),
  );
  const server = await spawnServer(t, { FOLIO_DATABASE_URL: database, FOLIO_DEMO: '0' });
  const listeningAt = performance.now();
  t.ok(releasedAt !== undefined && releasedAt <= listeningAt, 'the server listened only after the restore released the database');
  t.equal((await fetch(`${server.url}/readyz`)).status, 200);
});

t.test('folio restore refuses a file that is not a Folio database this version knows, and leaves the database alone', sqliteOnly, async (t) => {
  const dir = t.testdir();
  const target = join(dir, 'target.db');
  const env = { FOLIO_DATABASE_URL: target };

  const garbage = join(dir, 'garbage.db');
  writeFileSync(garbage, 'this is not a database at all, just some text long enough to be read as a header'.repeat(20));
  t.same(await folio(['restore', garbage], env), { code: 1, stdout: '', stderr: `folio: ${garbage} is not a SQLite database\n` });

  const other = join(dir, 'other.db');
  const db = new BetterSqlite3(other);
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)');
  db.close();
  t.same(await folio(['restore', other], env), { code: 1, stdout: '', stderr: `folio: ${other} is not a Folio database (it has no __drizzle_migrations table)\n` });

  const newer = await migratedDatabase(t, dir, 'newer.db');
  const folioDb = new BetterSqlite3(newer);
  folioDb.prepare("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('from-the-future', 9999999999999)").run();
  folioDb.close();
  t.same(await folio(['restore', newer], env), {
    code: 1,
    stdout: '',
    stderr: `folio: ${newer} has 1 migration(s) this version of Folio does not know: it was made by a newer Folio (restore it with that version)\n`,
  });
  t.notOk(existsSync(target), 'nothing was restored');
});

t.test('periodic backups keep the newest FOLIO_BACKUP_KEEP, log each, and report in /readyz without making it fail', sqliteOnly, async (t) => {
  const dir = t.testdir();
  const database = await migratedDatabase(t, dir);
  const folder = join(dir, 'backups');
  const server = await spawnServer(t, { FOLIO_DATABASE_URL: database, FOLIO_DEMO: '0', FOLIO_BACKUP_DIR: folder, FOLIO_BACKUP_EVERY: '1s', FOLIO_BACKUP_KEEP: '2' });
  const made = () =>
    server.logs
      .filter((line) => line.includes('"backup made"'))
      .map((line) => (JSON.parse(line) as { backup: { file: string; bytes: number; durationMs: number; rows: Record<string, number> } }).backup);
  for (let waited = 0; made().length < 4; waited += 100) {
    if (waited > 60_000) throw new Error(`no 4 backups within a minute:\n${server.logs.join('\n')}`);
    await sleep(100);
  }
  const logged = made();
  for (const backup of logged) {
    t.match(backup, { file: new RegExp(`^${folder}/folio-\\d{4}-\\d\\d-\\d\\dT\\d\\d-\\d\\d-\\d\\d-\\d{3}Z\\.db$`), bytes: Number, durationMs: Number, rows: { books: 1 } });
  }
  t.ok(server.logs.some((line) => line.includes('old backup removed (FOLIO_BACKUP_KEEP=2)')));
  const files = readdirSync(folder).filter((f) => f.startsWith('folio-') && f.endsWith('.db'));
  t.equal(files.length, 2, 'the newest two are kept');
  const newest = logged.at(-1)!;
  t.ok(files.includes(newest.file.slice(folder.length + 1)), 'the newest is kept');
  t.notOk(files.includes(logged[0]!.file.slice(folder.length + 1)), 'the oldest is gone');

  // Every second on a loaded machine, a backup may be late by more than two periods (stale) for a moment: ask again.
  type Ready = { status: string; backup: { status: string; dir: string; every: string; keep: number; last: { ok: boolean; file: string; bytes: number } } };
  let ready: Response;
  let body: Ready;
  for (let tries = 0; ; tries++) {
    ready = await fetch(`${server.url}/readyz`);
    body = (await ready.json()) as Ready;
    if (body.backup.status !== 'stale' || tries === 50) break;
    await sleep(200);
  }
  t.equal(ready.status, 200);
  t.equal(body.status, 'ok');
  t.match(body.backup, { status: 'ok', dir: folder, every: '1s', keep: 2, last: { ok: true, file: /folio-.*\.db$/, bytes: Number }, lastSuccessAt: String });
  const copy = new BetterSqlite3(body.backup.last.file, { readonly: true });
  t.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
  copy.close();

  // The folder becomes a file: backups fail; /readyz says so and still answers 200.
  rmSync(folder, { recursive: true });
  writeFileSync(folder, 'not a folder');
  let failed: { status: number; body: typeof body } | undefined;
  for (let waited = 0; waited < 20_000; waited += 100) {
    const res = await fetch(`${server.url}/readyz`);
    const reply = (await res.json()) as typeof body;
    if (!reply.backup.last.ok && reply.backup.status === 'stale') {
      failed = { status: res.status, body: reply };
      break;
    }
    await sleep(100);
  }
  t.ok(failed, 'the failure shows in /readyz');
  t.equal(failed?.status, 200, 'a stale backup does not make /readyz fail');
  t.match(failed?.body.backup.last, { ok: false, error: /ENOTDIR/ });
  t.ok(server.logs.some((line) => line.includes('"backup failed"') && line.includes('ENOTDIR')));
});
