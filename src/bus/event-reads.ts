/**
 * What `get_stream_events` reads: from an offset, from the end or from a time, forward or
 * backward, and where the next page starts (`next_offset`) and whether this one reached the end
 * (`at_end`). Backward pages go from newest to oldest: `next_offset` is then the offset below the
 * oldest event returned, and `at_end` says there is nothing older.
 *
 * With `key`, the page is that aggregate's events in version order (or newest first), found
 * through the key index (Engine.keyOffsets: no scan of the stream), and `next_version` says where
 * the next page starts. With `types`, only events of those types: the stream is scanned, at most
 * {@link MAX_SCAN_EVENTS} events a request, and `next_offset` is where the scan stopped.
 */
import { ErrorCodes, isEventBusError } from '../errors.js';
import { checkFilter, type Engine, type StoredEvent } from '../storage/index.js';
// The unchecked test: the filter was checked once (checkFilter), and this runs per event.
import { matchesFilter } from '../storage/event-filter.js';

/** Most events a filtered (`types`) read looks at in one request. */
export const MAX_SCAN_EVENTS = 10_000;

/** Where a read starts and which way it goes. */
export interface ReadFrom {
  /**
   * The first offset (backward: the top one). With `key`, the key's events at or after it
   * (backward: at or before it), unless `fromVersion`, `fromEnd` or `fromTimeMs` says otherwise.
   */
  fromOffset: number;
  /** Start at the stream's end: forward, what comes next (nothing yet); backward, the newest. */
  fromEnd?: boolean;
  /** Forward: the first event at or after this time; backward: the last one at or before it. */
  fromTimeMs?: number | undefined;
  direction?: 'forward' | 'backward';
  /** Only this aggregate's events, by version. */
  key?: string | undefined;
  /** With `key`: the first version (forward default 0; backward default and past the last: the last). */
  fromVersion?: number | undefined;
  /** Only events of these types. */
  types?: readonly string[] | undefined;
}

/** Stored events of a page, and where the next page starts. */
export interface StoredPage {
  stored: StoredEvent[];
  nextOffset: number;
  atEnd: boolean;
  /** Reads by key: the version the next page starts at. */
  nextVersion?: number;
}

type Limits = { maxEvents: number; maxBytes: number };

/** Reads one page of `name` as `from` says, within `limits`. */
export function readStoredPage(engine: Engine, name: string, from: ReadFrom, query: Limits): StoredPage {
  // Only the two limits: the query may be a whole request, and the engine refuses keys it does not know.
  const limits: Limits = { maxEvents: query.maxEvents, maxBytes: query.maxBytes };
  checkFilter({ ...(from.key === undefined ? {} : { key: from.key }), ...(from.types === undefined ? {} : { types: from.types }) });
  if (from.key !== undefined) return readKeyPage(engine, name, from.key, from, limits);
  if (from.types !== undefined) return readTypesPage(engine, name, from, from.types, limits);
  return readPlainPage(engine, name, from, limits);
}

/** A page by offset (no filter). */
function readPlainPage(engine: Engine, name: string, from: ReadFrom, limits: Limits): StoredPage {
  const { firstOffset, nextOffset: end } = engine.bounds(name);
  if (from.direction === 'backward') {
    let top: number;
    if (from.fromEnd === true) top = end - 1;
    else if (from.fromTimeMs !== undefined) top = engine.offsetAtTime(name, from.fromTimeMs + 1) - 1;
    else top = Math.min(from.fromOffset, end - 1);
    const stored = top < firstOffset ? [] : engine.readBackward(name, top, limits);
    // Nothing at or below the top: the end of a backward read is always just below the oldest stored.
    const nextOffset = stored.length > 0 ? stored[stored.length - 1]!.offset - 1 : firstOffset - 1;
    return { stored, nextOffset, atEnd: nextOffset < firstOffset };
  }
  let start: number;
  if (from.fromEnd === true) start = end;
  else if (from.fromTimeMs !== undefined) start = engine.offsetAtTime(name, from.fromTimeMs);
  // Clamped to what is stored: past the end, the page is empty and says where the end is.
  else start = Math.min(Math.max(from.fromOffset, firstOffset), end);
  const stored = start >= end ? [] : engine.read(name, start, limits);
  const nextOffset = stored.length > 0 ? stored[stored.length - 1]!.offset + 1 : start;
  return { stored, nextOffset, atEnd: nextOffset >= end };
}

