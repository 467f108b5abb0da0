import { Presets, SingleBar } from 'cli-progress';
import { getTableName, is, sql } from 'drizzle-orm';
import { getTableConfig as postgresTableConfig, PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig as sqliteTableConfig, SQLiteTable } from 'drizzle-orm/sqlite-core';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type pg from 'pg';
import { pingDatabase, type Snapshot } from '../db/index.js';
import { applyMigrations, pendingMigrations } from '../db/migrate.js';
import { DatabaseUrlError } from '../db/errors.js';
import type { PostgresDatabase } from '../db/postgres.js';
import { isPostgresUrl, parsePostgresUrl } from '../db/postgres-url.js';
import * as sqliteSchema from '../db/schema.js';
import * as postgresSchema from '../db/schema.pg.js';
import { openSqlite } from '../db/sqlite.js';

/** A reason `folio migrate-data` stops, with its exit code (2: bad arguments, 1: the copy cannot or did not happen). */
export class MigrateDataError extends Error {
  override name = 'MigrateDataError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

/** One of Folio's tables as the copy sees it: its columns in the source's names, each with the type PostgreSQL stores it as. */
export interface CopiedTable {
  name: string;
  columns: { name: string; postgresType: string }[];
  /** The columns rows are read in order of. */
  primaryKey: string[];
  /** The identity column (a BIGINT identity in db/schema.pg.ts) whose sequence must continue after the copied ids. */
  identity: string | undefined;
}

/**
 * Folio's tables from the drizzle definitions (db/schema.ts for the columns, db/schema.pg.ts for the PostgreSQL
 * types), parents before the tables whose foreign keys point at them, otherwise by name.
 */
export function copiedTables(): CopiedTable[] {
  const postgresTables = new Map(
    Object.values(postgresSchema as Record<string, unknown>)
      .filter((value): value is PgTable => is(value, PgTable))
      .map((table) => [getTableName(table), postgresTableConfig(table)]),
  );
  const tables = Object.values(sqliteSchema as Record<string, unknown>)
    .filter((value): value is SQLiteTable => is(value, SQLiteTable))
    .map((table) => {
      const config = sqliteTableConfig(table);
      const target = postgresTables.get(config.name);
      if (!target) throw new Error(`db/schema.pg.ts has no table ${config.name}`);
      const columns = config.columns.map((column) => {
        const twin = target.columns.find((c) => c.name === column.name);
        if (!twin) throw new Error(`db/schema.pg.ts has no column ${config.name}.${column.name}`);
        return { name: column.name, postgresType: twin.getSQLType() };
      });
      const primaryKey = config.primaryKeys[0]?.columns.map((c) => c.name) ?? config.columns.filter((c) => c.primary).map((c) => c.name);
      const identity = target.columns.find((c) => c.generatedIdentity !== undefined)?.name;
      const parents = config.foreignKeys.map((fk) => getTableName(fk.reference().foreignTable)).filter((parent) => parent !== config.name);
      return { table: { name: config.name, columns, primaryKey, identity }, parents };
    })
    .sort((a, b) => (a.table.name < b.table.name ? -1 : 1));
  const ordered: CopiedTable[] = [];
  const done = new Set<string>();
  while (ordered.length < tables.length) {
    const next = tables.find((t) => !done.has(t.table.name) && t.parents.every((p) => done.has(p)));
    if (!next) throw new Error('the foreign keys of db/schema.ts form a cycle');
    ordered.push(next.table);
    done.add(next.table.name);
  }
  return ordered;
}

const quote = (name: string) => `"${name}"`;

/** The SQLite file `--from` names: `sqlite:PATH` or a plain path to an existing file. */
function sourceFile(from: string): string {
  if (isPostgresUrl(from)) throw new MigrateDataError(`--from takes a SQLite file (sqlite:PATH or a path), not a PostgreSQL URL: the copy goes from SQLite to PostgreSQL`, 2);
  const file = from.startsWith('sqlite:') ? from.slice('sqlite:'.length) : from;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(file)) throw new MigrateDataError(`--from takes a SQLite file (sqlite:PATH or a path), not ${JSON.stringify(from)}`, 2);
  if (file === '' || file === ':memory:') throw new MigrateDataError('--from names no file: give the path of the SQLite database (FOLIO_DATABASE_URL of the SQLite server)', 2);
  if (!existsSync(file)) throw new MigrateDataError(`--from: there is no file ${file} (the SQLite database is FOLIO_DATABASE_URL of the server, default ./data/folio.db)`, 2);
  if (!statSync(file).isFile()) throw new MigrateDataError(`--from: ${file} is not a file`, 2);
  return file;
}

