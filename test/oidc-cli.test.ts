import { sql } from 'drizzle-orm';
import { spawn } from 'node:child_process';
import t, { type Test } from 'tap';
import { openDatabase } from '../db/index.js';
import { applyMigrations } from '../db/migrate.js';
import { findProvider } from '../db/oidc.js';
import { openClientSecret } from '../lib/oidc.js';
import { startIdentityProvider } from '../scripts/oidc-provider.js';
import { folio, nodeCommand, root, testDatabaseUrl, testSecret } from './helper.js';

/** `folio auth providers add|list|remove` (the real command, built), against a real OpenID Provider for discovery. */

async function migrated(t: Test) {
  const url = testDatabaseUrl(t);
  const db = await openDatabase(url);
  t.teardown(() => db.close());
  await applyMigrations(db);
  return { db, env: { FOLIO_DATABASE_URL: url, FOLIO_SECRET: testSecret, FOLIO_PUBLIC_ORIGIN: 'https://folio.example.edu' } };
}

function withStdin(args: string[], env: Record<string, string>, input: string) {
  const [command, argv] = nodeCommand(`${root}/dist/cli/folio.js`, args);
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command, argv, { env: { ...process.env, FOLIO_LOG_LEVEL: 'silent', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

t.test('providers add discovers the issuer, stores the secret sealed (never printed) and prints the redirect URI; list shows it without the secret; remove removes it', async (t) => {
  const { db, env } = await migrated(t);
  const idp = await startIdentityProvider({ clients: [{ clientId: 'folio', clientSecret: 'top-secret-value', redirectUris: ['https://folio.example.edu/api/auth/oidc/uni/callback'] }] });
  t.teardown(idp.close);
  const add = await withStdin(['auth', 'providers', 'add', 'uni', '--issuer', idp.issuer, '--client-id', 'folio', '--client-secret-stdin', '--title', 'University login', '--allowed-domain', '@Uni.EDU', '--allowed-domain', 'staff.uni.edu'], env, 'top-secret-value\n');
  t.equal(add.code, 0, add.stderr);
  t.equal(add.stdout, `added identity provider uni (${idp.issuer}, client id folio)\nits redirect URI, to register at the provider: https://folio.example.edu/api/auth/oidc/uni/callback\n`);
  t.equal(add.stderr, `reading ${idp.issuer}'s OpenID configuration…\n`);
  t.notMatch(add.stdout + add.stderr, /top-secret-value/);
  const stored = (await findProvider(db, 'uni'))!;
  t.match(stored, { id: 'uni', issuer: idp.issuer, clientId: 'folio', title: 'University login', allowedDomains: ['uni.edu', 'staff.uni.edu'], createAccounts: true, metadata: { issuer: idp.issuer, authorization_endpoint: `${idp.issuer}/auth`, token_endpoint: `${idp.issuer}/token`, jwks_uri: `${idp.issuer}/jwks` } });
  t.notMatch(stored.clientSecret, /top-secret-value/);
  t.equal(openClientSecret(testSecret, 'uni', stored.clientSecret), 'top-secret-value');

  const list = await folio(['auth', 'providers', 'list', '--json'], env);
  t.equal(list.code, 0, list.stderr);
  t.match(JSON.parse(list.stdout), [{ id: 'uni', title: 'University login', issuer: idp.issuer, clientId: 'folio', allowedDomains: ['uni.edu', 'staff.uni.edu'], createAccounts: true }]);
  t.notMatch(list.stdout, /secret|v1\./i);
  const table = await folio(['auth', 'providers', 'list'], env);
  t.match(table.stdout, /^ID +TITLE +ISSUER +CLIENT ID +ALLOWED DOMAINS +NEW ACCOUNTS\nuni +University login +http:\/\/127\.0\.0\.1:\d+ +folio +uni\.edu,staff\.uni\.edu +yes\n$/);

  const again = await withStdin(['auth', 'providers', 'add', 'uni', '--issuer', idp.issuer, '--client-id', 'folio', '--client-secret-stdin'], env, 'x\n');
  t.equal(again.code, 1);
  t.match(again.stderr, /an identity provider "uni" is already registered/);

  const remove = await folio(['auth', 'providers', 'remove', 'uni'], env);
  t.equal(remove.code, 0, remove.stderr);
  t.equal(remove.stdout, 'removed identity provider uni\n');
  t.equal(Number((await db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM oidc_providers`))!.n), 0);
  const gone = await folio(['auth', 'providers', 'remove', 'uni'], env);
  t.equal(gone.code, 1);
  t.equal(gone.stderr, 'folio: there is no identity provider "uni" (see "folio auth providers list")\n');
});

t.test('providers add fails clearly, storing nothing: an unreachable issuer (1), plain http off loopback (2), no secret on stdin (2), a bad domain (2)', async (t) => {
  const { db, env } = await migrated(t);
  const unreachable = await withStdin(['auth', 'providers', 'add', 'uni', '--issuer', 'http://127.0.0.1:9/', '--client-id', 'folio', '--client-secret-stdin'], env, 's\n');
  t.equal(unreachable.code, 1);
  t.match(unreachable.stderr, /could not read http:\/\/127\.0\.0\.1:9\/\.well-known\/openid-configuration .*check the --issuer URL/);
  const http = await withStdin(['auth', 'providers', 'add', 'uni', '--issuer', 'http://idp.example.edu', '--client-id', 'folio', '--client-secret-stdin'], env, 's\n');
  t.equal(http.code, 2);
  t.match(http.stderr, /must be an https URL \(plain http only on 127\.0\.0\.1, ::1 or localhost/);
  const empty = await withStdin(['auth', 'providers', 'add', 'uni', '--issuer', 'https://idp.example.edu', '--client-id', 'folio', '--client-secret-stdin'], env, '');
  t.equal(empty.code, 2);
  t.match(empty.stderr, /the client secret on stdin must be 1-4096 characters/);
  const domain = await withStdin(['auth', 'providers', 'add', 'uni', '--issuer', 'https://idp.example.edu', '--client-id', 'folio', '--client-secret-stdin', '--allowed-domain', 'not a domain'], env, 's\n');
  t.equal(domain.code, 2);
  t.match(domain.stderr, /"not a domain" is not an email domain/);
  t.equal(Number((await db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM oidc_providers`))!.n), 0);
});

t.test('auth providers add, list and remove each have --help saying what they do', async (t) => {
  const add = await folio(['auth', 'providers', 'add', '--help']);
  t.equal(add.code, 0);
  t.match(add.stdout, /--client-secret-stdin/);
  t.match(add.stdout, /--allowed-domain <domain>/);
  t.match(add.stdout, /--link-only/);
  t.match(add.stdout, /\/api\/auth\/oidc\/ID\/callback and the scopes openid profile email/);
  t.match((await folio(['auth', 'providers', 'list', '--help'])).stdout, /--json/);
  t.match((await folio(['auth', 'providers', 'remove', '--help'])).stdout, /nobody signs in with it any more/);
});
