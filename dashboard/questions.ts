/**
 * How a course's students did on each question (#/courses/ID/questions): one table per chapter of the book's table of
 * contents, sortable, the hardest first; and one question (#/courses/ID/questions/QID): its distribution of choices
 * as a bar chart, or its most common answers (GET /api/courses/:course/questions and …/questions/:question/summary).
 */
import { api, ApiError } from './api.js';
import { h, type Child } from './dom.js';
import { courseHref, courseNav, crumbs, say, sayError, session, show } from './shell.js';

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
const lastView: View = { ...hardestFirst };

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

/** A table of the screen: a chapter's questions, or those the table of contents does not list. */
interface Table {
  id: string;
  title: string;
  rows: Row[];
}

/** The book's table of contents (GET /api/books/:book/toc), as far as the screen reads it. */
interface BookToc {
  chapters: { id: string; title: string; pages: { questions?: unknown[] }[] }[];
}

/** Counts the screens shown: a chapter's reply that arrives after the screen was left (or drawn again) is dropped. */
let shown = 0;

const tablesOf = (reply: QuestionsReply): Table[] =>
  reply.chapters.map((chapter) => {
    let order = 0;
    const rows = chapter.pages.flatMap((page) => page.questions.map((q): Row => ({ ...q, pageTitle: page.title, order: order++ })));
    return { id: chapter.id, title: chapter.title, rows };
  });

/**
 * The course's questions, a table per chapter (then one of the questions the table of contents does not list). The
 * chapters are read one after another (GET …/questions?chapter=ID, each over its own questions' attempts: a large
 * course's whole book at once takes seconds), each table drawn as it arrives, the live region telling which chapter
 * is loading; then the unlisted questions (?unlisted=true). Sorting orders the tables loaded and those to come.
 */
export async function questionsScreen(courseId: string): Promise<void> {
  const course = session.courses.find((c) => c.id === courseId);
  if (!course) {
    show('No such course', h('h1', {}, 'No such course'), h('p', {}, `You teach no course "${courseId}".`), h('p', {}, h('a', { href: '#/' }, 'Back to your courses')));
    return;
  }
  const screen = ++shown;
  const base = `/api/courses/${encodeURIComponent(courseId)}/questions`;
  let chapters: BookToc['chapters'];
  try {
    // A book without a table of contents (404) has unlisted questions only.
    const toc = await api<BookToc>('GET', `/api/books/${encodeURIComponent(course.book)}/toc`).catch((err: unknown) => {
      if (err instanceof ApiError && err.status === 404) return { chapters: [] };
      throw err;
    });
    chapters = toc.chapters.filter((c) => c.pages.some((p) => (p.questions?.length ?? 0) > 0));
  } catch (err) {
    sayError(err);
    return;
  }
  if (screen !== shown) return;
  const view = lastView;
  const title = `Questions · ${course.title}`;
  const tables: Table[] = [];
  const order = h('p', { id: 'questions-order' });
  const again = h('p', {});
  const list = h('div', { id: 'question-tables' });
  const empty = h('p', { class: 'note' });
  let lead = '';

  /** The words that say the order, and the button back to the hardest first when another order is on. */
  const drawOrder = () => {
    order.replaceChildren(
      lead,
      h('strong', {}, orderWords[view.sort][view.descending ? 1 : 0]),
      view.sort === 'question' ? '.' : '; questions nobody attempted come last.',
      ' Sort by a column with its button; a question opens its answers.',
    );
    order.hidden = tables.length === 0;
    const hardest = view.sort === hardestFirst.sort && view.descending === hardestFirst.descending;
    again.replaceChildren(hardest ? '' : h('button', { type: 'button', id: 'hardest-first', onclick: () => (Object.assign(view, hardestFirst), draw('hardest-first-done')) }, 'Hardest first again'));
    again.hidden = hardest;
  };
  /** Every table loaded in the view's order; the focus back on the control used (`focus`). */
  const draw = (focus: string) => {
    drawOrder();
    list.replaceChildren(...tables.map((table, i) => chapterSection(courseId, table, i, view, sortBy)));
    // After "Hardest first again" (gone once used) the focus goes to the heading; after a sort, to the same button.
    const target = focus === 'hardest-first-done' ? document.querySelector('main h1') : document.querySelector(`[data-focus="${CSS.escape(focus)}"]`);
    (target as HTMLElement | null)?.focus();
  };
  const sortBy = (key: SortKey, table: number) => {
    // A column's first click puts the hardest first: the fewest right (or the first in the book), the most attempts.
    view.descending = view.sort === key ? !view.descending : firstDescending.has(key);
    view.sort = key;
    draw(`sort-${table}-${key}`);
    say(`Questions sorted ${orderWords[key][view.descending ? 1 : 0]}.`);
  };
  let answered = false;
  /** Adds a reply's tables after those shown (in the view's order), the focus left where it is. */
  const add = (reply: QuestionsReply, more: Table[]) => {
    if (more.length === 0) return;
    if (tables.length === 0) {
      lead = `Over the ${reply.enrolled} student${reply.enrolled === 1 ? '' : 's'} enrolled${reply.window.startsAt || reply.window.endsAt ? ', within the course\'s dates' : ''}. Each chapter's questions are listed `;
    }
    for (const table of more) list.append(chapterSection(courseId, table, tables.push(table) - 1, view, sortBy));
    answered ||= more.some((t) => t.rows.some((q) => q.students > 0));
    drawOrder();
  };

  show(title, crumbs(h('a', { href: courseHref(courseId) }, course.title)), h('h1', {}, 'Questions'), courseNav(courseId, '/questions'), order, again, empty, list);
  empty.hidden = true;
  drawOrder();
  /** Still on this screen: not left for another, nor shown again. */
  const live = () => screen === shown && list.isConnected;
  try {
    for (const [i, chapter] of chapters.entries()) {
      say(`Loading chapter ${i + 1} of ${chapters.length}…`);
      const reply = await api<QuestionsReply>('GET', `${base}?chapter=${encodeURIComponent(chapter.id)}`);
      if (!live()) return;
      add(reply, tablesOf(reply));
    }
    if (chapters.length > 0) say(`Loading the questions the table of contents does not list…`);
    const reply = await api<QuestionsReply>('GET', `${base}?unlisted=true`);
    if (!live()) return;
    add(reply, reply.unlisted.length > 0 ? [{ id: '(unlisted)', title: 'Not in the table of contents', rows: reply.unlisted.map((q, order) => ({ ...q, pageTitle: null, order })) }] : []);
  } catch (err) {
    if (live()) sayError(err);
    return;
  } finally {
    // Every table is there (the end-to-end tests wait for it).
    if (live()) list.dataset.loaded = 'true';
  }
  if (tables.length === 0) {
    order.hidden = true;
    empty.textContent = 'The book\'s table of contents lists no question, and no student of the course has answered one yet.';
    empty.className = '';
    empty.hidden = false;
  } else if (!answered) {
    empty.textContent = 'No student of the course has answered a question yet: every count below is 0.';
    empty.hidden = false;
  }
  say(tables.length === 0 ? '' : `Questions loaded: ${tables.length} table${tables.length === 1 ? '' : 's'}.`);
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
