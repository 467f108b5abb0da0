import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, servesHttps, settings } from '../lib/config.js';
import { folio, root } from './helper.js';

t.test('defaults apply when nothing is set', async (t) => {
  t.same(loadConfig({}), {
    host: '127.0.0.1',
    port: 3000,
    databaseUrl: './data/folio.db',
    databasePoolSize: 10,
    trustProxy: false,
    demo: true,
    corsMaxAge: 600,
    originRefreshMs: 500,
    sessionDays: 30,
    sessionMaxDays: 90,
    passwordLinkDays: 14,
    anonymousPerHour: 300,
    anonymousIdleDays: 1,
    passwordCost: 17,
    passwordConcurrency: 2,
    passwordQueue: 100,
    loginRatePerIp: 60,
    loginRatePerUser: 10,
    loginRatePerAccount: 100,
    joinRatePerIp: 120,
    joinRatePerUser: 10,
    pageStateMaxBytes: 4 * 1024 * 1024,
    historyPageMaxBytes: 2 * 1024 * 1024,
    quotaVersions: 20_000,
    quotaEvents: 200_000,
    quotaBytes: 200 * 1024 * 1024,
    requestTimeoutMs: 30000,
    headersTimeoutMs: 10000,
    shutdownGraceMs: 10000,
    backupEvery: '6h',
    backupKeep: 28,
    logLevel: 'info',
  });
});

t.test('FOLIO_* variables are read and converted, and flags override them', async (t) => {
  const config = loadConfig({ FOLIO_PORT: '8000', FOLIO_DEMO: '0', FOLIO_TRUST_PROXY: '1', FOLIO_HOST: '0.0.0.0' }, { port: 9000 });
  t.equal(config.port, 9000);
  t.equal(config.host, '0.0.0.0');
  t.equal(config.demo, false);
  t.equal(config.trustProxy, 1);
});

t.test('a bad value names the variable, its value and what is expected', async (t) => {
  const cases: [NodeJS.ProcessEnv, string][] = [
    [{ FOLIO_PORT: 'abc' }, 'FOLIO_PORT="abc" is invalid: expected an integer from 0 to 65535'],
    [{ FOLIO_PORT: '70000' }, 'FOLIO_PORT="70000" is invalid: expected an integer from 0 to 65535'],
    [{ FOLIO_DEMO: 'maybe' }, 'FOLIO_DEMO="maybe" is invalid: expected true/false (or 1/0)'],
    [{ FOLIO_LOG_LEVEL: 'loud' }, 'FOLIO_LOG_LEVEL="loud" is invalid: expected one of fatal, error, warn, info, debug, trace, silent'],
    [{ FOLIO_PUBLIC_ORIGIN: 'https://folio.example.edu/api' }, 'FOLIO_PUBLIC_ORIGIN="https://folio.example.edu/api" is invalid: expected an origin: scheme://host[:port], no path'],
    [{ FOLIO_TLS_CERT: 'cert.pem' }, 'FOLIO_TLS_CERT and FOLIO_TLS_KEY go together: set both to serve HTTPS, or neither'],
  ];
  for (const [env, message] of cases) t.throws(() => loadConfig(env), new ConfigError(message), message);
  t.throws(() => loadConfig({}, { port: 'x' }), { message: '--port="x" is invalid: expected an integer from 0 to 65535' });
});

t.test('integers are whole decimal numbers; optional settings left unset are absent', async (t) => {
  for (const port of ['1e3', '0x10', '4.5', '-1', '']) {
    if (port === '') t.equal(loadConfig({ FOLIO_PORT: port }).port, 3000, 'empty means unset');
    else t.throws(() => loadConfig({ FOLIO_PORT: port }), { message: `FOLIO_PORT="${port}" is invalid: expected an integer from 0 to 65535` }, port);
  }
  t.equal(loadConfig({ FOLIO_PORT: ' 8080 ' }).port, 8080);
  t.equal(loadConfig({}, { port: 8081 }).port, 8081, 'a number from a flag');
  const config = loadConfig({});
  for (const key of ['redisUrl', 'secret', 'tlsCert', 'tlsKey', 'publicOrigin']) t.notOk(key in config, key);
  t.equal(loadConfig({ FOLIO_REDIS_URL: 'redis://127.0.0.1:6379' }).redisUrl, 'redis://127.0.0.1:6379');
  t.throws(() => loadConfig({ FOLIO_REDIS_URL: 'http://x' }), { message: 'FOLIO_REDIS_URL="http://x" is invalid: expected a redis:// or rediss:// URL' });
});

