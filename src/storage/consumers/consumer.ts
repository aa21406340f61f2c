/**
 * One consumer of a stream, in memory: the model JetStream consumers and Redis consumer groups
 * use.
 *
 * ```
 *   acknowledged or dead-lettered | outstanding (entries) .............. | never delivered
 *  ------------------------------+-------------------------------------+-------------------->
 *                            ackFloor                                 cursor          visible
 * ```
 *
 * - `cursor`: the next offset never yet delivered. `process` hands out events from here.
 * - `entries`: every delivered event not yet acknowledged, by offset, with its delivery count,
 *   state and acknowledgement deadline. Events are delivered in offset order, so the map's
 *   insertion order is offset order and its first key is the ack floor. Its size is bounded by
 *   `maxPending`: memory does not grow with the stream's length.
 * - An offset in [ackFloor, cursor) that is not in `entries` is acknowledged (or dead-lettered).
 * - `entries` is changed only here, so that the count of entries marked 0 stays exact: with none
 *   (the usual case) `process` learns so without walking every outstanding entry.
 *
 * Every change is made by one of the `apply*` methods, which the journal replays in the same
 * order after a restart (consumer-journal.ts), so the in-memory state and the durable state
 * cannot drift apart.
 */
import { assert } from '../../errors.js';
import type { EventStatus } from './consumer-types.js';

/** What is outstanding for a delivered event. */
export const EntryStates = {
  /** Delivered, waiting for a mark; retried once the deadline passes. */
  PENDING: 0,
  /** Marked 2: `retry` delivers it. */
  RETRY: 2,
  /** Marked 0: `process` delivers it again. */
  REDELIVER: 3,
} as const;

export type EntryState = (typeof EntryStates)[keyof typeof EntryStates];

export interface Entry {
  deliveries: number;
  state: EntryState;
  /** Wall-clock ms after which a PENDING entry is due for retry. */
  deadlineMs: number;
  /** Set while the entry is being moved to the dead-letter stream (not journaled). */
  deadLettering?: boolean;
  /**
   * Set when `retry` delivered it: it keeps status 2 until it is marked (the original never
   * changed a status on retry), though it is not due again before its deadline. Not journaled:
   * after a restart every outstanding delivery is due, and so shows status 2, anyway.
   */
  retried?: boolean;
}

export class Consumer {
  cursor: number;
  deadLettered = 0;
  /** Why the last move to the dead-letter stream failed; null when it did not (ConsumerStats). */
  deadLetterFailure: { code: string; reason: string } | null = null;
  /** Outstanding deliveries by offset. Read it freely; change it only through this class. */
  readonly entries = new Map<number, Entry>();
  /** Entries in state REDELIVER. */
  private redeliverCount = 0;

  constructor(readonly id: number, readonly name: string, readonly createdMs: number, cursor: number) {
    this.cursor = cursor;
  }

  /** Every offset below this is acknowledged or dead-lettered. */
  get ackFloor(): number {
    for (const offset of this.entries.keys()) return offset;
    return this.cursor;
  }

  /** Events after the cursor, the consumer's lag (with a filter, those it will pass over too). */
  lag(visibleOffset: number): number {
    return Math.max(0, visibleOffset - this.cursor);
  }

  // ------------------------------------------------------------------ selection (no changes)

  /** Offsets marked 0, in offset order, at most `max`. */
  redeliveries(max: number): number[] {
    const out: number[] = [];
    if (max > 0) this.forEachDue('redeliver', 0, (offset) => out.push(offset) < max);
    return out;
  }

  /**
   * Visits the outstanding events due for `kind`, in offset order, until `visit` returns false:
   * `redeliver`, those marked 0 (for process); `retry`, those marked 2 or pending past their
   * deadline (for retry). Events being moved to the dead-letter stream are not due.
   */
  forEachDue(kind: 'redeliver' | 'retry', nowMs: number, visit: (offset: number, entry: Entry) => boolean): void {
    if (kind === 'redeliver' && this.redeliverCount === 0) return;
    for (const [offset, entry] of this.entries) {
      if (entry.deadLettering) continue;
      const due = kind === 'redeliver'
        ? entry.state === EntryStates.REDELIVER
        : entry.state === EntryStates.RETRY || (entry.state === EntryStates.PENDING && entry.deadlineMs <= nowMs);
      if (due && !visit(offset, entry)) return;
    }
  }

  /** The status of `offset` for this consumer, as the protocol numbers it (2: retry). */
  statusOf(offset: number, nowMs: number): { status: EventStatus; deliveryCount: number } {
    const entry = this.entries.get(offset);
    if (entry !== undefined) return { status: showsRetry(entry, nowMs) ? 2 : 0, deliveryCount: entry.deliveries };
    if (offset < this.cursor) return { status: 1, deliveryCount: 0 };
    return { status: 0, deliveryCount: 0 };
  }

