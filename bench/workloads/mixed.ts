/**
 * Writers and consumers at once: 4 writer connections × 8 writes in flight for the write
 * duration, each event carrying its send time; 4 consumers long-polling batches of up to 100 and
 * acknowledging each batch, until every event written is acknowledged.
 * Figures: events consumed per second, and write-to-delivery latency (send of the write to its
 * arrival at a consumer, one clock: both run in the load generator).
 */
import { repeatAcross } from '../core/context.js';
import type { Workload } from './workload.js';
import { PEERS } from './workload.js';

export const mixedWorkload: Workload = {
  name: 'mixed',
  description: 'writers and consumers at once: throughput and write-to-delivery latency',
  systems: PEERS,
  run: (ctx, systems) => repeatAcross(ctx, systems, {
    workload: 'mixed',
    case: `mixed: 4 writers × 8 in flight for ${ctx.scale.writeMs / 1000} s + 4 consumers`,
    note: 'consumed/s; latency is write-to-delivery',
  }, (system, rep, progress) => system.mixed!({ key: `mixed-r${rep}`, group: 'live', writers: 4, writerDepth: 8, consumers: 4, batch: 100, durationMs: ctx.scale.writeMs, sizeBytes: 100, progress })),
};
