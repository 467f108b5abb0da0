/**
 * `<folio-login>`: who is logged in, a password login and registration, "Sign in with …" for each identity provider
 * Folio lists, log out; the session ending (log in again: nothing is lost) and a refused hand-off said in words; the
 * course a `?course=CODE` address offers, and the student's courses in this book. The hand-off of a login completed
 * on Folio's own pages (`#folio-handoff=CODE`) is the client's: this box shows its result.
 */
import type { FolioError, MyCourse } from '../folio.js';
import { bookFor, h, uid, type Book, type Loaded, type Member, type User } from './core.js';

const joinRefusals: Record<string, string> = {
  unauthenticated: 'Log in or register first (or save something), then join.',
  session_expired: 'Your session has ended: log in again, then join.',
  unknown_code: 'No course has this code: ask your instructor for a new link.',
};
const courseName = (c: { title: string; term?: string | null }) => (c.term ? `${c.title} (${c.term})` : c.title);

export class FolioLoginElement extends HTMLElement implements Member {
  #book!: Book;
  #built = false;
  #who!: HTMLElement;
  #banner!: HTMLElement;
  #form!: HTMLFormElement;
  #username!: HTMLInputElement;
  #password!: HTMLInputElement;
  #providers!: HTMLElement;
  #logout!: HTMLButtonElement;
  #error!: HTMLElement;
  #offer!: HTMLElement;
  #offerText!: HTMLElement;
  #courses!: HTMLElement;
  #user: User | null = null;

  connectedCallback(): void {
    if (this.#built) {
      this.#book.join(this);
      return;
    }
    this.#built = true;
    this.#book = bookFor(this);
    this.#build();
    this.#book.join(this);
  }

  disconnectedCallback(): void {
    this.#book?.leave(this);
  }

