// The per-request cost of @fastify/session's two hooks (onRequest, onSend) with Folio's options
// (saveUninitialized: false, rolling: false, a signer that remembers checked cookies, a store that answers at once
// with a session naming its user by id, as Folio's store gives it), for a request without a session cookie and for one whose session is restored and
// left unchanged. Usage: NODE_PATH=node_modules node docs/upstream/fastify-session-hooks.cjs node_modules/@fastify/session [rounds]
const { Signer } = require('@fastify/cookie');
const { performance } = require('node:perf_hooks');
const { randomBytes } = require('node:crypto');
const plugin = require(require('node:path').resolve(process.argv[2]));
const rounds = Number(process.argv[3] ?? 5);

class RememberingSigner {
  constructor(secret) { this.signer = new Signer(secret, 'sha256'); this.checked = new Map(); this.cookies = new Map(); }
  sign(value) { return this.cookies.get(value) ?? this.signer.sign(value); }
  unsign(signed) {
    const value = this.checked.get(signed);
    if (value !== undefined) return { valid: true, renew: false, value };
    const r = this.signer.unsign(signed);
    if (r.valid && !r.renew) { this.checked.set(signed, r.value); this.cookies.set(r.value, signed); }
    return r;
  }
}
const userId = 'b3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const expires = Date.now() + 20 * 86400_000;
const store = {
  get(id, cb) { cb(null, { cookie: { expires: new Date(expires), originalMaxAge: null }, userId, createdAt: 1764000000000 }); },
  set(id, s, cb) { cb(); }, destroy(id, cb) { cb(); },
};
let pool = Buffer.alloc(0), offset = 0;
function pooledId() { if (offset === pool.length) { pool = randomBytes(32 * 128); offset = 0; } return pool.toString('base64url', offset, (offset += 32)); }
const hooks = {};
const fake = { decorate() {}, decorateRequest() {}, addHook(name, fn) { hooks[name] = fn; } };
const signer = new RememberingSigner('a-secret-of-at-least-thirty-two-characters');
const fastifySession = plugin.fastifySession ?? plugin.default;
fastifySession(fake, { secret: signer, cookieName: 'folio', store, saveUninitialized: false, rolling: false, idGenerator: pooledId,
  cookie: { path: '/', httpOnly: true, secure: false, sameSite: 'lax' } }, (err) => { if (err) throw err; });

const id = randomBytes(32).toString('base64url');
const cookie = signer.signer.sign(id);
const reply = { setCookie() { throw new Error('no cookie expected'); }, clearCookie() { throw new Error('no clearing expected'); } };
function once(cookies) {
  const request = { raw: { url: '/api/books/b/answers' }, cookies, protocol: 'http' };
  hooks.onRequest(request, reply, () => {});
  hooks.onSend(request, reply, '', () => {});
  return request.session;
}
if (once({ folio: cookie }).userId !== userId) throw new Error('session not restored');
for (const [name, cookies] of [['no session cookie', {}], ['restored, unchanged', { folio: cookie }]]) {
  const n = 200_000;
  const results = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) once(cookies);
    results.push(((performance.now() - start) * 1000) / n);
  }
  results.sort((a, b) => a - b);
  console.log(`${name}: ${results.map((x) => x.toFixed(2)).join(' ')} µs a request (best ${results[0].toFixed(2)})`);
}
