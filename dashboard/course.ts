/**
 * A course's main screen (#/courses/ID): its overview with the join code, the progress grid of its students, and its
 * roster, which instructors and admins change (teaching assistants read it).
 */
import { activityDays, activitySection } from './activity.js';
import { allPages, api, ApiError } from './api.js';
import { byId, h, replace, type Child } from './dom.js';
import { addChapterPages, gridByChapter, renderGrid, renderLegend, renderRows, visibleRows, windowedFrom, type Grid, type GridActions, type Row, type RowWindow, type SortKey, type View } from './grid.js';
import { lmsScoresSection } from './lms-scores.js';
import { courseHref, courseNav, crumbs, redraw, say, sayError, session, show } from './shell.js';
import type { CourseActivity, CourseDetail, CourseRole, GridPage, LtiScores, RosterChange, RosterPage, RosterStudent } from './types.js';

/** What one course's screen shows and keeps between its redraws. */
interface CourseState {
  role: CourseRole;
  detail: CourseDetail;
  grid: Grid;
  view: View;
  /** Asked once the grid is in (the grid is what a large course waits for; these show when they come). */
  roster: Promise<RosterStudent[]>;
  scores: Promise<LtiScores>;
  /** Loaded while the screen shows (it reads every row of the days: slower than the rest on a large course). */
  activity: Promise<CourseActivity>;
}

type FirstLoad = [CourseDetail, GridPage[]];

/**
 * What a course's screen needs first, at once (a course of 1,000 students shows its grid in under a second:
 * bench/dashboard.ts): the course and its grid by chapter, with the chapters' titles (a chapter's pages come when it
 * opens).
 */
function firstLoad(id: string): Promise<FirstLoad> {
  const path = `/api/courses/${encodeURIComponent(id)}`;
  return Promise.all([api<CourseDetail>('GET', path), allPages<GridPage>(`${path}/grid`, 1000)]);
}

/** A first load asked for before the courses taught are known (the page opened at a course's address), used once. */
let prefetched: { id: string; load: Promise<FirstLoad> } | undefined;

export function prefetchCourse(id: string): void {
  const load = firstLoad(id);
  load.catch(() => {}); // not this course's staff: the screen says so
  prefetched = { id, load };
}

async function loadCourse(id: string, role: CourseRole, view?: View): Promise<CourseState> {
  const path = `/api/courses/${encodeURIComponent(id)}`;
  const label = (s: RosterStudent) => s.name ?? s.username ?? s.id;
  const early = prefetched?.id === id ? prefetched.load : undefined;
  prefetched = undefined;
  const [detail, report] = await (early ?? Promise.reject(new Error('none'))).catch(() => firstLoad(id));
  const grid = gridByChapter(report);
  // A redraw keeps the chapters open: their pages again.
  const open = [...(view?.expanded ?? [])].filter((chapter) => grid.unloaded?.has(chapter));
  await Promise.all(open.map(async (chapter) => addChapterPages(grid, await allPages<GridPage>(chapterPath(id, chapter), 1000))));
  // Then the rest, once the grid is drawn (after the next frame, or 100 ms where frames are paused: a tab in the
  // background), so that neither the server (on SQLite, one read thread) nor the page's first frame waits for them;
  // each shown when it comes. A redraw after a change (`view` kept) shows the whole screen at once: no wait.
  const drawn = view
    ? Promise.resolve()
    : new Promise<void>((resolve) => {
        requestAnimationFrame(() => setTimeout(resolve, 0));
        setTimeout(resolve, 100);
      });
  // The API lists the roster by user id; people read it by name.
  const roster = drawn.then(() => allPages<RosterPage>(`${path}/roster`, 500)).then((pages) => pages.flatMap((p) => p.students).sort((a, b) => label(a).localeCompare(label(b))));
  const scores = drawn.then(() => api<LtiScores>('GET', `${path}/lti-scores`));
  const activity = drawn.then(() => api<CourseActivity>('GET', `${path}/activity?days=${activityDays}`));
  for (const later of [roster, scores, activity]) later.catch(() => {}); // handled where the screen shows each
  return { role, detail, grid, view: view ?? { sort: 'name', descending: false, filter: '', expanded: new Set() }, roster, scores, activity };
}

