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
import { subscriptionEventsResponse, type Response } from './response-bytes.js';
import { encodeFailure, encodeSuccess } from './response.js';

/**
 * Lines of event pages by the pages' arrays, as bytes: subscribers of a stream share pages
 * (bus/subscription.ts), and so the page's encoding, made once (not once per subscriber).
 */
const lines = new WeakMap<readonly EventView[], Buffer>();

/** What ends a subscriber's line: `,"request_id":<json>}` and `\n`, or null without an id. */
export function requestTail(requestIdJson: string | undefined): Buffer | null {
  return requestIdJson === undefined ? null : Buffer.from(`,"request_id":${requestIdJson}}\n`, 'utf8');
}

/**
 * The line of `events` for a subscriber whose request-id ending is `tail` (requestTail), as the
 * responses to write in order: the shared line, or (with an id) its bytes before the closing
 * `}\n` then the tail. Nothing is copied or encoded per subscriber.
 */
export function subscriptionEventsLine(events: readonly EventView[], nextOffset: number, tail: Buffer | null): Response[] {
  let line = lines.get(events);
  if (line === undefined) {
    line = subscriptionEventsResponse(events, nextOffset);
    lines.set(events, line);
  }
  return tail === null ? [line] : [line.subarray(0, line.length - 2), tail];
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
