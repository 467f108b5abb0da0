// One export of the bench database in a fresh process, on the built code (dist/, as `folio serve` runs it), so that
// its time and peak RSS are its own. Started by bench/export.ts: node bench/export-child.mjs FILE direct|http FORMAT
// [URL TOKEN]. direct: reads the export stream to the end itself. http: serves it, prints {url, token}, and waits
// until its stdin ends. download: the client of http, counting the bytes of URL.
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

const [file, path, format, url, token] = process.argv.slice(2);

if (path === 'download') {
  // The client of the http bench, in a process of its own, as curl or a browser would be: FILE and FORMAT unused.
  const t0 = performance.now();
  const bytes = await new Promise((resolve, reject) => {
    request(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
      let received = 0;
      res.on('data', (chunk) => (received += chunk.length)).on('end', () => resolve(received)).on('error', reject);
    })
      .on('error', reject)
      .end();
  });
  process.stdout.write(`${JSON.stringify({ bytes, ms: Math.round(performance.now() - t0) })}\n`);
  process.exit(0);
}
const dist = (module) => new URL(`../dist/${module}`, import.meta.url).href;
const secret = 'bench-secret-bench-secret-bench-secret';
const homePage = 'https://folio.example.edu';

/** Counts what it is given and keeps none of it: the fastest possible reader. */
function sink() {
  const w = new Writable({
    write(chunk, _encoding, done) {
      w.bytes += chunk.length;
      done();
    },
  });
  w.bytes = 0;
  return w;
}

const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
const startRss = process.memoryUsage().rss;
const cpuStart = process.cpuUsage();
let rows = null;
let bytes = 0;
let ms = 0;

if (path === 'direct') {
  const { openDatabase } = await import(dist('db/index.js'));
  const { openExport } = await import(dist('db/exports.js'));
  const db = openDatabase(file);
  const t0 = performance.now();
  const { stream } = await openExport(db, { book: 'bench', kind: 'events', format, identify: false, secret, homePage });
  const out = sink();
  await pipeline(stream, out);
  ms = performance.now() - t0;
  [rows, bytes] = [stream.rows, out.bytes];
  await db.close();
} else {
  // The server alone: the client is another process.
  const { buildApp } = await import(dist('app.js'));
  const { loadConfig } = await import(dist('plugins/config.js'));
  const { saveSession } = await import(dist('db/sessions.js'));
  const config = { ...loadConfig({}), databaseUrl: file, secret, demo: false, logLevel: 'silent', publicOrigin: homePage };
  const app = await buildApp({ config, logger: false });
  const token = randomBytes(32).toString('base64url');
  await saveSession(app.db, token, { userId: 'admin', kind: 'token', expiresAt: Date.now() + 3_600_000, data: '{}' });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${JSON.stringify({ url: `${url}/api/books/bench/export?kind=events&format=${format}`, token })}\n`);
  // The client closes our stdin when it has the whole export.
  await new Promise((resolve) => process.stdin.on('end', resolve).resume());
  await app.close();
}

const cpu = process.cpuUsage(cpuStart);
process.stdout.write(
  `${JSON.stringify({ path, format, rows, bytes, ms: Math.round(ms), cpuMs: Math.round((cpu.user + cpu.system) / 1000), peakRssMb: mb(process.resourceUsage().maxRSS * 1024), startRssMb: mb(startRss) })}\n`,
);