/** Checks `--to` is a PostgreSQL URL Folio can use. */
function checkTarget(to: string): void {
  if (!isPostgresUrl(to)) throw new MigrateDataError(`--to takes a PostgreSQL URL (postgres://user:password@host:port/database[?schema=name]), not ${JSON.stringify(to)}`, 2);
  try {
    parsePostgresUrl(to);
  } catch (err) {
    if (err instanceof DatabaseUrlError) throw new MigrateDataError(err.message.replace(/^FOLIO_DATABASE_URL/, '--to'), 2);
    throw err;
  }
}

/** The column names of a table in the SQLite file. */
async function sourceColumns(snapshot: Snapshot, table: string): Promise<string[]> {
  return (await snapshot.all<{ name: string }>(sql`SELECT name FROM pragma_table_info(${table})`)).map((c) => c.name);
}

/** What PostgreSQL cannot store as SQLite holds it: NUL characters in text, and binary values. */
function unstorable(value: unknown): string | undefined {
  if (typeof value === 'string') return value.includes('\0') ? 'a NUL character (\\u0000), which PostgreSQL text cannot hold' : undefined;
  if (value instanceof Uint8Array) return 'binary data where Folio keeps text or numbers';
  return undefined;
}

/** Bytes a row takes, roughly: what bounds a batch besides its number of rows (a program may be 512 KiB). */
function rowSize(row: unknown[]): number {
  let size = 0;
  for (const value of row) size += typeof value === 'string' ? value.length : 8;
  return size;
}

const batchRows = 1000;
const batchBytes = 16 * 1024 * 1024;

export interface MigrateDataResult {
  /** Rows of each table in the source and in the target after the copy. */
  counts: { table: string; source: number; target: number }[];
  rows: number;
}

type Stderr = NodeJS.WritableStream & { isTTY?: boolean };

/** A bar of all rows on a terminal; elsewhere a line per table copied. */
function progress(stderr: Stderr, total: number): { table(name: string): void; rows(n: number): void; tableDone(name: string, rows: number): void; stop(): void } {
  if (!stderr.isTTY) {
    return { table() {}, rows() {}, tableDone: (name, rows) => void stderr.write(`copied ${rows} row(s) of ${name}\n`), stop() {} };
  }
  const bar = new SingleBar({ stream: stderr, format: 'copying {bar} {percentage}% | {value}/{total} rows | {table}', hideCursor: true }, Presets.shades_classic);
  bar.start(total, 0, { table: '' });
  return {
    table: (name) => bar.update({ table: name }),
    rows: (n) => bar.increment(n),
    tableDone() {},
    stop: () => bar.stop(),
  };
}

