import { sql } from 'drizzle-orm';
import t, { type Test } from 'tap';
import { openDatabase, type Database } from '../db/index.js';
import { applyMigrations } from '../db/migrate.js';
import { addPlatform, findPlatform, listPlatforms, LtiPlatformError, LtiPlatformExistsError, removePlatform, type NewLtiPlatform } from '../db/lti.js';
import { folio, testDatabaseUrl, testSecret } from './helper.js';

/** The LTI platform registry: db/lti.ts and `folio lti platforms …`. */

const canvas: NewLtiPlatform = {
  issuer: 'https://canvas.instructure.com',
  clientId: '10000000000001',
  authUrl: 'https://sso.canvaslms.com/api/lti/authorize_redirect',
  tokenUrl: 'https://sso.canvaslms.com/login/oauth2/token',
  jwksUrl: 'https://sso.canvaslms.com/api/lti/security/jwks',
  deployments: ['1:abc', '2:def'],
};

async function migrated(t: Test): Promise<{ db: Database; env: Record<string, string> }> {
  const url = testDatabaseUrl(t);
  const db = await openDatabase(url);
  t.teardown(() => db.close());
  await applyMigrations(db);
  return { db, env: { FOLIO_DATABASE_URL: url, FOLIO_SECRET: testSecret } };
}

const addArgs = (p: NewLtiPlatform) => ['lti', 'platforms', 'add', '--issuer', p.issuer, '--client-id', p.clientId, '--auth-url', p.authUrl, '--token-url', p.tokenUrl, '--jwks-url', p.jwksUrl, ...p.deployments.flatMap((d) => ['--deployment', d])];

t.test('addPlatform stores the platform with its deployments as a JSON array; listPlatforms and findPlatform give it back', async (t) => {
  const { db } = await migrated(t);
  const added = await addPlatform(db, canvas, 1_790_000_000_000);
  t.strictSame(added, { ...canvas, createdAt: 1_790_000_000_000 });
  const stored = await db.all<Record<string, unknown>>(sql`SELECT issuer, client_id, auth_url, token_url, jwks_url, deployments, created_at FROM lti_platforms`);
  t.strictSame(stored.map((r) => ({ ...r, created_at: Number(r.created_at) })), [
    { issuer: canvas.issuer, client_id: canvas.clientId, auth_url: canvas.authUrl, token_url: canvas.tokenUrl, jwks_url: canvas.jwksUrl, deployments: '["1:abc","2:def"]', created_at: 1_790_000_000_000 },
  ]);
  t.strictSame(await listPlatforms(db), [added]);
  t.strictSame(await findPlatform(db, canvas.issuer, canvas.clientId), added);
  t.equal(await findPlatform(db, canvas.issuer, 'another client'), undefined);
});

t.test('one issuer may be registered with several client ids, but the same issuer and client id only once', async (t) => {
  const { db } = await migrated(t);
  await addPlatform(db, canvas);
  await addPlatform(db, { ...canvas, clientId: '10000000000002', deployments: ['3'] });
  await t.rejects(addPlatform(db, { ...canvas, deployments: ['other'] }), new LtiPlatformExistsError(`a platform with issuer ${canvas.issuer} and client id ${canvas.clientId} is already registered`));
  t.strictSame(
    (await listPlatforms(db)).map((p) => [p.clientId, p.deployments]),
    [
      [canvas.clientId, canvas.deployments],
      ['10000000000002', ['3']],
    ],
  );
});

t.test('platform URLs must be https, except http on 127.0.0.1, ::1 and localhost; nothing is stored for a refused one', async (t) => {
  const { db } = await migrated(t);
  for (const field of ['issuer', 'authUrl', 'tokenUrl', 'jwksUrl'] as const) {
    const option = `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    for (const bad of ['http://lms.example.edu/x', 'ftp://lms.example.edu/x', 'lms.example.edu/x', 'https://user:pw@lms.example.edu/x', 'https://lms.example.edu/x#frag', 'http://127.0.0.2/x']) {
      const error = await addPlatform(db, { ...canvas, [field]: bad }).catch((err: unknown) => err);
      t.ok(error instanceof LtiPlatformError, `${field} ${bad} refused`);
      t.equal((error as LtiPlatformError).field, option);
      t.match((error as Error).message, `${option} "${bad}"`);
    }
  }
  t.strictSame(await listPlatforms(db), []);
  for (const [i, host] of ['127.0.0.1:8001', '[::1]:8002', 'localhost:8003'].entries()) {
    const local = `http://${host}`;
    await addPlatform(db, { issuer: local, clientId: `c${i}`, authUrl: `${local}/auth`, tokenUrl: `${local}/token`, jwksUrl: `${local}/jwks`, deployments: ['d'] });
  }
  t.equal((await listPlatforms(db)).length, 3);
});

