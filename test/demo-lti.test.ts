import t from 'tap';
import { listPlatforms } from '../db/lti.js';
import { startDemoPlatform } from '../scripts/demo.js';
import { build } from './helper.js';

/** `npm run demo -- --lti`: the demo's LMS is registered with Folio, and its course page's launch goes all the way to the demo book page with a hand-off code. */

const pagesOrigin = 'http://localhost:8080';

/** The hidden fields of the first form of an HTML page, and its action. */
function formOf(html: string): { action: string; fields: Record<string, string> } {
  const unescape = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
  const action = unescape(/<form[^>]* action="([^"]*)"/.exec(html)![1]!);
  const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)].map((m) => [unescape(m[1]!), unescape(m[2]!)]));
  return { action, fields };
}

t.test("the demo's LMS is registered (replacing an earlier run's) and its student launch ends on the demo book's first page with a hand-off code", async (t) => {
  const app = await build(t, { demo: true });
  const earlier = await startDemoPlatform(app, 0, pagesOrigin);
  await earlier.platform.close();
  const { platform, lines } = await startDemoPlatform(app, earlier.platform.port, pagesOrigin);
  t.teardown(platform.close);
  const issuer = /LMS\s+(\S+)/.exec(lines[0]!)![1]!;
  t.equal(issuer, platform.issuer);
  t.same(
    (await listPlatforms(app.db)).map((p) => [p.issuer, p.clientId]),
    [[issuer, 'folio-demo']],
    'one registration: the earlier run\'s (same port, same issuer, old keys) replaced',
  );

  const coursePage = /launch as a student\s+(\S+)/.exec(lines.join('\n'))![1]!;
  const course = formOf(await (await fetch(coursePage)).text());
  t.equal(course.action, 'http://127.0.0.1:3000/lti/login');
  t.match(course.fields, { iss: issuer, login_hint: 'student', target_link_uri: `${pagesOrigin}/index.html`, client_id: 'folio-demo' });

  const login = await app.inject({ method: 'GET', url: `/lti/login?${new URLSearchParams(course.fields)}` });
  t.equal(login.statusCode, 302);
  const auth = formOf(await (await fetch(String(login.headers.location))).text());
  t.equal(auth.action, 'http://127.0.0.1:3000/lti/launch');
  const launch = await app.inject({ method: 'POST', url: '/lti/launch', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(auth.fields).toString() });
  t.equal(launch.statusCode, 302, launch.body);
  t.match(String(launch.headers.location), new RegExp(`^${pagesOrigin}/index\\.html#folio-handoff=[A-Za-z0-9_-]{43}$`));
});
