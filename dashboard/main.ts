/**
 * The instructors' dashboard (served at /dashboard/ by routes/dashboard.ts): log in, the courses the user teaches (all
 * of them for an admin), and one course's overview, roster and progress grid. Screens are chosen by the address's
 * fragment (#/ the courses, #/courses/ID a course, #/courses/ID/students/USER a student: `screens` below), so the browser's back button and bookmarks work.
 * Logging in: a password, an identity provider (the whole page goes there and comes back logged in, at the screen it
 * asked for), or a dashboard code from an LTI launch (#folio-handoff=CODE, exchanged for the session, then that course).
 */
import { api, ApiError } from './api.js';
import { courseScreen, prefetchCourse } from './course.js';
import { byId, h, replace } from './dom.js';
import { questionScreen, questionsScreen } from './questions.js';
import { exportsScreen } from './exports.js';
import { formatTime } from './grid.js';
import { describe, say, sayError, session, show } from './shell.js';
import { studentScreen } from './student.js';
import type { CourseRole, CourseSummary, MyCourse, Provider, User } from './types.js';

const account = byId('account');

function renderAccount(): void {
  if (!session.me) return replace(account);
  replace(account, h('span', {}, `Logged in as ${describe(session.me)}${session.me.role === 'admin' ? ' (admin)' : ''}`), ' ', h('button', { type: 'button', onclick: logout }, 'Log out'));
}

async function logout(): Promise<void> {
  try {
    await api('POST', '/api/auth/logout');
  } catch (err) {
    return sayError(err);
  }
  session.me = undefined;
  session.courses = [];
  say('Logged out.');
  location.hash = '#/';
  await route();
}

/** The identity providers' buttons: each sends the whole page through its provider and back here, at this screen. */
async function providerButtons(): Promise<HTMLElement | null> {
  const providers = await api<Provider[]>('GET', '/api/auth/providers').catch(() => [] as Provider[]);
  if (providers.length === 0) return null;
  const start = (id: string) => () => {
    say('Going to the sign-in page…');
    location.assign(`/api/auth/oidc/${encodeURIComponent(id)}/start?return=${encodeURIComponent(location.href)}`);
  };
  return h(
    'div',
    { class: 'providers' },
    h('p', {}, 'Or sign in with:'),
    providers.map((p) => h('button', { type: 'button', onclick: start(p.id) }, p.title)),
  );
}

async function loginScreen(): Promise<void> {
  const form = h(
    'form',
    { class: 'login', onsubmit: (event: Event) => void login(event) },
    h('label', { for: 'username' }, 'Username'),
    h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, maxlength: 64 }),
    h('label', { for: 'password' }, 'Password'),
    h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 1024 }),
    h('button', { type: 'submit' }, 'Log in'),
  );
  show(
    'Log in',
    h('h1', {}, 'Log in to the dashboard'),
    h('p', {}, 'For course instructors, teaching assistants and admins: log in with your Folio account. From your LMS, the course\'s dashboard link logs you in here.'),
    form,
    await providerButtons(),
  );
}

/** A dashboard code from an LTI launch in the address: exchanged for the session (once), then the course's screen. */
async function redeemHandoff(): Promise<void> {
  const code = /^#folio-handoff=([A-Za-z0-9_-]+)$/.exec(location.hash)?.[1];
  if (!code) return;
  // Out of the address bar and the history at once: the code is single use.
  history.replaceState(null, '', '#/');
  say('Logging in…');
  try {
    const reply = await api<{ user: User; course: string }>('POST', '/api/auth/handoff/dashboard', { code });
    session.me = reply.user;
    history.replaceState(null, '', `#/courses/${encodeURIComponent(reply.course)}`);
    say('');
  } catch (err) {
    sayError(err);
  }
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
    session.me = (await api<{ user: User }>('POST', '/api/auth/login', { username, password })).user;
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
    h('p', {}, `You are logged in as ${session.me ? describe(session.me) : 'a student'}, who teaches no course here. Your work is in your book: open it to carry on.`),
    h('p', {}, back ? h('a', { href: back }, 'Back to your book') : h('a', { href: '/' }, 'Back to Folio')),
    h('p', {}, 'Course staff with another account can log out and log in again.'),
  );
}

