/**
 * The admin page's chart data: once a second, the writes and deliveries of that second and the
 * p99 of append-to-durable latency over it, for the last {@link HISTORY_SECONDS}. A ring of
 * fixed size: memory does not grow with uptime. Also each stream's write rate: the same timer
 * samples every stream's next offset into a short ring, and a rate is read against the sample of
 * {@link STREAM_RATE_WINDOW_MS} before, so it is the rate of the last seconds whoever asks and
 * however rarely (a rate measured between callers' visits would be an average since the last one).
 */
import { bucketDelta, bucketQuantile, type Bucket } from './bucket-quantile.js';

/** Seconds of history the chart can show (10 minutes). */
export const HISTORY_SECONDS = 600;
/** Per-stream write rates are over (at least) this window: from the newest sample this old to now. */
export const STREAM_RATE_WINDOW_MS = 5_000;

/** A stream's position at a sample: its identity (a stream deleted and made again is another) and next offset. */
export interface StreamMark {
  id: string;
  nextOffset: number;
}

/** Every stream's mark, by name, at one moment. */
export type StreamMarks = ReadonlyMap<string, StreamMark>;

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
  /** Streams' marks at each of the last samples, oldest first: one at least the window old, and those after it. */
  private readonly streamSamples: { atMs: number; marks: StreamMarks }[] = [];

  /** `readStreams` reads every stream's mark now (none: no per-stream rates). */
  constructor(private readonly read: () => RateReading, private readonly intervalMs = 1000, private readonly readStreams: () => StreamMarks = () => new Map()) {}

  start(): void {
    this.last = { atMs: Date.now(), reading: this.read() };
    this.sampleStreams(this.last.atMs);
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
   * Events per second written to each stream, given the streams' marks now: the offsets gained
   * since the newest sample at least {@link STREAM_RATE_WINDOW_MS} old (so over 5 to 6 s with a
   * sample a second), divided by the time since it. A stream sampled only more recently (made, or
   * the server started, less than the window ago) is measured from its oldest sample; one not yet
   * sampled, or first sampled less than a second ago, has 0.
   */
  streamWriteRates(now: StreamMarks, nowMs = Date.now()): Map<string, number> {
    const rates = new Map<string, number>();
    for (const [name, mark] of now) {
      const from = this.rateStart(name, mark.id, nowMs);
      const elapsedMs = from === undefined ? 0 : nowMs - from.atMs;
      rates.set(name, elapsedMs < 1000 ? 0 : (Math.max(0, mark.nextOffset - from!.nextOffset) * 1000) / elapsedMs);
    }
    return rates;
  }

  /** The sample of stream `name` (as `id`) a rate at `nowMs` is measured from. */
  private rateStart(name: string, id: string, nowMs: number): { atMs: number; nextOffset: number } | undefined {
    let from: { atMs: number; nextOffset: number } | undefined;
    for (const sample of this.streamSamples) {
      const mark = sample.marks.get(name);
      if (mark === undefined || mark.id !== id) {
        from = undefined; // not this stream then: measure from a later sample
        continue;
      }
      if (from === undefined || sample.atMs <= nowMs - STREAM_RATE_WINDOW_MS) from = { atMs: sample.atMs, nextOffset: mark.nextOffset };
    }
    return from;
  }

  /** Adds the streams' marks now to the ring, dropping samples no rate can be measured from any more. */
  private sampleStreams(nowMs: number): void {
    let marks: StreamMarks;
    try {
      marks = this.readStreams();
    } catch {
      return; // the store closing: no sample this second
    }
    this.streamSamples.push({ atMs: nowMs, marks });
    while (this.streamSamples.length > 2 && this.streamSamples[1]!.atMs <= nowMs - STREAM_RATE_WINDOW_MS) this.streamSamples.shift();
  }

  /** Takes one sample (the timer's work; tests call it directly). */
  tick(nowMs = Date.now()): void {
    this.sampleStreams(nowMs);
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
