import t from 'tap';
import { openDatabase } from '../db/index.js';
import { applyMigrations } from '../db/migrate.js';
import BetterSqlite3 from 'better-sqlite3';
import { GroupCommit } from '../db/group-commit.js';
import { readThread, SqliteQueries, type SqliteDatabase } from '../db/sqlite.js';
import { testDatabaseUrl, testDialect } from './helper.js';
import { sql } from 'drizzle-orm';

/** The group commit of the database under test (SQLite or PostgreSQL), through db.write, with real tables. */
async function database(t: Parameters<typeof testDatabaseUrl>[0]) {
  const db = await openDatabase(testDatabaseUrl(t));
  t.teardown(() => db.close());
  await applyMigrations(db);
  return db;
}

const insertBook = sql`INSERT INTO books (id, title, created_at) VALUES (${sql.placeholder('id')}, 'T', 0)`;

t.test('writes made together share a commit; one that fails undoes only itself', async (t) => {
  const db = await database(t);
  await db.write((tx) => tx.run(insertBook, { id: 'taken' }));
  const outcomes = await Promise.allSettled([
    db.write((tx) => tx.run(insertBook, { id: 'a' })),
    db.write(async (tx) => {
      await tx.run(insertBook, { id: 'b' });
      return tx.run(insertBook, { id: 'taken' }); // a primary-key violation after a write of its own
    }),
    db.write((tx) => tx.run(insertBook, { id: 'c' })),
  ]);
  t.same(
    outcomes.map((o) => o.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  t.same(await db.all(sql`SELECT id FROM books ORDER BY id`), [{ id: 'a' }, { id: 'c' }, { id: 'taken' }], 'b was undone with the write that failed');
});

t.test('a write resolves with what its work returned, after the commit', async (t) => {
  const db = await database(t);
  const [first, second] = await Promise.all([
    db.write(async (tx) => (await tx.get<{ id: string }>(sql`INSERT INTO books (id, title, created_at) VALUES ('x', 'X', 0) RETURNING id`))!.id),
    db.write(async (tx) => (await tx.all<{ n: number }>(sql`SELECT COUNT(*) AS n FROM books`))[0]!.n),
  ]);
  t.equal(first, 'x');
  t.equal(second, 1, 'the second write sees the first: same transaction, in order');
  t.same(await db.get(sql`SELECT COUNT(*) AS n FROM books`), { n: 1 });
});

t.test('a write that throws without touching the database rejects with its error and leaves the others alone', async (t) => {
  const db = await database(t);
  const failing = db.write(async () => {
    throw new Error('refused by the work itself');
  });
  const ok = db.write((tx) => tx.run(insertBook, { id: 'kept' }));
  await t.rejects(failing, { message: 'refused by the work itself' });
  t.equal(await ok, 1);
  t.same(await db.all(sql`SELECT id FROM books`), [{ id: 'kept' }]);
});

t.test('a read never sees a write whose transaction is still open, and sees it once the write has resolved', async (t) => {
  const db = await database(t);
  let finish!: () => void;
  const held = new Promise<void>((resolve) => (finish = resolve));
  let inserted!: () => void;
  const insertDone = new Promise<void>((resolve) => (inserted = resolve));
  const write = db.write(async (tx) => {
    await tx.run(insertBook, { id: 'pending' });
    inserted();
    await held; // the transaction stays open until the test lets it commit
  });
  await insertDone;
  t.same(await db.all(sql`SELECT id FROM books`), [], 'reads see committed data only');
  finish();
  await write;
  t.same(await db.all(sql`SELECT id FROM books`), [{ id: 'pending' }], 'read after the write resolved');
});

t.test('a read that fails rejects with the database’s own message, and the next read works', async (t) => {
  const db = await database(t);
  await t.rejects(db.get(sql`SELECT * FROM no_such_table`), { message: /no_such_table/ });
  t.same(await db.get(sql`SELECT COUNT(*) AS n FROM books`), { n: 0 });
});

t.test('two databases open in one process read their own rows, and closing one leaves the other readable', async (t) => {
  const first = await database(t);
  const second = await database(t);
  await first.write((tx) => tx.run(insertBook, { id: 'in-first' }));
  await second.write((tx) => tx.run(insertBook, { id: 'in-second' }));
  t.same(await first.all(sql`SELECT id FROM books`), [{ id: 'in-first' }]);
  t.same(await second.all(sql`SELECT id FROM books`), [{ id: 'in-second' }]);
  await first.close();
  await t.rejects(first.get(sql`SELECT 1`));
  t.same(await second.all(sql`SELECT id FROM books`), [{ id: 'in-second' }]);
});

t.test('bytes gives the first column of the first row as UTF-8, and undefined without a row', async (t) => {
  const db = await database(t);
  await db.write((tx) => tx.run(sql`INSERT INTO books (id, title, created_at) VALUES ('b', 'Élan — 数学 🧮', 0)`));
  const bytes = await db.bytes(sql`SELECT title, id FROM books WHERE id = 'b'`);
  t.ok(Buffer.isBuffer(bytes));
  t.equal(bytes!.toString('utf8'), 'Élan — 数学 🧮');
  t.equal(await db.bytes(sql`SELECT title FROM books WHERE id = 'none'`), undefined);
});

t.test('a SQLite database in memory (one connection, no read thread) writes and reads', { skip: testDialect === 'sqlite' ? false : 'SQLite only' }, async (t) => {
  const db = await openDatabase(':memory:');
  t.teardown(() => db.close());
  await applyMigrations(db);
  await db.write((tx) => tx.run(insertBook, { id: 'only' }));
  t.same(await db.all(sql`SELECT id FROM books`), [{ id: 'only' }]);
  t.same(await db.get(sql`SELECT title FROM books WHERE id = 'only'`), { title: 'T' });
  t.equal((await db.bytes(sql`SELECT title FROM books WHERE id = 'only'`))!.toString(), 'T');
});

t.test('when the SQLite read thread stops, the reads waiting on it fail and the next read starts a new one', { skip: testDialect === 'sqlite' ? false : 'SQLite only' }, async (t) => {
  const db = await database(t);
  await db.write((tx) => tx.run(insertBook, { id: 'kept' }));
  // A read that keeps the thread busy for a moment (counting to three million).
  const slow = db.get(sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT COUNT(*) AS c FROM n`);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await readThread.stop();
  await t.rejects(slow, { message: /the SQLite read thread stopped/ });
  t.same(await db.all(sql`SELECT id FROM books`), [{ id: 'kept' }]);
});

t.test('a key look-up goes to the read thread while it is idle, and sees committed writes', async (t) => {
  const db = await database(t);
  await db.write((tx) => tx.run(insertBook, { id: 'b1' }));
  const before = readThread.lookupsOnLoop;
  t.same(await db.lookup(sql`SELECT id, title FROM books WHERE id = 'b1'`), { id: 'b1', title: 'T' });
  t.equal(await db.lookup(sql`SELECT id FROM books WHERE id = 'none'`), undefined);
  t.equal(readThread.lookupsOnLoop, before, 'none made on the event loop');
});

t.test('while the read thread has a long read, a key look-up runs at once on the event loop and sees the newest commit', { skip: testDialect === 'sqlite' ? false : 'SQLite only' }, async (t) => {
  const db = await database(t);
  await db.write((tx) => tx.run(insertBook, { id: 'b1' }));
  const order: string[] = [];
  const slow = db.get(sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) SELECT COUNT(*) AS c FROM n`).then((row) => (order.push('slow'), row));
  const before = readThread.lookupsOnLoop;
  const first = await db.lookup(sql`SELECT id FROM books WHERE id = 'b1'`);
  order.push('lookup');
  await db.write((tx) => tx.run(insertBook, { id: 'b2' }));
  const second = await db.lookup(sql`SELECT id FROM books WHERE id = 'b2'`);
  t.same([first, second], [{ id: 'b1' }, { id: 'b2' }]);
  t.equal(readThread.lookupsOnLoop, before + 2);
  t.same(await slow, { c: 1000000 });
  t.same(order, ['lookup', 'slow'], 'the look-up did not wait for the long read');
});

t.test('writes of steps made together share a commit; each resolves with its steps\' results, and one that fails undoes only itself', async (t) => {
  const db = await database(t);
  await db.write((tx) => tx.run(insertBook, { id: 'taken' }));
  const outcomes = await Promise.allSettled([
    db.writeSteps([['run', insertBook, { id: 'a' }], ['get', sql`UPDATE books SET title = 'A' WHERE id = ${'a'} RETURNING id, title`]]),
    db.writeSteps([['run', insertBook, { id: 'b' }], ['run', insertBook, { id: 'taken' }]]),
    db.writeSteps([['run', sql`DELETE FROM books WHERE id = 'none'`]]),
    db.writeSteps([['run', insertBook, { id: 'd' }], ['run', sql`INSERT INTO no_such_table VALUES (1)`]]),
  ]);
  t.same(outcomes[0], { status: 'fulfilled', value: [1, { id: 'a', title: 'A' }] });
  t.equal(outcomes[1]!.status, 'rejected');
  t.match((outcomes[1] as PromiseRejectedResult).reason, { message: /UNIQUE|duplicate key/, code: /^(SQLITE_CONSTRAINT_PRIMARYKEY|23505)$/ }, "the database's own error, with its code");
  t.same(outcomes[2], { status: 'fulfilled', value: [0] });
  t.match(outcomes[3], { status: 'rejected', reason: { message: /no_such_table/ } }, 'SQL that does not prepare fails its own write');
  t.same(await db.all(sql`SELECT id, title FROM books ORDER BY id`), [{ id: 'a', title: 'A' }, { id: 'taken', title: 'T' }], 'b and d were undone with the writes that failed');
});

t.test('writes of steps and of work made together commit in the order they were made', async (t) => {
  const db = await database(t);
  const [, renamed, seen] = await Promise.all([
    db.write((tx) => tx.run(insertBook, { id: 'first' })),
    db.writeSteps([['run', sql`UPDATE books SET title = 'renamed' WHERE id = 'first'`]]),
    db.write((tx) => tx.get<{ title: string }>(sql`SELECT title FROM books WHERE id = 'first'`)),
  ]);
  t.same(renamed, [1], 'the steps saw the row the work before them inserted');
  t.same(seen, { title: 'renamed' }, 'the work after them saw their change');
});

t.test('on a SQLite file, writes of steps commit on the write thread with synchronous=FULL: on disk before they are answered', { skip: testDialect === 'sqlite' ? false : 'SQLite only' }, async (t) => {
  const db = (await database(t)) as SqliteDatabase;
  const [mode] = await db.writeSteps([['get', sql`PRAGMA synchronous`]]);
  t.same(mode, { synchronous: 2 }, 'FULL (2): the COMMIT returns after the fsync of the log');
  t.same(db.sqlite.pragma('synchronous'), [{ synchronous: 1 }], "the event loop's connection stays NORMAL (the group commit fsyncs its commits off the loop)");
});

t.test('when the SQLite write thread stops, the writes waiting on it fail and are not stored; the next write starts a new one', { skip: testDialect === 'sqlite' ? false : 'SQLite only' }, async (t) => {
  const db = (await database(t)) as SqliteDatabase;
  await db.writeSteps([['run', insertBook, { id: 'kept' }]]);
  // A write that keeps the thread busy for a moment (counting to three million) after its insert.
  const slow = db.writeSteps([
    ['run', insertBook, { id: 'lost' }],
    ['get', sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT COUNT(*) AS c FROM n`],
  ]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  await db.writeThread!.stop();
  await t.rejects(slow, { message: /the SQLite write thread stopped/ });
  t.same(await db.writeSteps([['run', insertBook, { id: 'after' }]]), [1]);
  t.same(await db.all(sql`SELECT id FROM books ORDER BY id`), [{ id: 'after' }, { id: 'kept' }], 'nothing of the write that was under way');
});

t.test('closing the database commits the writes of steps still queued', async (t) => {
  const url = testDatabaseUrl(t);
  const db = await openDatabase(url);
  await applyMigrations(db);
  const queued = [db.writeSteps([['run', insertBook, { id: 'q1' }]]), db.writeSteps([['run', insertBook, { id: 'q2' }]])];
  await db.close();
  t.same(await Promise.all(queued), [[1], [1]]);
  const again = await openDatabase(url);
  t.teardown(() => again.close());
  t.same(await again.all(sql`SELECT id FROM books ORDER BY id`), [{ id: 'q1' }, { id: 'q2' }]);
  await t.rejects(db.writeSteps([['run', insertBook, { id: 'late' }]]), 'a write after the close fails');
  t.same(await again.all(sql`SELECT id FROM books ORDER BY id`), [{ id: 'q1' }, { id: 'q2' }], 'and stores nothing');
});

/** A SQLite database in memory with one table `t (v)`, for the group commit alone. */
function scratch(t: Parameters<typeof testDatabaseUrl>[0]): BetterSqlite3.Database {
  const sqlite = new BetterSqlite3(':memory:');
  t.teardown(() => sqlite.close());
  sqlite.exec('CREATE TABLE t (v INTEGER)');
  return sqlite;
}

t.test('a write is answered only after an fsync that began after its COMMIT; one fsync covers the commits made before it began', async (t) => {
  const sqlite = scratch(t);
  const events: string[] = [];
  const syncs: (() => void)[] = [];
  const sync = () => new Promise<void>((resolve) => {
    events.push(`sync ${syncs.length + 1} began with ${(sqlite.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n} rows`);
    syncs.push(resolve);
  });
  const group = new GroupCommit(new SqliteQueries(sqlite), sync);
  const write = (v: number) => group.run((tx) => tx.run(sql`INSERT INTO t (v) VALUES (${v})`)).then(() => events.push(`write ${v} answered`));
  const first = write(1);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  t.same(events, ['sync 1 began with 1 rows'], 'committed, not answered');
  const second = write(2);
  const third = write(3);
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(syncs.length, 1, 'no second fsync while the first runs');
  t.same((sqlite.prepare('SELECT v FROM t ORDER BY v').all() as { v: number }[]).map((r) => r.v), [1, 2, 3], 'the next batch committed meanwhile');
  syncs[0]!();
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  t.same([...events].sort(), ['sync 1 began with 1 rows', 'sync 2 began with 3 rows', 'write 1 answered'], 'writes 2 and 3 wait for an fsync of their own');
  syncs[1]!();
  await Promise.all([second, third]);
  t.same(events.slice(3), ['write 2 answered', 'write 3 answered']);
});

t.test('a failed fsync fails the writes it was to cover', async (t) => {
  const group = new GroupCommit(new SqliteQueries(scratch(t)), async () => {
    throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
  });
  await t.rejects(group.run((tx) => tx.run(sql`INSERT INTO t (v) VALUES (1)`)), { code: 'EIO' });
});

t.test('on a SQLite file, a write is answered after an fsync of its write-ahead log', { skip: testDialect === 'sqlite' ? false : 'SQLite only' }, async (t) => {
  const db = await database(t);
  const { open } = await import('node:fs/promises');
  const probe = await open(new URL(import.meta.url), 'r');
  const prototype = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  const original = prototype.datasync;
  const synced: number[] = [];
  prototype.datasync = async function (this: { fd: number }) {
    await original.call(this);
    synced.push(this.fd);
  };
  t.teardown(() => void (prototype.datasync = original));
  await db.write((tx) => tx.run(insertBook, { id: 'durable' }));
  t.equal(synced.length, 1, 'one fsync before the answer');
  await db.write((tx) => tx.run(insertBook, { id: 'durable-too' }));
  t.equal(synced.length, 2);
  t.equal(synced[0], synced[1], 'of the same file, kept open');
});
