import t from 'tap';
import { sessionId } from '../db/session-store.js';

t.test('cookie session ids are 256 random bits in base64url, as tokens are, and never repeat across refills of their pool', async (t) => {
  const ids = Array.from({ length: 1000 }, () => sessionId());
  t.equal(ids.filter((id) => /^[\w-]{43}$/.test(id)).length, 1000);
  t.equal(new Set(ids).size, 1000);
});
