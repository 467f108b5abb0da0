import Fastify, { type FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { folio, serverOptions } from '../app.js';
import { createBook, importToc } from '../db/books.js';
import { saveAnswer, saveEvents, saveProgram, setPageComplete, setPosition } from '../db/work.js';
import { validatorCompiler } from '../lib/validation.js';
import { bookOrigin, cookieOf, fromBook, otherBookOrigin, register, testConfig } from './helper.js';
import { courseOf, enrolled, loginAs, staffOf } from './staff.js';
import { addStaff, enrol, findCourse } from '../db/courses.js';
import { createExperiment } from '../db/experiments.js';
import { createDashboardHandoff, createHandoff } from '../db/handoffs.js';
import { newPasswordLink } from '../db/password-links.js';
import { createAccount } from '../db/users.js';
import { accessLevels, type Access } from '../plugins/access.js';
import { sql } from 'drizzle-orm';

/**
 * The authorisation matrix: every route of the real app, for every kind of caller, expected as the route's own
 * declaration (`config: { access }`, plugins/access.ts) says. The route table is read as the app registers it, so a
 * new route is in the matrix by itself; what is kept here by hand is only a sample request for each (a route without
 * one fails this test), and the families whose access may never be looser than they are (the last test).
 */

const callers = [
  'no session',
  'expired session',
  'anonymous',
  'student',
  'enrolled student',
  "other course's student",
  'ta',
  'instructor',
  "other course's instructor",
  'researcher',
  'admin',
] as const;
type Caller = (typeof callers)[number];

/** What a caller gets from a route of the given access: `ok` (the route's success status), 401 or 403. */
function expected(access: Access, caller: Caller, ok: number): { status: number; error?: string } {
  if (access === 'public') return { status: ok };
  if (caller === 'no session') return access === 'writer' ? { status: ok } : { status: 401, error: 'unauthenticated' };
  if (caller === 'expired session') return { status: 401, error: 'session_expired' };
  const allowed: Record<Exclude<Access, 'public'>, readonly Caller[]> = {
    user: callers,
    writer: callers,
    research: ['researcher', 'admin'],
    admin: ['admin'],
    'course-staff': ['ta', 'instructor', 'admin'],
    'course-instructor': ['instructor', 'admin'],
  };
  return allowed[access].includes(caller) ? { status: ok } : { status: 403, error: 'forbidden' };
}

/** Everything a sample request may need: the app, and the enrolled student the course routes ask about. */
interface World {
  app: FastifyInstance;
  targetId: string;
}

interface Sample {
  /** The success status. */
  ok: number;
  /** The URL to call when the route has parameters or a query (`:book` is `book`, `:course` is `c1`, `:user` the target student). */
  url?: string;
  payload?: () => unknown;
  /** Headers over the caller's (a page of Folio's own: its origin, which `inject` calls http://localhost:80). */
  headers?: Record<string, string>;
  /** For a request that changes what the next would find: prepares the state and gives the URL and payload for one call. */
  prepare?: (world: World) => Promise<{ url?: string; payload?: unknown }>;
}

const password = 'correct horse battery';
let usernames = 0;

/** A sample request for every API route, by `METHOD /path` as Fastify knows it. The export appears twice: identify=true is for admins only. */
const samples: Record<string, Sample> = {
  'GET /api/books/:book': { ok: 200 },
  'GET /api/books/:book/toc': { ok: 200 },
  'POST /api/auth/register': { ok: 201, payload: () => ({ username: `new${++usernames}`, password }) },
  'POST /api/auth/login': { ok: 200, payload: () => ({ username: 'target', password }) },
  'POST /api/auth/logout': { ok: 204 },
  'GET /api/auth/me': { ok: 200 },
  'PATCH /api/auth/me': { ok: 200, payload: () => ({ name: 'A new name' }) },
  'GET /api/auth/me/export': { ok: 200 },
  'DELETE /api/auth/me': { ok: 204, payload: () => ({ currentPassword: password }) },
  'PUT /api/books/:book/programs/:activity': { ok: 200, url: '/api/books/book/programs/ac1', payload: () => ({ code: 'x' }) },
  'GET /api/books/:book/programs/:activity': { ok: 200, url: '/api/books/book/programs/ac1' },
  'GET /api/books/:book/programs/:activity/history': { ok: 200, url: '/api/books/book/programs/ac1/history' },
  'POST /api/books/:book/answers/:question': { ok: 201, url: '/api/books/book/answers/q1', payload: () => ({ kind: 'poll', answer: 'a' }) },
  'GET /api/books/:book/answers/:question': { ok: 200, url: '/api/books/book/answers/q1' },
  'GET /api/books/:book/state': { ok: 200, url: '/api/books/book/state?page=p' },
  'PUT /api/books/:book/position': { ok: 200, payload: () => ({ page: 'p' }) },
  'GET /api/books/:book/position': { ok: 200 },
  'PUT /api/books/:book/pages/complete': { ok: 200, payload: () => ({ page: 'p', complete: true }) },
  'GET /api/books/:book/progress/me': { ok: 200 },
  'POST /api/books/:book/events': { ok: 202, payload: () => ({ events: [{ type: 'x' }] }) },
  'GET /api/books/:book/progress': { ok: 200 },
  'GET /api/books/:book/students/:user/work': { ok: 200 },
  'GET /api/books/:book/questions/:question/summary': { ok: 200, url: '/api/books/book/questions/q1/summary' },
  'GET /api/books/:book/export': { ok: 200, url: '/api/books/book/export?kind=answers&format=csv' },
  // Staff of c1 joining with its code get 200 too (not enrolled: routes/courses.ts).
  'POST /api/courses/join': { ok: 200, prepare: async ({ app }) => ({ payload: { code: (await findCourse(app.db, 'c1'))!.joinCode.toLowerCase() } }) },
  'GET /api/courses/mine': { ok: 200 },
  'GET /api/courses': { ok: 200 },
  'GET /api/courses/:course': { ok: 200 },
  'PATCH /api/courses/:course': { ok: 200, prepare: async () => ({ payload: { title: `Course c1, take ${++usernames}` } }) },
  'POST /api/courses/:course/code': { ok: 200, prepare: async () => ({}) },
  'POST /api/auth/password-link': {
    ok: 204,
    prepare: async ({ app }) => {
      const user = await createAccount(app.db, { username: `linked${++usernames}`, passwordHash: null });
      return { payload: { token: await newPasswordLink(app.db, user.id, 1), password } };
    },
  },
  'POST /api/auth/handoff': {
    ok: 200,
    prepare: async ({ app }) => {
      const user = await createAccount(app.db, { username: `handed${++usernames}`, passwordHash: null });
      return { payload: { book: 'book', code: await createHandoff(app.db, user.id, 'book') } };
    },
  },
  // From the dashboard (Folio's own origin); test/dashboard-signin.test.ts plays whole launches.
  'POST /api/auth/handoff/dashboard': {
    ok: 200,
    headers: { origin: 'http://localhost:80' },
    prepare: async ({ app }) => {
      const user = await createAccount(app.db, { username: `launched${++usernames}`, passwordHash: null });
      await addStaff(app.db, 'c1', user.id, 'ta');
      return { payload: { code: await createDashboardHandoff(app.db, user.id, { id: 'c1', bookId: 'book' }) } };
    },
  },
  'GET /api/auth/providers': { ok: 200 },
  // Navigations from other sites (test/oidc.test.ts plays whole sign-ins): an unknown provider and an unknown state are refused alike.
  'GET /api/auth/oidc/:provider/start': { ok: 404, url: `/api/auth/oidc/none/start?book=book&return=${encodeURIComponent(`${bookOrigin}/p.html`)}` },
  'GET /api/auth/oidc/:provider/callback': { ok: 400, url: '/api/auth/oidc/none/callback?state=unknown&code=x' },
  // An unknown provider: 404 to everyone with a session (test/oidc.test.ts links for real).
  'POST /api/auth/oidc/:provider/link': { ok: 404, url: '/api/auth/oidc/none/link', payload: () => ({ book: 'book', return: `${bookOrigin}/p.html` }) },
  'GET /api/auth/identities': { ok: 200 },
  // Nothing linked: 404 to everyone with a session.
  'DELETE /api/auth/identities/:provider': { ok: 404, url: '/api/auth/identities/uni' },
  'GET /api/courses/:course/roster': { ok: 200 },
  'POST /api/courses/:course/roster': {
    ok: 200,
    prepare: async ({ app }) => {
      const username = `rostered${++usernames}`;
      await createAccount(app.db, { username, passwordHash: null });
      return { payload: { usernames: [username] } };
    },
  },
  'DELETE /api/courses/:course/roster/:user': {
    ok: 204,
    prepare: async ({ app }) => {
      const user = await createAccount(app.db, { username: `leaving${++usernames}`, passwordHash: null });
      await enrol(app.db, 'c1', [user.id], 'staff');
      return { url: `/api/courses/c1/roster/${user.id}` };
    },
  },
  'GET /api/courses/:course/progress': { ok: 200, url: '/api/courses/c1/progress?limit=2' },
  'GET /api/courses/:course/grid': { ok: 200, url: '/api/courses/c1/grid?limit=2' },
  'GET /api/courses/:course/questions': { ok: 200 },
  'GET /api/courses/:course/questions/:question/summary': { ok: 200, url: '/api/courses/c1/questions/q1/summary' },
  'GET /api/courses/:course/students/:user/work': { ok: 200 },
  'GET /api/courses/:course/students/:user/progress': { ok: 200 },
  'GET /api/courses/:course/students/:user/programs/:activity/versions': { ok: 200, url: '/api/courses/c1/students/:user/programs/ac1/versions?limit=1' },
  'GET /api/courses/:course/students/:user/programs/:activity/versions/:version': { ok: 200, url: '/api/courses/c1/students/:user/programs/ac1/versions/1' },
  'GET /api/courses/:course/students/:user/answers/:question/attempts': { ok: 200, url: '/api/courses/c1/students/:user/answers/q1/attempts' },
  'GET /api/courses/:course/lti-scores': { ok: 200 },
  'GET /api/courses/:course/activity': { ok: 200, url: '/api/courses/c1/activity?days=7' },
  'GET /api/courses/:course/consent': { ok: 200 },
  'GET /api/courses/:course/export': { ok: 200, url: '/api/courses/c1/export?kind=answers&format=csv' },
  'GET /api/books/:book/experiments/:experiment': { ok: 200, url: '/api/books/book/experiments/e1?page=p' },
  'GET /api/books/:book/experiments': { ok: 200 },
  'POST /api/books/:book/experiments': { ok: 201, payload: () => ({ id: `e-new-${++usernames}`, variants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }] }) },
  'POST /api/books/:book/experiments/:experiment/stop': { ok: 200, url: '/api/books/book/experiments/e2/stop' },
  'GET /api/books/:book/experiments/:experiment/report': { ok: 200, url: '/api/books/book/experiments/e1/report' },
};
const identifyExport: Sample = { ok: 200, url: '/api/books/book/export?kind=answers&identify=true' };
const identifyCourseExport: Sample = { ok: 200, url: '/api/courses/c1/export?kind=answers&identify=true' };

