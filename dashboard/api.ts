/** Calls to Folio's API from its own origin: the session cookie is first-party, and the CSRF check accepts Folio's origin. */

/** A refusal from the API: its status, stable error code and message in plain words. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One API call with the session cookie; the reply's JSON (undefined for 204), or an ApiError. */
export async function api<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'Folio could not be reached: check your connection and try again.');
  }
  if (res.status === 204) return undefined as T;
  const data = (await res.json().catch(() => null)) as { error?: string; message?: string } | null;
  if (!res.ok) throw new ApiError(res.status, data?.error ?? 'http_error', data?.message ?? `Folio answered ${res.status}.`);
  return data as T;
}

/** Every page of a list the API gives a page at a time (`next` the cursor of the following page, null on the last). */
export async function allPages<P extends { next: string | null }>(path: string, limit: number): Promise<P[]> {
  const pages: P[] = [];
  let after: string | null = null;
  do {
    const query: string = `limit=${limit}${after === null ? '' : `&after=${encodeURIComponent(after)}`}`;
    const page: P = await api<P>('GET', `${path}${path.includes('?') ? '&' : '?'}${query}`);
    pages.push(page);
    after = page.next;
  } while (after !== null);
  return pages;
}
