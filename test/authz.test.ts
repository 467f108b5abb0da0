import Fastify, { type FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { folio, serverOptions } from '../app.js';
import { createBook, importToc } from '../db/books.js';
import { saveAnswer, saveEvents, saveProgram, setPageComplete, setPosition } from '../db/work.js';
import { validatorCompiler } from '../lib/validation.js';
import { bookOrigin, cookieOf, fromBook, otherBookOrigin, register, testConfig } from './helper.js';
import { loginAs } from './staff.js';
import { sql } from 'drizzle-orm';

/**
 * The authorisation matrix: every route of the real app, for every kind of caller. A route added to the app
 * and not classified here fails this test, so none can be forgotten.
 */

type Caller = 'no session' | 'expired session' | 'anonymous' | 'student' | 'researcher' | 'instructor' | 'admin';
const callers: Caller[] = ['no session', 'expired session', 'anonymous', 'student', 'researcher', 'instructor', 'admin'];

/**
 * Who may call a route:
 * - public: anyone, with or without a session;
 * - reader: any user with a live session, anonymous ones included (their own work);
 * - writer: the same, and a first write without any session starts an anonymous one;
 * - research: researchers, instructors and admins (pseudonymised research data);
 * - staff: instructors and admins; admin: admins only.
 */
type Access = 'public' | 'reader' | 'writer' | 'research' | 'staff' | 'admin';

function expected(access: Access, caller: Caller, ok: number): { status: number; error?: string } {
  if (access === 'public') return { status: ok };
  if (caller === 'no session') return access === 'writer' ? { status: ok } : { status: 401, error: 'unauthenticated' };
  if (caller === 'expired session') return { status: 401, error: 'session_expired' };
  if (access === 'reader' || access === 'writer') return { status: ok };
  if (caller === 'admin' || (caller === 'instructor' && (access === 'staff' || access === 'research'))) return { status: ok };
  if (caller === 'researcher' && access === 'research') return { status: ok };
  return { status: 403, error: 'forbidden' };
}

interface Target {
  access: Access;
  /** The success status. */
  ok: number;
  /** The URL to call when the route's has parameters or a query (`:book` is `book`). */
  url?: string;
  payload?: () => unknown;
}

const password = 'correct horse battery';
let usernames = 0;

/** Every API route, by `METHOD /path` as Fastify knows it. The export appears twice: identify=true is for admins only. */
const matrix: Record<string, Target> = {
  'GET /api/books/:book': { access: 'public', ok: 200 },
  'GET /api/books/:book/toc': { access: 'public', ok: 200 },
  'POST /api/auth/register': { access: 'public', ok: 201, payload: () => ({ username: `new${++usernames}`, password }) },
  'POST /api/auth/login': { access: 'public', ok: 200, payload: () => ({ username: 'target', password }) },
  'POST /api/auth/logout': { access: 'public', ok: 204 },
  'GET /api/auth/me': { access: 'reader', ok: 200 },
  'PATCH /api/auth/me': { access: 'reader', ok: 200, payload: () => ({ name: 'A new name' }) },
  'GET /api/auth/me/export': { access: 'reader', ok: 200 },
  'DELETE /api/auth/me': { access: 'reader', ok: 204, payload: () => ({ currentPassword: password }) },
  'PUT /api/books/:book/programs/:activity': { access: 'writer', ok: 200, url: '/api/books/book/programs/ac1', payload: () => ({ code: 'x' }) },
  'GET /api/books/:book/programs/:activity': { access: 'reader', ok: 200, url: '/api/books/book/programs/ac1' },
  'GET /api/books/:book/programs/:activity/history': { access: 'reader', ok: 200, url: '/api/books/book/programs/ac1/history' },
  'POST /api/books/:book/answers/:question': { access: 'writer', ok: 201, url: '/api/books/book/answers/q1', payload: () => ({ kind: 'poll', answer: 'a' }) },
  'GET /api/books/:book/answers/:question': { access: 'reader', ok: 200, url: '/api/books/book/answers/q1' },
  'GET /api/books/:book/state': { access: 'reader', ok: 200, url: '/api/books/book/state?page=p' },
  'PUT /api/books/:book/position': { access: 'writer', ok: 200, payload: () => ({ page: 'p' }) },
  'GET /api/books/:book/position': { access: 'reader', ok: 200 },
  'PUT /api/books/:book/pages/complete': { access: 'writer', ok: 200, payload: () => ({ page: 'p', complete: true }) },
  'GET /api/books/:book/progress/me': { access: 'reader', ok: 200 },
  'POST /api/books/:book/events': { access: 'writer', ok: 202, payload: () => ({ events: [{ type: 'x' }] }) },
  'GET /api/books/:book/progress': { access: 'staff', ok: 200 },
  'GET /api/books/:book/students/:user/work': { access: 'staff', ok: 200 },
  'GET /api/books/:book/questions/:question/summary': { access: 'staff', ok: 200, url: '/api/books/book/questions/q1/summary' },
  'GET /api/books/:book/export': { access: 'research', ok: 200, url: '/api/books/book/export?kind=answers&format=csv' },
};
const identifyExport: Target = { access: 'admin', ok: 200, url: '/api/books/book/export?kind=answers&identify=true' };

/** Paths outside /api: public by nature (health, docs, the browser client, the CORS preflight handler). */
const publicPrefixes = ['/healthz', '/readyz', '/docs', '/client', '*'];

/** The real app, recording every route as it is registered. */
async function appWithRoutes(t: Test) {
  const routes: { method: string; url: string }[] = [];
  // Many logins from one address in a minute: lift the limits, which have tests of their own.
  const opts = { config: testConfig(t, { loginRatePerIp: 100_000, loginRatePerUser: 100_000 }), migrate: true, logger: false as const };
  const app = Fastify(serverOptions(opts));
  app.setValidatorCompiler(validatorCompiler);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  await app.register(folio, opts);
  await app.ready();
  t.teardown(() => app.close());
  await createBook(app.db, { id: 'book', title: 'A book', origins: [bookOrigin] });
  await createBook(app.db, { id: 'other', title: 'Another book', origins: [otherBookOrigin] });
  await importToc(app.db, 'book', { chapters: [{ id: 'c', title: 'C', pages: [{ id: 'p', title: 'P', questions: [{ id: 'q1', kind: 'poll', points: 1 }], activities: [{ id: 'ac1' }] }] }] });
  await app.books.refresh();
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
  switch (caller) {
    case 'no session':
      return { ...fromBook };
    case 'expired session': {
      const { res, cookie } = await register(app, `gone${++usernames}`);
      (await app.db.run(sql`DELETE FROM sessions WHERE user_id = ${res.json().user.id}`));
      return { ...fromBook, cookie };
    }
    case 'anonymous': {
      const first = await app.inject({ method: 'POST', url: '/api/books/book/events', headers: fromBook, payload: { events: [{ type: 'hello' }] } });
      const headers = { ...fromBook, cookie: cookieOf(first) };
      await seed(app, (await app.inject({ method: 'GET', url: '/api/auth/me', headers })).json().user.id);
      return headers;
    }
    default: {
      const { headers, id } = await loginAs(app, `${caller}${++usernames}`, caller);
      await seed(app, id);
      return headers;
    }
  }
}

t.test('every API route answers every kind of caller as its access says: 401 without a live session, 403 without the role', async (t) => {
  const { app, routes } = await appWithRoutes(t);
  const { id: targetId } = await loginAs(app, 'target', 'student', { researchConsent: true });
  await seed(app, targetId);

  const api = routes.filter((r) => r.url.startsWith('/api'));
  const known = new Set(Object.keys(matrix));
  for (const { method, url } of api) {
    const key = `${method === 'HEAD' ? 'GET' : method} ${url}`;
    t.ok(known.has(key), `${method} ${url} is in the authorisation matrix (add it, with who may call it)`);
  }
  for (const key of known) t.ok(api.some((r) => `${r.method} ${r.url}` === key), `${key} is a route of the app`);

  const cells: [string, string, Target][] = [];
  for (const { method, url } of api) {
    const target = matrix[`${method === 'HEAD' ? 'GET' : method} ${url}`];
    if (!target) continue;
    cells.push([method, url, target]);
    if (url === '/api/books/:book/export') cells.push([method, `${url} (identify=true)`, identifyExport]);
  }
  t.ok(cells.length >= 30, `${cells.length} routes and variants`);

  for (const [method, route, target] of cells) {
    const url = (target.url ?? route.replace(':book', 'book')).replace(':user', targetId);
    for (const caller of callers) {
      const headers = await headersOf(app, caller);
      const res = await app.inject({ method: method as 'GET', url, headers, ...(target.payload ? { payload: target.payload() as object } : {}) });
      const want = expected(target.access, caller, target.ok);
      const label = `${method} ${route} as ${caller}`;
      t.equal(res.statusCode, want.status, label);
      if (want.error && method !== 'HEAD') t.equal(res.json().error, want.error, label);
      if (method === 'HEAD') t.equal(res.body, '', `${label}: no body`);
    }
  }
});

t.test('every route outside /api is public: health, docs and the browser client need no session', async (t) => {
  const { app, routes } = await appWithRoutes(t);
  for (const { method, url } of routes.filter((r) => !r.url.startsWith('/api'))) {
    t.ok(publicPrefixes.some((p) => url.startsWith(p)), `${method} ${url} is under ${publicPrefixes.join(', ')} (a new kind of route needs a line in the authorisation matrix)`);
    if (method !== 'GET') continue;
    const res = await app.inject({ method: 'GET', url: url.replace('*', 'index.html') });
    t.ok(res.statusCode !== 401 && res.statusCode !== 403, `GET ${url} without a session: ${res.statusCode}`);
  }
});
