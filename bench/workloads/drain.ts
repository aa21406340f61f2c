/**
 * Drain-and-acknowledge: every system is prefilled with the same events (100 B, untimed), then
 * each repetition drains all of them with a new consumer: 4 workers sharing it, each fetching
 * batches of 100 and acknowledging every batch (eventbus process_events + mark_event of those
 * ids; Redis XREADGROUP COUNT 100 + XACK; JetStream pull fetch of 100 + an ack per message).
 * The clock stops when the last acknowledgement is confirmed.
 */
import { repeatAcross } from '../core/context.js';
import type { BenchContext } from '../core/context.js';
import type { RunningSystem } from '../systems/system.js';
import type { Workload } from './workload.js';
import { DURABLE_PEERS, RELAXED_PEERS } from './workload.js';

const KEY = 'drain';

async function drain(ctx: BenchContext, systems: RunningSystem[], workload: string): Promise<void> {
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
      workload,
      case: `drain ${events.toLocaleString('en-US')} events, ${workers} workers, batches of ${batch}`,
    }, (system, rep, progress) => system.drain!({ key: KEY, group: `g${rep}`, workers, batch, events, progress }));
  } finally {
    for (const system of ready) await system.drop!(KEY).catch((error: unknown) => ctx.fail(`${system.id} could not remove the drain stream: ${String(error)}`));
  }
}

export const drainWorkload: Workload = {
  name: 'drain',
  description: 'prefill, then drain and acknowledge every event: 4 workers, batches of 100 (durable configurations and NATS)',
  systems: DURABLE_PEERS,
  run: (ctx, systems) => drain(ctx, systems, 'drain'),
};

export const drainRelaxedWorkload: Workload = {
  name: 'drain-relaxed',
  description: 'the same drain for eventbus `interval` and Redis `everysec` (not in a full run: --only drain-relaxed)',
  systems: RELAXED_PEERS,
  optIn: true,
  run: (ctx, systems) => drain(ctx, systems, 'drain-relaxed'),
};
