import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';
import { defineTables, type Builders, type Column } from './tables.js';

export { roles, type Role } from './tables.js';

/** Folio's tables in SQLite (see db/tables.ts): what drizzle-kit generates db/migrations/sqlite from. */
const sqlite: Builders = {
  text: (name) => text(name) as unknown as Column,
  int: (name) => integer(name) as unknown as Column,
  time: (name) => integer(name) as unknown as Column,
  flag: (name) => integer(name, { mode: 'boolean' }) as unknown as Column,
  real: (name) => real(name) as unknown as Column,
  big: (name) => integer(name) as unknown as Column,
  id: (name) => integer(name).primaryKey({ autoIncrement: true }) as unknown as Column,
  table: (name, columns, extras) => sqliteTable(name, columns as never, extras as never) as never,
  index: (name) => index(name) as never,
  uniqueIndex: (name) => uniqueIndex(name) as never,
  primaryKey: (config) => primaryKey(config as never),
};

export const { books, bookOrigins, changeCounters, users, sessions, programs, answers, events, positions, pageCompletions, userUsage, rateLimits } = defineTables(sqlite);
