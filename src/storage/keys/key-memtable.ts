/**
 * The newest entries of a stream's key index, in memory: every keyed event appended since the
 * newest run (key-run-file.ts) was written, in offset order, in typed arrays (about 36 bytes an
 * entry, no object per entry and no key strings). A hash table maps a key hash to its newest
 * entry, and each entry links to the previous one of the same hash, so a key's entries are found
 * newest first without a scan. Entries are found by hash: the caller checks the key against the
 * record (two keys may share a hash).
 *
 * When the memtable is written out as a run, its oldest entries are taken in (hash, version)
 * order ({@link KeyMemtable.sortedPrefix}, a stable radix sort: no comparator calls) and dropped.
 */
import { assert } from '../../errors.js';

const INITIAL_CAPACITY = 1024;

export class KeyMemtable {
  private hashHi = new Uint32Array(INITIAL_CAPACITY);
  private hashLo = new Uint32Array(INITIAL_CAPACITY);
  private versions = new Float64Array(INITIAL_CAPACITY);
  private offsets = new Float64Array(INITIAL_CAPACITY);
  /** Index of the previous entry with the same hash, or NONE. */
  private previous = new Int32Array(INITIAL_CAPACITY);
  /** Open addressing: slot → index + 1 of the newest entry of a hash (0: empty). */
  private table = new Int32Array(INITIAL_CAPACITY * 2);
  /** Entries held. */
  count = 0;

  /** Adds the entry of an event (offsets only grow). */
  add(hashHi: number, hashLo: number, version: number, offset: number): void {
    assert(this.count === 0 || offset > this.offsets[this.count - 1]!, 'key index entries added out of offset order');
    if (this.count === this.hashHi.length) this.grow();
    const i = this.count;
    this.hashHi[i] = hashHi;
    this.hashLo[i] = hashLo;
    this.versions[i] = version;
    this.offsets[i] = offset;
    const slot = this.slotOf(hashHi, hashLo);
    this.previous[i] = this.table[slot]! - 1;
    this.table[slot] = i + 1;
    this.count += 1;
  }

  /** Index of the newest entry with this hash, or -1. */
  newest(hashHi: number, hashLo: number): number {
    return this.table[this.slotOf(hashHi, hashLo)]! - 1;
  }

  /** Index of the entry before `i` with the same hash, or -1. */
  before(i: number): number {
    return this.previous[i]!;
  }

  version(i: number): number {
    return this.versions[i]!;
  }

  offset(i: number): number {
    return this.offsets[i]!;
  }

  hashHiOf(i: number): number {
    return this.hashHi[i]!;
  }

  hashLoOf(i: number): number {
    return this.hashLo[i]!;
  }

  /** Entries whose offset is below `offset` (they come first: offsets only grow). */
  countBelow(offset: number): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.offsets[middle]! < offset) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * The indexes of the first `count` entries in (hash, version) order: a stable LSD radix sort
   * on the 64-bit hash in four passes of 16 bits (entries of one hash keep their order, which is
   * version order).
   */
  sortedPrefix(count: number): Uint32Array {
    let order = new Uint32Array(count);
    for (let i = 0; i < count; i++) order[i] = i;
    let next = new Uint32Array(count);
    const buckets = new Uint32Array(65_537);
    // The passes' digits (low half's low 16 bits first), each pass a plain loop over typed arrays:
    // no call per entry (a closure per digit made this a flush's largest cost).
    for (let pass = 0; pass < 4; pass++) {
      const words = pass < 2 ? this.hashLo : this.hashHi;
      const shift = pass % 2 === 0 ? 0 : 16;
      buckets.fill(0);
      for (let i = 0; i < count; i++) buckets[((words[order[i]!]! >>> shift) & 0xffff) + 1]! += 1;
      for (let b = 1; b < 65_537; b++) buckets[b]! += buckets[b - 1]!;
      for (let i = 0; i < count; i++) {
        const entry = order[i]!;
        next[buckets[(words[entry]! >>> shift) & 0xffff]!++] = entry;
      }
      [order, next] = [next, order];
    }
    this.sortVersionsWithinHashes(order);
    return order;
  }

  /**
   * Entries of one hash are in offset order, which is version order for one key; two keys sharing
   * a hash (rare) interleave, so each such group is put in version order (an insertion sort: a
   * group already in order costs one pass).
   */
  private sortVersionsWithinHashes(order: Uint32Array): void {
    for (let i = 1; i < order.length; i++) {
      const entry = order[i]!;
      let j = i - 1;
      while (j >= 0 && this.hashHi[order[j]!] === this.hashHi[entry] && this.hashLo[order[j]!] === this.hashLo[entry] && this.versions[order[j]!]! > this.versions[entry]!) {
        order[j + 1] = order[j]!;
        j -= 1;
      }
      order[j + 1] = entry;
    }
  }

  /** Drops the first `count` entries (written out as a run). */
  dropPrefix(count: number): void {
    assert(count <= this.count, 'dropping more key index entries than held');
    const keep = this.count - count;
    const hashHi = this.hashHi.slice(count, this.count);
    const hashLo = this.hashLo.slice(count, this.count);
    const versions = this.versions.slice(count, this.count);
    const offsets = this.offsets.slice(count, this.count);
    let capacity = INITIAL_CAPACITY;
    while (capacity < keep) capacity *= 2;
    this.hashHi = new Uint32Array(capacity);
    this.hashLo = new Uint32Array(capacity);
    this.versions = new Float64Array(capacity);
    this.offsets = new Float64Array(capacity);
    this.previous = new Int32Array(capacity);
    this.table = new Int32Array(capacity * 2);
    this.count = 0;
    for (let i = 0; i < keep; i++) this.add(hashHi[i]!, hashLo[i]!, versions[i]!, offsets[i]!);
  }

  /** Bytes held (what the store's memory figure counts). */
  get bytes(): number {
    return this.hashHi.length * (4 + 4 + 8 + 8 + 4) + this.table.length * 4;
  }

  private slotOf(hashHi: number, hashLo: number): number {
    const mask = this.table.length - 1;
    let slot = (hashLo ^ Math.imul(hashHi, 0x9e3779b1)) & mask;
    for (;;) {
      const held = this.table[slot]!;
      if (held === 0) return slot;
      const i = held - 1;
      if (this.hashHi[i] === hashHi && this.hashLo[i] === hashLo) return slot;
      slot = (slot + 1) & mask;
    }
  }

  private grow(): void {
    const capacity = this.hashHi.length * 2;
    const copy = <T extends Uint32Array | Float64Array | Int32Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.hashHi = copy(this.hashHi, new Uint32Array(capacity));
    this.hashLo = copy(this.hashLo, new Uint32Array(capacity));
    this.versions = copy(this.versions, new Float64Array(capacity));
    this.offsets = copy(this.offsets, new Float64Array(capacity));
    this.previous = copy(this.previous, new Int32Array(capacity));
    // Rehash: every hash's newest entry into the larger table.
    this.table = new Int32Array(capacity * 2);
    for (let i = 0; i < this.count; i++) this.table[this.slotOf(this.hashHi[i]!, this.hashLo[i]!)] = i + 1;
  }
}
