/**
 * `<folio-choice question [multiple]>` and `<folio-poll question>`, each with `<folio-option value [correct]
 * [feedback]>` children. An option's content is its label; its feedback is its `feedback` attribute or a
 * `<folio-feedback>` inside it, shown once the student checks an answer that includes the option.
 */
import { FolioElement, h, plural, savedText, uid, type Loaded } from './core.js';

interface Option {
  element: HTMLElement;
  value: string;
  input: HTMLInputElement;
  feedback: string;
}

abstract class ChoiceBase extends FolioElement {
  protected options: Option[] = [];
  protected button!: HTMLButtonElement;
  protected live!: HTMLElement;

  protected abstract get multiple(): boolean;
  protected abstract get buttonText(): string;

  protected check(): boolean {
    let ok = this.book.claim(this, 'question', 'question');
    const seen = new Set<string>();
    for (const option of this.querySelectorAll<HTMLElement>(':scope > folio-option')) {
      const value = option.getAttribute('value');
      if (!value || value.length > 128) {
        this.book.mistake(option, `<folio-option> needs a value="…" attribute (1-128 characters) in <${this.localName} question="${this.getAttribute('question') ?? ''}">: the answer names options by it`);
        ok = false;
      } else if (seen.has(value)) {
        this.book.mistake(option, `two <folio-option value="${value}"> in one question: give each option its own value`);
        ok = false;
      }
      if (value) seen.add(value);
    }
    if (seen.size === 0) {
      this.book.mistake(this, `<${this.localName} question="${this.getAttribute('question') ?? ''}"> has no <folio-option value="…"> children: there is nothing to choose`);
      ok = false;
    }
    return ok;
  }

  protected build(): void {
    const name = uid('choice');
    const prompt = [...this.children].find((child) => child.localName !== 'folio-option' && !child.classList.contains('folio-mistake'));
    if (prompt) {
      prompt.id ||= uid('prompt');
      this.setAttribute('aria-labelledby', prompt.id);
    } else this.setAttribute('aria-label', `Question ${this.getAttribute('question') ?? ''}`);
    this.setAttribute('role', this.multiple ? 'group' : 'radiogroup');
    for (const element of this.querySelectorAll<HTMLElement>(':scope > folio-option')) {
      const fromChild = element.querySelector('folio-feedback');
      const feedback = element.getAttribute('feedback') ?? fromChild?.textContent?.trim() ?? '';
      fromChild?.remove();
      const input = h('input', { type: this.multiple ? 'checkbox' : 'radio', name, value: element.getAttribute('value') ?? '' });
      const text = h('span', { class: 'folio-option-text' }, ...element.childNodes);
      element.append(h('label', {}, input, ' ', text));
      this.options.push({ element, value: input.value, input, feedback });
    }
    this.button = h('button', { type: 'button', class: 'folio-button' }, this.buttonText);
    this.live = h('p', { class: 'folio-feedback', role: 'status', 'aria-live': 'polite' });
    this.append(h('div', { class: 'folio-actions' }, this.button), this.live);
    this.button.addEventListener('click', () => void this.submit());
  }

  protected chosen(): string[] {
    return this.options.filter((o) => o.input.checked).map((o) => o.value);
  }

  protected abstract submit(): Promise<void>;

  restore(loaded: Loaded): void {
    const saved = this.saves ? loaded.state.answers[this.getAttribute('question')!] : undefined;
    const answer = saved?.latest.answer;
    const values = Array.isArray(answer) ? answer.map(String) : typeof answer === 'string' ? [answer] : [];
    for (const option of this.options) {
      option.input.checked = values.includes(option.value);
      option.element.removeAttribute('data-shown');
    }
    this.live.textContent = saved ? this.restoredText(saved.latest.correct, saved.attempts, Boolean(saved.latest.pending)) : '';
    this.dataset.state = saved ? (saved.latest.correct === true ? 'correct' : saved.latest.correct === false ? 'incorrect' : 'answered') : 'new';
  }

  protected abstract restoredText(correct: boolean | null, attempts: number, pending: boolean): string;
}

export class FolioChoiceElement extends ChoiceBase {
  protected get multiple(): boolean {
    return this.hasAttribute('multiple');
  }
  protected get buttonText(): string {
    return 'Check';
  }

  /** Right when the chosen options are exactly those marked `correct`; not judged when none is marked. */
  #judge(chosen: string[]): boolean | undefined {
    const correct = this.options.filter((o) => o.element.hasAttribute('correct')).map((o) => o.value);
    if (correct.length === 0) return undefined;
    return chosen.length === correct.length && chosen.every((value) => correct.includes(value));
  }

  protected async submit(): Promise<void> {
    const chosen = this.chosen();
    if (chosen.length === 0) {
      this.live.textContent = this.multiple ? 'Choose one or more answers first.' : 'Choose an answer first.';
      return;
    }
    const correct = this.#judge(chosen);
    const feedback = this.options.filter((o) => o.input.checked && o.feedback).map((o) => o.feedback);
    for (const option of this.options) option.element.toggleAttribute('data-shown', option.input.checked);
    const verdict = correct === undefined ? 'Answer recorded.' : correct ? 'Correct!' : 'Not yet: try again.';
    this.dataset.state = correct === undefined ? 'answered' : correct ? 'correct' : 'incorrect';
    this.live.textContent = [verdict, ...feedback, 'Saving…'].join(' ');
    if (!this.saves) {
      this.live.textContent = [verdict, ...feedback, 'Not saved: this question has an authoring mistake (see the console).'].join(' ');
      return;
    }
    const page = this.book.page;
    const result = await this.book.save((folio) => folio.submitAnswer(this.getAttribute('question')!, { kind: 'mchoice', answer: chosen, ...(correct === undefined ? {} : { correct }), page }));
    this.live.textContent = [verdict, ...feedback, savedText(result, (reply) => (reply as { attempt: number }).attempt)].join(' ');
  }

  protected restoredText(correct: boolean | null, attempts: number, pending: boolean): string {
    const verdict = correct === true ? 'Correct.' : correct === false ? 'Not yet right.' : 'Answered.';
    return `Your last answer: ${verdict} ${plural(attempts, 'attempt')}${pending ? ', kept in this browser' : ''}.`;
  }
}

export class FolioPollElement extends ChoiceBase {
  protected get multiple(): boolean {
    return false;
  }
  protected get buttonText(): string {
    return 'Vote';
  }

  protected async submit(): Promise<void> {
    const [chosen] = this.chosen();
    if (chosen === undefined) {
      this.live.textContent = 'Choose an answer first.';
      return;
    }
    this.dataset.state = 'answered';
    if (!this.saves) {
      this.live.textContent = 'Not saved: this poll has an authoring mistake (see the console).';
      return;
    }
    this.live.textContent = 'Saving your vote…';
    const page = this.book.page;
    const result = await this.book.save((folio) => folio.submitAnswer(this.getAttribute('question')!, { kind: 'poll', answer: chosen, page }));
    this.live.textContent = `Your vote is recorded. ${savedText(result)}`;
  }

  protected restoredText(_correct: boolean | null, _attempts: number, pending: boolean): string {
    return `You voted${pending ? ' (kept in this browser)' : ''}. You may change your vote.`;
  }
}

if (!customElements.get('folio-choice')) customElements.define('folio-choice', FolioChoiceElement);
if (!customElements.get('folio-poll')) customElements.define('folio-poll', FolioPollElement);
