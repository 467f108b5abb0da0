import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../plugins/config.js';
import { resolveSecret } from '../lib/secret.js';
import { testConfig } from './helper.js';

t.test('without FOLIO_SECRET a secret is generated into the data folder, private, and reused', async (t) => {
  const config = testConfig(t);
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
  const config = testConfig(t);
  writeFileSync(join(config.databaseUrl, '..', 'folio.secret'), 'short\n');
  t.throws(() => resolveSecret(config), ConfigError);
  t.throws(() => resolveSecret(config), { message: /shorter than 32 characters: delete it to have a new one generated, or set FOLIO_SECRET/ });
});
