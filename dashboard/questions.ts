/**
 * How a course's students did on each question (#/courses/ID/questions): one table per chapter of the book's table of
 * contents, sortable, the hardest first; and one question (#/courses/ID/questions/QID): its distribution of choices
 * as a bar chart, or its most common answers (GET /api/courses/:course/questions and …/questions/:question/summary).
 */
import { api, ApiError } from './api.js';
import { h, type Child } from './dom.js';
import { courseHref, courseNav, crumbs, redraw, say, sayError, session, show } from './shell.js';

/** One question's numbers (schemas/course-questions.ts, CourseQuestionStats). */
interface QuestionStats {
  id: string;
  unlisted?: true;
  kind: string;
  points: number | null;
  page: string | null;
  attempts: number;
  students: number;
  correctFirstTry: number;
  eventuallyCorrect: number;
  medianAttempts: number | null;
}

interface QuestionsReply {
  enrolled: number;
  window: { startsAt: string | null; endsAt: string | null };
  chapters: { id: string; title: string; pages: { id: string; title: string; questions: QuestionStats[] }[] }[];
  unlisted: QuestionStats[];
}

/** GET /api/courses/:course/questions/:question/summary, as far as the screen reads it. */
interface QuestionSummary {
  question: string;
  unlisted: boolean;
  page: string | null;
  kind: string | null;
  points: number | null;
  enrolled: number;
  students: number;
  attempts: number;
  correctFirstTry: number;
  eventuallyCorrect: number;
  correctRate: number | null;
  distribution: { choice: string; count: number; correct?: boolean }[] | null;
  commonAnswers: { answer: string; count: number; correct?: boolean }[] | null;
  distinctAnswers: number | null;
}

/** A table's row: the question's numbers with its page's title and its place in the table of contents. */
interface Row extends QuestionStats {
  pageTitle: string | null;
  order: number;
}

type SortKey = 'question' | 'kind' | 'attempts' | 'students' | 'firstTry' | 'eventually' | 'median';

interface View {
  sort: SortKey;
  descending: boolean;
}

const columns: { key: SortKey; label: string }[] = [
  { key: 'question', label: 'Question' },
  { key: 'kind', label: 'Kind' },
  { key: 'attempts', label: 'Attempts' },
  { key: 'students', label: 'Students' },
  { key: 'firstTry', label: 'First-try correct' },
  { key: 'eventually', label: 'Eventually correct' },
  { key: 'median', label: 'Median attempts' },
];

/** The order the screen opens with: the lowest share of first-try correct first (the hardest), as the issue asks. */
const hardestFirst: View = { sort: 'firstTry', descending: false };

/** The columns whose first click sorts from the most down (the others from the least up). */
const firstDescending = new Set<SortKey>(['attempts', 'students', 'median']);

/** Kept while the user moves between the list and a question, so that coming back keeps their order. */
let lastView: View = { ...hardestFirst };

const share = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);
const percent = (part: number, whole: number) => {
  const s = share(part, whole);
  return s === null ? '—' : `${Math.round(s * 100)}%`;
};
const number = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/** The value a column sorts by: null for a question nobody attempted (its shares and median), which comes last either way. */
function sortValue(row: Row, key: SortKey): number | string | null {
  switch (key) {
    case 'question':
      return row.order;
    case 'kind':
      return row.kind;
    case 'attempts':
      return row.attempts;
    case 'students':
      return row.students;
    case 'firstTry':
      return share(row.correctFirstTry, row.students);
    case 'eventually':
      return share(row.eventuallyCorrect, row.students);
    case 'median':
      return row.medianAttempts;
  }
}

/** The rows in the view's order; ties in the table of contents' order. */
export function sortRows(rows: readonly Row[], view: View): Row[] {
  const sign = view.descending ? -1 : 1;
  return [...rows].sort((a, b) => {
    const [x, y] = [sortValue(a, view.sort), sortValue(b, view.sort)];
    if (x === null || y === null) return x === y ? a.order - b.order : x === null ? 1 : -1;
    const c = typeof x === 'string' ? x.localeCompare(y as string) : x - (y as number);
    return sign * c || a.order - b.order;
  });
}

