import { isIP } from 'node:net';

/**
 * What a setting accepts, with its default. Plain and checked here: every `folio` command loads the configuration,
 * and a schema library's modules would be most of its start-up (TypeBox's two: ~0.5 s of ~0.9 s).
 */
type Rule =
  | { type: 'integer'; minimum: number; maximum: number; default: number }
  | { type: 'boolean'; default: boolean }
  | { type: 'string'; minLength?: number; pattern?: RegExp; description?: string; default?: string; secret?: boolean }
  | { type: 'enum'; values: readonly string[]; default: string }
  | { type: 'proxies'; default: false };

const integer = (minimum: number, maximum: number, value: number) => ({ type: 'integer', minimum, maximum, default: value }) as const;
const boolean = (value: boolean) => ({ type: 'boolean', default: value }) as const;
/** A string, with a default or optional (then unset is `undefined`). */
const string = <D extends string | undefined = undefined>(rule: { minLength?: number; pattern?: RegExp; description?: string; default?: D; secret?: boolean } = {}) =>
  ({ type: 'string', ...rule }) as { type: 'string'; minLength?: number; pattern?: RegExp; description?: string; default: D; secret?: boolean };
const oneOf = <const V extends readonly string[]>(values: V, value: V[number]) => ({ type: 'enum', values, default: value }) as const;

