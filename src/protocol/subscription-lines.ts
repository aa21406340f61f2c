/**
 * The lines of a subscription (`subscribe`), each carrying the subscribe request's `request_id`:
 *
 * ```
 * {"operation":"subscribe","status":true,"body":{"events":[…],"next_offset":N}}     history, then live
 * {"operation":"subscribe","status":true,"body":{"caught_up":true,"next_offset":N}}  once, after the history
 * {"operation":"subscribe","status":false,"context":{…,"last_offset":L,"next_offset":N},"reason":…,"code":…}  the end (SLOW_CONSUMER, STREAM_NOT_FOUND, SHUTTING_DOWN, …)
 * {"operation":"unsubscribe","status":true,"body":{"next_offset":N}}                  the answer to unsubscribe, last
 * ```
 */
import type { EventView } from '../bus/results.js';
import { encodeFailure, encodeSuccess } from './response.js';
import { lineTail, subscriptionEventsHead, TailedLine } from './response-bytes.js';

/** Event lines up to their request id, by the pages' arrays: subscribers of a stream share pages (bus/subscription.ts), and their encoding. */
const heads = new WeakMap<readonly EventView[], Buffer>();
/**
 * Whole event lines without a request id (what the project's client sends), by the pages'
 * arrays: every such subscriber of a page is sent this one buffer by reference, one socket write
 * each. A head and a tail were a vectored write per subscriber per page (an array and a request
 * object each time: with 16 subscribers, most of the server's garbage at 10,000 events/s).
 */
const wholeLines = new WeakMap<readonly EventView[], Buffer>();
const NO_ID_TAIL = lineTail(undefined);

function headOf(events: readonly EventView[], nextOffset: number): Buffer {
  let head = heads.get(events);
  if (head === undefined) {
    head = subscriptionEventsHead(events, nextOffset);
    heads.set(events, head);
  }
  return head;
}

/**
 * A line of events (bytes, as every list of events: response-bytes.ts), written when the
 * connection flushes. `tail`: the subscription's {@link lineTail}, or null when its `subscribe`
 * had no request id (the line is then shared whole). `nextOffset` is the same for every call with
 * the same array (the offset after the page).
 */
export function subscriptionEventsLine(events: readonly EventView[], nextOffset: number, tail: Buffer): TailedLine;
export function subscriptionEventsLine(events: readonly EventView[], nextOffset: number, tail: null): Buffer;
export function subscriptionEventsLine(events: readonly EventView[], nextOffset: number, tail: Buffer | null): TailedLine | Buffer;
export function subscriptionEventsLine(events: readonly EventView[], nextOffset: number, tail: Buffer | null): TailedLine | Buffer {
  if (tail !== null) return new TailedLine(headOf(events, nextOffset), tail);
  let line = wholeLines.get(events);
  if (line === undefined) {
    line = Buffer.concat([headOf(events, nextOffset), NO_ID_TAIL]);
    wholeLines.set(events, line);
  }
  return line;
}

export function caughtUpLine(nextOffset: number, requestIdJson: string | undefined): string {
  return encodeSuccess('subscribe', `{"caught_up":true,"next_offset":${nextOffset}}`, requestIdJson);
}

/** The subscription ended on its own, or could not start: a failure of `subscribe`. */
export function subscriptionEndLine(error: unknown, requestIdJson: string | undefined): string {
  return encodeFailure('subscribe', error, requestIdJson);
}

/** The answer to `unsubscribe`: where the subscription stopped (the next event it would have sent). */
export function unsubscribedLine(nextOffset: number, requestIdJson: string | undefined): string {
  return encodeSuccess('unsubscribe', `{"next_offset":${nextOffset}}`, requestIdJson);
}
