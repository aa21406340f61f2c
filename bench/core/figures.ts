/**
 * What a benchmark run produces. A workload measures each (case, system) several times; each
 * repetition is a `RunResult`; the repetitions become one `Figure` (median with min and max).
 * Figures are what the tables, charts, targets and JSON are built from.
 */
import type { RunResult } from '../../src/cli/bench/run-result.js';

/** One repetition of a throughput measurement (the load generator's result). */
export type { RunResult };

/** Median, min and max of the repetitions of one quantity. */
export interface Stat {
  median: number;
  min: number;
  max: number;
  reps: number[];
}

export interface Figure {
  /** The workload's name (what `--only` selects), e.g. `write-16x32-100`. */
  workload: string;
  /** A human name of what was measured, e.g. `write (16,32) 100 B`. */
  case: string;
  /** The system id (`eventbus-always`, `redis-everysec`, `nats`, …, or `disk`, `engine`). */
  system: string;
  unit: string;
  higherIsBetter: boolean;
  value: Stat;
  /** For throughput figures: the latency percentiles' medians and ranges over the repetitions. */
  latency?: { p50Ms: Stat; p99Ms: Stat; maxMs: Stat };
  errors: number;
  extra?: Record<string, Stat>;
  note?: string;
}

export function stat(values: number[]): Stat {
  if (values.length === 0) throw new Error('a figure needs at least one repetition');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, reps: values };
}

/** A throughput figure (ops/s) with latency, from the repetitions of one (case, system). */
export function throughputFigure(base: { workload: string; case: string; system: string; unit?: string; note?: string }, runs: RunResult[]): Figure {
  const extraKeys = [...new Set(runs.flatMap((r) => Object.keys(r.extra ?? {})))];
  return {
    workload: base.workload,
    case: base.case,
    system: base.system,
    unit: base.unit ?? 'events/s',
    higherIsBetter: true,
    value: stat(runs.map((r) => r.opsPerSecond)),
    latency: {
      p50Ms: stat(runs.map((r) => r.latency.p50Ms)),
      p99Ms: stat(runs.map((r) => r.latency.p99Ms)),
      maxMs: stat(runs.map((r) => r.latency.maxMs)),
    },
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    ...(extraKeys.length === 0 ? {} : { extra: Object.fromEntries(extraKeys.map((k) => [k, stat(runs.map((r) => r.extra?.[k] ?? 0))])) }),
    ...(base.note === undefined ? {} : { note: base.note }),
  };
}

/** A single-valued figure (a time, a size, a rate without latency). */
export function valueFigure(base: { workload: string; case: string; system: string; unit: string; higherIsBetter: boolean; note?: string }, values: number[], errors = 0): Figure {
  return { ...base, value: stat(values), errors };
}
