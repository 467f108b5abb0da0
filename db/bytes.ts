import type { Queries, Query, Values } from './index.js';

/** The first column of the first row of a query as UTF-8 bytes (Database.bytes where the rows are at hand). */
export async function firstColumnBytes(queries: Pick<Queries, 'get'>, query: Query, values?: Values): Promise<Buffer | undefined> {
  const row = await queries.get<Record<string, unknown>>(query, values);
  return row === undefined ? undefined : Buffer.from(String(Object.values(row)[0]));
}
