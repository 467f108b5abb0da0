/**
 * The progress grid: students × chapters (a chapter expands into its pages), from every page of
 * GET /api/courses/:course/grid (a chapter's pages loaded when it opens), or of …/progress (one student's), and the book's
 * chapter titles. The model is plain data (sorted and filtered here);
 * renderGrid draws it as one table whose header row and first column stay in view while it scrolls.
 */
import { h, type Child } from './dom.js';
import type { GridPage as GridReply, PageProgress, ProgressPage, StudentProgress, Toc } from './types.js';

/** What a cell sums up: one page, or a chapter's pages. */
export interface Cell {
  earned: number;
  possible: number;
  completed: number;
  pages: number;
  /** Whether the student has any work there (a page the report lists for them). */
  touched: boolean;
}

export interface GridPage {
  id: string;
  title: string;
  possible: number;
}

export interface Chapter {
  id: string;
  title: string;
  pages: GridPage[];
}

export interface Row {
  id: string;
  /** The student's name, else their username, else their id. */
  label: string;
  username: string | null;
  search: string;
  chapters: Map<string, Cell>;
  pages: Map<string, Cell>;
  /** Points earned out of possible (pages completed out of pages when nothing is worth points), 0 to 1. */
  progress: number;
  totals: StudentProgress['totals'];
  lastActivity: number | null;
}

export interface Grid {
  chapters: Chapter[];
  rows: Row[];
  /** Chapters whose pages' cells are not loaded yet (the course's grid loads them when the chapter opens: addChapterPages). */
  unloaded?: Set<string>;
}

/** The chapter that gathers pages with work which the table of contents does not list. */
export const unlistedChapter = '(unlisted)';

const cellOf = (page: PageProgress | undefined, possible: number): Cell =>
  page
    ? { earned: page.earned, possible: page.possible, completed: page.completed ? 1 : 0, pages: 1, touched: true }
    : { earned: 0, possible, completed: 0, pages: 1, touched: false };

function sum(cells: Cell[]): Cell {
  const total: Cell = { earned: 0, possible: 0, completed: 0, pages: 0, touched: false };
  for (const c of cells) {
    total.earned += c.earned;
    total.possible += c.possible;
    total.completed += c.completed;
    total.pages += c.pages;
    total.touched ||= c.touched;
  }
  return total;
}

/** The grid of a course's progress report (all its pages) with the chapter titles of its book's table of contents, if any. */
export function buildGrid(report: ProgressPage[], toc: Toc | undefined): Grid {
  const chapters = chaptersOf(report[0]?.toc.pages ?? [], toc);
  const students = report.flatMap((p) => p.students);
  const unlisted = [...new Set(students.flatMap((s) => s.unlisted?.pages.map((p) => p.page) ?? []))].sort();
  if (unlisted.length > 0) chapters.push({ id: unlistedChapter, title: 'Not in the table of contents', pages: unlisted.map((id) => ({ id, title: id, possible: 1 })) });

  const rows = students.map((student): Row => {
    const done = new Map([...student.pages, ...(student.unlisted?.pages ?? [])].map((p) => [p.page, p]));
    const pages = new Map<string, Cell>();
    const chapterCells = new Map<string, Cell>();
    for (const chapter of chapters) {
      const cells = chapter.pages.map((page) => cellOf(done.get(page.id), page.possible));
      chapter.pages.forEach((page, i) => pages.set(page.id, cells[i]!));
      chapterCells.set(chapter.id, sum(cells));
    }
    return rowOf(student, chapterCells, pages);
  });
  return { chapters, rows };
}

/** A student's row of the grid, from their entry in a grid or progress reply and their cells. */
function rowOf(student: Pick<StudentProgress, 'user' | 'totals' | 'lastActivity'>, chapters: Map<string, Cell>, pages: Map<string, Cell>): Row {
  const { user, totals } = student;
  return {
    id: user.id,
    label: user.name ?? user.username ?? user.id,
    username: user.username,
    search: [user.name, user.username, user.email].filter(Boolean).join(' ').toLowerCase(),
    chapters,
    pages,
    progress: progressOf(totals),
    totals,
    lastActivity: student.lastActivity === null ? null : Date.parse(student.lastActivity),
  };
}

