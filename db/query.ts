import { Column, getTableColumns, is, SQL, sql, type Table } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/sqlite-proxy';
import type { Queries, Query, Snapshot, Values } from './index.js';
import type { Snake } from './schema.js';

/**
 * Drizzle's query builder, for the queries of the cold paths (accounts, books, rate limits, reports, the CLI): written
 * once over the tables of db/schema.ts, run on either database through db/index.ts, which renders each query in its
 * dialect (db/render.ts: `?` or `$1` parameters; both dialects quote names alike). The same query object serves both
 * databases because the tables of db/schema.ts and db/schema.pg.ts have the same names, columns and defaults
 * (test/schema.test.ts compares the migrated databases), and the values bound for a column are what both store
 * (text, numbers, 0/1 flags). One difference to mind: an insert that leaves out a column without a default binds NULL
 * for it, which SQLite's INTEGER PRIMARY KEY takes as "the next id" and PostgreSQL's identity column refuses; the
 * builder's inserts here are of tables without generated ids (programs, answers and events are db/work.ts's). And an
 * upsert names its conflict column with `conflictOn`.
 *
 * The builder only builds: running a query through it (`.all()`, `.run()`, …) throws. Run them with `first` and
 * `rows` (typed by the query) or the Database's own methods (`run`, `write`, …).
 *
 * Building and rendering a query costs tens of microseconds (bench/RESULTS.md): a query run often is built once, in
 * its module's scope, with `sql.placeholder(name)` for its values (filled per run); one built per call is for the
 * rare (an account changed, a book added).
 */
export const qb = drizzle(async () => {
  throw new Error('db/query.ts: run builder queries through the Database (first, rows, db.run), not through drizzle');
});

type Field = Column | SQL | SQL.Aliased;
type ValueOf<F> = F extends Column ? (F['_']['notNull'] extends true ? F['_']['data'] : F['_']['data'] | null) : F extends SQL<infer T> | SQL.Aliased<infer T> ? T : never;
/** Fields that SQL names by their keys. */
export type Named<F> = { [K in keyof F]: SQL.Aliased<ValueOf<F[K]>> };

/**
 * Fields for `select` or `returning` that SQL names by their keys (`"username_key" AS "usernameKey"`): the rows both
 * drivers return are then keyed as the query's result type says, without mapping (the drivers key rows by the
 * SQL names; drizzle's own sessions map rows by position instead, which Folio's Database does not expose). Values
 * come as stored: 0/1 flags, times in ms. A column already named as its key is left as it is (an alias costs
 * rendering time: drizzle renders it as SQL of its own). The types are the columns' as their tables declare them:
 * a column of a left join's table that may be missing is typed by hand (`sql<string | null>\`${column}\``).
 */
export function named<F extends Record<string, Field>>(fields: F): Named<F> {
  const entries = Object.entries(fields).map(([key, field]) => [
    key,
    is(field, Column) && field.name === key ? field : sql`${is(field, SQL.Aliased) ? field.sql : field}`.as(key),
  ]);
  return Object.fromEntries(entries) as Named<F>;
}

/**
 * The column an upsert's ON CONFLICT names (`onConflictDoUpdate({ target: conflictOn(rateLimits.key), … })`): bare, as
 * PostgreSQL requires. (Given the column itself, the SQLite builder writes it with its table, `("rate_limits"."key")`,
 * which SQLite takes and PostgreSQL refuses.)
 */
export const conflictOn = (column: Column) => sql`${sql.identifier(column.name)}`;

/** A select of `fields`, each named by its key (see `named`). */
export const select = <F extends Record<string, Field>>(fields: F) => qb.select(named(fields));

type SnakeColumns<T extends Table> = { [K in keyof T['_']['columns'] as Snake<K & string>]: T['_']['columns'][K] };

/** Every column of a table keyed by its SQL name: `select(storedColumns(users))` gives `Stored<User>` rows, as `SELECT *` does. */
export function storedColumns<T extends Table>(table: T): SnakeColumns<T> {
  return Object.fromEntries(Object.values(getTableColumns(table)).map((column) => [column.name, column])) as SnakeColumns<T>;
}

/** The type of a builder query's rows (a select's, or an insert's, update's or delete's `returning`). */
export type RowOf<Q> = Q extends { readonly _: { readonly result: readonly (infer R)[] } } ? R : never;

/** The first row of a builder query, or undefined. */
export function first<Q extends Query>(db: Queries, query: Q, values?: Values): Promise<RowOf<Q> | undefined> {
  return db.get<RowOf<Q>>(query, values);
}

/** Every row of a builder query. */
export function rows<Q extends Query>(db: Queries | Snapshot, query: Q, values?: Values): Promise<RowOf<Q>[]> {
  return db.all<RowOf<Q>>(query, values);
}
