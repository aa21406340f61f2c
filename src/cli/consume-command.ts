/**
 * `eventbus consume NAME [--consumer C] [--ack] [--max N]`: process_events for scripts and for
 * looking into a consumer group. Delivers the consumer's due events in batches, prints each (JSON
 * lines, or a readable line on a terminal) and, with --ack, acknowledges each batch once printed
 * (mark_event status 1). Without --ack the events stay pending: they come back through
 * retry_events after the acknowledgement deadline (`--retry` delivers those). Stops when nothing
 * is due, after --max events, or, with --follow, on Ctrl-C (waiting for new events meanwhile).
 * Ctrl-C stops at once (exit 0): no delivery is asked for after it, a long-poll in flight is
 * abandoned by closing the connection (what it was delivered comes back after the
 * acknowledgement deadline, as any unacknowledged delivery does); a batch being printed is
 * finished and, with --ack, acknowledged. A line on the terminal says what was done, and that it
 * was interrupted. Events after the cursor that are not delivered because the consumer holds the
 * server's max_pending outstanding are named on stderr (once, under --follow), not waited on in silence.
 */
import type { EventBusClient } from '../client/client.js';
import { ErrorCodes } from '../errors.js';
import { CommandFailure } from './command-failure.js';
import { withClient, type ConnectionFlags } from './connection-options.js';
import { ExitStatus } from './exit-status.js';
import { Output, formatCount } from './output.js';
import { rawEvents } from './raw-events.js';
import { eventLine } from './read-command.js';
import { stopOnSignals } from './stop-signal.js';

/** Events per process_events when --batch is not given (the server's default, capped at 1,000). */
const DEFAULT_BATCH = 100;
/** How long one process_events waits for an event under --follow (the server caps wait_ms at max_wait_ms, 30 s by default). */
const FOLLOW_WAIT_MS = 10_000;

export interface ConsumeFlags extends ConnectionFlags {
  consumer?: string;
  ack?: boolean;
  max?: number;
  batch?: number;
  retry?: boolean;
  follow?: boolean;
}

export async function consumeCommand(name: string, flags: ConsumeFlags): Promise<void> {
  const out = new Output(flags);
  const max = flags.max ?? Number.POSITIVE_INFINITY;
  const consumer = flags.consumer ?? 'default';
  const operation = flags.retry === true ? 'retry_events' : 'process_events';
  let delivered = 0;
  /** Why nothing more is delivered though events are waiting (max_pending), once found. */
  let blocked: string | null = null;
  const signal = stopOnSignals();
  try {
    await withClient(flags, async (client) => {
      // retry_events on a consumer the stream does not have would create it (a typo in
      // --consumer would then deliver nothing, silently): ask first. Refused as the server
      // refuses a field's value (there is no code for a missing consumer: the server has none to send).
      if (flags.retry === true) {
        const { consumers } = await client.getStreamInfo(name);
        if (!consumers.some((c) => c.name === consumer)) {
          const known = consumers.length === 0 ? 'it has none' : `its consumers: ${consumers.map((c) => c.name).join(', ')}`;
          throw new CommandFailure(ExitStatus.REFUSED, `${ErrorCodes.INVALID_FIELD}: stream ${name} has no consumer '${consumer}' (${known}); --retry delivers the events due for retry of an existing consumer; see 'eventbus consume --help'`);
        }
      }
      // Ctrl-C during a delivery request (a long-poll of up to 10 s): abandon it at once by
      // closing the connection. Events it may have been delivered are not printed or acked;
      // they are pending and come back through retry_events after ack_wait_ms.
      let delivering = false;
      void signal.stopped.then(() => {
        if (delivering) client.destroy();
      });
      while (delivered < max && !signal.isStopped()) {
        const waitMs = flags.follow === true && operation === 'process_events' ? FOLLOW_WAIT_MS : undefined;
        let page;
        delivering = true;
        try {
          page = await client.requestRaw(operation, {
            stream_name: name,
            consumer,
            max_events: Math.min(flags.batch ?? DEFAULT_BATCH, max - delivered),
            wait_ms: waitMs,
          }, waitMs ?? 0);
        } catch (error) {
          if (signal.isStopped()) break;
          throw error;
        } finally {
          delivering = false;
        }
        const events = rawEvents(page);
        const more = (page.response.body as { more?: boolean }).more === true;
        if (events.length === 0) {
          // A filtered consumer that used its scan budget: none matched yet, more lie beyond.
          if (more) continue;
          // Nothing new for a consumer that has events waiting: it holds max_pending outstanding.
          if (operation === 'process_events' && blocked === null) {
            blocked = await atMaxPending(client, name, consumer);
            if (blocked !== null && flags.follow === true) process.stderr.write(`eventbus: ${blocked}; waiting\n`);
          }
          if (flags.follow !== true) break;
          // retry_events cannot wait: look again shortly.
          if (waitMs === undefined) await Promise.race([signal.stopped, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
          continue;
        }
        blocked = null;
        for (const event of events) await out.line(out.json ? event.json : eventLine(out, event));
        delivered += events.length;
        if (flags.ack === true) {
          await client.request('mark_event', { event_ids: events.map((e) => e.id), status: 1, consumer });
        }
      }
    }, { stop: signal, status: ExitStatus.OK });
  } finally {
    signal.dispose();
  }
  // A script is told too: it would otherwise see a consumer that stopped with events left.
  if (blocked !== null && flags.follow !== true) process.stderr.write(`eventbus: ${blocked}\n`);
  if (process.stderr.isTTY === true) {
    const interrupted = signal.isStopped() ? 'interrupted: ' : '';
    const what = delivered === 0
      ? interrupted !== '' ? `interrupted: nothing delivered to consumer ${consumer}` : `nothing ${flags.retry === true ? 'due for retry' : 'due'} for consumer ${consumer}`
      : interrupted + (flags.ack === true
        ? `${formatCount(delivered)} event${delivered === 1 ? '' : 's'} delivered to consumer ${consumer} and acknowledged`
        : `${formatCount(delivered)} event${delivered === 1 ? '' : 's'} delivered to consumer ${consumer}, not acknowledged: they are pending, and come back through retry_events after the acknowledgement deadline (--ack marks them processed)`);
    process.stderr.write(`${out.dim(what)}\n`);
  }
}

/**
 * Why process_events delivered nothing to a consumer with events after its cursor: it holds the
 * server's max_pending outstanding (1,000 by default), or null when it has no events waiting.
 */
async function atMaxPending(client: EventBusClient, stream: string, consumer: string): Promise<string | null> {
  const info = (await client.getStreamInfo(stream)).consumers.find((c) => c.name === consumer);
  // A filtered consumer's lag counts the events it will pass over too: it says nothing there.
  if (info === undefined || (info.filter ?? null) !== null || info.lag === 0 || info.pending + info.retry === 0) return null;
  return `consumer ${consumer} holds ${formatCount(info.pending + info.retry)} events delivered and not acknowledged, the server's max_pending (1,000 by default): the ${formatCount(info.lag)} after its cursor are delivered once some are acknowledged (--ack, or mark_event) or come back through retry_events after the acknowledgement deadline (--retry)`;
}
