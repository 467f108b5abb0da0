import { sql } from 'drizzle-orm';
import type { Queries, WriteStep } from './index.js';
import type { SqliteQueries } from './sqlite.js';
import type { WriteOutcome } from './sqlite-writer.js';
import { runSteps } from './steps.js';
import { errorOf } from './thread-failure.js';

/** The transaction's own statements. */
const control = {
  begin: sql`BEGIN IMMEDIATE`,
  savepoint: sql`SAVEPOINT folio_write`,
  release: sql`RELEASE folio_write`,
  rollbackTo: sql`ROLLBACK TO folio_write`,
  commit: sql`COMMIT`,
  rollback: sql`ROLLBACK`,
};

/** A write: work to run here on the event loop's connection, or steps (SQL alone) for the write thread. */
interface Pending {
  work: ((tx: Queries) => Promise<unknown>) | undefined;
  steps: readonly WriteStep[] | undefined;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** The write thread's side of the group commit: commits a batch of writes in one transaction, on disk when it resolves. */
export interface WriteThreadCommit {
  commit(batch: (readonly WriteStep[])[]): Promise<WriteOutcome[]>;
}

/**
 * Group commit on SQLite: the writes queued during one turn of the event loop run in one transaction, each in
 * its own savepoint (one failing write does not undo the others), and their promises settle only after the
 * COMMIT and then `sync`, the fsync of the write-ahead log (see openSqlite): many writes share one fsync, and a
 * 2xx still means on disk. Writes queued while a batch runs form the next one; the fsync runs off the event loop,
 * so the next batch runs meanwhile, and one fsync started after a COMMIT covers every COMMIT before it.
 * Writes of steps (SQL alone) go to the write thread instead, if there is one: a batch is cut into runs of
 * consecutive writes of either kind, committed one after the other in the order they were queued; the thread's
 * COMMIT is on disk when it answers (synchronous=FULL there).
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  private running: Promise<void> | undefined;
  /** An fsync is under way. */
  private syncing: Promise<void> | undefined;
  /** Commits made since the fsync under way began: the next fsync covers them. */
  private unsynced: { resolve: () => void; reject: (err: unknown) => void }[] = [];

  constructor(
    private readonly queries: SqliteQueries,
    private readonly sync: () => Promise<void> = async () => {},
    /** Called at once after each COMMIT (before its fsync). */
    private readonly committed: () => void = () => {},
    /** Where writes of steps commit, if not here. */
    private readonly thread?: WriteThreadCommit,
  ) {}

  /** Runs `work` in the next group transaction; resolves once it is committed. */
  run<T>(work: (tx: Queries) => Promise<T>): Promise<T> {
    return this.enqueue(work, undefined) as Promise<T>;
  }

  /** Runs a write of steps in the next group transaction, on the write thread if there is one; resolves with each step's result. */
  runSteps(steps: readonly WriteStep[]): Promise<unknown[]> {
    return (this.thread ? this.enqueue(undefined, steps) : this.enqueue((tx) => runSteps(tx, steps), undefined)) as Promise<unknown[]>;
  }

  private enqueue(work: Pending['work'], steps: Pending['steps']): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ work, steps, resolve, reject });
      this.schedule();
    });
  }

  /** Commits everything queued, and waits for its fsync (before the database closes). */
  async drain(): Promise<void> {
    while (this.running || this.queue.length > 0 || this.syncing) await (this.running ?? (this.queue.length > 0 ? this.flush() : this.syncing));
  }

  /** Resolves once an fsync that began after this call has ended. */
  private durable(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.unsynced.push({ resolve, reject });
      if (!this.syncing) this.startSync();
    });
  }

  private startSync(): void {
    const covered = this.unsynced;
    this.unsynced = [];
    this.syncing = this.sync().then(
      () => covered.forEach((c) => c.resolve()),
      (err: unknown) => covered.forEach((c) => c.reject(err)),
    ).finally(() => {
      this.syncing = undefined;
      if (this.unsynced.length > 0) this.startSync();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.running) void this.flush();
    });
  }

  private flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.running = this.commit(batch).finally(() => {
      this.running = undefined;
      if (this.queue.length > 0) this.schedule();
    });
    return this.running;
  }

  /** A batch in runs of consecutive writes of the same kind, in order: steps on the write thread, work here. */
  private async commit(batch: Pending[]): Promise<void> {
    for (let start = 0; start < batch.length; ) {
      const onThread = batch[start]!.steps !== undefined;
      let end = start + 1;
      while (end < batch.length && (batch[end]!.steps !== undefined) === onThread) end++;
      const run = batch.slice(start, end);
      await (onThread ? this.commitOnThread(run) : this.commitHere(run));
      start = end;
    }
  }

  private async commitOnThread(batch: Pending[]): Promise<void> {
    let outcomes: WriteOutcome[];
    try {
      outcomes = await this.thread!.commit(batch.map((item) => item.steps!));
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    } finally {
      this.committed();
    }
    batch.forEach((item, i) => {
      const [ok, value] = outcomes[i]!;
      if (ok) item.resolve(value);
      else item.reject(errorOf(value));
    });
  }

  private async commitHere(batch: Pending[]): Promise<void> {
    const q = this.queries;
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      q.runNow(control.begin);
      for (const item of batch) {
        q.runNow(control.savepoint);
        try {
          outcomes.push({ ok: true, value: await item.work!(q) });
          q.runNow(control.release);
        } catch (err) {
          q.runNow(control.rollbackTo);
          q.runNow(control.release);
          outcomes.push({ ok: false, value: err });
        }
      }
      q.runNow(control.commit);
      this.committed();
    } catch (err) {
      if (q.sqlite.inTransaction) q.runNow(control.rollback);
      for (const item of batch) item.reject(err);
      return;
    }
    // Not awaited: the next batch may commit while this one's fsync runs.
    this.durable().then(
      () => batch.forEach((item, i) => (outcomes[i]!.ok ? item.resolve(outcomes[i]!.value) : item.reject(outcomes[i]!.value))),
      (err: unknown) => batch.forEach((item) => item.reject(err)),
    );
  }
}
