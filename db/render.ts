import { fillPlaceholders, is, Param, Placeholder, type SQL, type SQLWrapper } from 'drizzle-orm';

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

/** What renders drizzle's SQL in one dialect: drizzle's SQLiteSyncDialect or PgDialect. */
export interface SqlDialect {
  sqlToQuery(sql: SQL): { sql: string; params: unknown[] };
}

const isPlaceholder = (p: unknown) => is(p, Placeholder) || (is(p, Param) && is(p.value, Placeholder));

/**
 * A query's text in a dialect, and its values in order (the placeholders filled from `values`). Each query object is
 * rendered once (drizzle builds the text and the parameter order): a query built once in a module's scope costs only
 * the filling of its placeholders per run. A query built per call (inline values) is rendered per call, and
 * forgotten with it. One per dialect, made by the module of that database (db/sqlite.ts, db/postgres.ts), so that
 * SQLite never loads drizzle's PostgreSQL half.
 */
export function renderer(dialect: SqlDialect): (query: Query, values?: Values) => Statement {
  const rendered = new WeakMap<Query, Rendered>();
  return (query, values) => {
    let found = rendered.get(query);
    if (!found) {
      const { sql, params } = dialect.sqlToQuery(query.getSQL());
      found = { text: sql, params, placeholders: params.some(isPlaceholder) };
      rendered.set(query, found);
    }
    const { text, params, placeholders } = found;
    return { text, values: placeholders ? fillPlaceholders(params, values ?? {}) : params };
  };
}
