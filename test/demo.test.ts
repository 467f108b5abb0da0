import t from 'tap';
import { buildApp } from '../app.js';
import { createBook, listBooks } from '../db/books.js';
import { openDatabase } from '../db/index.js';
import { applyMigrations } from '../db/migrate.js';
import { testConfig } from './helper.js';

t.test('start creates the demo book on an empty database and logs it', async (t) => {
  const logs: string[] = [];
  const stream = { write: (line: string) => logs.push(line) };
  const app = await buildApp({ config: testConfig(t, { demo: true }), migrate: true, logger: { level: 'info', stream } });
  t.teardown(() => app.close());
  t.same(await listBooks(app.db), [{ id: 'demo', title: 'Folio demo book', origins: ['http://127.0.0.1:8080', 'http://localhost:8080'] }]);
  t.ok(logs.some((l) => JSON.parse(l).msg === 'created the demo book (FOLIO_DEMO=0 turns this off)'));
  const res = await app.inject({ method: 'GET', url: '/api/books/demo', headers: { origin: 'http://localhost:8080' } });
  t.equal(res.headers['access-control-allow-origin'], 'http://localhost:8080');
});

t.test('FOLIO_DEMO=0 creates no demo book', async (t) => {
  const app = await buildApp({ config: testConfig(t, { demo: false }), migrate: true, logger: false });
  t.teardown(() => app.close());
  t.same(await listBooks(app.db), []);
});

t.test('no demo book is added to a database that has a book', async (t) => {
  const config = testConfig(t, { demo: true });
  const db = await openDatabase(config.databaseUrl);
  await applyMigrations(db);
  await createBook(db, { id: 'mine', title: 'Mine', origins: [] });
  await db.close();
  const app = await buildApp({ config, logger: false });
  t.teardown(() => app.close());
  t.same((await listBooks(app.db)).map((b) => b.id), ['mine']);
});
