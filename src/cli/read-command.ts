/**
 * `eventbus read NAME [--from OFFSET] [--limit N] [--follow]`: a stream's events in offset
 * order, as JSON lines (each event exactly as the server sent it, its body as stored), or one
 * readable line per event on a terminal. `--follow` goes on printing new events, like
 * `tail -f`, until Ctrl-C (follow.ts: a catch-up subscription, no polling).
 */
import type { RawResponse } from '../client/types.js';
import { withClient, type ConnectionFlags } from './connection-options.js';
import { follow } from './follow.js';
import { Output, formatCount } from './output.js';
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
  let printed = 0;
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
          if (printed >= limit) break;
          await out.line(out.json ? event.json : eventLine(out, event));
          printed += 1;
        }
        if (printed >= limit) signal.stop();
        return (page.response.body as { next_offset: number }).next_offset;
      };
      let offset = flags.from ?? 0;
      if (flags.follow === true) {
        await follow((fromOffset) => client.subscribe(name, { fromOffset }), { fromOffset: offset, stopped: signal.stopped, isStopped: signal.isStopped }, print);
        return;
      }
      while (printed < limit) {
        const next = await print(await request(offset));
        if (next === offset) break;
        offset = next;
      }
    });
  } finally {
    signal.dispose();
  }
}