/** Every setting Folio reads: its variable, its flag, its rule (with the default) and what it is for. */
export const settings = {
  host: { env: 'FOLIO_HOST', flag: 'host', schema: string({ minLength: 1, default: '127.0.0.1' }), describe: 'address to listen on' },
  port: { env: 'FOLIO_PORT', flag: 'port', schema: integer(0, 65535, 3000), describe: 'TCP port (0 picks a free one)' },
  databaseUrl: {
    env: 'FOLIO_DATABASE_URL',
    flag: 'database',
    schema: string({ minLength: 1, default: './data/folio.db' }),
    describe: 'SQLite file path, or postgres://user:password@host:port/database[?schema=name] for PostgreSQL',
  },
  databasePoolSize: {
    env: 'FOLIO_DATABASE_POOL_SIZE',
    flag: 'databasePoolSize',
    schema: integer(2, 1000, 10),
    describe: 'PostgreSQL: connections each process keeps open (at most)',
  },
  redisUrl: {
    env: 'FOLIO_REDIS_URL',
    flag: 'redisUrl',
    schema: string({ pattern: /^rediss?:\/\/\S+$/, description: 'a redis:// or rediss:// URL' }),
    describe: 'redis://host:port: keep rate-limit counters in Redis instead of the database (optional)',
  },
  secret: { env: 'FOLIO_SECRET', flag: 'secret', schema: string({ minLength: 32, secret: true }), describe: 'at least 32 characters; signs cookies and keys pseudonyms (generated into the data folder when unset)' },
  tlsCert: { env: 'FOLIO_TLS_CERT', flag: 'tlsCert', schema: string({ minLength: 1 }), describe: 'PEM certificate file: serve HTTPS directly' },
  tlsKey: { env: 'FOLIO_TLS_KEY', flag: 'tlsKey', schema: string({ minLength: 1 }), describe: 'PEM private key file for FOLIO_TLS_CERT' },
  publicOrigin: {
    env: 'FOLIO_PUBLIC_ORIGIN',
    flag: 'publicOrigin',
    schema: string({ pattern: /^https?:\/\/[^/?#\s]+$/, description: 'an origin: scheme://host[:port], no path' }),
    describe: 'the public origin students reach Folio at (e.g. https://folio.example.edu): the home page of xAPI actors and the start of set-password links (default: the request\'s origin; in the CLI the listen address)',
  },
  trustProxy: {
    env: 'FOLIO_TRUST_PROXY',
    flag: 'trustProxy',
    schema: { type: 'proxies', default: false } as const,
    describe: 'behind a TLS-terminating proxy: how many proxies (1 for one nginx/Caddy) or their addresses/CIDRs, comma-separated, whose X-Forwarded-* to trust (client IP, https); false: none',
  },
  demo: { env: 'FOLIO_DEMO', flag: 'demo', schema: boolean(true), describe: 'create the demo book when the database has no book' },
  corsMaxAge: { env: 'FOLIO_CORS_MAX_AGE', flag: 'corsMaxAge', schema: integer(0, 86400, 600), describe: 'seconds a browser may cache a preflight' },
  originRefreshMs: { env: 'FOLIO_ORIGIN_REFRESH_MS', flag: 'originRefreshMs', schema: integer(50, 60000, 500), describe: 'how often a server looks for changes to books (origins, tables of contents) made by other processes' },
  sessionDays: { env: 'FOLIO_SESSION_DAYS', flag: 'sessionDays', schema: integer(1, 400, 30), describe: 'days a session lasts without use (sliding)' },
  sessionMaxDays: {
    env: 'FOLIO_SESSION_MAX_DAYS',
    flag: 'sessionMaxDays',
    schema: integer(1, 3650, 90),
    describe: 'days a session lasts at most from its login, however often it is used (then log in again)',
  },
  passwordLinkDays: {
    env: 'FOLIO_PASSWORD_LINK_DAYS',
    flag: 'passwordLinkDays',
    schema: integer(1, 365, 14),
    describe: 'days a set-password link (for accounts made from a course roster) works, unused; one use ends it',
  },
  anonymousPerHour: {
    env: 'FOLIO_ANONYMOUS_PER_HOUR',
    flag: 'anonymousPerHour',
    schema: integer(1, 1000000, 300),
    describe: 'anonymous students (first saves without a login) one IP may start an hour (a classroom shares one)',
  },
  anonymousIdleDays: {
    env: 'FOLIO_ANONYMOUS_IDLE_DAYS',
    flag: 'anonymousIdleDays',
    schema: integer(1, 3650, 1),
    describe: 'anonymous students who saved nothing are removed after this many days without use',
  },
  passwordCost: {
    env: 'FOLIO_PASSWORD_COST',
    flag: 'passwordCost',
    schema: integer(10, 20, 17),
    describe: 'scrypt cost as log2(N) for new password hashes; 17 is the OWASP setting (lower only in tests)',
  },
  passwordConcurrency: {
    env: 'FOLIO_PASSWORD_CONCURRENCY',
    flag: 'passwordConcurrency',
    schema: integer(1, 64, 2),
    describe: 'password hashes computed at once (each takes 128 MiB at cost 17 and a libuv thread)',
  },
  passwordQueue: {
    env: 'FOLIO_PASSWORD_QUEUE',
    flag: 'passwordQueue',
    schema: integer(0, 100000, 100),
    describe: 'password hashes that may wait for one of those; past that a login gets 503 with Retry-After',
  },
  loginRatePerIp: { env: 'FOLIO_LOGIN_RATE_PER_IP', flag: 'loginRatePerIp', schema: integer(1, 100000, 60), describe: 'login/register/password-change attempts a minute from one IP (a classroom shares one)' },
  loginRatePerUser: {
    env: 'FOLIO_LOGIN_RATE_PER_USER',
    flag: 'loginRatePerUser',
    schema: integer(1, 100000, 10),
    describe: 'login/register/password-change attempts a minute for one username from one IP',
  },
  loginRatePerAccount: {
    env: 'FOLIO_LOGIN_RATE_PER_ACCOUNT',
    flag: 'loginRatePerAccount',
    schema: integer(1, 100000, 100),
    describe: 'login/register/password-change attempts a minute for one username from all IPs together (caps guessing from many addresses)',
  },
  joinRatePerIp: {
    env: 'FOLIO_JOIN_RATE_PER_IP',
    flag: 'joinRatePerIp',
    schema: integer(1, 100000, 120),
    describe: 'course join attempts (POST /api/courses/join, right or wrong code) a minute from one IP (a lecture hall shares one)',
  },
  joinRatePerUser: {
    env: 'FOLIO_JOIN_RATE_PER_USER',
    flag: 'joinRatePerUser',
    schema: integer(1, 100000, 10),
    describe: 'course join attempts a minute by one user (anonymous students included)',
  },
  pageStateMaxBytes: {
    env: 'FOLIO_PAGE_STATE_MAX_BYTES',
    flag: 'pageStateMaxBytes',
    schema: integer(64 * 1024, 1024 ** 3, 4 * 1024 ** 2),
    describe: 'the most a page state (a student\'s latest programs and answers on one page) may hold, in bytes; a save past it is a 413 page_full',
  },
  historyPageMaxBytes: {
    env: 'FOLIO_HISTORY_PAGE_MAX_BYTES',
    flag: 'historyPageMaxBytes',
    schema: integer(64 * 1024, 1024 ** 3, 2 * 1024 ** 2),
    describe: 'a page of program history stops before the version whose code would pass this many bytes (always at least one version)',
  },
  quotaVersions: {
    env: 'FOLIO_QUOTA_VERSIONS',
    flag: 'quotaVersions',
    schema: integer(1, 1_000_000_000, 20_000),
    describe: 'program versions and answer attempts one user may store (then 413 quota_exceeded)',
  },
  quotaEvents: { env: 'FOLIO_QUOTA_EVENTS', flag: 'quotaEvents', schema: integer(1, 1_000_000_000, 200_000), describe: 'research events one user may store (then 413 quota_exceeded)' },
  quotaBytes: {
    env: 'FOLIO_QUOTA_BYTES',
    flag: 'quotaBytes',
    schema: integer(1024 ** 2, 2 ** 50, 200 * 1024 ** 2),
    describe: 'bytes of code, answers and event data one user may store (then 413 quota_exceeded)',
  },
  requestTimeoutMs: {
    env: 'FOLIO_REQUEST_TIMEOUT_MS',
    flag: 'requestTimeoutMs',
    schema: integer(1000, 600000, 30000),
    describe: 'a request (headers and body) must arrive within this time, else 408 and the connection is closed',
  },
  headersTimeoutMs: {
    env: 'FOLIO_HEADERS_TIMEOUT_MS',
    flag: 'headersTimeoutMs',
    schema: integer(500, 600000, 10000),
    describe: 'the request headers must arrive within this time (slow-loris protection)',
  },
  shutdownGraceMs: { env: 'FOLIO_SHUTDOWN_GRACE_MS', flag: 'shutdownGraceMs', schema: integer(0, 600000, 10000), describe: 'how long in-flight requests may finish after SIGTERM' },
  backupDir: {
    env: 'FOLIO_BACKUP_DIR',
    flag: 'backupDir',
    schema: string({ minLength: 1 }),
    describe: 'SQLite: a folder for periodic backups made by the server (created if missing; off when unset)',
  },
  backupEvery: {
    env: 'FOLIO_BACKUP_EVERY',
    flag: 'backupEvery',
    schema: string({ pattern: /^[1-9]\d{0,5}[smhd]?$/, description: 'a duration: minutes (90), or with a unit (30s, 45m, 6h, 1d)', default: '6h' }),
    describe: 'how often the server backs up to FOLIO_BACKUP_DIR: minutes, or 30s, 45m, 6h, 1d',
  },
  backupKeep: { env: 'FOLIO_BACKUP_KEEP', flag: 'backupKeep', schema: integer(1, 100000, 28), describe: 'periodic backups kept in FOLIO_BACKUP_DIR: the newest N' },
  logLevel: {
    env: 'FOLIO_LOG_LEVEL',
    flag: 'logLevel',
    schema: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
    describe: 'fatal, error, warn, info, debug, trace or silent',
  },
} satisfies Record<string, { env: string; flag: string; schema: Rule; describe: string }>;

type Settings = typeof settings;
type ValueOf<R> = R extends { type: 'integer' }
  ? number
  : R extends { type: 'boolean' }
    ? boolean
    : R extends { type: 'enum'; values: readonly (infer V)[] }
      ? V
      : R extends { type: 'proxies' }
        ? TrustedProxies
        : string;
/** FOLIO_TRUST_PROXY: off, how many proxies stand in front of Folio, or their addresses/CIDRs (comma-separated). */
export type TrustedProxies = false | number | string;
/** The configuration: every setting's value, `undefined` for an optional string left unset. */
export type Config = {
  [K in keyof Settings]: Settings[K]['schema']['default'] extends undefined ? ValueOf<Settings[K]['schema']> | undefined : ValueOf<Settings[K]['schema']>;
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Human words for what a setting accepts. */
function expected(rule: Rule): string {
  if (rule.type === 'enum') return `one of ${rule.values.join(', ')}`;
  if (rule.type === 'integer') return `an integer from ${rule.minimum} to ${rule.maximum}`;
  if (rule.type === 'boolean') return 'true/false (or 1/0)';
  if (rule.type === 'proxies') return 'false, how many proxies stand in front of Folio (1 for one), or their IP addresses/CIDRs, comma-separated (e.g. 127.0.0.1,10.0.0.0/8)';
  if (rule.pattern && rule.description) return rule.description;
  if (rule.minLength !== undefined && rule.minLength > 1) return `a string of at least ${rule.minLength} characters`;
  return 'a non-empty string';
}

/** A value as the setting takes it (numbers and true/false words from text), or undefined when it is not one. */
function accept(rule: Rule, value: unknown): unknown {
  switch (rule.type) {
    case 'integer': {
      const n = typeof value === 'string' && /^[+-]?\d+$/.test(value.trim()) ? Number(value) : value;
      return typeof n === 'number' && Number.isInteger(n) && n >= rule.minimum && n <= rule.maximum ? n : undefined;
    }
    case 'boolean': {
      const b = fromBooleanWord(value);
      return typeof b === 'boolean' ? b : undefined;
    }
    case 'enum':
      return typeof value === 'string' && rule.values.includes(value) ? value : undefined;
    case 'string':
      return typeof value === 'string' && value.length >= (rule.minLength ?? 0) && (!rule.pattern || rule.pattern.test(value)) ? value : undefined;
    case 'proxies':
      return acceptProxies(value);
  }
}

/** proxy-addr's names for address ranges, which Fastify's trustProxy accepts in its list. */
const namedRanges = ['loopback', 'linklocal', 'uniquelocal'];

function isAddressOrRange(entry: string): boolean {
  if (namedRanges.includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** A hop count (1-10), a list of addresses/ranges, or false; `true` (every hop) is not a value: see invalid(). */
function acceptProxies(value: unknown): TrustedProxies | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= 10 ? value || false : undefined;
  if (typeof value !== 'string') return undefined;
  const word = fromBooleanWord(value);
  if (word === false) return false;
  if (word === true && value.trim() !== '1') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return acceptProxies(Number(value));
  const entries = value.split(',').map((entry) => entry.trim());
  return entries.every(isAddressOrRange) ? entries.join(',') : undefined;
}

/** The one line a bad value gets: what was given (never a secret's value) and what is expected. */
function invalid(source: string, given: unknown, rule: Rule): string {
  if (rule.type === 'string' && rule.secret) {
    const length = typeof given === 'string' ? `${given.length} characters` : typeof given;
    return `${source} is invalid (its value is not shown: ${length}): expected ${expected(rule)}`;
  }
  if (rule.type === 'proxies' && fromBooleanWord(given) === true) {
    return (
      `${source}=${JSON.stringify(given)} is refused: trusting every proxy would let any client write its own address into X-Forwarded-For. ` +
      'Give the number of proxies in front of Folio (FOLIO_TRUST_PROXY=1 for one nginx or Caddy) or their addresses (e.g. FOLIO_TRUST_PROXY=127.0.0.1, or a CIDR such as 10.0.0.0/8)'
    );
  }
  return `${source}=${JSON.stringify(withoutPassword(given))} is invalid: expected ${expected(rule)}`;
}

/** A URL's password masked (`redis://user:***@host`), so an error about the URL does not print it. */
function withoutPassword(given: unknown): unknown {
  return typeof given === 'string' ? given.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:)[^/?#@]*@/i, '$1***@') : given;
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
  const config: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(settings) as [string, (typeof settings)[keyof Settings]][]) {
    const flag = flags[s.flag];
    const [given, source] =
      flag !== undefined ? [flag, `--${s.flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`] : env[s.env] !== undefined && env[s.env] !== '' ? [env[s.env], s.env] : [undefined, s.env];
    if (given === undefined) {
      if (s.schema.default !== undefined) config[key] = s.schema.default;
      continue;
    }
    const value = accept(s.schema, given);
    if (value === undefined) throw new ConfigError(invalid(source, given, s.schema));
    config[key] = value;
  }
  if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) {
    throw new ConfigError('FOLIO_TLS_CERT and FOLIO_TLS_KEY go together: set both to serve HTTPS, or neither');
  }
  return config as Config;
}

/**
 * The origin people reach Folio at, for links Folio prints (set-password links, xAPI home pages): FOLIO_PUBLIC_ORIGIN,
 * else the address it listens on (http, or https with FOLIO_TLS_CERT).
 */
export function publicOriginOf(config: Config): string {
  if (config.publicOrigin) return config.publicOrigin;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  return `${config.tlsCert ? 'https' : 'http'}://${host}:${config.port}`;
}

/** Whether browsers reach this server over HTTPS (directly or through a TLS-terminating proxy). */
export function servesHttps(config: Config): boolean {
  return Boolean(config.tlsCert) || config.trustProxy !== false;
}

/**
 * Fastify's trustProxy for FOLIO_TRUST_PROXY: the addresses as they are; a hop count as a function trusting that many
 * hops from the socket (Fastify 5.12 trusts nothing for a plain number: it cannot check who the nearest peer is).
 */
export function trustedProxies(config: Config): false | string | ((address: string, hop: number) => boolean) {
  const { trustProxy } = config;
  if (typeof trustProxy === 'number') return (_address, hop) => hop < trustProxy;
  return trustProxy;
}
