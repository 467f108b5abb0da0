/**
 * The LMS gradebook scores a course still owes (GET /api/courses/:course/lti-scores): Folio retries each one it could
 * not send. Shown on the course's screen while some wait; a course linked to an LMS with none waiting says so, and a
 * course no LMS links shows nothing.
 */
import { h } from './dom.js';
import { when } from './shell.js';
import type { LtiScores } from './types.js';

export function lmsScoresSection(scores: LtiScores): HTMLElement | null {
  if (scores.pending.length === 0 && !scores.linked) return null;
  const count = scores.pending.length;
  return h(
    'section',
    { 'aria-labelledby': 'lms-heading', id: 'lms-scores' },
    h('h2', { id: 'lms-heading' }, count === 0 ? 'LMS gradebook' : `Scores waiting for the LMS (${count})`),
    count === 0
      ? h('p', {}, 'Every score has reached the LMS gradebook.')
      : [
          h('p', {}, 'Folio could not send these scores to the LMS gradebook yet. It tries again by itself (after 30 s, then twice as long each time, at most hourly) until the LMS takes each one.'),
          h(
            'div',
            { class: 'scroll' },
            h(
              'table',
              { class: 'lms-scores' },
              h('caption', { class: 'visually-hidden' }, 'Scores waiting for the LMS gradebook'),
              h('thead', {}, h('tr', {}, ['Student', 'Page', 'Score', 'Attempts', 'Next attempt', 'Last error'].map((c) => h('th', { scope: 'col' }, c)))),
              h(
                'tbody',
                {},
                scores.pending.map((s) =>
                  h(
                    'tr',
                    {},
                    h('th', { scope: 'row' }, s.user.name ?? s.user.username ?? s.user.id),
                    h('td', { class: 'text' }, h('code', {}, s.page)),
                    h('td', {}, `${s.scoreGiven} / ${s.scoreMaximum}`),
                    h('td', {}, s.attempts),
                    h('td', { class: 'text' }, s.nextAttemptAt === null ? 'now' : when(s.nextAttemptAt)),
                    h('td', { class: 'text error-text' }, s.lastError ?? '—'),
                  ),
                ),
              ),
            ),
          ),
        ],
  );
}