const orderWords: Record<SortKey, [string, string]> = {
  question: ['in the book\'s order', 'in the book\'s order, reversed'],
  kind: ['by kind, A to Z', 'by kind, Z to A'],
  attempts: ['fewest attempts first', 'most attempts first'],
  students: ['fewest students first', 'most students first'],
  firstTry: ['the hardest first: the lowest share of students right on their first try', 'the easiest first: the highest share of students right on their first try'],
  eventually: ['the lowest share of students eventually right first', 'the highest share of students eventually right first'],
  median: ['the fewest median attempts first', 'the most median attempts first'],
};

/** The course's questions, a table per chapter (then one of the questions the table of contents does not list). */
export async function questionsScreen(courseId: string, keep?: { focus?: string }): Promise<void> {
  const course = session.courses.find((c) => c.id === courseId);
  if (!course) {
    show('No such course', h('h1', {}, 'No such course'), h('p', {}, `You teach no course "${courseId}".`), h('p', {}, h('a', { href: '#/' }, 'Back to your courses')));
    return;
  }
  let reply: QuestionsReply;
  try {
    reply = await api<QuestionsReply>('GET', `/api/courses/${encodeURIComponent(courseId)}/questions`);
  } catch (err) {
    sayError(err);
    return;
  }
  const view = lastView;
  const title = `Questions · ${course.title}`;
  const tables: { id: string; title: string; rows: Row[] }[] = reply.chapters.map((chapter) => {
    let order = 0;
    const rows = chapter.pages.flatMap((page) => page.questions.map((q): Row => ({ ...q, pageTitle: page.title, order: order++ })));
    return { id: chapter.id, title: chapter.title, rows };
  });
  if (reply.unlisted.length > 0) tables.push({ id: '(unlisted)', title: 'Not in the table of contents', rows: reply.unlisted.map((q, order) => ({ ...q, pageTitle: null, order })) });

  const sortBy = (key: SortKey, table: number) => {
    // A column's first click puts the hardest first: the fewest right (or the first in the book), the most attempts.
    view.descending = view.sort === key ? !view.descending : firstDescending.has(key);
    view.sort = key;
    void questionsScreen(courseId, { focus: `sort-${table}-${key}` }).then(() => say(`Questions sorted ${orderWords[key][view.descending ? 1 : 0]}.`));
  };
  const answered = reply.chapters.some((c) => c.pages.some((p) => p.questions.some((q) => q.students > 0))) || reply.unlisted.length > 0;
  const content: (Child | Child[])[] = [
    crumbs(h('a', { href: courseHref(courseId) }, course.title)),
    h('h1', {}, 'Questions'),
    courseNav(courseId, '/questions'),
  ];
  if (tables.length === 0) {
    content.push(h('p', {}, 'The book\'s table of contents lists no question, and no student of the course has answered one yet.'));
  } else {
    content.push(
      h(
        'p',
        { id: 'questions-order' },
        `Over the ${reply.enrolled} student${reply.enrolled === 1 ? '' : 's'} enrolled${reply.window.startsAt || reply.window.endsAt ? ', within the course\'s dates' : ''}. Each chapter's questions are listed `,
        h('strong', {}, orderWords[view.sort][view.descending ? 1 : 0]),
        view.sort === 'question' ? '.' : '; questions nobody attempted come last.',
        ' Sort by a column with its button; a question opens its answers.',
      ),
      view.sort === hardestFirst.sort && view.descending === hardestFirst.descending
        ? null
        : h('p', {}, h('button', { type: 'button', id: 'hardest-first', onclick: () => ((lastView = { ...hardestFirst }), void questionsScreen(courseId, { focus: 'hardest-first-done' })) }, 'Hardest first again')),
      answered ? null : h('p', { class: 'note' }, 'No student of the course has answered a question yet: every count below is 0.'),
      tables.map((table, i) => chapterSection(courseId, table, i, view, sortBy)),
    );
  }
  if (keep) {
    redraw(title, undefined, ...content);
    // After "Hardest first again" (gone once used) the focus goes to the heading; after a sort, to the same button.
    const target = keep.focus === 'hardest-first-done' ? document.querySelector('main h1') : keep.focus ? document.querySelector(`[data-focus="${CSS.escape(keep.focus)}"]`) : null;
    (target as HTMLElement | null)?.focus();
  } else {
    show(title, ...content);
  }
}

