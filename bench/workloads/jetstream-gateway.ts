/**
 * `jetstream-gateway` (issue 16): what the gateway costs on a replicated cluster. One 3-node
 * nats-server cluster of its own (R3 streams), and in the same run, in alternating order:
 *
 * - through the gateway: `eventbus serve --backend jetstream` driven over the eventbus protocol
 *   (write_event; process_events + mark_event);
 * - a direct JetStream client on the same cluster: `js.publish` awaiting each PubAck; a durable
 *   pull consumer fetched in batches with every message acknowledged.
 *
 * Each side warms up untimed first (3 s, then each shape for the harness's warm-up time).
 * Writes at (1,1), (16,1), (16,32) 100 B and drain-and-acknowledge of 20,000 events; target:
 * gateway ≥ 0.8× direct. The gateway's overhead per request is the difference of the (1,1) p50
 * latencies. The machine is the bottleneck (three Raft servers, the gateway and the load share
 * its cores): read the ratios, measured in the same run, not the absolute figures.
 */
import { AckPolicy, StorageType, connect, type JetStreamClient, type JsMsg, type NatsConnection } from 'nats';
import { call, drainLoad, prefill, writeLoad } from '../../src/cli/bench/eventbus-load.js';
import { localEndpoint } from '../../src/cli/bench/endpoint.js';
import { newHistogram, recordMs, summarize } from '../../src/cli/bench/histogram.js';
import { payload } from '../../src/cli/bench/payload.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import { natsServerAvailable, NATS_INSTALL_HINT, startNatsCluster, type NatsCluster } from '../../test/helpers/nats-cluster.js';
import { startEventbus, type StartedEventbus } from '../systems/eventbus.js';
import { throughputFigure, valueFigure, type RunResult } from '../core/figures.js';
import type { BenchContext } from '../core/context.js';
import type { Workload } from './workload.js';
import { NATS_CLIENT_OPTIONS } from '../core/nats-client.js';

export const GATEWAY_SYSTEM = 'eventbus-jetstream';
export const DIRECT_SYSTEM = 'jetstream-direct';
const SHAPES: [number, number][] = [[1, 1], [16, 1], [16, 32]];
/** The first untimed run of each side, before any shape's own warm-up (full runs). */
const CLUSTER_WARMUP_MS = 3000;
const DRAIN_EVENTS = 20_000;
const DRAIN_WORKERS = 4;
const DRAIN_BATCH = 100;
const DRAIN_TIMEOUT_MS = 180_000;
/** How long past its own end a direct fetch may take before it is stopped (the gateway's no_wait guard). */
const FETCH_GUARD_MS = 1000;
const encoder = new TextEncoder();

export function writeCase(connections: number, depth: number): string {
  return `write (${connections},${depth}) 100 B, R3`;
}
export const DRAIN_CASE = `drain-and-acknowledge ${DRAIN_EVENTS} events, ${DRAIN_WORKERS} workers, batch ${DRAIN_BATCH}, R3`;

async function directStream(nc: NatsConnection, name: string): Promise<void> {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: 3, storage: StorageType.File });
}

async function directWrite(servers: string[], name: string, connections: number, depth: number, durationMs: number, progress: Progress): Promise<RunResult> {
  const ncs = await Promise.all(Array.from({ length: connections }, () => connect({ ...NATS_CLIENT_OPTIONS, servers })));
  try {
    await directStream(ncs[0]!, name);
    const data = encoder.encode(payload(100));
    const histogram = newHistogram();
    let ops = 0;
    let errors = 0;
    progress.total = durationMs;
    progress.unit = 'ms';
    const started = performance.now();
    const deadline = started + durationMs;
    let last = started;
    const publisher = async (nc: NatsConnection) => {
      const js = nc.jetstream();
      while (performance.now() < deadline) {
        const sent = performance.now();
        try {
          await js.publish(`${name}.n`, data);
        } catch {
          errors += 1;
        }
        last = performance.now();
        recordMs(histogram, last - sent);
        ops += 1;
        progress.done = Math.min(last - started, durationMs);
      }
    };
    await Promise.all(ncs.flatMap((nc) => Array.from({ length: depth }, () => publisher(nc))));
    const elapsedMs = last - started;
    await (await ncs[0]!.jetstreamManager()).streams.delete(name).catch(() => false);
    return { ops, elapsedMs, opsPerSecond: (ops / elapsedMs) * 1000, latency: summarize(histogram), errors };
  } finally {
    await Promise.all(ncs.map((nc) => nc.close()));
  }
}

/**
 * A fetch stopped when it has not ended within `guardMs`, as the gateway guards its own fetches
 * (consumers.ts): a fetch whose end (the server's 404/408) never came hung whole runs on this
 * machine; stopped, it returns what it has and the worker fetches again (what the stopped fetch
 * was sent comes back after the ack wait).
 */
