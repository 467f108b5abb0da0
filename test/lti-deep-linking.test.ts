import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { createBook, importToc } from '../db/books.js';
import { addPlatform, removePlatform } from '../db/lti.js';
import { choiceToken, type DeepLinkingChoice } from '../lib/lti-deep-linking.js';
import type { StoredToc } from '../lib/toc.js';
import { lis, startPlatform, type LaunchPlan, type Platform } from '../scripts/lti-platform.js';
import { bookOrigin, buildLogged } from './helper.js';

/** LTI Deep Linking 2.0: an instructor picks pages of a book's table of contents; Folio answers the platform with a signed LtiDeepLinkingResponse. Against the jose platform fixture, which verifies the response with Folio's JWKS. */

const tool = 'http://127.0.0.1:3000';
const claim = (name: string) => `https://purl.imsglobal.org/spec/lti/claim/${name}`;
const dl = (name: string) => `https://purl.imsglobal.org/spec/lti-dl/claim/${name}`;

const toc: StoredToc = {
  chapters: [
    {
      id: 'ch1',
      title: 'Values & lists',
      pages: [
        { id: 'ch1/intro', title: 'Introduction', questions: [{ id: 'q1', kind: 'mchoice', points: 2 }, { id: 'q2', kind: 'fitb', points: 3 }], activities: [] },
        { id: 'ch1/lists', title: 'Lists', url: '/ch1/lists/', questions: [], activities: [] },
      ],
    },
    {
      id: 'ch2',
      title: 'Loops',
      pages: [
        { id: 'ch2/for', title: 'For loops', questions: [{ id: 'q3', kind: 'mchoice', points: 1 }], activities: [] },
        { id: 'ch2/survey', title: 'Survey', questions: [{ id: 'q4', kind: 'poll', points: 0 }], activities: [] },
      ],
    },
  ],
};

/** Folio's JWKS as GET /lti/jwks serves it. */
const jwksOf = (app: FastifyInstance) => async () => (await app.inject({ method: 'GET', url: '/lti/jwks' })).json() as JSONWebKeySet;

/** Folio with the fixture platform registered and `book`'s table of contents imported (`other` has none). */
async function setup(t: Test) {
  const { app, events } = await buildLogged(t);
  const platform = await startPlatform({ toolOrigin: tool, toolJwks: jwksOf(app) });
  t.teardown(platform.close);
  await addPlatform(app.db, platform.registration());
  await importToc(app.db, 'book', toc);
  await app.books.refresh();
  return { app, events, platform };
}

/** An instructor's Deep Linking request for `book`, with data, with `extra` over it. */
const plan = (extra: Partial<LaunchPlan> = {}): LaunchPlan => ({
  sub: 'teacher-1',
  roles: [`${lis}Instructor`],
  targetLinkUri: `${tool}/lti/launch`,
  context: { id: 'ctx-1', title: 'CS 101' },
  custom: { book: 'book' },
  deepLinking: { data: 'opaque-data-42' },
  ...extra,
});

/** The whole launch: GET /lti/login, then the platform's id_token for the login's nonce posted to /lti/launch as a browser would. */
async function launch(app: FastifyInstance, platform: Platform, launchPlan: LaunchPlan, accept = 'text/html,application/xhtml+xml') {
  const query = new URLSearchParams({ iss: platform.issuer, login_hint: 'hint-1', target_link_uri: launchPlan.targetLinkUri, client_id: platform.clientId });
  const location = new URL(String((await app.inject({ method: 'GET', url: `/lti/login?${query}` })).headers.location));
  const idToken = await platform.idToken(launchPlan, location.searchParams.get('nonce')!);
  return app.inject({
    method: 'POST',
    url: '/lti/launch',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: platform.issuer, 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'cross-site', accept },
    payload: new URLSearchParams({ id_token: idToken, state: location.searchParams.get('state')! }).toString(),
  });
}

