/**
 * Which eventbus driver the harness uses: the project's TypeScript client or raw JSON lines,
 * measured side by side at (16,32) 100 B durable writes. The harness drives eventbus with raw
 * lines in every workload because they cost the generator less CPU (it shares the machine with
 * the server); this workload keeps that choice honest.
 */
import { EventBusClient } from '../../src/client/index.js';
import { throughputFigure, type RunResult } from '../core/figures.js';
import { newHistogram, recordMs, summarize } from '../../src/cli/bench/histogram.js';
import { payload } from '../../src/cli/bench/payload.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import type { RunningSystem } from '../systems/system.js';
import type { Workload } from './workload.js';

const CONNECTIONS = 16;
const DEPTH = 32;

async function clientWrites(port: number, key: string, durationMs: number, progress: Progress): Promise<RunResult> {
  const setup = await EventBusClient.connect({ port });
  await setup.createStream(key);
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => EventBusClient.connect({ port })));
  const histogram = newHistogram();
  const event = payload(100);
  let ops = 0;
  let errors = 0;
  let lastReplyAt = 0;
  progress.total = durationMs;
  progress.unit = 'ms';
  const started = performance.now();
  const deadline = started + durationMs;
  const writer = async (client: EventBusClient) => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      await client.writeEventJson(key, event).catch(() => (errors += 1));
      lastReplyAt = performance.now();
      recordMs(histogram, lastReplyAt - sent);
      ops += 1;
      progress.done = Math.min(durationMs, lastReplyAt - started);
    }
  };
  try {
    await Promise.all(clients.flatMap((client) => Array.from({ length: DEPTH }, () => writer(client))));
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await setup.deleteStream(key);
    await setup.close();
  }
  const elapsedMs = lastReplyAt - started;
  return { ops, elapsedMs, opsPerSecond: (ops / elapsedMs) * 1000, latency: summarize(histogram), errors };
}

export const clientVsRawWorkload: Workload = {
  name: 'client-vs-raw',
  description: 'eventbus (16,32) 100 B writes through the TypeScript client and through raw lines (the harness uses the faster)',
  systems: ['eventbus-always'],
  async run(ctx, [system]: RunningSystem[]) {
    if (system === undefined) return;
    const raw: RunResult[] = [];
    const client: RunResult[] = [];
    for (let rep = 0; rep < ctx.scale.reps; rep++) {
      const phase = `rep ${rep + 1}/${ctx.scale.reps}`;
      const runRaw = () => ctx.step('eventbus-always, raw lines', phase, (progress) => system.write({ key: `cvr-raw-r${rep}`, connections: CONNECTIONS, depth: DEPTH, sizeBytes: 100, durationMs: ctx.scale.writeMs, progress }));
      const runClient = () => ctx.step('eventbus-always, client', phase, (progress) => clientWrites(system.port, `cvr-client-r${rep}`, ctx.scale.writeMs, progress));
      if (rep % 2 === 0) {
        raw.push(await runRaw());
        client.push(await runClient());
      } else {
        client.push(await runClient());
        raw.push(await runRaw());
      }
    }
    ctx.add(throughputFigure({ workload: 'client-vs-raw', case: 'write (16,32) 100 B, raw JSON lines', system: system.id }, raw));
    ctx.add(throughputFigure({ workload: 'client-vs-raw', case: 'write (16,32) 100 B, TypeScript client', system: system.id }, client));
  },
};
