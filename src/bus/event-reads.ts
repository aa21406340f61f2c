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
import { checkFilter, matchesFilter, type Engine, type StoredEvent } from '../storage/index.js';

/** Most events a filtered (`types`) read looks at in one request. */
export const MAX_SCAN_EVENTS = 10_000;

/** Where a read starts and which way it goes. */
export interface ReadFrom {
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
export function readStoredPage(engine: Engine, name: string, from: ReadFrom, limits: Limits): StoredPage {
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
    const nextOffset = stored.length > 0 ? stored[stored.length - 1]!.offset - 1 : Math.min(top, firstOffset - 1);
    return { stored, nextOffset, atEnd: nextOffset < firstOffset };
  }
  let start: number;
  if (from.fromEnd === true) start = end;
  else if (from.fromTimeMs !== undefined) start = engine.offsetAtTime(name, from.fromTimeMs);
  else start = Math.max(from.fromOffset, firstOffset);
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

/** A page of one key's events through the key index: in version order, or newest first. */
function readKeyPage(engine: Engine, name: string, key: string, from: ReadFrom, limits: Limits): StoredPage {
  const backward = from.direction === 'backward';
  const end = engine.bounds(name).nextOffset;
  const last = engine.keyVersion(name, key).version;
  const start = backward ? Math.min(from.fromVersion ?? last, last) : from.fromVersion ?? 0;
  if (start < 0) return { stored: [], nextOffset: end, atEnd: true, nextVersion: -1 };
  // One more than asked for, to know whether the page ends the key.
  const entries = engine.keyEvents(name, key, start, { direction: backward ? 'backward' : 'forward', limit: limits.maxEvents + 1 });
  const stored: StoredEvent[] = [];
  let bytes = 0;
  let nextVersion = start;
  let pending = false;
  for (const entry of entries) {
    if (entry.offset >= end) {
      // Written, not yet visible (its fsync is in flight): forward, nothing further is readable
      // now; backward, the older versions below it are.
      if (!backward) {
        pending = true;
        break;
      }
      nextVersion = entry.version - 1;
      continue;
    }
    // Read once by the key index (its key checked there); null: removed by retention or truncation.
    const event = entry.offset < engine.bounds(name).firstOffset ? null : entry.event;
    if (event === null) {
      nextVersion = backward ? entry.version - 1 : entry.version + 1; // truncated away
      continue;
    }
    const matches = from.types === undefined || matchesFilter({ types: from.types }, event.attributes);
    if (matches && (stored.length >= limits.maxEvents || (stored.length > 0 && bytes + event.payload.length > limits.maxBytes))) {
      return { stored, nextOffset: end, atEnd: false, nextVersion };
    }
    if (matches) {
      stored.push(event);
      bytes += event.payload.length;
    }
    nextVersion = backward ? entry.version - 1 : entry.version + 1;
  }
  const atEnd = pending || entries.length <= limits.maxEvents || (backward && nextVersion < 0);
  return { stored, nextOffset: end, atEnd, nextVersion };
}
