/**
 * A Map that holds at most `max` entries: setting a new key when full forgets the oldest one first (FIFO: a Map
 * iterates in insertion order). Reads are the Map's own, so a hit costs what a plain Map look-up costs; only a
 * `set` that would overflow does one more step. Used for the remembered session look-ups and signed cookies.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(readonly max: number) {
    super();
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`a BoundedMap holds at least one entry (got ${max})`);
  }

  override set(key: K, value: V): this {
    if (this.size >= this.max && !this.has(key)) this.delete(this.keys().next().value!);
    return super.set(key, value);
  }
}
