import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { access } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { assetFolder, assetPath } from '../lib/assets.js';
import { HttpError } from '../lib/errors.js';

/** The files of the browser client that `npm run build` puts in dist/client/, with their content types. */
export const clientFiles: Record<string, string> = {
  'folio.js': 'text/javascript; charset=utf-8',
  'folio.js.map': 'application/json; charset=utf-8',
  // By its extension alone, send's mime table would call it video/mp2t.
  'folio.d.ts': 'application/typescript; charset=utf-8',
  // The components for book authors: the registry (it loads each element type's code from components/) and their look.
  'components.js': 'text/javascript; charset=utf-8',
  'components.js.map': 'application/json; charset=utf-8',
  'components.css': 'text/css; charset=utf-8',
};

/** The components' code, loaded by components.js: names with a hash of their content (`choice-7BHEJEUS.js`), so cached for good. */
export const componentChunk = /^[A-Za-z0-9_-]{1,64}-[A-Z0-9]{8}\.js(\.map)?$/;
/** The content type of a client file (or of its compressed copy). */
function typeOf(file: string): string | undefined {
  const name = file.replace(/\.(br|gz)$/, '');
  return clientFiles[name] ?? (componentChunk.test(name) ? clientFiles[name.endsWith('.map') ? 'components.js.map' : 'components.js'] : undefined);
}

/** A compressed copy is typed by @fastify/static after setHeaders (by extension): the file's own type again. */
const keepType = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
  const type = typeOf(basename(request.url.split('?')[0]!));
  if (type !== undefined && reply.statusCode === 200) reply.header('content-type', type);
  return payload;
};

/** A year: what browsers may keep a component chunk without asking again (its name changes with its content). */
export const componentChunkMaxAgeMs = 365 * 24 * 3_600_000;

/** Unversioned URLs: browsers revalidate after five minutes (a 304 while unchanged), so a new client reaches pages soon. */
export const clientMaxAgeMs = 300_000;

export interface ClientRoutesOptions {
  /** Where the built client is; by default dist/client (in the single binary, its extracted assets). */
  dir?: string;
}

/**
 * Serves the browser client at /client/folio.js (and its .d.ts and source map) to any site: `<script type="module">`
 * and `import` fetch it in CORS mode, so plugins/cors.ts answers `Access-Control-Allow-Origin: *` here (no credentials),
 * and Cross-Origin-Resource-Policy is cross-origin. @fastify/static sends the files (ETag and Last-Modified from the
 * file's size and mtime, 304 to If-None-Match or If-Modified-Since, Cache-Control); only these three, one route each.
 */
const clientRoutes: FastifyPluginAsync<ClientRoutesOptions> = async (app, opts) => {
  const dir = opts.dir ?? assetFolder('dist/client');
  // In the single binary the files are written on the first request for one of them, not at every start (lib/assets.ts).
  const written = opts.dir === undefined ? () => assetPath('dist/client') : () => dir;
  // Only reply.sendFile, in this plugin's context: nothing else in the folder is served, nor listed. The build writes
  // brotli and gzip copies of the components' files (.br, .gz): sent to browsers that accept them.
  await app.register(fastifyStatic, {
    root: dir,
    serve: false,
    maxAge: clientMaxAgeMs,
    preCompressed: true,
    setHeaders(reply, path) {
      reply.header('cross-origin-resource-policy', 'cross-origin');
      const type = typeOf(basename(path));
      if (type !== undefined && reply.statusCode !== 304) reply.header('content-type', type);
    },
  });

  for (const name of Object.keys(clientFiles)) {
    const file = join(dir, name);
    app.get(`/client/${name}`, { config: { access: 'public' }, schema: { hide: true, summary: `The browser client: ${name}` }, onSend: keepType }, async (_request, reply) => {
      written();
      // A missing file would be send's plain 404 (no such route); a client not built yet says what to do.
      await access(file).catch(() => {
        throw new HttpError(503, 'client_not_built', 'the browser client is not built: run "npm run build" (or "npm run build:client") and retry');
      });
      return reply.sendFile(name);
    });
  }

  app.get<{ Params: { file: string } }>(
    '/client/components/:file',
    { config: { access: 'public' }, schema: { hide: true, summary: 'The code of one type of component (loaded by /client/components.js)' }, onSend: keepType },
    async (request, reply) => {
      written();
      const { file } = request.params;
      const missing = new HttpError(404, 'not_found', `no component file ${JSON.stringify(file)}: load /client/components.js, which names its files`);
      if (!componentChunk.test(file)) throw missing;
      await access(join(dir, 'components', file)).catch(() => {
        throw missing;
      });
      return reply.sendFile(`components/${file}`, { maxAge: componentChunkMaxAgeMs, immutable: true });
    },
  );
};

export default clientRoutes;
