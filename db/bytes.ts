import type { Params, Queries, Query } from './index.js';

/** The first column of the first row of a query as UTF-8 bytes (Database.bytes where the rows are at hand). */
export async function firstColumnBytes(queries: Pick<Queries, 'get'>, query: Query | string, params?: Params): Promise<Buffer | undefined> {
  const row = await queries.get<Record<string, unknown>>(query, params);
  return row === undefined ? undefined : Buffer.from(String(Object.values(row)[0]));
}
