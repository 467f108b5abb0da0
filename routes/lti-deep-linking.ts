import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findPlatform, type LtiPlatform } from '../db/lti.js';
import { cspHash, escapeHtml, prefersJson } from '../lib/html.js';
import {
  choiceOf,
  choiceToken,
  chosenPages,
  contentItems,
  deepLinkingResponse,
  pickableBooks,
  pickValue,
  readChoiceToken,
  type DeepLinkingChoice,
  type PickableBook,
} from '../lib/lti-deep-linking.js';
import { LtiRefusal, type DeepLinkingLaunch } from '../lib/lti-launch.js';
import { bodyLimit, framedPagePolicy } from '../plugins/security.js';
import { LtiDeepLinkingBody } from '../schemas/lti.js';

/**
 * LTI Deep Linking pages (lib/lti-deep-linking.ts): the page picker a Deep Linking launch shows (from POST
 * /lti/launch), and POST /lti/deep-linking, which takes the instructor's choice and answers with a page that posts the
 * signed LtiDeepLinkingResponse to the platform. Both are shown inside the LMS's iframe: framing is allowed, and each
 * page's CSP allows its own inline script and style by hash and its form's one destination, nothing else.
 */

const style =
  'body{font:16px/1.5 system-ui,sans-serif;margin:1.5rem;max-width:46rem}fieldset{border:1px solid #ccc;border-radius:6px;margin:0 0 1rem}' +
  'ul{list-style:none;padding-left:1.5rem;margin:.25rem 0}.points{color:#555;font-size:.9em}.note{background:#fff4d6;padding:.5rem .75rem;border-radius:6px}' +
  '.error{background:#fde2e1;padding:.5rem .75rem;border-radius:6px}button{font:inherit;margin-right:.5rem}code{font-size:.9em}';
/** A chapter's box ticks and unticks its pages, and shows whether all are ticked (without script, a ticked chapter stands for all its pages). */
const pickerScript =
  "for(const box of document.querySelectorAll('input[data-chapter]')){const pages=[...document.querySelectorAll('input[name=page]')].filter((p)=>p.dataset.in===box.value);" +
  "box.addEventListener('change',()=>{for(const p of pages)p.checked=box.checked});" +
  "for(const p of pages)p.addEventListener('change',()=>{box.checked=pages.every((q)=>q.checked)})}";
const submitScript = 'document.forms[0].submit()';

/** The page's CSP: its form may post to `formAction` only; its inline script (if any) and style are allowed by hash. */
function pageCsp(formAction: string, script?: string): string {
  return [`default-src 'none'`, script && `script-src ${cspHash(script)}`, `style-src ${cspHash(style)}`, `form-action ${formAction}`, 'frame-ancestors *', "base-uri 'none'"].filter(Boolean).join('; ');
}

const htmlPage = (title: string, body: string, script?: string) =>
  `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${style}</style></head>` +
  `<body>${body}${script ? `<script>${script}</script>` : ''}</body></html>\n`;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** One book's chapters and pages, each with a box (or a radio button when the LMS takes one link). */
function bookPart(picked: PickableBook, choice: DeepLinkingChoice, grouped: boolean): string {
  const { book } = picked;
  const code = (text: string) => `<code>${escapeHtml(text)}</code>`;
  let body: string;
  if (picked.missing === 'toc') {
    body = `<p class="note">This book has no table of contents yet, so there are no pages to pick: an administrator imports one with ${code(`folio books toc import ${book.id} FILE.json`)}.</p>`;
  } else if (picked.missing === 'origin') {
    body = `<p class="note">This book has no origin yet (the address its pages are served from), so its pages cannot be linked: an administrator adds one with ${code(`folio books origins add ${book.id} ORIGIN`)}.</p>`;
  } else if (!picked.chapters.some((c) => c.pages.length > 0)) {
    body = '<p class="note">This book\'s table of contents lists no pages.</p>';
  } else {
    body = picked.chapters
      .filter((chapter) => chapter.pages.length > 0)
      .map((chapter) => {
        const value = escapeHtml(pickValue(book.id, chapter.id));
        const legend = choice.acceptMultiple ? `<label><input type="checkbox" name="chapter" value="${value}" data-chapter> ${escapeHtml(chapter.title)}</label>` : escapeHtml(chapter.title);
        const pages = chapter.pages.map((page) => {
          const input = `<input type="${choice.acceptMultiple ? 'checkbox' : 'radio'}" name="page" value="${escapeHtml(pickValue(book.id, page.id))}" data-in="${value}"${!choice.acceptMultiple && !grouped ? ' required' : ''}>`;
          const worth = `${plural(page.points, 'point')}${page.questions === 0 ? ' (completion)' : page.points === 0 ? ' (not graded)' : ''}`;
          return `<li><label>${input} ${escapeHtml(page.title)}</label> <span class="points">${worth}</span></li>`;
        });
        return `<fieldset><legend>${legend}</legend><ul>${pages.join('')}</ul></fieldset>`;
      })
      .join('');
  }
  const title = escapeHtml(book.title);
  return grouped ? `<details><summary>${title}</summary>${body}</details>` : `<section><h2>${title}</h2>${body}</section>`;
}

