import t from 'tap';
import { bookOfPath, isBookId, normalizeOrigin, OriginError } from '../lib/origin.js';

t.test('origins are normalised as browsers serialise them', async (t) => {
  const cases: [string, string][] = [
    ['https://book.example', 'https://book.example'],
    ['HTTPS://Book.Example', 'https://book.example'],
    ['https://book.example/', 'https://book.example'],
    ['https://book.example:443', 'https://book.example'],
    ['http://book.example:80', 'http://book.example'],
    ['http://localhost:8080', 'http://localhost:8080'],
    ['https://book.example:8443/', 'https://book.example:8443'],
    ['  https://book.example  ', 'https://book.example'],
    ['http://127.0.0.1:8080', 'http://127.0.0.1:8080'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
    ['https://bücher.example', 'https://xn--bcher-kva.example'],
  ];
  for (const [input, output] of cases) t.equal(normalizeOrigin(input), output, input);
});

t.test('origins that are not scheme://host[:port] over http(s) are refused with a reason', async (t) => {
  const cases: [string, RegExp][] = [
    ['https://book.example/path', /has a path/],
    ['https://book.example/a/', /has a path/],
    ['https://book.example?q=1', /query or fragment/],
    ['https://book.example/?q=1', /query or fragment/],
    ['https://book.example#x', /query or fragment/],
    ['https://*.example', /wildcard/],
    ['*', /wildcard/],
    ['null', /not allowed/],
    ['', /not allowed/],
    ['book.example', /no scheme/],
    ['//book.example', /no scheme/],
    ['ftp://book.example', /must use http or https/],
    ['file:///etc/passwd', /must use http or https|not a valid/],
    ['https://user:pw@book.example', /user name or password/],
    ['https://', /not a valid URL|no host/],
  ];
  for (const [input, reason] of cases) {
    t.throws(() => normalizeOrigin(input), OriginError, input);
    t.throws(() => normalizeOrigin(input), { message: reason }, input);
  }
});

t.test('book ids are slugs of 1 to 64 characters', async (t) => {
  for (const ok of ['demo', 'a', 'thinkcspy-2', 'x_y', '0', 'a'.repeat(64)]) t.ok(isBookId(ok), ok);
  for (const bad of ['', 'Demo', '-a', '_a', 'a b', 'a/b', 'a'.repeat(65), 'ä']) t.notOk(isBookId(bad), bad);
});

t.test('the book of a request path is read from /api/books/:book', async (t) => {
  t.equal(bookOfPath('/api/books/demo'), 'demo');
  t.equal(bookOfPath('/api/books/demo/programs/ac1'), 'demo');
  t.equal(bookOfPath('/api/books/demo?x=1'), 'demo');
  t.equal(bookOfPath('/api/books/d%65mo/state'), 'demo');
  t.equal(bookOfPath('/api/books/%E0%A4%A/state'), '');
  t.equal(bookOfPath('/api/auth/login'), undefined);
  t.equal(bookOfPath('/api/books'), undefined);
  t.equal(bookOfPath('/healthz'), undefined);
});
