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
  return {
    fetch: (input, init) => g.fetch(input, init),
    localStorage: storage(() => g.localStorage),
    sessionStorage: storage(() => g.sessionStorage),
    now: () => Date.now(),
    setTimeout: (callback, ms) => g.setTimeout(callback, ms),
    clearTimeout: (handle) => g.clearTimeout(handle as number),
    random: () => Math.random(),
    window: typeof g.addEventListener === 'function' ? g : null,
    document: typeof document === 'undefined' ? null : document,
    locks: g.navigator?.locks ?? null,
    location: g.location ?? null,
    history: g.history ?? null,
  };
}