async function guardedFetch(js: JetStreamClient, name: string, options: { batch: number; no_wait?: boolean; expires?: number }, guardMs: number): Promise<JsMsg[]> {
  const messages: JsMsg[] = [];
  const iterator = js.fetch(name, 'd', options);
  const timer = setTimeout(() => iterator.stop(), guardMs);
  try {
    for await (const m of iterator) messages.push(m);
  } finally {
    clearTimeout(timer);
  }
  return messages;
}

async function directDrain(servers: string[], name: string, progress: Progress): Promise<RunResult> {
  const nc = await connect({ ...NATS_CLIENT_OPTIONS, servers });
  const workers = await Promise.all(Array.from({ length: DRAIN_WORKERS }, () => connect({ ...NATS_CLIENT_OPTIONS, servers })));
  try {
    await directStream(nc, name);
    const data = encoder.encode(payload(100));
    for (let i = 0; i < DRAIN_EVENTS; i += 500) await Promise.all(Array.from({ length: Math.min(500, DRAIN_EVENTS - i) }, () => nc.jetstream().publish(`${name}.n`, data)));
    const jsm = await nc.jetstreamManager();
    await jsm.consumers.add(name, { durable_name: 'd', ack_policy: AckPolicy.Explicit });
    const histogram = newHistogram();
    let acked = 0;
    progress.total = DRAIN_EVENTS;
    const started = performance.now();
    const deadline = started + DRAIN_TIMEOUT_MS;
    const worker = async (wc: NatsConnection) => {
      const js = wc.jetstream();
      while (acked < DRAIN_EVENTS) {
        if (performance.now() > deadline) throw new Error(`direct drain: ${acked} of ${DRAIN_EVENTS} acknowledged after ${DRAIN_TIMEOUT_MS} ms`);
        const sent = performance.now();
        const batch = await guardedFetch(js, name, { batch: DRAIN_BATCH, no_wait: true }, FETCH_GUARD_MS);
        // Nothing there (the consumer's leader still electing, or taken by the other workers): wait for one instead of spinning.
        if (batch.length === 0) batch.push(...(await guardedFetch(js, name, { batch: 1, expires: 1000 }, 1000 + FETCH_GUARD_MS)));
        // Confirmed, as mark_event's acknowledgements are (the same work the gateway does).
        await Promise.all(batch.map((m) => m.ackAck()));
        acked += batch.length;
        recordMs(histogram, performance.now() - sent);
        progress.done = acked;
      }
    };
    // A fetch whose end (the server's 404/408) never comes would hang its worker, and the run with
    // it (seen twice on this machine): past the deadline the workers' connections are closed,
    // which ends every fetch, and the run fails instead of holding the benchmark lock forever.
    const watchdog = setTimeout(() => void Promise.all(workers.map((c) => c.close())), DRAIN_TIMEOUT_MS);
    try {
      await Promise.all(workers.map(worker));
    } finally {
      clearTimeout(watchdog);
    }
    if (acked < DRAIN_EVENTS) throw new Error(`direct drain: ${acked} of ${DRAIN_EVENTS} acknowledged after ${DRAIN_TIMEOUT_MS} ms`);
    const elapsedMs = performance.now() - started;
    await jsm.streams.delete(name).catch(() => false);
    return { ops: acked, elapsedMs, opsPerSecond: (acked / elapsedMs) * 1000, latency: summarize(histogram), errors: 0 };
  } finally {
    await Promise.all([nc, ...workers].map((c) => c.close()));
  }
}

async function gatewayWrite(gateway: StartedEventbus, name: string, connections: number, depth: number, durationMs: number, progress: Progress): Promise<RunResult> {
  const endpoint = localEndpoint(gateway.port);
  await call(endpoint, 'create_stream', { stream_name: name });
  try {
    return await writeLoad(endpoint, { stream: name, connections, depth, sizeBytes: 100, durationMs, progress });
  } finally {
    await call(endpoint, 'delete_stream', { stream_name: name }, 'STREAM_NOT_FOUND');
  }
}

async function gatewayDrain(gateway: StartedEventbus, name: string, progress: Progress): Promise<RunResult> {
  const endpoint = localEndpoint(gateway.port);
  await call(endpoint, 'create_stream', { stream_name: name });
  try {
    await prefill(endpoint, name, DRAIN_EVENTS, 100);
    return await drainLoad(endpoint, { stream: name, consumer: 'd', workers: DRAIN_WORKERS, batch: DRAIN_BATCH, events: DRAIN_EVENTS, progress });
  } finally {
    await call(endpoint, 'delete_stream', { stream_name: name }, 'STREAM_NOT_FOUND');
  }
}

