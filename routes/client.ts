import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { assetPath } from '../lib/assets.js';
import { HttpError } from '../lib/errors.js';

/** The files of the browser client that `npm run build` puts in dist/client/, with their content types. */
export const clientFiles: Record<string, string> = {
  'folio.js': 'text/javascript; charset=utf-8',
  'folio.js.map': 'application/json; charset=utf-8',
  'folio.d.ts': 'application/typescript; charset=utf-8',
};

/** Unversioned URLs: browsers revalidate after five minutes (a 304 while unchanged), so a new client reaches pages soon. */
export const clientCacheControl = 'public, max-age=300';

interface Asset {
  body: Buffer;
  etag: string;
  mtimeMs: number;
  size: number;
}

/** Whether an If-None-Match header names this ETag (weak comparison, as RFC 9110 asks for GET). */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch.trim() === '*') return true;
  return ifNoneMatch.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

/**
 * Serves the browser client at /client/folio.js (and its .d.ts and source map) to any site: `<script type="module">`
 * and `import` fetch it in CORS mode, so plugins/cors.ts answers `Access-Control-Allow-Origin: *` here (no credentials),
 * and Cross-Origin-Resource-Policy is cross-origin. Files are read again only when they change on disk.
 */
const clientRoutes: FastifyPluginAsync = async (app) => {
  const cache = new Map<string, Asset>();

  async function load(name: string): Promise<Asset> {
    const file = assetPath(`dist/client/${name}`);
    let info;
    try {
      info = await stat(file);
    } catch {
      throw new HttpError(503, 'client_not_built', 'the browser client is not built: run "npm run build" (or "npm run build:client") and retry');
    }
    const cached = cache.get(name);
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached;
    const body = await readFile(file);
    const asset = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`, mtimeMs: info.mtimeMs, size: info.size };
    cache.set(name, asset);
    return asset;
  }

  for (const [name, contentType] of Object.entries(clientFiles)) {
    app.get(
      `/client/${name}`,
      { schema: { hide: true, summary: `The browser client: ${name}` } },
      async (request: FastifyRequest, reply: FastifyReply) => {
        const asset = await load(name);
        reply.header('cross-origin-resource-policy', 'cross-origin').header('cache-control', clientCacheControl).header('etag', asset.etag);
        if (matches(request.headers['if-none-match'], asset.etag)) return reply.code(304).send();
        return reply.type(contentType).send(asset.body);
      },
    );
  }
};

export default clientRoutes;