  #field(label: string, input: HTMLInputElement): HTMLElement {
    input.id = uid('field');
    return h('span', { class: 'folio-field' }, h('label', { for: input.id }, label), ' ', input);
  }

  #build(): void {
    const folio = this.#book.folio;
    this.#who = h('p', { class: 'folio-who' }, 'Not logged in.');
    this.#banner = h('p', { class: 'folio-banner', role: 'alert', hidden: true }, 'Your session has ended. Log in again: nothing is lost, your unsaved work is kept in this browser and will be sent.');
    this.#username = h('input', { name: 'username', autocomplete: 'username', required: true, minlength: '3' });
    this.#password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, minlength: '10' });
    const register = h('button', { type: 'button', class: 'folio-button', 'data-action': 'register' }, 'Register');
    this.#form = h(
      'form',
      { class: 'folio-login-form', 'aria-label': 'Log in to Folio' },
      this.#field('Username', this.#username),
      ' ',
      this.#field('Password (10+ characters)', this.#password),
      ' ',
      h('button', { type: 'submit', class: 'folio-button', 'data-action': 'login' }, 'Log in'),
      ' ',
      register,
    );
    this.#providers = h('p', { class: 'folio-providers', hidden: true });
    this.#logout = h('button', { type: 'button', class: 'folio-button', hidden: true, 'data-action': 'logout' }, 'Log out');
    this.#error = h('p', { class: 'folio-error', role: 'alert' });
    this.#offerText = h('span', {}, 'This link invites you to join a course.');
    const join = h('button', { type: 'button', class: 'folio-button', 'data-action': 'join' }, 'Join this course');
    const dismiss = h('button', { type: 'button', class: 'folio-button', 'data-action': 'dismiss' }, 'Not now');
    this.#offer = h('p', { class: 'folio-offer', hidden: true }, this.#offerText, ' ', join, ' ', dismiss);
    this.#courses = h('p', { class: 'folio-courses', hidden: true });
    this.setAttribute('role', 'region');
    if (!this.hasAttribute('aria-label')) this.setAttribute('aria-label', 'Your account');
    this.append(this.#who, this.#banner, this.#form, this.#providers, this.#logout, this.#error, this.#offer, this.#courses);
    if (!folio) {
      this.#form.hidden = true;
      this.#who.textContent = 'Logging in is not available: this page is not set up (see the console).';
      return;
    }

    this.#form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.#signIn('login');
    });
    register.addEventListener('click', () => {
      if (this.#form.reportValidity()) void this.#signIn('register');
    });
    this.#logout.addEventListener('click', () => {
      this.#error.textContent = '';
      folio.logout().catch((err: Error) => (this.#error.textContent = err.message));
    });
    join.addEventListener('click', () => void this.#join());
    dismiss.addEventListener('click', () => {
      folio.dismissCourseOffer();
      this.#renderOffer();
    });
    folio.on('auth', (event) => {
      if (event.type === 'handoff_failed') {
        this.#error.textContent = `${event.error.message} Start the login again.`;
        return;
      }
      this.#banner.hidden = event.type !== 'required';
      if (event.type === 'required') {
        this.#form.hidden = false;
        this.#renderProviders();
        return;
      }
      this.#render(event.type === 'login' ? event.user : null);
      void this.#renderCourses();
    });
    folio.providers().then(
      (providers) => {
        for (const provider of providers) {
          const button = h('button', { type: 'button', class: 'folio-button', 'data-provider': provider.id }, `Sign in with ${provider.title}`);
          button.addEventListener('click', () => {
            this.#error.textContent = '';
            folio.signIn(provider.id).catch((err: Error) => (this.#error.textContent = err.message));
          });
          this.#providers.append(button, ' ');
        }
        this.#renderProviders();
      },
      () => {},
    );
    this.#renderOffer();
  }

  restore(loaded: Loaded): void {
    this.#render(loaded.user);
    if (loaded.user) void this.#renderCourses();
  }

  #render(user: User | null): void {
    this.#user = user;
    const folio = this.#book.folio;
    const named = user && !user.anonymous ? user : null;
    this.dataset.user = named?.username ?? '';
    this.dataset.mode = folio?.mode ?? '';
    this.#who.textContent = named
      ? `Logged in as ${named.name || named.username}${folio?.mode === 'token' ? ' (this browser refuses Folio’s cookie, so a token is used)' : ''}.`
      : 'Not logged in: your work is saved anonymously in Folio. Register or log in to find it on any device.';
    this.#form.hidden = Boolean(named) && this.#banner.hidden;
    this.#logout.hidden = !named;
    this.#renderProviders();
    this.#renderOffer();
  }

  #renderProviders(): void {
    this.#providers.hidden = this.#form.hidden || this.#providers.childElementCount === 0;
  }

  #renderOffer(): void {
    const offered = this.#book.folio?.courseOffer ?? null;
    this.#offer.hidden = !offered;
    if (offered) this.#offerText.textContent = `This link invites you to join a course with the code ${offered.code}.`;
  }

  async #renderCourses(): Promise<void> {
    const folio = this.#book.folio;
    if (!folio) return;
    let mine: MyCourse[] = [];
    if (this.#user && !this.#user.anonymous) {
      try {
        mine = await folio.myCourses();
      } catch {
        // nothing shown: <folio-status> says when Folio cannot be reached
      }
    }
    const studying = mine.filter((c) => c.as === 'student' && c.book === folio.book);
    const teaching = mine.filter((c) => c.as !== 'student' && c.book === folio.book);
    const parts: string[] = [];
    if (studying.length > 0) parts.push(`Your course${studying.length === 1 ? '' : 's'}: ${studying.map(courseName).join(', ')}`);
    if (teaching.length > 0) parts.push(`You teach: ${teaching.map((c) => `${courseName(c)}, join code ${c.joinCode ?? ''}`).join('; ')}`);
    this.#courses.textContent = parts.join(' · ');
    this.#courses.hidden = parts.length === 0;
  }

  async #signIn(action: 'login' | 'register'): Promise<void> {
    const folio = this.#book.folio!;
    this.#error.textContent = '';
    const credentials = { username: this.#username.value.trim(), password: this.#password.value };
    try {
      await (action === 'register' ? folio.register(credentials) : folio.login(credentials));
      this.#password.value = '';
    } catch (err) {
      this.#error.textContent = (err as Error).message;
    }
  }

  async #join(): Promise<void> {
    const folio = this.#book.folio!;
    this.#error.textContent = '';
    const offered = folio.courseOffer;
    if (!offered) return;
    try {
      const joined = await folio.joinCourse(offered.code);
      this.#renderOffer();
      this.#courses.hidden = false;
      this.#courses.textContent =
        joined.as !== 'student' ? `You teach ${courseName(joined.course)}: its staff are not enrolled as students.` : `${joined.already ? 'You were already in' : 'You joined'} ${courseName(joined.course)}.`;
    } catch (err) {
      this.#error.textContent = joinRefusals[(err as FolioError).error] ?? (err as Error).message;
    }
  }
}

if (!customElements.get('folio-login')) customElements.define('folio-login', FolioLoginElement);
