import type BetterSqlite3 from 'better-sqlite3';
import { hostname } from 'node:os';
import { connect } from './sqlite.js';

/**
 * "A server is using this SQLite database", as a lock the operating system keeps: each server holds a read
 * transaction (a shared lock) on a small SQLite file next to the database, `<database>.serving`, for as long as it
 * runs. The kernel drops the lock when the process ends however it ends (kill -9 included) and it cannot be fooled
 * by a reused pid, which a pid file checked with kill(pid, 0) can. `folio restore` takes the file's exclusive lock,
 * which it gets only when no server holds it, and keeps it while it replaces the database, so that a server
 * starting meanwhile waits for it. The file also lists the servers that started (pid, host, time) for the message
 * that tells which one to stop; that list may hold servers that died, the lock never does.
 */
export const servingLockFile = (database: string) => `${database}.serving`;

export interface ServerEntry {
  pid: number;
  host: string;
  startedAt: number;
}

export class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
  constructor(
    readonly database: string,
    readonly servers: ServerEntry[],
    message = `the database ${database} is in use by a running Folio server`,
  ) {
    super(message);
  }
}

/** The lock file, in the default rollback-journal mode: a reader's lock is a lock on the file (in WAL mode it is not). */
function openLockFile(database: string, waitMs: number): BetterSqlite3.Database {
  const lock = connect(servingLockFile(database), { timeout: waitMs });
  try {
    lock.exec('CREATE TABLE IF NOT EXISTS servers (pid INTEGER PRIMARY KEY, host TEXT NOT NULL, started_at INTEGER NOT NULL)');
  } catch (err) {
    lock.close();
    throw err;
  }
  return lock;
}

const isBusy = (err: unknown) => (err as { code?: string }).code?.startsWith('SQLITE_BUSY') ?? false;

/** Lists this server in the lock file (and forgets this host's servers that are gone), when no other server holds it. */
function listServer(lock: BetterSqlite3.Database): void {
  try {
    lock.pragma('busy_timeout = 50');
    lock
      .transaction(() => {
        const forget = lock.prepare('DELETE FROM servers WHERE host = ? AND pid = ?');
        for (const pid of lock.prepare('SELECT pid FROM servers WHERE host = ?').pluck().all(hostname()) as number[]) {
          if (!isAlive(pid)) forget.run(hostname(), pid);
        }
        lock.prepare('INSERT OR REPLACE INTO servers (pid, host, started_at) VALUES (?, ?, ?)').run(process.pid, hostname(), Date.now());
      })
      .immediate();
  } catch (err) {
    // Writing needs a moment without other servers' shared locks: without one, this server stays unlisted.
    if (!isBusy(err)) throw err;
    if (lock.inTransaction) lock.exec('ROLLBACK');
  }
}

/**
 * Marks the database as served by this process until `release()` (or the process's end). Waits up to `waitMs` for a
 * restore under way to finish, then throws a DatabaseInUseError.
 */
export function holdServingLock(database: string, waitMs = 10_000): { release: () => void } {
  const restoring = (err: unknown) =>
    isBusy(err)
      ? new DatabaseInUseError(database, [], `the database ${database} is being restored ("folio restore" holds ${servingLockFile(database)}): start the server when it has finished`)
      : err;
  let lock: BetterSqlite3.Database;
  try {
    lock = openLockFile(database, waitMs);
  } catch (err) {
    throw restoring(err);
  }
  try {
    listServer(lock);
    lock.pragma(`busy_timeout = ${waitMs}`);
    lock.exec('BEGIN');
    lock.prepare('SELECT count(*) FROM servers').get();
  } catch (err) {
    lock.close();
    throw restoring(err);
  }
  return {
    release() {
      if (!lock.open) return;
      lock.exec('ROLLBACK');
      try {
        lock.pragma('busy_timeout = 0');
        lock.prepare('DELETE FROM servers WHERE pid = ? AND host = ?').run(process.pid, hostname());
      } catch {
        // Another server holds its shared lock: the entry stays, and says only that this server once ran.
      }
      lock.close();
    },
  };
}

/**
 * Takes the database's exclusive serving lock, or throws a DatabaseInUseError naming the servers listed as
 * running. The lock is held until `release()`: no server starts on the database meanwhile.
 */
export function holdExclusiveLock(database: string): { release: () => void } {
  let lock: BetterSqlite3.Database;
  try {
    lock = openLockFile(database, 0);
  } catch (err) {
    // A server writing its entry, this very moment.
    throw isBusy(err) ? new DatabaseInUseError(database, []) : err;
  }
  try {
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    if (!isBusy(err)) {
      lock.close();
      throw err;
    }
    let servers: ServerEntry[] = [];
    try {
      // Readable while servers hold their shared locks.
      servers = lock.prepare('SELECT pid, host, started_at AS startedAt FROM servers ORDER BY started_at DESC').all() as ServerEntry[];
    } catch {
      // A server writing its entry, this very moment: the message names none.
    }
    lock.close();
    throw new DatabaseInUseError(database, servers.filter((s) => s.host !== hostname() || isAlive(s.pid)));
  }
  return {
    release() {
      if (!lock.open) return;
      lock.exec('DELETE FROM servers');
      lock.exec('COMMIT');
      lock.close();
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
