import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../lib/config.js';
import { resolveSecret } from '../lib/secret.js';
import { postgresTestUrl, testConfig } from './helper.js';

/** The secret file lives next to a SQLite database: these tests use one whatever database the suite runs on. */
const sqliteConfig = (t: Parameters<typeof testConfig>[0]) => testConfig(t, { databaseUrl: join(t.testdir(), 'folio.db'), secret: undefined });

t.test('without FOLIO_SECRET a secret is generated into the data folder, private, and reused', async (t) => {
  const config = sqliteConfig(t);
  const first = resolveSecret(config);
  t.ok(first.length >= 32);
  const file = join(config.databaseUrl, '..', 'folio.secret');
  t.equal(readFileSync(file, 'utf8').trim(), first);
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(resolveSecret(config), first);
});

t.test('FOLIO_SECRET wins over the kept one', async (t) => {
  const config = testConfig(t, { secret: 'x'.repeat(40) });
  t.equal(resolveSecret(config), 'x'.repeat(40));
});

t.test('a kept secret shorter than 32 characters is refused with what to do', async (t) => {
  const config = sqliteConfig(t);
  writeFileSync(join(config.databaseUrl, '..', 'folio.secret'), 'short\n');
  t.throws(() => resolveSecret(config), ConfigError);
  t.throws(() => resolveSecret(config), { message: /shorter than 32 characters: delete it to have a new one generated, or set FOLIO_SECRET/ });
});

t.test('with PostgreSQL, FOLIO_SECRET is required: every process must share it', async (t) => {
  const config = testConfig(t, { databaseUrl: `${postgresTestUrl}?schema=never_created`, secret: undefined });
  t.throws(() => resolveSecret(config), {
    name: 'ConfigError',
    message: 'FOLIO_SECRET is required with PostgreSQL: every Folio process on the database must sign cookies and key pseudonyms with the same secret (generate one with: openssl rand -base64 48)',
  });
});
