/**
 * The types a book page sees. What the server replies is in replies.ts, generated from the server's schemas
 * (schemas/*.ts) by scripts/client-types.ts; here are the client's own: what it is given, and the replies with what
 * it adds (`pending`: kept in this browser, not yet on the server).
 */
import type { AnswerKind, AnswerReply, PositionReply, ProgramReply, StateExperiments, User } from './replies.js';

export type * from './replies.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface Registration extends Credentials {
  name?: string;
  email?: string;
  researchConsent?: boolean;
}

/** A saved program. `pending` marks code kept in this browser and not yet on the server (then `version` is the last saved one's, or 0). */
export interface Program extends ProgramReply {
  pending?: boolean;
}

export interface AnswerInput {
  kind: AnswerKind;
  /** Its shape depends on `kind`: an array of choice ids for mchoice, one string per blank for fitb, … (see the README). */
  answer: unknown;
  correct?: boolean;
  score?: number;
  page?: string;
}

/** An attempt at a question. `pending` marks one kept in this browser and not yet on the server. */
export interface Answer extends AnswerReply {
  pending?: boolean;
}

export interface LatestAnswer {
  latest: Answer;
  attempts: number;
}

/**
 * Everything the student has on one page: the latest program per activity, the latest answer per question, when the
 * page was marked complete, and, when the book has experiments, the student's variant of each (what `variant()` then
 * gives without asking).
 */
export interface PageState {
  programs: Record<string, Program>;
  answers: Record<string, LatestAnswer>;
  /** When the student marked the page complete (`markComplete`), else null; a mark kept in this browser counts, with the time it was made. */
  completedAt: string | null;
  experiments?: StateExperiments;
}

/** Where the student left off. `pending` marks a position kept in this browser and not yet on the server. */
export interface Position extends PositionReply {
  pending?: boolean;
}

/** Why a write is kept in the browser instead of being on the server yet. */
export type PendingReason =
  /** no network, or the server could not be reached */
  | 'offline'
  /** the server did not answer in time */
  | 'timeout'
  /** the server failed (5xx) */
  | 'server_error'
  /** too many requests: the server asked to wait */
  | 'rate_limited'
  /** the session ended: it is sent after the next login */
  | 'login_required'
  /** earlier writes are being sent (perhaps by another tab of the book) */
  | 'queued';

/** What a write (saveProgram, submitAnswer, …) resolves to; it rejects only when the server refuses the write for good (a 4xx such as 400 or 413). */
export type WriteResult<R> = { status: 'saved'; reply: R } | { status: 'pending'; reason: PendingReason };

/** How the client proves who the student is: the session cookie, or a bearer token when the browser refuses the cookie. */
export type AuthMode = 'cookie' | 'token';

export type AuthEvent =
  /** login() or register() succeeded, in this mode */
  | { type: 'login'; user: User; mode: AuthMode }
  /** logout() ended the session */
  | { type: 'logout' }
  /** deleteAccount() deleted the account and everything of it; the page has no session now */
  | { type: 'deleted' }
  /** the server says the session has ended: ask the student to log in; `pending` kept writes wait for that */
  | { type: 'required'; reason: 'session_expired'; pending: number }
  /** the hand-off code of the page's address (a login on Folio's own pages) was refused (`invalid_handoff`: used or expired) or could not be sent: the page stays as it was; ask the student to start the login again */
  | { type: 'handoff_failed'; error: { statusCode: number; error: string; message: string } };

export type SyncEvent =
  /** kept writes are being sent */
  | { type: 'saving'; pending: number }
  /** every kept write is on the server */
  | { type: 'saved'; pending: 0 }
  /** sending failed for now; the next try is in `retryInMs` (sooner when the browser comes back online) */
  | { type: 'retrying'; pending: number; reason: Exclude<PendingReason, 'login_required' | 'queued'>; retryInMs: number }
  /** writes wait for the student to log in again (an `auth` event of type `required` says so too) */
  | { type: 'paused'; pending: number; reason: 'login_required' }
  /** the server refused a write for good (e.g. 400, 413): it was dropped */
  | { type: 'rejected'; pending: number; write: { kind: WriteKind; target: string | null }; error: { statusCode: number; error: string; message: string } };

