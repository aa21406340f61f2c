/**
 * Latency histograms (hdr-histogram-js): values recorded in microseconds, 3 significant digits,
 * up to 10 minutes. Percentiles come from the histogram, never from sorted arrays, so recording
 * costs the same at 500,000 replies/s as at 5,000.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/** The highest latency tracked, in microseconds (10 minutes): larger values are clamped. */
const HIGHEST_TRACKABLE_US = 600_000_000;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_TRACKABLE_US, numberOfSignificantValueDigits: 3, autoResize: false });
}

/** Records one latency given in milliseconds (as performance.now() differences are). */
export function recordMs(histogram: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  histogram.recordValue(us < 1 ? 1 : us > HIGHEST_TRACKABLE_US ? HIGHEST_TRACKABLE_US : us);
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

export function summarize(histogram: Histogram): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  // A percentile is reported as its bucket's highest equivalent value, which can pass the largest value recorded.
  const at = (percentile: number) => ms(Math.min(histogram.getValueAtPercentile(percentile), histogram.maxValue));
  return {
    count: histogram.totalCount,
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs: ms(histogram.maxValue),
    meanMs: ms(histogram.mean),
  };
}
