/**
 * The drain loop shared by the systems driven over pipelined sockets (eventbus, Redis): each
 * worker fetches a batch, then acknowledges it with the next fetch pipelined right behind the
 * acknowledgement (the server answers them in order), until a fetch comes back empty. The clock
 * stops when the last acknowledgement is confirmed; the latency recorded is per batch, fetch
 * sent to batch received.
 *
 * `stopped` (Ctrl-C in `eventbus bench`) ends every worker before its next fetch; the loop
 * returns only once every worker has ended, so nothing is still sent after it (the stream may be
 * deleted then) and no failure is left without a handler.
 */
import { newHistogram, recordMs, summarize } from './histogram.js';
import type { Progress } from './progress.js';
import type { RunResult } from './run-result.js';

export interface DrainLoop<C, E> {
  connections: C[];
  /** Events in the stream: every one must be delivered and acknowledged. */
  events: number;
  progress: Progress;
  /** Sends a fetch at once (before returning) and resolves with the batch, empty when drained. */
  fetch(connection: C, worker: number): Promise<E[]>;
  /** Sends the acknowledgement of `batch` at once and resolves when it is confirmed. */
  ack(connection: C, batch: E[]): Promise<void>;
  /** True once the run is to end early: no worker fetches again (the result counts what was acknowledged). */
  stopped?: () => boolean;
}

export async function drainLoop<C, E>(loop: DrainLoop<C, E>): Promise<RunResult> {
  const rounds = newHistogram();
  let delivered = 0;
  let acknowledged = 0;
  let endedAt = 0;
  loop.progress.total = loop.events;
  const started = performance.now();
  let failing = false; // a worker failed: the others stop too
  const worker = async (connection: C, index: number) => {
    let acking: Promise<void> | null = null;
    for (;;) {
      if (failing || loop.stopped?.() === true) break;
      const sent = performance.now();
      const delivery = loop.fetch(connection, index);
      // Handled here and awaited below: a failure while the acknowledgement is awaited must not
      // count as unhandled (Node ends the process on one).
      delivery.catch(() => {});
      if (acking !== null) await acking;
      const batch = await delivery;
      recordMs(rounds, performance.now() - sent);
      if (batch.length === 0) break;
      delivered += batch.length;
      acking = loop.ack(connection, batch).then(() => {
        acknowledged += batch.length;
        loop.progress.done = acknowledged;
        if (acknowledged >= loop.events) endedAt = performance.now();
      });
      acking.catch(() => {}); // awaited before the next batch or at the end
    }
    if (acking !== null) await acking;
  };
  // Every worker ended before the first failure is thrown: none sends after the loop returns.
  const ended = await Promise.allSettled(loop.connections.map((connection, index) => worker(connection, index).catch((error: unknown) => {
    failing = true;
    throw error;
  })));
  const failed = ended.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  const elapsedMs = (endedAt || performance.now()) - started;
  const errors = acknowledged === loop.events && delivered === loop.events ? 0 : 1;
  return { ops: acknowledged, elapsedMs, opsPerSecond: (acknowledged / elapsedMs) * 1000, latency: summarize(rounds), errors };
}
