/**
 * The SQLite read thread: read-only connections on a thread of their own, one per opened database. The reads of the
 * app (session look-ups, page states, reports) run here, so the event loop does not wait while SQLite builds a
 * page state, and a read never sees a write of the group commit's open transaction, only committed ones (WAL:
 * each statement reads the newest commit). Requests arrive in batches (all those of one event-loop turn),
 * replies go back the same way. Started by db/sqlite.ts (one thread per process); this file is its whole code.
 */
import BetterSqlite3 from 'better-sqlite3';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { failureOf, type ThreadFailure } from './thread-failure.js';

export interface ReaderData {
  /** The SQLite addon's path (the single binary's extracted asset), or undefined for the default lookup. */
  addon: string | undefined;
}

/**
 * A read: its id, the database (a number per opened Database, with its file), `get` (the first row), `all`, or
 * `bytes` (the first column of the first row as UTF-8, an ArrayBuffer handed over without a copy), the SQL and its
 * parameters; or `close` to close that database's connection (sql and params unused).
 */
export type ReadRequest = [id: number, database: number, file: string, kind: 'get' | 'all' | 'bytes' | 'close', sql: string, params: unknown];

export type ReadReply = [id: number, ok: true, value: unknown] | [id: number, ok: false, failure: ThreadFailure];

/** A read-only connection and its prepared statements (each distinct SQL text prepared once). */
class Connection {
  private readonly sqlite: BetterSqlite3.Database;
  private readonly statements = new Map<string, BetterSqlite3.Statement<unknown[], unknown>>();

  constructor(file: string, addon: string | undefined) {
    this.sqlite = new BetterSqlite3(file, { readonly: true, fileMustExist: true, ...(addon ? { nativeBinding: addon } : {}) });
    this.sqlite.pragma('busy_timeout = 5000');
    // Reads through the operating system's file cache, mapped, instead of a read call per page into SQLite's own 2 MB
    // cache: a course's grid of 1,000 students reads some 450,000 answers scattered over the file, 3.5-4.3 s with read
    // calls and 0.65-1 s mapped (bench/RESULTS.md, "The dashboard's grid"). The file only grows (Folio never vacuums),
    // so no mapped page is cut off under a reader.
    this.sqlite.pragma(`mmap_size = ${2 ** 30}`);
  }

  prepare(sql: string): BetterSqlite3.Statement<unknown[], unknown> {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.sqlite.prepare(sql)));
    return statement;
  }

  close(): void {
    this.sqlite.close();
  }
}

function serve({ addon }: ReaderData): void {
  const connections = new Map<number, Connection>();
  const connection = (database: number, file: string) => {
    let found = connections.get(database);
    if (!found) connections.set(database, (found = new Connection(file, addon)));
    return found;
  };
  const encoder = new TextEncoder();
  parentPort!.on('message', (batch: ReadRequest[]) => {
    const replies: ReadReply[] = [];
    const handedOver: ArrayBuffer[] = [];
    for (const [id, database, file, kind, sql, params] of batch) {
      try {
        if (kind === 'close') {
          connections.get(database)?.close();
          connections.delete(database);
          replies.push([id, true, undefined]);
          continue;
        }
        const statement = connection(database, file).prepare(sql);
        if (kind === 'bytes') {
          const row = statement.get(params) as Record<string, unknown> | undefined;
          // An array of its own (never Buffer's shared pool), so that it can be handed over.
          const bytes = row === undefined ? undefined : encoder.encode(String(Object.values(row)[0])).buffer;
          if (bytes) handedOver.push(bytes);
          replies.push([id, true, bytes]);
          continue;
        }
        replies.push([id, true, kind === 'get' ? statement.get(params) : statement.all(params)]);
      } catch (err) {
        replies.push([id, false, failureOf(err)]);
      }
    }
    parentPort!.postMessage(replies, handedOver);
  });
}

if (!isMainThread && parentPort && (workerData as { folioReader?: ReaderData } | undefined)?.folioReader) serve((workerData as { folioReader: ReaderData }).folioReader);
