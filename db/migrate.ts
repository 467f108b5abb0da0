import { readMigrationFiles } from 'drizzle-orm/migrator';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { readFileSync } from 'node:fs';
import { assetPath } from '../lib/assets.js';
import type { Database } from './index.js';

const migrationsTable = '__drizzle_migrations';

function migrationsFolder(db: Database): string {
  return assetPath(`db/migrations/${db.dialect}`);
}

/** The migrations this build ships, by name, oldest first. */
function shippedMigrations(db: Database): { name: string; createdAt: number }[] {
  const journal = JSON.parse(readFileSync(`${migrationsFolder(db)}/meta/_journal.json`, 'utf8')) as { entries: { tag: string; when: number }[] };
  return journal.entries.map((e) => ({ name: e.tag, createdAt: e.when }));
}

function lastAppliedAt(db: Database): number | undefined {
  const table = db.sqlite.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(migrationsTable);
  if (!table) return undefined;
  const row = db.sqlite.prepare(`SELECT MAX(created_at) AS at FROM ${migrationsTable}`).get() as { at: number | null };
  return row.at === null ? undefined : Number(row.at);
}

/** Names of the migrations not yet applied to this database. */
export async function pendingMigrations(db: Database): Promise<string[]> {
  const last = lastAppliedAt(db);
  return shippedMigrations(db)
    .filter((m) => last === undefined || m.createdAt > last)
    .map((m) => m.name);
}

/** Applies every pending migration in one transaction and returns their names. */
export async function applyMigrations(db: Database): Promise<string[]> {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return [];
  // Validates every file up front, so a broken build fails before touching the database.
  readMigrationFiles({ migrationsFolder: migrationsFolder(db) });
  migrate(db.orm, { migrationsFolder: migrationsFolder(db), migrationsTable });
  return pending;
}