function chapterSection(courseId: string, table: { id: string; title: string; rows: Row[] }, index: number, view: View, sortBy: (key: SortKey, table: number) => void): HTMLElement {
  const heading = `questions-${index}`;
  const header = columns.map(({ key, label }) => {
    const active = view.sort === key;
    return h(
      'th',
      { scope: 'col', 'aria-sort': active ? (view.descending ? 'descending' : 'ascending') : 'none', class: key === 'question' || key === 'kind' ? null : 'num' },
      h(
        'button',
        { type: 'button', class: 'sort', 'data-focus': `sort-${index}-${key}`, onclick: () => sortBy(key, index) },
        label,
        h('span', { 'aria-hidden': 'true' }, active ? (view.descending ? ' ▼' : ' ▲') : ' ↕'),
      ),
    );
  });
  const body = sortRows(table.rows, view).map((q) =>
    h(
      'tr',
      { 'data-question': q.id },
      h(
        'th',
        { scope: 'row' },
        h('a', { href: courseHref(courseId, `/questions/${encodeURIComponent(q.id)}`) }, h('code', {}, q.id)),
        h('span', { class: 'sub' }, q.pageTitle ?? (q.page ? `saved on ${q.page}` : 'no page')),
      ),
      h('td', {}, q.kind),
      h('td', { class: 'num' }, String(q.attempts)),
      h('td', { class: 'num' }, String(q.students)),
      h('td', { class: 'num' }, String(q.correctFirstTry), h('span', { class: 'sub' }, percent(q.correctFirstTry, q.students))),
      h('td', { class: 'num' }, String(q.eventuallyCorrect), h('span', { class: 'sub' }, percent(q.eventuallyCorrect, q.students))),
      h('td', { class: 'num' }, q.medianAttempts === null ? '—' : number(q.medianAttempts)),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': heading },
    h('h2', { id: heading }, table.title),
    h(
      'div',
      { class: 'scroll', role: 'region', 'aria-labelledby': heading, tabindex: 0 },
      h(
        'table',
        { class: 'questions', 'aria-describedby': 'questions-order' },
        h('caption', { class: 'visually-hidden' }, `${table.title}: each question's attempts and students; first-try and eventually correct as counts and shares of the students who attempted it`),
        h('thead', {}, h('tr', {}, header)),
        h('tbody', {}, body),
      ),
    ),
  );
}

const kindWords: Record<string, string> = {
  mchoice: 'multiple choice',
  poll: 'poll',
  clickablearea: 'clickable area',
  fitb: 'fill in the blanks',
  shortanswer: 'short answer',
  parsons: 'Parsons problem',
  dragndrop: 'drag and drop',
  unittest: 'unit tests',
  codelens: 'CodeLens',
};

/** One question: its numbers, then its distribution of choices (a bar chart) or its most common answers. */
export async function questionScreen(courseId: string, questionId: string): Promise<void> {
  const course = session.courses.find((c) => c.id === courseId);
  const back = h('a', { href: courseHref(courseId, '/questions') }, 'Questions');
  const courseLink = h('a', { href: courseHref(courseId) }, course?.title ?? courseId);
  let s: QuestionSummary;
  try {
    s = await api<QuestionSummary>('GET', `/api/courses/${encodeURIComponent(courseId)}/questions/${encodeURIComponent(questionId)}/summary`);
  } catch (err) {
    show('No such question', crumbs(courseLink, back), h('h1', {}, 'No such question'), h('p', {}, err instanceof ApiError ? err.message : String(err)));
    return;
  }
  const item = (term: string, value: Child) => [h('dt', {}, term), h('dd', {}, value)];
  const ofStudents = (n: number) => `${n} (${percent(n, s.students)} of the students who answered)`;
  show(
    `Question ${s.question} · ${course?.title ?? courseId}`,
    crumbs(courseLink, back),
    h('h1', {}, 'Question ', h('code', {}, s.question)),
    h(
      'dl',
      { class: 'facts', id: 'question-facts' },
      item('Page', s.page ? h('code', {}, s.page) : s.unlisted ? 'not in the table of contents' : '—'),
      item('Kind', s.kind === null ? '—' : (kindWords[s.kind] ?? s.kind)),
      item('Points', s.points === null ? '—' : number(s.points)),
      item('Students who answered', `${s.students} of ${s.enrolled} enrolled`),
      item('Attempts', String(s.attempts)),
      item('Correct on the first try', ofStudents(s.correctFirstTry)),
      item('Eventually correct', ofStudents(s.eventuallyCorrect)),
    ),
    answersSection(s),
  );
}

function answersSection(s: QuestionSummary): HTMLElement {
  const section = (...content: (Child | Child[])[]) => h('section', { 'aria-labelledby': 'answers-heading' }, ...content);
  if (s.students === 0) return section(h('h2', { id: 'answers-heading' }, 'Answers'), h('p', {}, 'No student of the course has answered this question yet.'));
  if (s.distribution) {
    const total = s.students;
    const marked = s.distribution.some((d) => d.correct !== undefined);
    const rows = s.distribution.map((d) => {
      const fill = h('span', { class: `fill${d.correct ? ' right' : ''}` });
      fill.style.width = `${total > 0 ? (d.count / total) * 100 : 0}%`;
      return h(
        'tr',
        { 'data-choice': d.choice },
        h('th', { scope: 'row' }, h('code', {}, d.choice), d.correct ? h('span', { class: 'right-mark' }, ' ✓ correct') : null),
        h('td', { class: 'num' }, String(d.count), h('span', { class: 'sub' }, percent(d.count, total))),
        h('td', { class: 'bar-cell', 'aria-hidden': 'true' }, h('span', { class: 'track' }, fill)),
      );
    });
    return section(
      h('h2', { id: 'answers-heading' }, 'Distribution of choices'),
      h(
        'figure',
        { class: 'chart' },
        h(
          'table',
          { class: 'bars', id: 'choices' },
          h('caption', { class: 'visually-hidden' }, 'Students whose latest answer includes each choice, most chosen first'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Choice'), h('th', { scope: 'col', class: 'num' }, 'Students'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Bar')))),
          h('tbody', {}, rows),
        ),
        h(
          'figcaption',
          { class: 'note' },
          `Each bar: the students whose latest answer includes the choice, out of the ${total} who answered (a student may pick several). `,
          marked ? 'The correct choices, as the students\' answers marked correct tell, are marked ✓.' : 'No latest answer is marked correct, so no choice is marked as the correct one.',
        ),
      ),
    );
  }
  if (s.commonAnswers) {
    return section(
      h('h2', { id: 'answers-heading' }, 'Most common answers'),
      s.commonAnswers.length === 0
        ? h('p', {}, 'No answer of this kind to count.')
        : [
            h(
              'div',
              { class: 'scroll' },
              h(
                'table',
                { class: 'common', id: 'common-answers' },
                h('caption', { class: 'visually-hidden' }, 'The students\' latest answers, most given first'),
                h('thead', {}, h('tr', {}, ['Answer', 'Students', 'Marked'].map((c) => h('th', { scope: 'col' }, c)))),
                h(
                  'tbody',
                  {},
                  s.commonAnswers.map((a) =>
                    h(
                      'tr',
                      {},
                      h('th', { scope: 'row' }, h('code', {}, a.answer === '' ? '(empty)' : a.answer)),
                      h('td', { class: 'num' }, String(a.count)),
                      h('td', {}, a.correct === undefined ? 'not marked' : a.correct ? 'correct' : 'not correct'),
                    ),
                  ),
                ),
              ),
            ),
            h(
              'p',
              { class: 'note' },
              `The students' latest answers, counted alike when they differ only in case or spaces (shown as most spelled them): ${s.commonAnswers.length} of ${s.distinctAnswers ?? s.commonAnswers.length} different answer${s.distinctAnswers === 1 ? '' : 's'}.`,
            ),
          ],
    );
  }
  return section(
    h('h2', { id: 'answers-heading' }, 'Answers'),
    h('p', {}, `Answers of this kind (${s.kind === null ? 'unknown' : (kindWords[s.kind] ?? s.kind)}) have no choices or text to count: each student's answer is on their page (a name in the progress grid).`),
  );
}
