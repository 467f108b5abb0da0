import BetterSqlite3 from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { sqliteAddon } from '../lib/assets.js';
import { GroupCommit } from './group-commit.js';
import * as schema from './schema.js';

export type Orm = BetterSQLite3Database<typeof schema>;

export interface Database {
  readonly dialect: 'sqlite';
  /** Where the data lives, for messages (a file path). */
  readonly location: string;
  readonly orm: Orm;
  readonly sqlite: BetterSqlite3.Database;
  /** Runs a write in the next group commit; resolves once it is durable (see GroupCommit). */
  write<T>(work: () => T): Promise<T>;
  close(): Promise<void>;
}

export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError';
}

/** Opens the database named by FOLIO_DATABASE_URL: a SQLite file path (created with its folder if missing). */
export function openDatabase(url: string): Database {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    throw new DatabaseUrlError('FOLIO_DATABASE_URL: PostgreSQL is not supported by this version of Folio; use a SQLite file path');
  }
  const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (file !== ':memory:') mkdirSync(dirname(resolve(file)), { recursive: true });
  const nativeBinding = sqliteAddon();
  // better-sqlite3 takes the loaded addon object too; its types only name the path form.
  const sqlite = new BetterSqlite3(file, nativeBinding ? { nativeBinding: nativeBinding as unknown as string } : {});
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const orm = drizzle(sqlite, { schema });
  const group = new GroupCommit(sqlite);
  return {
    dialect: 'sqlite',
    location: file === ':memory:' ? file : resolve(file),
    orm,
    sqlite,
    write: (work) => group.run(work),
    async close() {
      if (!sqlite.open) return;
      group.flush();
      sqlite.close();
    },
  };
}

/** Throws unless the database answers a trivial query. */
export async function pingDatabase(db: Database): Promise<void> {
  db.sqlite.prepare('SELECT 1').get();
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
