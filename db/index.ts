import { sql } from 'drizzle-orm';
import { DatabaseUrlError } from './errors.js';
import { isPostgresUrl } from './postgres-url.js';
import type { Query, Values } from './render.js';
import { openSqlite, type SqliteDatabase } from './sqlite.js';

export type { Query, Values };

/**
 * What runs SQL, on either database: the database itself (reads), or the transaction a write runs in. A query
 * is drizzle's (the query builder of db/query.ts, or `sql` templates; db/render.ts renders both), written once for
 * both dialects on the tables of db/schema.ts; where they differ, a query picks by `dialect`. Drizzle renders each
 * query object once per dialect, and each distinct SQL text is prepared once per connection.
 */
export interface Queries {
  readonly dialect: Dialect;
  /** The first row, or undefined. */
  get<T>(query: Query, values?: Values): Promise<T | undefined>;
  all<T>(query: Query, values?: Values): Promise<T[]>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(query: Query, values?: Values): Promise<number>;
}

export type Dialect = 'sqlite' | 'postgres';

/** One statement of a write of SQL alone: `run` (its result: the rows changed) or `get` (the first row). */
export type WriteStep = readonly [kind: 'run' | 'get', query: Query, values?: Values];

export interface Database extends Queries {
  /** Where the data lives, for messages: a file path, or the PostgreSQL URL without its password. */
  readonly location: string;
  /**
   * The first column of the first row as UTF-8 bytes, ready to send (a JSON text the database built); undefined
   * without a row. On SQLite the bytes are handed over from the read thread without a copy.
   */
  bytes(query: Query, values?: Values): Promise<Buffer | undefined>;
  /**
   * A read of a few rows by key that every request makes (its session and user): `get`, except that on SQLite,
   * while the read thread has other reads to make, it runs at once on a read-only connection of the event loop's
   * own instead of queueing behind them (committed data only, as there). Writes leave the event loop busy and the
   * read thread idle: the look-ups go there; page states leave the read thread busy: they stay here.
   */
  lookup<T>(query: Query, values?: Values): Promise<T | undefined>;
  /**
   * SQLite: how many times a session or user row has been inserted, changed or deleted, by any connection
   * (triggers count them in change_counters 'auth': migration 0006), read on the writer's connection once per turn
   * of the event loop and after each commit; undefined while a write is under way there (it would see that
   * write's uncommitted changes), and always on PostgreSQL, where look-ups are not remembered.
   */
  authChanges(): number | undefined;
  /**
   * Runs a write in the next group commit: the writes of one moment share one transaction (one failing undoes
   * only itself: SQLite runs each in a savepoint, PostgreSQL runs the batch again write by write) and resolve
   * only once it is committed — a 2xx
   * after a write means the write is durable. `work` must run all its SQL through `tx`. `locks` name what the
   * work must not share with concurrent writers in other processes (e.g. `work:<user>`); PostgreSQL takes
   * them as advisory locks for the transaction, SQLite (one writer at a time) needs none.
   */
  write<T>(work: (tx: Queries) => Promise<T>, locks?: readonly string[]): Promise<T>;
  /**
   * A write that is SQL alone, its statements in order: `write` with work that runs each step on `tx` and resolves
   * with their results (`run`: rows changed, `get`: the first row). On a SQLite file it commits on the write thread
   * (db/sqlite-writer.ts), off the event loop.
   */
  writeSteps(steps: readonly WriteStep[], locks?: readonly string[]): Promise<unknown[]>;
  /** Streams the rows of a query as arrays, in chunks, from a snapshot of its own (exports). */
  snapshot(): Promise<Snapshot>;
  close(): Promise<void>;
}

/** A read-only view of one moment of the database, on a connection of its own. */
export interface Snapshot {
  readonly dialect: Dialect;
  all<T>(query: Query, values?: Values): Promise<T[]>;
  /** The rows of a query as arrays, `size` at a time (an empty chunk at the end). */
  cursor(query: Query, values: Values | undefined, size: number): () => Promise<unknown[][]>;
  close(): Promise<void>;
}

export { DatabaseUrlError };

export interface OpenOptions {
  /** PostgreSQL: connections in the pool. */
  poolSize?: number;
}

/**
 * Opens the database named by FOLIO_DATABASE_URL: a `postgres://` URL (optionally `?schema=name` to keep
 * Folio's tables in a schema of their own), or a SQLite file path (created with its folder if missing).
 * node-postgres is loaded only for a PostgreSQL URL: on SQLite its modules (and the undici they pull in) cost the
 * single binary's start-up 15-25 ms of CPU (bench/RESULTS.md, "Start-up"); test/startup.test.ts keeps it that way.
 */
export async function openDatabase(url: string, options: OpenOptions = {}): Promise<Database> {
  if (!isPostgresUrl(url)) return openSqlite(url);
  const { openPostgres } = await import('./postgres.js');
  return openPostgres(url, options.poolSize ?? 10);
}

const ping = sql`SELECT 1`;

/** Throws unless the database answers a trivial query. */
export async function pingDatabase(db: Queries): Promise<void> {
  await db.get(ping);
}

/**
 * Where the reads made before serving go (the database answers, its migrations, the demo book, the origins): on SQLite
 * the event loop's own connection, which is open already, so that the start does not wait for the read thread to
 * start and open one (warmUp starts it once the server listens); on PostgreSQL the database itself.
 */
export function startupReads(db: Database): Queries {
  return db.dialect === 'sqlite' && 'onLoop' in db ? (db as SqliteDatabase).onLoop : db;
}

/**
 * On SQLite, starts the read thread and its connection (tens of milliseconds), for the caller not to wait for, so that
 * they are ready for the first reads: a key look-up (db.lookup: it does not make the thread count as busy, so
 * requests meanwhile do not open the event loop's read-only connection). PostgreSQL's pool has a connection since
 * ensureReachable. Should it fail, later reads fail as they would have, and the next one starts a new thread.
 */
export async function warmUp(db: Database): Promise<void> {
  if (db.dialect === 'sqlite') await db.lookup(ping);
}

/**
 * Checks that the database can be reached before anything else, so that an unreachable one gets a message naming
 * it, within `timeoutMs` (a host that drops packets would otherwise hold the start for the system's TCP timeout).
 */
export async function ensureReachable(db: Database, timeoutMs = 15_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const silent = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    await Promise.race([pingDatabase(startupReads(db)), silent]);
  } catch (err) {
    // Not awaited: a connection attempt still under way would hold the close.
    void db.close().catch(() => {});
    throw new DatabaseUrlError(`cannot use the database ${db.location}: ${(err as Error).message} (check FOLIO_DATABASE_URL, and that the server runs)`);
  } finally {
    clearTimeout(timer);
  }
}

/** A value built once per open database, such as its prepared statements. */
export function perDatabase<T>(build: (db: Database) => T): (db: Database) => T {
  const cache = new WeakMap<Database, T>();
  return (db) => {
    let value = cache.get(db);
    if (value === undefined) cache.set(db, (value = build(db)));
    return value;
  };
}
