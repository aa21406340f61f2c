/**
 * `eventbus read NAME [--from OFFSET] [--limit N] [--follow]`: a stream's events in offset
 * order, as JSON lines (each event exactly as the server sent it, its body as stored), or one
 * readable line per event on a terminal. `--follow` goes on printing new events, like
 * `tail -f`, until Ctrl-C (follow.ts: a catch-up subscription, no polling).
 */
import type { RawResponse } from '../client/types.js';
import { ErrorCodes } from '../errors.js';
import { CommandFailure } from './command-failure.js';
import { withClient, type ConnectionFlags } from './connection-options.js';
import { ExitStatus } from './exit-status.js';
import { follow } from './follow.js';
import { Output, formatCount, formatOffsets } from './output.js';
import { rawEvents, type RawEvent } from './raw-events.js';
import { stopOnSignals } from './stop-signal.js';

/** Events asked for per get_stream_events request (the server's default page). */
const PAGE_EVENTS = 1000;

export interface ReadFlags extends ConnectionFlags {
  from?: number;
  limit?: number;
  follow?: boolean;
  consumer?: string;
}

/** An event for a person: offset, time, status for the consumer, the body as stored. */
export function eventLine(out: Output, event: RawEvent): string {
  const status = event.status === 1 ? out.paint('green', 'processed') : event.status === 2 ? out.paint('yellow', 'retry') : '';
  return `${out.bold(`#${formatCount(event.offset)}`)} ${out.dim(event.created_at)}${status === '' ? '' : ` ${status}`} ${event.body}`;
}

export async function readCommand(name: string, flags: ReadFlags): Promise<void> {
  const out = new Output(flags);
  const limit = flags.limit ?? Number.POSITIVE_INFINITY;
  const following = flags.follow === true;
  let printed = 0;
  let firstPrinted: number | null = null;
  let lastPrinted: number | null = null;
  const signal = stopOnSignals();
  try {
    await withClient(flags, async (client) => {
      const request = (fromOffset: number) => client.requestRaw('get_stream_events', {
        stream_name: name,
        from_offset: fromOffset,
        max_events: Math.max(1, Math.min(PAGE_EVENTS, limit - printed)),
        consumer: flags.consumer,
      });
      /** Prints a page; returns where the next one starts. */
      const print = async (page: RawResponse): Promise<number> => {
        for (const event of rawEvents(page)) {
          // After Ctrl-C nothing more is written: the count said at the end is what was printed.
          if (printed >= limit || signal.isStopped()) break;
          // Counted once handed to stdout (it is then printed), before waiting for room for more.
          const written = out.line(out.json ? event.json : eventLine(out, event));
          printed += 1;
          firstPrinted ??= event.offset;
          lastPrinted = event.offset;
          if (written !== undefined) await written;
        }
        if (printed >= limit) signal.stop();
        return (page.response.body as { next_offset: number }).next_offset;
      };
      let offset = flags.from ?? 0;
      if (following) {
        await follow((fromOffset) => client.subscribe(name, { fromOffset }), { fromOffset: offset, stopped: signal.stopped, isStopped: signal.isStopped }, print);
        return;
      }
      // Ctrl-C: the page being asked for is abandoned (closing the connection), the one being
      // printed is finished.
      void signal.stopped.then(() => {
        if (printed < limit) client.destroy();
      });
      for (let first = true; printed < limit && !signal.isStopped(); first = false) {
        let page: RawResponse;
        try {
          page = await request(offset);
        } catch (error) {
          if (signal.isStopped()) break;
          throw error;
        }
        const next = (page.response.body as { next_offset: number }).next_offset;
        // The server answers a from_offset past the end with an empty page at the end; a
        // subscription (--follow) refuses it: so does this, the same way.
        if (first && next < offset) pastTheEnd(offset, next);
        await print(page);
        if (next === offset) break;
        offset = next;
      }
    }, { stop: signal, status: following ? ExitStatus.OK : ExitStatus.INTERRUPTED });
  } finally {
    signal.dispose();
  }
  if (!following && signal.isStopped() && printed < limit) {
    const range = firstPrinted === null ? '' : ` (${formatOffsets(firstPrinted, lastPrinted!)})`;
    throw new CommandFailure(ExitStatus.INTERRUPTED, `interrupted: ${formatCount(printed)} event${printed === 1 ? '' : 's'} printed${range}`);
  }
}

/** The refusal `subscribe` gives a from_offset past the stream's next offset (INVALID_FIELD, exit 3). */
function pastTheEnd(fromOffset: number, nextOffset: number): never {
  throw new CommandFailure(ExitStatus.REFUSED, `${ErrorCodes.INVALID_FIELD}: from_offset ${fromOffset} is past the stream's next offset (${nextOffset})`);
}
