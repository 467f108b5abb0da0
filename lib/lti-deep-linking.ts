import { errors, jwtVerify, SignJWT } from 'jose';
import { randomBytes } from 'node:crypto';
import { tocIndex } from '../db/course-reports.js';
import type { Database } from '../db/index.js';
import type { LtiPlatform } from '../db/lti.js';
import type { BookRegistry, RegisteredBook } from './book-registry.js';
import { deriveKey, keyPurposes } from './keys.js';
import { signingAlgorithm, signingKey } from './lti-keys.js';
import { ltiClaims, LtiRefusal, type DeepLinkingLaunch } from './lti-launch.js';

/**
 * LTI Deep Linking 2.0 (1EdTech): an instructor in the LMS picks pages of a book's table of contents on a Folio page,
 * and Folio answers the platform with a signed LtiDeepLinkingResponse whose content items are resource links to
 * those pages (with a line item worth the page's points). Between the launch and the choice, the page carries a
 * short-lived token signed with a key derived from the server secret: nothing is stored, no cookie is needed, and
 * any of Folio's processes can take the choice.
 */

export const deepLinkingClaims = {
  contentItems: 'https://purl.imsglobal.org/spec/lti-dl/claim/content_items',
  data: 'https://purl.imsglobal.org/spec/lti-dl/claim/data',
} as const;

/** How long an instructor may take to choose: the page's token lives an hour. */
export const choiceTokenLifetimeSeconds = 3600;
/** The life of the signed response: the browser posts it to the platform at once. */
export const responseLifetimeSeconds = 300;

/** What the Deep Linking page carries from the launch to the instructor's choice (inside its signed token). */
export interface DeepLinkingChoice {
  issuer: string;
  clientId: string;
  deploymentId: string;
  /** The LMS user choosing (for the logs). */
  sub: string;
  returnUrl: string;
  /** The request's opaque data, returned as it came. */
  data: string | undefined;
  /** The book the launch named (custom parameter `book`), else any book may be chosen from. */
  book: string | undefined;
  acceptMultiple: boolean;
  acceptLineItem: boolean;
}

/** The content item type Folio returns. */
const resourceLink = 'ltiResourceLink';

/**
 * The choice a Deep Linking launch opens, or an LtiRefusal: only course staff choose what to link, and the platform
 * must accept resource links.
 */
export function choiceOf(launch: DeepLinkingLaunch, platform: Pick<LtiPlatform, 'issuer' | 'clientId'>): DeepLinkingChoice {
  if (!launch.staff) {
    throw new LtiRefusal('role', 'only an instructor, teaching assistant, content developer or administrator of the course chooses which pages of a book to link: your role in this course is not one of them');
  }
  const { settings } = launch;
  if (!settings.acceptTypes.includes(resourceLink)) {
    throw new LtiRefusal('accept_types', `the LMS accepts ${settings.acceptTypes.join(', ') || 'no content type'} here, and Folio links pages as ${resourceLink}`);
  }
  return {
    issuer: platform.issuer,
    clientId: platform.clientId,
    deploymentId: launch.deploymentId,
    sub: launch.sub,
    returnUrl: settings.returnUrl,
    data: settings.data,
    book: launch.book?.id,
    acceptMultiple: settings.acceptMultiple,
    acceptLineItem: settings.acceptLineItem,
  };
}

const tokenKey = (secret: string) => deriveKey(secret, keyPurposes.ltiDeepLinking);

/** The choice as a token (JWT, HS256 with a key derived from the server secret), valid for an hour. */
export async function choiceToken(secret: string, choice: DeepLinkingChoice, now = Date.now()): Promise<string> {
  const iat = Math.floor(now / 1000);
  return new SignJWT({ choice })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + choiceTokenLifetimeSeconds)
    .sign(tokenKey(secret));
}

/** The choice a token carries, or an LtiRefusal (altered, made with another secret, or expired). */
export async function readChoiceToken(secret: string, token: string): Promise<DeepLinkingChoice> {
  try {
    const { payload } = await jwtVerify(token, tokenKey(secret), { algorithms: ['HS256'], requiredClaims: ['exp', 'iat'] });
    const choice = payload['choice'] as DeepLinkingChoice | undefined;
    if (typeof choice?.issuer !== 'string' || typeof choice.returnUrl !== 'string') throw new LtiRefusal('token', "the Deep Linking page's token holds no choice");
    return choice;
  } catch (err) {
    if (err instanceof LtiRefusal) throw err;
    if (err instanceof errors.JWTExpired) throw new LtiRefusal('expired', `this page is more than ${choiceTokenLifetimeSeconds / 60} minutes old: open the Folio link again from the LMS to choose pages`);
    throw new LtiRefusal('token', "the Deep Linking page's token is not one Folio made (altered, or made with another server secret): open the Folio link again from the LMS");
  }
}

/** A page an instructor can pick, with what its link carries. */
export interface PickablePage {
  book: string;
  id: string;
  title: string;
  /** What the page is worth (the line item's scoreMaximum): its questions' points, or 1 (its completion) when it lists none. */
  points: number;
  questions: number;
  /** The page's URL on the book's first origin: the resource link's URL, the launch's target. */
  url: string;
}

export interface PickableChapter {
  id: string;
  title: string;
  pages: PickablePage[];
}

