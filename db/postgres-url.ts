import { DatabaseUrlError } from './errors.js';

/*
 * What Folio knows of a PostgreSQL URL without node-postgres: the SQLite path never loads `pg` (db/index.ts imports
 * db/postgres.ts only for a postgres:// URL), and these are what the rest of Folio asks of any URL.
 */

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

const schemaName = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Splits Folio's own `schema` parameter off a PostgreSQL URL (the rest goes to node-postgres as it is). */
export function parsePostgresUrl(url: string): { connectionString: string; schema: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DatabaseUrlError(`FOLIO_DATABASE_URL is not a valid URL: expected postgres://user:password@host:port/database[?schema=name]`);
  }
  const schema = u.searchParams.get('schema') ?? undefined;
  if (schema !== undefined && !schemaName.test(schema)) {
    throw new DatabaseUrlError(`FOLIO_DATABASE_URL: schema=${JSON.stringify(schema)} is not a plain identifier (letters, digits and _, not starting with a digit)`);
  }
  u.searchParams.delete('schema');
  return { connectionString: u.toString(), schema };
}
