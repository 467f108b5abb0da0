import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isPostgresUrl } from '../db/postgres-url.js';
import type { Config } from './config.js';
import { ConfigError } from './config.js';

/** Where Folio keeps files of its own: the SQLite file's folder, or ./data otherwise. */
export function dataDir(config: Config): string {
  const url = config.databaseUrl.replace(/^sqlite:/, '');
  if (isPostgresUrl(url) || url === ':memory:') return resolve('data');
  return dirname(resolve(url));
}

/**
 * The server secret: FOLIO_SECRET, else (SQLite only) the one kept in the data folder, else a new one written
 * there (readable by this user only) so that sessions and pseudonyms survive restarts. PostgreSQL means
 * several processes, which must share one secret: FOLIO_SECRET is required.
 */
export function resolveSecret(config: Config): string {
  if (config.secret) return config.secret;
  if (isPostgresUrl(config.databaseUrl)) {
    throw new ConfigError('FOLIO_SECRET is required with PostgreSQL: every Folio process on the database must sign cookies and key pseudonyms with the same secret (generate one with: openssl rand -base64 48)');
  }
  const file = join(dataDir(config), 'folio.secret');
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept.length < 32) throw new ConfigError(`${file} holds a secret shorter than 32 characters: delete it to have a new one generated, or set FOLIO_SECRET`);
    return kept;
  }
  mkdirSync(dirname(file), { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}
