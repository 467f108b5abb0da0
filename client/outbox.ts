import type { StorageLike, WriteKind } from './types.js';

/** A write kept until the server has acknowledged it with a 2xx. */
export interface Entry {
  /** Sorts in the order the writes were made. */
  id: string;
  kind: WriteKind;
  method: 'PUT' | 'POST';
  /** From the server's root, e.g. `/api/books/demo/programs/ac1`. */
  path: string;
  body: unknown;
  /** The activity, question or page the write is about (for overlays and events). */
  target: string | null;
  page: string | null;
  keptAt: number;
}

export type NewEntry = Omit<Entry, 'id' | 'keptAt'>;

function randomTail(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => (b % 36).toString(36)).join('');
}

/** Writes for which only the newest counts: an older one still waiting is replaced. */
const replaces = (older: Entry, newer: NewEntry) =>
  older.kind === newer.kind && (newer.kind === 'position' || (newer.kind === 'complete' && older.target === newer.target));

/**
 * The writes not yet on the server, one localStorage item each (so tabs never overwrite each other's), under
 * `folio|outbox|<server>|<book>|<user>|<id>`: `user` is the account's id, or `anon` before logging in. When
 * storage is missing or full, entries are kept in memory for as long as the page lives.
 */
export class Outbox {
  readonly #storage: StorageLike | null;
  readonly #scope: string;
  readonly #clock: { now(): number };
  readonly #memory = new Map<string, string>();
  #counter = 0;

  constructor(storage: StorageLike | null, server: string, book: string, clock: { now(): number }) {
    this.#storage = storage;
    this.#scope = `folio|outbox|${server}|${book}|`;
    this.#clock = clock;
  }

  #prefix(user: string): string {
    return `${this.#scope}${user}|`;
  }

  #keys(user: string): string[] {
    const prefix = this.#prefix(user);
    const keys = [...this.#memory.keys()].filter((k) => k.startsWith(prefix));
    const storage = this.#storage;
    if (storage) {
      try {
        for (let i = 0; i < storage.length; i++) {
          const key = storage.key(i);
          if (key?.startsWith(prefix)) keys.push(key);
        }
      } catch {
        // storage became unavailable: only memory is left
      }
    }
    return keys;
  }

  #read(key: string): Entry | null {
    let text = this.#memory.get(key);
    if (text === undefined) {
      try {
        text = this.#storage?.getItem(key) ?? undefined;
      } catch {
        return null;
      }
    }
    if (text === undefined) return null;
    try {
      return JSON.parse(text) as Entry;
    } catch {
      return null;
    }
  }

  /** Keeps a write for `user` and returns it. */
  add(user: string, write: NewEntry): Entry {
    for (const older of this.list(user)) if (replaces(older, write)) this.remove(user, older.id);
    const keptAt = this.#clock.now();
    // Time first (fixed width, base 36) so ids sort in order across tabs; then a per-page counter and a random tail
    // (two tabs may write in the same millisecond).
    const id = `${keptAt.toString(36).padStart(9, '0')}.${(this.#counter++).toString(36).padStart(4, '0')}.${randomTail()}`;
    const entry: Entry = { ...write, id, keptAt };
    this.#put(user, entry);
    return entry;
  }

  #put(user: string, entry: Entry): void {
    const key = this.#prefix(user) + entry.id;
    const text = JSON.stringify(entry);
    try {
      if (!this.#storage) throw new Error('no storage');
      this.#storage.setItem(key, text);
    } catch {
      this.#memory.set(key, text);
    }
  }

  /** Puts back an entry taken out earlier (a keepalive send that failed while the page lived on). */
  restore(user: string, entry: Entry): void {
    this.#put(user, entry);
  }

  /** The user's kept writes, oldest first. */
  list(user: string): Entry[] {
    const entries: Entry[] = [];
    for (const key of this.#keys(user)) {
      const entry = this.#read(key);
      if (entry) entries.push(entry);
      else this.#delete(key); // unreadable: nothing can ever send it
    }
    return entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  count(user: string): number {
    return this.#keys(user).length;
  }

  has(user: string, id: string): boolean {
    return this.#read(this.#prefix(user) + id) !== null;
  }

  remove(user: string, id: string): void {
    this.#delete(this.#prefix(user) + id);
  }

  #delete(key: string): void {
    this.#memory.delete(key);
    try {
      this.#storage?.removeItem(key);
    } catch {
      // nothing to do
    }
  }

  /** Moves every kept write of `from` to `to` (the anonymous student's work, when they log in); returns how many. */
  adopt(from: string, to: string): number {
    if (from === to) return 0;
    const entries = this.list(from);
    for (const entry of entries) {
      this.#put(to, entry);
      this.remove(from, entry.id);
    }
    return entries.length;
  }

  /** Forgets every kept write of `user`. */
  clear(user: string): void {
    for (const key of this.#keys(user)) this.#delete(key);
  }
}
