/** `<folio-code activity language>`: a program the student writes, runs and saves (placeholder until the editor lands). */
import { FolioElement, h, type Loaded } from './core.js';

export class FolioCodeElement extends FolioElement {
  #text!: HTMLTextAreaElement;

  protected check(): boolean {
    return this.book.claim(this, 'activity', 'activity');
  }

  protected build(): void {
    this.#text = h('textarea', { 'aria-label': 'Code', rows: '8' });
    this.append(this.#text);
  }

  restore(loaded: Loaded): void {
    const program = this.saves ? loaded.state.programs[this.getAttribute('activity')!] : undefined;
    if (program) this.#text.value = program.code;
  }
}

if (!customElements.get('folio-code')) customElements.define('folio-code', FolioCodeElement);
