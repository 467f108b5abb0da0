import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { addPlatform } from '../db/lti.js';
import { continuationFor } from '../lib/lti-storage.js';
import { startPlatform, type LaunchPlan } from '../scripts/lti-platform.js';
import { bookOrigin, buildLogged } from './helper.js';

/**
 * LTI 1.3 with the platform's storage (1EdTech "LTI Client Side postMessages"): a login that names an
 * `lti_storage_target` answers a page that keeps the state in the platform's frame, and the launch answers a page that
 * reads it back and posts it again; only that second post, with the values and the page's continuation, is carried out.
 * What the pages' script does in a browser is tested in test/e2e/lti-storage.e2e.test.ts.
 */

const target = `${bookOrigin}/ch1/intro.html`;
const plan: LaunchPlan = { sub: 'lms-user-1', roles: ['http://purl.imsglobal.org/vocab/lis/v2/membership#Learner'], targetLinkUri: target, context: { id: 'ctx-1', label: 'CS 101' } };

async function setup(t: Test) {
  const { app, events } = await buildLogged(t);
  const platform = await startPlatform({ toolOrigin: 'http://127.0.0.1:3000', toolJwks: async () => ({ keys: [] }) });
  t.teardown(platform.close);
  await addPlatform(app.db, platform.registration());
  return { app, events, platform };
}

/** The JSON data block of a platform-storage page. */
function dataOf(body: string): Record<string, unknown> {
  const match = /<script type="application\/json" id="folio-lti-storage">(.*?)<\/script>/.exec(body);
  if (!match) throw new Error(`no data block in ${body}`);
  return JSON.parse(match[1]!) as Record<string, unknown>;
}

/** The hidden fields of the launch page's form. */
const fieldsOf = (body: string) => Object.fromEntries([...body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));

type Platform = Awaited<ReturnType<typeof startPlatform>>;

const loginQuery = (platform: Platform, extra: Record<string, string> = {}) =>
  new URLSearchParams({ iss: platform.issuer, login_hint: 'hint-1', target_link_uri: target, client_id: platform.clientId, ...extra });

/** A login with lti_storage_target `_parent`: its page's data (state, nonce, authUrl…). */
async function storageLogin(app: FastifyInstance, platform: Platform) {
  const res = await app.inject({ method: 'GET', url: `/lti/login?${loginQuery(platform, { lti_storage_target: '_parent' })}` });
  const data = dataOf(res.body);
  return { res, data, state: String(data.state), nonce: String(data.nonce) };
}

const form = (app: FastifyInstance, fields: Record<string, string>) =>
  app.inject({
    method: 'POST',
    url: '/lti/launch',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'null', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site', accept: 'application/json' },
    payload: new URLSearchParams(fields).toString(),
  });

