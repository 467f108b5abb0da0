/**
 * The SQLite write thread: the group commit's writes that are SQL alone (`Database.writeSteps`: a student's answer,
 * program, events) run here, on a connection of its own with synchronous=FULL, so that neither SQLite's work nor
 * the fsync of the commit holds up the event loop. A message is one batch: one transaction, each write in a
 * savepoint of its own (one failing undoes only itself), replied to after the COMMIT is on disk. Started by
 * db/sqlite.ts (one thread per opened database); this file is its whole code.
 */
import BetterSqlite3 from 'better-sqlite3';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { WriteStep } from './index.js';

export interface WriterData {
  /** The database file. */
  file: string;
  /** The SQLite addon's path (the single binary's extracted asset), or undefined for the default lookup. */
  addon: string | undefined;
}


/** What a failed write throws, across the thread boundary (an Error's class does not survive it). */
export interface WriteFailure {
  name: string;
  message: string;
  code?: string;
}

/** A write's outcome: each step's result, or why it failed (its savepoint rolled back); or the batch failed whole. */
export type WriteOutcome = [ok: true, results: unknown[]] | [ok: false, failure: WriteFailure];
export type WriterReply = { outcomes: WriteOutcome[] } | { failure: WriteFailure };

const failure = (err: unknown): WriteFailure => {
  const { name, message, code } = err as Error & { code?: string };
  return { name, message, ...(typeof code === 'string' ? { code } : {}) };
};

function serve({ file, addon }: WriterData): void {
  const sqlite = new BetterSqlite3(file, { fileMustExist: true, ...(addon ? { nativeBinding: addon } : {}) });
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // The COMMIT returns once the log is on disk: this thread waits for the fsync, the event loop does not.
  sqlite.pragma('synchronous = FULL');
  const statements = new Map<string, BetterSqlite3.Statement<unknown[], unknown>>();
  const prepare = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) statements.set(sql, (statement = sqlite.prepare(sql)));
    return statement;
  };
  const exec = (sql: string) => prepare(sql).run();
  parentPort!.on('message', (batch: WriteStep[][] | 'close') => {
    if (batch === 'close') {
      sqlite.close();
      parentPort!.close();
      return;
    }
    const outcomes: WriteOutcome[] = [];
    try {
      exec('BEGIN IMMEDIATE');
      for (const steps of batch) {
        exec('SAVEPOINT folio_write');
        try {
          outcomes.push([true, steps.map(([kind, sql, params]) => (kind === 'get' ? prepare(sql).get(params) : prepare(sql).run(params).changes))]);
          exec('RELEASE folio_write');
        } catch (err) {
          exec('ROLLBACK TO folio_write');
          exec('RELEASE folio_write');
          outcomes.push([false, failure(err)]);
        }
      }
      exec('COMMIT');
    } catch (err) {
      if (sqlite.inTransaction) exec('ROLLBACK');
      parentPort!.postMessage({ failure: failure(err) } satisfies WriterReply);
      return;
    }
    parentPort!.postMessage({ outcomes } satisfies WriterReply);
  });
}

if (!isMainThread && parentPort && (workerData as { folioWriter?: WriterData } | undefined)?.folioWriter) serve((workerData as { folioWriter: WriterData }).folioWriter);
