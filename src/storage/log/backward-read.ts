/**
 * Reading a log newest first (`direction: "backward"`), over its forward read: windows of
 * consecutive records are read forward from below the position and handed out in reverse, so a
 * backward page costs about what a forward page does. The window follows the events' sizes, so
 * that a page of large events does not read far more than its byte limit. The forward read
 * returns an event only if the rest of its batch (up to the batch end) is intact, so the newest
 * event of a page, read at the top of a window, is checked against its batch's later records too.
 */
import { ErrorCodes, isEventBusError } from '../../errors.js';
import type { StoredEvent } from './record-reader.js';

/** A forward read: events from `fromOffset` on, at most `maxEvents` and about `maxBytes`. */
export type ForwardRead = (fromOffset: number, maxEvents: number, maxBytes: number) => StoredEvent[];

/** Most events read forward at once for a backward page. */
const MAX_WINDOW_EVENTS = 1024;
const FIRST_WINDOW_EVENTS = 16;

/**
 * Events from `fromOffset` (included) down to `firstOffset`, newest first: at most `maxEvents`
 * and, beyond the first, at most `maxBytes` of payload. Throws CORRUPT_DATA when the first
 * event due is damaged; stops before a later damaged one.
 */
export function readBackward(read: ForwardRead, firstOffset: number, fromOffset: number, maxEvents: number, maxBytes: number): StoredEvent[] {
  const out: StoredEvent[] = [];
  let bytes = 0;
  let top = fromOffset;
  let window = Math.min(FIRST_WINDOW_EVENTS, maxEvents);
  while (out.length < maxEvents && top >= firstOffset) {
    const want = Math.max(1, Math.min(window, maxEvents - out.length, top - firstOffset + 1));
    const start = top - want + 1;
    let chunk = readWindow(read, start, want, out.length > 0);
    if (chunk === null) return out; // damage below what is already in hand
    if (chunk.length < want || chunk[chunk.length - 1]!.offset !== top) {
      // Damage inside the window (or in the batch of its top event): the events above it.
      chunk = readTopRun(read, start, top, out.length > 0);
      if (chunk.length === 0) return out;
    }
    for (let i = chunk.length - 1; i >= 0; i--) {
      const event = chunk[i]!;
      if (out.length > 0 && bytes + event.payload.length > maxBytes) return out;
      out.push(event);
      bytes += event.payload.length;
      if (out.length >= maxEvents) return out;
    }
    if (chunk[0]!.offset !== start) return out; // stopped at damage
    top = start - 1;
    const average = Math.max(1, bytes / out.length);
    window = Math.max(1, Math.min(MAX_WINDOW_EVENTS, Math.floor((maxBytes - bytes) / average)));
  }
  return out;
}

/** A window read forward; null when it is damaged and events are already in hand. */
function readWindow(read: ForwardRead, start: number, count: number, haveEvents: boolean): StoredEvent[] | null {
  try {
    return read(start, count, Number.MAX_SAFE_INTEGER);
  } catch (error) {
    if (!isEventBusError(error, ErrorCodes.CORRUPT_DATA)) throw error;
    if (count > 1) return []; // readTopRun finds where
    if (haveEvents) return null;
    throw error;
  }
}

/**
 * The events from `top` down to the first that cannot be read (exclusive), in offset order, no
 * lower than `start`. Whether an event reads depends on it and the rest of its batch only (its
 * records up to the batch end), so if the run from an offset up to `top` reads whole, so does the
 * run from any offset above it: the lowest such offset is found by bisection, in a few forward
 * reads, rather than by reading one event at a time (each read of an event inside a batch checks
 * the batch up to its end).
 */
function readTopRun(read: ForwardRead, start: number, top: number, haveEvents: boolean): StoredEvent[] {
  const whole = (from: number): StoredEvent[] | null => {
    let events: StoredEvent[];
    try {
      events = read(from, top - from + 1, Number.MAX_SAFE_INTEGER);
    } catch (error) {
      if (!isEventBusError(error, ErrorCodes.CORRUPT_DATA)) throw error;
      return null;
    }
    return events.length === top - from + 1 && events[0]!.offset === from ? events : null;
  };
  let best: StoredEvent[] | null;
  try {
    best = read(top, 1, 0);
  } catch (error) {
    // `top` itself cannot be read: the page ends above it, or, when it would be the first event
    // of the page, the read fails.
    if (haveEvents && isEventBusError(error, ErrorCodes.CORRUPT_DATA)) return [];
    throw error;
  }
  if (best.length !== 1 || best[0]!.offset !== top) return [];
  // The run from `high` reads whole; those from below `low` do not.
  let low = start;
  let high = top;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const events = whole(middle);
    if (events === null) {
      low = middle + 1;
    } else {
      best = events;
      high = middle;
    }
  }
  return best;
}
