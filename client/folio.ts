/**
 * Folio's browser client: what a book page imports to log students in, keep their work and restore it.
 *
 *   import { Folio } from 'https://folio.example.edu/client/folio.js';
 *   const folio = new Folio({ server: 'https://folio.example.edu', book: 'thinkcspy' });
 *
 * Every write is kept in localStorage (keyed by server, book and user) until the server acknowledges it, so no work
 * is lost to a dropped network, a failing server or an ended session.
 */
import { FolioError } from './errors.js';
import { EventLog } from './events.js';
import { call, type Call, type Outcome } from './http.js';

type Failure = Exclude<Outcome, { kind: 'ok' }>;
import { Outbox, type Entry, type NewEntry } from './outbox.js';
import { browserRuntime } from './runtime.js';
import { byteLength, Sync } from './sync.js';
import type {
  AnswerInput,
  Attempted,
  AuthMode,
  Completion,
  CourseOffer,
  Credentials,
  FolioEvents,
  PersonalData,
  Provider,
  FolioOptions,
  JoinedCourse,
  LatestAnswer,
  LogOptions,
  MyCourse,
  PageState,
  Position,
  Program,
  ProgramHistory,
  Progress,
  Registration,
  Runtime,
  Saved,
  StateExperiments,
  VariantReply,
  StorageLike,
  User,
  WriteResult,
} from './types.js';

export { FolioError } from './errors.js';
export type * from './types.js';

const idPattern = /^[A-Za-z0-9._:/-]{1,128}$/;
const eventTypePattern = /^[A-Za-z0-9._:/-]{1,64}$/;
const bookPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const maxEventDataBytes = 16 * 1024;
/** A join code as a person may type it (the server's schema): 4-64 letters, digits, spaces and dashes. */
const joinCodePattern = /^[A-Za-z0-9 -]{4,64}$/;
/** The address parameter that offers a course to join: `?course=CODE`. */
const courseParameter = 'course';
/** The fragment parameter a hand-off code arrives in (a login completed on Folio's own pages: `#folio-handoff=CODE`). */
const handoffParameter = 'folio-handoff';
const handoffPattern = /^[A-Za-z0-9_-]{1,200}$/;
/** The query parameter that marks a sign-in popup's return page (`?folio-signin=ID`): it hands its code to the opener. */
const signinParameter = 'folio-signin';
const signinPattern = /^[A-Za-z0-9]{8,32}$/;
/** How long a sign-in waits for the provider (the server keeps its state as long). */
const signinLifetimeMs = 10 * 60_000;
/** How long a sign-in popup waits for its opener to take the code before using it itself. */
const openerWaitMs = 3000;

/**
 * The sessionStorage key under which a page that went to a provider itself (popups blocked) keeps its sign-in id: its
 * return page, marked `?folio-signin=ID` like a popup's, is then the same tab and uses the code at once.
 */
const ownSigninKey = 'folio-signin-self';
/** The outbox key of a student who has not logged in. */
const anonymous = 'anon';

/** What this browser was found to do with Folio's cookie, and whose work the last page kept (localStorage, per server). */
interface AuthState {
  mode?: AuthMode;
  who?: string;
}
interface TokenRecord {
  token: string;
  who: string;
}

function readJson<T>(storage: StorageLike | null, key: string): T | null {
  try {
    const text = storage?.getItem(key);
    return text ? (JSON.parse(text) as T) : null;
  } catch {
    return null;
  }
}

function writeJson(storage: StorageLike | null, key: string, value: unknown): void {
  try {
    if (value === null) storage?.removeItem(key);
    else storage?.setItem(key, JSON.stringify(value));
  } catch {
    // storage refused: this page still works, the next one starts afresh
  }
}

function checkId(what: string, value: unknown): void {
  if (typeof value !== 'string' || !idPattern.test(value)) {
    throw new FolioError(400, 'invalid_request', `${what} must be 1-128 characters of A-Z a-z 0-9 . _ : / - (got ${JSON.stringify(value)})`);
  }
}

