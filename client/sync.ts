import type { FolioError } from './errors.js';
import type { Outcome } from './http.js';
import type { Entry, NewEntry, Outbox } from './outbox.js';
import type { PendingReason, Runtime, SyncEvent, WriteResult } from './types.js';

/** What keepalive requests may carry in all (browsers allow 64 KiB in flight per page; some is left for headers). */
export const keepaliveBudget = 60 * 1024;
/** How soon a tab tries again when another tab holds the book's send lock. */
export const lockRetryMs = 1000;

/** The wait before retry number `attempt` (0 first): `initialMs` doubling up to `maxMs`, with jitter down to half of it. */
export function retryDelay(attempt: number, initialMs: number, maxMs: number, random: number): number {
  const full = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(full / 2 + (full / 2) * random);
}

export function byteLength(value: unknown): number {
  return new TextEncoder().encode(JSON.stringify(value)).length;
}

export interface SyncOptions {
  runtime: Runtime;
  outbox: Outbox;
  /** Whose outbox is sent now (the account's id, or `anon`). */
  user(): string;
  lockName(user: string): string;
  /** Sends one kept write with the current credentials. */
  deliver(entry: Entry, keepalive: boolean): Promise<Outcome>;
  /** Runs before each pass (learns who is logged in); the failure to stop on when that could not be done. */
  prepare(): Promise<Exclude<Outcome, { kind: 'ok' }> | null>;
  emit(event: SyncEvent): void;
  /** A write got 401: the session has ended. */
  loginRequired(): void;
  initialMs: number;
  maxMs: number;
}

interface Waiter {
  resolve(result: WriteResult<unknown>): void;
  reject(error: FolioError): void;
}

type RetryReason = Extract<Outcome, { kind: 'retry' }>['reason'];

/**
 * Sends kept writes in the order they were made, one at a time, and removes each only after a 2xx: offline, timeouts,
 * 408, 429 and 5xx are retried with backoff (at once when the browser comes back online); a 401 pauses everything
 * until the next login; any other 4xx drops that write (it can never succeed) and says so.
 */
export class Sync {
  readonly #o: SyncOptions;
  readonly #waiters = new Map<string, Waiter>();
  #attempt = 0;
  #timer: unknown = null;
  #lastReason: PendingReason = 'queued';
  #running: Promise<void> | null = null;
  /** A write came while a pass ran: run again unless that pass ended waiting for a retry. */
  #again = false;
  /** flush() was called while a pass ran: run again in any case. */
  #forced = false;
  #paused = false;
  #inFlight: string | null = null;
  /**
   * While the student logs in or out, nothing is sent: a write starting an anonymous session would race the login.
   * Nor while a read is merged with the kept writes: a write sent meanwhile would be in neither.
   */
  #held = 0;
  /** Something waits to be sent once the last hold is released (a write or flush during a hold, a pass it stopped). */
  #sendOnRelease = false;
  #closed = false;