async function measure(ctx: BenchContext, cluster: NatsCluster, gateway: StartedEventbus): Promise<void> {
  const reps = Math.max(2, ctx.scale.reps);
  const durationMs = Math.max(ctx.scale.writeMs, 1000);
  let n = 0;
  const latencyP50 = new Map<string, number[]>();
  // Untimed warm-ups, as every write workload has: a fresh cluster, gateway process and load
  // generator ran their first repetitions measurably slower (gateway (1,1) reps rising
  // 518 → 694 → 884/s in one run), which the ratios then read as the gateway's cost.
  const firstWarmupMs = ctx.scale.quick ? ctx.scale.warmupMs : CLUSTER_WARMUP_MS;
  await ctx.step('gateway warm-up', 'cluster and gateway', (p) => gatewayWrite(gateway, `warm${n++}`, 1, 1, firstWarmupMs, p));
  await ctx.step('direct warm-up', 'cluster and client', (p) => directWrite(cluster.servers, `Dwarm${n++}`, 1, 1, firstWarmupMs, p));
  for (const [c, d] of SHAPES) {
    const gw: RunResult[] = [];
    const direct: RunResult[] = [];
    await ctx.step(`gateway (${c},${d})`, 'warm-up', (p) => gatewayWrite(gateway, `warm${n++}`, c, d, ctx.scale.warmupMs, p));
    await ctx.step(`direct (${c},${d})`, 'warm-up', (p) => directWrite(cluster.servers, `Dwarm${n++}`, c, d, ctx.scale.warmupMs, p));
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 === 0 ? ['gateway', 'direct'] : ['direct', 'gateway'];
      for (const which of order) {
        const name = `bench${n++}`;
        if (which === 'gateway') gw.push(await ctx.step(`gateway (${c},${d})`, `rep ${rep + 1}/${reps}`, (p) => gatewayWrite(gateway, name, c, d, durationMs, p)));
        else direct.push(await ctx.step(`direct (${c},${d})`, `rep ${rep + 1}/${reps}`, (p) => directWrite(cluster.servers, `D${name}`, c, d, durationMs, p)));
      }
    }
    ctx.add(throughputFigure({ workload: 'jetstream-gateway', case: writeCase(c, d), system: GATEWAY_SYSTEM }, gw));
    ctx.add(throughputFigure({ workload: 'jetstream-gateway', case: writeCase(c, d), system: DIRECT_SYSTEM }, direct));
    if (c === 1 && d === 1) {
      latencyP50.set('gateway', gw.map((r) => r.latency.p50Ms));
      latencyP50.set('direct', direct.map((r) => r.latency.p50Ms));
    }
  }
  const gw: RunResult[] = [];
  const direct: RunResult[] = [];
  for (let rep = 0; rep < reps; rep++) {
    gw.push(await ctx.step('gateway drain', `rep ${rep + 1}/${reps}`, (p) => gatewayDrain(gateway, `drain${rep}`, p)));
    direct.push(await ctx.step('direct drain', `rep ${rep + 1}/${reps}`, (p) => directDrain(cluster.servers, `Ddrain${rep}`, p)));
  }
  ctx.add(throughputFigure({ workload: 'jetstream-gateway', case: DRAIN_CASE, system: GATEWAY_SYSTEM }, gw));
  ctx.add(throughputFigure({ workload: 'jetstream-gateway', case: DRAIN_CASE, system: DIRECT_SYSTEM }, direct));
  const overhead = latencyP50.get('gateway')!.map((g, i) => (g - latencyP50.get('direct')![i]!) * 1000);
  ctx.add(valueFigure({ workload: 'jetstream-gateway', case: 'gateway overhead per request: (1,1) p50 gateway − p50 direct', system: GATEWAY_SYSTEM, unit: 'µs', higherIsBetter: false }, overhead));
}

export const jetstreamGatewayWorkload: Workload = {
  name: 'jetstream-gateway',
  description: 'issue 16: writes (1,1) (16,1) (16,32) and drain-and-ack through an eventbus gateway on a 3-node JetStream cluster vs a direct JetStream client, same cluster, same run (own cluster)',
  systems: [],
  eventbusOnly: true,
  optIn: true,
  async run(ctx) {
    if (!natsServerAvailable()) {
      ctx.fail(`jetstream-gateway: ${NATS_INSTALL_HINT}`);
      return;
    }
    const cluster = await startNatsCluster();
    let gateway: StartedEventbus | undefined;
    try {
      gateway = await startEventbus('always', {}, { args: ['--backend', 'jetstream', '--nats-servers', cluster.servers.join(',')] });
      await measure(ctx, cluster, gateway);
    } finally {
      await gateway?.stop();
      await cluster.stop();
    }
  },
};
