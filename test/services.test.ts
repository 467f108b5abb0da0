import t from 'tap';
import { serviceDecision } from './services.js';

const redis = { tests: 'the Redis rate-limit test', enable: 'start redis-server', requireVar: 'FOLIO_TEST_REQUIRE_REDIS' };

t.test('a service that is there runs its tests, required or not', async (t) => {
  t.same(serviceDecision({ ...redis, missing: undefined, env: {} }), { run: true });
  t.same(serviceDecision({ ...redis, missing: undefined, env: { FOLIO_TEST_REQUIRE_REDIS: '1' } }), { run: true });
});

t.test('a missing service skips its tests with one line saying what and how to enable them', async (t) => {
  t.same(serviceDecision({ ...redis, missing: 'Redis at redis://127.0.0.1:1 does not answer', env: {} }), {
    skip: 'Redis at redis://127.0.0.1:1 does not answer: skipped the Redis rate-limit test; start redis-server to run them (FOLIO_TEST_REQUIRE_REDIS=1 makes this a failure)',
  });
});

t.test('a missing service that its FOLIO_TEST_REQUIRE_ variable requires fails the run', async (t) => {
  t.same(serviceDecision({ ...redis, missing: 'Redis at redis://127.0.0.1:1 does not answer', env: { FOLIO_TEST_REQUIRE_REDIS: '1' } }), {
    fail: 'Redis at redis://127.0.0.1:1 does not answer, and FOLIO_TEST_REQUIRE_REDIS is set: the Redis rate-limit test cannot run (start redis-server)',
  });
});
