import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, settings } from '../plugins/config.js';
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
    passwordCost: 17,
    loginRatePerIp: 60,
    loginRatePerUser: 10,
    pageStateMaxBytes: 4 * 1024 * 1024,
    historyPageMaxBytes: 2 * 1024 * 1024,
    quotaVersions: 20_000,
    quotaEvents: 200_000,
    quotaBytes: 200 * 1024 * 1024,
    requestTimeoutMs: 30000,
    headersTimeoutMs: 10000,
    shutdownGraceMs: 10000,
    logLevel: 'info',
  });
});

t.test('FOLIO_* variables are read and converted, and flags override them', async (t) => {
  const config = loadConfig({ FOLIO_PORT: '8000', FOLIO_DEMO: '0', FOLIO_TRUST_PROXY: 'true', FOLIO_HOST: '0.0.0.0' }, { port: 9000 });
  t.equal(config.port, 9000);
  t.equal(config.host, '0.0.0.0');
  t.equal(config.demo, false);
  t.equal(config.trustProxy, true);
});

t.test('a bad value names the variable, its value and what is expected', async (t) => {
  const cases: [NodeJS.ProcessEnv, string][] = [
    [{ FOLIO_PORT: 'abc' }, 'FOLIO_PORT="abc" is invalid: expected an integer from 0 to 65535'],
    [{ FOLIO_PORT: '70000' }, 'FOLIO_PORT="70000" is invalid: expected an integer from 0 to 65535'],
    [{ FOLIO_DEMO: 'maybe' }, 'FOLIO_DEMO="maybe" is invalid: expected true/false (or 1/0)'],
    [{ FOLIO_LOG_LEVEL: 'loud' }, 'FOLIO_LOG_LEVEL="loud" is invalid: expected one of fatal, error, warn, info, debug, trace, silent'],
    [{ FOLIO_SECRET: 'short' }, 'FOLIO_SECRET="short" is invalid: expected a string of at least 32 characters'],
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
