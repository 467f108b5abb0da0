import fastifyStatic from '@fastify/static';
import type { FastifyHelmetOptions } from '@fastify/helmet';
import type { FastifyPluginAsync } from 'fastify';
import { access } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { assetFolder, assetPath } from '../lib/assets.js';
import { HttpError } from '../lib/errors.js';
import { servesHttps } from '../plugins/config.js';
import { headerPolicies } from '../plugins/security.js';

/** The files of the dashboard that `npm run build` puts in dist/dashboard/ (scripts/build-dashboard.ts), with their content types. */
export const dashboardFiles: Record<string, string> = {
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.js.map': 'application/json; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'chart.js.map': 'application/json; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
};

/**
 * The page: a shell the script fills. Everything it loads is a file of Folio's own (the CSP below allows nothing else),
 * so it has no inline script or style: the dashboard's looks are all in dashboard.css.
 */
export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dashboard · Folio</title>
<link rel="stylesheet" href="dashboard.css">
<script type="module" src="dashboard.js"></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header class="bar">
<p class="brand"><a href="#/">Folio dashboard</a></p>
<div id="account" class="account"></div>
</header>
<main id="main" tabindex="-1">
<h1>Folio dashboard</h1>
<p id="loading">Loading…</p>
<noscript><p class="error">The dashboard needs JavaScript.</p></noscript>
</main>
<div id="status" class="status" role="status" aria-live="polite"></div>
</body>
</html>
`;

/**
 * The dashboard's CSP: Folio's own files only (scripts, styles, the API calls), no inline script or style, no plugin,
 * no framing, forms posting nowhere else. Stricter than the other pages' helmet defaults, which allow styles and
 * fonts from any https host.
 */
export function dashboardPolicy(pagePolicy: FastifyHelmetOptions, https: boolean): FastifyHelmetOptions {
  return {
    ...pagePolicy,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        ...(https ? { upgradeInsecureRequests: [] } : {}),
      },
    },
  };
}

/** The page is HTML that names unversioned files: browsers revalidate both (a 304 while unchanged), so a new build shows at once. */
const revalidate = 'no-cache';

export interface DashboardRoutesOptions {
  /** Where the built dashboard is; by default dist/dashboard (in the single binary, its extracted assets). */
  dir?: string;
}

/**
 * The instructors' dashboard at /dashboard/: a page of Folio's own, same-origin with the API (its session cookie is
 * first-party), and its script and stylesheet. The page is public; what it shows comes from the API, which checks access.
 */
const dashboardRoutes: FastifyPluginAsync<DashboardRoutesOptions> = async (app, opts) => {
  const helmet = dashboardPolicy(headerPolicies(app.config).pagePolicy, servesHttps(app.config));
  const dir = opts.dir ?? assetFolder('dist/dashboard');
  // In the single binary the files are written on the first request for one of them (lib/assets.ts).
  const written = opts.dir === undefined ? () => assetPath('dist/dashboard') : () => dir;
  await app.register(fastifyStatic, {
    root: dir,
    serve: false,
    cacheControl: false,
    setHeaders(reply, path) {
      reply.header('cache-control', revalidate);
      const type = dashboardFiles[basename(path)];
      if (type !== undefined && reply.statusCode !== 304) reply.header('content-type', type);
    },
  });

  app.get('/dashboard', { config: { access: 'public' }, helmet, schema: { hide: true, summary: 'The dashboard, at its URL with the slash' } }, async (_request, reply) =>
    reply.redirect('/dashboard/', 301),
  );

  app.get('/dashboard/', { config: { access: 'public' }, helmet, schema: { hide: true, summary: "The instructors' dashboard" } }, async (_request, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', revalidate).send(dashboardPage),
  );

  for (const name of Object.keys(dashboardFiles)) {
    const file = join(dir, name);
    app.get(`/dashboard/${name}`, { config: { access: 'public' }, helmet, schema: { hide: true, summary: `The dashboard: ${name}` } }, async (_request, reply) => {
      written();
      await access(file).catch(() => {
        throw new HttpError(503, 'dashboard_not_built', 'the dashboard is not built: run "npm run build" (or "npm run build:client") and retry');
      });
      return reply.sendFile(name);
    });
  }
};

export default dashboardRoutes;
