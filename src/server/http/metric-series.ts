/**
 * Metrics read at scrape time: a prom-client counter or gauge whose values come from counters the
 * server or the engine keeps anyway (reset, then set to the source's totals on each scrape), so
 * that nothing is counted twice on the request path. Shared by metrics.ts and engine-metrics.ts.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Labels } from './label-cap.js';

export type Series<T> = { labels: Labels; value: T };

/** Append-to-durable latency buckets, seconds: 50 µs to 5 s (an fsync is 0.1 to 20 ms on common disks). */
export const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A counter whose values are read at scrape time. */
export function counterOf(registry: Registry, name: string, help: string, labelNames: string[], read: () => Series<number>[]): void {
  new Counter({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const { labels, value } of read()) this.inc(labels, value);
    },
  });
}

/** A gauge whose values are read at scrape time. */
export function gaugeOf(registry: Registry, name: string, help: string, labelNames: string[], read: () => Series<number>[]): void {
  new Gauge({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      for (const { labels, value } of read()) this.set(labels, value);
    },
  });
}