/**
 * Routes whose access may never be looser than this, whatever their declaration says: the book-wide reports are
 * for admins (and the research export for researchers), and everything of a course is for its staff.
 */
const floors: [RegExp, readonly Access[]][] = [
  [/^\/api\/books\/:book\/(progress|students|questions)(\/|$)/, ['admin']],
  [/^\/api\/books\/:book\/export$/, ['research', 'admin']],
  [/^\/api\/books\/:book\/experiments(\/:experiment\/(stop|report))?$/, ['research', 'admin']],
  [/^\/api\/courses\/:course(\/|$)/, ['course-staff', 'course-instructor']],
];

interface Route {
  method: string;
  url: string;
  access: Access | undefined;
}

/** The real app, recording every route as it is registered, with two courses on one book. */
async function appWithRoutes(t: Test) {
  const routes: Route[] = [];
  // Many logins from one address in a minute: lift the limits, which have tests of their own.
  const opts = { config: testConfig(t, { loginRatePerIp: 100_000, loginRatePerUser: 100_000, joinRatePerIp: 100_000 }), migrate: true, logger: false as const };
  const app = Fastify(serverOptions(opts));
  app.setValidatorCompiler(validatorCompiler);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, access: route.config?.access });
  });
  await app.register(folio, opts);
  await app.ready();
  t.teardown(() => app.close());
  await createBook(app.db, { id: 'book', title: 'A book', origins: [bookOrigin] });
  await createBook(app.db, { id: 'other', title: 'Another book', origins: [otherBookOrigin] });
  await importToc(app.db, 'book', { chapters: [{ id: 'c', title: 'C', pages: [{ id: 'p', title: 'P', questions: [{ id: 'q1', kind: 'poll', points: 1 }], activities: [{ id: 'ac1' }] }] }] });
  await app.books.refresh();
  await courseOf(app, 'c1', 'book');
  await courseOf(app, 'c2', 'book');
  for (const id of ['e1', 'e2']) await createExperiment(app.db, { id, bookId: 'book', variants: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }] });
  return { app, routes };
}

