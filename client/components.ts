/**
 * Folio's drop-in components for book authors: one module a page loads,
 *
 *   <script type="module" src="https://folio.example.edu/client/components.js"></script>
 *
 * which loads, per element type found on the page, that element's code (and the Folio client once): a page with one
 * multiple-choice question downloads the client, the book and the question's code, never the code editor.
 * The elements' stylesheet (components.css, beside this module) is linked unless the page links it already.
 */

const loaders: Record<string, () => Promise<unknown>> = {
  'folio-book': () => import('./components/book.js'),
  'folio-choice': () => import('./components/choice.js'),
  'folio-poll': () => import('./components/choice.js'),
  'folio-blank': () => import('./components/blank.js'),
  'folio-short-answer': () => import('./components/short-answer.js'),
  'folio-complete': () => import('./components/complete.js'),
  'folio-status': () => import('./components/status.js'),
  'folio-login': () => import('./components/login.js'),
  'folio-code': () => import('./components/code.js'),
};

const started = new Set<string>();

/** Loads the code of every element type under `root` not loaded yet. */
function scan(root: ParentNode): void {
  for (const [tag, load] of Object.entries(loaders)) {
    if (started.has(tag)) continue;
    if (!(root instanceof Element && root.localName === tag) && !root.querySelector(tag)) continue;
    started.add(tag);
    load().catch((err: unknown) => {
      started.delete(tag);
      console.error(`Folio: the code of <${tag}> could not be loaded from ${import.meta.url}`, err);
    });
  }
}

function linkStylesheet(): void {
  const href = new URL('./components.css', import.meta.url).href;
  if ([...document.querySelectorAll<HTMLLinkElement>('link[rel=stylesheet]')].some((link) => link.href === href)) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = href;
  // First in <head>: the book's own stylesheets come after it, so they win.
  document.head.prepend(link);
}

linkStylesheet();
scan(document);
// Elements a page adds later (a framework, a tab shown): their code is loaded when they appear.
new MutationObserver((records) => {
  for (const record of records) for (const node of record.addedNodes) if (node instanceof Element) scan(node);
}).observe(document.documentElement, { childList: true, subtree: true });
