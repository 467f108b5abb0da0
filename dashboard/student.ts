/**
 * One student's work as the course's staff see it (#/courses/ID/students/USER): where they are and their last activity,
 * progress by chapter (their row of the grid), each question's latest answer with all its attempts on demand, and each
 * program with its history, two versions of which are compared line by line. #/…/programs/ACTIVITY opens a program's
 * history, #/…/programs/ACTIVITY/FROM..TO a comparison of two of its versions.
 */
import { diffLines } from 'diff';
import { api, ApiError } from './api.js';
import { h, replace, type Child } from './dom.js';
import { buildGrid, formatTime, levelOf, type Cell } from './grid.js';
import { courseHref, crumbs, notListed, say, sayError, session, show, when } from './shell.js';
import type { Attempt, AttemptsPage, ProgramVersion, StudentProgressReply, StudentWork, Toc, VersionsPage } from './types.js';

const enc = encodeURIComponent;
const studentHref = (courseId: string, userId: string, rest = '') => courseHref(courseId, `/students/${enc(userId)}${rest}`);
/** The address of a program's history, with two versions compared when given. */
export const programHref = (courseId: string, userId: string, activity: string, pair?: [number, number]) =>
  studentHref(courseId, userId, `/programs/${enc(activity)}${pair ? `/${pair[0]}..${pair[1]}` : ''}`);

const number = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const bytes = (n: number) => (n < 1024 ? plural(n, 'byte') : `${number(n / 1024)} KiB`);
const correctness = (c: boolean | null) => (c === null ? 'not marked' : c ? 'correct' : 'not correct');
const result = (a: { correct: boolean | null; score: number | null }) => [correctness(a.correct), a.score === null ? '' : ` (score ${a.score})`].join('');

/**
 * The student's screen; `activity` opens that program's history (scrolled into view), `from`/`to` the comparison of
 * those two versions.
 */
export async function studentScreen(courseId: string, userId: string, activity?: string, from?: string, to?: string): Promise<void> {
  const course = session.courses.find((c) => c.id === courseId);
  const back = h('a', { href: courseHref(courseId) }, course?.title ?? courseId);
  const base = `/api/courses/${enc(courseId)}/students/${enc(userId)}`;
  let work: StudentWork;
  let progress: StudentProgressReply;
  try {
    [work, progress] = await Promise.all([api<StudentWork>('GET', `${base}/work`), api<StudentProgressReply>('GET', `${base}/progress`)]);
  } catch (err) {
    show('No such student', h('h1', {}, 'No such student'), h('p', {}, err instanceof ApiError ? err.message : String(err)), h('p', {}, back));
    return;
  }
  // The chapters' titles; without them the chapters are named by their ids.
  const toc = await api<Toc>('GET', `/api/books/${enc(progress.book)}/toc`).catch(() => undefined);
  const { user } = work;
  const name = user.name ?? user.username ?? user.id;
  const pageTitle = new Map(progress.toc.pages.map((p) => [p.id, p.title]));
  const { student } = progress;
  const context: Context = { courseId, userId, base };

  show(
    `${name} · ${course?.title ?? courseId}`,
    crumbs(back),
    h('h1', {}, name),
    h('p', { class: 'muted' }, [user.username, user.email].filter(Boolean).join(' · ')),
    h(
      'section',
      { 'aria-labelledby': 'position-heading' },
      h('h2', { id: 'position-heading' }, 'Where they are'),
      h(
        'dl',
        { class: 'facts', id: 'student-facts' },
        h('dt', {}, 'Position'),
        h('dd', {}, work.position ? [pageTitle.get(work.position.page) ?? '', ' ', h('code', {}, work.position.page), ' (', when(work.position.updatedAt), ')'] : 'No position saved yet.'),
        h('dt', {}, 'Last activity'),
        h('dd', {}, student.lastActivity ? when(student.lastActivity) : 'None yet.'),
        h('dt', {}, 'Progress'),
        h('dd', {}, `${number(student.totals.earned)} of ${number(student.totals.possible)} points · ${student.totals.pagesCompleted} of ${plural(student.totals.pages, 'page')} completed`),
      ),
      chapterProgress(progress, toc),
      h('h3', {}, 'Pages completed'),
      work.completed.length === 0 ? h('p', {}, 'None yet.') : h('ul', { id: 'completed-pages' }, work.completed.map((c) => h('li', {}, h('code', {}, c.page), ' — ', when(c.completedAt), notListed(c)))),
    ),
    answersSection(work, context),
    h(
      'section',
      { 'aria-labelledby': 'programs-heading' },
      h('h2', { id: 'programs-heading' }, `Programs (${work.programs.length})`),
      work.programs.length === 0 ? h('p', {}, 'No program saved yet.') : work.programs.map((p, i) => programArticle(p, i, context, p.activity === activity ? [from, to] : undefined)),
    ),
  );
  if (activity !== undefined) {
    const at = work.programs.findIndex((p) => p.activity === activity);
    if (at < 0) say(`${name} saved no program "${activity}" within the course's dates.`, true);
    else document.getElementById(`program-${at}-title`)?.focus();
  }
}

