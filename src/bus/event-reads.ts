/**
 * What `get_stream_events` reads: from an offset, from the end or from a time, forward or
 * backward, and where the next page starts (`next_offset`) and whether this one reached the end
 * (`at_end`). Backward pages go from newest to oldest: `next_offset` is then the offset below the
 * oldest event returned, and `at_end` says there is nothing older.
 */
import type { Engine, StoredEvent } from '../storage/index.js';

/** Where a read starts and which way it goes. */
export interface ReadFrom {
  fromOffset: number;
  /** Start at the stream's end: forward, what comes next (nothing yet); backward, the newest. */
  fromEnd?: boolean;
  /** Forward: the first event at or after this time; backward: the last one at or before it. */
  fromTimeMs?: number | undefined;
  direction?: 'forward' | 'backward';
}

/** Stored events of a page, and where the next page starts. */
export interface StoredPage {
  stored: StoredEvent[];
  nextOffset: number;
  atEnd: boolean;
}

/** Reads one page of `name` as `from` says, within `limits`. */
export function readStoredPage(engine: Engine, name: string, from: ReadFrom, limits: { maxEvents: number; maxBytes: number }): StoredPage {
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
