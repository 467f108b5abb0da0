import fp from 'fastify-plugin';
import Type, { type Static, type TSchema } from 'typebox';
import Value from 'typebox/value';
import { resolveSecret } from '../lib/secret.js';

/** Every setting Folio reads: its variable, its flag, its schema (with the default) and what it is for. */
export const settings = {
  host: { env: 'FOLIO_HOST', flag: 'host', schema: Type.String({ minLength: 1, default: '127.0.0.1' }), describe: 'address to listen on' },
  port: { env: 'FOLIO_PORT', flag: 'port', schema: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }), describe: 'TCP port (0 picks a free one)' },
  databaseUrl: {
    env: 'FOLIO_DATABASE_URL',
    flag: 'database',
    schema: Type.String({ minLength: 1, default: './data/folio.db' }),
    describe: 'SQLite file path, or postgres://user:password@host:port/database[?schema=name] for PostgreSQL',
  },
  databasePoolSize: {
    env: 'FOLIO_DATABASE_POOL_SIZE',
    flag: 'databasePoolSize',
    schema: Type.Integer({ minimum: 2, maximum: 1000, default: 10 }),
    describe: 'PostgreSQL: connections each process keeps open (at most)',
  },
  redisUrl: {
    env: 'FOLIO_REDIS_URL',
    flag: 'redisUrl',
    schema: Type.Optional(Type.String({ pattern: '^rediss?://\\S+$', description: 'a redis:// or rediss:// URL' })),
    describe: 'redis://host:port: keep rate-limit counters in Redis instead of the database (optional)',
  },
  secret: { env: 'FOLIO_SECRET', flag: 'secret', schema: Type.Optional(Type.String({ minLength: 32 })), describe: 'at least 32 characters; signs cookies and keys pseudonyms (generated into the data folder when unset)' },
  tlsCert: { env: 'FOLIO_TLS_CERT', flag: 'tlsCert', schema: Type.Optional(Type.String({ minLength: 1 })), describe: 'PEM certificate file: serve HTTPS directly' },
  tlsKey: { env: 'FOLIO_TLS_KEY', flag: 'tlsKey', schema: Type.Optional(Type.String({ minLength: 1 })), describe: 'PEM private key file for FOLIO_TLS_CERT' },
  publicOrigin: {
    env: 'FOLIO_PUBLIC_ORIGIN',
    flag: 'publicOrigin',
    schema: Type.Optional(Type.String({ pattern: '^https?://[^/?#\\s]+$', description: 'an origin: scheme://host[:port], no path' })),
    describe: 'the public origin students reach Folio at (e.g. https://folio.example.edu): the home page of xAPI actors (default: the request\'s origin)',
  },
  trustProxy: { env: 'FOLIO_TRUST_PROXY', flag: 'trustProxy', schema: Type.Boolean({ default: false }), describe: 'behind a TLS-terminating proxy: trust X-Forwarded-* (client IP, https)' },
  demo: { env: 'FOLIO_DEMO', flag: 'demo', schema: Type.Boolean({ default: true }), describe: 'create the demo book when the database has no book' },
  corsMaxAge: { env: 'FOLIO_CORS_MAX_AGE', flag: 'corsMaxAge', schema: Type.Integer({ minimum: 0, maximum: 86400, default: 600 }), describe: 'seconds a browser may cache a preflight' },
  originRefreshMs: { env: 'FOLIO_ORIGIN_REFRESH_MS', flag: 'originRefreshMs', schema: Type.Integer({ minimum: 50, maximum: 60000, default: 500 }), describe: 'how often a server looks for origin changes made by other processes' },
  sessionDays: { env: 'FOLIO_SESSION_DAYS', flag: 'sessionDays', schema: Type.Integer({ minimum: 1, maximum: 400, default: 30 }), describe: 'days a session lasts without use (sliding)' },
  passwordCost: {
    env: 'FOLIO_PASSWORD_COST',
    flag: 'passwordCost',
    schema: Type.Integer({ minimum: 10, maximum: 20, default: 17 }),
    describe: 'scrypt cost as log2(N) for new password hashes; 17 is the OWASP setting (lower only in tests)',
  },
  loginRatePerIp: { env: 'FOLIO_LOGIN_RATE_PER_IP', flag: 'loginRatePerIp', schema: Type.Integer({ minimum: 1, maximum: 100000, default: 60 }), describe: 'login/register attempts a minute from one IP (a classroom shares one)' },
  loginRatePerUser: { env: 'FOLIO_LOGIN_RATE_PER_USER', flag: 'loginRatePerUser', schema: Type.Integer({ minimum: 1, maximum: 100000, default: 10 }), describe: 'login/register attempts a minute for one username' },
  requestTimeoutMs: {
    env: 'FOLIO_REQUEST_TIMEOUT_MS',
    flag: 'requestTimeoutMs',
    schema: Type.Integer({ minimum: 1000, maximum: 600000, default: 30000 }),
    describe: 'a request (headers and body) must arrive within this time, else 408 and the connection is closed',
  },
  headersTimeoutMs: {
    env: 'FOLIO_HEADERS_TIMEOUT_MS',
    flag: 'headersTimeoutMs',
    schema: Type.Integer({ minimum: 500, maximum: 600000, default: 10000 }),
    describe: 'the request headers must arrive within this time (slow-loris protection)',
  },
  shutdownGraceMs: { env: 'FOLIO_SHUTDOWN_GRACE_MS', flag: 'shutdownGraceMs', schema: Type.Integer({ minimum: 0, maximum: 600000, default: 10000 }), describe: 'how long in-flight requests may finish after SIGTERM' },
  logLevel: {
    env: 'FOLIO_LOG_LEVEL',
    flag: 'logLevel',
    schema: Type.Union(
      [Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')],
      { default: 'info' },
    ),
    describe: 'fatal, error, warn, info, debug, trace or silent',
  },
} satisfies Record<string, { env: string; flag: string; schema: TSchema; describe: string }>;

