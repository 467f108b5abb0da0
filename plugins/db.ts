import fp from 'fastify-plugin';
import { countBooks, createBook } from '../db/books.js';
import { ensureReachable, openDatabase, startupReads, warmUp, type Database } from '../db/index.js';
import { applyMigrations, coursesMigration, pendingMigrations, retiredInstructorRole } from '../db/migrate.js';
import { migratedCourses } from '../db/courses.js';

declare module 'fastify' {
  interface FastifyInstance {
    db: Database;
  }
}

export class PendingMigrationsError extends Error {
  override name = 'PendingMigrationsError';
}

export const demoBook = { id: 'demo', title: 'Folio demo book', origins: ['http://localhost:8080', 'http://127.0.0.1:8080'] };

export interface DbPluginOptions {
  /** Apply pending migrations at start instead of refusing to start. */
  migrate: boolean;
}

export default fp<DbPluginOptions>(
  async function dbPlugin(app, opts) {
    const db = await openDatabase(app.config.databaseUrl, { poolSize: app.config.databasePoolSize });
    await ensureReachable(db);
    app.addHook('onClose', () => db.close());
    // The start reads nothing through the SQLite read thread (startupReads): it starts once the server listens, alongside
    // the first requests rather than the start (tests that only inject start it with their first read).
    app.addHook('onListen', (done) => {
      warmUp(db).catch((err: unknown) => app.log.error({ err }, 'the database\'s first read failed: reads may fail until it answers (GET /readyz says when)'));
      done();
    });
    const pending = await pendingMigrations(db);
    if (pending.length > 0) {
      if (!opts.migrate) {
        await db.close();
        throw new PendingMigrationsError(
          `the database ${db.location} has ${pending.length} pending migration(s) (${pending.join(', ')}): run "folio migrate" first, or serve with --migrate`,
        );
      }
      const applied = await applyMigrations(db);
      app.log.info({ applied, database: db.location }, `applied ${applied.length} migration(s)`);
      if (retiredInstructorRole(db, applied)) {
        const courses = await migratedCourses(startupReads(db));
        app.log.info(
          { event: 'instructor_role_retired', migration: coursesMigration[db.dialect], courses },
          `migration ${coursesMigration[db.dialect]} retired the server-wide instructor role: ${courses.length} default course(s)${courses.map((c) => ` ${c.id} (book ${c.bookId}, join code ${c.joinCode}, staff: ${c.staff.join(', ') || 'none'}, ${c.students} student(s))`).join(';')}`,
        );
      }
    }
    if (app.config.demo && (await countBooks(startupReads(db))) === 0) {
      await createBook(db, demoBook);
      app.log.info({ book: demoBook.id, origins: demoBook.origins }, 'created the demo book (FOLIO_DEMO=0 turns this off)');
    }
    app.decorate('db', db);
  },
  { name: 'folio-db', fastify: '5.x', dependencies: ['folio-config'], decorators: { fastify: ['config'] } },
);
