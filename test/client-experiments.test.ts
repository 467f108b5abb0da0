/**
 * The browser client's variant(): from the page state without a request where it can, one request at a first
 * exposure, and offline the variant the last page state showed.
 */
import t from 'tap';
import { createExperiment } from '../db/experiments.js';
import { chooseVariant } from '../lib/experiments.js';
import { FakeBrowser } from './client-fakes.js';
import { build } from './helper.js';

const salt = '0123456789abcdef0123456789abcdef';
const variants = [
  { name: 'control', weight: 1 },
  { name: 'hint', weight: 1 },
];

t.test('variant(): one request at the first exposure, none once the page state or a reply named it, and the last known one offline', async (t) => {
  const app = await build(t);
  await createExperiment(app.db, { id: 'hints', bookId: 'book', variants, salt });
  const browser = new FakeBrowser(app);
  const { folio } = browser.open(t);
  const user = await folio.register({ username: 'ada', password: 'correct horse battery' });
  const want = chooseVariant(salt, 'hints', user.id, variants);

  const state = await folio.pageState('ch1/intro');
  t.same(state.experiments, { hints: { variant: want, exposure: 'pending' } });
  const before = browser.network.lines.length;
  t.equal(await folio.variant('hints'), want);
  t.same(browser.network.lines.slice(before), ['GET /api/books/book/experiments/hints?page=ch1%2Fintro'], 'the first exposure asks, naming the page');
  t.same(await app.db.all(sqlAssignments), [{ variant: want, page: 'ch1/intro' }]);

  const after = browser.network.lines.length;
  t.equal(await folio.variant('hints'), want);
  t.same(browser.network.lines.slice(after), [], 'known and recorded: no request');

  // Another page of the same browser, offline: the variant kept in this browser.
  const { folio: later } = browser.open(t);
  browser.network.offline = true;
  t.equal(await later.variant('hints'), want);
  t.equal(await later.variant('nope'), null, 'an experiment never seen: null offline');
  browser.network.offline = false;
  t.equal(await later.variant('nope'), null, 'an unknown experiment: null');
});

const sqlAssignments = (await import('drizzle-orm')).sql`SELECT variant, page FROM experiment_assignments`;
