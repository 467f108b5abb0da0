import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { sqliteAddon } from '../lib/assets.js';
import { GroupCommit } from './group-commit.js';
import type { Database, Params, Queries, Snapshot } from './index.js';

type Statement = BetterSqlite3.Statement<unknown[], unknown>;

/** Runs SQL on one better-sqlite3 connection, preparing each distinct text once. */
export class SqliteQueries implements Queries {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, Statement>();

  constructor(readonly sqlite: BetterSqlite3.Database) {}

  prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.sqlite.prepare(sql)));
    return statement;
  }

  async get<T>(sql: string, params: Params = []): Promise<T | undefined> {
    return this.getNow<T>(sql, params);
  }

  async all<T>(sql: string, params: Params = []): Promise<T[]> {
    return this.allNow<T>(sql, params);
  }

  async run(sql: string, params: Params = []): Promise<number> {
    return this.runNow(sql, params);
  }

  // better-sqlite3 binds an array as the `?` parameters and an object as the `@name` ones.

  /** The same, synchronously (SQLite only: the group commit, snapshots). */
  getNow<T>(sql: string, params: Params = []): T | undefined {
    return this.prepare(sql).get(params) as T | undefined;
  }

  allNow<T>(sql: string, params: Params = []): T[] {
    return this.prepare(sql).all(params) as T[];
  }

  runNow(sql: string, params: Params = []): number {
    return this.prepare(sql).run(params).changes;
  }
}

function connect(file: string, options: BetterSqlite3.Options = {}): BetterSqlite3.Database {
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

  async all<T>(sql: string, params: Params = []): Promise<T[]> {
    return this.queries.allNow<T>(sql, params);
  }

  cursor(sql: string, params: Params, size: number): () => Promise<unknown[][]> {
    const statement = this.queries.prepare(sql).raw(true);
    const rows = statement.iterate(params) as IterableIterator<unknown[]>;
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

/** Opens (creating it and its folder if missing) a SQLite database: WAL, fsync on every commit, foreign keys on. */
export function openSqlite(url: string): Database & { sqlite: BetterSqlite3.Database } {
  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (file !== ':memory:') mkdirSync(dirname(resolve(file)), { recursive: true });
  const sqlite = connect(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const queries = new SqliteQueries(sqlite);
  const group = new GroupCommit(queries);
  const location = file === ':memory:' ? file : resolve(file);
  return {
    dialect: 'sqlite',
    location,
    sqlite,
    get: (sql, params) => queries.get(sql, params),
    all: (sql, params) => queries.all(sql, params),
    run: (sql, params) => queries.run(sql, params),
    write: (work) => group.run(work),
    async snapshot() {
      if (location === ':memory:') throw new Error('an in-memory database cannot be read from a second connection');
      return new SqliteSnapshot(location);
    },
    async close() {
      if (!sqlite.open) return;
      await group.drain();
      sqlite.close();
    },
  };
}

export type SqliteDatabase = ReturnType<typeof openSqlite>;
