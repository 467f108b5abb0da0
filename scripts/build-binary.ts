/**
 * Builds dist/folio: one executable (Node's single-executable application) that carries Folio bundled as
 * CommonJS, its migrations, the built browser client and dashboard, swagger-ui's files and the SQLite addon as assets.
 * Run after `npm run build` (which builds the client):  npm run build:binary
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assetManifest, sqliteAddonAsset, sqliteReaderAsset, sqliteWriterAsset } from '../lib/assets.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/sea');
const require = createRequire(import.meta.url);
const step = (what: string) => process.stderr.write(`build:binary: ${what}\n`);

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

/** One entry bundled as CommonJS for Node 20 (import.meta.url is unused there: lib/assets.ts reads SEA assets). */
function bundle(entry: string, outfile: string) {
  step(`bundling ${entry} as CommonJS`);
  return build({
    entryPoints: [join(root, entry)],
    outfile: join(out, outfile),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'error',
    logOverride: { 'empty-import-meta': 'silent' },
  });
}

await bundle('cli/folio.ts', 'folio.cjs');
// The SQLite read and write threads run files of their own (db/sqlite.ts starts them from the extracted assets).
await bundle('db/sqlite-reader.ts', 'sqlite-reader.cjs');
await bundle('db/sqlite-writer.ts', 'sqlite-writer.cjs');

// Asset name (its path in the project, as assetPath() asks for it) → file on disk.
const assets: Record<string, string> = { 'package.json': join(root, 'package.json') };
for (const file of filesUnder(join(root, 'db/migrations'))) assets[relative(root, file)] = file;
const client = join(root, 'dist/client');
if (!existsSync(client)) throw new Error('dist/client is missing: run "npm run build" first');
for (const file of filesUnder(client)) assets[relative(root, file)] = file;
const dashboard = join(root, 'dist/dashboard');
if (!existsSync(dashboard)) throw new Error('dist/dashboard is missing: run "npm run build" first');
for (const file of filesUnder(dashboard)) assets[relative(root, file)] = file;
const swaggerStatic = join(dirname(require.resolve('@fastify/swagger-ui/package.json')), 'static');
for (const file of filesUnder(swaggerStatic)) assets[join('swagger-ui', relative(swaggerStatic, file))] = file;
assets[sqliteReaderAsset] = join(out, 'sqlite-reader.cjs');
assets[sqliteWriterAsset] = join(out, 'sqlite-writer.cjs');
assets[sqliteAddonAsset] = join(dirname(require.resolve('better-sqlite3/package.json')), 'build/Release/better_sqlite3.node');

const manifest = join(out, assetManifest);
writeFileSync(manifest, JSON.stringify(Object.keys(assets)));
const config = {
  main: join(out, 'folio.cjs'),
  output: join(out, 'sea-prep.blob'),
  disableExperimentalSEAWarning: true,
  useCodeCache: true,
  assets: { ...assets, [assetManifest]: manifest },
};
writeFileSync(join(out, 'sea-config.json'), JSON.stringify(config, null, 2));

step(`preparing the blob with ${Object.keys(assets).length} assets`);
execFileSync(process.execPath, ['--experimental-sea-config', join(out, 'sea-config.json')], { stdio: 'inherit' });

const binary = join(root, 'dist/folio');
step('injecting it into a copy of the node binary');
copyFileSync(process.execPath, binary);
chmodSync(binary, 0o755);
// postject warns about ELF note sections it does not know; harmless, so its output is shown only on failure.
try {
  execFileSync(process.execPath, [require.resolve('postject/dist/cli.js'), binary, 'NODE_SEA_BLOB', config.output, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], {
    stdio: 'pipe',
  });
} catch (err) {
  process.stderr.write(String((err as { stderr?: Buffer }).stderr ?? err));
  throw err;
}
step(`done: ${relative(root, binary)} (${(statSync(binary).size / 1024 / 1024).toFixed(1)} MiB)`);