/** The table of row counts printed at the end: table, source, target. */
function countTable(counts: MigrateDataResult['counts']): string {
  const rows = [['TABLE', 'SOURCE', 'TARGET'], ...counts.map((c) => [c.table, String(c.source), String(c.target)])];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padStart(widths[2]!)}\n`).join('');
}

/** Copies every row of one table from the snapshot into the transaction, in batches of up to 1,000 rows; returns how many. */
async function copyTable(snapshot: Snapshot, client: pg.PoolClient, table: CopiedTable, onRows: (n: number) => void): Promise<number> {
  const names = table.columns.map((c) => quote(c.name)).join(', ');
  const next = snapshot.cursor(sql`SELECT ${sql.raw(names)} FROM ${sql.identifier(table.name)} ORDER BY ${sql.raw(table.primaryKey.map(quote).join(', '))}`, undefined, batchRows);
  // One array per column, unnested: one parameter per column whatever the number of rows.
  const insert = `INSERT INTO ${quote(table.name)} (${names}) SELECT * FROM unnest(${table.columns.map((c, i) => `$${i + 1}::${c.postgresType}[]`).join(', ')})`;
  const write = async (rows: unknown[][]) => {
    for (const row of rows) {
      row.forEach((value, i) => {
        const problem = unstorable(value);
        if (problem) {
          const key = table.primaryKey.map((k) => `${k}=${JSON.stringify(row[table.columns.findIndex((c) => c.name === k)])}`).join(', ');
          throw new MigrateDataError(`${table.name} (${key}): ${table.columns[i]!.name} holds ${problem}; correct that row in the SQLite file and run again (nothing was copied)`, 1);
        }
      });
    }
    const inserted = await client.query(insert, table.columns.map((_, i) => rows.map((row) => row[i] ?? null)));
    if (inserted.rowCount !== rows.length) throw new Error(`${table.name}: inserted ${inserted.rowCount} of ${rows.length} row(s)`);
    onRows(rows.length);
  };
  let copied = 0;
  for (let chunk = await next(); chunk.length > 0; chunk = await next()) {
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < chunk.length; i++) {
      bytes += rowSize(chunk[i]!);
      if (bytes >= batchBytes || i === chunk.length - 1) {
        await write(chunk.slice(start, i + 1));
        start = i + 1;
        bytes = 0;
      }
    }
    copied += chunk.length;
  }
  return copied;
}

/**
 * `folio migrate-data`: copies a fully migrated SQLite database, read from one snapshot, into an empty PostgreSQL
 * database (migrated first), in one transaction, keeping every id; then checks the row counts of every table on
 * both sides. Progress, the counts and the summary go to stderr.
 */
export async function runMigrateData(from: string, to: string, stderr: Stderr): Promise<MigrateDataResult> {
  const file = sourceFile(from);
  checkTarget(to);
  const tables = copiedTables();

  let source: ReturnType<typeof openSqlite>;
  try {
    source = openSqlite(file);
  } catch (err) {
    throw new MigrateDataError(`--from: cannot open ${file} as a SQLite database: ${(err as Error).message}`, 2);
  }
  let snapshot: Snapshot | undefined;
  let target: PostgresDatabase | undefined;
  try {
    const pending = await pendingMigrations(source).catch((err: Error) => {
      throw new MigrateDataError(`--from: cannot read ${source.location} as a Folio database: ${err.message}`, 2);
    });
    if (pending.length > 0) {
      throw new MigrateDataError(`the source ${source.location} has ${pending.length} pending migration(s) (${pending.join(', ')}): run "folio migrate --database ${file}" first`, 1);
    }
    snapshot = await source.snapshot();
    const unknownTables = (await snapshot.all<{ name: string }>(sql`SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' AND name <> '__drizzle_migrations' ORDER BY name`))
      .map((t) => t.name)
      .filter((name) => !tables.some((t) => t.name === name));
    if (unknownTables.length > 0) {
      throw new MigrateDataError(`the source has table(s) this Folio does not know (${unknownTables.join(', ')}): copy it with the Folio version that wrote it`, 1);
    }
    for (const table of tables) {
      const unknown = (await sourceColumns(snapshot, table.name)).filter((name) => !table.columns.some((c) => c.name === name));
      if (unknown.length > 0) {
        throw new MigrateDataError(`the source's table ${table.name} has column(s) this Folio does not know (${unknown.join(', ')}): copy it with the Folio version that wrote it`, 1);
      }
    }
    const sourceCounts = new Map<string, number>();
    for (const table of tables) sourceCounts.set(table.name, (await snapshot.all<{ n: number }>(sql`SELECT COUNT(*) AS n FROM ${sql.identifier(table.name)}`))[0]!.n);
    // AUTOINCREMENT never hands out an id again, not even one of a deleted row: PostgreSQL's sequences must not either.
    const usedIds = new Map<string, number>();
    if ((await snapshot.all(sql`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'`)).length > 0) {
      for (const row of await snapshot.all<{ name: string; seq: number }>(sql`SELECT name, seq FROM sqlite_sequence`)) usedIds.set(row.name, row.seq);
    }

    const { openPostgres } = await import('../db/postgres.js');
    target = openPostgres(to, 2);
    try {
      await pingDatabase(target);
    } catch (err) {
      throw new MigrateDataError(`--to: cannot reach ${target.location}: ${(err as Error).message} (check the URL, and that PostgreSQL runs)`, 2);
    }
    const applied = await applyMigrations(target);

    const client = await target.pool.connect();
    let result: MigrateDataResult;
    try {
      await client.query('BEGIN');
      try {
        await lockEmptyTarget(client, tables);
        stderr.write(`copying ${source.location} to ${target.location}${applied.length > 0 ? ` (migrated first: ${applied.length} migration(s) applied)` : ''}\n`);
        result = await copyAll(client, snapshot, tables, sourceCounts, usedIds, stderr);
        if (result.counts.some((c) => c.source !== c.target)) {
          throw new MigrateDataError(`the row counts differ (above): nothing was kept, the target is still empty`, 1);
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      client.release();
    } catch (err) {
      // A connection in an unknown state is not reused.
      client.release(err as Error);
      throw err;
    }
    const secretFile = join(dirname(source.location), 'folio.secret');
    stderr.write(
      `copied ${result.rows} row(s) of ${tables.length} tables from ${source.location} to ${target.location}; every table has as many rows on both sides\n` +
        (existsSync(secretFile)
          ? `serve from PostgreSQL with FOLIO_SECRET set to the secret in ${secretFile}, or every session ends and every research pseudonym changes\n`
          : ''),
    );
    return result;
  } finally {
    await snapshot?.close();
    await target?.close();
    await source.close();
  }
}

