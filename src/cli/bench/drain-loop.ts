/**
 * The drain loop shared by the systems driven over pipelined sockets (eventbus, Redis): each
 * worker fetches a batch, then acknowledges it with the next fetch pipelined right behind the
 * acknowledgement (the server answers them in order), until a fetch comes back empty. The clock
 * stops when the last acknowledgement is confirmed; the latency recorded is per batch, fetch
 * sent to batch received.
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
}

export async function drainLoop<C, E>(loop: DrainLoop<C, E>): Promise<RunResult> {
  const rounds = newHistogram();
  let delivered = 0;
  let acknowledged = 0;
  let endedAt = 0;
  loop.progress.total = loop.events;
  const started = performance.now();
  const worker = async (connection: C, index: number) => {
    let acking: Promise<void> | null = null;
    for (;;) {
      const sent = performance.now();
      const delivery = loop.fetch(connection, index);
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
    }
    if (acking !== null) await acking;
  };
  await Promise.all(loop.connections.map(worker));
  const elapsedMs = (endedAt || performance.now()) - started;
  const errors = acknowledged === loop.events && delivered === loop.events ? 0 : 1;
  return { ops: acknowledged, elapsedMs, opsPerSecond: (acknowledged / elapsedMs) * 1000, latency: summarize(rounds), errors };
}
