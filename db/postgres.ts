import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { firstColumnBytes } from './bytes.js';
import { parsePostgresUrl, redactUrl } from './postgres-url.js';
import type { Database, Queries, Query, Snapshot, Values } from './index.js';
import { renderer } from './render.js';
import { runSteps } from './steps.js';

/** BIGINT columns (times in ms, row ids, counts) as JS numbers: all of Folio's stay far below 2^53. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** A query as PostgreSQL runs it: drizzle's text for PostgreSQL (`$n` parameters) and its values in order (db/render.ts). */
const postgresStatement = renderer(new PgDialect());

/** Prepared-statement names: each distinct SQL text is parsed once per connection. */
const statementNames = new Map<string, string>();
const statementName = (text: string) => {
  let name = statementNames.get(text);
  if (name === undefined) statementNames.set(text, (name = `folio_${statementNames.size + 1}`));
  return name;
};

type Runner = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** Runs SQL on a pool (each query on any free connection) or on one client (a transaction). */
class PostgresQueries implements Queries {
  readonly dialect = 'postgres' as const;

  constructor(private readonly runner: Runner) {}

  private async query(query: Query, values: Values | undefined): Promise<pg.QueryResult> {
    const { text, values: bound } = postgresStatement(query, values);
    return this.runner.query({ name: statementName(text), text, values: bound });
  }

  async get<T>(query: Query, values?: Values): Promise<T | undefined> {
    return (await this.query(query, values)).rows[0] as T | undefined;
  }

  async all<T>(query: Query, values?: Values): Promise<T[]> {
    return (await this.query(query, values)).rows as T[];
  }

  async run(query: Query, values?: Values): Promise<number> {
    return (await this.query(query, values)).rowCount ?? 0;
  }
}

interface Pending {
  work: (tx: Queries) => Promise<unknown>;
  locks: readonly string[];
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** The advisory locks of a batch's writes, in one sorted statement. */
const lockSql = sql`SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(unnest(${sql.placeholder('locks')}::text[]), 0) AS k) l ORDER BY k`;

/** Deadlock and serialisation failures: the whole batch is run again (nothing of it was committed). */
const retryable = new Set(['40P01', '40001']);

/**
 * Group commit on PostgreSQL: the writes that arrive together form a batch, run in one transaction on one
 * connection; their promises settle after the COMMIT (with synchronous_commit on: after the WAL flush). The batch first takes the advisory locks its
 * writes name, in one sorted statement, so batches of different processes touching the same student wait for
 * each other instead of numbering versions twice, and cannot deadlock over those locks.
 */
class PostgresGroupCommit {
  private queue: Pending[] = [];
  /** The batches being committed: up to `lanes` at once, each on a connection of its own. */
  private readonly active = new Set<Promise<void>>();

  /**
   * Two lanes: while one batch waits for PostgreSQL (its round trips and its COMMIT), the next one is already
   * running on another connection, so a process is not held to one batch per round-trip chain. Writes for the
   * same student in both lanes still take turns (their advisory lock).
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly lanes = 2,
  ) {}

  run<T>(work: (tx: Queries) => Promise<T>, locks: readonly string[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, locks, resolve: resolve as (value: unknown) => void, reject });
      if (this.active.size < this.lanes) {
        const lane = this.lane().finally(() => this.active.delete(lane));
        this.active.add(lane);
      }
    });
  }

  async drain(): Promise<void> {
    while (this.active.size > 0) await Promise.all(this.active);
  }

  private async lane(): Promise<void> {
    // Let the writes of this turn of the event loop join the batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      await this.commit(batch);
    }
  }

  /**
   * Commits a batch in one transaction. When one of its writes fails (a unique violation, say), PostgreSQL aborts
   * the whole transaction: the writes then go again, each in a transaction of its own, so that only the failing
   * one fails. (Savepoints around each write would cost two more round trips per write, on every batch.)
   */
  private async commit(batch: Pending[]): Promise<void> {
    const outcome = await this.transaction(batch);
    if (outcome.ok) return batch.forEach((item, i) => item.resolve(outcome.values[i]));
    if (batch.length === 1 || !outcome.inWork) return batch.forEach((item) => item.reject(outcome.error));
    for (const item of batch) await this.commit([item]);
  }

