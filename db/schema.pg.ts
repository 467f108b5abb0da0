import { bigint, doublePrecision, index, integer, pgTable, primaryKey, smallint, text, uniqueIndex } from 'drizzle-orm/pg-core';
import { defineTables, type Builders, type Column } from './tables.js';

/** Folio's tables in PostgreSQL (see db/tables.ts): what drizzle-kit generates db/migrations/postgres from. */
const postgres: Builders = {
  text: (name) => text(name) as unknown as Column,
  int: (name) => integer(name) as unknown as Column,
  time: (name) => bigint(name, { mode: 'number' }) as unknown as Column,
  flag: (name) => {
    const column = smallint(name) as unknown as Column;
    // 0/1 like SQLite; `.default(false)` in the shared definition means 0.
    const setDefault = column.default.bind(column);
    column.default = (value) => setDefault(value === false ? 0 : value === true ? 1 : value);
    return column;
  },
  real: (name) => doublePrecision(name) as unknown as Column,
  big: (name) => bigint(name, { mode: 'number' }) as unknown as Column,
  id: (name) => bigint(name, { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity() as unknown as Column,
  table: (name, columns, extras) => pgTable(name, columns as never, extras as never) as never,
  index: (name) => index(name) as never,
  uniqueIndex: (name) => uniqueIndex(name) as never,
  primaryKey: (config) => primaryKey(config as never),
};

export const { books, bookOrigins, changeCounters, users, sessions, programs, answers, events, positions, pageCompletions, userUsage, rateLimits } = defineTables(postgres);