/** A page of the events of `types`: pages scanned until enough match, the budget is spent or the end is reached. */
function readTypesPage(engine: Engine, name: string, from: ReadFrom, types: readonly string[], limits: Limits): StoredPage {
  const backward = from.direction === 'backward';
  const stored: StoredEvent[] = [];
  let bytes = 0;
  let scanned = 0;
  let position: ReadFrom = { ...from, key: undefined, types: undefined };
  for (;;) {
    const page = readPlainPage(engine, name, position, { maxEvents: Math.min(1000, MAX_SCAN_EVENTS - scanned), maxBytes: limits.maxBytes });
    for (const event of page.stored) {
      const next = backward ? event.offset - 1 : event.offset + 1;
      if (matchesFilter({ types }, event.attributes)) {
        if (stored.length >= limits.maxEvents || (stored.length > 0 && bytes + event.payload.length > limits.maxBytes)) {
          return { stored, nextOffset: event.offset, atEnd: false };
        }
        stored.push(event);
        bytes += event.payload.length;
      }
      scanned += 1;
      position = { fromOffset: next, direction: from.direction ?? 'forward' };
    }
    if (page.atEnd || page.stored.length === 0) return { stored, nextOffset: page.nextOffset, atEnd: page.atEnd };
    if (scanned >= MAX_SCAN_EVENTS || stored.length >= limits.maxEvents) return { stored, nextOffset: page.nextOffset, atEnd: false };
  }
}

/**
 * A page of one key's events through the key index: in version order, or newest first.
 *
 * A key's versions whose events are gone (truncation, retention) are a prefix, below `live`:
 * their index entries may still be there (event null) or not (dropped when the index was rebuilt
 * from what the log still holds). A read never counts them against `max_events`: it starts at
 * `live` at the lowest, and a backward read ends there.
 */
function readKeyPage(engine: Engine, name: string, key: string, from: ReadFrom, limits: Limits): StoredPage {
  const backward = from.direction === 'backward';
  const { firstOffset, nextOffset: end } = engine.bounds(name);
  const last = engine.keyVersion(name, key).version;
  const live = firstOffset === 0 ? 0 : firstVersionFrom(engine, name, key, 0, last, firstOffset);
  let version = keyStartVersion(engine, name, key, from, { last, live, firstOffset });
  const stored: StoredEvent[] = [];
  let bytes = 0;
  const page = (atEnd: boolean): StoredPage => ({ stored, nextOffset: end, atEnd, nextVersion: version });
  for (let examined = 0; ; ) {
    if (backward ? version < live : version > last) {
      if (backward) version = live - 1;
      return page(true);
    }
    if (stored.length >= limits.maxEvents || examined >= MAX_SCAN_EVENTS) return page(!backward && isPending(engine, name, key, version, end));
    const size = Math.min(from.types === undefined ? limits.maxEvents - stored.length : KEY_WINDOW, MAX_SCAN_EVENTS - examined);
    const windowStart = version;
    const window = keyWindow(engine, name, key, version, backward, size);
    for (const entry of window.entries) {
      if (entry.version < live) continue;
      if (entry.offset >= end) {
        // Written, not yet visible (its fsync is in flight): forward, nothing further is readable
        // now; backward, the older versions below it are.
        if (!backward) {
          version = entry.version;
          return page(true);
        }
        version = entry.version - 1;
        continue;
      }
      const event = entry.event;
      if (event !== null && (from.types === undefined || matchesFilter({ types: from.types }, event.attributes))) {
        if (stored.length >= limits.maxEvents || (stored.length > 0 && bytes + event.payload.length > limits.maxBytes)) {
          version = entry.version;
          return page(false);
        }
        stored.push(event);
        bytes += event.payload.length;
      }
      version = backward ? entry.version - 1 : entry.version + 1;
    }
    if (window.damaged !== null) {
      // Stop short of a damaged event, as a read by offset does; a read that starts at it fails.
      if (stored.length === 0 && windowStart === version && examined === 0) throw window.damaged.error;
      version = window.damaged.version;
      return page(false);
    }
    // Past the window: every version in it was looked at (one with no entry is gone).
    version = backward ? Math.max(0, windowStart - size + 1) - 1 : Math.min(last, windowStart + size - 1) + 1;
    examined += size;
  }
}

