/** A named workload of the harness: what `--only` selects and `--list` shows. */
import type { BenchContext } from '../core/context.js';
import type { RunningSystem, SystemId } from '../systems/system.js';

export interface Workload {
  /** e.g. `write-16x32-100`; `--only write` selects every `write-*`. */
  name: string;
  description: string;
  /** The systems it drives side by side (those selected and installed are started). */
  systems: readonly SystemId[];
  /** For workloads of eventbus alone that start nothing shared (in-process, own server): run when an eventbus system is selected. */
  eventbusOnly?: boolean;
  /** Left out of a run without --only (to keep a full run under 15 minutes); `--only NAME` runs it. */
  optIn?: boolean;
  run(ctx: BenchContext, systems: RunningSystem[]): Promise<void>;
}

export const PEERS: readonly SystemId[] = ['eventbus-always', 'eventbus-interval', 'redis-always', 'redis-everysec', 'nats'];

/** The durable side of the peers: eventbus `always`, Redis `always`, and NATS (which has no such setting). */
export const DURABLE_PEERS: readonly SystemId[] = ['eventbus-always', 'redis-always', 'nats'];

/** The relaxed side: eventbus `interval` and Redis `everysec`. */
export const RELAXED_PEERS: readonly SystemId[] = ['eventbus-interval', 'redis-everysec'];
