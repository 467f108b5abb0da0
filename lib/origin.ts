/** The one place that knows what a book origin is (SPEC §2). */

export class OriginError extends Error {
  override name = 'OriginError';
}

/**
 * Normalises an origin as browsers serialise it: `scheme://host[:port]`, lower-case scheme and host,
 * default port dropped, no path, no trailing slash. Throws an OriginError saying what is wrong.
 */
export function normalizeOrigin(input: string): string {
  const text = input.trim();
  if (text === '' || text.toLowerCase() === 'null') throw new OriginError(`origin ${JSON.stringify(input)} is not allowed: give scheme://host[:port]`);
  if (text.includes('*')) throw new OriginError(`origin ${JSON.stringify(input)} has a wildcard: list each origin exactly`);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new OriginError(`origin ${JSON.stringify(input)} has no scheme: write it as https://${text.replace(/^\/+/, '')}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new OriginError(`origin ${JSON.stringify(input)} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OriginError(`origin ${JSON.stringify(input)} must use http or https, not ${url.protocol.slice(0, -1)}`);
  if (url.username || url.password) throw new OriginError(`origin ${JSON.stringify(input)} must not contain a user name or password`);
  if (url.search || url.hash || /[?#]/.test(text)) throw new OriginError(`origin ${JSON.stringify(input)} has a query or fragment: an origin is only scheme://host[:port]`);
  if (url.pathname !== '/' || /^[a-z]+:\/\/[^/]+\/./i.test(text)) throw new OriginError(`origin ${JSON.stringify(input)} has a path: an origin is only scheme://host[:port]`);
  if (!url.hostname) throw new OriginError(`origin ${JSON.stringify(input)} has no host`);
  return `${url.protocol}//${url.host}`;
}

const bookIdPattern = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function isBookId(id: string): boolean {
  return bookIdPattern.test(id);
}

/** The book a request path is about (`/api/books/:book/...`), or undefined for other paths. */
export function bookOfPath(url: string): string | undefined {
  const match = /^\/api\/books\/([^/?#]+)/.exec(url);
  if (!match) return undefined;
  try {
    return decodeURIComponent(match[1]!);
  } catch {
    return '';
  }
}