/** A book and its table of contents as the Deep Linking page shows them; `missing` says why it offers no page. */
export interface PickableBook {
  book: RegisteredBook;
  chapters: PickableChapter[];
  missing: 'toc' | 'origin' | undefined;
}

/** The books an instructor picks from: the one the launch named, else every book; each with its chapters and pages. */
export function pickableBooks(books: BookRegistry, named: string | undefined): PickableBook[] {
  const listed = named === undefined ? books.list() : [books.get(named)].filter((b) => b !== undefined);
  return listed.map((book) => {
    const toc = books.toc(book.id);
    const origin = book.origins[0];
    if (!toc) return { book, chapters: [], missing: 'toc' };
    if (origin === undefined) return { book, chapters: [], missing: 'origin' };
    const index = tocIndex(toc);
    const chapters = toc.chapters.map((chapter) => ({
      id: chapter.id,
      title: chapter.title,
      pages: chapter.pages.map((page) => ({
        book: book.id,
        id: page.id,
        title: page.title,
        points: index.toc.pages[index.pageAt.get(page.id)!]!.points,
        questions: page.questions.length,
        url: `${origin}${page.url ?? `/${page.id}.html`}`,
      })),
    }));
    return { book, chapters, missing: undefined };
  });
}

/** A page's or chapter's value in the form: BOOK:ID (a book id has no colon). */
export const pickValue = (book: string, id: string): string => `${book}:${id}`;

/** What the instructor ticked: page and chapter values (BOOK:ID), a chapter standing for all its pages. */
export interface Picks {
  pages: readonly string[];
  chapters: readonly string[];
}

/** The pages chosen, in the books' order without repeats; an LtiRefusal for an id the tables of contents do not list, none, or several where the LMS takes one. */
export function chosenPages(books: readonly PickableBook[], picks: Picks, choice: Pick<DeepLinkingChoice, 'acceptMultiple'>): PickablePage[] {
  const pages = new Map<string, PickablePage>();
  const chapters = new Map<string, PickableChapter>();
  for (const { book, chapters: listed } of books) {
    for (const chapter of listed) {
      chapters.set(pickValue(book.id, chapter.id), chapter);
      for (const page of chapter.pages) pages.set(pickValue(book.id, page.id), page);
    }
  }
  const chosen = new Set<PickablePage>();
  for (const value of picks.chapters) {
    const chapter = chapters.get(value);
    if (!chapter) throw new LtiRefusal('unknown_chapter', `the chapter "${value}" is not in the table of contents offered: choose again`);
    for (const page of chapter.pages) chosen.add(page);
  }
  for (const value of picks.pages) {
    const page = pages.get(value);
    if (!page) throw new LtiRefusal('unknown_page', `the page "${value}" is not in the table of contents offered: choose again`);
    chosen.add(page);
  }
  if (chosen.size === 0) throw new LtiRefusal('nothing_chosen', 'no page was chosen: choose at least one, or Cancel');
  if (!choice.acceptMultiple && chosen.size > 1) throw new LtiRefusal('one_page', `the LMS takes one link here, and ${chosen.size} pages were chosen: choose one`);
  return [...pages.values()].filter((page) => chosen.has(page));
}

/** A resource link to a page (LTI Deep Linking 2.0, content item type ltiResourceLink). */
export interface ResourceLinkItem {
  type: 'ltiResourceLink';
  title: string;
  url: string;
  lineItem?: { scoreMaximum: number; label: string; resourceId: string; tag: string };
  custom: { book: string };
}

/**
 * The content items for the chosen pages: each a resource link with the book as its custom parameter, and a line item
 * when the LMS accepts one and the page is worth points (a line item's scoreMaximum must be above 0: a page whose
 * questions are worth nothing, polls say, gets no gradebook column).
 */
export function contentItems(pages: readonly PickablePage[], acceptLineItem: boolean): ResourceLinkItem[] {
  return pages.map((page) => ({
    type: resourceLink,
    title: page.title,
    url: page.url,
    ...(acceptLineItem && page.points > 0 ? { lineItem: { scoreMaximum: page.points, label: page.title, resourceId: page.id, tag: 'folio' } } : {}),
    custom: { book: page.book },
  }));
}

/** The LtiDeepLinkingResponse for the platform (an empty list of items when the instructor cancelled), signed with Folio's key. */
export async function deepLinkingResponse(db: Database, secret: string, choice: DeepLinkingChoice, items: readonly ResourceLinkItem[]): Promise<string> {
  const key = await signingKey(db, secret);
  return new SignJWT({
    nonce: randomBytes(16).toString('base64url'),
    [ltiClaims.messageType]: 'LtiDeepLinkingResponse',
    [ltiClaims.version]: '1.3.0',
    [ltiClaims.deploymentId]: choice.deploymentId,
    ...(choice.data !== undefined ? { [deepLinkingClaims.data]: choice.data } : {}),
    [deepLinkingClaims.contentItems]: items,
  })
    .setProtectedHeader({ alg: signingAlgorithm, kid: key.kid, typ: 'JWT' })
    .setIssuer(choice.clientId)
    .setAudience(choice.issuer)
    .setIssuedAt()
    .setExpirationTime(`${responseLifetimeSeconds}s`)
    .sign(key.privateKey);
}
