/**
 * `npm run demo`: Folio on http://localhost:3000 (FOLIO_PORT) and the demo book (examples/book/: pages made of Folio's
 * components alone, no script of their own) on http://localhost:8080 (DEMO_PORT), with the book `demo` allowing the
 * pages' origins. `localhost:8080` and `localhost:3000` are the same site, so the plain-HTTP SameSite=Lax cookie
 * works. Ctrl-C stops both.
 *
 * It also seeds, on its first start, a class to look at in the instructors' dashboard (http://localhost:3000/dashboard/):
 * the course `demo-101` with an instructor, a teaching assistant and 28 students with three weeks of work
 * (scripts/demo-class.ts); the logins are printed.
 *
 * `npm run demo -- --lti` adds an LTI 1.3 platform (scripts/lti-platform.ts, the tests' fixture) on
 * http://127.0.0.1:8090 (DEMO_LMS_PORT), registered with Folio: its course pages launch the demo book in an iframe
 * as a student or an instructor, so a person can watch a launch happen, and the scores it receives are printed.
 *
 * `npm run demo -- --oidc` adds an OpenID Provider (scripts/oidc-provider.ts, the tests' fixture: oidc-provider with
 * its development login form) on http://127.0.0.1:8091 (DEMO_IDP_PORT), registered with Folio as the provider
 * `demo-idp`: the demo book's login form shows "Sign in with Demo university", any login name and password sign in.
 */
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { addBookOrigin, createBook, findBook, importToc, listBooks } from '../db/books.js';
import { checkToc } from '../lib/toc.js';
import { demoBook } from '../plugins/db.js';
import { ConfigError, loadConfig } from '../plugins/config.js';
import { startServer } from '../server.js';
import { findPlatform, removePlatform, addPlatform } from '../db/lti.js';
import { publicOriginOf } from '../lib/config.js';
import { demoCourse, demoStaff, demoStudents, seedClass, type StaffAccount } from './demo-class.js';
import { lis, startPlatform, type Platform } from './lti-platform.js';
import { addProvider, findProvider, removeProvider } from '../db/oidc.js';
import { callbackUrlOf, discoverProvider, sealClientSecret } from '../lib/oidc.js';
import { startIdentityProvider, type IdentityProvider } from './oidc-provider.js';

export const pagesFolder = join(import.meta.dirname, '..', 'examples', 'book');
/** The Folio URL written in the demo pages; replaced by the real one when they are served. */
export const pagesFolioUrl = 'http://localhost:3000';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** The demo book's files by path (`/index.html`, …), pointing at Folio at `folioUrl`. */
export async function demoPageFiles(folioUrl: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const name of await readdir(pagesFolder)) {
    if (!(extname(name) in contentTypes)) continue;
    files[`/${name}`] = (await readFile(join(pagesFolder, name), 'utf8')).replaceAll(pagesFolioUrl, folioUrl);
  }
  return files;
}

