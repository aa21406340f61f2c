/**
 * Reading a log newest first (`direction: "backward"`), over its forward read: windows of
 * consecutive records are read forward from below the position and handed out in reverse, so a
 * backward page costs about what a forward page does. The window follows the events' sizes, so
 * that a page of large events does not read far more than its byte limit.
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
      // Damage inside the window: take events one at a time from the top, down to it.
      chunk = readSingles(read, start, top, out.length > 0);
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
    if (count > 1) return []; // the singles find where
    if (haveEvents) return null;
    throw error;
  }
}

/** Events from `top` down to the first damaged one (exclusive), in offset order. */
function readSingles(read: ForwardRead, start: number, top: number, haveEvents: boolean): StoredEvent[] {
  const reversed: StoredEvent[] = [];
  for (let offset = top; offset >= start; offset--) {
    let event: StoredEvent | undefined;
    try {
      event = read(offset, 1, 0)[0];
    } catch (error) {
      if (!isEventBusError(error, ErrorCodes.CORRUPT_DATA)) throw error;
      if (haveEvents || reversed.length > 0) break;
      throw error;
    }
    if (event === undefined || event.offset !== offset) break;
    reversed.push(event);
  }
  return reversed.reverse();
}
