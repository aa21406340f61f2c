/**
 * How `eventbus read --follow` follows a stream: a catch-up subscription (`subscribe`, the
 * client's subscription.ts) from the offset reached, which sends what is stored and then every
 * new event as it is written, without polling. If the server ends the subscription on its side
 * (SLOW_CONSUMER when the output is not read fast enough, say a paused terminal; SHUTTING_DOWN),
 * following resubscribes from the offset after the last event printed, so nothing is lost or
 * printed twice; likewise when the connection drops (a server killed or restarting), waiting for
 * the server to come back for up to a minute.
 */
import { ErrorCodes, isEventBusError } from '../errors.js';
import type { Subscription } from '../client/subscription.js';
import type { RawResponse } from '../client/types.js';
import { unlessStopped } from './stop-signal.js';

/** Resubscribing after the server ended a subscription waits this long at first (a restarting server). */
export const RESUBSCRIBE_MS = 200;
/** …and then twice as long each time it cannot connect, up to this. */
export const RESUBSCRIBE_MAX_MS = 2_000;
/** A server gone for longer than this (not restarting) ends following (read and consume) with the connection error. */
export const RECONNECT_WINDOW_MS = 60_000;

export interface FollowOptions {
  fromOffset: number;
  /** Resolves when following should stop (Ctrl-C, SIGTERM, --limit reached). */
  stopped: Promise<void>;
  isStopped(): boolean;
}

/** Errors after which following subscribes again (and `consume --follow` reconnects): the server ended it, or went away (a restart). */
export function resumable(error: unknown): boolean {
  return isEventBusError(error, ErrorCodes.SLOW_CONSUMER) || isEventBusError(error, ErrorCodes.SHUTTING_DOWN) || isEventBusError(error, ErrorCodes.CONNECTION_ERROR);
}

/**
 * Prints events from `fromOffset` on, forever (until stopped): `subscribe` opens a subscription
 * from an offset; `onPage` prints an events line and returns where the next one starts. The first
 * subscribe's failure is reported at once (no server there); once following, a server that ends
 * the subscription or goes away is subscribed to again, waiting for it to come back for up to
 * {@link RECONNECT_WINDOW_MS}.
 */
export async function follow(subscribe: (fromOffset: number) => Promise<Subscription>, options: FollowOptions, onPage: (page: RawResponse) => Promise<number>): Promise<void> {
  let offset = options.fromOffset;
  let lostAtMs: number | null = null;
  let waitMs = RESUBSCRIBE_MS;
  // One watcher of `stopped` for the whole follow: it closes the subscription of the moment and
  // ends a pause early (Ctrl-C while waiting for a server).
  let current: Subscription | null = null;
  let endPause: (() => void) | null = null;
  void options.stopped.then(() => {
    current?.close();
    endPause?.();
  });
  const pause = (ms: number) => new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    endPause = () => {
      clearTimeout(timer);
      resolve();
    };
  }).finally(() => (endPause = null));
  while (!options.isStopped()) {
    let subscription: Subscription;
    try {
      // Stopped while the subscription is being opened (a server slow or silent to answer):
      // stop at once; a subscription opened later is closed.
      const opened = await unlessStopped(subscribe(offset), options, (late) => late.close());
      if (opened === null) return;
      subscription = opened;
    } catch (error) {
      // subscribe waits for the server's first line, so a server still stopping refuses here too.
      if (lostAtMs === null || !resumable(error) || Date.now() - lostAtMs > RECONNECT_WINDOW_MS) throw error;
      await pause(waitMs);
      waitMs = Math.min(waitMs * 2, RESUBSCRIBE_MAX_MS);
      continue;
    }
    lostAtMs = null;
    waitMs = RESUBSCRIBE_MS;
    current = subscription;
    if (options.isStopped()) subscription.close(); // stopped while it was being opened
    try {
      for await (const line of subscription.lines()) {
        if ((line.response.body as { events?: unknown[] }).events === undefined) continue; // caught_up
        offset = await onPage(line);
        if (options.isStopped()) break;
      }
      return;
    } catch (error) {
      if (options.isStopped()) return;
      if (!resumable(error)) throw error;
      lostAtMs = Date.now();
      await pause(RESUBSCRIBE_MS);
    } finally {
      current = null;
      subscription.close();
    }
  }
}
