/**
 * The duplicate window of a store: the client message ids (`msg_id`) appended recently, with the
 * offset each one got, so that a batch sent again (a client retrying after a timeout or a lost
 * connection) is recognised and answered with the original events instead of being appended
 * twice (event-append.ts).
 *
 * An id stays in the window for `windowMs` after its append, and the window holds at most
 * `maxEntries` ids (the oldest leave first): memory is bounded, at roughly 150 bytes an id. After
 * a restart a stream's part of the window is rebuilt from its log ({@link recentMessageIds}) on
 * the first append with message ids to it, so it survives restarts and an open reads nothing
 * more than before. Once an id has left the window, a batch with it is appended again, unless the
 * append names an expected version (an integer, -1 or `no_stream`) that the key has moved past,
 * whose check is exact without the window.
 */
import { ErrorCodes, isEventBusError } from '../errors.js';
import type { StreamLog } from './log/stream-log.js';

/** Where an id was appended, and when. */
interface Seen {
  offset: number;
  timeMs: number;
}

export class DuplicateWindow {
  /** Insertion order is append order (roughly: a stream rebuilt late adds older ids), oldest first. */
  private readonly seen = new Map<string, Seen>();
  /** Streams (by number, never reused) whose recent ids are in the window. */
  private readonly loaded = new Set<number>();

  constructor(readonly windowMs: number, readonly maxEntries: number) {}

  get size(): number {
    return this.seen.size;
  }

  /** The offset `msgId` got in stream `stream` if it is in the window. */
  get(stream: number, msgId: string, nowMs: number): number | undefined {
    this.expire(nowMs);
    const seen = this.seen.get(windowKey(stream, msgId));
    return seen !== undefined && seen.timeMs >= nowMs - this.windowMs ? seen.offset : undefined;
  }

  /**
   * Puts the recent ids of stream `stream` (its log `log`) in the window, once per stream and
   * process: what it held before a restart.
   */
  load(stream: number, log: StreamLog, nowMs: number): void {
    if (this.loaded.has(stream)) return;
    this.loaded.add(stream);
    if (this.maxEntries === 0 || this.windowMs === 0) return;
    for (const seen of recentMessageIds(log, nowMs - this.windowMs, this.maxEntries)) this.add(stream, seen.msgId, seen.offset, seen.timeMs);
  }

  /** Records that `msgId` was appended to `stream` at `offset` at `timeMs`. */
  add(stream: number, msgId: string, offset: number, timeMs: number): void {
    if (this.maxEntries === 0 || this.windowMs === 0) return;
    const key = windowKey(stream, msgId);
    this.seen.delete(key); // appended again after it left the window (not yet dropped): it moves to the end
    this.seen.set(key, { offset, timeMs });
    if (this.seen.size > this.maxEntries) this.seen.delete(this.seen.keys().next().value as string);
  }

  /** Drops the ids older than the window. */
  private expire(nowMs: number): void {
    const cutoff = nowMs - this.windowMs;
    for (const [key, seen] of this.seen) {
      if (seen.timeMs >= cutoff) return;
      this.seen.delete(key);
    }
  }
}

function windowKey(stream: number, msgId: string): string {
  return `${stream}\u0000${msgId}`;
}

/** A message id found in the log. */
export interface RecentMessageId {
  msgId: string;
  offset: number;
  timeMs: number;
}

/**
 * The message ids of the events of `log` appended at or after `sinceMs`, among its last
 * `maxRecords` events, oldest first: what the window held for the stream before a restart. The
 * first event in time is found by a binary search over offsets (timestamps never decrease within
 * a stream), so only the events in the window are read.
 */
export function recentMessageIds(log: StreamLog, sinceMs: number, maxRecords: number): RecentMessageId[] {
  const end = log.visibleOffset;
  let low = Math.max(log.fieldsFrom, end - maxRecords);
  let high = end;
  // The first offset whose timestamp is at or after sinceMs.
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    const event = readOne(log, middle);
    if (event === null) {
      low = middle + 1;
      continue;
    }
    if (event < sinceMs) low = middle + 1;
    else high = middle;
  }
  const out: RecentMessageId[] = [];
  for (let next = low; next < end;) {
    let events;
    try {
      events = log.read(next, 1000, 4 * 1024 * 1024);
    } catch (error) {
      const damage = isEventBusError(error, ErrorCodes.CORRUPT_DATA) ? log.damageAt(next) : undefined;
      if (damage === undefined) throw error;
      next = Math.max(next + 1, damage.lastOffset + 1);
      continue;
    }
    if (events.length === 0) break;
    for (const event of events) {
      const msgId = event.attributes?.msgId;
      if (msgId !== undefined && event.timestampMs >= sinceMs) out.push({ msgId, offset: event.offset, timeMs: event.timestampMs });
    }
    next = events[events.length - 1]!.offset + 1;
  }
  return out;
}

/** The timestamp of the event at `offset`, or null when it cannot be read (damaged). */
function readOne(log: StreamLog, offset: number): number | null {
  try {
    return log.read(offset, 1, 0)[0]?.timestampMs ?? null;
  } catch (error) {
    if (isEventBusError(error, ErrorCodes.CORRUPT_DATA)) return null;
    throw error;
  }
}
