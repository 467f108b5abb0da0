import { FolioError } from './errors.js';
import type { Runtime } from './types.js';

export interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** From the server's root, e.g. `/api/auth/me`. */
  path: string;
  body?: unknown;
  /** Sent as `Authorization: Bearer`. */
  token?: string | null;
  /** Ask for an anonymous session as a token (X-Folio-Mode: token) should this write start one. */
  tokenMode?: boolean;
  /** Let the request outlive the page (for events sent while it is hidden or unloading); no timeout then. */
  keepalive?: boolean;
}

/** What became of a call, sorted by what the client does next. */
export type Outcome =
  | { kind: 'ok'; status: number; body: unknown; headers: Headers }
  /** 401: the session is missing or has ended */
  | { kind: 'auth'; error: FolioError }
  /** worth trying again later: no reply, a timeout, 408, 429 or 5xx */
  | { kind: 'retry'; reason: 'offline' | 'timeout' | 'server_error' | 'rate_limited'; error: FolioError }
  /** any other 4xx: sending it again cannot help */
  | { kind: 'refused'; error: FolioError };

async function errorOf(res: Response): Promise<FolioError> {
  const retryAfter = Number(res.headers.get('retry-after'));
  const retryAfterMs = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
  try {
    const body = (await res.json()) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string' && typeof body.message === 'string') return new FolioError(res.status, body.error, body.message, retryAfterMs);
  } catch {
    // not our JSON (a proxy's error page): fall through
  }
  return new FolioError(res.status, res.status >= 500 ? 'server_error' : 'http_error', `Folio answered ${res.status} ${res.statusText}`.trim(), retryAfterMs);
}

/** One request to Folio with credentials, JSON in and out, and a timeout. Never throws: every result is an Outcome. */
export async function call(runtime: Runtime, server: string, timeoutMs: number, req: Call): Promise<Outcome> {
  const headers: Record<string, string> = {};
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  if (req.token) headers.authorization = `Bearer ${req.token}`;
  if (req.tokenMode) headers['x-folio-mode'] = 'token';
  const controller = req.keepalive ? null : new AbortController();
  let timedOut = false;
  const timer = controller
    ? runtime.setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs)
    : null;
  try {
    const res = await runtime.fetch(server + req.path, {
      method: req.method,
      credentials: 'include',
      headers,
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
      ...(req.keepalive ? { keepalive: true } : {}),
      ...(controller ? { signal: controller.signal } : {}),
    });
    if (res.ok) {
      const text = await res.text();
      return { kind: 'ok', status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown), headers: res.headers };
    }
    const error = await errorOf(res);
    if (res.status === 401) return { kind: 'auth', error };
    if (res.status === 408) return { kind: 'retry', reason: 'timeout', error };
    if (res.status === 429) return { kind: 'retry', reason: 'rate_limited', error };
    if (res.status >= 500) return { kind: 'retry', reason: 'server_error', error };
    return { kind: 'refused', error };
  } catch (err) {
    if (timedOut) return { kind: 'retry', reason: 'timeout', error: new FolioError(0, 'timeout', `Folio did not answer within ${timeoutMs} ms`) };
    // fetch rejects with a TypeError for no network, DNS, TLS and CORS failures alike.
    return { kind: 'retry', reason: 'offline', error: new FolioError(0, 'offline', `could not reach Folio at ${server} (${(err as Error).message})`) };
  } finally {
    if (timer !== null) runtime.clearTimeout(timer);
  }
}
