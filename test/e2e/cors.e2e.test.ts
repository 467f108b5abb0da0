/** CORS as a real Chromium enforces it: a book page on one site calls Folio on another. */
import type { Page } from 'playwright-core';
import t, { type Test } from 'tap';
import { createBook } from '../../db/books.js';
import { fetchFrom, launchBrowser, makeCertificate, openBookPage, recordRequests, startBookSite, startFolio } from './harness.js';

const certificate = await makeCertificate(t);

const site = await startBookSite({ ...certificate, files: { '/index.html': '<!doctype html><title>A book</title><p>A book page</p>' } });
t.teardown(() => site.close());
const evilOrigin = `https://evil.test:${site.port}`;

const folio = await startFolio(t, certificate);
await createBook(folio.app.db, { id: 'book', title: 'A book', origins: [site.origin] });
await folio.app.books.refresh();
const seen = recordRequests(folio.app);

const context = await launchBrowser(t);

/** A fresh page showing the book site under `origin`, closed when the subtest ends. */
const openPage = (t: Test, origin: string): Promise<Page> => openBookPage(t, context, origin);

const bookUrl = `${folio.origin}/api/books/book`;

t.beforeEach(() => {
  seen.length = 0;
});

t.test('a page on an allowed origin reads the book', async (t) => {
  const page = await openPage(t, site.origin);
  const result = await fetchFrom(page, bookUrl, { credentials: 'include' });
  t.strictSame(result, { status: 200, body: { id: 'book', title: 'A book' } });
  t.strictSame(seen, [{ method: 'GET', url: '/api/books/book', origin: site.origin }]);
});

t.test('a page on an origin outside the allowlist cannot read the reply', async (t) => {
  const page = await openPage(t, evilOrigin);
  const result = await fetchFrom(page, bookUrl, { credentials: 'include' });
  t.strictSame(result, { error: { name: 'TypeError', message: 'Failed to fetch' } });
  // A simple GET still reaches the server: it is the browser that withholds the reply.
  t.strictSame(seen, [{ method: 'GET', url: '/api/books/book', origin: evilOrigin }]);
});

t.test('a JSON PUT is preflighted, and the page can read the error reply', async (t) => {
  const page = await openPage(t, site.origin);
  const result = await fetchFrom(page, bookUrl, {
    method: 'PUT',
    credentials: 'include',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'Renamed' }),
  });
  t.strictSame(result, { status: 404, body: { statusCode: 404, error: 'not_found', message: 'no route PUT /api/books/book' } });
  t.strictSame(seen, [
    { method: 'OPTIONS', url: '/api/books/book', origin: site.origin },
    { method: 'PUT', url: '/api/books/book', origin: site.origin },
  ]);
});