/** The page picker: the books' tables of contents in a form posting the choice and the token back to Folio. */
function pickerPage(choice: DeepLinkingChoice, token: string, books: readonly PickableBook[], error?: string): string {
  const offered = books.some((b) => b.chapters.some((c) => c.pages.length > 0));
  const heading = books.length === 1 ? `Link pages of <cite>${escapeHtml(books[0]!.book.title)}</cite>` : books.length === 0 ? 'This Folio has no books yet' : 'Link pages of a Folio book';
  const how = choice.acceptMultiple ? 'Tick the pages to link in your course; a chapter ticks all its pages.' : 'Choose the page to link in your course (the LMS takes one link here).';
  const grades = choice.acceptLineItem ? " Each link gets a gradebook column worth the page's points: its questions' points, or 1 for a page without questions (graded by its completion); a page worth 0 points gets none." : '';
  const link = offered ? `<button name="action" value="link">${choice.acceptMultiple ? 'Link the chosen pages' : 'Link the chosen page'}</button>` : '';
  return htmlPage(
    'Folio: choose pages to link',
    `<h1>${heading}</h1>${offered ? `<p>${how}${grades}</p>` : ''}${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}` +
      `<form method="post" action="deep-linking"><input type="hidden" name="token" value="${escapeHtml(token)}">` +
      books.map((b) => bookPart(b, choice, books.length > 1)).join('') +
      `<p>${link}<button name="action" value="cancel" formnovalidate>Cancel</button></p></form>`,
    pickerScript,
  );
}

/** The page that posts the signed response to the platform's return URL at once (a button when scripts are off). */
function returnPage(returnUrl: string, jwt: string, links: number): string {
  const what = links === 0 ? 'without linking anything' : `with ${plural(links, 'link')}`;
  return htmlPage(
    'Folio: back to your course',
    `<form method="post" action="${escapeHtml(returnUrl)}"><input type="hidden" name="JWT" value="${escapeHtml(jwt)}">` +
      `<p>Returning to your course ${what}…</p><noscript><button>Continue to your course</button></noscript></form>`,
    submitScript,
  );
}

const sendPage = (reply: FastifyReply, status: number, html: string, csp: string) =>
  reply.code(status).header('cache-control', 'no-store').header('content-security-policy', csp).type('text/html; charset=utf-8').send(html);

/** A refused choice: 400, JSON when Accept prefers it, else the picker again with the reason (`picker`) or a page saying what to do. */
function refuse(request: FastifyRequest, reply: FastifyReply, refusal: LtiRefusal, choice: DeepLinkingChoice | undefined, picker?: () => string) {
  request.log.warn({ event: 'lti_deep_linking_refused', reason: refusal.reason, issuer: choice?.issuer, clientId: choice?.clientId, client: request.ip }, refusal.message);
  if (prefersJson(request)) return reply.code(400).header('cache-control', 'no-store').send({ statusCode: 400, error: `lti_${refusal.reason}`, message: refusal.message });
  if (picker) return sendPage(reply, 400, picker(), pageCsp("'self'", pickerScript));
  const body = `<h1>Nothing was linked</h1><p>${escapeHtml(refusal.message)}</p><p>Close this and add the Folio link again from your course in the LMS.</p>`;
  return sendPage(reply, 400, htmlPage('Folio: nothing was linked', body), pageCsp("'none'"));
}

/**
 * Answers a Deep Linking launch (POST /lti/launch) with the page picker, or throws an LtiRefusal (a learner, a
 * platform that does not accept resource links) for the launch's refusal page.
 */
