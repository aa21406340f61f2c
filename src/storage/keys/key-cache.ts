/**
 * The store's cache of keys' newest versions: (stream, key) → the version and offset of the
 * key's newest event, or "no event" (version -1). Shared by every stream of a store, bounded in
 * bytes (`keyIndex.cacheBytes`), least recently used evicted first (in effect: a second-chance
 * clock, see {@link KeyCache}). An entry is always current:
 * every append with a key updates it, so a hot key's expected-version check and next version
 * need no lookup in the index at all.
 *
 * The runs' bloom filters share the bound: they may take up to half of it ({@link reserve}); the
 * entries get what the filters leave.
 */

/** A key's newest event (version -1: the key has none). */
export interface KeyState {
  version: number;
  offset: number;
}

/** What an entry is counted as: the key (two bytes a character), the map slot and the value. */
function entryBytes(cacheKey: string): number {
  return 96 + cacheKey.length * 2;
}

/** A cache entry: the state, and whether it was used since eviction last passed it. */
interface CacheEntry extends KeyState {
  used: boolean;
}

export class KeyCache {
  /**
   * Insertion order is the eviction order, with a second chance (CLOCK): a hit only marks the
   * entry used; eviction moves a used entry to the end (clearing the mark) instead of dropping
   * it. Least recently used in effect, without reordering the map on every hit (that
   * bookkeeping was 7 % of a keyed append's time).
   */
  private readonly entries = new Map<string, CacheEntry>();
  private used = 0;
  /** Bytes taken by bloom filters held in memory. */
  private reserved = 0;

  constructor(readonly maxBytes: number) {}

  /**
   * Takes `bytes` of the bound for a bloom filter; false (nothing taken) when filters would pass
   * half of it. Entries are evicted to make room.
   */
  reserve(bytes: number): boolean {
    if (this.reserved + bytes > this.maxBytes / 2) return false;
    this.reserved += bytes;
    this.evict();
    return true;
  }

  /** Gives back bytes taken by {@link reserve}. */
  release(bytes: number): void {
    this.reserved = Math.max(0, this.reserved - bytes);
  }

  /** Bytes taken by bloom filters. */
  get reservedBytes(): number {
    return this.reserved;
  }

  /** Bytes the entries are counted as. */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  get(stream: number, key: string): KeyState | undefined {
    const state = this.entries.get(`${stream}\u0000${key}`);
    if (state !== undefined) state.used = true;
    return state;
  }

  set(stream: number, key: string, version: number, offset: number): void {
    const cacheKey = `${stream}\u0000${key}`;
    const held = this.entries.get(cacheKey);
    if (held !== undefined) {
      held.version = version;
      held.offset = offset;
      held.used = true;
      return;
    }
    this.entries.set(cacheKey, { version, offset, used: false });
    this.used += entryBytes(cacheKey);
    this.evict();
  }

  private evict(): void {
    // Each pass over an entry either drops it or clears its mark: at most two passes per entry.
    let chances = this.entries.size;
    while (this.used + this.reserved > this.maxBytes && this.entries.size > 0) {
      const [oldest, entry] = this.entries.entries().next().value as [string, CacheEntry];
      this.entries.delete(oldest);
      if (entry.used && chances-- > 0) {
        entry.used = false;
        this.entries.set(oldest, entry);
        continue;
      }
      this.used -= entryBytes(oldest);
    }
  }
}
