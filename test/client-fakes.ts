/**
 * A browser for the client's unit tests, in Node: storage, a clock that only moves when told, window and document
 * event targets, and a network in front of the real app (through inject) that can go offline, fail, hang, or refuse
 * cookies the way a browser does.
 */
import type { FastifyInstance } from 'fastify';
import type { Test } from 'tap';
import { Folio } from '../client/folio.js';
import type { ChannelLike, FolioEvents, FolioOptions, Runtime, StorageLike } from '../client/types.js';
import { bookOrigin } from './helper.js';

export const server = 'https://folio.test';

export class MemoryStorage implements StorageLike {
  readonly #items = new Map<string, string>();
  get length(): number {
    return this.#items.size;
  }
  key(index: number): string | null {
    return [...this.#items.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    return this.#items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.#items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.#items.delete(key);
  }
  keys(): string[] {
    return [...this.#items.keys()];
  }
}

interface Timer {
  at: number;
  seq: number;
  callback: () => void;
}

/** Time stands still until advance(); timers run in order, with the app's replies settling in between. */
export class FakeClock {
  #now = Date.parse('2026-11-28T12:00:00.000Z');
  #seq = 0;
  readonly #timers = new Map<number, Timer>();

  now = (): number => this.#now;
  setTimeout = (callback: () => void, ms: number): unknown => {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), seq: id, callback });
    return id;
  };
  clearTimeout = (handle: unknown): void => {
    this.#timers.delete(handle as number);
  };

  /** The delays (from now) of the timers waiting, soonest first. */
  get waiting(): number[] {
    return [...this.#timers.values()].sort((a, b) => a.at - b.at || a.seq - b.seq).map((t) => t.at - this.#now);
  }

  /** Runs after each timer: waits for what it started. */
  afterTimer: () => Promise<void> = settle;

  /** Moves time forward by `ms`, running each timer that falls due (and letting what it starts settle). */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    for (;;) {
      const next = [...this.#timers.entries()].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      const [id, timer] = next;
      this.#timers.delete(id);
      this.#now = timer.at;
      timer.callback();
      await this.afterTimer();
    }
    this.#now = end;
    await this.afterTimer();
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

/** Lets pending promises, inject replies and database work run: a few turns of the event loop. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await turn();
}

export interface SeenRequest {
  method: string;
  path: string;
  /** How the request authenticated: the Authorization header, a cookie, or nothing. */
  auth: 'token' | 'cookie' | 'none';
  mode: string | undefined;
  keepalive: boolean;
  credentials: RequestCredentials | undefined;
  body: unknown;
  status: number | 'offline' | 'timeout';
}

type Fault = 'offline' | 'hang' | { status: number; headers?: Record<string, string> };

/**
 * The network between the page and Folio. Requests go to the real app through inject, from the book's origin, with
 * a cookie jar the browser would keep (unless `refuseCookies`). `offline` fails every request like fetch does;
 * `faults` are used up one per request before the app is asked.
 */
export class FakeNetwork {
  offline = false;
  refuseCookies = false;
  readonly faults: Fault[] = [];
  readonly seen: SeenRequest[] = [];
  readonly cookies = new Map<string, string>();
  #inFlight = 0;

  constructor(readonly app: FastifyInstance) {}

  /** Resolves once no request is in flight and the client has had a few turns to act on the last reply. */
  async idle(): Promise<void> {
    for (let quiet = 0; quiet < 10; ) {
      await turn();
      quiet = this.#inFlight === 0 ? quiet + 1 : 0;
    }
  }

  fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    this.#inFlight++;
    try {
      return await this.#fetch(input, init);
    } finally {
      this.#inFlight--;
    }
  };

  async #fetch(input: RequestInfo | URL, init: RequestInit): Promise<Response> {
    const url = new URL(String(input));
    const headers = new Headers(init.headers);
    const record: SeenRequest = {
      method: init.method ?? 'GET',
      path: url.pathname + url.search,
      auth: headers.has('authorization') ? 'token' : this.cookies.size > 0 ? 'cookie' : 'none',
      mode: headers.get('x-folio-mode') ?? undefined,
      keepalive: init.keepalive === true,
      credentials: init.credentials,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      status: 'offline',
    };
    this.seen.push(record);
    if (this.offline) throw new TypeError('Failed to fetch');
    const fault = this.faults.shift();
    if (fault === 'offline') throw new TypeError('Failed to fetch');
    if (fault === 'hang') {
      record.status = 'timeout';
      // Not in flight for idle(): only the client's clock can end it.
      this.#inFlight--;
      return new Promise<Response>((_, reject) => {
        init.signal?.addEventListener('abort', () => {
          this.#inFlight++;
          reject(new DOMException('The operation was aborted.', 'AbortError'));
        });
      });
    }
    if (fault) {
      record.status = fault.status;
      return new Response(JSON.stringify({ statusCode: fault.status, error: 'fault', message: 'a fault the test asked for' }), { status: fault.status, headers: fault.headers });
    }
    const sent: Record<string, string> = { origin: bookOrigin };
    headers.forEach((value, name) => (sent[name] = value));
    if (this.cookies.size > 0) sent.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await this.app.inject({ method: record.method as 'GET', url: record.path, headers: sent, ...(typeof init.body === 'string' ? { payload: init.body } : {}) });
    record.status = res.statusCode;
    const replyHeaders = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (name === 'set-cookie') this.#store([value].flat().map(String));
      else if (value !== undefined) replyHeaders.set(name, String(value));
    }
    return new Response(res.statusCode === 204 || res.body === '' ? null : res.body, { status: res.statusCode, headers: replyHeaders });
  }

  #store(setCookies: string[]): void {
    if (this.refuseCookies) return;
    for (const header of setCookies) {
      const [pair = ''] = header.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (value === '' || /;\s*max-age=0/i.test(header)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  /** The requests seen so far, as `METHOD path` lines. */
  get lines(): string[] {
    return this.seen.map((r) => `${r.method} ${r.path}`);
  }
}

/** The page's address bar: its URL, and what history.replaceState made of it. */
export class FakeAddress {
  href = `${bookOrigin}/ch1.html`;
  readonly replaced: string[] = [];
  readonly state = { page: 'ch1' };
  replaceState = (_data: unknown, _unused: string, url?: string | URL | null): void => {
    if (url === undefined || url === null) return;
    this.href = new URL(String(url), this.href).href;
    this.replaced.push(this.href);
  };
}

/** BroadcastChannels of one origin in one browser profile: a message reaches every other open channel of its name, asynchronously. */
export class FakeChannels {
  readonly #open = new Set<{ name: string; channel: ChannelLike }>();
  readonly posted: { name: string; message: unknown }[] = [];

  create(name: string): ChannelLike {
    const entry = { name, channel: undefined as unknown as ChannelLike };
    const channel: ChannelLike = {
      onmessage: null,
      postMessage: (message) => {
        this.posted.push({ name, message });
        for (const other of this.#open) if (other !== entry && other.name === name) setTimeout(() => other.channel.onmessage?.({ data: structuredClone(message) }), 0);
      },
      close: () => void this.#open.delete(entry),
    };
    entry.channel = channel;
    this.#open.add(entry);
    return channel;
  }
}

/** One browser profile: shared localStorage, a tab's sessionStorage, a clock, window and document, the page's address, and the network. */
export class FakeBrowser {
  readonly localStorage = new MemoryStorage();
  sessionStorage = new MemoryStorage();
  readonly clock = new FakeClock();
  readonly window = new EventTarget();
  readonly document = Object.assign(new EventTarget(), { visibilityState: 'visible' });
  readonly network: FakeNetwork;
  readonly address = new FakeAddress();
  /** The profile's BroadcastChannels (shared by its pages). */
  channels = new FakeChannels();
  /** Popups the page opened ([url, name]), or null when `blockPopups` (then openWindow returns null). */
  readonly opened: [string, string][] = [];
  blockPopups = false;
  /** Where the page sent itself (location.assign). */
  readonly navigated: string[] = [];
  /** Whether the page closed its window (window.close). */
  closedWindow = false;

  constructor(app: FastifyInstance) {
    this.network = new FakeNetwork(app);
    this.clock.afterTimer = () => this.network.idle();
  }

  /** Waits until the client's requests are answered and acted on. */
  idle(): Promise<void> {
    return this.network.idle();
  }

  get runtime(): Runtime {
    return {
      fetch: (input, init) => this.network.fetch(input, init),
      localStorage: this.localStorage,
      sessionStorage: this.sessionStorage,
      now: this.clock.now,
      setTimeout: this.clock.setTimeout,
      clearTimeout: this.clock.clearTimeout,
      random: () => 1,
      window: this.window,
      document: this.document,
      locks: null,
      location: this.address,
      history: this.address,
      openWindow: (url, name) => {
        if (this.blockPopups) return null;
        this.opened.push([url, name]);
        return { closed: false };
      },
      navigate: (url) => void this.navigated.push(url),
      closeWindow: () => void (this.closedWindow = true),
      channel: (name) => this.channels.create(name),
    };
  }

  /** A page of the book `book` using the client; closed when the test ends. Its events are recorded in `events`. */
  open(t: Test, options: Partial<FolioOptions> = {}): { folio: Folio; events: { auth: FolioEvents['auth'][]; sync: FolioEvents['sync'][] } } {
    const folio = new Folio({ server, book: 'book', ...options, runtime: { ...this.runtime, ...options.runtime } });
    t.teardown(() => folio.close());
    const events = { auth: [] as FolioEvents['auth'][], sync: [] as FolioEvents['sync'][] };
    folio.on('auth', (e) => events.auth.push(e));
    folio.on('sync', (e) => events.sync.push(e));
    return { folio, events };
  }

  /** The keys of kept writes in localStorage. */
  outboxKeys(): string[] {
    return this.localStorage.keys().filter((k) => k.startsWith('folio|outbox|'));
  }
}

export const password = 'correct horse battery';