/** Where a part of the screen goes once loaded: `what` in words for a failure. */
function later<T>(loading: Promise<T>, what: string, section: (value: T) => HTMLElement | null): HTMLElement {
  const holder = h('div', { 'aria-busy': 'true' });
  loading.then(
    (value) => {
      replace(holder, section(value));
      holder.removeAttribute('aria-busy');
    },
    (err: unknown) => {
      replace(holder, h('p', { class: 'error' }, `The ${what} could not be loaded: ${err instanceof ApiError ? err.message : String(err)}`));
      holder.removeAttribute('aria-busy');
    },
  );
  return holder;
}

/** The grid's cells of a chapter's pages. */
function chapterPath(course: string, chapter: string): string {
  return `/api/courses/${encodeURIComponent(course)}/grid?chapter=${encodeURIComponent(chapter)}`;
}

export async function courseScreen(id: string, keep?: { view: View; focus?: string }): Promise<void> {
  const course = session.courses.find((c) => c.id === id);
  if (!course) {
    show('No such course', h('h1', {}, 'No such course'), h('p', {}, `You teach no course "${id}".`), h('p', {}, h('a', { href: '#/' }, 'Back to your courses')));
    return;
  }
  let state: CourseState;
  try {
    state = await loadCourse(id, course.as, keep?.view);
  } catch (err) {
    sayError(err);
    return;
  }
  const { detail } = state;
  // A redraw (after a change) shows the whole screen at once, so that the focus finds its element.
  const ready = keep ? await Promise.all([state.roster, state.scores]).catch(() => undefined) : undefined;
  const content = [
    crumbs(),
    h('h1', {}, detail.title),
    courseNav(detail.id, ''),
    overviewSection(state),
    ready ? lmsScoresSection(ready[1]) : later(state.scores, 'LMS scores', lmsScoresSection),
    progressSection(state),
    ready ? rosterSection(state, ready[0]) : later(state.roster, 'roster', (roster) => rosterSection(state, roster)),
  ];
  if (keep) {
    redraw(detail.title, keep.focus, ...content);
  } else {
    show(detail.title, ...content);
  }
}

const reload = (state: CourseState, focus: string) => courseScreen(state.detail.id, { view: state.view, focus });
const canChange = (state: CourseState) => state.role !== 'ta';

function overviewSection(state: CourseState): HTMLElement {
  const { detail } = state;
  const item = (term: string, ...value: Child[]) => [h('dt', {}, term), h('dd', {}, ...value)];
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(detail.joinCode);
      say(`Join code ${detail.joinCode} copied.`);
    } catch {
      say('The browser did not let the dashboard copy: select the code and copy it yourself.', true);
    }
  };
  const rotate = async () => {
    if (!confirm(`Give "${detail.title}" a new join code? ${detail.joinCode} stops working at once (students already in the course stay).`)) return;
    try {
      const { joinCode } = await api<{ joinCode: string }>('POST', `/api/courses/${encodeURIComponent(detail.id)}/code`);
      await reload(state, 'rotate-code');
      say(`New join code: ${joinCode}. The old one no longer works.`);
    } catch (err) {
      sayError(err);
    }
  };
  return h(
    'section',
    { 'aria-labelledby': 'overview-heading' },
    h('h2', { id: 'overview-heading' }, 'Overview'),
    h(
      'dl',
      { class: 'facts' },
      item('Book', detail.book),
      item('Term', detail.term ?? '—'),
      item('Students enrolled', h('span', { id: 'enrolled' }, String(detail.students))),
      item('Staff', `${detail.instructors} instructor${detail.instructors === 1 ? '' : 's'}, ${detail.tas} teaching assistant${detail.tas === 1 ? '' : 's'}`),
      item('Joining with the code', detail.open ? 'open' : 'closed'),
      item(
        'Join code',
        h('code', { id: 'join-code' }, detail.joinCode),
        ' ',
        h('button', { type: 'button', id: 'copy-code', onclick: () => void copy() }, 'Copy'),
        ' ',
        canChange(state) ? h('button', { type: 'button', id: 'rotate-code', onclick: () => void rotate() }, 'Rotate') : null,
      ),
    ),
    activityHolder(state),
  );
}

/** Where the activity goes once loaded (the rest of the screen does not wait for it). */
function activityHolder(state: CourseState): HTMLElement {
  const holder = h('div', { id: 'activity', 'aria-busy': 'true' }, h('p', { class: 'note' }, 'Loading the activity of the last days…'));
  state.activity.then(
    (activity) => {
      replace(holder, activitySection(activity));
      holder.removeAttribute('aria-busy');
    },
    (err: unknown) => {
      replace(holder, h('p', { class: 'error' }, `The activity could not be loaded: ${err instanceof ApiError ? err.message : String(err)}`));
      holder.removeAttribute('aria-busy');
    },
  );
  return holder;
}

