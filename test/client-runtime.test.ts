import t from 'tap';
import { browserRuntime } from '../client/runtime.js';

/** The browser client's view of the browser (client/runtime.ts), with the browser's globals stood in for. */

const locks = { request: async () => true };

/** Runs `body` with globalThis.localStorage and navigator as given, then puts them back. */
function withGlobals(globals: { localStorage: () => unknown; navigator: unknown }, body: () => void): void {
  const saved = {
    localStorage: Object.getOwnPropertyDescriptor(globalThis, 'localStorage'),
    navigator: Object.getOwnPropertyDescriptor(globalThis, 'navigator'),
  };
  Object.defineProperty(globalThis, 'localStorage', { get: globals.localStorage, configurable: true });
  Object.defineProperty(globalThis, 'navigator', { value: globals.navigator, configurable: true });
  try {
    body();
  } finally {
    for (const [name, descriptor] of Object.entries(saved)) {
      if (descriptor) Object.defineProperty(globalThis, name, descriptor);
      else delete (globalThis as Record<string, unknown>)[name];
    }
  }
}

t.test('with localStorage, the client uses the browser\'s locks (tabs share the outbox)', async (t) => {
  const store = { getItem: () => null, setItem: () => {}, removeItem: () => {}, key: () => null, length: 0 };
  withGlobals({ localStorage: () => store, navigator: { locks } }, () => {
    const runtime = browserRuntime();
    t.equal(runtime.localStorage, store);
    t.equal(runtime.locks, locks);
  });
});

t.test('a frame whose storage the browser blocks (reading localStorage throws) has no localStorage and takes no locks, which such a browser refuses', async (t) => {
  withGlobals(
    {
      localStorage: () => {
        throw new Error('SecurityError: access is denied for this document');
      },
      navigator: { locks },
    },
    () => {
      const runtime = browserRuntime();
      t.equal(runtime.localStorage, null);
      t.equal(runtime.locks, null);
    },
  );
});
