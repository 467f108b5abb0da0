import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The project folder (where package.json is), whether running from source or from dist/. */
function projectRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'folio') return (root = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the folio project folder (package.json) above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/** The only way app code reaches a file it ships (migrations, the browser client): by its path in the project. */
export function assetPath(relative: string): string {
  return join(projectRoot(), relative);
}