t.test('folio serve with a bad setting stops with one line and exit code 2', async (t) => {
  const res = await folio(['serve'], { FOLIO_PORT: 'abc', FOLIO_DATABASE_URL: join(t.testdir(), 'x.db') });
  t.equal(res.code, 2);
  t.equal(res.stderr, 'folio: FOLIO_PORT="abc" is invalid: expected an integer from 0 to 65535\n');
});

t.test('.env.example lists every setting', async (t) => {
  const example = readFileSync(join(root, '.env.example'), 'utf8');
  for (const s of Object.values(settings)) t.match(example, new RegExp(`^#? ?${s.env}=`, 'm'), s.env);
});

t.test('a secret\'s value is never printed: a bad FOLIO_SECRET is described by its length', async (t) => {
  const secret = 'my-secret-value-too-short';
  for (const [env, flags, message] of [
    [{ FOLIO_SECRET: secret }, {}, `FOLIO_SECRET is invalid (its value is not shown: ${secret.length} characters): expected a string of at least 32 characters`],
    [{}, { secret }, `--secret is invalid (its value is not shown: ${secret.length} characters): expected a string of at least 32 characters`],
  ] as const) {
    const err = t.throws(() => loadConfig(env, flags)) as Error;
    t.equal(err.message, message);
    t.notMatch(err.message, secret);
    t.type(err, ConfigError);
  }
});

t.test('a password inside a bad URL setting is masked in the error', async (t) => {
  t.throws(() => loadConfig({ FOLIO_REDIS_URL: 'http://folio:s3cret-pass@cache.example:6379' }), {
    message: 'FOLIO_REDIS_URL="http://folio:***@cache.example:6379" is invalid: expected a redis:// or rediss:// URL',
  });
  t.throws(() => loadConfig({ FOLIO_PUBLIC_ORIGIN: 'https://ada:pw@folio.example.edu/api' }), {
    message: 'FOLIO_PUBLIC_ORIGIN="https://ada:***@folio.example.edu/api" is invalid: expected an origin: scheme://host[:port], no path',
  });
});

t.test('folio serve with a bad FOLIO_SECRET says so without printing it', async (t) => {
  const res = await folio(['serve'], { FOLIO_SECRET: 'hunter2-but-longer', FOLIO_DATABASE_URL: join(t.testdir(), 'x.db') });
  t.equal(res.code, 2);
  t.equal(res.stderr, 'folio: FOLIO_SECRET is invalid (its value is not shown: 18 characters): expected a string of at least 32 characters\n');
});

t.test('FOLIO_TRUST_PROXY is a hop count or a list of proxy addresses; true is refused with what to write instead', async (t) => {
  const cases: [string, unknown][] = [
    ['1', 1],
    [' 2 ', 2],
    ['0', false],
    ['false', false],
    ['off', false],
    ['127.0.0.1', '127.0.0.1'],
    ['127.0.0.1, 10.0.0.0/8 ,::1,fd00::/8', '127.0.0.1,10.0.0.0/8,::1,fd00::/8'],
    ['loopback,uniquelocal', 'loopback,uniquelocal'],
  ];
  for (const [value, expected] of cases) t.same(loadConfig({ FOLIO_TRUST_PROXY: value }).trustProxy, expected, value);
  t.equal(loadConfig({}, { trustProxy: '1' }).trustProxy, 1, 'from --trust-proxy');
  const refusal = (source: string, value: string) =>
    `${source}=${JSON.stringify(value)} is refused: trusting every proxy would let any client write its own address into X-Forwarded-For. ` +
    'Give the number of proxies in front of Folio (FOLIO_TRUST_PROXY=1 for one nginx or Caddy) or their addresses (e.g. FOLIO_TRUST_PROXY=127.0.0.1, or a CIDR such as 10.0.0.0/8)';
  for (const value of ['true', 'yes', 'TRUE']) t.throws(() => loadConfig({ FOLIO_TRUST_PROXY: value }), new ConfigError(refusal('FOLIO_TRUST_PROXY', value)), value);
  t.throws(() => loadConfig({}, { trustProxy: true }), { message: /^--trust-proxy=true is refused: / });
  for (const value of ['11', '-1', 'nginx', '10.0.0.0/33', '10.0.0.1/8/8', '300.1.1.1', '127.0.0.1,']) {
    t.throws(
      () => loadConfig({ FOLIO_TRUST_PROXY: value }),
      new ConfigError(
        `FOLIO_TRUST_PROXY=${JSON.stringify(value)} is invalid: expected false, how many proxies stand in front of Folio (1 for one), or their IP addresses/CIDRs, comma-separated (e.g. 127.0.0.1,10.0.0.0/8)`,
      ),
      value,
    );
  }
});

