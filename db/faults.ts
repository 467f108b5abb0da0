/**
 * Database faults: failures that are the database's state, not a bug of Folio's nor of the request, and that pass
 * by themselves or by an operator's hand. They are answered with a 5xx the client retries (plugins/errors.ts),
 * reported by /readyz, and logged once per outage (DatabaseOutages), not once per request.
 */

/** `unavailable`: cannot be reached or read; `busy`: locked by another process past the wait; `full`: no room to write. */
export type DatabaseFault = 'unavailable' | 'busy' | 'full';

/** Node's socket errors: PostgreSQL's server or the way to it is gone. */
const socketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * PostgreSQL's SQLSTATEs that mean no connection to work on: admin_shutdown, crash_shutdown, cannot_connect_now,
 * too_many_connections, io_error (class 08, connection exceptions, is matched by its prefix).
 */
const postgresUnavailable = new Set(['57P01', '57P02', '57P03', '53300', '58030']);

/**
 * node-postgres's own errors about a connection, which carry no code: a connection cut under a query, a connect or a
 * wait for a pooled connection past connectionTimeoutMillis, a client that broke earlier.
 */
const postgresConnectionMessage = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Connection timeout)/;

/**
 * What fault an error is, or undefined for any other error. Works on better-sqlite3's errors (their `code`), those the
 * SQLite threads forward (db/thread-failure.ts keeps the code), node-postgres's (SQLSTATE or socket codes) and
 * Node's file errors (the write-ahead log's fsync).
 */
export function faultOf(err: unknown): DatabaseFault | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('SQLITE_')) {
      if (code === 'SQLITE_FULL') return 'full';
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
      if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_READONLY_DBMOVED') return 'unavailable';
      return undefined;
    }
    if (code === '53100' || code === 'ENOSPC' || code === 'EDQUOT') return 'full';
    if (socketCodes.has(code) || code.startsWith('08') || postgresUnavailable.has(code) || code === 'EIO') return 'unavailable';
  }
  const message = (err as { message?: unknown }).message;
  return typeof message === 'string' && postgresConnectionMessage.test(message) ? 'unavailable' : undefined;
}

export interface OutageLog {
  /** An outage began: the first error that showed it. */
  began(fault: DatabaseFault, err: unknown): void;
  /** It ended: how long it lasted and how many requests were refused meanwhile. */
  ended(fault: DatabaseFault, ms: number, refused: number): void;
}

/**
 * The database's state as requests find it, and the log of its outages: one line when an outage begins and one when
 * it ends, however many requests it refuses. An outage ends when `recovered()` is called (a write was answered), or
 * when `probe` succeeds: it is tried every `probeEveryMs` while an `unavailable` or `busy` outage lasts (a `full`
 * one ends only with a write that succeeds: nothing short of a write shows there is room again).
 */
export class DatabaseOutages {
  private current: { fault: DatabaseFault; since: number; refused: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    private readonly log: OutageLog,
    private readonly probe: (fault: DatabaseFault) => Promise<void>,
    private readonly probeEveryMs = 1000,
  ) {}

  /** The fault of the outage under way, or undefined while the database answers. */
  get fault(): DatabaseFault | undefined {
    return this.current?.fault;
  }

  /** A request was refused because of `fault` (`err` shows it): begins an outage unless one of that fault is under way. */
  refused(fault: DatabaseFault, err: unknown): void {
    this.found(fault, err);
    this.current!.refused++;
  }

  /** Something other than a request (the readiness check) found the fault. */
  found(fault: DatabaseFault, err: unknown): void {
    if (this.current?.fault === fault) return;
    if (this.current) this.end();
    this.current = { fault, since: Date.now(), refused: 0 };
    this.log.began(fault, err);
    if (fault !== 'full') {
      this.timer = setInterval(() => void this.tryProbe(), this.probeEveryMs);
      this.timer.unref();
    }
  }

  /** The database did what the outage kept it from doing: the outage is over. */
  recovered(): void {
    if (this.current) this.end();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private end(): void {
    const { fault, since, refused } = this.current!;
    this.current = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    this.log.ended(fault, Date.now() - since, refused);
  }

  private async tryProbe(): Promise<void> {
    const outage = this.current;
    if (!outage || this.probing) return;
    this.probing = true;
    try {
      await this.probe(outage.fault);
      if (this.current === outage) this.end();
    } catch {
      // Still down: the next probe tries again.
    } finally {
      this.probing = false;
    }
  }
}
