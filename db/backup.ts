import type BetterSqlite3 from 'better-sqlite3';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { copyFile, link, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { assetPath } from '../lib/assets.js';
import { holdExclusiveLock } from './serving-lock.js';
import { connect } from './sqlite.js';

/** A backup or restore that cannot be done, with words the user can act on (exit code 1). */
export class BackupError extends Error {
  override name = 'BackupError';
}

/** What a verified copy holds. */
export interface CopyReport {
  /** `PRAGMA integrity_check`'s verdict: 'ok', or its first problems. */
  integrity: string;
  /** Rows of every table, by name. */
  tables: Record<string, number>;
}

export interface BackupResult extends CopyReport {
  file: string;
  bytes: number;
  durationMs: number;
}

export interface BackupOptions {
  /** Replace `out` if it exists. */
  force?: boolean;
  /** Called after each step with the pages copied and the database's pages. */
  onProgress?: (copied: number, total: number) => void;
  /** Pages copied per step (4 KiB each); between steps other work of the process runs. */
  pagesPerStep?: number;
}

const fileOf = (url: string) => (url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url);

function openExisting(file: string, what: string, readonly: boolean): BetterSqlite3.Database {
  if (file === ':memory:') throw new BackupError(`${what} is in memory: only a database file can be backed up or restored`);
  if (!existsSync(file)) throw new BackupError(`there is no ${what} at ${file}`);
  return connect(file, { readonly, fileMustExist: true });
}

/** The integrity check and the row count of every table, of a database file (throws if it is not one). */
function inspect(db: BetterSqlite3.Database): CopyReport {
  const problems = db.prepare('PRAGMA integrity_check(20)').pluck().all() as string[];
  const names = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[];
  const tables: Record<string, number> = {};
  for (const name of names) tables[name] = db.prepare(`SELECT count(*) FROM "${name.replaceAll('"', '""')}"`).pluck().get() as number;
  return { integrity: problems.join('; '), tables };
}

async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Puts `from` at `to` for good: the rename, then the folder synced so the new name is on disk. */
async function moveDurably(from: string, to: string, replace: boolean): Promise<void> {
  if (replace) await rename(from, to);
  else {
    // link() fails if `to` exists: a file that appeared since the check is never replaced.
    await link(from, to).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'EEXIST' ? new BackupError(`${to} exists: choose another file, or add --force to replace it`) : err;
    });
    await rm(from);
  }
  await syncFile(dirname(to));
}

/**
 * Copies a live SQLite database to `out` with SQLite's online backup, while other processes keep reading and
 * writing it, then checks the copy. The copy is one moment of the database: the source connection holds a read
 * transaction from the start (WAL: writers go on), so the backup never restarts for their commits and holds every
 * write committed before it started. It is written to `out.partial-PID`, checked (`integrity_check`, rows per
 * table), switched to a single file (no -wal beside it), fsynced, and only then named `out`.
 */