  constructor(options: SyncOptions) {
    this.#o = options;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Keeps a write for `user` and sends it when it can; resolves once it is on the server, or with why it is not yet. */
  write<R>(user: string, write: NewEntry): Promise<WriteResult<R>> {
    const entry = this.#o.outbox.add(user, write);
    const result = new Promise<WriteResult<R>>((resolve, reject) => {
      this.#waiters.set(entry.id, { resolve: resolve as Waiter['resolve'], reject });
    });
    if (this.#paused) this.#settle('login_required');
    else if (this.#held > 0) this.#sendOnRelease = true;
    else if (this.#timer !== null) this.#settle(this.#lastReason); // a retry is already scheduled: the write joins it
    else if (this.#running) this.#again = true;
    else void this.flush();
    return result;
  }

  /** Sends every kept write now; resolves when done or stopped (offline, 401, …). Joins a send already under way. */
  flush(): Promise<void> {
    if (this.#held > 0) this.#sendOnRelease = true;
    if (this.#closed || this.#paused || this.#held > 0) return Promise.resolve();
    if (this.#running) {
      this.#forced = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          this.#forced = false;
          this.#clearTimer();
          await this.#lockedPass();
        } while (!this.#paused && !this.#closed && this.#held === 0 && (this.#forced || (this.#again && this.#timer === null)));
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }

  /** The browser is back online: forget the backoff and send now. */
  wake(): void {
    if (this.#paused || this.#closed) return;
    this.#attempt = 0;
    void this.flush();
  }

  /**
   * Stops sending (the student is logging in or out, or a read is being merged with the kept writes) and waits for
   * the write being sent to be answered; release() undoes it.
   */
  async hold(): Promise<void> {
    this.#held++;
    await this.#running;
  }

  /** Undoes one hold(); once none is left, sends what was written meanwhile. */
  release(): void {
    this.#held = Math.max(0, this.#held - 1);
    if (this.#held > 0 || !this.#sendOnRelease) return;
    this.#sendOnRelease = false;
    void this.flush();
  }

  /** Stops sending until resume() (the session has ended). */
  pause(): void {
    this.#paused = true;
    this.#clearTimer();
  }

  resume(): void {
    this.#paused = false;
    this.#attempt = 0;
  }

  close(): void {
    this.#closed = true;
    this.#clearTimer();
  }

  /**
   * The page is being hidden or unloaded: sends waiting event batches with keepalive (up to the browser's budget), which
   * the browser delivers even after the page is gone. They leave the outbox first; if the page lives on and the send
   * fails, they are put back.
   */
  beacon(user: string): void {
    if (this.#paused || this.#closed || this.#held > 0) return;
    let budget = keepaliveBudget;
    for (const entry of this.#o.outbox.list(user)) {
      if (entry.kind !== 'events' || entry.id === this.#inFlight) continue;
      const size = byteLength(entry.body);
      if (size > budget) break;
      budget -= size;
      this.#o.outbox.remove(user, entry.id);
      void this.#o.deliver(entry, true).then((outcome) => {
        if (outcome.kind === 'retry' || outcome.kind === 'auth') this.#o.outbox.restore(user, entry);
      });
    }
  }

  async #lockedPass(): Promise<void> {
    const locks = this.#o.runtime.locks;
    if (!locks) return this.#pass();
    // Tabs of one book share the outbox: one sends at a time, or a write could be sent twice.
    const got = await locks.request(this.#o.lockName(this.#o.user()), { ifAvailable: true }, async (lock) => {
      if (!lock) return false;
      await this.#pass();
      return true;
    });
    if (!got) {
      this.#timer = this.#o.runtime.setTimeout(() => {
        this.#timer = null;
        void this.flush();
      }, lockRetryMs);
      this.#lastReason = 'queued';
      this.#settle('queued');
    }
  }

  async #pass(): Promise<void> {
    const { outbox } = this.#o;
    const prepared = await this.#o.prepare();
    if (prepared?.kind === 'retry') return this.#retry(prepared.reason, prepared.error);
    let announced = false;
    let delivered = false;
    for (;;) {
      if (this.#paused) return this.#stopForLogin();
      if (this.#closed) return;
      const user = this.#o.user();
      const entry = outbox.list(user)[0];
      if (!entry) break;
      if (this.#held > 0) {
        this.#sendOnRelease = true;
        return;
      }
      if (!announced) {
        announced = true;
        this.#o.emit({ type: 'saving', pending: outbox.count(user) });
      }
      this.#inFlight = entry.id;
      const outcome = await this.#o.deliver(entry, false);
      this.#inFlight = null;
      const waiter = this.#waiters.get(entry.id);
      if (outcome.kind === 'ok') {
        outbox.remove(user, entry.id);
        this.#waiters.delete(entry.id);
        this.#attempt = 0;
        delivered = true;
        waiter?.resolve({ status: 'saved', reply: outcome.body });
      } else if (outcome.kind === 'refused') {
        outbox.remove(user, entry.id);
        this.#waiters.delete(entry.id);
        const { statusCode, error, message } = outcome.error;
        this.#o.emit({ type: 'rejected', pending: outbox.count(user), write: { kind: entry.kind, target: entry.target }, error: { statusCode, error, message } });
        waiter?.reject(outcome.error);
      } else if (outcome.kind === 'auth') {
        this.#o.loginRequired();
        this.pause();
        return this.#stopForLogin();
      } else {
        return this.#retry(outcome.reason, outcome.error);
      }
    }
    this.#attempt = 0;
    if (delivered) this.#o.emit({ type: 'saved', pending: 0 });
    // Whatever is still awaited belongs to another user (the student changed): it waits for their login.
    this.#settle('login_required');
  }

  #retry(reason: RetryReason, error: FolioError): void {
    const wait = Math.max(retryDelay(this.#attempt, this.#o.initialMs, this.#o.maxMs, this.#o.runtime.random()), error.retryAfterMs ?? 0);
    this.#attempt++;
    this.#timer = this.#o.runtime.setTimeout(() => {
      this.#timer = null;
      void this.flush();
    }, wait);
    this.#lastReason = reason;
    this.#o.emit({ type: 'retrying', pending: this.#o.outbox.count(this.#o.user()), reason, retryInMs: wait });
    this.#settle(reason);
  }

  #stopForLogin(): void {
    this.#o.emit({ type: 'paused', pending: this.#o.outbox.count(this.#o.user()), reason: 'login_required' });
    this.#settle('login_required');
  }

  /** Tells everyone still waiting for a write that it is kept, and why. */
  #settle(reason: PendingReason): void {
    for (const waiter of this.#waiters.values()) waiter.resolve({ status: 'pending', reason });
    this.#waiters.clear();
  }

  #clearTimer(): void {
    if (this.#timer === null) return;
    this.#o.runtime.clearTimeout(this.#timer);
    this.#timer = null;
  }
}