  /**
   * Runs writes in one transaction after taking their locks; again (up to five times) when PostgreSQL reports a
   * deadlock or a serialisation failure. `inWork`: the error came from a write, not from the connection, BEGIN or
   * COMMIT — only then is it certain that nothing was committed and the writes may run again.
   */
  private async transaction(batch: Pending[]): Promise<{ ok: true; values: unknown[] } | { ok: false; error: unknown; inWork: boolean }> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient | undefined;
      let inWork = false;
      try {
        client = await this.pool.connect();
        const tx = new PostgresQueries(client);
        await client.query('BEGIN');
        const locks = [...new Set(batch.flatMap((item) => item.locks))];
        if (locks.length > 0) {
          await tx.run(lockSql, { locks });
        }
        const values: unknown[] = [];
        inWork = true;
        for (const item of batch) values.push(await item.work(tx));
        inWork = false;
        await client.query('COMMIT');
        client.release();
        return { ok: true, values };
      } catch (err) {
        if (client) {
          // A connection in an unknown state is not reused.
          await client.query('ROLLBACK').then(() => client!.release(), (e: Error) => client!.release(e));
        }
        if (retryable.has((err as { code?: string }).code ?? '') && attempt < 5) continue;
        return { ok: false, error: err, inWork };
      }
    }
  }
}

/** A REPEATABLE READ, read-only transaction on a connection of its own: one moment of the database. */
class PostgresSnapshot implements Snapshot {
  readonly dialect = 'postgres' as const;
  private readonly queries: PostgresQueries;
  private cursors: Cursor[] = [];

  constructor(private readonly client: pg.PoolClient) {
    this.queries = new PostgresQueries(client);
  }

  static async open(pool: pg.Pool): Promise<PostgresSnapshot> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
    return new PostgresSnapshot(client);
  }

  all<T>(query: Query, values?: Values): Promise<T[]> {
    return this.queries.all<T>(query, values);
  }

  cursor(query: Query, values: Values | undefined, size: number): () => Promise<unknown[][]> {
    const { text, values: bound } = postgresStatement(query, values);
    const cursor = this.client.query(new Cursor(text, bound, { rowMode: 'array', types }));
    this.cursors.push(cursor);
    return () => cursor.read(size) as Promise<unknown[][]>;
  }

  async close(): Promise<void> {
    const cursors = this.cursors;
    this.cursors = [];
    try {
      for (const cursor of cursors) await cursor.close();
      await this.client.query('ROLLBACK');
      this.client.release();
    } catch (err) {
      this.client.release(err as Error);
    }
  }
}

/** How long a query waits for a connection (a new one, or a free one of the pool) before it fails. */
export const connectTimeoutMs = 10_000;

/** A pool of connections to PostgreSQL; `?schema=` in the URL puts every connection on that schema. */
export function openPostgres(url: string, poolSize: number): Database & { pool: pg.Pool; schema: string | undefined } {
  const { connectionString, schema } = parsePostgresUrl(url);
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    // A server that does not answer (a host dropping packets), or no free connection for this long, is a fault
    // (db/faults.ts: 503 database_unavailable), not a request held for the system's TCP timeout.
    connectionTimeoutMillis: connectTimeoutMs,
    types,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    application_name: 'folio',
  });
  // An idle connection that breaks (server restart) is dropped by the pool; the next query gets a new one.
  pool.on('error', () => {});
  const queries = new PostgresQueries(pool);
  const group = new PostgresGroupCommit(pool);
  let closed = false;
  return {
    dialect: 'postgres',
    location: redactUrl(url),
    pool,
    schema,
    get: (query, values) => queries.get(query, values),
    all: (query, values) => queries.all(query, values),
    run: (query, values) => queries.run(query, values),
    bytes: (query, values) => firstColumnBytes(queries, query, values),
    lookup: (query, values) => queries.get(query, values),
    authChanges: () => undefined,
    write: (work, locks = []) => group.run(work, locks),
    writeSteps: (steps, locks = []) => group.run((tx) => runSteps(tx, steps), locks),
    snapshot: () => PostgresSnapshot.open(pool),
    async close() {
      if (closed) return;
      closed = true;
      await group.drain();
      await pool.end();
    },
  };
}

export type PostgresDatabase = ReturnType<typeof openPostgres>;
