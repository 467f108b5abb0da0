import { join } from 'node:path';
import t from 'tap';
import { openDatabase, type Database } from '../db/index.js';
import { applyMigrations } from '../db/migrate.js';
import { postgresSchemaUrl } from './helper.js';
import { sql } from 'drizzle-orm';

/**
 * The two dialects' schemas are declared in db/schema.ts and db/schema.pg.ts and migrated by their own files; this
 * compares the databases those migrations produce, whatever the suite runs on: same tables, same columns with the
 * same nullability and defaults, same primary keys, indexes (columns, uniqueness, partial conditions) and foreign keys.
 */

interface Shape {
  columns: Record<string, { notNull: boolean; hasDefault: boolean }>;
  primaryKey: string[];
  indexes: Record<string, { columns: string[]; unique: boolean; where: string | null }>;
  foreignKeys: string[];
}

const sqliteTables = async (db: Database) =>
  (await db.all<{ name: string }>(sql`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__drizzle_migrations' ORDER BY name`)).map((r) => r.name);

async function sqliteShape(db: Database): Promise<Record<string, Shape>> {
  const shapes: Record<string, Shape> = {};
  for (const table of await sqliteTables(db)) {
    const columns = await db.all<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>(sql`SELECT * FROM pragma_table_info(${table})`);
    // A lone INTEGER PRIMARY KEY is the rowid: SQLite numbers it, as a PostgreSQL identity column does.
    const rowid = columns.filter((c) => c.pk > 0).length === 1 ? columns.find((c) => c.pk === 1 && c.type.toUpperCase() === 'INTEGER')?.name : undefined;
    const indexes: Shape['indexes'] = {};
    for (const index of await db.all<{ name: string; unique: number; origin: string }>(sql`SELECT * FROM pragma_index_list(${table})`)) {
      // The index SQLite makes for a PRIMARY KEY is compared as the key.
      if (index.origin === 'pk') continue;
      const cols = (await db.all<{ name: string }>(sql`SELECT name FROM pragma_index_info(${index.name}) ORDER BY seqno`)).map((c) => c.name);
      const definition = (await db.get<{ sql: string | null }>(sql`SELECT sql FROM sqlite_master WHERE name = ${index.name}`))?.sql ?? null;
      const where = definition ? (/ WHERE (.+)$/s.exec(definition)?.[1] ?? null) : null;
      indexes[index.name] = { columns: cols, unique: index.unique === 1, where };
    }
    const foreignKeys = (await db.all<{ from: string; table: string; to: string; on_delete: string }>(sql`SELECT * FROM pragma_foreign_key_list(${table})`))
      .map((f) => `${f.from} -> ${f.table}.${f.to} on delete ${f.on_delete.toLowerCase()}`)
      .sort();
    shapes[table] = {
      columns: Object.fromEntries(columns.map((c) => [c.name, { notNull: c.notnull === 1 || c.pk > 0, hasDefault: c.dflt_value !== null || c.name === rowid }])),
      primaryKey: columns.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name),
      indexes,
      foreignKeys,
    };
  }
  return shapes;
}

async function postgresShape(db: Database): Promise<Record<string, Shape>> {
  const shapes: Record<string, Shape> = {};
  const tables = await db.all<{ name: string }>(
    sql`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> '__drizzle_migrations' ORDER BY table_name`);
  for (const { name: table } of tables) {
    const columns = await db.all<{ name: string; nullable: string; dflt: string | null; identity: string }>(
      sql`SELECT column_name AS name, is_nullable AS nullable, column_default AS dflt, is_identity AS identity FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = ${table} ORDER BY ordinal_position`);
    const indexRows = await db.all<{ name: string; columns: string; unique: boolean; primary: boolean; where: string | null }>(
      sql`SELECT i.relname AS name, ix.indisunique AS unique, ix.indisprimary AS primary,
              pg_get_expr(ix.indpred, ix.indrelid) AS where,
              (SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, n)
                 JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum) AS columns
       FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class r ON r.oid = ix.indrelid
       WHERE r.relname = ${table} AND r.relnamespace = current_schema()::regnamespace`);
    const indexes: Shape['indexes'] = {};
    let primaryKey: string[] = [];
    for (const index of indexRows) {
      const cols = index.columns.split(',');
      if (index.primary) primaryKey = cols;
      else indexes[index.name] = { columns: cols, unique: index.unique, where: index.where?.replace(/^\((.*)\)$/, '$1') ?? null };
    }
    const foreignKeys = (
      await db.all<{ definition: string }>(
        sql`SELECT pg_get_constraintdef(c.oid) AS definition FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
         WHERE c.contype = 'f' AND r.relname = ${table} AND r.relnamespace = current_schema()::regnamespace`)
    )
      .map(({ definition }) => {
        const [, from, to, toColumn, action] = /^FOREIGN KEY \((\w+)\) REFERENCES (\w+)\((\w+)\)(?: ON DELETE (\w+))?/.exec(definition)!;
        return `${from} -> ${to}.${toColumn} on delete ${(action ?? 'no action').toLowerCase()}`;
      })
      .sort();
    shapes[table] = {
      columns: Object.fromEntries(columns.map((c) => [c.name, { notNull: c.nullable === 'NO', hasDefault: c.dflt !== null || c.identity === 'YES' }])),
      primaryKey,
      indexes,
      foreignKeys,
    };
  }
  return shapes;
}

t.test('the migrated SQLite and PostgreSQL databases have the same tables, columns, nullability, keys and indexes', async (t) => {
  const sqlite = await openDatabase(join(t.testdir(), 'folio.db'));
  const postgres = await openDatabase(postgresSchemaUrl(t));
  t.teardown(async () => {
    await sqlite.close();
    await postgres.close();
  });
  await applyMigrations(sqlite);
  await applyMigrations(postgres);
  const [left, right] = [await sqliteShape(sqlite), await postgresShape(postgres)];
  t.same(Object.keys(right).sort(), Object.keys(left).sort(), 'the same tables');
  t.ok(Object.keys(left).length >= 11, `${Object.keys(left).length} tables compared`);
  for (const table of Object.keys(left)) t.same(right[table], left[table], table);
  // Sanity: the comparison sees what matters (a partial index, a unique constraint, a cascade).
  t.same(left.answers!.indexes.answers_latest_page_idx, { columns: ['user_id', 'book_id', 'page'], unique: false, where: 'latest = 1' });
  t.same(left.users!.indexes.users_username_key_unique, { columns: ['username_key'], unique: true, where: null });
  t.ok(left.sessions!.foreignKeys.includes('user_id -> users.id on delete cascade'));
});
