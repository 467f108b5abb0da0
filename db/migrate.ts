import { sql, type SQL } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { readFileSync } from 'node:fs';
import { assetPath } from '../lib/assets.js';
import { startupReads, type Database } from './index.js';
import type { openPostgres } from './postgres.js';
import type { openSqlite } from './sqlite.js';

const migrationsTable = '__drizzle_migrations';

function migrationsFolder(db: Database): string {
  return assetPath(`db/migrations/${db.dialect}`);
}

/** The migrations this build ships, by name, oldest first. */
function shippedMigrations(db: Database): { name: string; createdAt: number }[] {
  // Its journal alone: the single binary then writes only that file of its assets at start (lib/assets.ts).
  const journal = JSON.parse(readFileSync(assetPath(`db/migrations/${db.dialect}/meta/_journal.json`), 'utf8')) as { entries: { tag: string; when: number }[] };
  return journal.entries.map((e) => ({ name: e.tag, createdAt: e.when }));
}

type Postgres = ReturnType<typeof openPostgres>;
type Sqlite = ReturnType<typeof openSqlite>;

/** The schema Folio's tables (and the migrations table) live in on PostgreSQL: ?schema= of the URL, else the connection's current one. */
async function postgresSchema(db: Postgres): Promise<string> {
  return db.schema ?? (await db.get<{ schema: string | null }>(sql`SELECT current_schema() AS schema`))?.schema ?? 'public';
}

async function lastAppliedAt(database: Database): Promise<number | undefined> {
  // Read before serving: on SQLite on the event loop's connection (see startupReads).
  const db = startupReads(database);
  let table: SQL;
  if (db.dialect === 'sqlite') {
    if (!(await db.get(sql`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ${migrationsTable}`))) return undefined;
    table = sql`${sql.identifier(migrationsTable)}`;
  } else {
    const schema = await postgresSchema(database as Postgres);
    if (!(await db.get(sql`SELECT 1 FROM information_schema.tables WHERE table_schema = ${schema} AND table_name = ${migrationsTable}`))) return undefined;
    table = sql`${sql.identifier(schema)}.${sql.identifier(migrationsTable)}`;
  }
  const row = await db.get<{ at: number | string | null }>(sql`SELECT MAX(created_at) AS at FROM ${table}`);
  return row?.at == null ? undefined : Number(row.at);
}

/**
 * The migration that retired the server-wide instructor role into a default course per book (sqlite 0010, postgres
 * 0004): `folio migrate` and `folio serve --migrate` say what it did when they apply it (db/courses.ts migratedCourses).
 */
export const coursesMigration: Record<Database['dialect'], string> = { sqlite: '0010_courses', postgres: '0004_courses' };

/**
 * Whether the migrations just applied retired the instructor role of a database that had data before: they include
 * the courses migration but not the first one (a new database has no instructor, no work and nothing to tell).
 */
export function retiredInstructorRole(db: Database, applied: readonly string[]): boolean {
  return applied.includes(coursesMigration[db.dialect]) && !applied.some((name) => name.startsWith('0000_'));
}

/** Names of the migrations not yet applied to this database. */
export async function pendingMigrations(db: Database): Promise<string[]> {
  const last = await lastAppliedAt(db);
  return shippedMigrations(db)
    .filter((m) => last === undefined || m.createdAt > last)
    .map((m) => m.name);
}

/** The name of the advisory lock migrations of one PostgreSQL schema take (hashed to its key by hashtextextended). */
export const migrationLock = (schema: string) => `folio:migrate:${schema}`;

/**
 * Applies every pending migration in one transaction and returns their names. On PostgreSQL, processes
 * starting together on one schema take turns (an advisory lock of that schema: Folios in other schemas of the
 * same server do not wait for each other), and the schema named by the URL is created if missing.
 */
export async function applyMigrations(db: Database): Promise<string[]> {
  // Validates every file up front, so a broken build fails before touching the database.
  readMigrationFiles({ migrationsFolder: migrationsFolder(db) });
  if (db.dialect === 'sqlite') {
    const pending = await pendingMigrations(db);
    if (pending.length > 0) {
      // Outside the group commit, which fsyncs its own commits: these fsync at their COMMIT.
      // Drizzle's migrators are loaded when there is something to apply (the one of PostgreSQL loads node-postgres).
      const [{ migrate: migrateSqlite }, { drizzle: drizzleSqlite }] = await Promise.all([import('drizzle-orm/better-sqlite3/migrator'), import('drizzle-orm/better-sqlite3')]);
      const { sqlite } = db as Sqlite;
      sqlite.pragma('synchronous = FULL');
      try {
        migrateSqlite(drizzleSqlite(sqlite), { migrationsFolder: migrationsFolder(db), migrationsTable });
      } finally {
        sqlite.pragma('synchronous = NORMAL');
      }
    }
    return pending;
  }
  const pg = db as Postgres;
  const schema = await postgresSchema(pg);
  const lock = migrationLock(schema);
  const client = await pg.pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [lock]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    const pending = await pendingMigrations(db);
    if (pending.length > 0) {
      const [{ migrate: migratePostgres }, { drizzle: drizzlePostgres }] = await Promise.all([import('drizzle-orm/node-postgres/migrator'), import('drizzle-orm/node-postgres')]);
      await migratePostgres(drizzlePostgres(client), { migrationsFolder: migrationsFolder(db), migrationsTable, migrationsSchema: schema });
    }
    return pending;
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lock]).catch(() => {});
    client.release();
  }
}
