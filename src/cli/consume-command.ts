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
 * Under --follow a server that restarts or is killed is connected to again, with read --follow's
 * backoff and one-minute bound (follow.ts); acknowledgements left unanswered by the drop are sent
 * again, and the line that gives up says how many events were delivered and acknowledged.
 */
import type { EventBusClient } from '../client/client.js';
import { ErrorCodes } from '../errors.js';
import { CommandFailure } from './command-failure.js';
import { connect, withClient, type ConnectionFlags } from './connection-options.js';
import { ExitStatus } from './exit-status.js';
import { Output, formatCount } from './output.js';
import { rawEvents } from './raw-events.js';
import { eventLine } from './read-command.js';
import { RECONNECT_WINDOW_MS, RESUBSCRIBE_MAX_MS, RESUBSCRIBE_MS, resumable } from './follow.js';
import { signalReceived, stopOnSignals, type StopSignal } from './stop-signal.js';

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
  const tally: Tally = { delivered: 0, acknowledged: 0, unanswered: [] };
  /** Why nothing more is delivered though events are waiting (max_pending), once found. */
  let blocked: string | null = null;
  const signal = stopOnSignals();
  const reconnect = reconnector(flags, signal);
  try {
    await withClient(flags, async (first) => {
      let client = first;
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
      let abandoned = false;
      void signal.stopped.then(() => {
        if (!delivering) return;
        abandoned = true;
        client.destroy();
      });
      try {
        while ((tally.delivered < max || tally.unanswered.length > 0) && !signal.isStopped()) {
          try {
            // Acknowledgements a dropped connection left unanswered: sent again (status 1 may repeat).
            if (tally.unanswered.length > 0) await acknowledge(client, consumer, tally);
            if (tally.delivered >= max) break;
            const waitMs = flags.follow === true && operation === 'process_events' ? FOLLOW_WAIT_MS : undefined;
            delivering = true;
            const page = await client.requestRaw(operation, {
              stream_name: name,
              consumer,
              max_events: Math.min(flags.batch ?? DEFAULT_BATCH, max - tally.delivered),
              wait_ms: waitMs,
            }, waitMs ?? 0).finally(() => (delivering = false));
            reconnect.answered();
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
            tally.delivered += events.length;
            if (flags.ack === true) {
              tally.unanswered = events.map((e) => e.id);
              await acknowledge(client, consumer, tally);
            }
          } catch (error) {
            if (abandoned) break;
            // A server restarting or killed (--follow): connect again and carry on from the
            // consumer's cursor, which the server keeps.
            if (flags.follow !== true || signal.isStopped() || !resumable(error)) throw error;
            client.destroy();
            const next = await reconnect.again(error);
            if (next === null) break; // Ctrl-C while waiting for the server
            if (client !== first) void client.close().catch(() => {});
            client = next;
          }
        }
      } finally {
        if (client !== first) {
          if (signalReceived()) client.destroy();
          await client.close().catch(() => {});
        }
      }
    }, { stop: signal, status: ExitStatus.OK });
  } catch (error) {
    // Given up on a server gone for good (--follow): say what was done before.
    if (flags.follow === true && reconnect.everAnswered && error instanceof CommandFailure && error.status === ExitStatus.UNAVAILABLE) {
      throw new CommandFailure(error.status, `${error.message}; ${doneSoFar(tally, consumer, flags.ack === true)}`);
    }
    throw error;
  } finally {
    signal.dispose();
  }
  const delivered = tally.delivered;
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

/** What consume has done: events printed, acknowledgements answered, and the ids of those sent and not (yet) answered. */
interface Tally {
  delivered: number;
  acknowledged: number;
  unanswered: string[];
}

/** Acknowledges the events of `tally.unanswered` (mark_event status 1); counted once answered. */
async function acknowledge(client: EventBusClient, consumer: string, tally: Tally): Promise<void> {
  await client.request('mark_event', { event_ids: tally.unanswered, status: 1, consumer });
  tally.acknowledged += tally.unanswered.length;
  tally.unanswered = [];
}

/** The end of the failure line of a consume --follow that gave up on its server: what was delivered and acknowledged. */
function doneSoFar(tally: Tally, consumer: string, ack: boolean): string {
  const events = `${formatCount(tally.delivered)} event${tally.delivered === 1 ? '' : 's'} delivered to consumer ${consumer}`;
  if (!ack) return `${events}, not acknowledged: they come back through retry_events after the acknowledgement deadline`;
  const unanswered = tally.unanswered.length === 0 ? '' : `; the acknowledgements of the last ${formatCount(tally.unanswered.length)} went unanswered: they may be delivered again`;
  return `${events}, ${formatCount(tally.acknowledged)} acknowledged${unanswered}`;
}

/**
 * Reconnecting for consume --follow as read --follow resubscribes (follow.ts): first after
 * {@link RESUBSCRIBE_MS}, then twice as long each time it cannot connect, up to
 * {@link RESUBSCRIBE_MAX_MS}, giving up with the last error once the server has been away
 * {@link RECONNECT_WINDOW_MS} without one delivery answered.
 */
function reconnector(flags: ConnectionFlags, signal: StopSignal) {
  let lostAtMs: number | null = null;
  let waitMs = RESUBSCRIBE_MS;
  /** A server that never answered (a TLS server to a plain client closes at once) is no restart: its error is reported at once, as read --follow's. */
  let everAnswered = false;
  return {
    get everAnswered(): boolean {
      return everAnswered;
    },
    /** A delivery was answered: the server is back. */
    answered(): void {
      everAnswered = true;
      lostAtMs = null;
      waitMs = RESUBSCRIBE_MS;
    },
    /** A new connection once the server answers one, or null when stopped meanwhile (Ctrl-C). */
    async again(error: unknown): Promise<EventBusClient | null> {
      if (!everAnswered) throw error;
      lostAtMs ??= Date.now();
      let last = error;
      for (;;) {
        if (Date.now() - lostAtMs > RECONNECT_WINDOW_MS) throw last;
        // A timer that holds the process up (nothing else does while the server is away), cleared on Ctrl-C.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([signal.stopped, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
        clearTimeout(timer);
        if (signal.isStopped()) return null;
        waitMs = Math.min(waitMs * 2, RESUBSCRIBE_MAX_MS);
        try {
          return (await connect(flags, { stop: signal, status: ExitStatus.OK })).client;
        } catch (failure) {
          if (signal.isStopped()) return null;
          // 69: nothing answers there (yet); anything else (credentials, TLS) is no restart.
          if (!(failure instanceof CommandFailure) || failure.status !== ExitStatus.UNAVAILABLE) throw failure;
          last = failure;
        }
      }
    },
  };
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
