/**
 * What the header and CORS plugins cost a request, in µs of one process's CPU time: the same route served by a bare
 * Fastify, with @fastify/cors set up as Folio sets it up (a delegator returning options built once per origin), and
 * with @fastify/helmet as Folio sets it up (not global, the API's policy as a route option), alone and together.
 * Requests by app.inject (no network), a cookie-less GET with an allowed Origin; each variant measured in turn,
 * `--rounds` times; its fastest and its median round are printed with the bare route's subtracted.
 *   npx tsx bench/plugins.ts [--requests 5000] [--rounds 15] [--cors|--helmet <path of another copy of the package>]
 * With `--parts`, only what @fastify/helmet does per request that helmet's own use would do once: build helmet's
 * middleware from the API's options and apply it, against applying one built once (a tight loop, no Fastify).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config.js';
import { headerPolicies } from '../plugins/security.js';

const { values: args } = parseArgs({
  options: { parts: { type: 'boolean' }, requests: { type: 'string', default: '5000' }, rounds: { type: 'string', default: '15' }, cors: { type: 'string' }, helmet: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
if (args.help) {
  console.log('npx tsx bench/plugins.ts [--requests N] [--rounds N] [--cors PATH] [--helmet PATH]: µs a request that @fastify/cors and @fastify/helmet, set up as Folio sets them up, add to a bare route (app.inject)');
  process.exit(0);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const least = (xs: number[]) => Math.min(...xs);
const requests = Number(args.requests);
const rounds = Number(args.rounds);
const cors = (await import(args.cors ?? '@fastify/cors')).default as typeof import('@fastify/cors').default;
const helmet = (await import(args.helmet ?? '@fastify/helmet')).default as typeof import('@fastify/helmet').default;

const origin = 'https://book.example';
// Folio's own API policy, over plain HTTP.
const { apiPolicy } = headerPolicies(loadConfig({}));

if (args.parts) {
  // The helmet @fastify/helmet itself loads.
  const helmetOf = createRequire(createRequire(import.meta.url).resolve('@fastify/helmet'))('helmet') as (options: object) => (req: object, res: object, next: () => void) => void;
  const res = { setHeader() {}, removeHeader() {} };
  const next = () => {};
  const once = helmetOf(apiPolicy);
  const ways = { 'built per request': () => helmetOf(apiPolicy)({}, res, next), 'built once': () => once({}, res, next) };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((name) => [name, []]));
  for (let round = 0; round < rounds + 2; round++) {
    for (const [name, way] of Object.entries(ways)) {
      const started = process.cpuUsage();
      for (let i = 0; i < requests * 10; i++) way();
      const { user, system } = process.cpuUsage(started);
      if (round >= 2) times[name]!.push((user + system) / (requests * 10));
    }
  }
  console.log(`helmet's middleware for the API's options, ${rounds} rounds of ${requests * 10} calls, µs of CPU a call (fastest / median round)`);
  for (const [name, xs] of Object.entries(times)) console.log(`${name.padEnd(18)} ${least(xs).toFixed(3)} / ${median(xs).toFixed(3)}`);
  process.exit(0);
}

async function build(withCors: boolean, withHelmet: boolean): Promise<FastifyInstance> {
  const app = Fastify();
  if (withCors) {
    // As plugins/cors.ts: the options of each allowed origin built once, a refusal for the others.
    const allowed = { credentials: true, methods: 'GET, POST, PUT, PATCH, DELETE', allowedHeaders: 'content-type, authorization, x-folio-mode', exposedHeaders: 'retry-after, x-folio-token', maxAge: 600, strictPreflight: false };
    const optionsOf = new Map<string, object>();
    await app.register(cors, {
      delegator(request, callback) {
        const from = request.headers.origin;
        if (from !== origin) return callback(null, { origin: false });
        let options = optionsOf.get(from);
        if (!options) optionsOf.set(from, (options = { ...allowed, origin: from, preflight: false }));
        callback(null, options);
      },
    });
  }
  if (withHelmet) {
    // As plugins/security.ts.
    app.addHook('onRoute', (route) => {
      route.helmet ??= route.url.startsWith('/api/') ? apiPolicy : {};
    });
    await app.register(helmet, { global: false, enableCSPNonces: false, crossOriginResourcePolicy: { policy: 'same-origin' } });
  }
  app.get('/api/books/:book', async () => ({ id: 'book', title: 'A book' }));
  await app.ready();
  return app;
}

const variants = { bare: [false, false], cors: [true, false], helmet: [false, true], 'cors + helmet': [true, true] } as const;
const apps = Object.fromEntries(await Promise.all(Object.entries(variants).map(async ([name, [c, h]]) => [name, await build(c, h)] as const)));
const request = { method: 'GET' as const, url: '/api/books/book', headers: { origin } };
for (const app of Object.values(apps)) {
  const res = await app.inject(request);
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
}

/** CPU time (user + system) a request, not wall time: on a shared machine the process waits for a core. */
async function measure(app: FastifyInstance, n: number): Promise<number> {
  const started = process.cpuUsage();
  for (let i = 0; i < n; i++) await app.inject(request);
  const { user, system } = process.cpuUsage(started);
  return (user + system) / n;
}

for (const app of Object.values(apps)) await measure(app, Math.min(requests, 5000)); // warm-up
const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (let round = 0; round < rounds; round++) for (const [name, app] of Object.entries(apps)) times[name]!.push(await measure(app, requests));
console.log(`@fastify/cors from ${args.cors ?? 'node_modules'}, @fastify/helmet from ${args.helmet ?? 'node_modules'}; ${rounds} rounds of ${requests} requests a variant, in turn`);
console.log('µs of CPU a request: the fastest round and the median round, each with the bare route\'s subtracted');
for (const [name, xs] of Object.entries(times)) {
  const over = (f: (xs: number[]) => number) => (name === 'bare' ? '' : ` (+${(f(xs) - f(times.bare!)).toFixed(2)})`);
  console.log(`${name.padEnd(14)} fastest ${least(xs).toFixed(2).padStart(7)}${over(least).padEnd(10)}  median ${median(xs).toFixed(2).padStart(7)}${over(median)}`);
}
await Promise.all(Object.values(apps).map((app) => app.close()));