interface Context {
  courseId: string;
  userId: string;
  /** The API's address of the student in the course. */
  base: string;
}

/** The student's points and pages completed by chapter (their row of the grid), and by page in a disclosure. */
function chapterProgress(progress: StudentProgressReply, toc: Toc | undefined): HTMLElement[] {
  const grid = buildGrid([{ toc: progress.toc, students: [progress.student], next: null }], toc);
  const row = grid.rows[0]!;
  if (grid.chapters.length === 0) return [h('p', {}, 'The book has no table of contents, and the student has no work on any page yet.')];
  const cells = (cell: Cell): Child[] => [
    h('td', { class: `cell level-${levelOf(cell).name}` }, h('span', { class: 'symbol', 'aria-hidden': 'true' }, levelOf(cell).symbol), `${number(cell.earned)} of ${number(cell.possible)}`),
    h('td', {}, `${cell.completed} of ${cell.pages}`),
    h('td', {}, cell.possible > 0 ? `${Math.round((cell.earned / cell.possible) * 100)}%` : '—'),
  ];
  const head = (first: string) => h('thead', {}, h('tr', {}, [first, 'Points', 'Pages completed', 'Share of points'].map((c) => h('th', { scope: 'col' }, c))));
  return [
    h('h3', { id: 'chapters-heading' }, 'Progress by chapter'),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'chapters', 'aria-labelledby': 'chapters-heading' },
        head('Chapter'),
        h('tbody', {}, grid.chapters.map((chapter) => h('tr', {}, h('th', { scope: 'row' }, chapter.title), cells(row.chapters.get(chapter.id)!)))),
      ),
    ),
    h(
      'details',
      { class: 'by-page' },
      h('summary', {}, 'By page'),
      h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          { class: 'chapters pages' },
          h('caption', { class: 'visually-hidden' }, 'Progress by page'),
          head('Page'),
          grid.chapters.map((chapter) =>
            h(
              'tbody',
              {},
              h('tr', {}, h('th', { scope: 'rowgroup', colspan: 4, class: 'group' }, chapter.title)),
              chapter.pages.map((page) => h('tr', {}, h('th', { scope: 'row' }, page.title), cells(row.pages.get(page.id)!))),
            ),
          ),
        ),
      ),
    ),
  ];
}