/** A window of a key's events, and the first damaged version in it if one is (its read failed). */
interface KeyWindow {
  entries: ReturnType<Engine['keyEvents']>;
  damaged: { version: number; error: unknown } | null;
}

/**
 * The key's events in the `size` versions from `version` (backward: down from it). When one of
 * them is damaged (CORRUPT_DATA: the lookup reads them together), the window is halved until the
 * first damaged version is found: the events before it, and it. Costs nothing without damage.
 */
function keyWindow(engine: Engine, name: string, key: string, version: number, backward: boolean, size: number): KeyWindow {
  try {
    return { entries: engine.keyEvents(name, key, version, { direction: backward ? 'backward' : 'forward', limit: size }), damaged: null };
  } catch (error) {
    if (!isEventBusError(error, ErrorCodes.CORRUPT_DATA)) throw error;
    if (size <= 1) return { entries: [], damaged: { version, error } };
    const half = Math.floor(size / 2);
    const first = keyWindow(engine, name, key, version, backward, half);
    const next = backward ? version - half : version + half;
    if (first.damaged !== null || next < 0) return first;
    const rest = keyWindow(engine, name, key, next, backward, size - half);
    return { entries: [...first.entries, ...rest.entries], damaged: rest.damaged };
  }
}

/** Versions a filtered (`types`) read by key looks up at once. */
const KEY_WINDOW = 1000;

/** Where a read by key starts: `from_version`, or the key's version at `from_offset`, `from_time` or the end. */
function keyStartVersion(engine: Engine, name: string, key: string, from: ReadFrom, bounds: { last: number; live: number; firstOffset: number }): number {
  const { last, live, firstOffset } = bounds;
  // At or below the oldest stored offset (a plain forward read's default 0): the oldest version left, no search.
  const atOffset = (offset: number) => (offset <= firstOffset ? live : firstVersionFrom(engine, name, key, live, last, offset));
  if (from.direction === 'backward') {
    if (from.fromVersion !== undefined) return Math.min(from.fromVersion, last);
    if (from.fromEnd === true) return last;
    // The newest version at or below the offset (at or before the time): one below the first above it.
    if (from.fromTimeMs !== undefined) return atOffset(engine.offsetAtTime(name, from.fromTimeMs + 1)) - 1;
    return atOffset(from.fromOffset + 1) - 1;
  }
  let version: number;
  if (from.fromVersion !== undefined) version = from.fromVersion;
  else if (from.fromEnd === true) version = last + 1;
  else if (from.fromTimeMs !== undefined) version = atOffset(engine.offsetAtTime(name, from.fromTimeMs));
  else version = atOffset(from.fromOffset);
  return Math.min(Math.max(version, live), last + 1);
}

/**
 * The first version of `key` in `lo`..`hi` whose event is at or after `offset` (hi + 1 if none),
 * by binary search over the key index (about log2(hi - lo) lookups). A version with no entry is
 * gone (below the stream's first offset), so the answer is never one.
 */
function firstVersionFrom(engine: Engine, name: string, key: string, lo: number, hi: number, offset: number): number {
  const atOrAfter = (version: number) => {
    const entry = engine.keyOffsets(name, key, version, { limit: 1 })[0];
    return entry !== undefined && entry.version === version && entry.offset >= offset;
  };
  // The usual answer first (a key written after the truncation: its first version), in one lookup.
  if (lo > hi || atOrAfter(lo)) return lo;
  let [low, high] = [lo + 1, hi + 1];
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (atOrAfter(mid)) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** Whether `version` of `key` is written but not yet visible (its fsync is in flight). */
function isPending(engine: Engine, name: string, key: string, version: number, end: number): boolean {
  let entry: { version: number; offset: number } | undefined;
  try {
    entry = engine.keyOffsets(name, key, version, { limit: 1 })[0];
  } catch (error) {
    // The next version is damaged (its record, or the rest of its batch): visible, not pending.
    // The page in hand stops short of it; reading from it reports the damage.
    if (isEventBusError(error, ErrorCodes.CORRUPT_DATA)) return false;
    throw error;
  }
  return entry !== undefined && entry.version === version && entry.offset >= end;
}
