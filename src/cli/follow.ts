/**
 * How `eventbus read --follow` follows a stream: a catch-up subscription (`subscribe`, the
 * client's subscription.ts) from the offset reached, which sends what is stored and then every
 * new event as it is written, without polling. If the server ends the subscription on its side
 * (SLOW_CONSUMER when the output is not read fast enough, say a paused terminal; SHUTTING_DOWN),
 * following resubscribes from the offset after the last event printed, so nothing is lost or
 * printed twice.
 */
import { ErrorCodes, isEventBusError } from '../errors.js';
import type { Subscription } from '../client/subscription.js';
import type { RawResponse } from '../client/types.js';

/** Resubscribing after the server ended a subscription waits this long (a restarting server). */
export const RESUBSCRIBE_MS = 200;

export interface FollowOptions {
  fromOffset: number;
  /** Resolves when following should stop (Ctrl-C, SIGTERM, --limit reached). */
  stopped: Promise<void>;
  isStopped(): boolean;
}

/**
 * Prints events from `fromOffset` on, forever (until stopped): `subscribe` opens a subscription
 * from an offset; `onPage` prints an events line and returns where the next one starts.
 */
export async function follow(subscribe: (fromOffset: number) => Promise<Subscription>, options: FollowOptions, onPage: (page: RawResponse) => Promise<number>): Promise<void> {
  let offset = options.fromOffset;
  while (!options.isStopped()) {
    const subscription = await subscribe(offset);
    const stop = () => subscription.close();
    void options.stopped.then(stop);
    try {
      for await (const line of subscription.lines()) {
        if ((line.response.body as { events?: unknown[] }).events === undefined) continue; // caught_up
        offset = await onPage(line);
        if (options.isStopped()) break;
      }
      return;
    } catch (error) {
      if (options.isStopped()) return;
      if (!isEventBusError(error, ErrorCodes.SLOW_CONSUMER) && !isEventBusError(error, ErrorCodes.SHUTTING_DOWN)) throw error;
      await new Promise((resolve) => setTimeout(resolve, RESUBSCRIBE_MS));
    } finally {
      subscription.close();
    }
  }
}