const count = async (app: FastifyInstance, table: string) => Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM ${sql.identifier(table)}`))!.n);

const storagePolicy = (body: string) => {
  const script = /<script>([\s\S]*?)<\/script>/.exec(body)![1]!;
  return `default-src 'none'; script-src 'sha256-${createHash('sha256').update(script).digest('base64')}'; base-uri 'none'; frame-ancestors *`;
};

t.test('a login with lti_storage_target answers (200) a page that keeps the state and nonce in the platform\'s frame, then goes to its auth URL; nothing is redirected', async (t) => {
  const { app, events, platform } = await setup(t);
  const { res, data, state, nonce } = await storageLogin(app, platform);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.headers.location, undefined);
  t.equal(res.headers['set-cookie'], undefined, 'still no cookie');
  t.equal(res.headers['content-security-policy'], storagePolicy(res.body), 'its one inline script, allowed by its hash; nothing else');
  t.equal(res.headers['cross-origin-opener-policy'], 'unsafe-none', 'a window the LMS opened keeps window.opener');
  t.equal(res.headers['x-frame-options'], undefined, 'the LMS may frame it');
  t.match(state, /^[A-Za-z0-9_-]{43}$/);
  t.match(nonce, /^[A-Za-z0-9_-]{43}$/);
  const auth = new URL(String(data.authUrl));
  t.equal(`${auth.origin}${auth.pathname}`, `${platform.issuer}/auth`);
  t.equal(auth.searchParams.get('state'), state);
  t.equal(auth.searchParams.get('nonce'), nonce);
  t.equal(auth.searchParams.get('redirect_uri'), 'http://127.0.0.1:3000/lti/launch');
  t.same(data, { step: 'login', platformOrigin: platform.issuer, authUrl: auth.href, target: '_parent', state, nonce, timeoutMs: 2000 });
  const rows = await app.db.all<{ id: string; nonce: string; storage_target: string | null }>(sql`SELECT id, nonce, storage_target FROM lti_states`);
  t.same(rows, [{ id: createHash('sha256').update(state).digest('hex'), nonce, storage_target: '_parent' }]);
  t.match(events('lti_login'), [{ issuer: platform.issuer, storageTarget: '_parent' }]);
});

t.test('a login without lti_storage_target is the 302 to the auth URL, its state stored with no storage target', async (t) => {
  const { app, platform } = await setup(t);
  const res = await app.inject({ method: 'GET', url: `/lti/login?${loginQuery(platform)}` });
  t.equal(res.statusCode, 302);
  t.match(new URL(String(res.headers.location)).searchParams.get('nonce'), /^[A-Za-z0-9_-]{43}$/);
  t.same(await app.db.all(sql`SELECT storage_target FROM lti_states`), [{ storage_target: null }]);
});

t.test('an lti_storage_target of more than 200 characters is refused: 400 naming it, no state kept', async (t) => {
  const { app, platform } = await setup(t);
  const res = await app.inject({ method: 'GET', url: `/lti/login?${loginQuery(platform, { lti_storage_target: 'f'.repeat(201) })}`, headers: { accept: 'application/json' } });
  t.equal(res.statusCode, 400);
  t.same(res.json(), { statusCode: 400, error: 'lti_lti_storage_target', message: 'the lti_storage_target is longer than 200 characters' });
  t.equal(await count(app, 'lti_states'), 0);
});

t.test("the launch of such a login answers (200) a page that reads the state and nonce back from the platform's frame and posts them again; nothing is used or created yet", async (t) => {
  const { app, events, platform } = await setup(t);
  const { state, nonce } = await storageLogin(app, platform);
  const idToken = await platform.idToken(plan, nonce);
  const res = await form(app, { id_token: idToken, state });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.headers['content-security-policy'], storagePolicy(res.body));
  t.equal(res.headers['cross-origin-opener-policy'], 'unsafe-none');
  t.same(dataOf(res.body), { step: 'launch', platformOrigin: platform.issuer, target: '_parent', state, nonce, fields: { state: 'lti_storage_state', nonce: 'lti_storage_nonce', continuation: 'folio_continuation' }, timeoutMs: 2000 });
  t.match(res.body, /<form id="continue" method="post" action="launch">/);
  t.same(fieldsOf(res.body), { id_token: idToken, state, folio_continuation: continuationFor(app.secret, state), lti_storage_state: '', lti_storage_nonce: '' });
  t.equal(await count(app, 'lti_states'), 1, 'the state waits for the second post');
  t.equal(await count(app, 'lti_users'), 0);
  t.match(events('lti_launch_storage_read'), [{ issuer: platform.issuer }]);
});

t.test('the second post with the values read back and the continuation carries out the launch (302 to the page with a hand-off code), once', async (t) => {
  const { app, platform } = await setup(t);
  const { state, nonce } = await storageLogin(app, platform);
  const fields = { id_token: await platform.idToken(plan, nonce), state, folio_continuation: continuationFor(app.secret, state), lti_storage_state: state, lti_storage_nonce: nonce };
  const res = await form(app, fields);
  t.equal(res.statusCode, 302);
  t.match(String(res.headers.location), /^https:\/\/book\.example\/ch1\/intro\.html#folio-handoff=[A-Za-z0-9_-]{43}$/);
  t.equal(await count(app, 'lti_states'), 0);
  t.equal(await count(app, 'lti_users'), 1);
  const again = await form(app, fields);
  t.equal(again.statusCode, 400);
  t.equal(again.json().error, 'lti_state', 'the state is used up');
});

t.test("a second post whose values the platform's frame did not hold (missing or another) is refused: 400, the state used up, no one logged in", async (t) => {
  const { app, events, platform } = await setup(t);
  for (const stored of [{ lti_storage_state: '', lti_storage_nonce: '' }, { lti_storage_state: 'another-state', lti_storage_nonce: 'x' }]) {
    const { state, nonce } = await storageLogin(app, platform);
    const res = await form(app, { id_token: await platform.idToken(plan, nonce), state, folio_continuation: continuationFor(app.secret, state), ...stored });
    t.equal(res.statusCode, 400);
    t.same(res.json(), {
      statusCode: 400,
      error: 'lti_storage',
      message: "the LMS's page does not hold this launch's state: the launch was started in another browser or window, or the LMS did not answer. Open the link again from your course",
    });
  }
  const { state, nonce } = await storageLogin(app, platform);
  const wrongNonce = await form(app, { id_token: await platform.idToken(plan, nonce), state, folio_continuation: continuationFor(app.secret, state), lti_storage_state: state, lti_storage_nonce: 'another' });
  t.equal(wrongNonce.json().error, 'lti_storage', 'the nonce too');
  t.equal(await count(app, 'lti_states'), 0);
  t.equal(await count(app, 'lti_users'), 0);
  t.equal(await count(app, 'handoff_codes'), 0);
  t.match(events('lti_launch_refused'), [{ reason: 'storage', issuer: platform.issuer }, { reason: 'storage' }, { reason: 'storage' }]);
});

t.test("a second post without the continuation Folio's page was given (one made elsewhere, knowing the state) is refused: 400, the state used up", async (t) => {
  const { app, platform } = await setup(t);
  const { state, nonce } = await storageLogin(app, platform);
  const res = await form(app, { id_token: await platform.idToken(plan, nonce), state, folio_continuation: 'guessed', lti_storage_state: state, lti_storage_nonce: nonce });
  t.equal(res.statusCode, 400);
  t.same(res.json(), { statusCode: 400, error: 'lti_storage_continuation', message: "the launch did not come back through Folio's page that reads the LMS's storage: open the link again from the LMS" });
  t.equal(await count(app, 'lti_states'), 0);
  t.equal(await count(app, 'lti_users'), 0);
});
