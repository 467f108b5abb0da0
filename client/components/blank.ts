/**
 * `<folio-blank question answer [match=exact|nocase|regex]>`: a sentence with one blank. The blank is an `<input>`
 * the author wrote, else a run of three or more underscores (`___`) in the text, else a box at the end. `exact`
 * (default) compares the trimmed text; `nocase` ignores case too; `regex` must match the whole trimmed text.
 */
import { FolioElement, h, plural, savedText, uid, type Loaded } from './core.js';

const blankText = /_{3,}/;

export class FolioBlankElement extends FolioElement {
  #input!: HTMLInputElement;
  #live!: HTMLElement;
  #matches: ((text: string) => boolean) | null = null;

  protected check(): boolean {
    let ok = this.book.claim(this, 'question', 'question');
    const answer = this.getAttribute('answer');
    const match = this.getAttribute('match') ?? 'exact';
    const label = `<folio-blank question="${this.getAttribute('question') ?? ''}">`;
    if (answer === null) {
      this.book.mistake(this, `${label} has no answer="…": the student's text is saved but never marked right or wrong`);
    } else if (match === 'exact') this.#matches = (text) => text === answer.trim();
    else if (match === 'nocase') this.#matches = (text) => text.toLocaleLowerCase() === answer.trim().toLocaleLowerCase();
    else if (match === 'regex') {
      try {
        const pattern = new RegExp(`^(?:${answer})$`, 'u');
        this.#matches = (text) => pattern.test(text);
      } catch (err) {
        this.book.mistake(this, `${label}: answer="${answer}" is not a regular expression (${(err as Error).message})`);
        ok = false;
      }
    } else {
      this.book.mistake(this, `${label}: match="${match}" is not one of exact, nocase, regex`);
      ok = false;
    }
    return ok;
  }

  /** The input: the author's, else one in place of the first `___`, else one at the end. */
  #placeInput(): HTMLInputElement {
    const written = this.querySelector('input');
    if (written) return written;
    const input = h('input', { type: 'text', size: '12', autocomplete: 'off', spellcheck: 'false' });
    const walker = document.createTreeWalker(this, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode() as Text | null; node; node = walker.nextNode() as Text | null) {
      const found = blankText.exec(node.data);
      if (!found) continue;
      const after = node.splitText(found.index);
      after.data = after.data.slice(found[0].length);
      after.before(input);
      return input;
    }
    this.append(' ', input);
    return input;
  }

  protected build(): void {
    this.#input = this.#placeInput();
    // The sentence around the blank describes it; the label names it.
    this.#input.id ||= uid('blank');
    if (!this.#input.hasAttribute('aria-label') && !this.#input.labels?.length) this.#input.setAttribute('aria-label', 'Fill in the blank');
    const button = h('button', { type: 'button', class: 'folio-button' }, 'Check');
    this.#live = h('p', { class: 'folio-feedback', role: 'status', 'aria-live': 'polite' });
    this.append(h('div', { class: 'folio-actions' }, button), this.#live);
    button.addEventListener('click', () => void this.#submit());
    this.#input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        void this.#submit();
      }
    });
  }

  async #submit(): Promise<void> {
    const text = this.#input.value.trim();
    if (text === '') {
      this.#live.textContent = 'Fill in the blank first.';
      return;
    }
    const correct = this.#matches?.(text);
    const verdict = correct === undefined ? 'Answer recorded.' : correct ? 'Correct!' : 'Not yet: try again.';
    this.dataset.state = correct === undefined ? 'answered' : correct ? 'correct' : 'incorrect';
    if (!this.saves) {
      this.#live.textContent = `${verdict} Not saved: this question has an authoring mistake (see the console).`;
      return;
    }
    this.#live.textContent = `${verdict} Saving…`;
    const page = this.book.page;
    const result = await this.book.save((folio) => folio.submitAnswer(this.getAttribute('question')!, { kind: 'fitb', answer: [text], ...(correct === undefined ? {} : { correct }), page }));
    this.#live.textContent = `${verdict} ${savedText(result, (reply) => (reply as { attempt: number }).attempt)}`;
  }

  restore(loaded: Loaded): void {
    const saved = this.saves ? loaded.state.answers[this.getAttribute('question')!] : undefined;
    const answer = saved?.latest.answer;
    this.#input.value = Array.isArray(answer) ? String(answer[0] ?? '') : '';
    if (!saved) {
      this.#live.textContent = '';
      this.dataset.state = 'new';
      return;
    }
    const { correct, pending } = saved.latest;
    this.dataset.state = correct === true ? 'correct' : correct === false ? 'incorrect' : 'answered';
    const verdict = correct === true ? 'Correct.' : correct === false ? 'Not yet right.' : 'Answered.';
    this.#live.textContent = `Your last answer: ${verdict} ${plural(saved.attempts, 'attempt')}${pending ? ', kept in this browser' : ''}.`;
  }
}

if (!customElements.get('folio-blank')) customElements.define('folio-blank', FolioBlankElement);