function progressSection(state: CourseState): HTMLElement {
  const { grid, view } = state;
  const holder = h('div', { class: 'grid-scroll', role: 'region', 'aria-labelledby': 'progress-heading', tabindex: 0 });
  const count = h('p', { id: 'grid-count', class: 'count' });
  const actions: GridActions = {
    sortBy(key: SortKey) {
      view.descending = view.sort === key ? !view.descending : key !== 'name';
      view.sort = key;
      draw(`sort-${key}`);
    },
    toggle(chapter: string) {
      if (view.expanded.delete(chapter)) return draw(`chapter-${chapter}`);
      if (!grid.unloaded?.has(chapter)) {
        view.expanded.add(chapter);
        return draw(`chapter-${chapter}`);
      }
      allPages<GridPage>(chapterPath(state.detail.id, chapter), 1000).then(
        (report) => {
          addChapterPages(grid, report);
          view.expanded.add(chapter);
          draw(`chapter-${chapter}`);
        },
        (err: unknown) => sayError(err),
      );
    },
    studentHref: (row) => courseHref(state.detail.id, `/students/${encodeURIComponent(row.id)}`),
  };
  // A large class draws the rows in view and a screenful above and below them (grid.ts, windowedFrom). A new drawing
  // shows the rows in view first; after its frame, the rows' height is measured and the screenfuls around them drawn
  // (settle). Before the region is on the page, its height is its most (75vh, dashboard.css).
  let rows: Row[] = [];
  let rowHeight = 57;
  let drawn: RowWindow | undefined;
  const windowAt = (around = true): RowWindow | undefined => {
    if (rows.length <= windowedFrom) return undefined;
    const screen = Math.ceil((holder.clientHeight || 0.75 * window.innerHeight) / rowHeight);
    const first = Math.floor(holder.scrollTop / rowHeight);
    const start = around ? Math.max(0, first - screen) : first;
    return { start, end: Math.min(rows.length, first + (around ? 2 : 1) * screen), rowHeight };
  };
  const settle = () => {
    const row = holder.querySelector<HTMLElement>('tbody tr[data-student]');
    if (row && row.offsetHeight > 0) rowHeight = row.offsetHeight;
    redrawRows(true);
  };
  const redrawRows = (always = false) => {
    const next = windowAt();
    const body = holder.querySelector('tbody');
    if (!next || !drawn || !body) return;
    if (!always && Math.abs(next.start - drawn.start) < (drawn.end - drawn.start) / 6) return;
    // The focus stays on the student link it was on, when that row is still drawn.
    const focused = (document.activeElement as HTMLElement | null)?.closest('tr')?.getAttribute('data-student');
    body.replaceChildren(...renderRows(grid, view, actions, rows, next));
    drawn = next;
    if (focused) (body.querySelector(`tr[data-student="${CSS.escape(focused)}"] a`) as HTMLElement | null)?.focus();
  };
  let scrolling = false;
  holder.addEventListener('scroll', () => {
    if (scrolling) return;
    scrolling = true;
    requestAnimationFrame(() => {
      scrolling = false;
      redrawRows();
    });
  });
  const draw = (focus?: string) => {
    rows = visibleRows(grid, view);
    drawn = windowAt(false);
    const table = renderGrid(grid, view, actions, rows, drawn);
    replace(holder, table);
    const shown = rows.length;
    count.textContent = shown === grid.rows.length ? `${shown} student${shown === 1 ? '' : 's'}` : `${shown} of ${grid.rows.length} students match`;
    if (focus) (holder.querySelector(`[data-focus="${CSS.escape(focus)}"]`) as HTMLElement | null)?.focus();
    // The rows around come when the page is idle after the frame that shows these (at most 300 ms later), so that they
    // never hold that frame up; where requestIdleCallback is missing (Safari), 50 ms after it.
    if (drawn) requestAnimationFrame(() => ('requestIdleCallback' in window ? requestIdleCallback(settle, { timeout: 300 }) : setTimeout(settle, 50)));
  };
  const filter = h('input', { id: 'grid-filter', type: 'search', value: view.filter, autocomplete: 'off', 'aria-describedby': 'grid-count' });
  filter.addEventListener('input', () => {
    view.filter = filter.value;
    draw();
  });
  draw();
  return h(
    'section',
    { 'aria-labelledby': 'progress-heading' },
    h('h2', { id: 'progress-heading' }, 'Progress'),
    grid.rows.length === 0
      ? h('p', {}, 'No student is enrolled yet: share the join code, or add students in the roster below.')
      : [
          h('div', { class: 'tools' }, h('label', { for: 'grid-filter' }, 'Filter students'), filter, count),
          holder,
          h('p', { class: 'note' }, 'Sort by a column with its button; open a chapter to see its pages; a student\'s name opens their work.'),
          renderLegend(),
        ],
  );
}