/** One of everything for a user, so that every read has something to return. */
async function seed(app: FastifyInstance, userId: string): Promise<void> {
  const owner = { userId, bookId: 'book' };
  await saveProgram(app.db, owner, 'ac1', { code: 'seed', page: 'p' });
  await saveAnswer(app.db, owner, 'q1', { kind: 'poll', answer: 'a', page: 'p' });
  await setPosition(app.db, owner, 'p', undefined);
  await setPageComplete(app.db, owner, 'p', true);
  await saveEvents(app.db, owner, [{ type: 'seed' }]);
}

/** Fresh request headers for a caller (fresh, because logging in or out changes the session). */
async function headersOf(app: FastifyInstance, caller: Caller): Promise<Record<string, string>> {
  const name = `user${++usernames}`;
  let login: { headers: Record<string, string>; id: string };
  switch (caller) {
    case 'no session':
      return { ...fromBook };
    case 'expired session': {
      const { res, cookie } = await register(app, name);
      await app.db.run(sql`DELETE FROM sessions WHERE user_id = ${res.json().user.id}`);
      return { ...fromBook, cookie };
    }
    case 'anonymous': {
      const first = await app.inject({ method: 'POST', url: '/api/books/book/events', headers: fromBook, payload: { events: [{ type: 'hello' }] } });
      const headers = { ...fromBook, cookie: cookieOf(first) };
      await seed(app, (await app.inject({ method: 'GET', url: '/api/auth/me', headers })).json().user.id);
      return headers;
    }
    case 'student':
      login = await loginAs(app, name, 'student');
      break;
    case 'enrolled student':
      login = await enrolled(app, name, 'c1');
      break;
    case "other course's student":
      login = await enrolled(app, name, 'c2');
      break;
    case 'ta':
      login = await staffOf(app, name, 'c1', 'ta');
      break;
    case 'instructor':
      login = await staffOf(app, name, 'c1', 'instructor');
      break;
    case "other course's instructor":
      login = await staffOf(app, name, 'c2', 'instructor');
      break;
    case 'researcher':
    case 'admin':
      login = await loginAs(app, name, caller);
      break;
  }
  await seed(app, login.id);
  return login.headers;
}