type Settings = typeof settings;
const ConfigSchema = Type.Object(
  Object.fromEntries(Object.entries(settings).map(([key, s]) => [key, s.schema])) as { [K in keyof Settings]: Settings[K]['schema'] },
  { additionalProperties: false },
);
export type Config = Static<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Human words for what a setting's schema expects. */
function expected(schema: TSchema): string {
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.anyOf)) return `one of ${(s.anyOf as { const: string }[]).map((x) => x.const).join(', ')}`;
  if (s.type === 'integer') return `an integer from ${s.minimum} to ${s.maximum}`;
  if (s.type === 'boolean') return 'true/false (or 1/0)';
  if (s.type === 'string' && typeof s.pattern === 'string' && typeof s.description === 'string') return s.description;
  if (s.type === 'string' && typeof s.minLength === 'number' && s.minLength > 1) return `a string of at least ${s.minLength} characters`;
  return 'a non-empty string';
}

function fromBooleanWord(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return value;
}

/**
 * Builds the configuration from FOLIO_* variables, overridden by CLI flags (already parsed, keyed by
 * the setting's `flag`), applying defaults. A bad value throws a ConfigError naming the variable, its value and
 * what is expected.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, flags: Record<string, unknown> = {}): Config {
  const raw: Record<string, unknown> = {};
  const source: Record<string, string> = {};
  for (const [key, s] of Object.entries(settings)) {
    const flag = flags[s.flag];
    if (flag !== undefined) {
      raw[key] = flag;
      source[key] = `--${s.flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    } else if (env[s.env] !== undefined && env[s.env] !== '') {
      raw[key] = env[s.env];
      source[key] = s.env;
    }
    if ((s.schema as { type?: string }).type === 'boolean') raw[key] = fromBooleanWord(raw[key]);
  }
  const given = { ...raw };
  const value = Value.Convert(ConfigSchema, Value.Default(ConfigSchema, raw)) as Record<string, unknown>;
  for (const [key, s] of Object.entries(settings)) {
    if (value[key] === undefined) continue;
    if (!Value.Check(s.schema, value[key])) {
      const name = source[key] ?? s.env;
      throw new ConfigError(`${name}=${JSON.stringify(given[key])} is invalid: expected ${expected(s.schema)}`);
    }
  }
  if (Boolean(value.tlsCert) !== Boolean(value.tlsKey)) {
    throw new ConfigError('FOLIO_TLS_CERT and FOLIO_TLS_KEY go together: set both to serve HTTPS, or neither');
  }
  return value as Config;
}

/** Whether browsers reach this server over HTTPS (directly or through a TLS-terminating proxy). */
export function servesHttps(config: Config): boolean {
  return Boolean(config.tlsCert) || config.trustProxy;
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    /** FOLIO_SECRET, or the one generated and kept in the data folder. */
    secret: string;
  }
}

export default fp(
  async function configPlugin(app, opts: { config: Config }) {
    app.decorate('config', opts.config);
    app.decorate('secret', resolveSecret(opts.config));
  },
  { name: 'folio-config', fastify: '5.x' },
);