export async function backupSqlite(databaseUrl: string, out: string, options: BackupOptions = {}): Promise<BackupResult> {
  const started = performance.now();
  const source = fileOf(databaseUrl);
  const target = resolve(out);
  if (!existsSync(dirname(target))) throw new BackupError(`the folder ${dirname(target)} does not exist`);
  if (!options.force && existsSync(target)) throw new BackupError(`${target} exists: choose another file, or add --force to replace it`);
  if (resolve(source) === target) throw new BackupError('the backup cannot be the database itself');
  const partial = `${target}.partial-${process.pid}`;
  const db = openExisting(source, 'database', true);
  try {
    db.pragma('busy_timeout = 5000');
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    await rm(partial, { force: true });
    const step = options.pagesPerStep ?? 1024;
    await db.backup(partial, {
      progress({ totalPages, remainingPages }) {
        options.onProgress?.(totalPages - remainingPages, totalPages);
        return step;
      },
    });
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  } finally {
    db.close();
  }
  let report: CopyReport;
  try {
    const copy = connect(partial, { fileMustExist: true });
    try {
      // The copy says WAL, as its source does: a file on its own is simpler to keep, move and check.
      copy.pragma('journal_mode = DELETE');
      report = inspect(copy);
    } finally {
      copy.close();
    }
    if (report.integrity !== 'ok') throw new BackupError(`the copy failed its integrity check (${report.integrity}); the database may be damaged: run "PRAGMA integrity_check" on it`);
    await syncFile(partial);
    await moveDurably(partial, target, options.force ?? false);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return { file: target, bytes: (await stat(target)).size, durationMs: Math.round(performance.now() - started), ...report };
}

const migrationsTable = '__drizzle_migrations';

/** The `when` of every SQLite migration this build ships. */
function shippedMigrations(): Map<number, string> {
  const journal = JSON.parse(readFileSync(assetPath('db/migrations/sqlite/meta/_journal.json'), 'utf8')) as { entries: { tag: string; when: number }[] };
  return new Map(journal.entries.map((e) => [e.when, e.tag]));
}

export interface RestoreResult extends CopyReport {
  file: string;
  database: string;
  bytes: number;
  /** Where the database that was replaced is kept, if there was one. */
  replaced: string | undefined;
  /** Migrations this version has that the backup lacks (applied by `folio serve --migrate`). */
  pending: string[];
}

/**
 * Checks that `file` is a whole Folio database this version can serve (integrity, and migrations all known),
 * without changing it.
 */
export function checkBackup(file: string): CopyReport & { pending: string[] } {
  // A backup in WAL mode (a file copied by hand) gets an empty -wal and -shm from being read: removed again after.
  const strays = ['-wal', '-shm'].map((suffix) => `${file}${suffix}`).filter((stray) => !existsSync(stray));
  const db = openExisting(file, 'backup', true);
  try {
    let report: CopyReport;
    try {
      report = inspect(db);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_NOTADB') throw new BackupError(`${file} is not a SQLite database`);
      throw err;
    }
    if (report.integrity !== 'ok') throw new BackupError(`${file} fails its integrity check (${report.integrity}): it cannot be restored`);
    if (!(migrationsTable in report.tables)) throw new BackupError(`${file} is not a Folio database (it has no ${migrationsTable} table)`);
    const applied = db.prepare(`SELECT created_at FROM ${migrationsTable} ORDER BY created_at`).pluck().all() as number[];
    const shipped = shippedMigrations();
    const unknown = applied.filter((when) => !shipped.has(Number(when)));
    if (applied.length === 0 || unknown.length > 0) {
      throw new BackupError(
        applied.length === 0
          ? `${file} is not a Folio database (no migration was ever applied to it)`
          : `${file} has ${unknown.length} migration(s) this version of Folio does not know: it was made by a newer Folio (restore it with that version)`,
      );
    }
    const last = Math.max(...applied.map(Number));
    return { ...report, pending: [...shipped].filter(([when]) => when > last).map(([, tag]) => tag) };
  } finally {
    db.close();
    if (strays.length === 2 && existsSync(strays[0]!) && statSync(strays[0]!).size === 0) for (const stray of strays) rmSync(stray, { force: true });
  }
}

/**
 * Replaces the SQLite database at `databaseUrl` with the backup `file`, after checking it (checkBackup), while
 * holding the database's exclusive serving lock: throws DatabaseInUseError while a server runs on it, whatever
 * `force` says. An existing database is replaced only with `force`, and kept (with its write-ahead log, which may
 * hold its last commits) as `<database>.replaced-<time>`.
 */
export async function restoreSqlite(file: string, databaseUrl: string, options: { force?: boolean } = {}): Promise<RestoreResult> {
  const backup = resolve(file);
  const database = resolve(fileOf(databaseUrl));
  if (fileOf(databaseUrl) === ':memory:') throw new BackupError('the database is in memory: restore into a database file');
  if (backup === database) throw new BackupError('the backup is the database itself');
  const report = checkBackup(backup);
  if (!existsSync(dirname(database))) throw new BackupError(`the folder ${dirname(database)} does not exist`);
  const lock = holdExclusiveLock(database);
  try {
    const exists = existsSync(database);
    if (exists && !options.force) {
      throw new BackupError(`${database} exists: add --force to replace it (it is kept as ${basename(database)}.replaced-<time>)`);
    }
    const incoming = `${database}.restoring-${process.pid}`;
    try {
      await copyFile(backup, incoming);
      await syncFile(incoming);
    } catch (err) {
      await rm(incoming, { force: true });
      throw err;
    }
    let replaced: string | undefined;
    if (exists) replaced = `${database}.replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    // A log or journal goes with its database: its commits belong to the replaced file, never to the backup.
    for (const suffix of ['', '-wal', '-journal']) {
      if (!existsSync(`${database}${suffix}`)) continue;
      if (replaced) await rename(`${database}${suffix}`, `${replaced}${suffix}`);
      else await rm(`${database}${suffix}`);
    }
    await rm(`${database}-shm`, { force: true });
    await rename(incoming, database);
    await syncFile(dirname(database));
    return { file: backup, database, bytes: (await stat(database)).size, replaced, ...report };
  } finally {
    lock.release();
  }
}