export async function showDeepLinkingPicker(app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, launch: DeepLinkingLaunch, platform: LtiPlatform) {
  const choice = choiceOf(launch, platform);
  const token = await choiceToken(app.secret, choice);
  const books = pickableBooks(app.books, choice.book);
  request.log.info(
    {
      event: 'lti_deep_linking',
      issuer: platform.issuer,
      clientId: platform.clientId,
      deploymentId: choice.deploymentId,
      sub: choice.sub,
      staff: launch.staff,
      book: choice.book ?? null,
      books: books.map((b) => b.book.id),
      acceptMultiple: choice.acceptMultiple,
      acceptLineItem: choice.acceptLineItem,
      client: request.ip,
    },
    'LTI deep linking: pages offered',
  );
  return sendPage(reply, 200, pickerPage(choice, token, books), pageCsp("'self'", pickerScript));
}

const asList = (value: string | string[] | undefined): string[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

const deepLinkingRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { db, books, config } = app;
  // The page's form: parsed here only (the API stays JSON-only); a repeated field (a ticked page per box) becomes a list.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    const fields = new Map<string, string[]>();
    for (const [name, value] of new URLSearchParams(body as string)) fields.set(name, [...(fields.get(name) ?? []), value]);
    done(null, Object.fromEntries([...fields].map(([name, values]) => [name, values.length === 1 ? values[0] : values])));
  });

  app.post(
    '/lti/deep-linking',
    {
      config: { access: 'public' },
      helmet: framedPagePolicy(config),
      schema: {
        tags: ['lti'],
        summary: "LTI Deep Linking: the instructor's choice of pages; answers a page posting the signed LtiDeepLinkingResponse to the LMS",
        description:
          "The form of the page a Deep Linking launch shows: its token (HS256, 1 hour, made at the launch: platform, deployment, return URL, data, book, accept_multiple, accept_lineitem) and the pages (BOOK:PAGE) and chapters (BOOK:CHAPTER, all their pages) ticked, or action=cancel. Answers a page whose form posts JWT (RS256 with Folio's key, kid in the header; 5 minutes) to the platform's deep_link_return_url: one ltiResourceLink per page (its URL on the book's first origin, custom book, a lineItem worth the page's points when the LMS accepts one); cancel returns no items. An altered or expired token, or a platform no longer registered: 400, a page (or JSON when Accept prefers it). A page or chapter not in the table of contents, nothing chosen, or several pages where the LMS takes one: 400, the picker again saying why.",
        body: LtiDeepLinkingBody,
      },
    },
    async (request, reply) => {
      const { token, action } = request.body;
      let choice: DeepLinkingChoice | undefined;
      try {
        if (!token) throw new LtiRefusal('token', "the form has no token: open the Folio link again from the LMS");
        choice = await readChoiceToken(app.secret, token);
        const platform = await findPlatform(db, choice.issuer, choice.clientId);
        if (!platform || !platform.deployments.includes(choice.deploymentId)) {
          throw new LtiRefusal('platform', `the platform ${choice.issuer} (client id ${choice.clientId}, deployment ${choice.deploymentId}) is no longer registered`);
        }
      } catch (err) {
        if (err instanceof LtiRefusal) return refuse(request, reply, err, choice);
        throw err;
      }
      const offered = pickableBooks(books, choice.book);
      let pages: ReturnType<typeof chosenPages> = [];
      if (action !== 'cancel') {
        try {
          pages = chosenPages(offered, { pages: asList(request.body.page), chapters: asList(request.body.chapter) }, choice);
        } catch (err) {
          const chosen = choice;
          if (err instanceof LtiRefusal) return refuse(request, reply, err, choice, () => pickerPage(chosen, token, offered, err.message));
          throw err;
        }
      }
      const jwt = await deepLinkingResponse(db, app.secret, choice, contentItems(pages, choice.acceptLineItem));
      request.log.info(
        {
          event: 'lti_deep_linking_response',
          issuer: choice.issuer,
          clientId: choice.clientId,
          deploymentId: choice.deploymentId,
          sub: choice.sub,
          cancelled: action === 'cancel',
          pages: pages.map((p) => pickValue(p.book, p.id)),
          client: request.ip,
        },
        'LTI deep linking: response sent',
      );
      return sendPage(reply, 200, returnPage(choice.returnUrl, jwt, pages.length), pageCsp(new URL(choice.returnUrl).origin, submitScript));
    },
  );
};

export default deepLinkingRoutes;
