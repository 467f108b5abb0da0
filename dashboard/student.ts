/** One student's work as the course's staff see it (#/courses/ID/students/USER). */
import { api, ApiError } from './api.js';
import { h } from './dom.js';
import { courseHref, crumbs, notListed, session, show, when } from './shell.js';
import type { StudentWork } from './types.js';

/** One student's work, as the course's staff see it: where they are, pages completed, latest answers and programs. */
export async function studentScreen(courseId: string, userId: string): Promise<void> {
  const course = session.courses.find((c) => c.id === courseId);
  const back = h('a', { href: courseHref(courseId) }, course?.title ?? courseId);
  let work: StudentWork;
  try {
    work = await api<StudentWork>('GET', `/api/courses/${encodeURIComponent(courseId)}/students/${encodeURIComponent(userId)}/work`);
  } catch (err) {
    show('No such student', h('h1', {}, 'No such student'), h('p', {}, err instanceof ApiError ? err.message : String(err)), h('p', {}, back));
    return;
  }
  const { user } = work;
  const name = user.name ?? user.username ?? user.id;
  const correctness = (c: boolean | null) => (c === null ? 'not marked' : c ? 'correct' : 'not correct');
  show(
    `${name} · ${course?.title ?? courseId}`,
    crumbs(back),
    h('h1', {}, name),
    h('p', { class: 'muted' }, [user.username, user.email].filter(Boolean).join(' · ')),
    h(
      'section',
      { 'aria-labelledby': 'position-heading' },
      h('h2', { id: 'position-heading' }, 'Where they are'),
      h('p', {}, work.position ? ['On page ', h('code', {}, work.position.page), ' (', when(work.position.updatedAt), ')'] : 'No position saved yet.'),
      h('h3', {}, 'Pages completed'),
      work.completed.length === 0 ? h('p', {}, 'None yet.') : h('ul', { id: 'completed-pages' }, work.completed.map((c) => h('li', {}, h('code', {}, c.page), ' — ', when(c.completedAt), notListed(c)))),
    ),
    h(
      'section',
      { 'aria-labelledby': 'answers-heading' },
      h('h2', { id: 'answers-heading' }, `Answers (${work.answers.length})`),
      work.answers.length === 0
        ? h('p', {}, 'No answer yet.')
        : h(
            'div',
            { class: 'scroll' },
            h(
              'table',
              { class: 'answers' },
              h('caption', { class: 'visually-hidden' }, 'The latest attempt at each question'),
              h('thead', {}, h('tr', {}, ['Question', 'Attempts', 'Latest attempt', 'Answer', 'Saved'].map((c) => h('th', { scope: 'col' }, c)))),
              h(
                'tbody',
                {},
                work.answers.map(({ latest, attempts, unlisted }) =>
                  h(
                    'tr',
                    {},
                    h('th', { scope: 'row' }, h('code', {}, latest.question), notListed({ unlisted })),
                    h('td', {}, String(attempts)),
                    h('td', {}, correctness(latest.correct), latest.score === null ? null : ` (score ${latest.score})`),
                    h('td', {}, h('code', {}, JSON.stringify(latest.answer))),
                    h('td', {}, when(latest.savedAt)),
                  ),
                ),
              ),
            ),
          ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'programs-heading' },
      h('h2', { id: 'programs-heading' }, `Programs (${work.programs.length})`),
      work.programs.length === 0
        ? h('p', {}, 'No program saved yet.')
        : work.programs.map((p) =>
            h(
              'article',
              { class: 'program' },
              h('h3', {}, h('code', {}, p.activity), ` — version ${p.version}, `, when(p.savedAt), notListed(p)),
              h('pre', { tabindex: 0, 'aria-label': `Program ${p.activity}, version ${p.version}` }, h('code', {}, p.code)),
            ),
          ),
      h('p', { class: 'note' }, 'Earlier versions and the differences between them come next.'),
    ),
  );
}