export type WriteKind = 'program' | 'answer' | 'position' | 'complete' | 'events';

export interface FolioEvents {
  auth: AuthEvent;
  sync: SyncEvent;
}

/** The part of the Web Storage API the client uses (localStorage, sessionStorage). */
export interface StorageLike {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** The part of the History API the client uses to take `?course=` out of the address bar once it is joined. */
export interface HistoryLike {
  readonly state: unknown;
  replaceState(data: unknown, unused: string, url?: string | URL | null): void;
}

/** A course the page's address offers to join (`?course=CODE`): the code, as the server stores it (upper case, no dashes). */
export interface CourseOffer {
  code: string;
}

/** The part of the Web Locks API the client uses to let one tab at a time send a book's kept writes. */
export interface LocksLike {
  request<T>(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => Promise<T>): Promise<T>;
}

/** The part of a BroadcastChannel the client uses: a sign-in popup hands its code to the page that opened it. */
export interface ChannelLike {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: { data: unknown }) => void) | null;
}

/** An identity provider people may sign in with (`providers()`): its id for `signIn(id)` and the button's title. */
export interface Provider {
  id: string;
  title: string;
}

/** What the client takes from its surroundings; a browser provides all of it. Tests and other runtimes pass their own. */
export interface Runtime {
  fetch: typeof fetch;
  localStorage: StorageLike | null;
  sessionStorage: StorageLike | null;
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** A number in [0, 1) for the jitter of retries. */
  random(): number;
  /** Where `online` and `pagehide` are listened for. */
  window: EventTarget | null;
  /** Where `visibilitychange` is listened for. */
  document: (EventTarget & { readonly visibilityState: string }) | null;
  locks: LocksLike | null;
  /** The page's address, read once for a `?course=` offer. */
  location: { readonly href: string } | null;
  /** Where the offer's `course` parameter is taken out of the address once it is joined or dismissed. */
  history: HistoryLike | null;
  /** Opens a popup (window.open): the window, or null when the browser blocked it. */
  openWindow: ((url: string, name: string) => { closed: boolean } | null) | null;
  /** Sends this page elsewhere (location.assign): the full-page sign-in where popups are blocked. */
  navigate: ((url: string) => void) | null;
  /** Closes this window (a sign-in popup, once the page that opened it took the code). */
  closeWindow: (() => void) | null;
  /** A BroadcastChannel of this origin. */
  channel: ((name: string) => ChannelLike | null) | null;
}

export interface FolioOptions {
  /** Folio's origin, e.g. `https://folio.example.edu`. */
  server: string;
  /** The book id, as registered with `folio books add`. */
  book: string;
  /** `auto` (default) uses the cookie when the browser keeps it and a token when it does not; `cookie` or `token` forces one. */
  auth?: 'auto' | AuthMode;
  /** Where a token is kept: `session` (default: sessionStorage, gone with the tab) or `local` (localStorage, survives restarts). */
  tokenStorage?: 'session' | 'local';
  /** Milliseconds before a request counts as failed and is retried (default 15000). */
  timeoutMs?: number;
  /** Retry backoff: the first wait (default 1000 ms), doubling up to `maxMs` (default 60000 ms), each with jitter down to half. */
  retry?: { initialMs?: number; maxMs?: number };
  /** Event batching: sent when `maxBatch` events (default 50) are waiting or `flushMs` (default 5000) after the first, and when the page is hidden. */
  events?: { maxBatch?: number; flushMs?: number };
  /** Replaces parts of the browser's environment (tests, other runtimes). */
  runtime?: Partial<Runtime>;
}

export interface LogOptions {
  target?: string;
  page?: string;
  /** Any JSON, at most 16 KiB. */
  data?: unknown;
}
