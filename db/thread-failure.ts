/**
 * A failure crossing a worker thread's boundary (the SQLite read and write threads): an Error's class does not
 * survive it, so its name, message and code (SQLite's, e.g. SQLITE_CONSTRAINT_UNIQUE) travel as a plain object.
 */
export interface ThreadFailure {
  name: string;
  message: string;
  code?: string;
}

/** On the thread: what to send of an error. */
export function failureOf(err: unknown): ThreadFailure {
  const { name, message, code } = err as Error & { code?: string };
  return { name, message, ...(typeof code === 'string' ? { code } : {}) };
}

/** On the event loop: an Error again, with the failure's name and code. */
export function errorOf(failure: ThreadFailure): Error {
  return Object.assign(new Error(failure.message), failure);
}