/** The chapters of a table of contents as the progress replies list its pages, with the chapter titles of the book's, if any. */
function chaptersOf(pages: ProgressPage['toc']['pages'], toc: Toc | undefined): Chapter[] {
  const titles = new Map(toc?.chapters.map((c) => [c.id, c.title]));
  const chapters: Chapter[] = [];
  const byId = new Map<string, Chapter>();
  for (const page of pages) {
    let chapter = byId.get(page.chapter);
    if (!chapter) {
      chapter = { id: page.chapter, title: titles.get(page.chapter) ?? page.chapter, pages: [] };
      byId.set(page.chapter, chapter);
      chapters.push(chapter);
    }
    chapter.pages.push({ id: page.id, title: page.title, possible: page.points });
  }
  return chapters;
}

const progressOf = (totals: StudentProgress['totals']) => (totals.possible > 0 ? totals.earned / totals.possible : totals.pages > 0 ? totals.pagesCompleted / totals.pages : 0);

/**
 * The grid of the pages of GET /api/courses/:course/grid by chapter (with the chapters' titles): a cell a chapter (and
 * the unlisted pages' cells); the pages of a chapter come with addChapterPages when it opens.
 */
export function gridByChapter(report: GridReply[]): Grid {
  const chapters = chaptersOf(report[0]?.toc.pages ?? [], { chapters: report[0]?.chapters ?? [] });
  const students = report.flatMap((p) => p.students);
  const unlisted = [...new Set(students.flatMap((s) => s.unlisted?.map((p) => p.page) ?? []))].sort();
  if (unlisted.length > 0) chapters.push({ id: unlistedChapter, title: 'Not in the table of contents', pages: unlisted.map((id) => ({ id, title: id, possible: 1 })) });
  const columns = report[0]?.columns ?? [];
  // Each listed chapter's column in the reply and its sums, found once (this runs for every student on the first view).
  const listed = chapters
    .filter((c) => c.id !== unlistedChapter)
    .map((c) => ({ id: c.id, column: columns.indexOf(c.id), possible: c.pages.reduce((n, p) => n + p.possible, 0), pages: c.pages.length }));
  const unlistedPages = chapters.find((c) => c.id === unlistedChapter)?.pages;
  const rows = students.map((student): Row => {
    const chapterCells = new Map<string, Cell>();
    const pages = new Map<string, Cell>();
    for (const chapter of listed) {
      const cell = student.cells[chapter.column];
      chapterCells.set(chapter.id, { earned: cell?.[0] ?? 0, possible: chapter.possible, completed: cell?.[1] ?? 0, pages: chapter.pages, touched: (cell?.[2] ?? 0) > 0 });
    }
    if (unlistedPages) {
      const done = new Map(student.unlisted?.map((p) => [p.page, p.completed]));
      const cells = unlistedPages.map((page): Cell => {
        const completed = done.get(page.id) ? 1 : 0;
        return { earned: completed, possible: 1, completed, pages: 1, touched: done.has(page.id) };
      });
      unlistedPages.forEach((page, i) => pages.set(page.id, cells[i]!));
      chapterCells.set(unlistedChapter, sum(cells));
    }
    return rowOf(student, chapterCells, pages);
  });
  return { chapters, rows, unloaded: new Set(chapters.filter((c) => c.id !== unlistedChapter).map((c) => c.id)) };
}

/** A chapter's pages' cells from the pages of GET /api/courses/:course/grid?chapter=ID (a student enrolled since shows none). */
export function addChapterPages(grid: Grid, report: GridReply[]): void {
  const chapter = grid.chapters.find((c) => c.id === report[0]?.chapter);
  if (!chapter) return;
  const byStudent = new Map(report.flatMap((p) => p.students).map((s) => [s.user.id, s.cells]));
  const columns = report[0]!.columns;
  for (const row of grid.rows) {
    const cells = byStudent.get(row.id);
    for (const page of chapter.pages) {
      const [earned, completed, touched] = cells?.[columns.indexOf(page.id)] ?? [0, 0, 0];
      row.pages.set(page.id, { earned, possible: page.possible, completed, pages: 1, touched: touched > 0 });
    }
  }
  grid.unloaded?.delete(chapter.id);
}

export type SortKey = 'name' | 'progress' | 'activity';

export interface View {
  sort: SortKey;
  descending: boolean;
  filter: string;
  expanded: Set<string>;
}

