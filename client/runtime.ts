import type { HistoryLike, LocksLike, Runtime, StorageLike } from './types.js';

/** Reading localStorage throws when the browser blocks storage for the page: then there is none. */
function storage(read: () => StorageLike | undefined): StorageLike | null {
  try {
    return read() ?? null;
  } catch {
    return null;
  }
}

/** The browser's own environment. */
export function browserRuntime(): Runtime {
  const g = globalThis as typeof globalThis & { navigator?: { locks?: LocksLike }; location?: { href: string }; history?: HistoryLike };
  const localStorage = storage(() => g.localStorage);
  return {
    fetch: (input, init) => g.fetch(input, init),
    localStorage,
    sessionStorage: storage(() => g.sessionStorage),
    now: () => Date.now(),
    setTimeout: (callback, ms) => g.setTimeout(callback, ms),
    clearTimeout: (handle) => g.clearTimeout(handle as number),
    random: () => Math.random(),
    window: typeof g.addEventListener === 'function' ? g : null,
    document: typeof document === 'undefined' ? null : document,
    // Locks keep tabs from sending one shared outbox twice. Without localStorage there is no shared outbox, and a browser
    // that blocks a third-party frame's storage refuses its locks too (SecurityError: "The request was denied").
    locks: localStorage ? (g.navigator?.locks ?? null) : null,
    location: g.location ?? null,
    history: g.history ?? null,
  };
}
