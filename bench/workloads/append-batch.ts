/**
 * `append-batch` (issue 12): `append_events` of 100 events against single `write_event` calls,
 * the same connection count (16, one request in flight each), fsync always, 100 B events, on a
 * server of its own. Alternating repetitions, so other load on the shared machine falls on both
 * alike. Target: the batch reaches at least 3× the events/s of single writes. A third case, keyed
 * batches with an integer expected version (each connection its own aggregate), shows what the
 * key index and the version check cost on that path.
 */
import { EventBusClient } from '../../src/client/index.js';
import { newHistogram, recordMs, summarize } from '../../src/cli/bench/histogram.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import { throughputFigure, type RunResult } from '../core/figures.js';
import { startEventbus, type StartedEventbus } from '../systems/eventbus.js';
import type { Workload } from './workload.js';

const CONNECTIONS = 16;
const BATCH = 100;
const BODY = { data: 'x'.repeat(88) }; // about 100 B as JSON text

export const SINGLE_CASE = `write_event, 1 event per call (${CONNECTIONS} connections, 1 in flight each) 100 B`;
export const BATCH_CASE = `append_events, ${BATCH} events per call (${CONNECTIONS} connections, 1 in flight each) 100 B`;
export const KEYED_CASE = `append_events, ${BATCH} events per call, keyed, integer expected version (${CONNECTIONS} connections) 100 B`;

type Mode = 'single' | 'batch' | 'keyed';

async function window(server: StartedEventbus, stream: string, mode: Mode, durationMs: number, progress: Progress): Promise<RunResult> {
  const admin = await EventBusClient.connect({ port: server.port });
  await admin.createStream(stream);
  const clients = await Promise.all(Array.from({ length: CONNECTIONS }, () => EventBusClient.connect({ port: server.port })));
  const histogram = newHistogram();
  let events = 0;
  let errors = 0;
  const batch = Array.from({ length: BATCH }, () => ({ body: BODY }));
  const started = performance.now();
  const deadline = started + durationMs;
  try {
    await Promise.all(clients.map(async (client, c) => {
      let version = -1;
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          if (mode === 'single') {
            await client.writeEvent(stream, BODY);
            events += 1;
          } else {
            const r = await client.appendEvents(stream, batch, mode === 'keyed' ? { key: `agg-${c}`, expectedVersion: version } : {});
            version = r.nextExpectedVersion;
            events += BATCH;
          }
        } catch {
          errors += 1;
        }
        recordMs(histogram, performance.now() - t0);
        progress.done = events;
      }
    }));
    const elapsedMs = performance.now() - started;
    return { ops: events, elapsedMs, opsPerSecond: events / (elapsedMs / 1000), latency: summarize(histogram), errors };
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await admin.deleteStream(stream).catch(() => {});
    await admin.close();
  }
}

export const appendBatchWorkload: Workload = {
  name: 'append-batch',
  description: `append_events of ${BATCH} events vs single write_event, ${CONNECTIONS} connections, fsync always (own server); keyed with expected versions beside`,
  systems: [],
  eventbusOnly: true,
  async run(ctx) {
    const server = await startEventbus('always', {});
    try {
      const durationMs = Math.max(ctx.scale.writeMs, ctx.scale.quick ? 500 : 3000);
      const reps = Math.max(ctx.scale.reps, ctx.scale.quick ? 2 : 5);
      const results: Record<Mode, RunResult[]> = { single: [], batch: [], keyed: [] };
      for (const mode of ['single', 'batch'] as const) await ctx.step('eventbus-always', `warm-up ${mode}`, (progress) => window(server, `warm-${mode}`, mode, ctx.scale.warmupMs, progress));
      for (let rep = 0; rep < reps; rep++) {
        const order: Mode[] = rep % 2 === 0 ? ['single', 'batch', 'keyed'] : ['keyed', 'batch', 'single'];
        for (const mode of order) {
          const result = await ctx.step('eventbus-always', `${mode} rep ${rep + 1}/${reps}`, (progress) => window(server, `r${rep}-${mode}`, mode, durationMs, progress));
          if (result.errors > 0) ctx.fail(`append-batch (${mode}): ${result.errors} failed calls`);
          results[mode].push(result);
        }
      }
      ctx.add(throughputFigure({ workload: 'append-batch', case: SINGLE_CASE, system: 'eventbus-always' }, results.single));
      ctx.add(throughputFigure({ workload: 'append-batch', case: BATCH_CASE, system: 'eventbus-always', note: 'latency is per call (100 events)' }, results.batch));
      ctx.add(throughputFigure({ workload: 'append-batch', case: KEYED_CASE, system: 'eventbus-always', note: 'latency is per call (100 events)' }, results.keyed));
    } finally {
      await server.stop();
    }
  },
};
