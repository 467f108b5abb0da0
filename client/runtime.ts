import type { ChannelLike, HistoryLike, LocksLike, Runtime, StorageLike } from './types.js';

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
  const g = globalThis as Omit<typeof globalThis, 'BroadcastChannel'> & {
    navigator?: { locks?: LocksLike };
    location?: { href: string; assign?(url: string): void };
    history?: HistoryLike;
    open?(url: string, name: string): { closed: boolean } | null;
    close?(): void;
    BroadcastChannel?: new (name: string) => ChannelLike;
  };
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
    openWindow: typeof g.open === 'function' ? (url, name) => g.open!(url, name) : null,
    navigate: typeof g.location?.assign === 'function' ? (url) => g.location!.assign!(url) : null,
    closeWindow: typeof g.close === 'function' ? () => g.close!() : null,
    channel: typeof g.BroadcastChannel === 'function' ? (name) => new g.BroadcastChannel!(name) as ChannelLike : null,
  };
}
