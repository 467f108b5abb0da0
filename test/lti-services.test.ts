import type { FastifyInstance } from 'fastify';
import type { JSONWebKeySet } from 'jose';
import t, { type Test } from 'tap';
import { addPlatform } from '../db/lti.js';
import { forgetServiceTokens, LtiServiceError, ltiScopes, serviceRequest, serviceToken } from '../lib/lti-services.js';
import { startPlatform } from '../scripts/lti-platform.js';
import { build, testSecret } from './helper.js';

/** The Advantage services' tokens (lib/lti-services.ts) against the platform fixture, whose token endpoint verifies Folio's client assertion with Folio's JWKS. */

/** Folio's JWKS as GET /lti/jwks serves it (the fixture's token endpoint checks assertions with it). */
const jwksOf = (app: FastifyInstance) => async () => (await app.inject({ method: 'GET', url: '/lti/jwks' })).json() as JSONWebKeySet;

async function setup(t: Test) {
  const app = await build(t);
  const platform = await startPlatform({ toolOrigin: 'http://127.0.0.1:3000', toolJwks: jwksOf(app) });
  t.teardown(platform.close);
  await addPlatform(app.db, platform.registration());
  forgetServiceTokens();
  t.teardown(forgetServiceTokens);
  return { app, platform };
}

t.test('a token is got with a client assertion signed by Folio\'s key (verified against /lti/jwks) for exactly the scopes asked, then cached', async (t) => {
  const { app, platform } = await setup(t);
  const first = await serviceToken(app.db, testSecret, platform.registration(), [ltiScopes.score]);
  const again = await serviceToken(app.db, testSecret, platform.registration(), [ltiScopes.score]);
  t.equal(again, first);
  t.same(platform.record.tokenRequests, [{ ok: true, scope: ltiScopes.score }]);
  await serviceToken(app.db, testSecret, platform.registration(), [ltiScopes.memberships]);
  t.same(
    platform.record.tokenRequests.map((r) => r.scope),
    [ltiScopes.score, ltiScopes.memberships],
    'another scope set is another token',
  );
});

t.test('a token near its expiry (under 30 s left) is not used: a new one is asked for', async (t) => {
  const { app, platform } = await setup(t);
  platform.setTokenLifetime(20);
  const first = await serviceToken(app.db, testSecret, platform.registration(), [ltiScopes.score]);
  const second = await serviceToken(app.db, testSecret, platform.registration(), [ltiScopes.score]);
  t.not(second, first);
  t.equal(platform.record.tokenRequests.length, 2);
});

t.test('a token endpoint that refuses Folio (another key signed the assertion) gives an LtiServiceError with its status and reply', async (t) => {
  const { app, platform } = await setup(t);
  const wrongJwks = await startPlatform({ toolOrigin: 'http://127.0.0.1:3000', toolJwks: async () => ({ keys: [] }) });
  t.teardown(wrongJwks.close);
  const err = await serviceToken(app.db, testSecret, wrongJwks.registration(), [ltiScopes.score]).catch((e: unknown) => e);
  t.type(err, LtiServiceError);
  t.equal((err as LtiServiceError).status, 400);
  t.match((err as LtiServiceError).message, `the platform's token endpoint ${wrongJwks.registration().tokenUrl} answered 400: {"error":"invalid_client"`);
  t.equal(platform.record.tokenRequests.length, 0);
});

t.test('an unreachable platform gives a retryable LtiServiceError naming the URL', async (t) => {
  const { app, platform } = await setup(t);
  const registration = platform.registration();
  await platform.close();
  const err = await serviceToken(app.db, testSecret, registration, [ltiScopes.score]).catch((e: unknown) => e);
  t.type(err, LtiServiceError);
  t.equal((err as LtiServiceError).retryable, true);
  t.equal((err as LtiServiceError).status, undefined);
  t.match((err as LtiServiceError).message, `${registration.tokenUrl} could not be reached`);
});

t.test('a service call answered 401 (the platform forgot the token) gets a new token and tries once more', async (t) => {
  const { app, platform } = await setup(t);
  platform.members.set('ctx', [{ user_id: 'u1', roles: ['Learner'] }]);
  const registration = platform.registration();
  await serviceToken(app.db, testSecret, registration, [ltiScopes.memberships]);
  platform.revokeTokens();
  const res = await serviceRequest(app.db, testSecret, registration, [ltiScopes.memberships], `${platform.issuer}/memberships/ctx`, { accept: 'application/vnd.ims.lti-nrps.v2.membershipcontainer+json' });
  t.equal(res.status, 200);
  t.same(((await res.json()) as { members: unknown[] }).members, [{ user_id: 'u1', roles: ['Learner'] }]);
  t.equal(platform.record.tokenRequests.length, 2);
  t.equal(platform.record.membershipRequests.length, 2);
});

t.test('a service call answered 5xx is a retryable LtiServiceError; 404 is not retryable', async (t) => {
  const { app, platform } = await setup(t);
  const registration = platform.registration();
  const missing = await serviceRequest(app.db, testSecret, registration, [ltiScopes.score], `${platform.issuer}/lineitems/none/scores`, { method: 'POST', accept: 'application/json', body: { contentType: 'application/vnd.ims.lis.v1.score+json', json: {} } }).catch((e: unknown) => e);
  t.type(missing, LtiServiceError);
  t.same([(missing as LtiServiceError).status, (missing as LtiServiceError).retryable], [404, false]);
  platform.lineItems.set('i1', { id: 'i1', label: 'x', scoreMaximum: 1 });
  platform.failScores(503);
  const down = await serviceRequest(app.db, testSecret, registration, [ltiScopes.score], `${platform.issuer}/lineitems/i1/scores`, { method: 'POST', accept: 'application/json', body: { contentType: 'application/vnd.ims.lis.v1.score+json', json: {} } }).catch((e: unknown) => e);
  t.same([(down as LtiServiceError).status, (down as LtiServiceError).retryable], [503, true]);
});