const tokenOf = (html: string) => /<input type="hidden" name="token" value="([^"]+)">/.exec(html)![1]!;

/** Posts the picker's form: the token and the fields, repeated fields as a browser sends ticked boxes. */
const choose = (app: FastifyInstance, fields: Array<[string, string]>, accept = 'text/html') =>
  app.inject({
    method: 'POST',
    url: '/lti/deep-linking',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'null', 'sec-fetch-mode': 'navigate', 'sec-fetch-site': 'same-origin', accept },
    payload: new URLSearchParams(fields).toString(),
  });

/** The auto-posting page's form: where it posts and the JWT it carries. */
function returnForm(html: string) {
  const found = /<form method="post" action="([^"]+)"><input type="hidden" name="JWT" value="([^"]+)">/.exec(html);
  return { action: found![1]!, jwt: found![2]! };
}

/** Verifies the response as the platform would: Folio's JWKS, RS256, audience the platform's issuer. */
async function verified(app: FastifyInstance, platform: Platform, jwt: string) {
  return jwtVerify(jwt, createLocalJWKSet(await jwksOf(app)()), { algorithms: ['RS256'], audience: platform.issuer, issuer: platform.clientId });
}

/** The inline <script> and <style> of a page, and the CSP hash sources they need. */
function inlineHashes(html: string) {
  const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
  const script = /<script>([^<]*)<\/script>/.exec(html)?.[1];
  return { script: script === undefined ? undefined : hash(script), style: hash(/<style>([^<]*)<\/style>/.exec(html)![1]!) };
}

const count = async (app: FastifyInstance, table: string) => Number((await app.db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM ${sql.identifier(table)}`))!.n);

t.test("an instructor's Deep Linking launch shows the book's chapters and pages, each with a box, its title and points: framable, not stored, its inline code allowed by hash", async (t) => {
  const { app, events, platform } = await setup(t);
  const res = await launch(app, platform, plan());
  t.equal(res.statusCode, 200);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.headers['x-frame-options'], undefined);
  const { script, style } = inlineHashes(res.body);
  t.equal(res.headers['content-security-policy'], `default-src 'none'; script-src ${script}; style-src ${style}; form-action 'self'; frame-ancestors *; base-uri 'none'`);
  t.equal(res.headers['referrer-policy'], 'no-referrer');
  t.match(res.body, '<h1>Link pages of <cite>A book</cite></h1>');
  t.match(res.body, '<form method="post" action="deep-linking">');
  t.match(
    res.body,
    '<fieldset><legend><label><input type="checkbox" name="chapter" value="book:ch1" data-chapter> Values &#38; lists</label></legend><ul>' +
      '<li><label><input type="checkbox" name="page" value="book:ch1/intro" data-in="book:ch1"> Introduction</label> <span class="points">5 points</span></li>' +
      '<li><label><input type="checkbox" name="page" value="book:ch1/lists" data-in="book:ch1"> Lists</label> <span class="points">1 point (completion)</span></li></ul></fieldset>' +
      '<fieldset><legend><label><input type="checkbox" name="chapter" value="book:ch2" data-chapter> Loops</label></legend><ul>' +
      '<li><label><input type="checkbox" name="page" value="book:ch2/for" data-in="book:ch2"> For loops</label> <span class="points">1 point</span></li>' +
      '<li><label><input type="checkbox" name="page" value="book:ch2/survey" data-in="book:ch2"> Survey</label> <span class="points">0 points (not graded)</span></li></ul></fieldset>',
  );
  t.match(res.body, '<button name="action" value="link">Link the chosen pages</button><button name="action" value="cancel" formnovalidate>Cancel</button>');
  t.match(tokenOf(res.body), /^[\w-]+\.[\w-]+\.[\w-]+$/);
  t.match(events('lti_deep_linking'), [
    { issuer: platform.issuer, clientId: 'folio', deploymentId: 'd1', sub: 'teacher-1', staff: 'instructor', book: 'book', books: ['book'], acceptMultiple: true, acceptLineItem: true, level: 30 },
  ]);
  t.equal(await count(app, 'users'), 0, 'choosing pages makes no account');
  t.equal(await count(app, 'courses'), 0);
});

t.test("a learner's Deep Linking launch is refused with a page saying who may choose pages", async (t) => {
  const { app, events, platform } = await setup(t);
  const res = await launch(app, platform, plan({ roles: [`${lis}Learner`] }));
  t.equal(res.statusCode, 400);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.match(res.body, 'only an instructor, teaching assistant, content developer or administrator of the course chooses which pages of a book to link: your role in this course is not one of them');
  t.notMatch(res.body, 'name="token"');
  t.match(events('lti_launch_refused'), [{ reason: 'role', issuer: platform.issuer }]);
});

t.test('a teaching assistant may choose pages', async (t) => {
  const { app, platform } = await setup(t);
  const res = await launch(app, platform, plan({ roles: [`${lis}TeachingAssistant`] }));
  t.equal(res.statusCode, 200);
});

t.test('a Deep Linking request that does not accept resource links is refused: 400 lti_accept_types', async (t) => {
  const { app, platform } = await setup(t);
  const settings = { deep_link_return_url: `${platform.issuer}/deep-link-return`, accept_types: ['file', 'html'], accept_presentation_document_targets: ['iframe'] };
  const res = await launch(app, platform, plan({ overrides: { [dl('deep_linking_settings')]: settings } }), 'application/json');
  t.equal(res.statusCode, 400);
  t.same(res.json(), { statusCode: 400, error: 'lti_accept_types', message: 'the LMS accepts file, html here, and Folio links pages as ltiResourceLink' });
});

t.test("the chosen pages and chapters come back as resource links in an LtiDeepLinkingResponse signed with Folio's key, posted to the platform's return URL; a page worth 0 points has no line item", async (t) => {
  const { app, events, platform } = await setup(t);
  const token = tokenOf((await launch(app, platform, plan())).body);
  const res = await choose(app, [['token', token], ['page', 'book:ch1/intro'], ['page', 'book:ch1/lists'], ['chapter', 'book:ch2'], ['page', 'book:ch2/for'], ['action', 'link']]);
  t.equal(res.statusCode, 200);
  t.equal(res.headers['cache-control'], 'no-store');
  t.equal(res.headers['x-frame-options'], undefined);
  const { script, style } = inlineHashes(res.body);
  t.equal(res.headers['content-security-policy'], `default-src 'none'; script-src ${script}; style-src ${style}; form-action ${platform.issuer}; frame-ancestors *; base-uri 'none'`);
  t.match(res.body, '<script>document.forms[0].submit()</script>');
  t.match(res.body, '<p>Returning to your course with 4 links…</p><noscript><button>Continue to your course</button></noscript>');
  const { action, jwt } = returnForm(res.body);
  t.equal(action, `${platform.issuer}/deep-link-return`);

  const { payload, protectedHeader } = await verified(app, platform, jwt);
  const [folioKey] = (await jwksOf(app)()).keys;
  t.same(protectedHeader, { alg: 'RS256', kid: folioKey!.kid, typ: 'JWT' });
  t.match(payload.nonce, /^[\w-]{22}$/);
  t.equal(payload.exp, payload.iat! + 300);
  t.ok(Math.abs(payload.iat! - Date.now() / 1000) < 5);
  t.same(payload, {
    iss: 'folio',
    aud: platform.issuer,
    iat: payload.iat,
    exp: payload.exp,
    nonce: payload.nonce,
    [claim('message_type')]: 'LtiDeepLinkingResponse',
    [claim('version')]: '1.3.0',
    [claim('deployment_id')]: 'd1',
    [dl('data')]: 'opaque-data-42',
    [dl('content_items')]: [
      { type: 'ltiResourceLink', title: 'Introduction', url: `${bookOrigin}/ch1/intro.html`, lineItem: { scoreMaximum: 5, label: 'Introduction', resourceId: 'ch1/intro', tag: 'folio' }, custom: { book: 'book' } },
      { type: 'ltiResourceLink', title: 'Lists', url: `${bookOrigin}/ch1/lists/`, lineItem: { scoreMaximum: 1, label: 'Lists', resourceId: 'ch1/lists', tag: 'folio' }, custom: { book: 'book' } },
      { type: 'ltiResourceLink', title: 'For loops', url: `${bookOrigin}/ch2/for.html`, lineItem: { scoreMaximum: 1, label: 'For loops', resourceId: 'ch2/for', tag: 'folio' }, custom: { book: 'book' } },
      { type: 'ltiResourceLink', title: 'Survey', url: `${bookOrigin}/ch2/survey.html`, custom: { book: 'book' } },
    ],
  });
  t.match(events('lti_deep_linking_response'), [{ issuer: platform.issuer, clientId: 'folio', deploymentId: 'd1', sub: 'teacher-1', cancelled: false, pages: ['book:ch1/intro', 'book:ch1/lists', 'book:ch2/for', 'book:ch2/survey'] }]);

  // The browser's post of the form: the platform verifies it against /lti/jwks and takes the links.
  const returned = await fetch(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ JWT: jwt }) });
  t.equal(returned.status, 200);
  t.equal(platform.record.deepLinkResponses.length, 1);
});

t.test('a response to a request without data has no data claim; a platform that takes no line item gets links without one', async (t) => {
  const { app, platform } = await setup(t);
  const token = tokenOf((await launch(app, platform, plan({ deepLinking: { acceptLineItem: false } }))).body);
  const { payload } = await verified(app, platform, returnForm((await choose(app, [['token', token], ['page', 'book:ch2/for']])).body).jwt);
  t.notOk(dl('data') in payload);
  t.same(payload[dl('content_items')], [{ type: 'ltiResourceLink', title: 'For loops', url: `${bookOrigin}/ch2/for.html`, custom: { book: 'book' } }]);
});

t.test('Cancel returns an empty list of content items (and the data)', async (t) => {
  const { app, events, platform } = await setup(t);
  const token = tokenOf((await launch(app, platform, plan())).body);
  const res = await choose(app, [['token', token], ['page', 'book:ch1/intro'], ['action', 'cancel']]);
  t.equal(res.statusCode, 200);
  t.match(res.body, '<p>Returning to your course without linking anything…</p>');
  const { payload } = await verified(app, platform, returnForm(res.body).jwt);
  t.same(payload[dl('content_items')], []);
  t.equal(payload[dl('data')], 'opaque-data-42');
  t.match(events('lti_deep_linking_response'), [{ cancelled: true, pages: [] }]);
});

t.test('a page or chapter the table of contents does not list is refused: 400, the picker again saying which, nothing signed', async (t) => {
  const { app, events, platform } = await setup(t);
  const token = tokenOf((await launch(app, platform, plan())).body);
  const res = await choose(app, [['token', token], ['page', 'book:ch1/intro'], ['page', 'book:ch9/nowhere']]);
  t.equal(res.statusCode, 400);
  t.equal(res.headers['content-type'], 'text/html; charset=utf-8');
  t.match(res.body, '<p class="error" role="alert">the page &#34;book:ch9/nowhere&#34; is not in the table of contents offered: choose again</p>');
  t.equal(tokenOf(res.body), token, 'the same token, to choose again');
  t.notMatch(res.body, 'name="JWT"');
  t.match(events('lti_deep_linking_refused'), [{ reason: 'unknown_page', issuer: platform.issuer, clientId: 'folio', level: 40 }]);

  const chapter = await choose(app, [['token', token], ['chapter', 'book:ch9']], 'application/json');
  t.same(chapter.json(), { statusCode: 400, error: 'lti_unknown_chapter', message: 'the chapter "book:ch9" is not in the table of contents offered: choose again' });
  const otherBook = await choose(app, [['token', token], ['page', 'other:ch1/intro']], 'application/json');
  t.equal(otherBook.json().error, 'lti_unknown_page', "a page of a book the launch did not name");
});

t.test('choosing nothing is refused: 400 lti_nothing_chosen', async (t) => {
  const { app, platform } = await setup(t);
  const token = tokenOf((await launch(app, platform, plan())).body);
  const res = await choose(app, [['token', token], ['action', 'link']], 'application/json');
  t.equal(res.statusCode, 400);
  t.same(res.json(), { statusCode: 400, error: 'lti_nothing_chosen', message: 'no page was chosen: choose at least one, or Cancel' });
});

t.test('an altered token, one made with another secret, an expired one or none is refused: 400 with a page saying to start again from the LMS', async (t) => {
  const { app, events, platform } = await setup(t);
  const token = tokenOf((await launch(app, platform, plan())).body);
  const [header, payload, signature] = token.split('.');
  const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as { choice: DeepLinkingChoice };
  const altered = `${header}.${Buffer.from(JSON.stringify({ ...claims, choice: { ...claims.choice, returnUrl: 'https://evil.example/steal' } })).toString('base64url')}.${signature}`;
  const choice = claims.choice;
  const cases: Array<[string, string, string]> = [
    ['altered', altered, 'lti_token'],
    ['another secret', await choiceToken('another-secret-0123456789abcdefghijklmnopqrstuvwxyz', choice), 'lti_token'],
    ['expired', await choiceToken(app.secret, choice, Date.now() - 3601_000), 'lti_expired'],
    ['none', '', 'lti_token'],
  ];
  for (const [what, bad, error] of cases) {
    const res = await choose(app, [['token', bad], ['page', 'book:ch1/intro']], 'application/json');
    t.equal(res.statusCode, 400, what);
    t.equal(res.json().error, error, what);
  }
  const page = await choose(app, [['token', altered], ['page', 'book:ch1/intro']]);
  t.equal(page.statusCode, 400);
  t.match(page.body, "<h1>Nothing was linked</h1><p>the Deep Linking page&#39;s token is not one Folio made (altered, or made with another server secret): open the Folio link again from the LMS</p>");
  t.equal(inlineHashes(page.body).script, undefined, 'no script');
  t.equal(page.headers['content-security-policy'], `default-src 'none'; style-src ${inlineHashes(page.body).style}; form-action 'none'; frame-ancestors *; base-uri 'none'`);
  const expired = await choose(app, [['token', await choiceToken(app.secret, choice, Date.now() - 3601_000)]], 'application/json');
  t.equal(expired.json().message, 'this page is more than 60 minutes old: open the Folio link again from the LMS to choose pages');
  t.equal(events('lti_deep_linking_refused').length, 6);
  t.equal(events('lti_deep_linking_response').length, 0);
});

t.test('a platform removed since the launch: 400 lti_platform', async (t) => {
  const { app, platform } = await setup(t);
  const token = tokenOf((await launch(app, platform, plan())).body);
  await removePlatform(app.db, platform.issuer, platform.clientId);
  const res = await choose(app, [['token', token], ['page', 'book:ch1/intro']], 'application/json');
  t.equal(res.statusCode, 400);
  t.same(res.json(), { statusCode: 400, error: 'lti_platform', message: `the platform ${platform.issuer} (client id folio, deployment d1) is no longer registered` });
});

t.test('when the LMS takes one link: radio buttons and no chapter boxes; two pages are refused (400 lti_one_page), one is linked', async (t) => {
  const { app, platform } = await setup(t);
  const picker = await launch(app, platform, plan({ deepLinking: { acceptMultiple: false } }));
  t.match(picker.body, '<fieldset><legend>Values &#38; lists</legend><ul><li><label><input type="radio" name="page" value="book:ch1/intro" data-in="book:ch1" required> Introduction</label>');
  t.notMatch(picker.body, 'name="chapter"');
  t.match(picker.body, '<button name="action" value="link">Link the chosen page</button>');
  const token = tokenOf(picker.body);
  const two = await choose(app, [['token', token], ['page', 'book:ch1/intro'], ['page', 'book:ch2/for']], 'application/json');
  t.equal(two.statusCode, 400);
  t.same(two.json(), { statusCode: 400, error: 'lti_one_page', message: 'the LMS takes one link here, and 2 pages were chosen: choose one' });
  const chapter = await choose(app, [['token', token], ['chapter', 'book:ch1']], 'application/json');
  t.equal(chapter.json().error, 'lti_one_page', 'a chapter of two pages is two');
  const one = await choose(app, [['token', token], ['page', 'book:ch1/intro']]);
  t.equal(one.statusCode, 200);
  const { payload } = await verified(app, platform, returnForm(one.body).jwt);
  t.same((payload[dl('content_items')] as Array<{ title: string }>).map((i) => i.title), ['Introduction']);
});

t.test('a launch naming no book lists every book, each folded under its title; one without a table of contents says how to import one', async (t) => {
  const { app, platform } = await setup(t);
  const res = await launch(app, platform, plan({ custom: undefined }));
  t.equal(res.statusCode, 200);
  t.match(res.body, '<h1>Link pages of a Folio book</h1>');
  t.match(res.body, '<details><summary>A book</summary><fieldset>');
  t.match(
    res.body,
    '<details><summary>Another book</summary><p class="note">This book has no table of contents yet, so there are no pages to pick: an administrator imports one with <code>folio books toc import other FILE.json</code>.</p></details>',
  );
  const { payload } = await verified(app, platform, returnForm((await choose(app, [['token', tokenOf(res.body)], ['page', 'book:ch1/lists']])).body).jwt);
  t.same(payload[dl('content_items')], [
    { type: 'ltiResourceLink', title: 'Lists', url: `${bookOrigin}/ch1/lists/`, lineItem: { scoreMaximum: 1, label: 'Lists', resourceId: 'ch1/lists', tag: 'folio' }, custom: { book: 'book' } },
  ]);
});

t.test('a named book without a table of contents offers nothing to link, only Cancel', async (t) => {
  const { app, platform } = await setup(t);
  const res = await launch(app, platform, plan({ custom: { book: 'other' } }));
  t.equal(res.statusCode, 200);
  t.match(res.body, '<section><h2>Another book</h2><p class="note">This book has no table of contents yet, so there are no pages to pick: an administrator imports one with <code>folio books toc import other FILE.json</code>.</p></section>');
  t.notMatch(res.body, 'value="link"');
  t.match(res.body, '<button name="action" value="cancel" formnovalidate>Cancel</button>');
});

t.test('a book without an origin says how to add one (its pages have no URL to link)', async (t) => {
  const { app, platform } = await setup(t);
  await createBook(app.db, { id: 'draft', title: 'A draft', origins: [] });
  await importToc(app.db, 'draft', { chapters: [{ id: 'd1', title: 'D', pages: [{ id: 'd1/p', title: 'P', questions: [], activities: [] }] }] });
  await app.books.refresh();
  const res = await launch(app, platform, plan({ custom: { book: 'draft' } }));
  t.match(res.body, 'This book has no origin yet (the address its pages are served from), so its pages cannot be linked: an administrator adds one with <code>folio books origins add draft ORIGIN</code>.');
  const refused = await choose(app, [['token', tokenOf(res.body)], ['page', 'draft:d1/p']], 'application/json');
  t.equal(refused.json().error, 'lti_unknown_page');
});
