/** One measurement of the load generator: a closed-loop write run or a drain. */
import type { LatencySummary } from './histogram.js';

export interface RunResult {
  /** Operations completed (events written, or events delivered and acknowledged). */
  ops: number;
  elapsedMs: number;
  opsPerSecond: number;
  latency: LatencySummary;
  /** Failed replies and protocol errors: a figure with errors is flagged, never silently used. */
  errors: number;
  /** The first failed reply (at most 500 bytes of it), when there were any. */
  firstError?: string;
  /** Anything else worth keeping (e.g. a mixed run's write rate). */
  extra?: Record<string, number>;
}
