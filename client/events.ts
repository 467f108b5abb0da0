import { byteLength, keepaliveBudget } from './sync.js';
import type { Runtime } from './types.js';

export interface EventRecord {
  type: string;
  target?: string;
  page?: string;
  data?: unknown;
  /** Milliseconds since the epoch, on the student's clock. */
  clientTime: number;
}

/** The server takes 1-500 events a request. */
export const maxEventsPerRequest = 500;

/** Cuts events into request bodies of at most 500 events and `maxBytes` of JSON each (a keepalive request must stay small). */
export function splitEvents(events: EventRecord[], maxBytes = keepaliveBudget): EventRecord[][] {
  const batches: EventRecord[][] = [];
  let batch: EventRecord[] = [];
  let size = byteLength({ events: [] });
  for (const event of events) {
    const bytes = byteLength(event) + 1; // and its comma
    if (batch.length > 0 && (batch.length === maxEventsPerRequest || size + bytes > maxBytes)) {
      batches.push(batch);
      batch = [];
      size = byteLength({ events: [] });
    }
    batch.push(event);
    size += bytes;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

export interface EventLogOptions {
  runtime: Runtime;
  maxBatch: number;
  flushMs: number;
  /** Hands a batch over to be kept and sent. */
  keep(batch: EventRecord[]): void;
}

/** Collects logged events in memory and hands them over in batches: when `maxBatch` are waiting, `flushMs` after the first, or on drain(). */
export class EventLog {
  readonly #o: EventLogOptions;
  #buffer: EventRecord[] = [];
  #timer: unknown = null;

  constructor(options: EventLogOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#buffer.length;
  }

  add(event: EventRecord): void {
    this.#buffer.push(event);
    if (this.#buffer.length >= this.#o.maxBatch) this.drain();
    else this.#timer ??= this.#o.runtime.setTimeout(() => this.drain(), this.#o.flushMs);
  }

  drain(): void {
    if (this.#timer !== null) this.#o.runtime.clearTimeout(this.#timer);
    this.#timer = null;
    const events = this.#buffer;
    this.#buffer = [];
    for (const batch of splitEvents(events)) this.#o.keep(batch);
  }
}
