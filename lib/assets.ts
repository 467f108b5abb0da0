import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as sea from 'node:sea';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The asset that lists the others, in the single binary. */
export const assetManifest = 'folio-assets.json';
/** Where the SQLite addon is among the single binary's assets. */
export const sqliteAddonAsset = 'better_sqlite3.node';
/** Where the SQLite read worker (db/sqlite-reader.ts, bundled as CommonJS) is among them. */
export const sqliteReaderAsset = 'db/sqlite-reader.cjs';
/** Where the SQLite write worker (db/sqlite-writer.ts, bundled as CommonJS) is among them. */
export const sqliteWriterAsset = 'db/sqlite-writer.cjs';

let root: string | undefined;

/** The single binary's temporary folder, and the assets not written to it yet. */
let extraction: { dir: string; pending: string[] } | undefined;

/**
 * The single binary carries its files as SEA assets; each is written when first asked for (a folder's all at once) to a
 * private temporary folder (removed at exit), so that everything else reads them as files, as it does from a clone.
 * Only what is used is written: `folio --version` writes package.json, `folio serve` the migrations' journal, the addon
 * and the threads' code, and the browser client's and the docs' files only when they are first asked for (assetFolder).
 */
function started(): { dir: string; pending: string[] } {
  if (!extraction) {
    const dir = mkdtempSync(join(tmpdir(), 'folio-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    extraction = { dir, pending: JSON.parse(sea.getAsset(assetManifest, 'utf8')) as string[] };
  }
  return extraction;
}

function extracted(relative: string): string {
  const current = started();
  const { dir } = current;
  const folder = `${relative}/`;
  current.pending = current.pending.filter((name) => {
    if (name !== relative && !name.startsWith(folder)) return true;
    const file = join(dir, name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, new Uint8Array(sea.getAsset(name)), { mode: 0o600 });
    return false;
  });
  return join(dir, relative);
}

/** The project folder (where package.json is) when running from source or dist/. */
function projectRoot(): string {
  if (root) return root;
  // From source or dist/ (ESM), import.meta.url; in a CommonJS bundle run by node, the script's path.
  const here = typeof import.meta?.url === 'string' ? fileURLToPath(import.meta.url) : (process.argv[1] ?? process.cwd());
  let dir = dirname(here);
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'folio') return (root = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the folio project folder (package.json) above ${here}`);
    dir = parent;
  }
}

/** The only way app code reaches a file it ships (migrations, the browser client, docs assets): by its path in the project. */
export function assetPath(relative: string): string {
  return sea.isSea() ? extracted(relative) : join(projectRoot(), relative);
}

/**
 * Where a folder of assets is, without writing its files yet (the docs' 2.5 MB of swagger-ui): in the single binary an
 * empty folder, filled by the first assetPath() of it; elsewhere assetPath(). For a server that reads the files only
 * when they are asked for, and calls assetPath() first.
 */
export function assetFolder(relative: string): string {
  if (!sea.isSea()) return assetPath(relative);
  const folder = join(started().dir, relative);
  mkdirSync(folder, { recursive: true });
  return folder;
}

/**
 * The SQLite addon for better-sqlite3: in the single binary, loaded from its extracted asset with
 * process.dlopen (a binary has no node_modules to resolve it from); elsewhere undefined (the default lookup).
 */
let addon: object | undefined;
export function sqliteAddon(): object | undefined {
  if (!sea.isSea()) return undefined;
  if (!addon) {
    const module = { exports: {} };
    process.dlopen(module, assetPath(sqliteAddonAsset));
    addon = module.exports;
  }
  return addon;
}

/** Whether this is the single binary. */
export function isSingleBinary(): boolean {
  return sea.isSea();
}