/** The latest attempt at each question; a question with more opens all its attempts in order below its row. */
function answersSection(work: StudentWork, context: Context): HTMLElement {
  const rows = work.answers.map(({ latest, attempts, unlisted }, i) => {
    // The row of attempts goes below the question's the first time it is opened.
    const panel = h('tr', { id: `attempts-${i}`, class: 'attempts-row' }, h('td', { colspan: 5 }));
    const toggle =
      attempts > 1
        ? h(
            'button',
            {
              type: 'button',
              class: 'link',
              'aria-expanded': 'false',
              'aria-controls': panel.id,
              onclick: (event: Event) => {
                const button = event.currentTarget as HTMLButtonElement;
                if (!panel.isConnected) button.closest('tr')!.after(panel);
                void toggleAttempts(button, panel, latest.question, context);
              },
            },
            'Show all',
            h('span', { class: 'visually-hidden' }, ` ${attempts} attempts at ${latest.question}`),
          )
        : null;
    return h(
      'tr',
      {},
      h('th', { scope: 'row' }, h('code', {}, latest.question), notListed({ unlisted })),
      h('td', {}, String(attempts), toggle ? ' ' : null, toggle),
      h('td', {}, result(latest)),
      h('td', {}, h('code', {}, JSON.stringify(latest.answer))),
      h('td', {}, when(latest.savedAt)),
    );
  });
  return h(
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
            h('tbody', {}, rows),
          ),
        ),
  );
}

/** Opens (loading it the first time) or closes the list of a question's attempts. */
async function toggleAttempts(button: HTMLButtonElement, panel: HTMLElement, question: string, context: Context): Promise<void> {
  const open = button.getAttribute('aria-expanded') !== 'true';
  button.setAttribute('aria-expanded', String(open));
  button.firstChild!.textContent = open ? 'Hide' : 'Show all';
  panel.hidden = !open;
  if (!open || panel.dataset.loaded) return;
  panel.dataset.loaded = '1';
  const cell = panel.firstElementChild!;
  const body = h('tbody', {});
  const list = h(
    'table',
    { class: 'attempts' },
    h('caption', {}, `Attempts at ${question}, in order`),
    h('thead', {}, h('tr', {}, ['Attempt', 'Result', 'Answer', 'Saved'].map((c) => h('th', { scope: 'col' }, c)))),
    body,
  );
  replace(cell, list);
  const more = h('button', { type: 'button' }, 'Show more attempts');
  const load = async (after: string | null) => {
    more.disabled = true;
    try {
      const page = await api<AttemptsPage>('GET', `${context.base}/answers/${enc(question)}/attempts?limit=50${after === null ? '' : `&after=${enc(after)}`}`);
      body.append(...page.attempts.map(attemptRow));
      more.remove();
      if (page.next !== null) {
        more.onclick = () => void load(page.next);
        more.disabled = false;
        cell.append(more);
      }
    } catch (err) {
      sayError(err);
      more.disabled = false;
    }
  };
  await load(null);
}

const attemptRow = (a: Attempt) => h('tr', {}, h('th', { scope: 'row' }, String(a.attempt)), h('td', {}, result(a)), h('td', {}, h('code', {}, JSON.stringify(a.answer))), h('td', {}, when(a.savedAt)));

/** A program: its latest version, and a disclosure with its history, where two versions are compared. */
function programArticle(p: StudentWork['programs'][number], i: number, context: Context, pair: [string | undefined, string | undefined] | undefined): HTMLElement {
  const panelId = `history-${i}`;
  const panel = h('div', { id: panelId, class: 'history', hidden: true });
  const button = h(
    'button',
    { type: 'button', 'aria-expanded': 'false', 'aria-controls': panelId },
    'Versions and differences',
    h('span', { class: 'visually-hidden' }, ` of ${p.activity}`),
  );
  const history = new ProgramHistory(p.activity, context, panel);
  button.onclick = () => {
    const open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', String(open));
    panel.hidden = !open;
    history.address(open);
    if (open) void history.load();
  };
  if (pair) {
    button.setAttribute('aria-expanded', 'true');
    panel.hidden = false;
    const [from, to] = pair.map((v) => (v === undefined ? undefined : Number(v)));
    void history.load(from !== undefined && to !== undefined ? [from, to] : undefined);
  }
  return h(
    'article',
    { class: 'program' },
    h('h3', { id: `program-${i}-title`, tabindex: -1 }, h('code', {}, p.activity), ` — version ${p.version}, `, when(p.savedAt), notListed(p)),
    h('pre', { tabindex: 0, 'aria-label': `Program ${p.activity}, version ${p.version}` }, h('code', {}, p.code)),
    h('p', {}, button),
    panel,
  );
}