/** Inside the target's transaction: keeps other writers out until it ends, and refuses a target that has rows. */
async function lockEmptyTarget(client: pg.PoolClient, tables: CopiedTable[]): Promise<void> {
  // No Folio process may write to the target while it is filled; reads (a server polling its origins) go on.
  await client.query(`SET LOCAL lock_timeout = '10s'`);
  try {
    await client.query(`LOCK TABLE ${tables.map((t) => quote(t.name)).join(', ')} IN EXCLUSIVE MODE`);
  } catch (err) {
    if ((err as { code?: string }).code === '55P03') {
      throw new MigrateDataError('the target\'s tables are in use: stop every Folio server on the target and run again', 1);
    }
    throw err;
  }
  const filled = (await client.query<{ name: string }>(tables.map((t) => `SELECT '${t.name}' AS name WHERE EXISTS (SELECT 1 FROM ${quote(t.name)})`).join(' UNION ALL '))).rows.map((r) => r.name);
  if (filled.length > 0) {
    throw new MigrateDataError(`the target already has rows in ${filled.join(', ')}: migrate-data copies into an empty database only (nothing was written)`, 1);
  }
}

/** Inside the target's transaction: copies every table, moves the sequences on, and counts the rows of both sides. */
async function copyAll(
  client: pg.PoolClient,
  snapshot: Snapshot,
  tables: CopiedTable[],
  sourceCounts: Map<string, number>,
  usedIds: Map<string, number>,
  stderr: Stderr,
): Promise<MigrateDataResult> {
  const total = [...sourceCounts.values()].reduce((a, b) => a + b, 0);
  const bar = progress(stderr, total);
  let rows = 0;
  try {
    for (const table of tables) {
      bar.table(table.name);
      const copied = await copyTable(snapshot, client, table, (n) => bar.rows(n));
      rows += copied;
      bar.tableDone(table.name, copied);
      if (table.identity) {
        const { rows: ids } = await client.query<{ max: number | null }>(`SELECT MAX(${quote(table.identity)}) AS max FROM ${quote(table.name)}`);
        const last = Math.max(Number(ids[0]?.max ?? 0), usedIds.get(table.name) ?? 0);
        // The next id PostgreSQL hands out is the one SQLite would have.
        await client.query('SELECT setval(pg_get_serial_sequence($1, $2), $3, false)', [quote(table.name), table.identity, last + 1]);
      }
    }
  } finally {
    bar.stop();
  }

  const counts: MigrateDataResult['counts'] = [];
  for (const table of tables) {
    const { rows: found } = await client.query<{ n: string }>(`SELECT COUNT(*) AS n FROM ${quote(table.name)}`);
    counts.push({ table: table.name, source: sourceCounts.get(table.name)!, target: Number(found[0]!.n) });
  }
  stderr.write(countTable(counts));
  return { counts, rows };
}
