/**
 * Drain-and-acknowledge: every system is prefilled with the same events (100 B, untimed), then
 * each repetition drains all of them with a new consumer: 4 workers sharing it, each fetching
 * batches of 100 and acknowledging every batch (eventbus process_events + mark_event of those
 * ids; Redis XREADGROUP COUNT 100 + XACK; JetStream pull fetch of 100 + an ack per message).
 * The clock stops when the last acknowledgement is confirmed.
 */
import { repeatAcross } from '../core/context.js';
import type { Workload } from './workload.js';
import { PEERS } from './workload.js';

const KEY = 'drain';

export const drainWorkload: Workload = {
  name: 'drain',
  description: 'prefill, then drain and acknowledge every event: 4 workers, batches of 100',
  systems: PEERS,
  async run(ctx, systems) {
    const { drainEvents: events, drainWorkers: workers, drainBatch: batch } = ctx.scale;
    const ready = [];
    try {
      for (const system of systems) {
        try {
          await ctx.step(system.id, `prefill ${events.toLocaleString('en-US')} events`, (progress) => system.prefill!(KEY, events, 100, progress));
          ready.push(system);
        } catch (error) {
          ctx.fail(`${system.id} prefill for drain: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      await repeatAcross(ctx, ready, {
        workload: 'drain',
        case: `drain ${events.toLocaleString('en-US')} events, ${workers} workers, batches of ${batch}`,
      }, (system, rep, progress) => system.drain!({ key: KEY, group: `g${rep}`, workers, batch, events, progress }));
    } finally {
      for (const system of ready) await system.drop!(KEY).catch((error: unknown) => ctx.fail(`${system.id} could not remove the drain stream: ${String(error)}`));
    }
  },
};