/** One program's history: its versions (a page at a time), two picked, the line diff between them. */
class ProgramHistory {
  private versions: VersionsPage['versions'] = [];
  private next: string | null = null;
  private loaded = false;
  private readonly code = new Map<number, Promise<ProgramVersion>>();
  private readonly fromSelect: HTMLSelectElement;
  private readonly toSelect: HTMLSelectElement;
  private readonly diff = h('div', { class: 'diff-view', 'aria-live': 'polite' });
  private readonly older = h('button', { type: 'button' }, 'Load older versions');

  constructor(
    private readonly activity: string,
    private readonly context: Context,
    private readonly panel: HTMLElement,
  ) {
    const id = panel.id;
    this.fromSelect = h('select', { id: `${id}-from`, onchange: () => void this.compare() });
    this.toSelect = h('select', { id: `${id}-to`, onchange: () => void this.compare() });
    this.older.onclick = () => void this.loadMore();
  }

  /** Sets the address to this history (open) or back to the student, without redrawing the screen. */
  address(open: boolean, pair?: [number, number]): void {
    const { courseId, userId } = this.context;
    history.replaceState(null, '', open ? programHref(courseId, userId, this.activity, pair) : studentHref(courseId, userId));
  }

  /** Loads the newest versions the first time, and compares `pair` (else the previous version and the latest). */
  async load(pair?: [number, number]): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    replace(this.panel, h('p', {}, 'Loading the versions…'));
    try {
      await this.page();
    } catch (err) {
      this.loaded = false;
      replace(this.panel, h('p', { class: 'error' }, err instanceof ApiError ? err.message : String(err)));
      return;
    }
    if (this.versions.length < 2) {
      replace(this.panel, h('p', {}, this.versions.length === 1 ? 'Only one version: nothing to compare yet.' : 'No version within the course\'s dates.'));
      return;
    }
    const known = (n: number) => this.versions.some((v) => v.version === n);
    const [from, to] = pair && known(pair[0]) && known(pair[1]) ? pair : [this.versions[1]!.version, this.versions[0]!.version];
    this.fromSelect.value = String(from);
    this.toSelect.value = String(to);
    replace(
      this.panel,
      h(
        'div',
        { class: 'pick' },
        h('label', { for: this.fromSelect.id }, 'Compare version'),
        this.fromSelect,
        h('label', { for: this.toSelect.id }, 'with version'),
        this.toSelect,
        this.next === null ? null : this.older,
      ),
      this.diff,
    );
    await this.compare();
  }

  /** The next page of versions, as options of both selects. */
  private async page(): Promise<void> {
    const { base } = this.context;
    const after = this.next === null ? '' : `&after=${enc(this.next)}`;
    const page = await api<VersionsPage>('GET', `${base}/programs/${enc(this.activity)}/versions?limit=50${after}`);
    this.versions.push(...page.versions);
    this.next = page.next;
    for (const select of [this.fromSelect, this.toSelect]) {
      select.append(...page.versions.map((v) => h('option', { value: v.version }, `${v.version} · ${formatTime(Date.parse(v.savedAt))} · ${bytes(v.size)}`)));
    }
  }

  private async loadMore(): Promise<void> {
    this.older.disabled = true;
    try {
      await this.page();
      say(`${this.versions.length} versions listed.`);
      if (this.next === null) this.older.remove();
    } catch (err) {
      sayError(err);
    } finally {
      this.older.disabled = false;
    }
  }

  private version(n: number): Promise<ProgramVersion> {
    let found = this.code.get(n);
    if (!found) {
      found = api<ProgramVersion>('GET', `${this.context.base}/programs/${enc(this.activity)}/versions/${n}`);
      found.catch(() => this.code.delete(n));
      this.code.set(n, found);
    }
    return found;
  }

  /** Shows the differences between the two versions picked, and puts them in the address. */
  private async compare(): Promise<void> {
    const from = Number(this.fromSelect.value);
    const to = Number(this.toSelect.value);
    this.address(true, [from, to]);
    try {
      const [a, b] = await Promise.all([this.version(from), this.version(to)]);
      if (Number(this.fromSelect.value) !== from || Number(this.toSelect.value) !== to) return; // picked again meanwhile
      replace(this.diff, diffTable(a, b));
    } catch (err) {
      replace(this.diff, h('p', { class: 'error' }, err instanceof ApiError ? err.message : String(err)));
    }
  }
}

