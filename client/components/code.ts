/**
 * `<folio-code activity language [pause]>`: a program the student writes in a CodeMirror 6 editor, runs and saves.
 * The starter code is the text of a `<pre>` (or `<textarea>`) inside it, so the page reads without the script. It
 * restores the latest saved version, saves on Run and after a pause in typing (`pause` milliseconds, default 2000),
 * lists the saved versions and loads an earlier one. Run fires a cancelable `run` event on the element
 * (`detail: {activity, language, code, print(text)}`) for the page's own runner; when no listener calls
 * preventDefault(), JavaScript runs in a Web Worker (console.log printed below, stopped after 5 s).
 * This module (with CodeMirror) is loaded only on pages with a code activity.
 */
import { Compartment, type Extension } from '@codemirror/state';
import { basicSetup, EditorView } from 'codemirror';
import { FolioElement, h, uid, type Loaded } from './core.js';

export interface RunDetail {
  activity: string;
  language: string;
  code: string;
  /** Shows text in the activity's output. */
  print(text: string): void;
}

/** The built-in runner: the code in a Web Worker, its console.log collected; an error or 5 s ends it. */
const workerSource = `
const lines = [];
const show = (v) => (typeof v === 'string' ? v : (() => { try { return JSON.stringify(v); } catch { return String(v); } })());
const print = (...values) => lines.push(values.map(show).join(' '));
self.console = { log: print, info: print, warn: print, error: print, debug: print };
self.onmessage = async (event) => {
  try {
    await (async () => {}).constructor(event.data)();
    self.postMessage({ output: lines.join('\\n'), ok: true });
  } catch (err) {
    lines.push(String(err));
    self.postMessage({ output: lines.join('\\n'), ok: false });
  }
};`;
let workerUrl: string | null = null;

export function runJavaScript(code: string, timeoutMs = 5000): Promise<{ output: string; ok: boolean }> {
  workerUrl ??= URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' }));
  const worker = new Worker(workerUrl);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      worker.terminate();
      resolve({ output: `Stopped after ${timeoutMs / 1000} s (an endless loop?)`, ok: false });
    }, timeoutMs);
    worker.onmessage = (event: MessageEvent<{ output: string; ok: boolean }>) => {
      clearTimeout(timer);
      worker.terminate();
      resolve(event.data);
    };
    worker.onerror = (event) => {
      clearTimeout(timer);
      worker.terminate();
      event.preventDefault();
      resolve({ output: event.message, ok: false });
    };
    worker.postMessage(code);
  });
}

/** Each language's highlighting, loaded when an activity of that language is on the page. */
const languages: Record<string, () => Promise<Extension>> = {
  javascript: () => import('@codemirror/lang-javascript').then((m) => m.javascript()),
  python: () => import('@codemirror/lang-python').then((m) => m.python()),
};
languages.js = languages.javascript!;
languages.py = languages.python!;

export class FolioCodeElement extends FolioElement {
  #view!: EditorView;
  #starter = '';
  #output!: HTMLElement;
  #note!: HTMLElement;
  #history!: HTMLElement;
  #versions!: HTMLSelectElement;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** The text last saved or restored: a pause saves only a change. */
  #saved = '';
  #restoring = false;

  get activity(): string {
    return this.getAttribute('activity') ?? '';
  }
  get language(): string {
    return this.getAttribute('language') ?? 'javascript';
  }
  /** The code in the editor. */
  get code(): string {
    return this.#view.state.doc.toString();
  }
  set code(text: string) {
    this.#view.dispatch({ changes: { from: 0, to: this.#view.state.doc.length, insert: text } });
  }

  protected check(): boolean {
    return this.book.claim(this, 'activity', 'activity');
  }