/** The rows shown: those whose name, username or email contains the filter, in the view's order (ties by name). */
export function visibleRows(grid: Grid, view: View): Row[] {
  const needle = view.filter.trim().toLowerCase();
  const rows = needle === '' ? [...grid.rows] : grid.rows.filter((r) => r.search.includes(needle));
  const byName = (a: Row, b: Row) => a.label.localeCompare(b.label) || a.id.localeCompare(b.id);
  const sign = view.descending ? -1 : 1;
  const compare: Record<SortKey, (a: Row, b: Row) => number> = {
    name: (a, b) => sign * byName(a, b),
    progress: (a, b) => sign * (a.progress - b.progress) || byName(a, b),
    // Students never active come last, whichever the direction.
    activity: (a, b) => (a.lastActivity === null ? (b.lastActivity === null ? 0 : 1) : b.lastActivity === null ? -1 : sign * (a.lastActivity - b.lastActivity)) || byName(a, b),
  };
  return rows.sort(compare[view.sort]);
}

/** The five steps of the scale, each with a colour (in dashboard.css), a symbol and words, so that colour is never needed. */
export const levels = [
  { name: 'none', symbol: '·', words: 'not started' },
  { name: 'low', symbol: '○', words: 'started, under a third' },
  { name: 'mid', symbol: '◑', words: 'a third to two thirds' },
  { name: 'high', symbol: '◕', words: 'two thirds or more' },
  { name: 'full', symbol: '●', words: 'everything' },
] as const;

/** A cell's step: its share of points (of pages completed when it is worth no points). */
export function levelOf(cell: Cell): (typeof levels)[number] {
  if (!cell.touched) return levels[0];
  const share = cell.possible > 0 ? cell.earned / cell.possible : cell.completed / Math.max(cell.pages, 1);
  if (share >= 1) return levels[4];
  if (share >= 2 / 3) return levels[3];
  if (share >= 1 / 3) return levels[2];
  return levels[1];
}

const number = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function cellContent(cell: Cell): Child[] {
  const level = levelOf(cell);
  return [
    h('span', { class: 'symbol', 'aria-hidden': 'true' }, level.symbol),
    h('span', { class: 'points' }, `${number(cell.earned)}/${number(cell.possible)} pts`),
    h('span', { class: 'done' }, `${cell.completed}/${cell.pages} done`),
  ];
}

let timeFormat: Intl.DateTimeFormat | undefined;
/**
 * A time as the reader's locale writes it. The formatter is made at its first use: the page's first one loads the
 * browser's locale data (50-150 ms of the main thread, measured in Chromium), which must not hold up the first requests.
 */
export const formatTime = (ms: number) => (timeFormat ??= new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })).format(ms);

export interface GridActions {
  sortBy(key: SortKey): void;
  toggle(chapter: string): void;
  /** The address of a student's own screen. */
  studentHref(row: Row): string;
}

/** The legend of the cells' scale: each step's colour swatch, symbol and words. */
export function renderLegend(): HTMLElement {
  return h(
    'div',
    { class: 'legend' },
    h('h3', {}, 'Legend'),
    h('p', {}, 'Each cell: points earned out of possible, and pages marked complete out of pages. The symbol and colour give the share of points:'),
    h('ul', {}, levels.map((l) => h('li', {}, h('span', { class: `swatch level-${l.name}`, 'aria-hidden': 'true' }, l.symbol), ` ${l.words}`))),
  );
}

/**
 * A class of more students than this draws only the rows in view and a screenful around them (`RowWindow`), the rest
 * standing in as two empty rows of their height: a table of 1,000 rows × 30 chapters took Chromium seconds to lay out
 * (bench/dashboard.ts). Scrolling the grid's region draws the rows it brings into view.
 */
export const windowedFrom = 150;

/** The rows drawn, from `start` to before `end`, of `rows` (the visible rows in order), each about `rowHeight` pixels. */
export interface RowWindow {
  start: number;
  end: number;
  rowHeight: number;
}

