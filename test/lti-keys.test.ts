import { sql } from 'drizzle-orm';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, SignJWT } from 'jose';
import type { FastifyInstance } from 'fastify';
import t, { type Test } from 'tap';
import { jwks, LtiKeyError, publishedKeys, retiredKeyGraceMs, rotateKeys, signingKey, type SigningKey } from '../lib/lti-keys.js';
import { build, folio, testConfig, testSecret, databaseEnv } from './helper.js';

/** Folio's LTI keys (lib/lti-keys.ts), GET /lti/jwks and `folio lti keys rotate` / `folio lti tool-info`. */

const platform = 'https://lms.example.edu';

/** A JWT as Folio will sign client assertions: RS256, its kid, 5 minutes. */
function signed(key: SigningKey): Promise<string> {
  return new SignJWT({ jti: 'j1' })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .setIssuer('folio-client')
    .setSubject('folio-client')
    .setAudience(platform)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key.privateKey);
}

async function getJwks(app: FastifyInstance) {
  const res = await app.inject({ method: 'GET', url: '/lti/jwks' });
  t.equal(res.statusCode, 200);
  return res.json() as { keys: Record<string, string>[] };
}

const verifies = async (token: string, set: { keys: Record<string, string>[] }) =>
  jwtVerify(token, createLocalJWKSet(set), { issuer: 'folio-client', audience: platform, algorithms: ['RS256'] }).then(
    () => true,
    () => false,
  );

async function app(t: Test) {
  return build(t, { secret: testSecret });
}

t.test('GET /lti/jwks makes the first key on first need and lists it: RSA public parts, kid, alg RS256, use sig; cacheable for 5 minutes', async (t) => {
  const a = await app(t);
  t.strictSame(await a.db.all(sql`SELECT kid FROM lti_keys`), []);
  const res = await a.inject({ method: 'GET', url: '/lti/jwks' });
  t.equal(res.statusCode, 200);
  t.equal(res.headers['cache-control'], 'public, max-age=300');
  t.match(res.headers['content-type'], /^application\/json/);
  const body = res.json() as { keys: Record<string, string>[] };
  t.equal(body.keys.length, 1);
  const [key] = body.keys;
  t.strictSame(Object.keys(key!).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
  t.match(key, { kty: 'RSA', e: 'AQAB', alg: 'RS256', use: 'sig', kid: /^[\w-]{22}$/ });
  t.equal(Buffer.from(key!.n!, 'base64url').length, 256, '2048-bit modulus');
  const stored = await a.db.all<{ kid: string; retired_at: unknown }>(sql`SELECT kid, retired_at FROM lti_keys`);
  t.strictSame(stored, [{ kid: key!.kid, retired_at: null }]);
  t.same(await getJwks(a), body, 'the same key on the next call');
});

t.test('the private key is never in the JWKS, nor stored in clear: AES-256-GCM under a key derived from the secret', async (t) => {
  const a = await app(t);
  const key = await signingKey(a.db, testSecret);
  const privateJwk = key.privateKey.export({ format: 'jwk' });
  const der = key.privateKey.export({ format: 'der', type: 'pkcs8' });
  const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const served = (await a.inject({ method: 'GET', url: '/lti/jwks' })).body;
  for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) t.notOk(served.includes(privateJwk[member]!), `${member} is not served`);
  const [row] = await a.db.all<{ kid: string; public_jwk: string; private_key: string }>(sql`SELECT * FROM lti_keys`);
  const everything = JSON.stringify(row);
  t.match(row!.private_key, /^v1\.[\w-]{16}\.[\w-]+\.[\w-]{22}$/);
  for (const clear of [privateJwk.d!, privateJwk.p!, der.toString('base64'), der.toString('base64url'), der.toString('hex'), pem, 'PRIVATE KEY']) t.notOk(everything.includes(clear), 'no clear private key in the row');
  t.strictSame(Object.keys(JSON.parse(row!.public_jwk) as object).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);

  // Another secret cannot decrypt it (and says what to do).
  await t.rejects(signingKey(a.db, 'another-secret-0123456789abcdefghijklmnopqrstuvwxyz'), new LtiKeyError(`Folio's LTI private key ${key.kid} cannot be decrypted with this server secret (FOLIO_SECRET changed since it was made?): run "folio lti keys rotate" to make a new key, then update nothing in the LMS (it reads /lti/jwks)`));
  // Bound to its kid: the sealed key moved to another row does not decrypt.
  await a.db.run(sql`UPDATE lti_keys SET kid = 'moved'`);
  await t.rejects(signingKey(a.db, testSecret), LtiKeyError);
});

