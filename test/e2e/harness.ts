/**
 * Real-browser harness: two HTTPS sites on one machine (a book site and Folio) under *.test names that
 * Chromium maps to 127.0.0.1, so the browser sees them as different sites and applies real CORS rules.
 */
import type { FastifyInstance } from 'fastify';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { buildApp } from '../../app.js';
import type { Config } from '../../lib/config.js';
import { createBook, importToc } from '../../db/books.js';
import { checkToc, type StoredToc } from '../../lib/toc.js';
import { root, testConfig } from '../helper.js';
import { serviceDecision } from '../services.js';

export const chromiumPath = process.env.FOLIO_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Without Debian's Chromium a browser test file is skipped as a whole, with one `# SKIP` line saying how to install
 * it (the file's own top-level code launches the browser, so the process ends here, tap having read the plan);
 * FOLIO_TEST_REQUIRE_CHROMIUM=1 (as in .ci/run) makes launchBrowser fail instead.
 */
const chromiumNeeded = serviceDecision({
  missing: existsSync(chromiumPath) ? undefined : `${chromiumPath} is missing`,
  tests: 'the browser tests (test/e2e)',
  enable: 'install Debian\'s Chromium with "apt-get install -y chromium" (or run .ci/install-chromium.sh)',
  requireVar: 'FOLIO_TEST_REQUIRE_CHROMIUM',
});
if ('skip' in chromiumNeeded) {
  t.plan(0, chromiumNeeded.skip);
  process.exit(0);
}

export interface Certificate {
  cert: string;
  key: string;
}

const run = promisify(execFile);

/**
 * A self-signed EC P-256 certificate for every *.test name (and localhost), valid one day, in a folder of its own
 * removed when the test ends (not t.testdir(): startFolio's testConfig(t) would empty that folder); returns the PEM
 * file paths.
 */
export async function makeCertificate(t: Test): Promise<Certificate> {
  const dir = await mkdtemp(join(tmpdir(), 'folio-e2e-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-days', '1',
    '-subj', '/CN=folio-e2e', '-addext', 'subjectAltName=DNS:api.test,DNS:book.test,DNS:*.test,DNS:localhost,IP:127.0.0.1',
    '-keyout', key, '-out', cert,
  ]);
  return { cert, key };
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export interface BookSite {
  port: number;
  origin: string;
  close(): Promise<void>;
}

/**
 * A static HTTPS site serving in-memory files (path → content; `/` serves `/index.html`). It answers for any
 * host name, so `https://evil.test:PORT` is the same server under another origin.
 */
export async function startBookSite(opts: Certificate & { files: Record<string, string> }): Promise<BookSite> {
  const server = createServer({ cert: await readFile(opts.cert), key: await readFile(opts.key) }, (req, res) => {
    const path = new URL(req.url ?? '/', 'https://book.test').pathname;
    const file = path === '/' ? '/index.html' : path;
    const body = opts.files[file];
    if (body === undefined) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    res.writeHead(200, { 'content-type': contentTypes[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    origin: `https://book.test:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections(); // the browser keeps connections alive; close() alone would wait for them
      }),
  };
}

export interface RunningFolio {
  app: FastifyInstance;
  port: number;
  origin: string;
}

/** A port of 127.0.0.1 free now. */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The real Folio app listening over HTTPS on a free port of 127.0.0.1, reached as https://api.test:PORT; closed on
 * teardown. `publicOrigin`: FOLIO_PUBLIC_ORIGIN is that origin (the port chosen before listening), as Folio's LTI
 * redirect URI and tool URLs must name it.
 */
export async function startFolio(t: Test, opts: Certificate & { configOverrides?: Partial<Config>; publicOrigin?: boolean }): Promise<RunningFolio> {
  const chosen = opts.publicOrigin ? await freePort() : 0;
  const origin = opts.publicOrigin ? { publicOrigin: `https://api.test:${chosen}` } : {};
  const config = testConfig(t, { tlsCert: opts.cert, tlsKey: opts.key, host: '127.0.0.1', port: chosen, ...origin, ...opts.configOverrides });
  const app = await buildApp({ config, migrate: true, logger: false });
  t.teardown(() => app.close());
  await app.listen({ host: config.host, port: config.port });
  const { port } = app.server.address() as AddressInfo;
  return { app, port, origin: `https://api.test:${port}` };
}

/**
 * For the dashboard's browser tests: the demo book's table of contents (examples/book/toc.json) imported as book
 * "demo" of `app`, axe-core's script to add to each page, and test-results/, where the screenshots go.
 */
export async function dashboardWorld(app: FastifyInstance): Promise<{ toc: StoredToc; axe: string; shots: string }> {
  const checked = checkToc(JSON.parse(await readFile(join(root, 'examples/book/toc.json'), 'utf8')));
  if (!('toc' in checked)) throw new Error(`examples/book/toc.json: ${checked.problems.join('; ')}`);
  await createBook(app.db, { id: 'demo', title: 'Demo book', origins: [] });
  await importToc(app.db, 'demo', checked.toc);
  await app.books.refresh();
  const shots = join(root, 'test-results');
  await mkdir(shots, { recursive: true });
  return { toc: checked.toc, axe: await readFile(join(root, 'node_modules/axe-core/axe.min.js'), 'utf8'), shots };
}

export interface SeenRequest {
  method: string;
  url: string;
  origin: string | undefined;
}

/** Every request that reaches the app's server from now on, preflights included (the browser's own network log hides them). */
export function recordRequests(app: FastifyInstance): SeenRequest[] {
  const seen: SeenRequest[] = [];
  app.server.on('request', (req: { method?: string; url?: string; headers: Record<string, string | string[] | undefined> }) => {
    const origin = req.headers.origin;
    seen.push({ method: req.method ?? '', url: req.url ?? '', origin: typeof origin === 'string' ? origin : undefined });
  });
  return seen;
}

export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP *.test 127.0.0.1', // one argv element: no shell, so no quotes
  '--ignore-certificate-errors',
];

/**
 * The features Playwright (playwright-core 1.65) switches off by default, in its order: it passes them as one
 * `--disable-features=…` argument, which `ignoreDefaultArgs` can only drop by its exact text.
 */
export const playwrightDisabledFeatures = [
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'TcpPortRandomizationWin',
  'OptimizationHints',
  'NetworkTimeServiceQuerying',
  'AimEnabled',
  'PreconnectToSearch',
  'msForceBrowserSignIn',
  'msEdgeUpdateLaunchServicesPreferredVersion',
];

export interface LaunchOptions {
  /**
   * Chromium's own third-party storage behaviour: Playwright's default `--disable-features=…` is replaced by the
   * same list without ThirdPartyStoragePartitioning (checked on chrome://version at launch). Off by default.
   */
  stockCookies?: boolean;
  /** More command-line switches, after chromiumArgs (with stockCookies, a --disable-features here is overridden by its own). */
  args?: string[];
  /**
   * Host names whose cookies the browser refuses, partitioned ones included, as Chromium's "block cookies for this site"
   * setting does (a content-settings exception in a fresh profile, e.g. `['api.test']`). No command-line switch blocks
   * partitioned cookies; this is the browser's own refusal, so Set-Cookie is ignored and no cookie is ever sent.
   */
  blockCookiesFor?: string[];
}

/** A fresh profile folder whose preferences block cookies of `hosts` (any scheme and port). */
async function profileBlockingCookies(hosts: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'folio-e2e-profile-'));
  const exceptions = Object.fromEntries(hosts.map((host) => [`[*.]${host},*`, { setting: 2 }])); // 2: block
  await mkdir(join(dir, 'Default'));
  await writeFile(join(dir, 'Default', 'Preferences'), JSON.stringify({ profile: { content_settings: { exceptions: { cookies: exceptions } } } }));
  return dir;
}

/** The browser's command line as chrome://version shows it, read in a page of `context` that is closed again. */
async function commandLine(context: BrowserContext): Promise<string> {
  const page = await context.newPage();
  try {
    await page.goto('chrome://version');
    return (await page.textContent('#command_line')) ?? '';
  } finally {
    await page.close();
  }
}

/** Debian's headless Chromium (never a downloaded one) with a fresh context trusting our self-signed certificate; closed on teardown. */
export async function launchBrowser(t: Test, opts: LaunchOptions = {}): Promise<BrowserContext> {
  if ('fail' in chromiumNeeded) throw new Error(chromiumNeeded.fail);
  const args = [...chromiumArgs, ...(opts.args ?? [])];
  const defaultDisable = `--disable-features=${playwrightDisabledFeatures.join(',')}`;
  if (opts.stockCookies) args.push(`--disable-features=${playwrightDisabledFeatures.filter((f) => f !== 'ThirdPartyStoragePartitioning').join(',')}`);
  const ignoreDefaultArgs = opts.stockCookies ? { ignoreDefaultArgs: [defaultDisable] } : {};
  let context: BrowserContext;
  if (opts.blockCookiesFor) {
    // Content settings live in a profile, so this browser gets a persistent context on a prepared one.
    const profile = await profileBlockingCookies(opts.blockCookiesFor);
    const persistent = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, args, ...ignoreDefaultArgs, ignoreHTTPSErrors: true });
    t.teardown(async () => {
      await persistent.close();
      await rm(profile, { recursive: true, force: true });
    });
    context = persistent;
  } else {
    const browser = await chromium.launch({ executablePath: chromiumPath, args, ...ignoreDefaultArgs });
    t.teardown(() => browser.close());
    context = await browser.newContext({ ignoreHTTPSErrors: true });
  }
  if (opts.stockCookies && /--disable-features=\S*ThirdPartyStoragePartitioning/.test(await commandLine(context))) {
    throw new Error('Playwright still disables ThirdPartyStoragePartitioning: its default --disable-features list changed; update playwrightDisabledFeatures in test/e2e/harness.ts');
  }
  return context;
}

/** A fresh page of `context` showing the book site under `origin`, closed when the subtest ends. */
export async function openBookPage(t: Test, context: BrowserContext, origin: string): Promise<Page> {
  const page = await context.newPage();
  t.teardown(() => page.close());
  await page.goto(`${origin}/`);
  return page;
}

export interface FetchResult {
  status?: number;
  body?: unknown;
  error?: { name: string; message: string };
}

/** Runs fetch(url, init) inside the page; returns the status and JSON body (null when empty), or the error the page saw. */
export function fetchFrom(page: Page, url: string, init: RequestInit): Promise<FetchResult> {
  return page.evaluate(
    async ([url, init]) => {
      try {
        const res = await fetch(url, init);
        const text = await res.text();
        return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
      } catch (err) {
        return { error: { name: (err as Error).name, message: (err as Error).message } };
      }
    },
    [url, init] as const,
  );
}