/** Unchanged lines kept around each change; longer unchanged runs are folded into one line that says how many. */
const contextLines = 3;

/** The line diff of two versions as a table: each line marked added (+) or removed (−) by a symbol, words for screen readers, and colour. */
function diffTable(a: ProgramVersion, b: ProgramVersion): HTMLElement {
  if (a.code === b.code) return h('p', { class: 'diff-summary' }, `Versions ${a.version} and ${b.version} are the same.`);
  const rows: HTMLElement[] = [];
  let [oldLine, newLine, added, removed] = [1, 1, 0, 0];
  const line = (kind: 'add' | 'del' | 'same', text: string) => {
    const [sign, words] = kind === 'add' ? ['+', 'added'] : kind === 'del' ? ['−', 'removed'] : ['', 'unchanged'];
    return h(
      'tr',
      { class: `diff-${kind}` },
      h('td', { class: 'sign' }, h('span', { 'aria-hidden': 'true' }, sign), h('span', { class: 'visually-hidden' }, words)),
      h('td', { class: 'num' }, kind === 'add' ? '' : String(oldLine)),
      h('td', { class: 'num' }, kind === 'del' ? '' : String(newLine)),
      h('td', { class: 'text' }, text),
    );
  };
  const parts = diffLines(a.code, b.code);
  parts.forEach((part, i) => {
    const lines = part.value.split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (part.added || part.removed) {
      for (const text of lines) {
        rows.push(line(part.added ? 'add' : 'del', text));
        if (part.added) [newLine, added] = [newLine + 1, added + 1];
        else [oldLine, removed] = [oldLine + 1, removed + 1];
      }
      return;
    }
    // Unchanged: the lines next to a change, the rest folded.
    const keepHead = i === 0 ? 0 : contextLines;
    const keepTail = i === parts.length - 1 ? 0 : contextLines;
    const folded = lines.length - keepHead - keepTail;
    lines.forEach((text, at) => {
      if (folded > 1 && at >= keepHead && at < keepHead + folded) {
        if (at === keepHead) rows.push(h('tr', { class: 'diff-fold' }, h('td', { colspan: 4 }, `… ${plural(folded, 'unchanged line')} …`)));
      } else {
        rows.push(line('same', text));
      }
      [oldLine, newLine] = [oldLine + 1, newLine + 1];
    });
  });
  const summary = `From version ${a.version} to version ${b.version}: ${plural(added, 'line')} added, ${plural(removed, 'line')} removed`;
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { class: 'diff' },
      h('caption', { class: 'diff-summary' }, summary),
      h(
        'thead',
        {},
        h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Change')), h('th', { scope: 'col', class: 'num' }, `v${a.version}`), h('th', { scope: 'col', class: 'num' }, `v${b.version}`), h('th', { scope: 'col', class: 'text' }, 'Line')),
      ),
      h('tbody', {}, rows),
    ),
  );
}
