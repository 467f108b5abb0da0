/**
 * A book's table of contents from its pages' components: each page's `<folio-book page>` (else its path), its
 * `<title>` (else its first `<h1>`), its questions (`<folio-choice>` → mchoice, `<folio-blank>` → fitb,
 * `<folio-short-answer>` → shortanswer, `<folio-poll>` → poll; `points` from a `points` attribute, default 1, a
 * poll 0) and activities (`<folio-code>`). Pages are grouped into chapters by the first part of their id
 * (`ch1/intro` → chapter `ch1`, titled by its first page), in the order given. The result is a TOC file for
 * `folio books toc import`.
 */

export interface ScannedPage {
  /** The page's path on its site (`/ch1/intro.html`). */
  path: string;
  html: string;
}

interface TocQuestion {
  id: string;
  kind: string;
  points: number;
}
interface TocPage {
  id: string;
  title: string;
  url: string;
  questions: TocQuestion[];
  activities: { id: string }[];
}
export interface ScannedToc {
  chapters: { id: string; title: string; pages: TocPage[] }[];
}

const kinds: Record<string, string> = { 'folio-choice': 'mchoice', 'folio-blank': 'fitb', 'folio-short-answer': 'shortanswer', 'folio-poll': 'poll' };
const tag = /<(folio-(?:book|choice|blank|short-answer|poll|code))\b([^>]*)>/gi;
const attribute = /([\w-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g;

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
const text = (html: string) =>
  html
    .replace(/<[^>]*>/g, '')
    .replace(/&(#\d+|\w+);/g, (all, name: string) => (name.startsWith('#') ? String.fromCodePoint(Number(name.slice(1))) : (entities[name] ?? all)))
    .replace(/\s+/g, ' ')
    .trim();

function attributes(source: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const [, name, a, b, c] of source.matchAll(attribute)) found.set(name!.toLowerCase(), a ?? b ?? c ?? '');
  return found;
}

/** As `<folio-book>` names a page without a `page` attribute: the path without `/` and `.html`, `index` for a folder. */
export function pageIdOfPath(path: string): string {
  let id = decodeURIComponent(path).replace(/^\/+/, '');
  if (id === '' || id.endsWith('/')) id += 'index';
  return id.replace(/\.html?$/, '');
}

export function scanPage(page: ScannedPage): TocPage {
  const html = page.html.replace(/<!--[\s\S]*?-->/g, '');
  let id = pageIdOfPath(page.path);
  const questions: TocQuestion[] = [];
  const activities: { id: string }[] = [];
  for (const [, name, rest] of html.matchAll(tag)) {
    const element = name!.toLowerCase();
    const attrs = attributes(rest ?? '');
    if (element === 'folio-book') {
      if (attrs.get('page')) id = attrs.get('page')!;
    } else if (element === 'folio-code') {
      const activity = attrs.get('activity');
      if (activity) activities.push({ id: activity });
    } else {
      const question = attrs.get('question');
      if (!question) continue;
      const points = Number(attrs.get('points') ?? (element === 'folio-poll' ? 0 : 1));
      questions.push({ id: question, kind: kinds[element]!, points: Number.isFinite(points) && points >= 0 ? points : 1 });
    }
  }
  const title = text(/<title[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1] ?? /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(html)?.[1] ?? '') || id;
  return { id, title, url: page.path, questions, activities };
}

export function scanPages(pages: ScannedPage[]): ScannedToc {
  const chapters: ScannedToc['chapters'] = [];
  for (const page of pages) {
    const scanned = scanPage(page);
    const chapterId = scanned.id.includes('/') ? scanned.id.slice(0, scanned.id.indexOf('/')) : scanned.id;
    let chapter = chapters.find((c) => c.id === chapterId);
    if (!chapter) chapters.push((chapter = { id: chapterId, title: scanned.title, pages: [] }));
    chapter.pages.push(scanned);
  }
  return { chapters };
}