/** Serves the demo pages over plain HTTP (`/` is index.html); resolves once listening. */
export async function servePages(opts: { folioUrl: string; host?: string; port: number }): Promise<{ server: Server; port: number }> {
  const files = await demoPageFiles(opts.folioUrl);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const body = files[path === '/' ? '/index.html' : path];
    if (body === undefined) return res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found');
    res.writeHead(200, { 'content-type': contentTypes[extname(path === '/' ? '/index.html' : path)]!, 'cache-control': 'no-store' }).end(body);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port, opts.host ?? '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * Makes sure the book `demo` exists, allows the pages' origins and has a table of contents, the pages' own
 * (examples/book/toc.json), unless one was imported already (the server creates the book only on an empty database).
 */
export async function ensureDemoBook(app: FastifyInstance, origins: string[]): Promise<void> {
  if (!(await findBook(app.db, demoBook.id))) {
    await createBook(app.db, { ...demoBook, origins });
  } else {
    const known = (await listBooks(app.db)).find((b) => b.id === demoBook.id)?.origins ?? [];
    for (const origin of origins) if (!known.includes(origin)) await addBookOrigin(app.db, demoBook.id, origin);
  }
  await app.books.refresh();
  if (!app.books.toc(demoBook.id)) {
    const checked = checkToc(JSON.parse(await readFile(join(pagesFolder, 'toc.json'), 'utf8')) as unknown);
    if ('problems' in checked) throw new Error(`examples/book/toc.json: ${checked.problems.join('; ')}`);
    await importToc(app.db, demoBook.id, checked.toc);
    await app.books.refresh();
  }
}

/**
 * Seeds the demo's class (scripts/demo-class.ts) on the demo book, once: a database that has the course keeps it as it
 * is. Returns the lines to print: where the dashboard is and who logs in to it.
 */
export async function ensureDemoClass(app: FastifyInstance, folioUrl: string): Promise<string[]> {
  const toc = app.books.toc(demoBook.id);
  if (!toc) throw new Error('the demo book has no table of contents');
  const seeded = await seedClass(app.db, { course: demoCourse, bookId: demoBook.id, toc, students: demoStudents, staff: demoStaff, passwordCost: app.config.passwordCost });
  const [instructor, ta] = demoStaff as [StaffAccount, StaffAccount];
  return [
    `  Dashboard: ${folioUrl}/dashboard/ — log in as ${instructor.username} / ${instructor.password} (instructor) or ${ta.username} / ${ta.password} (teaching assistant)`,
    seeded.created
      ? `    (seeded the course ${demoCourse.id} "${demoCourse.title}": ${seeded.students} students, ${seeded.answers} answers, ${seeded.programs} program versions, ${seeded.completions} completed pages, work of the past 3 weeks)`
      : `    (the course ${demoCourse.id} "${demoCourse.title}" was seeded on an earlier start)`,
  ];
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
  if (!config.demo) {
    console.error('npm run demo needs the demo book: unset FOLIO_DEMO=0');
    process.exit(2);
  }
  const app = await startServer({ config, migrate: true });
  const folioPort = (app.server.address() as AddressInfo).port;
  const folioUrl = `http://localhost:${folioPort}`;
  const pagesPort = Number(process.env.DEMO_PORT ?? 8080);
  await ensureDemoBook(app, [`http://localhost:${pagesPort}`, `http://127.0.0.1:${pagesPort}`]);
  await servePages({ folioUrl, port: pagesPort });
  const lines = [
    '',
    'Folio demo is running (Ctrl-C stops it):',
    `  demo book   http://localhost:${pagesPort}/          (pages from examples/book/: markup alone, Folio's components)`,
    `  Folio       ${folioUrl}             (API docs at ${folioUrl}/docs, the pages' components at ${folioUrl}/client/components.js)`,
    ...(await ensureDemoClass(app, folioUrl)),
  ];
  if (process.argv.includes('--lti')) lines.push(...(await startDemoPlatform(app, Number(process.env.DEMO_LMS_PORT ?? 8090), `http://localhost:${pagesPort}`)).lines);
  if (process.argv.includes('--oidc')) lines.push(...(await startDemoIdentityProvider(app, Number(process.env.DEMO_IDP_PORT ?? 8091))).lines);
  console.log([...lines, ''].join('\n'));
}

/**
 * The identity provider of `npm run demo -- --oidc`: oidc-provider on 127.0.0.1:`port`, registered with Folio as
 * `demo-idp` (replacing an earlier run's registration: its keys and secret are new). Returns the lines to print.
 */
export async function startDemoIdentityProvider(app: FastifyInstance, port: number): Promise<{ idp: IdentityProvider; lines: string[] }> {
  const id = 'demo-idp';
  const clientSecret = randomBytes(24).toString('base64url');
  const redirectUri = callbackUrlOf(publicOriginOf(app.config), id);
  const idp = await startIdentityProvider({ port, clients: [{ clientId: 'folio-demo', clientSecret, redirectUris: [redirectUri] }] });
  const metadata = await discoverProvider(idp.issuer, 'folio-demo');
  if (await findProvider(app.db, id)) await removeProvider(app.db, id);
  await addProvider(app.db, { id, issuer: metadata.issuer, clientId: 'folio-demo', clientSecret: sealClientSecret(app.secret, id, clientSecret), title: 'Demo university', metadata, allowedDomains: [], createAccounts: true });
  const lines = [
    `  identity    ${idp.issuer}      (an OpenID Provider, registered as "${id}"; redirect URI ${redirectUri})`,
    '    the demo book\'s "Sign in with Demo university" opens its login form: any login name and password sign in',
  ];
  return { idp, lines };
}

/**
 * The LTI platform of `npm run demo -- --lti`: registered with Folio (replacing an earlier run's registration, whose
 * keys are gone), with two launches of the demo book's first page: a student's and an instructor's, in one course.
 * Returns the platform and the lines to print.
 */
export async function startDemoPlatform(app: FastifyInstance, port: number, pagesOrigin: string): Promise<{ platform: Platform; lines: string[] }> {
  const platform = await startPlatform({ toolOrigin: publicOriginOf(app.config), port, clientId: 'folio-demo', deploymentId: 'demo-deployment' });
  const registration = platform.registration();
  if (await findPlatform(app.db, registration.issuer, registration.clientId)) await removePlatform(app.db, registration.issuer, registration.clientId);
  await addPlatform(app.db, registration);
  const course = { context: { id: 'demo-course', label: 'DEMO 101', title: 'Demo course in the LMS' }, resourceLink: { id: 'demo-link-ch1', title: '1. Values and lists' }, targetLinkUri: `${pagesOrigin}/index.html` };
  const lineItem = { id: 'demo-ch1', label: '1. Values and lists', scoreMaximum: 2 };
  platform.plan('student', { ...course, sub: 'demo-student', name: 'Sam Student', email: 'sam@example.edu', roles: [`${lis}Learner`], lineItem });
  platform.plan('instructor', { ...course, sub: 'demo-instructor', name: 'Ivy Instructor', email: 'ivy@example.edu', roles: [`${lis}Instructor`], lineItem, nrps: true });
  platform.members.set('demo-course', [
    { user_id: 'demo-student', name: 'Sam Student', email: 'sam@example.edu', roles: [`${lis}Learner`] },
    { user_id: 'demo-student-2', name: 'Robin Reader', email: 'robin@example.edu', roles: [`${lis}Learner`] },
  ]);
  let reported = 0;
  setInterval(() => {
    for (const score of platform.record.scores.slice(reported)) console.log(`LMS gradebook: ${JSON.stringify(score.body)}`);
    reported = platform.record.scores.length;
  }, 1000).unref();
  const lines = [
    `  LMS         ${platform.issuer}      (an LTI 1.3 platform, registered as ${registration.issuer} / ${registration.clientId})`,
    `    launch as a student      ${platform.coursePage('student')}`,
    `    launch as an instructor  ${platform.coursePage('instructor')}`,
    `    (add ?window=new to launch in a new window; scores the LMS receives are printed here)`,
  ];
  return { platform, lines };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
