/**
 * Writes docs/toc.schema.json, the JSON Schema of a book's table of contents, from schemas/toc.ts (the one source:
 * `folio books toc import` checks files against it). test/toc.test.ts fails when the file is not what this writes.
 *
 *   npx tsx scripts/toc-schema.ts
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Toc } from '../schemas/toc.js';

export const tocSchemaFile = join(import.meta.dirname, '..', 'docs', 'toc.schema.json');

/** The file's text: the schema as JSON, two-space indented, with a final newline. */
export function tocSchemaText(): string {
  return `${JSON.stringify(Toc, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(tocSchemaFile, tocSchemaText());
  console.log(`wrote ${tocSchemaFile}`);
}
