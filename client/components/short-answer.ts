/** `<folio-short-answer question>`: the content is the question; the student writes a text and saves it. */
import { FolioElement, h, savedText, uid, type Loaded } from './core.js';

export class FolioShortAnswerElement extends FolioElement {
  #text!: HTMLTextAreaElement;
  #live!: HTMLElement;

  protected check(): boolean {
    return this.book.claim(this, 'question', 'question');
  }

  protected build(): void {
    const prompt = [...this.children].find((child) => !child.classList.contains('folio-mistake'));
    this.#text = h('textarea', { rows: this.getAttribute('rows') ?? '4', class: 'folio-text' });
    if (prompt) {
      prompt.id ||= uid('prompt');
      this.#text.setAttribute('aria-labelledby', prompt.id);
    } else this.#text.setAttribute('aria-label', 'Your answer');
    this.#text.maxLength = 65536;
    const button = h('button', { type: 'button', class: 'folio-button' }, 'Save answer');
    this.#live = h('p', { class: 'folio-feedback', role: 'status', 'aria-live': 'polite' });
    this.append(this.#text, h('div', { class: 'folio-actions' }, button), this.#live);
    button.addEventListener('click', () => void this.#submit());
  }

  async #submit(): Promise<void> {
    const text = this.#text.value;
    if (text.trim() === '') {
      this.#live.textContent = 'Write an answer first.';
      return;
    }
    if (!this.saves) {
      this.#live.textContent = 'Not saved: this question has an authoring mistake (see the console).';
      return;
    }
    this.#live.textContent = 'Saving…';
    const page = this.book.page;
    const result = await this.book.save((folio) => folio.submitAnswer(this.getAttribute('question')!, { kind: 'shortanswer', answer: text, page }));
    this.dataset.state = 'answered';
    this.#live.textContent = savedText(result);
  }

  restore(loaded: Loaded): void {
    const saved = this.saves ? loaded.state.answers[this.getAttribute('question')!] : undefined;
    const answer = saved?.latest.answer;
    this.#text.value = typeof answer === 'string' ? answer : '';
    this.dataset.state = saved ? 'answered' : 'new';
    this.#live.textContent = saved ? `Your saved answer${saved.latest.pending ? ' (kept in this browser)' : ''}.` : '';
  }
}

if (!customElements.get('folio-short-answer')) customElements.define('folio-short-answer', FolioShortAnswerElement);