  protected build(): void {
    const source = this.querySelector('textarea, pre');
    this.#starter = (source instanceof HTMLTextAreaElement ? source.value : (source?.textContent ?? '')).replace(/^\n/, '').replace(/\s+$/, '');
    source?.remove();
    const label = `Code of activity ${this.activity} (${this.language})`;
    const host = h('div', { class: 'folio-editor' });
    const language = new Compartment();
    this.#view = new EditorView({
      parent: host,
      doc: this.#starter,
      extensions: [
        basicSetup,
        language.of([]),
        EditorView.contentAttributes.of({ 'aria-label': label }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged && !this.#restoring) this.#typed();
        }),
      ],
    });
    void languages[this.language.toLowerCase()]?.().then((extension) => this.#view.dispatch({ effects: language.reconfigure(extension) }));
    const run = h('button', { type: 'button', class: 'folio-button', 'data-action': 'run' }, 'Run');
    const save = h('button', { type: 'button', class: 'folio-button', 'data-action': 'save' }, 'Save');
    const history = h('button', { type: 'button', class: 'folio-button', 'data-action': 'history', 'aria-expanded': 'false' }, 'History');
    this.#note = h('span', { class: 'folio-note', role: 'status', 'aria-live': 'polite' });
    this.#output = h('pre', { class: 'folio-output', 'aria-live': 'polite', 'aria-label': 'Output' });
    this.#versions = h('select', { id: uid('versions') });
    const load = h('button', { type: 'button', class: 'folio-button', 'data-action': 'load' }, 'Load this version');
    this.#history = h('div', { class: 'folio-history', hidden: true }, h('label', { for: this.#versions.id }, 'Saved versions '), this.#versions, ' ', load);
    this.append(host, h('div', { class: 'folio-actions' }, run, save, history, this.#note), this.#history, this.#output);
    run.addEventListener('click', () => void this.run());
    save.addEventListener('click', () => void this.save());
    history.addEventListener('click', () => {
      const open = this.#history.hidden;
      this.#history.hidden = !open;
      history.setAttribute('aria-expanded', String(open));
      if (open) void this.#listVersions();
    });
    load.addEventListener('click', () => {
      const chosen = this.#versions.selectedOptions[0];
      if (!chosen?.dataset.code && chosen?.dataset.code !== '') return;
      this.code = chosen.dataset.code;
      this.#note.textContent = `Version ${chosen.value} loaded: it is saved as a new version.`;
      void this.save();
    });
    this.addEventListener('keydown', (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key === 's') {
        event.preventDefault();
        void this.save();
      }
    });
  }

  #typed(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    const pause = Number(this.getAttribute('pause') ?? 2000);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.code !== this.#saved) void this.save();
    }, Number.isFinite(pause) && pause >= 0 ? pause : 2000);
  }

  /** Saves the code as a new version (every version is kept). */
  async save(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.saves) {
      this.#note.textContent = 'Not saved: this activity has an authoring mistake (see the console).';
      return;
    }
    const code = this.code;
    this.#saved = code;
    this.#note.textContent = 'Saving…';
    const page = this.book.page;
    const result = await this.book.save((folio) => folio.saveProgram(this.activity, code, { page, language: this.language }));
    this.#note.textContent =
      result.status === 'saved' ? `Saved as version ${result.reply.version}.` : result.status === 'pending' ? 'Kept in this browser: it is sent when Folio can be reached.' : `Not saved: ${result.message}`;
    this.dataset.state = 'saved';
  }

  /** Runs the code: the page's `run` listener, else the built-in JavaScript runner; and saves it. */
  async run(): Promise<void> {
    const code = this.code;
    this.#output.textContent = '';
    const print = (text: string) => (this.#output.textContent += this.#output.textContent ? `\n${text}` : text);
    const detail: RunDetail = { activity: this.activity, language: this.language, code, print };
    const started = performance.now();
    void this.save();
    const handled = !this.dispatchEvent(new CustomEvent<RunDetail>('run', { detail, bubbles: true, cancelable: true }));
    let ok = true;
    if (!handled) {
      if (!/^(javascript|js)$/i.test(this.language)) {
        print(`This page has no runner for ${this.language}.`);
        return;
      }
      const result = await runJavaScript(code);
      ok = result.ok;
      print(result.output || '(no output)');
    }
    if (this.saves) this.book.folio?.log('run', { target: this.activity, page: this.book.page, data: { ok, ms: Math.round(performance.now() - started) } });
  }

  async #listVersions(): Promise<void> {
    const folio = this.book.folio;
    if (!folio || !this.saves) return;
    this.#versions.replaceChildren(h('option', {}, 'Loading…'));
    try {
      const { versions } = await folio.programHistory(this.activity, { limit: 50 });
      this.#versions.replaceChildren(
        ...versions.map((v) => {
          const option = h('option', { value: String(v.version) }, `Version ${v.version} · ${new Date(v.savedAt).toLocaleString()}`);
          option.dataset.code = v.code;
          return option;
        }),
      );
      if (versions.length === 0) this.#versions.replaceChildren(h('option', {}, 'No saved version yet'));
    } catch (err) {
      this.#versions.replaceChildren(h('option', {}, `Could not load the versions: ${(err as Error).message}`));
    }
  }

  restore(loaded: Loaded): void {
    const program = this.saves ? loaded.state.programs[this.activity] : undefined;
    this.#restoring = true;
    this.code = program?.code ?? this.#starter;
    this.#restoring = false;
    this.#saved = this.code;
    this.#output.textContent = '';
    this.#note.textContent = program ? (program.pending ? 'Restored (kept in this browser, not sent yet).' : `Restored version ${program.version}.`) : '';
    this.dataset.state = program ? 'restored' : 'new';
  }
}

if (!customElements.get('folio-code')) customElements.define('folio-code', FolioCodeElement);