  /** Counts for stats: pending (status 0) and retry (status 2). */
  counts(nowMs: number): { pending: number; retry: number } {
    let pending = 0;
    let retry = 0;
    for (const entry of this.entries.values()) {
      if (showsRetry(entry, nowMs)) retry += 1;
      else pending += 1;
    }
    return { pending, retry };
  }

  // ------------------------------------------------------------------ changes (journaled)

  /**
   * Delivers [from, from + count). `from` is normally the cursor; a larger `from` (a journal
   * record lost to damage) leaves the skipped offsets outstanding and due, so nothing is lost.
   */
  applyDeliver(from: number, count: number, deadlineMs: number, autoAck: boolean): void {
    for (let offset = this.cursor; offset < from; offset++) {
      this.entries.set(offset, { deliveries: 1, state: EntryStates.PENDING, deadlineMs: 0 });
    }
    if (!autoAck) {
      for (let offset = Math.max(from, this.cursor); offset < from + count; offset++) {
        this.entries.set(offset, { deliveries: 1, state: EntryStates.PENDING, deadlineMs });
      }
    }
    if (from + count > this.cursor) this.cursor = from + count;
  }

  /** Delivers outstanding events again (process after a mark 0, or `byRetry`). */
  applyRedeliver(offsets: readonly number[], deadlineMs: number, autoAck: boolean, byRetry = false): void {
    for (const offset of offsets) {
      const entry = this.entries.get(offset);
      if (entry === undefined) continue;
      if (autoAck) {
        this.remove(offset, entry);
        continue;
      }
      entry.deliveries += 1;
      this.setState(entry, EntryStates.PENDING);
      entry.deadlineMs = deadlineMs;
      entry.retried = byRetry;
    }
  }

  /** Marks outstanding events: 1 acknowledges, 2 retries, 0 redelivers. */
  applyMark(offsets: readonly number[], status: EventStatus): void {
    for (const offset of offsets) {
      const entry = this.entries.get(offset);
      if (entry === undefined) continue;
      if (status === 1) this.remove(offset, entry);
      else this.setState(entry, status === 2 ? EntryStates.RETRY : EntryStates.REDELIVER);
      entry.retried = false;
    }
  }

  /**
   * Removes events moved to the dead-letter stream. Each counts, also one acknowledged while its
   * record was being written: `deadLettered` is the number of records the consumer's moves left.
   */
  applyDeadLetter(offsets: readonly number[]): void {
    for (const offset of offsets) {
      const entry = this.entries.get(offset);
      if (entry !== undefined) this.remove(offset, entry);
      this.deadLettered += 1;
    }
  }

  /** Restores an entry from a compacted state record. */
  restoreEntry(offset: number, entry: Entry): void {
    assert(offset < this.cursor, 'restored entry beyond the cursor');
    const replaced = this.entries.get(offset);
    if (replaced !== undefined) this.remove(offset, replaced);
    this.entries.set(offset, entry);
    if (entry.state === EntryStates.REDELIVER) this.redeliverCount += 1;
  }

  /**
   * Forgets what retention removed: entries below `firstOffset` are gone, and the cursor moves
   * up to it. Not journaled: it is recomputed from the log on every open.
   */
  clampTo(firstOffset: number): void {
    if (this.cursor < firstOffset) this.cursor = firstOffset;
    for (const [offset, entry] of this.entries) {
      if (offset >= firstOffset) break;
      this.remove(offset, entry);
    }
  }

  /**
   * Moves the cursor back to `nextOffset`, forgetting deliveries at or past it: the log lost
   * unsynced events (fsync policy interval or never) that had been delivered.
   */
  cutTo(nextOffset: number): void {
    for (const [offset, entry] of [...this.entries]) if (offset >= nextOffset) this.remove(offset, entry);
    if (this.cursor > nextOffset) this.cursor = nextOffset;
  }

  private remove(offset: number, entry: Entry): void {
    this.entries.delete(offset);
    if (entry.state === EntryStates.REDELIVER) this.redeliverCount -= 1;
  }

  private setState(entry: Entry, state: EntryState): void {
    if (entry.state === EntryStates.REDELIVER) this.redeliverCount -= 1;
    if (state === EntryStates.REDELIVER) this.redeliverCount += 1;
    entry.state = state;
  }

  /** After a restart no delivery lease survives: every pending event is due for retry at once. */
  expireLeases(): void {
    for (const entry of this.entries.values()) if (entry.state === EntryStates.PENDING) entry.deadlineMs = 0;
  }
}

/** True when an outstanding event shows status 2: marked 2, past its deadline, or delivered by retry since its last mark. */
function showsRetry(entry: Entry, nowMs: number): boolean {
  return entry.state === EntryStates.RETRY || (entry.state === EntryStates.PENDING && (entry.deadlineMs <= nowMs || entry.retried === true));
}
