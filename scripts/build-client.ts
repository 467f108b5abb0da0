/**
 * Builds the browser client (client/) into dist/client/: folio.js (one ES module, no dependencies, minified, with
 * folio.js.map) and folio.d.ts (one self-contained declaration file for authors who use TypeScript). Type errors in
 * client/ fail the build. Run by `npm run build`, `npm start` and `npm run demo`.
 */
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import { basename, join } from 'node:path';
import ts from 'typescript';

const root = join(import.meta.dirname, '..');
const source = join(root, 'client');
const out = join(root, 'dist/client');

function fail(message: string): never {
  console.error(`build-client: ${message}`);
  process.exit(1);
}

function report(diagnostics: readonly ts.Diagnostic[]): void {
  if (diagnostics.length === 0) return;
  const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  fail(`client/ does not type-check:\n${ts.formatDiagnosticsWithColorAndContext(diagnostics, host)}`);
}

/** The client's declarations, one text per module (by file name), type-checked with client/tsconfig.json; and the program. */
function declarations(): { texts: Map<string, string>; program: ts.Program } {
  const configFile = join(source, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(configFile, (f) => ts.sys.readFile(f));
  if (error) report([error]);
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, source);
  report(parsed.errors);
  const program = ts.createProgram(parsed.fileNames, { ...parsed.options, noEmit: false, declaration: true, emitDeclarationOnly: true, outDir: out });
  report(ts.getPreEmitDiagnostics(program));
  const texts = new Map<string, string>();
  const { diagnostics } = program.emit(undefined, (file, text) => texts.set(basename(file), text));
  report(diagnostics);
  return { texts, program };
}

const localModule = /^(?:import|export)\b[^;]*?\bfrom\s+'\.\/([\w-]+)\.js';[ \t]*\n?/gm;

/**
 * One declaration file from the entry's and the local modules it refers to: each module's text once, dependencies
 * first, with the imports and re-exports between them removed (their declarations are already exported).
 */
function bundleDeclarations(texts: Map<string, string>, entry: string): string {
  const done = new Set<string>();
  const parts: string[] = [];
  const visit = (file: string) => {
    if (done.has(file)) return;
    done.add(file);
    const text = texts.get(file);
    if (text === undefined) fail(`no declarations for ${file}`);
    for (const [, name] of text.matchAll(localModule)) visit(`${name}.d.ts`);
    parts.push(`// ${file.replace(/\.d\.ts$/, '.ts')}\n${text.replace(localModule, '').replace(/^export \{\};\n/m, '').trim()}\n`);
  };
  visit(entry);
  return parts.join('\n');
}

/** Fails unless the bundled declarations compile on their own, as an author's project would read them (reusing the client program's parsed libraries). */
function checkStandalone(file: string, client: ts.Program): void {
  const program = ts.createProgram([file], { ...client.getCompilerOptions(), noEmit: true, declaration: false, emitDeclarationOnly: false }, undefined, client);
  report(ts.getPreEmitDiagnostics(program));
}

const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
await mkdir(out, { recursive: true });

const started = Date.now();
const { texts, program } = declarations();
const dts = `/** Folio browser client ${version}: types for \`import { Folio } from '<server>/client/folio.js'\`. */\n${bundleDeclarations(texts, 'folio.d.ts')}`;
if (/from\s+'\.\.?\//.test(dts)) fail('folio.d.ts still imports a local module');
await writeFile(join(out, 'folio.d.ts'), dts);
checkStandalone(join(out, 'folio.d.ts'), program);

/** How both bundles are built: minified ES modules for browsers, each with its source map. */
const browserModule = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, sourcemap: 'linked', sourcesContent: true, legalComments: 'none', logLevel: 'warning' } as const;

await build({
  ...browserModule,
  entryPoints: [join(source, 'folio.ts')],
  outfile: join(out, 'folio.js'),
  banner: { js: `/* Folio browser client ${version}. Types: folio.d.ts next to this file. */` },
});
console.log(`build-client: dist/client/folio.js, folio.js.map and folio.d.ts in ${Date.now() - started} ms`);

// The components for book authors: components.js (the registry, a stable name) loads each element type's code from
// dist/client/components/, whose names carry a hash of their content (so they may be cached for good).
const componentsStarted = Date.now();
const componentsConfig = join(source, 'components', 'tsconfig.json');
{
  const { config, error } = ts.readConfigFile(componentsConfig, (f) => ts.sys.readFile(f));
  if (error) report([error]);
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, join(source, 'components'));
  report(parsed.errors);
  report(ts.getPreEmitDiagnostics(ts.createProgram(parsed.fileNames, { ...parsed.options, noEmit: true })));
}
await rm(join(out, 'components'), { recursive: true, force: true });
await build({
  ...browserModule,
  entryPoints: [{ in: join(source, 'components.ts'), out: 'components' }],
  outdir: out,
  entryNames: '[name]',
  chunkNames: 'components/[name]-[hash]',
  splitting: true,
  banner: { js: `/* Folio components ${version}. */` },
});
await copyFile(join(source, 'components', 'style.css'), join(out, 'components.css'));
// Brotli and gzip copies of the components' files: Folio sends them to browsers that accept them (@fastify/static preCompressed).
const componentFiles = ['components.js', 'components.css', ...(await readdir(join(out, 'components'))).filter((f) => f.endsWith('.js')).map((f) => `components/${f}`)];
for (const file of componentFiles) {
  const bytes = await readFile(join(out, file));
  await writeFile(join(out, `${file}.br`), brotliCompressSync(bytes, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11 } }));
  await writeFile(join(out, `${file}.gz`), gzipSync(bytes, { level: 9 }));
}
console.log(`build-client: dist/client/components.js, components.css and components/*.js in ${Date.now() - componentsStarted} ms`);
