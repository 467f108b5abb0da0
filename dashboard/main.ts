/**
 * The instructors' dashboard (served at /dashboard/ by routes/dashboard.ts): log in, the courses the user teaches (all
 * of them for an admin), and one course's overview, roster and progress grid. Screens are chosen by the address's
 * fragment (#/ the courses, #/courses/ID a course), so the browser's back button and bookmarks work.
 */
import { allPages, api, ApiError } from './api.js';
import { byId, h, replace, type Child } from './dom.js';
import { buildGrid, dateFormat, renderGrid, renderLegend, type Grid, type SortKey, type View } from './grid.js';
import type { CourseDetail, CourseRole, CourseSummary, MyCourse, ProgressPage, RosterChange, RosterPage, RosterStudent, StudentWork, Toc, User } from './types.js';

const main = byId('main');
const account = byId('account');
const status = byId('status');

let me: User | undefined;
let courses: CourseSummary[] = [];

/** Tells something in the page's live region (an error from the API in its own words). */
function say(text: string, error = false): void {
  status.textContent = text;
  status.className = error ? 'status error' : 'status';
}

function sayError(err: unknown): void {
  say(err instanceof ApiError ? err.message : `Something went wrong: ${String(err)}`, true);
}

/** Shows a screen: its title in the tab, its content in <main>, and the focus on its heading (for keyboards and screen readers). */
function show(title: string, ...content: Child[]): void {
  document.title = `${title} · Folio dashboard`;
  replace(main, ...content);
  main.querySelector('h1')?.setAttribute('tabindex', '-1');
  (main.querySelector('h1') as HTMLElement | null)?.focus();
}

const describe = (user: User) => user.name ?? user.username ?? 'you';

function renderAccount(): void {
  if (!me) return replace(account);
  replace(account, h('span', {}, `Logged in as ${describe(me)}${me.role === 'admin' ? ' (admin)' : ''}`), ' ', h('button', { type: 'button', onclick: logout }, 'Log out'));
}

async function logout(): Promise<void> {
  try {
    await api('POST', '/api/auth/logout');
  } catch (err) {
    return sayError(err);
  }
  me = undefined;
  courses = [];
  say('Logged out.');
  location.hash = '#/';
  await route();
}

function loginScreen(): void {
  const form = h(
    'form',
    { class: 'login', onsubmit: (event: Event) => void login(event) },
    h('label', { for: 'username' }, 'Username'),
    h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, maxlength: 64 }),
    h('label', { for: 'password' }, 'Password'),
    h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 1024 }),
    h('button', { type: 'submit' }, 'Log in'),
  );
  show('Log in', h('h1', {}, 'Log in to the dashboard'), h('p', {}, 'For course instructors, teaching assistants and admins: log in with your Folio account.'), form);
}

async function login(event: Event): Promise<void> {
  event.preventDefault();
  const form = event.target as HTMLFormElement;
  const username = (form.elements.namedItem('username') as HTMLInputElement).value.trim();
  const password = (form.elements.namedItem('password') as HTMLInputElement).value;
  const button = form.querySelector('button')!;
  button.disabled = true;
  say('Logging in…');
  try {
    me = (await api<{ user: User }>('POST', '/api/auth/login', { username, password })).user;
    say('');
    await route();
  } catch (err) {
    sayError(err);
  } finally {
    button.disabled = false;
  }
}

/** The courses the user teaches (as instructor or ta), or every course for an admin. */
async function loadCourses(user: User): Promise<CourseSummary[]> {
  const mine = (await api<{ courses: MyCourse[] }>('GET', '/api/courses/mine')).courses;
  const taught = mine.filter((c): c is MyCourse & { as: 'instructor' | 'ta' } => c.as !== 'student').map((c) => ({ ...c, as: c.as as CourseRole }));
  if (user.role !== 'admin') return taught;
  // An admin acts on every course as an admin, their own included (the API lets them do everything there).
  const all = (await api<{ courses: Omit<CourseSummary, 'as'>[] }>('GET', '/api/courses')).courses;
  return all.map((c) => ({ ...c, as: 'admin' as const }));
}

function notForStudents(): void {
  const back = document.referrer && new URL(document.referrer).origin !== location.origin ? document.referrer : undefined;
  show(
    'Not for students',
    h('h1', {}, 'The dashboard is for instructors and TAs — not for students'),
    h('p', {}, `You are logged in as ${me ? describe(me) : 'a student'}, who teaches no course here. Your work is in your book: open it to carry on.`),
    h('p', {}, back ? h('a', { href: back }, 'Back to your book') : h('a', { href: '/' }, 'Back to Folio')),
    h('p', {}, 'Course staff with another account can log out and log in again.'),
  );
}

const roleWords: Record<CourseRole, string> = { instructor: 'Instructor', ta: 'Teaching assistant', admin: 'Admin' };

