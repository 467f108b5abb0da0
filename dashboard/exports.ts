/**
 * A course's research exports (#/courses/ID/exports): each kind in each format as a plain link to
 * GET /api/courses/:course/export, which the browser downloads itself (a first-party cookie, the server's file name
 * from its Content-Disposition, streamed to disk: the page never holds the file), and how many enrolled students
 * consented to research (GET /api/courses/:course/consent), since only they are in the exports.
 */
import { api, ApiError } from './api.js';
import { h } from './dom.js';
import { courseHref, courseNav, crumbs, sayError, session, show } from './shell.js';
import type { CourseConsent } from './types.js';

/** The export's kinds and formats (schemas/export-kinds.ts), as the screen names them. */
const kinds = [
  { kind: 'answers', label: 'Answers', what: 'every attempt at every question: the answer, whether it was correct, its score, its page' },
  { kind: 'programs', label: 'Programs', what: 'every saved version of every program, with its code' },
  { kind: 'events', label: 'Events', what: 'what the book logs as students read and work (page views, program runs…)' },
  { kind: 'completions', label: 'Completed pages', what: 'each page a student marked complete, and when' },
] as const;
const formats = [
  { format: 'csv', label: 'CSV', what: 'for spreadsheets and R or pandas: a header row, then a row each' },
  { format: 'jsonl', label: 'JSON Lines', what: 'one JSON object a line, after a first line that describes the export' },
  { format: 'xapi', label: 'xAPI', what: 'xAPI 1.0.3 statements, one a line, for a learning record store' },
] as const;

/** The export's address: the course's own, with the dates when some are chosen (YYYY-MM-DD, midnight UTC). */
export function exportHref(courseId: string, kind: string, format: string, since = '', until = ''): string {
  const query = new URLSearchParams({ kind, format });
  if (since) query.set('since', since);
  if (until) query.set('until', until);
  return `/api/courses/${encodeURIComponent(courseId)}/export?${query.toString()}`;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export async function exportsScreen(id: string): Promise<void> {
  const course = session.courses.find((c) => c.id === id);
  if (!course) {
    show('No such course', h('h1', {}, 'No such course'), h('p', {}, `You teach no course "${id}".`), h('p', {}, h('a', { href: '#/' }, 'Back to your courses')));
    return;
  }
  let consent: CourseConsent;
  try {
    consent = await api<CourseConsent>('GET', `/api/courses/${encodeURIComponent(id)}/consent`);
  } catch (err) {
    show('Exports', crumbs(h('a', { href: courseHref(id) }, course.title)), h('h1', {}, `Exports of ${course.title}`), h('p', {}, err instanceof ApiError ? err.message : String(err)));
    sayError(err);
    return;
  }

  const links: { anchor: HTMLAnchorElement; kind: string; format: string }[] = [];
  const since = h('input', { id: 'export-since', type: 'date', name: 'since' });
  const until = h('input', { id: 'export-until', type: 'date', name: 'until' });
  const relink = () => {
    for (const link of links) link.anchor.href = exportHref(id, link.kind, link.format, since.value, until.value);
  };
  since.addEventListener('change', relink);
  until.addEventListener('change', relink);
  const table = h(
    'table',
    { class: 'exports' },
    h('caption', { class: 'visually-hidden' }, 'Research exports by kind and format'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'What'), h('th', { scope: 'col' }, 'Download as'))),
    h(
      'tbody',
      {},
      kinds.map((k) =>
        h(
          'tr',
          { 'data-kind': k.kind },
          h('th', { scope: 'row' }, h('span', { class: 'name' }, k.label), h('br'), h('span', { class: 'muted' }, k.what)),
          h(
            'td',
            {},
            formats.map((f) => {
              const anchor = h('a', { href: exportHref(id, k.kind, f.format), download: '', 'data-format': f.format }, f.label, h('span', { class: 'visually-hidden' }, ` of ${k.label.toLowerCase()}`));
              links.push({ anchor, kind: k.kind, format: f.format });
              return anchor;
            }),
          ),
        ),
      ),
    ),
  );

  show(
    `Exports · ${course.title}`,
    crumbs(h('a', { href: courseHref(id) }, course.title)),
    h('h1', {}, `Exports of ${course.title}`),
    courseNav(id, '/exports'),
    h(
      'section',
      { 'aria-labelledby': 'consent-heading' },
      h('h2', { id: 'consent-heading' }, 'Research consent'),
      h(
        'p',
        { class: 'consent', id: 'consent-counts' },
        `${consent.consented} of ${plural(consent.enrolled, 'enrolled student', 'enrolled students')} consented to research; ${consent.notConsented} did not.`,
      ),
      h(
        'p',
        {},
        'Only students who consented appear in the exports, and pseudonymised: each is a code that stays the same from one export to the next, never a name, username or email. ' +
          'Students who did not consent are left out. Work outside the course\'s dates is left out too.',
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'downloads-heading' },
      h('h2', { id: 'downloads-heading' }, 'Downloads'),
      h('p', {}, 'Each link downloads the whole export as a file named after the course, the kind and the time it ends (now by default). Large courses take a moment: the file arrives as it is written.'),
      h(
        'fieldset',
        { class: 'dates' },
        h('legend', {}, 'Only work between these days (optional; UTC)'),
        h('label', { for: 'export-since' }, 'From'),
        since,
        h('label', { for: 'export-until' }, 'Until (not included)'),
        until,
      ),
      h('div', { class: 'scroll' }, table),
      h('ul', { class: 'formats' }, formats.map((f) => h('li', {}, h('strong', {}, f.label), `: ${f.what}.`))),
    ),
  );
}
