import { fillPlaceholders, is, Param, Placeholder, type SQLWrapper } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { SQLiteSyncDialect } from 'drizzle-orm/sqlite-core';
import type { Dialect } from './index.js';

/**
 * A query: drizzle's `sql` template, or a query of drizzle's query builder. Values go in it either inline
 * (`${value}`: a one-off query) or as `sql.placeholder('name')`, filled for each run from the values passed with it
 * (a query built once, in a module's scope: the hot paths).
 */
export type Query = SQLWrapper;

/** The values of a query's placeholders, by name. */
export type Values = Readonly<Record<string, unknown>>;

/** A query as one dialect runs it: drizzle's SQL text and its parameters in order (placeholders still unfilled). */
interface Rendered {
  text: string;
  params: unknown[];
  placeholders: boolean;
}

/** A query ready to run: its SQL text and its values in order. */
export interface Statement {
  text: string;
  values: unknown[];
}

const dialects = { sqlite: new SQLiteSyncDialect(), postgres: new PgDialect() };

/**
 * Each query object is rendered once per dialect (drizzle builds the text and the parameter order): a query built
 * once in a module's scope costs only the filling of its placeholders per run. A query built per call (inline
 * values) is rendered per call, and forgotten with it.
 */
const rendered = { sqlite: new WeakMap<Query, Rendered>(), postgres: new WeakMap<Query, Rendered>() };

const isPlaceholder = (p: unknown) => is(p, Placeholder) || (is(p, Param) && is(p.value, Placeholder));

function render(dialect: Dialect, query: Query): Rendered {
  let found = rendered[dialect].get(query);
  if (!found) {
    const { sql, params } = dialects[dialect].sqlToQuery(query.getSQL());
    found = { text: sql, params, placeholders: params.some(isPlaceholder) };
    rendered[dialect].set(query, found);
  }
  return found;
}

/** A query's text in a dialect, and its values in order (the placeholders filled from `values`). */
export function statement(dialect: Dialect, query: Query, values?: Values): Statement {
  const { text, params, placeholders } = render(dialect, query);
  return { text, values: placeholders ? fillPlaceholders(params, values ?? {}) : params };
}