t.test('every API route declares who may call it, and answers every kind of caller as it declares: 401 without a live session, 403 without the role', async (t) => {
  const { app, routes } = await appWithRoutes(t);
  const { id: targetId } = await loginAs(app, 'target', 'student', { researchConsent: true });
  await enrol(app.db, 'c1', [targetId], 'staff');
  await seed(app, targetId);
  const world: World = { app, targetId };

  const api = routes.filter((r) => r.url.startsWith('/api'));
  for (const { method, url, access } of api) {
    t.ok(access !== undefined && accessLevels.includes(access), `${method} ${url} declares its access (${access})`);
    const key = `${method === 'HEAD' ? 'GET' : method} ${url}`;
    t.ok(samples[key], `${key} has a sample request in this test (add one)`);
  }
  for (const key of Object.keys(samples)) t.ok(api.some((r) => `${r.method} ${r.url}` === key), `${key} is a route of the app`);

  const cells: [Route, string, Sample][] = [];
  for (const route of api) {
    const sample = samples[`${route.method === 'HEAD' ? 'GET' : route.method} ${route.url}`];
    if (!sample || !route.access) continue;
    cells.push([route, route.url, sample]);
    if (route.url === '/api/books/:book/export') cells.push([{ ...route, access: 'admin' }, `${route.url} (identify=true)`, identifyExport]);
    if (route.url === '/api/courses/:course/export') cells.push([{ ...route, access: 'admin' }, `${route.url} (identify=true)`, identifyCourseExport]);
  }
  t.ok(cells.length >= 30, `${cells.length} routes and variants`);

  for (const [{ method, access }, label, sample] of cells) {
    for (const caller of callers) {
      const headers = await headersOf(app, caller);
      const prepared = sample.prepare ? await sample.prepare(world) : {};
      const url = (prepared.url ?? sample.url ?? label.replace(':book', 'book').replace(':course', 'c1')).replace(':user', targetId);
      const payload = prepared.payload ?? sample.payload?.();
      const res = await app.inject({ method: method as 'GET', url, headers: { ...headers, ...sample.headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
      const want = expected(access!, caller, sample.ok);
      const name = `${method} ${label} (${access}) as ${caller}`;
      t.equal(res.statusCode, want.status, name);
      if (want.error && method !== 'HEAD') t.equal(res.json().error, want.error, name);
      if (method === 'HEAD') t.equal(res.body, '', `${name}: no body`);
    }
  }
});

t.test('the routes of reports and exports are never declared looser than their family: admins for a whole book, staff for a course', async (t) => {
  const { routes } = await appWithRoutes(t);
  let checked = 0;
  for (const { method, url, access } of routes) {
    for (const [pattern, allowed] of floors) {
      if (!pattern.test(url) || url === '/api/books/:book/progress/me') continue;
      t.ok(access !== undefined && allowed.includes(access), `${method} ${url}: ${access} is one of ${allowed.join(', ')}`);
      checked++;
    }
  }
  t.ok(checked >= 5, `${checked} routes checked`);
});

t.test('a route that does not declare who may call it fails to register, naming the route', async (t) => {
  const opts = { config: testConfig(t), migrate: true, logger: false as const };
  const app = Fastify(serverOptions(opts));
  t.teardown(() => app.close());
  await app.register(folio, opts);
  t.throws(() => app.get('/api/undeclared', async () => ({ secret: true })), /\/api\/undeclared does not declare who may call it/);
  await app.close().catch(() => {});
});

/** Routes that packages register (the docs, the CORS preflight handler), which declare nothing and need no session. */
const publicPrefixes = ['/docs', '*'];

t.test('every route outside /api is public: health, docs and the browser client need no session', async (t) => {
  const { app, routes } = await appWithRoutes(t);
  for (const { method, url, access } of routes.filter((r) => !r.url.startsWith('/api'))) {
    t.ok(access === 'public' || (access === undefined && publicPrefixes.some((p) => url.startsWith(p))), `${method} ${url} is public (${access ?? 'a package\'s route'})`);
    if (method !== 'GET') continue;
    const res = await app.inject({ method: 'GET', url: url.replace('*', 'index.html') });
    t.ok(res.statusCode !== 401 && res.statusCode !== 403, `GET ${url} without a session: ${res.statusCode}`);
  }
});

/** Samples of routes outside /api (each public, as the test above checks), called by every kind of caller. */
const unknownPlatform = new URLSearchParams({ iss: 'https://unknown.example', login_hint: 'h', target_link_uri: 'https://book.example/ch1/intro.html' }).toString();
const outsideApi: Record<string, { method: 'GET' | 'POST'; url: string; ok: number; form?: string }> = {
  'GET /lti/jwks': { method: 'GET', url: '/lti/jwks', ok: 200 },
  // An unknown platform: refused alike whoever calls (a session changes nothing).
  'GET /lti/login': { method: 'GET', url: `/lti/login?${unknownPlatform}`, ok: 400 },
  'POST /lti/login': { method: 'POST', url: '/lti/login', ok: 400, form: unknownPlatform },
  // An unknown state: refused alike whoever calls (test/lti-launch.test.ts plays whole launches).
  'POST /lti/launch': { method: 'POST', url: '/lti/launch', ok: 400, form: 'state=unknown&id_token=x' },
  // A token Folio did not make: refused alike whoever calls (test/lti-deep-linking.test.ts plays whole choices).
  'POST /lti/deep-linking': { method: 'POST', url: '/lti/deep-linking', ok: 400, form: 'token=x&page=book:ch1' },
};

t.test('the LTI routes answer every kind of caller alike (GET /lti/jwks: the same public keys; login and launch: the same refusal), whatever the session', async (t) => {
  const { app, routes } = await appWithRoutes(t);
  for (const r of routes.filter((r) => r.url.startsWith('/lti/') && r.method !== 'HEAD')) t.ok(outsideApi[`${r.method} ${r.url}`], `${r.method} ${r.url} has a sample`);
  for (const key of Object.keys(outsideApi)) t.ok(routes.some((r) => `${r.method} ${r.url}` === key && r.access === 'public'), `${key} is a public route of the app`);
  for (const [key, sample] of Object.entries(outsideApi)) {
    let body: string | undefined;
    for (const caller of callers) {
      const headers = { ...(await headersOf(app, caller)), ...(sample.form ? { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://lms.example.edu' } : {}) };
      const res = await app.inject({ method: sample.method, url: sample.url, headers, ...(sample.form ? { payload: sample.form } : {}) });
      t.equal(res.statusCode, sample.ok, `${key} as ${caller}`);
      body ??= res.body;
      t.equal(res.body, body, `${key} as ${caller}: the same reply`);
    }
  }
});
