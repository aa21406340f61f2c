/**
 * The admin page's chart data: once a second, the writes and deliveries of that second and the
 * p99 of append-to-durable latency over it, for the last {@link HISTORY_SECONDS}. A ring of
 * fixed size: memory does not grow with uptime. Also the write rate of each stream, from the
 * difference of its next offset over the last few seconds.
 */
import { bucketDelta, bucketQuantile, type Bucket } from './bucket-quantile.js';

/** Seconds of history the chart can show (10 minutes). */
export const HISTORY_SECONDS = 600;
/** Per-stream write rates are averaged over this many seconds. */
export const STREAM_RATE_WINDOW_MS = 5_000;

/** One second of the chart. */
export interface RateSample {
  /** End of the second (ms since the epoch). */
  timeMs: number;
  writesPerSecond: number;
  consumedPerSecond: number;
  /** p99 of append-to-durable latency over the second, ms; null when nothing was appended. */
  appendP99Ms: number | null;
}

/** Cumulative counts read once a second. */
export interface RateReading {
  writes: number;
  delivered: number;
  /** Cumulative append-latency buckets in seconds. */
  latency: Bucket[];
}

export class RateHistory {
  private readonly samples: RateSample[] = [];
  private last: { atMs: number; reading: RateReading } | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Stream → its next offset at the start of the rate window. */
  private streamMarks = new Map<string, { atMs: number; offset: number }>();
  private streamRates = new Map<string, number>();

  constructor(private readonly read: () => RateReading, private readonly intervalMs = 1000) {}

  start(): void {
    this.last = { atMs: Date.now(), reading: this.read() };
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** The samples since `sinceMs` (exclusive), oldest first. */
  since(sinceMs = 0): RateSample[] {
    let i = this.samples.length;
    while (i > 0 && this.samples[i - 1]!.timeMs > sinceMs) i -= 1;
    return this.samples.slice(i);
  }

  /**
   * Events per second written to each stream over about the last {@link STREAM_RATE_WINDOW_MS},
   * given the streams' next offsets now. Called when the page asks; the window restarts when it
   * is older than the limit.
   */
  streamWriteRates(nextOffsets: ReadonlyMap<string, number>, nowMs = Date.now()): ReadonlyMap<string, number> {
    const marks = new Map<string, { atMs: number; offset: number }>();
    for (const [name, offset] of nextOffsets) {
      const mark = this.streamMarks.get(name);
      if (mark === undefined || offset < mark.offset) {
        marks.set(name, { atMs: nowMs, offset });
        this.streamRates.set(name, 0);
        continue;
      }
      const elapsedMs = nowMs - mark.atMs;
      if (elapsedMs >= 1000) this.streamRates.set(name, ((offset - mark.offset) * 1000) / elapsedMs);
      marks.set(name, elapsedMs >= STREAM_RATE_WINDOW_MS ? { atMs: nowMs, offset } : mark);
    }
    this.streamMarks = marks;
    for (const name of this.streamRates.keys()) if (!nextOffsets.has(name)) this.streamRates.delete(name);
    return this.streamRates;
  }

  /** Takes one sample (the timer's work; tests call it directly). */
  tick(nowMs = Date.now()): void {
    const reading = this.read();
    const last = this.last;
    this.last = { atMs: nowMs, reading };
    if (last === null) return;
    const seconds = Math.max(0.001, (nowMs - last.atMs) / 1000);
    const p99 = bucketQuantile(0.99, bucketDelta(reading.latency, last.reading.latency));
    this.samples.push({
      timeMs: nowMs,
      writesPerSecond: Math.max(0, reading.writes - last.reading.writes) / seconds,
      consumedPerSecond: Math.max(0, reading.delivered - last.reading.delivered) / seconds,
      appendP99Ms: p99 === null ? null : p99 * 1000,
    });
    if (this.samples.length > HISTORY_SECONDS) this.samples.shift();
  }
}
