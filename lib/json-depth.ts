/**
 * Walks of parsed JSON values without recursion: a value nested thousands of levels deep (a body of 10 KB can nest 5,000)
 * must not overflow the call stack of the walk, nor of JSON.stringify afterwards.
 */

/** How deep arrays and objects nest in `value` (a scalar: 0, `[]` or `{}`: 1), counted only up to `max + 1`. */
export function jsonDepth(value: unknown, max: number): number {
  if (typeof value !== 'object' || value === null) return 0;
  let deepest = 1;
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop() as object;
    const depth = depths.pop()!;
    if (depth > deepest) deepest = depth;
    if (deepest > max) return deepest;
    for (const inner of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof inner === 'object' && inner !== null) {
        values.push(inner);
        depths.push(depth + 1);
      }
    }
  }
  return deepest;
}

/**
 * The JSON pointer of the first string (key or value) in `value` for which `bad` holds, or undefined. Clean values
 * (every request) cost a walk; the pointer is put together only for a find, from the parents the walk kept.
 */
export function findString(value: unknown, bad: (s: string) => boolean): string | undefined {
  if (typeof value === 'string') return bad(value) ? '' : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  // Each entry: the value, its parent's entry, its key there.
  const values: unknown[] = [value];
  const parents: number[] = [-1];
  const keys: string[] = [''];
  const pending: number[] = [0];
  const pointer = (entry: number, last?: string) => {
    const parts = last === undefined ? [] : [last];
    for (let e = entry; e > 0; e = parents[e]!) parts.push(keys[e]!);
    return parts.reverse().map((k) => `/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
  };
  while (pending.length > 0) {
    const entry = pending.pop()!;
    const v = values[entry] as Record<string, unknown>;
    for (const key of Object.keys(v)) {
      if (bad(key)) return pointer(entry, key);
      const inner = v[key];
      if (typeof inner === 'string') {
        if (bad(inner)) return pointer(entry, key);
      } else if (typeof inner === 'object' && inner !== null) {
        pending.push(values.push(inner) - 1);
        parents.push(entry);
        keys.push(key);
      }
    }
  }
  return undefined;
}
