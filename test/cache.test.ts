import t from 'tap';
import { BoundedMap } from '../lib/cache.js';

t.test('a BoundedMap keeps at most max entries; the oldest goes first', async (t) => {
  const map = new BoundedMap<string, number>(3);
  for (const [i, key] of ['a', 'b', 'c', 'd'].entries()) map.set(key, i);
  t.equal(map.size, 3);
  t.same([...map.keys()], ['b', 'c', 'd']);
  t.equal(map.get('a'), undefined);
  t.equal(map.get('d'), 3);
});

t.test('setting a key a BoundedMap already holds replaces its value and forgets nothing', async (t) => {
  const map = new BoundedMap<string, number>(2);
  map.set('a', 1).set('b', 2).set('a', 3);
  t.same([...map.entries()], [['a', 3], ['b', 2]]);
});

t.test('a BoundedMap refuses a size below one', async (t) => {
  t.throws(() => new BoundedMap(0), RangeError);
  t.throws(() => new BoundedMap(1.5), RangeError);
});
