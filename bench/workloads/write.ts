/**
 * Writes at (connections, depth) = (1,1), (16,1), (16,32) with 100 B and 1 KiB events: eventbus
 * write_event, Redis XADD, JetStream publish awaiting its ack, and the echo server's ceiling.
 * Closed loop for a fixed time per repetition after an untimed warm-up; each repetition writes
 * into a stream of its own, removed afterwards.
 */
import { repeatAcross } from '../core/context.js';
import type { Workload } from './workload.js';
import { PEERS } from './workload.js';

const SHAPES: readonly [number, number][] = [[1, 1], [16, 1], [16, 32]];
const SIZES: readonly [number, string, string][] = [[100, '100', '100 B'], [1024, '1k', '1 KiB']];

export const writeWorkloads: Workload[] = SIZES.flatMap(([sizeBytes, sizeName, sizeText]) => SHAPES.map(([connections, depth]): Workload => {
  const name = `write-${connections}x${depth}-${sizeName}`;
  return {
    name,
    description: `writes, ${connections} connection${connections > 1 ? 's' : ''} × ${depth} in flight, ${sizeText} events`,
    systems: [...PEERS, 'echo'],
    run: (ctx, systems) => repeatAcross(ctx, systems, {
      workload: name,
      case: `write (${connections},${depth}) ${sizeText}`,
      warmup: (system, progress) => system.write({ key: `${name}-warm`, connections, depth, sizeBytes, durationMs: ctx.scale.warmupMs, progress }),
    }, (system, rep, progress) => system.write({ key: `${name}-r${rep}`, connections, depth, sizeBytes, durationMs: ctx.scale.writeMs, progress })),
  };
}));
