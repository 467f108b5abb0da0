/**
 * What every screen of the dashboard shares: who is logged in and the courses they teach, the live region that tells
 * what happened, how a screen is shown, and the links between a course's screens.
 */
import { ApiError } from './api.js';
import { byId, h, replace, type Child } from './dom.js';
import { formatTime } from './grid.js';
import type { CourseSummary, User } from './types.js';

/** The logged-in user (undefined before login) and the courses they teach (every course for an admin). */
export const session: { me: User | undefined; courses: CourseSummary[] } = { me: undefined, courses: [] };

const main = byId('main');
const status = byId('status');

/** Tells something in the page's live region (an error from the API in its own words). */
export function say(text: string, error = false): void {
  status.textContent = text;
  status.className = error ? 'status error' : 'status';
}

export function sayError(err: unknown): void {
  say(err instanceof ApiError ? err.message : `Something went wrong: ${String(err)}`, true);
}

/** Shows a screen: its title in the tab, its content in <main>, and the focus on its heading (for keyboards and screen readers). */
export function show(title: string, ...content: (Child | Child[])[]): void {
  document.title = `${title} · Folio dashboard`;
  replace(main, ...content);
  main.querySelector('h1')?.setAttribute('tabindex', '-1');
  (main.querySelector('h1') as HTMLElement | null)?.focus();
}

/** Redraws the current screen in place (after a change on it), the focus on the element with id `focus`. */
export function redraw(title: string, focus: string | undefined, ...content: (Child | Child[])[]): void {
  document.title = `${title} · Folio dashboard`;
  replace(main, ...content);
  if (focus) document.getElementById(focus)?.focus();
}

export const describe = (user: User) => user.name ?? user.username ?? 'you';

/** A time as the reader's locale writes it, machine-readable in `datetime`. */
export const when = (iso: string) => h('time', { datetime: iso }, formatTime(Date.parse(iso)));

/** " (not in the table of contents)" after an id the book's table of contents does not list. */
export const notListed = (item: { unlisted?: true | boolean }) => (item.unlisted ? h('span', { class: 'muted' }, ' (not in the table of contents)') : null);

export const courseHref = (courseId: string, screen = '') => `#/courses/${encodeURIComponent(courseId)}${screen}`;

/** The breadcrumb above a screen: the courses, then each link given. */
export function crumbs(...links: HTMLAnchorElement[]): HTMLElement {
  const home = h('a', { href: '#/' }, session.me?.role === 'admin' ? 'All courses' : 'Your courses');
  return h('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, [home, ...links].flatMap((link, i) => (i === 0 ? [link] : [' › ', link])));
}

/** A course's screens, in the order its navigation lists them: `screen` is the address after #/courses/ID. */
export const courseScreens: { screen: string; label: string }[] = [
  { screen: '', label: 'Overview and progress' },
  { screen: '/questions', label: 'Questions' },
  { screen: '/exports', label: 'Exports' },
];

/** The navigation between a course's screens, the current one marked for assistive technology. */
export function courseNav(courseId: string, current: string): HTMLElement | null {
  if (courseScreens.length < 2) return null;
  return h(
    'nav',
    { 'aria-label': 'Course', class: 'course-nav' },
    h(
      'ul',
      {},
      courseScreens.map(({ screen, label }) => h('li', {}, h('a', { href: courseHref(courseId, screen), 'aria-current': screen === current ? 'page' : null }, label))),
    ),
  );
}
