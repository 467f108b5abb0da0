import type { Session } from 'fastify';
import t from 'tap';
import { sessionId } from '../db/session-store.js';
import { build, fromBook, register } from './helper.js';

t.test('cookie session ids are 256 random bits in base64url, as tokens are, and never repeat across refills of their pool', async (t) => {
  const ids = Array.from({ length: 1000 }, () => sessionId());
  t.equal(ids.filter((id) => /^[\w-]{43}$/.test(id)).length, 1000);
  t.equal(new Set(ids).size, 1000);
});

t.test('the store gives @fastify/session a cookie session without its user row, which the auth hook takes once', async (t) => {
  const app = await build(t);
  const { res, cookie } = await register(app);
  const id = decodeURIComponent(cookie.split('=')[1]!).split('.')[0]!;
  const session = await new Promise<Session | null | undefined>((resolve, reject) => app.sessions.get(id, (err, found) => (err ? reject(err as Error) : resolve(found))));
  // What the package hashes twice a request (to see whether it changed): the user's id and the session's start.
  t.same(Object.keys(session!).sort(), ['cookie', 'createdAt', 'userId']);
  t.equal(session!.userId, res.json().user.id);
  t.equal(app.sessions.takeUser(id)?.username, 'ada');
  t.equal(app.sessions.takeUser(id), undefined, 'taken once');
});

t.test('a cookie session whose user the store no longer holds is still its user\'s: the auth hook reads it again', async (t) => {
  const app = await build(t);
  const { res, cookie } = await register(app);
  const get = app.sessions.get.bind(app.sessions);
  // As if the user had been forgotten between the package's look-up and the hook.
  app.sessions.get = (sessionId, callback) => get(sessionId, (err, found) => (app.sessions.takeUser(sessionId), callback(err, found)));
  const me = await app.inject({ method: 'GET', url: '/api/auth/me', headers: { ...fromBook, cookie } });
  t.equal(me.statusCode, 200);
  t.equal(me.json().user.id, res.json().user.id);
});