function rosterSection(state: CourseState, roster: RosterStudent[]): HTMLElement {
  const { detail } = state;
  const path = `/api/courses/${encodeURIComponent(detail.id)}/roster`;
  const created = h('div', { id: 'created-accounts' });
  const change = async (body: unknown, focus: string): Promise<RosterChange | undefined> => {
    try {
      const result = await api<RosterChange>('POST', path, body);
      await reload(state, focus);
      return result;
    } catch (err) {
      sayError(err);
      return undefined;
    }
  };
  const addForm = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const usernames = (byId('add-usernames') as HTMLInputElement).value.split(/[\s,]+/).filter(Boolean);
        if (usernames.length === 0) return say('Type one username or more.', true);
        const result = await change({ usernames }, 'add-usernames');
        if (result) say(`${result.enrolled} student${result.enrolled === 1 ? '' : 's'} added${result.alreadyEnrolled ? `, ${result.alreadyEnrolled} already enrolled` : ''}.`);
      },
    },
    h('label', { for: 'add-usernames' }, 'Add students by username (separate several with spaces or commas)'),
    h('input', { id: 'add-usernames', autocomplete: 'off', required: true }),
    h('button', { type: 'submit' }, 'Add'),
  );
  const importForm = h(
    'form',
    {
      class: 'inline',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const file = (byId('roster-file') as HTMLInputElement).files?.[0];
        if (!file) return say('Choose a CSV file first.', true);
        const result = await change({ csv: await file.text() }, 'roster-file');
        if (!result) return;
        say(`Roster imported: ${result.enrolled} enrolled, ${result.alreadyEnrolled} already enrolled, ${result.created.length} new account${result.created.length === 1 ? '' : 's'}.`);
        if (result.created.length > 0) {
          replace(
            byId('created-accounts'),
            h('h3', {}, 'New accounts: send each student their set-password link'),
            h('ul', {}, result.created.map((c) => h('li', {}, `${c.username}: `, h('code', {}, c.link)))),
          );
        }
      },
    },
    h('label', { for: 'roster-file' }, 'Import a roster CSV (columns username, name, email; new usernames become accounts)'),
    h('input', { id: 'roster-file', type: 'file', accept: '.csv,text/csv' }),
    h('button', { type: 'submit' }, 'Import'),
  );
  const remove = async (student: RosterStudent) => {
    const who = student.name ?? student.username ?? student.id;
    if (!confirm(`Take ${who} out of "${detail.title}"? Their work stays theirs.`)) return;
    try {
      await api('DELETE', `${path}/${encodeURIComponent(student.id)}`);
      await reload(state, 'add-usernames');
      say(`${who} is no longer in the course.`);
    } catch (err) {
      sayError(err);
    }
  };
  const table = h(
    'table',
    { class: 'roster' },
    h('caption', { class: 'visually-hidden' }, 'Enrolled students'),
    h('thead', {}, h('tr', {}, ['Name', 'Username', 'Email', 'Enrolled by', canChange(state) ? 'Remove' : null].filter((c) => c !== null).map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      roster.map((s) =>
        h(
          'tr',
          { 'data-student': s.id },
          h('th', { scope: 'row' }, s.name ?? '—'),
          h('td', {}, s.username ?? '—'),
          h('td', {}, s.email ?? '—'),
          h('td', {}, s.via),
          canChange(state) ? h('td', {}, h('button', { type: 'button', class: 'remove', onclick: () => void remove(s) }, 'Remove', h('span', { class: 'visually-hidden' }, ` ${s.name ?? s.username ?? s.id}`))) : null,
        ),
      ),
    ),
  );
  return h(
    'section',
    { 'aria-labelledby': 'roster-heading' },
    h('h2', { id: 'roster-heading' }, `Roster (${roster.length} student${roster.length === 1 ? '' : 's'})`),
    canChange(state) ? [addForm, importForm, created] : h('p', {}, 'The course\'s instructors change its roster.'),
    roster.length === 0 ? h('p', {}, 'Nobody is enrolled yet.') : h('div', { class: 'scroll' }, table),
  );
}
