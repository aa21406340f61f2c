/**
 * The bookkeeping of a mixed run (writers and consumers at once), the same for every system:
 * writers write until their deadline; the run ends when the writers are done and the consumers
 * have acknowledged every event written. `onEnd` then stops the consumers (their long-polls).
 */
import type { RunResult } from './figures.js';
import { newHistogram, summarize, type Histogram } from '../../src/cli/bench/histogram.js';
import { ClosedByBenchmark } from '../../src/cli/bench/pipelined-connection.js';
import type { Progress } from '../../src/cli/bench/progress.js';

export class MixedRun {
  written = 0;
  acknowledged = 0;
  writersDone = false;
  writesEndedAt = 0;
  endedAt = 0;
  stopping = false;
  /** Write-to-delivery latency of every event consumed. */
  readonly deliveries: Histogram = newHistogram();
  readonly startedAt = performance.now();
  readonly deadline: number;
  private onEnd: () => void = () => {};
  private resolveEnded: () => void = () => {};
  /** Settles when the run has ended. */
  readonly ended = new Promise<void>((resolve) => (this.resolveEnded = resolve));

  constructor(durationMs: number, private readonly progress: Progress) {
    this.deadline = this.startedAt + durationMs;
    progress.unit = 'events';
  }

  whenEnded(onEnd: () => void): void {
    this.onEnd = onEnd;
  }

  /** Writers ask before each write. */
  get writing(): boolean {
    return performance.now() < this.deadline;
  }

  wrote(): void {
    this.written += 1;
    this.progress.total = this.written;
  }

  /** Call once, when every writer has finished its last write. */
  writersFinished(): void {
    this.writersDone = true;
    this.writesEndedAt = performance.now();
    this.check();
  }

  acked(count: number): void {
    this.acknowledged += count;
    this.progress.done = this.acknowledged;
    this.check();
  }

  private check(): void {
    if (this.stopping || !this.writersDone || this.acknowledged < this.written) return;
    this.stopping = true;
    this.endedAt = performance.now();
    this.onEnd();
    this.resolveEnded();
  }

  /**
   * Runs `writerDepth` write loops on every writer connection and one consume loop per consumer
   * connection until the end; the consumers' requests still outstanding then (long-polls) are
   * rejected with ClosedByBenchmark by `whenEnded`'s closing, which is not a failure.
   */
  async drive<C>(writers: C[], writerDepth: number, writeLoop: (connection: C) => Promise<void>, consumers: C[], consumeLoop: (connection: C, index: number) => Promise<void>): Promise<void> {
    const ended = (error: unknown) => {
      if (!(this.stopping && error instanceof ClosedByBenchmark)) throw error;
    };
    const writing = Promise.all(writers.flatMap((connection) => Array.from({ length: writerDepth }, () => writeLoop(connection)))).then(() => this.writersFinished());
    await Promise.all([writing, ...consumers.map((connection, i) => consumeLoop(connection, i).catch(ended))]);
  }

  /** Events consumed per second over the whole run; the writers' own rate as `writesPerSecond`. */
  result(errors: number): RunResult {
    const elapsedMs = this.endedAt - this.startedAt;
    return {
      ops: this.acknowledged,
      elapsedMs,
      opsPerSecond: (this.acknowledged / elapsedMs) * 1000,
      latency: summarize(this.deliveries),
      errors: errors + (this.acknowledged === this.written ? 0 : 1),
      extra: { writesPerSecond: (this.written / (this.writesEndedAt - this.startedAt)) * 1000 },
    };
  }
}
