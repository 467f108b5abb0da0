import { Ajv, type ErrorObject } from 'ajv';
import type { Static } from 'typebox';
import { Toc, type StoredChapters } from '../schemas/toc.js';

/** A table of contents as Folio stores and serves it (schemas/toc.ts, StoredChapters). */
export interface StoredToc {
  chapters: Static<typeof StoredChapters>;
}

/** Every error at once, so that one run of the import lists all that is wrong with the file. */
const validate = new Ajv({ allErrors: true, strict: false }).compile<Toc>(Toc);

/** A JSON pointer (`/chapters/0/pages/2/id`) as a reader writes it (`chapters[0].pages[2].id`). */
function pathOf(pointer: string): string {
  const path = pointer
    .split('/')
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part.replace(/~1/g, '/').replace(/~0/g, '~')}`))
    .join('');
  return path.startsWith('.') ? path.slice(1) : path || 'the file';
}

function describe(error: ErrorObject): string {
  const at = pathOf(error.instancePath);
  if (error.keyword === 'required') return `${pathOf(`${error.instancePath}/${(error.params as { missingProperty: string }).missingProperty}`)}: is missing`;
  if (error.keyword === 'enum') return `${at}: must be one of ${(error.params as { allowedValues: string[] }).allowedValues.join(', ')}`;
  return `${at}: ${error.message}`;
}

/**
 * Checks a table of contents file (parsed JSON) against schemas/toc.ts, and that no chapter, page, question or
 * activity id is listed twice in the book (a page's id is the book's `page` value, a question's the id its answers
 * are saved under: each names one thing). Returns what Folio stores, or every problem, each naming its place.
 */
export function checkToc(file: unknown): { toc: StoredToc } | { problems: string[] } {
  if (!validate(file)) return { problems: (validate.errors ?? []).map(describe) };
  const problems: string[] = [];
  const seen = { chapter: new Map<string, string>(), page: new Map<string, string>(), question: new Map<string, string>(), activity: new Map<string, string>() };
  const once = (kind: keyof typeof seen, id: string, at: string) => {
    const first = seen[kind].get(id);
    if (first === undefined) seen[kind].set(id, at);
    else problems.push(`${at}: ${kind} "${id}" is listed twice (first at ${first})`);
  };
  const toc: StoredToc = {
    chapters: file.chapters.map((chapter, c) => {
      once('chapter', chapter.id, `chapters[${c}].id`);
      return {
        id: chapter.id,
        title: chapter.title,
        pages: chapter.pages.map((page, p) => {
          const at = `chapters[${c}].pages[${p}]`;
          once('page', page.id, `${at}.id`);
          return {
            id: page.id,
            title: page.title,
            ...(page.url !== undefined ? { url: page.url } : {}),
            questions: (page.questions ?? []).map((q, i) => (once('question', q.id, `${at}.questions[${i}].id`), { id: q.id, kind: q.kind, points: q.points })),
            activities: (page.activities ?? []).map((a, i) => (once('activity', a.id, `${at}.activities[${i}].id`), { id: a.id })),
          };
        }),
      };
    }),
  };
  return problems.length > 0 ? { problems } : { toc };
}
