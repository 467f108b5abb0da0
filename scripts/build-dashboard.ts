/**
 * Builds the instructors' dashboard (dashboard/) into dist/dashboard/: dashboard.js (an ES module, minified, with
 * dashboard.js.map), chart.js (the activity chart's module, which dashboard.js imports when it draws one) and
 * dashboard.css, which routes/dashboard.ts serves at /dashboard/. Type errors in dashboard/ fail the build. Run by `npm run build`, `npm start` and `npm run demo` (through build:client).
 */
import { build } from 'esbuild';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import ts from 'typescript';

const root = join(import.meta.dirname, '..');
const source = join(root, 'dashboard');
const out = join(root, 'dist/dashboard');
/** The budget for the first load's JavaScript, compressed. */
const budget = 200 * 1024;

function fail(message: string): never {
  console.error(`build-dashboard: ${message}`);
  process.exit(1);
}

function typeCheck(): void {
  const configFile = join(source, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(configFile, (f) => ts.sys.readFile(f));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, source);
  const diagnostics = [...(error ? [error] : []), ...parsed.errors, ...ts.getPreEmitDiagnostics(ts.createProgram(parsed.fileNames, parsed.options))];
  if (diagnostics.length === 0) return;
  const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
  fail(`dashboard/ does not type-check:\n${ts.formatDiagnosticsWithColorAndContext(diagnostics, host)}`);
}

const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
const started = Date.now();
typeCheck();
await mkdir(out, { recursive: true });
const common = { bundle: true, minify: true, legalComments: 'none', logLevel: 'warning', banner: { js: `/* Folio dashboard ${version} */`, css: `/* Folio dashboard ${version} */` } } as const;
const script = { format: 'esm', platform: 'browser', target: 'es2022', sourcemap: 'linked', sourcesContent: true } as const;
// The chart (uPlot) is a module of its own that dashboard.js imports when it draws one (dashboard/chart.ts).
await build({ ...common, ...script, entryPoints: [join(source, 'main.ts')], outfile: join(out, 'dashboard.js'), external: ['./chart.js'] });
await build({ ...common, ...script, entryPoints: [join(source, 'chart.ts')], outfile: join(out, 'chart.js') });
await build({ ...common, entryPoints: [join(source, 'dashboard.css')], outfile: join(out, 'dashboard.css'), target: ['chrome109', 'firefox115', 'safari15'] });
const js = await readFile(join(out, 'dashboard.js'));
const chart = await readFile(join(out, 'chart.js'));
const compressed = gzipSync(js).length;
const chartCompressed = gzipSync(chart).length;
// The budget counts the chart too: a course's overview loads it.
if (compressed + chartCompressed > budget) fail(`dashboard.js and chart.js are ${compressed + chartCompressed} bytes gzipped, over the ${budget}-byte budget`);
const css = (await stat(join(out, 'dashboard.css'))).size;
console.log(
  `build-dashboard: dist/dashboard/dashboard.js (${js.length} bytes, ${compressed} gzipped), chart.js (${chart.length} bytes, ${chartCompressed} gzipped), dashboard.css (${css} bytes) in ${Date.now() - started} ms`,
);
