/**
 * Writes a book's table of contents from its built pages' components (lib/toc-scan.ts), for `folio books toc import`:
 *
 *   npx tsx scripts/toc-scan.ts SITE-FOLDER > toc.json     # every .html file under the folder, in path order
 *
 * Exit 2 for bad usage, 1 when the result is not a valid table of contents (each problem on stderr).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { checkToc } from '../lib/toc.js';
import { scanPages } from '../lib/toc-scan.js';

function htmlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? htmlFiles(join(dir, e.name)) : e.name.endsWith('.html') ? [join(dir, e.name)] : []))
    .sort();
}

export function scanFolder(folder: string) {
  return scanPages(htmlFiles(folder).map((file) => ({ path: `/${relative(folder, file).split(sep).join('/')}`, html: readFileSync(file, 'utf8') })));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [folder, ...extra] = process.argv.slice(2);
  if (!folder || folder === '--help' || extra.length > 0 || !statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
    console.error('usage: npx tsx scripts/toc-scan.ts SITE-FOLDER > toc.json   (the folder of the built pages)');
    process.exit(folder === '--help' ? 0 : 2);
  }
  const toc = scanFolder(folder);
  const checked = checkToc(toc);
  if ('problems' in checked) {
    for (const problem of checked.problems) console.error(`toc-scan: ${problem}`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify(toc, null, 2)}\n`);
}