t.test('behind a proxy (a hop count or addresses) Folio serves HTTPS as far as cookies go; without one it does not', async (t) => {
  t.equal(servesHttps(loadConfig({ FOLIO_TRUST_PROXY: '1' })), true);
  t.equal(servesHttps(loadConfig({ FOLIO_TRUST_PROXY: '127.0.0.1' })), true);
  t.equal(servesHttps(loadConfig({ FOLIO_TRUST_PROXY: 'false' })), false);
  t.equal(servesHttps(loadConfig({})), false);
});

t.test('folio serve refuses FOLIO_TRUST_PROXY=true and --trust-proxy true at start, saying what to write', async (t) => {
  const database = { FOLIO_DATABASE_URL: join(t.testdir(), 'x.db') };
  const env = await folio(['serve'], { ...database, FOLIO_TRUST_PROXY: 'true' });
  t.equal(env.code, 2);
  t.match(env.stderr, /^folio: FOLIO_TRUST_PROXY="true" is refused: .*FOLIO_TRUST_PROXY=1 for one nginx or Caddy.*\n$/);
  const flag = await folio(['serve', '--trust-proxy', 'true'], database);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /^folio: --trust-proxy="true" is refused: /);
});

/** The modules a file imports at run time (type-only imports are erased), followed to the end within the project. */
function runtimeImports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const source = readFileSync(join(root, file), 'utf8');
  for (const [, spec] of source.matchAll(/^import (?!type )[^'"]*?['"](\.{1,2}\/[^'"]+)['"]/gm)) {
    runtimeImports(join(file, '..', spec!).replace(/\.js$/, '.ts'), seen);
  }
  return seen;
}

t.test('the configuration library and the secret load without the config plugin (no import cycle)', async (t) => {
  for (const file of ['lib/config.ts', 'lib/secret.ts']) {
    const reached = runtimeImports(file);
    t.notOk(reached.has('plugins/config.ts'), `${file} does not reach plugins/config.ts`);
    t.notOk([...reached].some((f) => f.startsWith('plugins/')), `${file} reaches no plugin`);
  }
  t.ok(runtimeImports('plugins/config.ts').has('lib/config.ts'), 'the plugin imports the library');
});

/** README's configuration table: each variable it names, with the default column's first `code` value (undefined for —). */
function readmeSettings(): Map<string, string | undefined> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Configuration\n'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| ---')));
  const rows = new Map<string, string | undefined>();
  for (const line of table.split('\n').filter((l) => l.startsWith('| `FOLIO_'))) {
    const [names, , fallback] = line.split(' | ');
    for (const [, name] of names!.matchAll(/`(FOLIO_[A-Z_]+)`/g)) rows.set(name!, /^`([^`]*)`/.exec(fallback!)?.[1]);
  }
  return rows;
}

/** A setting's default as README and .env.example write it. */
function shownDefault(rule: { type: string; default?: unknown }): string | undefined {
  if (rule.default === undefined) return undefined;
  if (rule.type === 'boolean') return rule.default ? '1' : '0';
  return String(rule.default);
}

t.test('README\'s configuration table names every setting, and only settings, with its default', async (t) => {
  const rows = readmeSettings();
  const all = Object.values(settings);
  t.same([...rows.keys()].sort(), all.map((s) => s.env).sort());
  for (const setting of all) {
    const shown = rows.get(setting.env);
    if (shown !== undefined && /^[\w./:-]+$/.test(shown)) t.equal(shown, shownDefault(setting.schema), setting.env);
  }
});

t.test('.env.example names every setting, and only settings, with its default where it sets one', async (t) => {
  const example = readFileSync(join(root, '.env.example'), 'utf8');
  const lines = [...example.matchAll(/^(#\s*)?(FOLIO_[A-Z_]+)=(.*)$/gm)];
  const all = Object.values(settings);
  t.same([...new Set(lines.map((l) => l[2]!))].sort(), all.map((s) => s.env).sort());
  for (const [, commented, name, value] of lines) {
    const setting = all.find((s) => s.env === name)!;
    if (!commented) t.equal(value, shownDefault(setting.schema), name!);
  }
});

t.test('every folio serve flag but --migrate and --help is a setting\'s flag', async (t) => {
  const res = await folio(['serve', '--help']);
  t.equal(res.code, 0);
  const flags = [...res.stdout.matchAll(/^\s+(?:-\w, )?--(?:no-)?([a-z-]+)/gm)].map((m) => m[1]!).filter((f) => f !== 'migrate' && f !== 'help');
  t.same(flags, ['host', 'port', 'tls-cert', 'tls-key', 'trust-proxy', 'demo', 'log-level']);
  for (const flag of flags) {
    const setting = Object.values(settings).find((s) => s.flag === flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()));
    t.ok(setting, `--${flag} is a setting's flag`);
    if (setting) t.match(res.stdout, setting.env, `--${flag}'s help names ${setting.env}`);
  }
});