t.test('a JWT signed with the signing key verifies against GET /lti/jwks (fetched over HTTP with createRemoteJWKSet)', async (t) => {
  const a = await app(t);
  const address = await a.listen({ host: '127.0.0.1', port: 0 });
  const key = await signingKey(a.db, testSecret);
  const token = await signed(key);
  const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${address}/lti/jwks`)), { issuer: 'folio-client', audience: platform, algorithms: ['RS256'] });
  t.equal(protectedHeader.kid, key.kid);
  t.equal(payload.jti, 'j1');
  t.equal(await verifies(token, { keys: [] }), false, 'not against an empty set (the check checks)');
});

t.test('concurrent first needs make one key', async (t) => {
  const a = await app(t);
  const keys = await Promise.all([signingKey(a.db, testSecret), signingKey(a.db, testSecret), jwks(a.db, testSecret)]);
  t.equal(new Set([keys[0].kid, keys[1].kid, keys[2].keys[0]!.kid]).size, 1);
  t.strictSame(await a.db.all(sql`SELECT count(*) AS n FROM lti_keys`).then((r) => Number((r[0] as { n: unknown }).n)), 1);
});

t.test('rotate makes a new signing key; the old one stays in the JWKS, and what it signed verifies, for the grace period', async (t) => {
  const a = await app(t);
  const old = await signingKey(a.db, testSecret);
  const oldToken = await signed(old);
  const rotation = await rotateKeys(a.db, testSecret);
  t.not(rotation.kid, old.kid);
  t.strictSame(rotation.retired, [old.kid]);
  t.strictSame(rotation.deleted, []);
  t.equal(retiredKeyGraceMs, 65 * 60_000, '1 hour of token life and 5 minutes of skew');
  const current = await signingKey(a.db, testSecret);
  t.equal(current.kid, rotation.kid);
  const set = await getJwks(a);
  t.strictSame(set.keys.map((k) => k.kid), [rotation.kid, old.kid], 'the signing key first');
  t.equal(await verifies(oldToken, set), true, 'the old key still verifies');
  t.equal(await verifies(await signed(current), set), true, 'the new key verifies');
});

t.test('a key retired longer ago than the grace period leaves the JWKS, and the next rotation deletes it', async (t) => {
  const a = await app(t);
  const old = await signingKey(a.db, testSecret);
  const oldToken = await signed(old);
  // Rotated just over the grace period ago.
  const then = Date.now() - retiredKeyGraceMs - 1000;
  const first = await rotateKeys(a.db, testSecret, then);
  t.strictSame((await publishedKeys(a.db, then + retiredKeyGraceMs - 1)).map((k) => k.kid), [first.kid, old.kid], 'published until the grace period ends');
  const set = await getJwks(a);
  t.strictSame(set.keys.map((k) => k.kid), [first.kid]);
  t.equal(await verifies(oldToken, set), false, 'what the old key signed no longer verifies');
  const second = await rotateKeys(a.db, testSecret);
  t.strictSame(second.retired, [first.kid]);
  t.strictSame(second.deleted, [old.kid]);
  const kids = (await a.db.all<{ kid: string }>(sql`SELECT kid FROM lti_keys`)).map((r) => r.kid).sort();
  t.strictSame(kids, [first.kid, second.kid].sort());
});

t.test('folio lti keys rotate retires the signing key and prints what it did; folio lti tool-info prints what the LMS needs', async (t) => {
  const a = await app(t);
  const env = { ...databaseEnv(testConfig(t, { databaseUrl: a.config.databaseUrl, secret: testSecret })), FOLIO_PUBLIC_ORIGIN: 'https://folio.example.edu' };
  const info = await folio(['lti', 'tool-info', '--json'], env);
  t.equal(info.code, 0, info.stderr);
  const [before] = (await getJwks(a)).keys;
  t.strictSame(JSON.parse(info.stdout), {
    loginUrl: 'https://folio.example.edu/lti/login',
    redirectUrl: 'https://folio.example.edu/lti/launch',
    targetLinkUrl: 'https://folio.example.edu/lti/launch',
    deepLinkingUrl: 'https://folio.example.edu/lti/launch',
    jwksUrl: 'https://folio.example.edu/lti/jwks',
    scopes: [
      'https://purl.imsglobal.org/spec/lti-ags/scope/lineitem',
      'https://purl.imsglobal.org/spec/lti-ags/scope/score',
      'https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly',
      'https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly',
    ],
    publicJwk: before,
  });
  const text = await folio(['lti', 'tool-info'], env);
  t.equal(text.code, 0);
  t.match(text.stdout, /^Register Folio in the LMS as an LTI 1\.3 tool with these values:\n\nOIDC login initiation URL {2}https:\/\/folio\.example\.edu\/lti\/login\n/);
  t.ok(text.stdout.includes(`${JSON.stringify(before)}\n`), 'the public key as JWK');
  t.match(text.stdout, /Then add links in the LMS: its content selection \(Deep Linking\) button opens Folio's page picker, or link a book page's URL by hand\.\n$/);

  const rotated = await folio(['lti', 'keys', 'rotate'], env);
  t.equal(rotated.code, 0, rotated.stderr);
  const after = (await getJwks(a)).keys;
  t.equal(after.length, 2);
  t.equal(after[1]!.kid, before!.kid);
  const [line1, line2] = rotated.stdout.split('\n');
  t.equal(line1, `new signing key ${after[0]!.kid}`);
  t.match(line2, new RegExp(`^retired ${before!.kid}: still in /lti/jwks until \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(what it signed may be checked until then\\)$`));
});

t.test('folio lti tool-info names the listen address when FOLIO_PUBLIC_ORIGIN is not set', async (t) => {
  const a = await app(t);
  const env = { ...databaseEnv(testConfig(t, { databaseUrl: a.config.databaseUrl, secret: testSecret })), FOLIO_PORT: '3456' };
  const info = await folio(['lti', 'tool-info', '--json'], env);
  t.equal(info.code, 0, info.stderr);
  t.equal((JSON.parse(info.stdout) as { loginUrl: string }).loginUrl, 'http://127.0.0.1:3456/lti/login');
});

t.test('the OpenAPI document has GET /lti/jwks under the tag lti, with its reply schema', async (t) => {
  const a = await app(t);
  const doc = (await a.inject({ method: 'GET', url: '/docs/json' })).json() as {
    tags: { name: string }[];
    paths: Record<string, Record<string, { tags: string[]; responses: Record<string, { content: Record<string, { schema: { properties: Record<string, unknown> } }> }> }>>;
  };
  t.ok(doc.tags.some((tag) => tag.name === 'lti'));
  const get = doc.paths['/lti/jwks']?.get;
  t.strictSame(get?.tags, ['lti']);
  t.strictSame(Object.keys(get!.responses['200']!.content['application/json']!.schema.properties), ['keys']);
});