t.test('a platform needs at least one deployment and a client id; repeated deployments are kept once', async (t) => {
  const { db } = await migrated(t);
  await t.rejects(addPlatform(db, { ...canvas, deployments: [] }), { name: 'LtiPlatformError', field: '--deployment', message: /at least one --deployment/ });
  await t.rejects(addPlatform(db, { ...canvas, deployments: [''] }), { name: 'LtiPlatformError', field: '--deployment' });
  await t.rejects(addPlatform(db, { ...canvas, clientId: '' }), { name: 'LtiPlatformError', field: '--client-id' });
  await t.rejects(addPlatform(db, { ...canvas, clientId: ' padded ' }), { name: 'LtiPlatformError', field: '--client-id' });
  t.strictSame((await addPlatform(db, { ...canvas, deployments: ['a', 'b', 'a'] })).deployments, ['a', 'b']);
});

t.test('removePlatform removes the one issuer and client id, and says false when there is none', async (t) => {
  const { db } = await migrated(t);
  await addPlatform(db, canvas);
  await addPlatform(db, { ...canvas, clientId: 'other' });
  t.equal(await removePlatform(db, canvas.issuer, canvas.clientId), true);
  t.equal(await removePlatform(db, canvas.issuer, canvas.clientId), false);
  t.strictSame((await listPlatforms(db)).map((p) => p.clientId), ['other']);
});

t.test('folio lti platforms add registers a platform and says so; list prints it as a table and as JSON', async (t) => {
  const { db, env } = await migrated(t);
  const empty = await folio(['lti', 'platforms', 'list'], env);
  t.strictSame(empty, { code: 0, stdout: 'no LTI platforms yet: register one with "folio lti platforms add" (see its --help)\n', stderr: '' });
  const added = await folio(addArgs(canvas), { ...env, FOLIO_LOG_LEVEL: 'info' });
  t.equal(added.code, 0, added.stderr);
  t.equal(added.stdout, `added LTI platform ${canvas.issuer} (client id ${canvas.clientId}) with deployment(s) 1:abc, 2:def\n`);
  t.match(added.stderr, /"event":"lti_platform_added".*"issuer":"https:\/\/canvas.instructure.com","clientId":"10000000000001","deployments":\["1:abc","2:def"\]/);
  const [stored] = await listPlatforms(db);
  t.match(stored, canvas);

  const listed = await folio(['lti', 'platforms', 'list'], env);
  t.equal(listed.code, 0);
  t.equal(
    listed.stdout,
    `${'ISSUER'.padEnd(canvas.issuer.length)}  CLIENT ID       DEPLOYMENTS  ${'AUTH URL'.padEnd(canvas.authUrl.length)}  ${'TOKEN URL'.padEnd(canvas.tokenUrl.length)}  JWKS URL\n` +
      `${canvas.issuer}  ${canvas.clientId}  1:abc,2:def  ${canvas.authUrl}  ${canvas.tokenUrl}  ${canvas.jwksUrl}\n`,
  );
  const json = await folio(['lti', 'platforms', 'list', '--json'], env);
  t.strictSame(JSON.parse(json.stdout), [{ ...canvas, createdAt: new Date(stored!.createdAt).toISOString() }]);
});

t.test('folio lti platforms add exits 2 for a bad URL or no deployment, 1 for a registered issuer and client id', async (t) => {
  const { db, env } = await migrated(t);
  const http = await folio(addArgs({ ...canvas, jwksUrl: 'http://lms.example.edu/jwks' }), env);
  t.strictSame(http, { code: 2, stdout: '', stderr: 'folio: --jwks-url "http://lms.example.edu/jwks" must be an https URL (plain http only on 127.0.0.1, ::1 or localhost, for development)\n' });
  const none = await folio(addArgs({ ...canvas, deployments: [] }), env);
  t.strictSame(none, { code: 2, stdout: '', stderr: 'folio: a platform needs at least one --deployment (the deployment id the LMS shows for Folio)\n' });
  t.strictSame(await listPlatforms(db), []);
  t.equal((await folio(addArgs(canvas), env)).code, 0);
  const again = await folio(addArgs(canvas), env);
  t.strictSame(again, { code: 1, stdout: '', stderr: `folio: a platform with issuer ${canvas.issuer} and client id ${canvas.clientId} is already registered (see "folio lti platforms list")\n` });
});

t.test('folio lti platforms remove removes a registration; an unknown one exits 1', async (t) => {
  const { db, env } = await migrated(t);
  await addPlatform(db, canvas);
  const removed = await folio(['lti', 'platforms', 'remove', canvas.issuer, '--client-id', canvas.clientId], env);
  t.equal(removed.code, 0, removed.stderr);
  t.equal(removed.stdout, `removed LTI platform ${canvas.issuer} (client id ${canvas.clientId})\n`);
  t.strictSame(await listPlatforms(db), []);
  const unknown = await folio(['lti', 'platforms', 'remove', canvas.issuer, '--client-id', canvas.clientId], env);
  t.strictSame(unknown, { code: 1, stdout: '', stderr: `folio: no LTI platform has issuer ${canvas.issuer} and client id ${canvas.clientId} (see "folio lti platforms list")\n` });
  const usage = await folio(['lti', 'platforms', 'remove', canvas.issuer], env);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /required option '--client-id <id>' not specified/);
});