const roleWords: Record<CourseRole, string> = { instructor: 'Instructor', ta: 'Teaching assistant', admin: 'Admin' };

function coursesScreen(): void {
  const admin = session.me?.role === 'admin';
  const title = admin ? 'All courses' : 'Your courses';
  if (session.courses.length === 0) return show(title, h('h1', {}, title), h('p', {}, 'No course yet: make one with "folio courses add ID --book B --title T".'));
  const table = h(
    'table',
    { class: 'courses' },
    h('caption', { class: 'visually-hidden' }, title),
    h('thead', {}, h('tr', {}, ['Course', 'Term', 'Book', 'Joining', 'You are'].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      session.courses.map((c) =>
        h('tr', {}, h('th', { scope: 'row' }, h('a', { href: `#/courses/${encodeURIComponent(c.id)}` }, c.title)), h('td', {}, c.term ?? '—'), h('td', {}, c.book), h('td', {}, c.open ? 'open' : 'closed'), h('td', {}, roleWords[c.as])),
      ),
    ),
  );
  show(title, h('h1', {}, title), h('div', { class: 'scroll' }, table));
}

/** The screens by address (the fragment); the ids in it are the patterns' groups. Anything else shows the courses. */
const screens: [RegExp, (...ids: string[]) => Promise<void>][] = [
  [/^#\/courses\/([^/]+)\/students\/([^/]+)\/programs\/([^/]+)\/(\d+)\.\.(\d+)$/, studentScreen],
  [/^#\/courses\/([^/]+)\/students\/([^/]+)\/programs\/([^/]+)$/, studentScreen],
  [/^#\/courses\/([^/]+)\/students\/([^/]+)$/, studentScreen],
  [/^#\/courses\/([^/]+)\/questions$/, (id) => questionsScreen(id)],
  [/^#\/courses\/([^/]+)\/questions\/([^/]+)$/, questionScreen],
  [/^#\/courses\/([^/]+)\/exports$/, exportsScreen],
  [/^#\/courses\/([^/]+)$/, (id) => courseScreen(id)],
];

/** Shows the screen the address names, for the user logged in (or the login form). */
async function route(): Promise<void> {
  try {
    if (!session.me) {
      session.me = await api<{ user: User }>('GET', '/api/auth/me').then(
        (r) => (r.user.anonymous ? undefined : r.user),
        (err: unknown) => {
          if (err instanceof ApiError && err.status === 401) return undefined;
          throw err;
        },
      );
      // A course's address opened directly: its grid is asked for with the courses taught, not after them (course.ts).
      const opened = /^#\/courses\/([^/]+)$/.exec(location.hash);
      if (session.me && opened) prefetchCourse(decodeURIComponent(opened[1]!));
      // While the server answers, the browser's locale data is loaded, which the grid's first drawing needs (its times,
      // grid.ts formatTime, and its order by name, localeCompare): 50-150 ms of the page's thread, measured.
      if (session.me) setTimeout(() => formatTime(0) + 'a'.localeCompare('b'), 0);
      if (session.me) session.courses = await loadCourses(session.me);
    } else if (session.courses.length === 0) {
      session.courses = await loadCourses(session.me);
    }
  } catch (err) {
    sayError(err);
    return;
  }
  renderAccount();
  if (!session.me) return await loginScreen();
  if (session.courses.length === 0 && session.me.role !== 'admin') return notForStudents();
  for (const [pattern, screen] of screens) {
    const match = pattern.exec(location.hash);
    if (match) return screen(...match.slice(1).map((part) => decodeURIComponent(part)));
  }
  coursesScreen();
}

window.addEventListener('hashchange', () => void route());
void redeemHandoff().then(route);
