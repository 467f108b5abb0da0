import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'drizzle-orm';
import { SQLiteSyncDialect } from 'drizzle-orm/sqlite-core';
import { mkdirSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { assetPath, isSingleBinary, sqliteAddon, sqliteAddonAsset, sqliteReaderAsset, sqliteWriterAsset } from '../lib/assets.js';
import { firstColumnBytes } from './bytes.js';
import { GroupCommit, type WriteThreadCommit } from './group-commit.js';
import type { Database, Queries, Query, Snapshot, Values, WriteStep } from './index.js';
import { renderer } from './render.js';
import type { ReadReply, ReadRequest, ReaderData } from './sqlite-reader.js';
import type { WriteOutcome, WriterBatch, WriterData, WriterReply } from './sqlite-writer.js';
import { errorOf, type ThreadFailure } from './thread-failure.js';

type Statement = BetterSqlite3.Statement<unknown[], unknown>;

/** A query as SQLite runs it: drizzle's text for SQLite and its values in order (db/render.ts). */
const sqliteStatement = renderer(new SQLiteSyncDialect());

/** Runs queries on one better-sqlite3 connection, preparing each distinct SQL text once. */
export class SqliteQueries implements Queries {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, Statement>();

  constructor(readonly sqlite: BetterSqlite3.Database) {}

  prepare(text: string): Statement {
    let statement = this.statements.get(text);
    if (!statement) this.statements.set(text, (statement = this.sqlite.prepare(text)));
    return statement;
  }

  async get<T>(query: Query, values?: Values): Promise<T | undefined> {
    return this.getNow<T>(query, values);
  }

  async all<T>(query: Query, values?: Values): Promise<T[]> {
    return this.allNow<T>(query, values);
  }

  async run(query: Query, values?: Values): Promise<number> {
    return this.runNow(query, values);
  }

  /** The same, synchronously (SQLite only: the group commit, snapshots). */
  getNow<T>(query: Query, values?: Values): T | undefined {
    const { text, values: bound } = sqliteStatement(query, values);
    return this.prepare(text).get(bound) as T | undefined;
  }

  allNow<T>(query: Query, values?: Values): T[] {
    const { text, values: bound } = sqliteStatement(query, values);
    return this.prepare(text).all(bound) as T[];
  }

  runNow(query: Query, values?: Values): number {
    const { text, values: bound } = sqliteStatement(query, values);
    return this.prepare(text).run(bound).changes;
  }
}

export function connect(file: string, options: BetterSqlite3.Options = {}): BetterSqlite3.Database {
  const nativeBinding = sqliteAddon();
  // better-sqlite3 takes the loaded addon object too; its types only name the path form.
  return new BetterSqlite3(file, nativeBinding ? { ...options, nativeBinding: nativeBinding as unknown as string } : options);
}

/** A read transaction on a connection of its own: one moment of the database, without holding up writers (WAL). */
class SqliteSnapshot implements Snapshot {
  readonly dialect = 'sqlite' as const;
  private readonly queries: SqliteQueries;
  private readonly iterators: IterableIterator<unknown[]>[] = [];

  constructor(location: string) {
    const sqlite = connect(location, { readonly: true, fileMustExist: true });
    try {
      sqlite.pragma('busy_timeout = 5000');
      sqlite.exec('BEGIN');
      // The snapshot starts with the first read.
      sqlite.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get();
    } catch (err) {
      sqlite.close();
      throw err;
    }
    this.queries = new SqliteQueries(sqlite);
  }

  async all<T>(query: Query, values?: Values): Promise<T[]> {
    return this.queries.allNow<T>(query, values);
  }

  cursor(query: Query, values: Values | undefined, size: number): () => Promise<unknown[][]> {
    const { text, values: bound } = sqliteStatement(query, values);
    const statement = this.queries.prepare(text).raw(true);
    const rows = statement.iterate(bound) as IterableIterator<unknown[]>;
    this.iterators.push(rows);
    return async () => {
      const chunk: unknown[][] = [];
      while (chunk.length < size) {
        const next = rows.next();
        if (next.done) break;
        chunk.push(next.value);
      }
      return chunk;
    };
  }

  async close(): Promise<void> {
    for (const rows of this.iterators.splice(0)) rows.return?.();
    if (this.queries.sqlite.open) this.queries.sqlite.close();
  }
}

/**
 * A worker thread of ours (db/sqlite-reader.ts, db/sqlite-writer.ts): from the single binary's assets, dist/, or the
 * sources (through tsx).
 */
function startThread(name: 'sqlite-reader' | 'sqlite-writer', asset: string, workerData: object): Worker {
  if (isSingleBinary()) return new Worker(assetPath(asset), { workerData });
  const source = import.meta.url.endsWith('.ts');
  const url = new URL(`./${name}.${source ? 'ts' : 'js'}`, import.meta.url);
  if (!source) return new Worker(url, { workerData });
  // Run from the TypeScript sources (npm start, the tests): the thread registers tsx's loader first.
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`, { eval: true, workerData });
}

interface PendingRead {
  resolve: (value: never) => void;
  reject: (err: unknown) => void;
}

/**
 * The read thread (db/sqlite-reader.ts), one per process for every SQLite database it opens, started on the first
 * read. The reads of one event-loop turn travel as one message. Should the thread die, the reads waiting on it
 * fail and the next read starts a new one. It keeps the process alive only while reads wait on it.
 */
class ReadThread {
  private thread: Worker | undefined;
  private readonly pending = new Map<number, PendingRead>();
  private queue: ReadRequest[] = [];
  private nextId = 0;
  /** Reads sent or queued that are not key look-ups: while there are any, look-ups run on the event loop. */
  private others = 0;
  /** Key look-ups made on the event loop because the thread had other reads (tests, diagnostics). */
  lookupsOnLoop = 0;

  request<T>(database: number, file: string, kind: ReadRequest[3], text: string, values: unknown, lookup = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId++;
      if (!lookup) this.others++;
      const done = lookup ? resolve : (value: T) => (this.others--, resolve(value));
      const failed = lookup ? reject : (err: unknown) => (this.others--, reject(err));
      this.pending.set(id, { resolve: done as (value: never) => void, reject: failed });
      if (this.queue.push([id, database, file, kind, text, values]) === 1) queueMicrotask(() => this.send());
    });
  }

  /** Whether the thread is running (tests). */
  get running(): boolean {
    return this.thread !== undefined;
  }

  /** Whether the thread has reads other than look-ups to make. */
  get busy(): boolean {
    return this.others > 0;
  }

  private send(): void {
    const batch = this.queue;
    this.queue = [];
    const thread = this.start();
    // The thread keeps the process alive only while a read waits on it.
    thread.ref();
    thread.postMessage(batch);
  }

  private start(): Worker {
    if (this.thread) return this.thread;
    const thread = startThread('sqlite-reader', sqliteReaderAsset, { folioReader: { addon: singleBinaryAddon() } satisfies ReaderData });
    thread.on('message', (replies: ReadReply[]) => {
      for (const [id, ok, value] of replies) {
        const read = this.pending.get(id);
        this.pending.delete(id);
        if (ok) read?.resolve(value as never);
        else read?.reject(errorOf(value as ThreadFailure));
      }
      if (this.pending.size === 0) thread.unref();
    });
    const lost = (err: Error) => {
      if (this.thread !== thread) return;
      this.thread = undefined;
      for (const read of this.pending.values()) read.reject(err);
      this.pending.clear();
    };
    thread.on('error', lost);
    thread.on('exit', (code) => lost(new Error(`the SQLite read thread stopped (exit code ${code})`)));
    return (this.thread = thread);
  }

  /** Stops the thread as a crash would (tests): the reads waiting on it fail, the next read starts a new one. */
  async stop(): Promise<void> {
    await this.thread?.terminate();
  }

  /** Closes the thread's connection of a database, if it has one. */
  async release(database: number, file: string): Promise<void> {
    if (this.thread) await this.request(database, file, 'close', '', undefined);
  }
}

export const readThread = new ReadThread();

const singleBinaryAddon = () => (isSingleBinary() ? assetPath(sqliteAddonAsset) : undefined);

/**
 * The write thread of one opened SQLite database (db/sqlite-writer.ts), started on its first write of steps; one
 * batch at a time (the group commit sends the next once this one is committed). Should the thread die, the batch
 * waiting on it fails (unanswered: had the thread reached its COMMIT, a retry makes one more attempt, never a lost
 * one) and the next batch starts a new one. It keeps the process alive only while a batch waits on it.
 */
class WriteThread implements WriteThreadCommit {
  private thread: Worker | undefined;
  private waiting: { resolve: (outcomes: WriteOutcome[]) => void; reject: (err: unknown) => void } | undefined;
  /** The number of each SQL text the thread has been sent (it prepares each once). */
  private readonly statementIds = new Map<string, number>();
  private closed = false;

  constructor(private readonly file: string) {}

  commit(batch: (readonly WriteStep[])[]): Promise<WriteOutcome[]> {
    if (this.closed) return Promise.reject(new Error('the database is closed'));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      const thread = this.start();
      const statements: WriterBatch['statements'] = [];
      const writes: WriterBatch['writes'] = batch.map((steps) =>
        steps.map(([kind, query, values]) => {
          const { text, values: bound } = sqliteStatement(query, values);
          let id = this.statementIds.get(text);
          if (id === undefined) {
            this.statementIds.set(text, (id = this.statementIds.size));
            statements.push([id, text]);
          }
          return [kind, id, bound];
        }),
      );
      thread.ref();
      thread.postMessage({ statements, writes } satisfies WriterBatch);
    });
  }

  private start(): Worker {
    if (this.thread) return this.thread;
    const thread = startThread('sqlite-writer', sqliteWriterAsset, { folioWriter: { file: this.file, addon: singleBinaryAddon() } satisfies WriterData });
    this.statementIds.clear();
    thread.on('message', (reply: WriterReply) => {
      const waiting = this.waiting;
      this.waiting = undefined;
      thread.unref();
      if ('outcomes' in reply) waiting?.resolve(reply.outcomes);
      else waiting?.reject(errorOf(reply.failure));
    });
    const lost = (err: Error) => {
      if (this.thread !== thread) return;
      this.thread = undefined;
      this.waiting?.reject(err);
      this.waiting = undefined;
    };
    thread.on('error', lost);
    thread.on('exit', (code) => lost(new Error(`the SQLite write thread stopped (exit code ${code})`)));
    return (this.thread = thread);
  }

  /** Stops the thread as a crash would (tests): the batch waiting on it fails, the next one starts a new thread. */
  async stop(): Promise<void> {
    await this.thread?.terminate();
  }

  /** Closes the connection and ends the thread (after the group commit has drained). */
  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    if (!thread) return;
    this.thread = undefined;
    const exited = new Promise((resolve) => thread.once('exit', resolve));
    // Held until the thread has closed its connection, or the process would end before.
    thread.ref();
    thread.postMessage('close');
    await exited;
  }
}
let databases = 0;

const authChangesSql = sql`SELECT value FROM change_counters WHERE name = 'auth'`;

/**
 * The reads of one opened SQLite database, on a connection of its own in the read thread; key look-ups there too
 * unless the thread is busy with other reads, then on a read-only connection of the event loop's own.
 */
function threadReads(file: string): Pick<Database, 'get' | 'all' | 'bytes' | 'lookup' | 'close'> {
  const database = ++databases;
  let closed = false;
  let loop: SqliteQueries | undefined;
  const read = <T>(kind: 'get' | 'all' | 'bytes', query: Query, values: Values | undefined, lookup = false) => {
    if (closed) return Promise.reject(new Error('the database is closed'));
    const { text, values: bound } = sqliteStatement(query, values);
    return readThread.request<T>(database, file, kind, text, bound, lookup);
  };
  return {
    get: (query, values) => read('get', query, values),
    all: (query, values) => read('all', query, values),
    bytes: (query, values) => read<ArrayBuffer | undefined>('bytes', query, values).then((bytes) => bytes && Buffer.from(bytes)),
    lookup(query, values) {
      if (closed || !readThread.busy) return read('get', query, values, true);
      readThread.lookupsOnLoop++;
      loop ??= new SqliteQueries(connect(file, { readonly: true, fileMustExist: true }));
      return loop.get(query, values);
    },
    async close() {
      closed = true;
      loop?.sqlite.close();
      await readThread.release(database, file);
    },
  };
}

/**
 * The fsync of a database's write-ahead log, on libuv's thread pool: an fsync of any descriptor of a file writes
 * out all of it. The log's folder is synced once too, so that the log's name is on disk as well.
 */
function walSync(location: string): { sync: () => Promise<void>; close: () => Promise<void> } {
  let wal: Promise<FileHandle> | undefined;
  const openWal = async () => {
    const handle = await open(`${location}-wal`, 'r');
    const folder = await open(dirname(location), 'r');
    try {
      await folder.sync();
    } finally {
      await folder.close();
    }
    return handle;
  };
  return {
    async sync() {
      wal ??= openWal().catch((err: unknown) => {
        wal = undefined;
        throw err;
      });
      await (await wal).datasync();
    },
    async close() {
      await (await wal?.catch(() => undefined))?.close();
    },
  };
}

/**
 * Opens (creating it and its folder if missing) a SQLite database: WAL, foreign keys on, and every commit of the
 * group commit on disk before it is acknowledged. That is synchronous=FULL's promise, kept another way: SQLite
 * runs with synchronous=NORMAL (it writes the log at each commit and fsyncs it only before checkpoints, so the
 * database stays whole) and the group commit fsyncs the log itself after each COMMIT, off the event loop, before
 * any of the batch's writes is answered. FULL would block the event loop for the fsync, about a millisecond here.
 */
export function openSqlite(url: string): Database & { sqlite: BetterSqlite3.Database; onLoop: SqliteQueries; writeThread: WriteThread | undefined } {
  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (file !== ':memory:') mkdirSync(dirname(resolve(file)), { recursive: true });
  const sqlite = connect(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const queries = new SqliteQueries(sqlite);
  const location = file === ':memory:' ? file : resolve(file);
  const wal = location === ':memory:' ? undefined : walSync(location);
  // The count of session and user changes read in this turn of the event loop: one read (it takes the database's
  // locks: a few system calls) serves the turn's requests; it is read again in the next turn and after a commit.
  let authChanges: number | undefined;
  const forgetAuthChanges = () => {
    authChanges = undefined;
  };
  const writer = location === ':memory:' ? undefined : new WriteThread(location);
  const group = new GroupCommit(queries, wal?.sync, forgetAuthChanges, writer);
  // A database in memory has one connection: its reads stay on it.
  const reads: Pick<Database, 'get' | 'all' | 'bytes' | 'lookup' | 'close'> =
    location === ':memory:'
      ? {
          get: (query, values) => queries.get(query, values),
          all: (query, values) => queries.all(query, values),
          bytes: (query, values) => firstColumnBytes(queries, query, values),
          lookup: (query, values) => queries.get(query, values),
          close: async () => {},
        }
      : threadReads(location);
  return {
    dialect: 'sqlite',
    location,
    sqlite,
    /**
     * Queries on the event loop's own connection (the group commit's): committed data while no write is under way.
     * Start-up checks read here (db/index.ts, startupReads), so that the start does not wait for the read thread.
     */
    onLoop: queries,
    /** The write thread, if the database is a file (tests stop it). */
    writeThread: writer,
    lookup: (query, values) => reads.lookup(query, values),
    authChanges() {
      if (sqlite.inTransaction) return undefined;
      if (authChanges === undefined) {
        authChanges = queries.getNow<{ value: number }>(authChangesSql)?.value ?? 0;
        setImmediate(forgetAuthChanges);
      }
      return authChanges;
    },
    get: (query, values) => reads.get(query, values),
    all: (query, values) => reads.all(query, values),
    bytes: (query, values) => reads.bytes(query, values),
    run: (query, values) => (forgetAuthChanges(), queries.run(query, values)),
    write: (work) => group.run(work),
    writeSteps: (steps) => group.runSteps(steps),
    async snapshot() {
      if (location === ':memory:') throw new Error('an in-memory database cannot be read from a second connection');
      return new SqliteSnapshot(location);
    },
    async close() {
      if (!sqlite.open) return;
      await group.drain();
      await writer?.close();
      await reads.close();
      await wal?.close();
      sqlite.close();
    },
  };
}

export type SqliteDatabase = ReturnType<typeof openSqlite>;
