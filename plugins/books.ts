import fp from 'fastify-plugin';
import { faultOf } from '../db/faults.js';
import { BookRegistry } from '../lib/book-registry.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Which books exist, with their titles and origins, kept in step with the database (lib/book-registry.ts). */
    books: BookRegistry;
  }
}

/**
 * The book registry: loaded before the server answers, then refreshed every FOLIO_ORIGIN_REFRESH_MS when another
 * process (the CLI, another server) changed a book. CORS, the CSRF check and the routes read it alike.
 */
export default fp(
  async function booksPlugin(app) {
    const books = new BookRegistry(app.db);
    await books.refresh();
    app.decorate('books', books);

    const timer = setInterval(() => {
      books.refresh().catch((err: unknown) => {
        // A database outage is logged once, where it begins and ends (plugins/errors.ts), not every refresh.
        const fault = faultOf(err);
        if (fault) app.databaseOutages.found(fault, err);
        else app.log.error({ err }, 'could not reload the books and their origins');
      });
    }, app.config.originRefreshMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  },
  { name: 'folio-books', fastify: '5.x', dependencies: ['folio-config', 'folio-db', 'folio-errors'], decorators: { fastify: ['config', 'db', 'databaseOutages'] } },
);