function serverOrigin(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new TypeError(`Folio: server must be a URL such as https://folio.example.edu (got ${JSON.stringify(server)})`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`Folio: server must be an http(s) URL (got ${JSON.stringify(server)})`);
  return url.origin;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A join code in the form the server stores it: upper case, without spaces or dashes (as lib/join-code.ts). */
const normaliseJoinCode = (typed: string) => typed.replace(/[\s-]+/g, '').toUpperCase();

/** The course the page's address offers (`?course=CODE`), or null when it has none or not a code. */
function courseOfferIn(location: { readonly href: string } | null): CourseOffer | null {
  let code: string | null;
  try {
    code = location ? new URL(location.href).searchParams.get(courseParameter) : null;
  } catch {
    return null;
  }
  if (code === null || !joinCodePattern.test(code)) return null;
  const normal = normaliseJoinCode(code);
  return normal.length >= 4 ? { code: normal } : null;
}

/**
 * The hand-off code in the page's address (`#folio-handoff=CODE`), taken out of the address bar at once
 * (history.replaceState, the rest of the address kept), or null when there is none; with it, the sign-in id of a
 * popup's return page (`?folio-signin=ID`, taken out too).
 */
function takeHandoffCode(runtime: Runtime): { code: string | null; signin: string | null } {
  const none = { code: null, signin: null };
  const { location, history } = runtime;
  if (!location) return none;
  let url: URL;
  try {
    url = new URL(location.href);
  } catch {
    return none;
  }
  // The fragment's other parts (`#top`, another script's parameters) stay as they are.
  const parts = url.hash.slice(1).split('&');
  const prefix = `${handoffParameter}=`;
  const found = parts.find((part) => part.startsWith(prefix));
  if (found === undefined) return none;
  const signin = url.searchParams.get(signinParameter);
  url.searchParams.delete(signinParameter);
  let code: string;
  try {
    code = decodeURIComponent(found.slice(prefix.length));
  } catch {
    code = '';
  }
  const rest = parts.filter((part) => !part.startsWith(prefix)).join('&');
  try {
    history?.replaceState(history.state, '', `${url.pathname}${url.search}${rest ? `#${rest}` : ''}`);
  } catch {
    // an address the page may not rewrite (a sandboxed frame): the code is used once all the same
  }
  return { code: handoffPattern.test(code) ? code : null, signin: signin !== null && signinPattern.test(signin) ? signin : null };
}

/** A new sign-in's id (16 hex digits): marks its popup's return page. */
const newSigninId = () => Array.from(globalThis.crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, '0')).join('');

/** The page with the sign-in marker `?folio-signin=ID`. */
function withSignin(page: URL, id: string): URL {
  const url = new URL(page);
  url.searchParams.set(signinParameter, id);
  return url;
}

/** The channel a sign-in popup hands its code over (same origin, so the page that opened it hears it). */
const signinChannelName = (server: string, book: string) => `folio-signin|${server}|${book}`;

interface SigninMessage {
  type: 'folio-handoff' | 'folio-handoff-taken';
  id: string;
  code?: string;
}
const isSigninMessage = (data: unknown): data is SigninMessage =>
  typeof data === 'object' && data !== null && typeof (data as SigninMessage).id === 'string' && ((data as SigninMessage).type === 'folio-handoff' || (data as SigninMessage).type === 'folio-handoff-taken');

export class Folio {
  /** Folio's origin. */
  readonly server: string;
  readonly book: string;
  readonly #auth: 'auto' | AuthMode;
  readonly #runtime: Runtime;
  readonly #timeoutMs: number;
  readonly #tokenStorage: StorageLike | null;
  readonly #outbox: Outbox;
  readonly #sync: Sync;
  readonly #events: EventLog;
  readonly #listeners: { [K in keyof FolioEvents]: Set<(event: FolioEvents[K]) => void> } = { auth: new Set(), sync: new Set() };
  readonly #cleanup: (() => void)[] = [];
  /** The cookie or token mode this browser needs; null until found out. */
  #mode: AuthMode | null;
  #token: string | null;
  /** The user the server confirmed in this page (login, register, me); null when none or not known yet. */
  #user: User | null = null;
  /** Whose outbox this page writes to and sends: the account's id, or `anon`. */
  #who: string;
  #checked: Promise<Failure | null> | null = null;
  /** The page of the last pageState(): where a first exposure is recorded when variant() names none. */
  #page: string | null = null;
  #courseOffer: CourseOffer | null;
  /** The exchange of the address's hand-off code: its user, or null (none, or refused). */
  readonly #handoff: Promise<User | null>;

  constructor(options: FolioOptions) {
    this.server = serverOrigin(options.server);
    if (typeof options.book !== 'string' || !bookPattern.test(options.book)) throw new TypeError(`Folio: book must be a book id such as "thinkcspy" (got ${JSON.stringify(options.book)})`);
    this.book = options.book;
    const runtime: Runtime = { ...browserRuntime(), ...options.runtime };
    this.#runtime = runtime;
    this.#auth = options.auth ?? 'auto';
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#tokenStorage = options.tokenStorage === 'local' ? runtime.localStorage : runtime.sessionStorage;

    const saved = readJson<AuthState>(runtime.localStorage, this.#authKey) ?? {};
    const token = this.#auth === 'cookie' ? null : readJson<TokenRecord>(this.#tokenStorage, this.#tokenKey);
    this.#mode = this.#auth === 'auto' ? (saved.mode ?? null) : this.#auth;
    this.#token = token?.token ?? null;
    this.#who = token?.who ?? saved.who ?? anonymous;

    this.#courseOffer = courseOfferIn(runtime.location);

    this.#outbox = new Outbox(runtime.localStorage, this.server, this.book, runtime);
    this.#sync = new Sync({
      runtime,
      outbox: this.#outbox,
      user: () => this.#who,
      lockName: (user) => `folio|${this.server}|${this.book}|${user}`,
      deliver: (entry, keepalive) => this.#deliver(entry, keepalive),
      prepare: () => this.#prepare(),
      emit: (event) => this.#emit('sync', event),
      loginRequired: () => this.#sessionEnded(),
      initialMs: options.retry?.initialMs ?? 1000,
      maxMs: options.retry?.maxMs ?? 60_000,
    });
    this.#events = new EventLog({
      runtime,
      maxBatch: options.events?.maxBatch ?? 50,
      flushMs: options.events?.flushMs ?? 5000,
      // A refused batch is reported by a `sync` event of type `rejected`.
      keep: (events) => void this.#write({ kind: 'events', method: 'POST', path: this.#bookPath('/events'), body: { events }, target: null, page: null }).catch(() => {}),
    });

    this.#listen(runtime.window, 'online', () => this.#sync.wake());
    this.#listen(runtime.window, 'pagehide', () => this.#hidden());
    const doc = runtime.document;
    this.#listen(doc, 'visibilitychange', () => {
      if (doc?.visibilityState === 'hidden') this.#hidden();
    });
    // A login completed on Folio's own pages (an LMS launch, an identity provider): exchanged once the page has had a
    // moment to listen for events, before the kept writes go out (they wait for it).
    const { code, signin } = takeHandoffCode(runtime);
    const ownSignin = readJson<string>(runtime.sessionStorage, ownSigninKey);
    if (ownSignin !== null) writeJson(runtime.sessionStorage, ownSigninKey, null);
    this.#handoff =
      code === null
        ? Promise.resolve(null)
        : signin !== null && signin !== ownSignin
          ? this.#handToOpener(code, signin)
          : Promise.resolve().then(() => this.#exchangeHandoff(code));
    // Writes kept by an earlier visit go out once the page has had a moment to listen for events.
    if (this.#outbox.count(this.#who) > 0) {
      const timer = runtime.setTimeout(() => void this.#handoff.then(() => this.#sync.flush()), 0);
      this.#cleanup.push(() => runtime.clearTimeout(timer));
    }
  }

  /**
   * Settles once the hand-off code of the page's address (`#folio-handoff=CODE`, left by a login on Folio's own pages)
   * has been exchanged for a session: the user it logged in (an `auth` event of type `login` said so too), or null when
   * the address had none or the code was refused (an `auth` event of type `handoff_failed` says why). Never rejects.
   */
  get handoff(): Promise<User | null> {
    return this.#handoff;
  }

  /** The user the server confirmed in this page, or null. */
  get user(): User | null {
    return this.#user;
  }

  /** `cookie` or `token` once known (after a login, a register, or the first anonymous save), else null. */
  get mode(): AuthMode | null {
    return this.#mode;
  }

  /** How many writes of the current student are kept in this browser, not yet on the server. */
  get pendingWrites(): number {
    return this.#outbox.count(this.#who);
  }

  /** Listens for `auth` or `sync` events; returns a function that stops listening. */
  on<K extends keyof FolioEvents>(type: K, listener: (event: FolioEvents[K]) => void): () => void {
    this.#listeners[type].add(listener);
    return () => this.off(type, listener);
  }

  off<K extends keyof FolioEvents>(type: K, listener: (event: FolioEvents[K]) => void): void {
    this.#listeners[type].delete(listener);
  }

  // ---- accounts -------------------------------------------------------------------------------------------------

  /** Creates an account and logs in; work saved before (anonymously) becomes the account's. */
  register(registration: Registration): Promise<User> {
    return this.#signIn('register', registration);
  }

  /** Logs in; work saved before (anonymously) moves to the account, and writes kept for this account are sent. */
  login(credentials: Credentials): Promise<User> {
    return this.#signIn('login', credentials);
  }

  /** The identity providers people may sign in with (`{id, title}` for each button), from the server. */
  async providers(): Promise<Provider[]> {
    const out = await this.#call({ method: 'GET', path: '/api/auth/providers', token: null });
    if (out.kind !== 'ok') throw out.error;
    return out.body as Provider[];
  }

  /**
   * Signs in with an identity provider (`providers()` lists them): opens the provider in a popup, and resolves to the
   * user, like `login()`, once the person signed in there (work saved anonymously moves to the account). The popup
   * comes back to this page's address with a hand-off code, which it hands to this page and closes. Where the browser
   * blocks popups (call this from a click), the whole page goes to the provider instead and comes back signed in:
   * then this promise never settles, and `handoff` resolves to the user on the page's return. Rejects with a
   * FolioError `signin_timeout` after 10 minutes without an answer, `invalid_handoff` when the code is refused.
   */
  signIn(provider: string): Promise<User> {
    if (typeof provider !== 'string' || !bookPattern.test(provider)) return Promise.reject(new FolioError(400, 'invalid_request', `a provider id is one of providers() (got ${JSON.stringify(provider)})`));
    const start = (back: URL) => `${this.server}/api/auth/oidc/${encodeURIComponent(provider)}/start?${new URLSearchParams({ book: this.book, return: back.href }).toString()}`;
    return this.#throughProvider(start);
  }

  /**
   * Links an identity provider to the logged-in account (so that it signs in to this account from then on): as
   * `signIn`, through a popup (or the whole page), and resolves to the user once the link is made. The link completes
   * only in this account's session. Rejects with a FolioError: `no_account` for an anonymous session, `linked_elsewhere`
   * when that provider account signs in to another account, `unauthenticated` without a session.
   */
  async linkProvider(provider: string): Promise<User> {
    if (typeof provider !== 'string' || !bookPattern.test(provider)) throw new FolioError(400, 'invalid_request', `a provider id is one of providers() (got ${JSON.stringify(provider)})`);
    const { location } = this.#runtime;
    if (!location) throw new FolioError(400, 'invalid_request', 'linkProvider needs the page\'s address (to come back to)');
    const id = newSigninId();
    const here = new URL(location.href);
    here.hash = '';
    // Folio answers the provider's URL for this account; the popup opens then (browsers allow it for a few seconds after the click).
    const out = await this.#call({ method: 'POST', path: `/api/auth/oidc/${encodeURIComponent(provider)}/link`, body: { book: this.book, return: withSignin(here, id).href }, token: this.#token });
    if (out.kind !== 'ok') throw out.error;
    const { url } = out.body as { url: string };
    return this.#throughProvider(() => url, id);
  }

  /**
   * Sends the person to a provider (`start(returnPage)`): in a popup when the browser allows one, whose return page
   * hands the hand-off code back over the channel; else the whole page goes (and redeems the code when it returns).
   */
  #throughProvider(start: (back: URL) => string, knownId?: string): Promise<User> {
    const { location, openWindow, navigate, channel: openChannel } = this.#runtime;
    if (!location) return Promise.reject(new FolioError(400, 'invalid_request', 'signing in with a provider needs the page\'s address (to come back to)'));
    const id = knownId ?? newSigninId();
    const here = new URL(location.href);
    here.hash = '';
    const channel = openChannel?.(signinChannelName(this.server, this.book)) ?? null;
    const popup = channel ? (openWindow?.(start(withSignin(here, id)), `folio-signin-${id}`) ?? null) : null;
    if (!channel || !popup) {
      channel?.close();
      if (!navigate) return Promise.reject(new FolioError(400, 'popup_blocked', 'the browser blocked the sign-in window: allow popups for this page, or try again from a click'));
      // A start made before (linkProvider's, from Folio) returns to the marked page: this tab is that page then.
      if (knownId !== undefined) writeJson(this.#runtime.sessionStorage, ownSigninKey, knownId);
      navigate(start(here));
      return new Promise<User>(() => {});
    }
    return new Promise<User>((resolve, reject) => {
      const timer = this.#runtime.setTimeout(() => {
        channel.close();
        reject(new FolioError(0, 'signin_timeout', 'the sign-in did not finish within 10 minutes: try again'));
      }, signinLifetimeMs);
      channel.onmessage = (event) => {
        const message = event.data;
        if (!isSigninMessage(message) || message.type !== 'folio-handoff' || message.id !== id || typeof message.code !== 'string') return;
        channel.postMessage({ type: 'folio-handoff-taken', id });
        channel.close();
        this.#runtime.clearTimeout(timer);
        this.#redeemHandoff(message.code).then(resolve, reject);
      };
    });
  }

  /**
   * Ends the session. Writes kept for this student stay in this browser, unseen and unsent, until they log in
   * again here, unless `forget` is true (a shared computer).
   */
  async logout(options: { forget?: boolean } = {}): Promise<void> {
    this.#events.drain();
    await this.#sync.hold();
    let out: Outcome;
    try {
      out = await this.#call({ method: 'POST', path: '/api/auth/logout', token: this.#token });
      const who = this.#who;
      this.#clearToken();
      this.#user = null;
      this.#setWho(anonymous);
      this.#checked = Promise.resolve(null);
      if (options.forget) this.#outbox.clear(who);
      this.#sync.resume();
    } finally {
      this.#sync.release();
    }
    this.#emit('auth', { type: 'logout' });
    void this.#sync.flush();
    if (out.kind === 'retry') throw out.error;
  }

  /**
   * Everything Folio holds about the student (the account, every program version, answer attempt and event,
   * positions and completed pages, of every book), or null when there is no session. Writes still kept in this
   * browser are not in it: `flush()` first to include them.
   */
  exportMyData(): Promise<PersonalData | null> {
    return this.#read<PersonalData>('/api/auth/me/export');
  }

  /**
   * Deletes the account and everything Folio holds about the student, with their password (an anonymous student has
   * none: call it without). Then the session, the token and this student's kept writes are gone from this browser
   * too, and an `auth` event `{type: 'deleted'}` follows. Rejects with a FolioError (`wrong_password`, `rate_limited`,
   * `offline`, …) and changes nothing when the server did not delete it.
   */
  async deleteAccount(currentPassword?: string): Promise<void> {
    this.#events.drain();
    await this.#sync.hold();
    try {
      const out = await this.#call({ method: 'DELETE', path: '/api/auth/me', body: currentPassword === undefined ? {} : { currentPassword }, token: this.#token });
      if (out.kind !== 'ok') throw out.error;
      const who = this.#who;
      this.#clearToken();
      this.#user = null;
      this.#outbox.clear(who);
      this.#setWho(anonymous);
      this.#checked = Promise.resolve(null);
      this.#sync.resume();
    } finally {
      this.#sync.release();
    }
    this.#emit('auth', { type: 'deleted' });
  }

  /** Who the session belongs to (an anonymous user after saving without logging in), or null when there is none. */
  async me(): Promise<User | null> {
    await this.#handoff;
    const out = await this.#check();
    if (out) throw out.error;
    this.#checked = Promise.resolve(null);
    return this.#user;
  }

  // ---- courses --------------------------------------------------------------------------------------------------

  /**
   * The course the page's address offers to join, `{code}` when it carries `?course=CODE` (say, a link an instructor
   * shared), else null: show a "Join this course" button that calls `joinCourse(offer.code)`. Null again once that
   * course is joined or the offer dismissed.
   */
  get courseOffer(): CourseOffer | null {
    return this.#courseOffer;
  }

  /**
   * Joins a course with its join code, as the student typed it (case, spaces and dashes do not matter). Resolves to
   * `{course, enrolled, already, as}`: `already` when the student was in it before; the course's own staff are not
   * enrolled (`enrolled: false`, `as: 'instructor'|'ta'`). Needs a session: a student who has not logged in or saved
   * anything yet gets a FolioError `unauthenticated` (401). Other refusals are FolioErrors with the server's code:
   * `unknown_code` (404: no course has it), `course_closed` (403: ask the instructor to open it), `rate_limited` (429,
   * with `retryAfterMs`), `invalid_request` (400), or `offline`/`timeout`. Joining the offered course takes `course`
   * out of the address bar (history.replaceState) and ends the offer.
   */
  async joinCourse(code: string): Promise<JoinedCourse> {
    if (typeof code !== 'string' || !joinCodePattern.test(code)) {
      throw new FolioError(400, 'invalid_request', `a join code is 4-64 letters, digits, spaces or dashes (got ${JSON.stringify(code)})`);
    }
    const out = await this.#call({ method: 'POST', path: '/api/courses/join', body: { code }, token: this.#token });
    if (out.kind !== 'ok') {
      if (out.kind === 'auth' && out.error.error !== 'unauthenticated') this.#sessionEnded();
      throw out.error;
    }
    if (this.#courseOffer?.code === normaliseJoinCode(code)) this.dismissCourseOffer();
    return out.body as JoinedCourse;
  }

  /** The courses the student studies or teaches (one entry per role; `joinCode` only where they are staff); none without a session. */
  async myCourses(): Promise<MyCourse[]> {
    return (await this.#read<{ courses: MyCourse[] }>('/api/courses/mine'))?.courses ?? [];
  }

  /** Ends the `?course=` offer (the student said no, or joined by other means) and takes `course` out of the address bar. */
  dismissCourseOffer(): void {
    this.#courseOffer = null;
    const { location, history } = this.#runtime;
    if (!location || !history) return;
    try {
      const url = new URL(location.href);
      if (!url.searchParams.has(courseParameter)) return;
      url.searchParams.delete(courseParameter);
      history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
    } catch {
      // an address the page may not rewrite (a sandboxed frame): the offer is gone all the same
    }
  }

  // ---- work -----------------------------------------------------------------------------------------------------

  /** Saves a new version of a program (every version is kept on the server). */
  saveProgram(activity: string, code: string, options: { language?: string; page?: string } = {}): Promise<WriteResult<Saved>> {
    return this.#guard(() => {
      checkId('activity', activity);
      if (options.page !== undefined) checkId('page', options.page);
      if (typeof code !== 'string') throw new FolioError(400, 'invalid_request', 'code must be a string');
      const body = { code, ...(options.language === undefined ? {} : { language: options.language }), ...(options.page === undefined ? {} : { page: options.page }) };
      return this.#write({ kind: 'program', method: 'PUT', path: this.#bookPath(`/programs/${encodeURIComponent(activity)}`), body, target: activity, page: options.page ?? null });
    });
  }

  /** The latest version of a program (a kept, unsent one first), or null. */
  async loadProgram(activity: string): Promise<Program | null> {
    checkId('activity', activity);
    return this.#readKept<Program, Program | null>(this.#bookPath(`/programs/${encodeURIComponent(activity)}`), (program) => {
      const kept = this.#kept('program', activity).at(-1);
      return kept ? this.#keptProgram(kept, program) : program;
    });
  }

  /** Saved versions of a program, newest first; pass `next` as `before` for older ones. */
  async programHistory(activity: string, options: { limit?: number; before?: number } = {}): Promise<ProgramHistory> {
    checkId('activity', activity);
    const query = new URLSearchParams();
    if (options.limit !== undefined) query.set('limit', String(options.limit));
    if (options.before !== undefined) query.set('before', String(options.before));
    const search = query.toString();
    const path = this.#bookPath(`/programs/${encodeURIComponent(activity)}/history${search ? `?${search}` : ''}`);
    return (await this.#read<ProgramHistory>(path)) ?? { versions: [], next: null };
  }

  /** Records an attempt at a question; `answer` is checked on the server against its `kind`. */
  submitAnswer(question: string, input: AnswerInput): Promise<WriteResult<Attempted>> {
    return this.#guard(() => {
      checkId('question', question);
      if (input.page !== undefined) checkId('page', input.page);
      const { kind, answer, correct, score, page } = input;
      const body = { kind, answer, ...(correct === undefined ? {} : { correct }), ...(score === undefined ? {} : { score }), ...(page === undefined ? {} : { page }) };
      return this.#write({ kind: 'answer', method: 'POST', path: this.#bookPath(`/answers/${encodeURIComponent(question)}`), body, target: question, page: page ?? null });
    });
  }

  /** The latest attempt at a question and how many there were, or null. */
  async latestAnswer(question: string): Promise<LatestAnswer | null> {
    checkId('question', question);
    return this.#readKept<LatestAnswer, LatestAnswer | null>(this.#bookPath(`/answers/${encodeURIComponent(question)}`), (latest) => this.#keptAnswers(question, latest));
  }

  /** Everything the student has on a page in one request: `{programs: {activity: …}, answers: {question: {latest, attempts}}, completedAt}`. */
  async pageState(page: string): Promise<PageState> {
    checkId('page', page);
    this.#page = page;
    return this.#readKept<PageState, PageState>(this.#bookPath(`/state?page=${encodeURIComponent(page)}`), (saved) => {
      if (saved?.experiments) this.#keepVariants(saved.experiments);
      const state = saved ?? { programs: {}, answers: {}, completedAt: null };
      for (const entry of this.#outbox.list(this.#who)) {
        if (entry.page !== page || entry.target === null) continue;
        if (entry.kind === 'program') state.programs[entry.target] = this.#keptProgram(entry, state.programs[entry.target] ?? null);
        if (entry.kind === 'complete' && entry.target === page) state.completedAt = (entry.body as { complete: boolean }).complete ? (state.completedAt ?? iso(entry.keptAt)) : null;
      }
      for (const question of new Set(this.#kept('answer').filter((e) => e.page === page).map((e) => e.target!))) {
        state.answers[question] = this.#keptAnswers(question, state.answers[question] ?? null)!;
      }
      return state;
    });
  }

  /**
   * The student's variant of a research experiment of the book (its name), or null when the book has no such
   * experiment or it cannot be known (no session yet, or offline before any page state named it): show the default
   * then. A variant the page state gave (already recorded, or outside the experiment) comes without a request; the
   * first exposure asks the server, which records it with the page (`page`, else the last `pageState` page).
   * Offline, it is the variant the last page state showed (the server's deterministic choice for this student),
   * kept in this browser, and the next call made online records it.
   */
  async variant(experiment: string, page?: string): Promise<string | null> {
    if (typeof experiment !== 'string' || !bookPattern.test(experiment)) throw new FolioError(400, 'invalid_request', `experiment must be an experiment id such as "hint-policy" (got ${JSON.stringify(experiment)})`);
    if (page !== undefined) checkId('page', page);
    const known = this.#variants()[experiment];
    if (known && known.exposure !== 'pending') return known.variant;
    const where = page ?? this.#page;
    let reply: VariantReply | null;
    try {
      reply = await this.#read<VariantReply>(this.#bookPath(`/experiments/${encodeURIComponent(experiment)}${where === null ? '' : `?page=${encodeURIComponent(where)}`}`));
    } catch (err) {
      // Offline (or no answer): what this browser knows, else nothing.
      if (err instanceof FolioError && err.statusCode === 0) return known?.variant ?? null;
      throw err;
    }
    if (reply === null) return known?.variant ?? null;
    this.#keepVariants({ [experiment]: reply });
    return reply.variant;
  }

  /** The variants this browser knows for the current student (localStorage, per server, book and student). */
  #variants(): StateExperiments {
    return readJson<StateExperiments>(this.#runtime.localStorage, this.#variantsKey) ?? {};
  }

  #keepVariants(found: StateExperiments): void {
    writeJson(this.#runtime.localStorage, this.#variantsKey, { ...this.#variants(), ...found });
  }

  get #variantsKey(): string {
    return `folio|experiments|${this.server}|${this.book}|${this.#who}`;
  }

  /** Remembers where the student is (only the newest position is kept while waiting to be sent). */
  setPosition(page: string, scroll?: number): Promise<WriteResult<Position>> {
    return this.#guard(() => {
      checkId('page', page);
      return this.#write({ kind: 'position', method: 'PUT', path: this.#bookPath('/position'), body: { page, ...(scroll === undefined ? {} : { scroll }) }, target: page, page });
    });
  }

  /** Where the student left off, or null. */
  async position(): Promise<Position | null> {
    return this.#readKept<Position, Position | null>(this.#bookPath('/position'), (position) => {
      const kept = this.#kept('position').at(-1);
      if (!kept) return position;
      const body = kept.body as { page: string; scroll?: number };
      return { page: body.page, scroll: body.scroll ?? null, updatedAt: iso(kept.keptAt), pending: true };
    });
  }

  /** Marks a page complete (or, with false, not). */
  markComplete(page: string, complete = true): Promise<WriteResult<Completion>> {
    return this.#guard(() => {
      checkId('page', page);
      return this.#write({ kind: 'complete', method: 'PUT', path: this.#bookPath('/pages/complete'), body: { page, complete }, target: page, page });
    });
  }

  /** The pages the student completed. */
  async progress(): Promise<Progress> {
    return (await this.#read<Progress>(this.#bookPath('/progress/me'))) ?? { completed: [] };
  }

  /**
   * Records a research event. Events are batched and sent every few seconds, and when the page is hidden or closed
   * (with `fetch(…, {keepalive: true})`). Throws a TypeError for a type, target or page the server would refuse.
   */
  log(type: string, options: LogOptions = {}): void {
    if (typeof type !== 'string' || !eventTypePattern.test(type)) throw new TypeError(`Folio: an event type must be 1-64 characters of A-Z a-z 0-9 . _ : / - (got ${JSON.stringify(type)})`);
    const { target, page, data } = options;
    for (const [what, value] of [['target', target], ['page', page]] as const) {
      if (value !== undefined && (typeof value !== 'string' || !idPattern.test(value))) throw new TypeError(`Folio: an event's ${what} must be 1-128 characters of A-Z a-z 0-9 . _ : / -`);
    }
    if (data !== undefined && byteLength(data) > maxEventDataBytes) throw new TypeError("Folio: an event's data must be at most 16 KiB of JSON");
    this.#events.add({
      type,
      ...(target === undefined ? {} : { target }),
      ...(page === undefined ? {} : { page }),
      ...(data === undefined ? {} : { data }),
      clientTime: this.#runtime.now(),
    });
  }

  /** Sends logged events and kept writes now; resolves when they are on the server or sending has stopped (see `sync` events). */
  async flush(): Promise<void> {
    this.#events.drain();
    await this.#sync.flush();
  }

  /** Stops timers and listeners (a page need not call it; tests do). Kept writes stay kept. */
  close(): void {
    this.#events.drain();
    this.#sync.close();
    for (const undo of this.#cleanup.splice(0)) undo();
  }

  // ---- internals ------------------------------------------------------------------------------------------------

  get #authKey(): string {
    return `folio|auth|${this.server}`;
  }

  get #tokenKey(): string {
    return `folio|token|${this.server}`;
  }

  #bookPath(rest: string): string {
    return `/api/books/${this.book}${rest}`;
  }

  #listen(target: EventTarget | null, type: string, handler: () => void): void {
    if (!target) return;
    target.addEventListener(type, handler);
    this.#cleanup.push(() => target.removeEventListener(type, handler));
  }

  #emit<K extends keyof FolioEvents>(type: K, event: FolioEvents[K]): void {
    for (const listener of [...this.#listeners[type]]) {
      try {
        listener(event);
      } catch (err) {
        console.error(`Folio: a "${type}" listener threw`, err);
      }
    }
  }

  #call(request: Call): Promise<Outcome> {
    return call(this.#runtime, this.server, this.#timeoutMs, request);
  }

  /** A write's checks throw synchronously; the page gets them as a rejected promise like any other refusal. */
  #guard<R>(write: () => Promise<WriteResult<R>>): Promise<WriteResult<R>> {
    try {
      return write();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #write<R>(write: NewEntry): Promise<WriteResult<R>> {
    return this.#sync.write<R>(this.#who, write);
  }

  #kept(kind: Entry['kind'], target?: string): Entry[] {
    return this.#outbox.list(this.#who).filter((e) => e.kind === kind && (target === undefined || e.target === target));
  }

  #keptProgram(entry: Entry, saved: Program | null): Program {
    const body = entry.body as { code: string; language?: string };
    return {
      activity: entry.target!,
      version: saved?.version ?? 0,
      code: body.code,
      language: body.language ?? saved?.language ?? null,
      page: entry.page ?? saved?.page ?? null,
      savedAt: iso(entry.keptAt),
      pending: true,
    };
  }

  /** The server's latest answer with the kept, unsent attempts on top. */
  #keptAnswers(question: string, saved: LatestAnswer | null): LatestAnswer | null {
    const kept = this.#kept('answer', question);
    const last = kept.at(-1);
    if (!last) return saved;
    const body = last.body as AnswerInput;
    const attempts = (saved?.attempts ?? 0) + kept.length;
    return {
      latest: { question, attempt: attempts, kind: body.kind, answer: body.answer, correct: body.correct ?? null, score: body.score ?? null, page: last.page, savedAt: iso(last.keptAt), pending: true },
      attempts,
    };
  }

  /**
   * A GET whose reply is shown with the kept writes laid over it. This tab sends nothing from the GET until the
   * merge: a kept write sent in between would have left the outbox without the reply showing it yet (its value
   * would vanish from the page, as the starter code came back after a login under load). A send under way is
   * waited for first, so the reply includes it; writes made meanwhile are sent after. Another tab of the book may
   * still send one during the GET: then the GET is made again (at most twice more), since the write is on the
   * server by the time it leaves the outbox.
   */
  async #readKept<T, R>(path: string, merge: (saved: T | null) => R): Promise<R> {
    await this.#sync.hold();
    try {
      for (let again = 0; ; again++) {
        const before = this.#keptIds();
        const saved = await this.#read<T>(path);
        const after = this.#keptIds();
        if (again < 2 && [...before].some((id) => !after.has(id))) continue;
        return merge(saved);
      }
    } finally {
      this.#sync.release();
    }
  }

  /** The ids of this student's kept writes that reads show (not events). */
  #keptIds(): Set<string> {
    return new Set(this.#outbox.list(this.#who).filter((e) => e.kind !== 'events').map((e) => e.id));
  }

  /** GET: the reply, or null when there is nothing (404) or no session at all. An ended session throws (and emits `auth`). */
  async #read<T>(path: string): Promise<T | null> {
    const [out] = await Promise.all([this.#call({ method: 'GET', path, token: this.#token }), this.#prepare()]);
    if (out.kind === 'ok') return out.body as T;
    if (out.kind === 'auth') {
      // The server forgets the cookie of an ended session: until the next login that still means "ended".
      if (this.#sync.paused) throw new FolioError(401, 'session_expired', out.error.message);
      if (out.error.error === 'unauthenticated') return null;
      this.#sessionEnded();
      throw out.error;
    }
    if (out.kind === 'refused' && out.error.statusCode === 404 && out.error.error !== 'unknown_book') return null;
    throw out.error;
  }

  /** Learns who is logged in, once per page (again after a failure); the failure when the server could not say. */
  #prepare(): Promise<Failure | null> {
    this.#checked ??= this.#check().then((out) => {
      if (out) this.#checked = null;
      return out;
    });
    return this.#checked;
  }

  /** Asks the server whose session this is and takes note; the failure when it could not say. */
  async #check(): Promise<Failure | null> {
    const out = await this.#call({ method: 'GET', path: '/api/auth/me', token: this.#token });
    if (out.kind === 'ok') this.#confirm((out.body as { user: User }).user);
    else if (out.kind === 'auth' && out.error.error === 'unauthenticated') {
      this.#user = null;
      this.#setWho(anonymous);
    } else if (out.kind === 'auth') this.#sessionEnded();
    else return out;
    return null;
  }

  /** The server named the session's user. */
  #confirm(user: User): void {
    this.#user = user;
    this.#setWho(user.anonymous ? anonymous : user.id);
    if (this.#sync.paused) {
      this.#sync.resume();
      void this.#sync.flush();
    }
  }

  /** The session ended under the student: keep everything, stop sending, ask for a login. */
  #sessionEnded(): void {
    this.#user = null;
    if (this.#sync.paused) return; // said already
    this.#sync.pause();
    this.#emit('auth', { type: 'required', reason: 'session_expired', pending: this.#outbox.count(this.#who) });
  }

  #setWho(who: string): void {
    this.#who = who;
    writeJson(this.#runtime.localStorage, this.#authKey, { ...(this.#mode && this.#auth === 'auto' ? { mode: this.#mode } : {}), who } satisfies AuthState);
    if (this.#token) writeJson(this.#tokenStorage, this.#tokenKey, { token: this.#token, who } satisfies TokenRecord);
  }

  #setMode(mode: AuthMode): void {
    this.#mode = mode;
    this.#setWho(this.#who);
  }

  #setToken(token: string): void {
    this.#token = token;
    writeJson(this.#tokenStorage, this.#tokenKey, { token, who: this.#who } satisfies TokenRecord);
  }

  #clearToken(): void {
    this.#token = null;
    writeJson(this.#tokenStorage, this.#tokenKey, null);
  }

  /**
   * Sends one kept write. A write with no session known may start an anonymous one: in token mode it asks for a
   * token; otherwise it then checks that the browser kept the cookie, and if not switches to token mode and sends the
   * write again (the first copy went to an anonymous user nobody can reach).
   */
  async #deliver(entry: Entry, keepalive: boolean): Promise<Outcome> {
    const starts = this.#token === null && this.#user === null && !keepalive;
    const tokenStart = starts && this.#mode === 'token';
    const out = await this.#call({ method: entry.method, path: entry.path, body: entry.body, token: this.#token, tokenMode: tokenStart, keepalive });
    if (out.kind !== 'ok' || !starts) return out;
    if (tokenStart) {
      const token = out.headers.get('x-folio-token');
      if (token) this.#setToken(token);
      return out;
    }
    if (this.#auth !== 'auto') return out;
    const check = await this.#call({ method: 'GET', path: '/api/auth/me' });
    if (check.kind === 'ok') {
      this.#setMode('cookie');
      this.#confirm((check.body as { user: User }).user);
    } else if (check.kind === 'auth') {
      this.#setMode('token');
      return this.#deliver(entry, false);
    }
    return out;
  }

  /**
   * Login or register. In `auto` mode it logs in with the cookie, asks `me` whether the browser sent it back, and if
   * not logs in again in token mode. The previous anonymous student's kept writes become this account's (as their
   * saved work does on the server); another account's never do.
   */
  async #signIn(action: 'login' | 'register', body: Credentials | Registration): Promise<User> {
    this.#events.drain();
    await this.#sync.hold();
    try {
      return await this.#signInHeld(action, body);
    } finally {
      this.#sync.release();
      void this.#sync.flush();
    }
  }

  async #signInHeld(action: 'login' | 'register', body: Credentials | Registration): Promise<User> {
    const wasAnonymous = this.#who === anonymous;
    const { user, token } = await this.#startSession(`/api/auth/${action}`, body, () =>
      this.#authCall('/api/auth/login', { username: body.username, password: body.password, mode: 'token' }, null),
    );
    return this.#signedIn(user, token, wasAnonymous);
  }

  /**
   * Starts a session through `path` (login, register, hand-off) with `body`: in token mode when the page is in it;
   * else with the cookie (the anonymous student's token, if any, goes along, so the server moves their work to the
   * account), then, in `auto` mode, asks `me` whether the browser sent the cookie back, and if not starts it again in
   * token mode with `again` (given the first reply).
   */
  async #startSession<R extends { user: User; token?: string }>(path: string, body: object, again: (reply: R) => Promise<{ token?: string }>): Promise<{ user: User; token: string | null }> {
    if (this.#mode === 'token' || this.#auth === 'token') {
      const { user, token = null } = await this.#authCall(path, { ...body, mode: 'token' }, this.#token);
      return { user, token };
    }
    const reply = (await this.#authCall(path, body, this.#token)) as R;
    this.#clearToken();
    if (this.#auth !== 'auto') return { user: reply.user, token: null };
    const check = await this.#call({ method: 'GET', path: '/api/auth/me' });
    if (check.kind === 'ok' && (check.body as { user: User }).user.id === reply.user.id) {
      this.#setMode('cookie');
      return { user: reply.user, token: null };
    }
    if (check.kind === 'retry') throw check.error;
    const { token = null } = await again(reply);
    this.#setMode('token');
    return { user: reply.user, token };
  }

  /** After a login, a register or a hand-off: the page's student is `user`, their kept writes go out. */
  #signedIn(user: User, token: string | null, wasAnonymous: boolean): User {
    if (token) this.#setToken(token);
    this.#user = user;
    this.#setWho(user.id);
    if (wasAnonymous) this.#outbox.adopt(anonymous, user.id);
    this.#checked = Promise.resolve(null);
    this.#sync.resume();
    this.#emit('auth', { type: 'login', user, mode: token ? 'token' : 'cookie' });
    return user;
  }

  /**
   * Exchanges a hand-off code for a session, as a login does: with the cookie, then, in `auto` mode, asks `me` whether
   * the browser sent it back, and if not exchanges the fresh code of the reply (`fallbackCode`: the first is used up)
   * in token mode. The session's anonymous work (cookie or token) moves to the account on the server, its kept writes
   * in this browser. A refusal is an `auth` event of type `handoff_failed`; the page stays as it was.
   */
  async #exchangeHandoff(code: string): Promise<User | null> {
    try {
      return await this.#redeemHandoff(code);
    } catch (err) {
      const error = err as FolioError;
      this.#emit('auth', { type: 'handoff_failed', error: { statusCode: error.statusCode, error: error.error, message: error.message } });
      return null;
    }
  }

  /** The exchange of a hand-off code: the user it logged in, or a FolioError. */
  async #redeemHandoff(code: string): Promise<User> {
    this.#events.drain();
    await this.#sync.hold();
    try {
      const wasAnonymous = this.#who === anonymous;
      const path = '/api/auth/handoff';
      const { user, token } = await this.#startSession<{ user: User; fallbackCode?: string }>(path, { book: this.book, code }, (reply) => {
        if (reply.fallbackCode === undefined) throw new FolioError(400, 'invalid_handoff', 'Folio sent no code for token mode: start the login again');
        return this.#authCall(path, { book: this.book, code: reply.fallbackCode, mode: 'token' }, null);
      });
      return this.#signedIn(user, token, wasAnonymous);
    } catch (err) {
      throw err instanceof FolioError ? err : new FolioError(0, 'offline', err instanceof Error ? err.message : String(err));
    } finally {
      this.#sync.release();
      void this.#sync.flush();
    }
  }

  /**
   * This page is a sign-in popup's return (`?folio-signin=ID#folio-handoff=CODE`): hands the code to the page that
   * opened it (over a BroadcastChannel of the origin) and closes; if no page takes it within 3 s (it was closed),
   * exchanges the code itself, as a page opened with a hand-off code does.
   */
  #handToOpener(code: string, id: string): Promise<User | null> {
    const channel = this.#runtime.channel?.(signinChannelName(this.server, this.book)) ?? null;
    if (!channel) return Promise.resolve().then(() => this.#exchangeHandoff(code));
    return new Promise<User | null>((resolve) => {
      const timer = this.#runtime.setTimeout(() => {
        channel.close();
        resolve(this.#exchangeHandoff(code));
      }, openerWaitMs);
      channel.onmessage = (event) => {
        const message = event.data;
        if (!isSigninMessage(message) || message.type !== 'folio-handoff-taken' || message.id !== id) return;
        this.#runtime.clearTimeout(timer);
        channel.close();
        resolve(null);
        this.#runtime.closeWindow?.();
      };
      channel.postMessage({ type: 'folio-handoff', id, code });
    });
  }

  async #authCall(path: string, body: object, token: string | null): Promise<{ user: User; token?: string }> {
    const out = await this.#call({ method: 'POST', path, body, token });
    if (out.kind !== 'ok') throw out.error;
    return out.body as { user: User; token?: string };
  }

  /** The page is being hidden or closed: logged events go out with keepalive. */
  #hidden(): void {
    this.#events.drain();
    this.#sync.beacon(this.#who);
  }
}

export default Folio;
