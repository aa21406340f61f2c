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
import { subscriptionEventsHead, TailedLine } from './response-bytes.js';

/** Event lines up to their request id, by the pages' arrays: subscribers of a stream share pages (bus/subscription.ts), and their encoding. */
const heads = new WeakMap<readonly EventView[], Buffer>();

/** A line of events (bytes, as every list of events: response-bytes.ts), written when the connection flushes. */
/** `tail`: the subscription's {@link lineTail}. */
export function subscriptionEventsLine(events: readonly EventView[], nextOffset: number, tail: Buffer): TailedLine {
  let head = heads.get(events);
  if (head === undefined) {
    head = subscriptionEventsHead(events, nextOffset);
    heads.set(events, head);
  }
  return new TailedLine(head, tail);
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
