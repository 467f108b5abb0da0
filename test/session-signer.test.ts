import { Signer } from '@fastify/cookie';
import t from 'tap';
import { RememberingSigner } from '../lib/session-signer.js';

const secret = 'a-secret-of-at-least-thirty-two-characters';

t.test('signs and checks exactly as @fastify/cookie\'s signer does', async (t) => {
  const plain = new Signer(secret, 'sha256');
  const remembering = new RememberingSigner(secret);
  for (const id of ['abc', 'Zx9_-', 'a.b.c']) {
    t.equal(remembering.sign(id), plain.sign(id));
    t.equal(remembering.sign(id), plain.sign(id), 'the remembered one too');
    t.strictSame(remembering.unsign(plain.sign(id)), plain.unsign(plain.sign(id)));
    t.strictSame(remembering.unsign(plain.sign(id)), { valid: true, renew: false, value: id }, 'the remembered one too');
  }
  t.strictSame(remembering.unsign('no-dot'), { valid: false, renew: false, value: null });
});

t.test('a cookie with an altered signature or id is refused, also after the real one was checked', async (t) => {
  const remembering = new RememberingSigner(secret);
  const real = remembering.sign('session-id');
  t.equal(remembering.unsign(real).valid, true);
  t.strictSame(remembering.unsign(`${real.slice(0, -1)}${real.endsWith('A') ? 'B' : 'A'}`), { valid: false, renew: false, value: null });
  t.strictSame(remembering.unsign(real.replace('session-id', 'session-ie')), { valid: false, renew: false, value: null });
  t.strictSame(new RememberingSigner('another-secret-of-thirty-two-characters!').unsign(real), { valid: false, renew: false, value: null }, 'another secret');
});

t.test('only checked cookies are remembered, never forged ones or values signed for new sessions, and at most `size`, the oldest leaving first', async (t) => {
  const remembering = new RememberingSigner(secret, 3);
  const plain = new Signer(secret, 'sha256');
  for (let i = 0; i < 5; i++) remembering.unsign(`forged-${i}.xyz`);
  for (let i = 0; i < 5; i++) remembering.sign(`new-session-${i}`);
  t.equal(remembering.remembered, 0);
  const cookies = ['a', 'b', 'c', 'd'].map((id) => plain.sign(id));
  for (const cookie of cookies) remembering.unsign(cookie);
  t.equal(remembering.remembered, 3);
  t.strictSame(remembering.unsign(cookies[0]!), { valid: true, renew: false, value: 'a' }, 'a forgotten one is checked again');
  t.equal(remembering.remembered, 3);
});

t.test('a cookie signed with an older secret is valid with renew and not remembered: its id is signed with the new secret', async (t) => {
  const old = new Signer('the-old-secret-of-thirty-two-characters!', 'sha256');
  const rotated = new RememberingSigner([secret, 'the-old-secret-of-thirty-two-characters!']);
  const cookie = old.sign('id');
  t.strictSame(rotated.unsign(cookie), { valid: true, renew: true, value: 'id' });
  t.equal(rotated.remembered, 0);
  t.equal(rotated.sign('id'), new Signer(secret, 'sha256').sign('id'));
});
