/** FOLIO_DATABASE_URL names no database Folio can open or reach: the message says what to fix. */
export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError';
}
