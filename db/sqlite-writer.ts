/**
 * The SQLite write thread: the group commit's writes that are SQL alone (`Database.writeSteps`: a student's answer,
 * program, events) run here, on a connection of its own with synchronous=FULL, so that neither SQLite's work nor
 * the fsync of the commit holds up the event loop. A message is one batch: one transaction, each write in a
 * savepoint of its own (one failing undoes only itself), replied to after the COMMIT is on disk. Started by
 * db/sqlite.ts (one thread per opened database); this file is its whole code.
 */
import BetterSqlite3 from 'better-sqlite3';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { failureOf, type ThreadFailure } from './thread-failure.js';

export interface WriterData {
  /** The database file. */
  file: string;
  /** The SQLite addon's path (the single binary's extracted asset), or undefined for the default lookup. */
  addon: string | undefined;
}

/**
 * A batch, as the event loop sends it: each write's steps, rendered there (db/render.ts) to SQLite's SQL text and
 * its values in order, with each text replaced by a number (fewer bytes to copy across), and the texts this thread
 * has not been sent before with their numbers.
 */
export interface WriterBatch {
  statements: [id: number, sql: string][];
  writes: [kind: 'run' | 'get', statement: number, values: unknown][][];
}

/** A write's outcome: each step's result, or why it failed (its savepoint rolled back); or the batch failed whole. */
export type WriteOutcome = [ok: true, results: unknown[]] | [ok: false, failure: ThreadFailure];
export type WriterReply = { outcomes: WriteOutcome[] } | { failure: ThreadFailure };

function serve({ file, addon }: WriterData): void {
  const sqlite = new BetterSqlite3(file, { fileMustExist: true, ...(addon ? { nativeBinding: addon } : {}) });
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // The COMMIT returns once the log is on disk: this thread waits for the fsync, the event loop does not.
  sqlite.pragma('synchronous = FULL');
  const texts = new Map<number, string>();
  const statements = new Map<number, BetterSqlite3.Statement<unknown[], unknown>>();
  // Prepared on first use, inside the write's savepoint: SQL that does not prepare fails its write alone.
  const statement = (id: number) => {
    let found = statements.get(id);
    if (!found) statements.set(id, (found = sqlite.prepare(texts.get(id)!)));
    return found;
  };
  const [begin, savepoint, release, rollbackTo, commit, rollback] = ['BEGIN IMMEDIATE', 'SAVEPOINT folio_write', 'RELEASE folio_write', 'ROLLBACK TO folio_write', 'COMMIT', 'ROLLBACK'].map((sql) =>
    sqlite.prepare(sql),
  ) as BetterSqlite3.Statement[];
  parentPort!.on('message', (message: WriterBatch | 'close') => {
    if (message === 'close') {
      sqlite.close();
      parentPort!.close();
      return;
    }
    for (const [id, sql] of message.statements) texts.set(id, sql);
    const outcomes: WriteOutcome[] = [];
    try {
      begin!.run();
      for (const steps of message.writes) {
        savepoint!.run();
        try {
          outcomes.push([true, steps.map(([kind, id, params]) => (kind === 'get' ? statement(id).get(params) : statement(id).run(params).changes))]);
          release!.run();
        } catch (err) {
          rollbackTo!.run();
          release!.run();
          outcomes.push([false, failureOf(err)]);
        }
      }
      commit!.run();
    } catch (err) {
      if (sqlite.inTransaction) rollback!.run();
      parentPort!.postMessage({ failure: failureOf(err) } satisfies WriterReply);
      return;
    }
    parentPort!.postMessage({ outcomes } satisfies WriterReply);
  });
}

if (!isMainThread && parentPort && (workerData as { folioWriter?: WriterData } | undefined)?.folioWriter) serve((workerData as { folioWriter: WriterData }).folioWriter);
