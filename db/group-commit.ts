import type { Queries } from './index.js';
import type { SqliteQueries } from './sqlite.js';

interface Pending {
  work: (tx: Queries) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit on SQLite: the writes queued during one turn of the event loop run in one transaction, each in
 * its own savepoint (one failing write does not undo the others), and their promises settle only after the
 * COMMIT — with synchronous=FULL, after the fsync. Many writes then share one fsync, and a 2xx still means on
 * disk. Writes queued while a batch runs form the next one.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  private running: Promise<void> | undefined;

  constructor(private readonly queries: SqliteQueries) {}

  /** Runs `work` in the next group transaction; resolves once it is committed. */
  run<T>(work: (tx: Queries) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Commits everything queued (before the database closes). */
  async drain(): Promise<void> {
    while (this.running || this.queue.length > 0) await (this.running ?? this.flush());
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

  private async commit(batch: Pending[]): Promise<void> {
    if (batch.length === 0) return;
    const q = this.queries;
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      q.runNow('BEGIN IMMEDIATE');
      for (const item of batch) {
        q.runNow('SAVEPOINT folio_write');
        try {
          outcomes.push({ ok: true, value: await item.work(q) });
          q.runNow('RELEASE folio_write');
        } catch (err) {
          q.runNow('ROLLBACK TO folio_write');
          q.runNow('RELEASE folio_write');
          outcomes.push({ ok: false, value: err });
        }
      }
      q.runNow('COMMIT');
    } catch (err) {
      if (q.sqlite.inTransaction) q.runNow('ROLLBACK');
      for (const item of batch) item.reject(err);
      return;
    }
    batch.forEach((item, i) => (outcomes[i]!.ok ? item.resolve(outcomes[i]!.value) : item.reject(outcomes[i]!.value)));
  }
}
