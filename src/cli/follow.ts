/**
 * How `eventbus read --follow` waits for new events. The protocol has no way yet to wait on a
 * stream without a consumer (process_events long-polls, but creates a durable consumer), so
 * following asks get_stream_events again after {@link FOLLOW_POLL_MS} whenever a page comes back
 * empty, and at once while pages are full: a new event shows within that time, at the cost of one
 * small request per interval while the stream is idle.
 *
 * When the protocol has `subscribe` (event sourcing, part 2), `follow` becomes a subscription
 * that pushes events from an offset (its caller, read-command.ts, passes get_stream_events as
 * `nextPage` and prints what comes).
 */
import type { RawResponse } from '../client/types.js';

/** How long a follower waits after an empty page. */
export const FOLLOW_POLL_MS = 200;

export interface FollowOptions {
  fromOffset: number;
  /** Resolves when following should stop (Ctrl-C, SIGTERM, --limit reached). */
  stopped: Promise<void>;
  isStopped(): boolean;
}

/** Pages of events from `fromOffset` on, forever (until stopped); `onPage` returns where to go on from. */
export async function follow(nextPage: (fromOffset: number) => Promise<RawResponse>, options: FollowOptions, onPage: (page: RawResponse) => Promise<number>): Promise<void> {
  let offset = options.fromOffset;
  while (!options.isStopped()) {
    const page = await nextPage(offset);
    const next = await onPage(page);
    if (next === offset) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([options.stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, FOLLOW_POLL_MS)))]);
      clearTimeout(timer);
    }
    offset = next;
  }
}