/** The rows of the table's body: all of `rows`, or a window of them between two spacers. */
export function renderRows(grid: Grid, view: View, actions: GridActions, rows: Row[], window?: RowWindow): HTMLTableRowElement[] {
  const drawn = window ? rows.slice(window.start, window.end) : rows;
  const offset = window?.start ?? 0;
  const body = drawn.map((row, i) => {
    const cells: Child[] = [
      h('th', { scope: 'row', class: 'student' }, h('a', { class: 'name', href: actions.studentHref(row) }, row.label), row.username && row.username !== row.label ? h('span', { class: 'username' }, row.username) : null),
      h('td', { class: 'total' }, `${Math.round(row.progress * 100)}%`, h('span', { class: 'done' }, `${row.totals.pagesCompleted}/${row.totals.pages} pages`)),
      h('td', { class: 'activity' }, row.lastActivity === null ? 'never' : h('time', { datetime: new Date(row.lastActivity).toISOString() }, formatTime(row.lastActivity))),
    ];
    for (const chapter of grid.chapters) {
      const cell = row.chapters.get(chapter.id)!;
      cells.push(h('td', { class: `cell level-${levelOf(cell).name}` }, cellContent(cell)));
      if (view.expanded.has(chapter.id)) {
        for (const page of chapter.pages) {
          const pageCell = row.pages.get(page.id)!;
          cells.push(h('td', { class: `cell page level-${levelOf(pageCell).name}` }, cellContent(pageCell)));
        }
      }
    }
    return h('tr', { 'data-student': row.id, 'aria-rowindex': window ? offset + i + 2 : null }, cells);
  });
  if (!window) return body;
  const columns = 3 + grid.chapters.reduce((n, c) => n + 1 + (view.expanded.has(c.id) ? c.pages.length : 0), 0);
  const spacer = (rowsLeft: number, which: string) => {
    const td = h('td', { colspan: columns });
    td.style.height = `${rowsLeft * window.rowHeight}px`;
    return h('tr', { class: 'spacer', 'data-spacer': which, 'aria-hidden': 'true' }, td);
  };
  return [spacer(window.start, 'above'), ...body, spacer(rows.length - Math.min(window.end, rows.length), 'below')];
}

/**
 * The grid as a table: sort buttons in the header (with aria-sort), a button per chapter to show or hide its pages.
 * `rows` are the visible rows (visibleRows); with a `window`, only those rows are drawn (windowedFrom).
 */
export function renderGrid(grid: Grid, view: View, actions: GridActions, rows: Row[] = visibleRows(grid, view), window?: RowWindow): HTMLTableElement {
  const sortHeader = (key: SortKey, text: string, extra: Record<string, string> = {}) => {
    const active = view.sort === key;
    return h(
      'th',
      { scope: 'col', 'aria-sort': active ? (view.descending ? 'descending' : 'ascending') : 'none', ...extra },
      h('button', { type: 'button', class: 'sort', 'data-focus': `sort-${key}`, onclick: () => actions.sortBy(key) }, text, h('span', { 'aria-hidden': 'true' }, active ? (view.descending ? ' ▼' : ' ▲') : ' ↕')),
    );
  };
  const head: Child[] = [sortHeader('name', 'Student', { class: 'student' }), sortHeader('progress', 'Progress'), sortHeader('activity', 'Last activity')];
  for (const chapter of grid.chapters) {
    const open = view.expanded.has(chapter.id);
    head.push(
      h(
        'th',
        { scope: 'col', class: 'chapter' },
        h(
          'button',
          { type: 'button', class: 'expand', 'aria-expanded': String(open), 'data-focus': `chapter-${chapter.id}`, onclick: () => actions.toggle(chapter.id) },
          h('span', { 'aria-hidden': 'true' }, open ? '▾ ' : '▸ '),
          chapter.title,
          h('span', { class: 'visually-hidden' }, open ? ' (hide its pages)' : ` (show its ${chapter.pages.length} pages)`),
        ),
      ),
    );
    if (open) for (const page of chapter.pages) head.push(h('th', { scope: 'col', class: 'page' }, page.title));
  }

  // data-students: how many rows the table stands for (drawn or not), which the bench waits for.
  return h(
    'table',
    { class: 'grid', 'data-students': rows.length, 'aria-rowcount': window ? rows.length + 1 : null },
    h('caption', { class: 'visually-hidden' }, 'Progress of each student by chapter'),
    h('thead', {}, h('tr', { 'aria-rowindex': window ? 1 : null }, head)),
    h('tbody', {}, renderRows(grid, view, actions, rows, window)),
  );
}
