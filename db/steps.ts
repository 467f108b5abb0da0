import type { Queries, WriteStep } from './index.js';

/** Runs a write's steps in order on `tx` (what SQLite's write thread does on its connection); resolves with their results. */
export async function runSteps(tx: Queries, steps: readonly WriteStep[]): Promise<unknown[]> {
  const results: unknown[] = [];
  for (const [kind, query, values] of steps) results.push(kind === 'get' ? await tx.get(query, values) : await tx.run(query, values));
  return results;
}