function coursesScreen(): void {
  const admin = me?.role === 'admin';
  const title = admin ? 'All courses' : 'Your courses';
  if (courses.length === 0) return show(title, h('h1', {}, title), h('p', {}, 'No course yet: make one with "folio courses add ID --book B --title T".'));
  const table = h(
    'table',
    { class: 'courses' },
    h('caption', { class: 'visually-hidden' }, title),
    h('thead', {}, h('tr', {}, ['Course', 'Term', 'Book', 'Joining', 'You are'].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      courses.map((c) =>
        h('tr', {}, h('th', { scope: 'row' }, h('a', { href: `#/courses/${encodeURIComponent(c.id)}` }, c.title)), h('td', {}, c.term ?? '—'), h('td', {}, c.book), h('td', {}, c.open ? 'open' : 'closed'), h('td', {}, roleWords[c.as])),
      ),
    ),
  );
  show(title, h('h1', {}, title), h('div', { class: 'scroll' }, table));
}

/** What one course's screen shows and keeps between its redraws. */
interface CourseState {
  role: CourseRole;
  detail: CourseDetail;
  roster: RosterStudent[];
  grid: Grid;
  view: View;
}

async function loadCourse(id: string, role: CourseRole, view?: View): Promise<CourseState> {
  const path = `/api/courses/${encodeURIComponent(id)}`;
  const detail = await api<CourseDetail>('GET', path);
  const label = (s: RosterStudent) => s.name ?? s.username ?? s.id;
  // The API lists the roster by user id; people read it by name.
  const roster = (await allPages<RosterPage>(`${path}/roster`, 500)).flatMap((p) => p.students).sort((a, b) => label(a).localeCompare(label(b)));
  const report = await allPages<ProgressPage>(`${path}/progress`, 200);
  // Chapter titles; a book without a table of contents (404) shows its chapters by id.
  const toc = await api<Toc>('GET', `/api/books/${encodeURIComponent(detail.book)}/toc`).catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  });
  return { role, detail, roster, grid: buildGrid(report, toc), view: view ?? { sort: 'name', descending: false, filter: '', expanded: new Set() } };
}

async function courseScreen(id: string, keep?: { view: View; focus?: string }): Promise<void> {
  const course = courses.find((c) => c.id === id);
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
  const content = [
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/' }, me?.role === 'admin' ? 'All courses' : 'Your courses')),
    h('h1', {}, detail.title),
    overviewSection(state),
    progressSection(state),
    rosterSection(state),
  ];
  if (keep) {
    document.title = `${detail.title} · Folio dashboard`;
    replace(main, ...content);
    if (keep.focus) document.getElementById(keep.focus)?.focus();
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
  );
}

function progressSection(state: CourseState): HTMLElement {
  const { grid, view } = state;
  const holder = h('div', { class: 'grid-scroll', role: 'region', 'aria-labelledby': 'progress-heading', tabindex: 0 });
  const count = h('p', { id: 'grid-count', class: 'count' });
  const draw = (focus?: string) => {
    const table = renderGrid(grid, view, {
      sortBy(key: SortKey) {
        view.descending = view.sort === key ? !view.descending : key !== 'name';
        view.sort = key;
        draw(`sort-${key}`);
      },
      toggle(chapter: string) {
        if (!view.expanded.delete(chapter)) view.expanded.add(chapter);
        draw(`chapter-${chapter}`);
      },
      studentHref: (row) => `#/courses/${encodeURIComponent(state.detail.id)}/students/${encodeURIComponent(row.id)}`,
    });
    replace(holder, table);
    const shown = table.tBodies[0]?.rows.length ?? 0;
    count.textContent = shown === grid.rows.length ? `${shown} student${shown === 1 ? '' : 's'}` : `${shown} of ${grid.rows.length} students match`;
    if (focus) (holder.querySelector(`[data-focus="${CSS.escape(focus)}"]`) as HTMLElement | null)?.focus();
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

function rosterSection(state: CourseState): HTMLElement {
  const { detail, roster } = state;
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

const when = (iso: string) => h('time', { datetime: iso }, dateFormat.format(Date.parse(iso)));
const notListed = (item: { unlisted?: true }) => (item.unlisted ? h('span', { class: 'muted' }, ' (not in the table of contents)') : null);

/** One student's work, as the course's staff see it: where they are, pages completed, latest answers and programs. */
async function studentScreen(courseId: string, userId: string): Promise<void> {
  const course = courses.find((c) => c.id === courseId);
  const back = h('a', { href: `#/courses/${encodeURIComponent(courseId)}` }, course?.title ?? courseId);
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
    h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, h('a', { href: '#/' }, me?.role === 'admin' ? 'All courses' : 'Your courses'), ' › ', back),
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

/** Shows the screen the address names, for the user logged in (or the login form). */
async function route(): Promise<void> {
  try {
    if (!me) {
      me = await api<{ user: User }>('GET', '/api/auth/me').then(
        (r) => (r.user.anonymous ? undefined : r.user),
        (err: unknown) => {
          if (err instanceof ApiError && err.status === 401) return undefined;
          throw err;
        },
      );
      if (me) courses = await loadCourses(me);
    } else if (courses.length === 0) {
      courses = await loadCourses(me);
    }
  } catch (err) {
    sayError(err);
    return;
  }
  renderAccount();
  if (!me) return loginScreen();
  if (courses.length === 0 && me.role !== 'admin') return notForStudents();
  const student = /^#\/courses\/([^/]+)\/students\/([^/]+)$/.exec(location.hash);
  if (student) return studentScreen(decodeURIComponent(student[1]!), decodeURIComponent(student[2]!));
  const match = /^#\/courses\/([^/]+)$/.exec(location.hash);
  if (match) return courseScreen(decodeURIComponent(match[1]!));
  coursesScreen();
}

window.addEventListener('hashchange', () => void route());
void route();
