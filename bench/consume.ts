/**
 * `npm run bench:consume`: consumers through a real `eventbus serve` process (fsync always).
 *
 * 1. Durable write rate: write N events (default 1,000,000, 100 bytes) over 16 connections,
 *    32 deep: the peer figure the drain is compared with, measured in the same run.
 * 2. Drain: W workers (default 4) share one consumer; each loops process_events (batches of
 *    `--batch`, default 1,000) and marks every delivered event processed (one mark_event with
 *    all ids, pipelined with the next process_events). Target: drain rate >= half the durable
 *    write rate.
 * 3. Mixed: writers and consumers at once; consumers long-poll (wait_ms) and mark everything.
 *    Reports consumed events/s and end-to-end latency, write to delivery (the writer puts its
 *    clock in the payload; both sides run in this process, so the clocks agree).
 * 4. mark_event cost against stream length: single-id marks on a 10,000-event stream and on the
 *    N-event stream; the ratio of their mean latencies should be about 1.
 *
 *   node dist/bench/consume.js [-n 1000000] [--workers 4] [--batch 1000] [--mixed-events 200000] [--json]
 */
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { EventBusClient } from '../src/client/index.js';
import { startServer } from './bench-server.js';
import { runLoad } from './tcp-load.js';

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

const EVENTS = argument('-n', 1_000_000);
const WORKERS = argument('--workers', 4);
const BATCH = argument('--batch', 1000);
const MIXED_EVENTS = argument('--mixed-events', 200_000);
const MARK_PROBES = 1000;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** W workers share `consumer` and drain `expected` events, marking each batch processed. */
async function drain(port: number, stream: string, consumer: string, expected: number): Promise<{ events: number; ms: number }> {
  const clients = await Promise.all(Array.from({ length: WORKERS }, () => EventBusClient.connect({ port })));
  let drained = 0;
  const started = performance.now();
  await Promise.all(clients.map(async (client) => {
    let marking: Promise<void> = Promise.resolve();
    while (drained < expected) {
      // Sent right behind the previous mark: the server runs them in order on this connection.
      const delivery = client.processEvents(stream, { consumer, maxEvents: BATCH, waitMs: 200 });
      await marking;
      const { events } = await delivery;
      drained += events.length;
      marking = events.length === 0 ? Promise.resolve() : client.markEvent(events.map((e) => e.id), 1, { consumer });
    }
    await marking;
  }));
  const ms = performance.now() - started;
  await Promise.all(clients.map((c) => c.close()));
  return { events: drained, ms };
}

/** Writers and consumers at once; returns consumed/s and write-to-delivery latencies. */
async function mixed(port: number): Promise<{ consumedPerSecond: number; p50Ms: number; p99Ms: number; maxMs: number; writers: number; depth: number }> {
  const writers = 8;
  const depth = 4;
  const setup = await EventBusClient.connect({ port });
  await setup.createStream('live');
  await setup.close();
  const writerClients = await Promise.all(Array.from({ length: writers }, () => EventBusClient.connect({ port })));
  const consumerClients = await Promise.all(Array.from({ length: WORKERS }, () => EventBusClient.connect({ port })));
  const latencies: number[] = [];
  let written = 0;
  let consumed = 0;
  const started = performance.now();
  const writing = Promise.all(writerClients.map(async (client) => {
    const inFlight: Promise<unknown>[] = [];
    while (written < MIXED_EVENTS) {
      written += 1;
      inFlight.push(client.writeEventJson('live', `{"t":${performance.timeOrigin + performance.now()},"pad":"${'x'.repeat(60)}"}`));
      if (inFlight.length >= depth) await inFlight.shift();
    }
    await Promise.all(inFlight);
  }));
  const consuming = Promise.all(consumerClients.map(async (client) => {
    while (consumed < MIXED_EVENTS) {
      const { events } = await client.processEvents<{ t: number }>('live', { consumer: 'live', maxEvents: BATCH, waitMs: 200 });
      const now = performance.timeOrigin + performance.now();
      for (const event of events) latencies.push(now - event.body.t);
      consumed += events.length;
      if (events.length > 0) await client.markEvent(events.map((e) => e.id), 1, { consumer: 'live' });
    }
  }));
  await Promise.all([writing, consuming]);
  const ms = performance.now() - started;
  await Promise.all([...writerClients, ...consumerClients].map((c) => c.close()));
  latencies.sort((a, b) => a - b);
  return { consumedPerSecond: (consumed / ms) * 1000, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), maxMs: latencies[latencies.length - 1] ?? 0, writers, depth };
}

/**
 * Latency of single-id mark_event requests, one at a time, alternating between two streams (so
 * that load from elsewhere on the machine hits both alike).
 */
async function markCost(port: number, streams: [string, string]): Promise<{ meanMs: number; p99Ms: number }[]> {
  const client = await EventBusClient.connect({ port });
  const delivered = await Promise.all(streams.map((stream) => client.processEvents(stream, { consumer: 'probe', maxEvents: MARK_PROBES })));
  const latencies: number[][] = [[], []];
  for (let i = 0; i < MARK_PROBES; i++) {
    for (const which of [0, 1] as const) {
      const event = delivered[which]!.events[i];
      if (event === undefined) continue;
      const t0 = performance.now();
      await client.markEvent(event.id, 1, { consumer: 'probe' });
      latencies[which]!.push(performance.now() - t0);
    }
  }
  await client.close();
  return latencies.map((list) => {
    list.sort((a, b) => a - b);
    return { meanMs: list.reduce((a, b) => a + b, 0) / list.length, p99Ms: percentile(list, 99) };
  });
}

async function main(): Promise<void> {
  console.log(`eventbus consume benchmark: fsync always, 100-byte events, ${WORKERS} workers, batches of ${BATCH}; ${os.cpus().length} cores, node ${process.version}`);
  console.log(`load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const server = await startServer('always');
  try {
    const setup = await EventBusClient.connect({ port: server.port });
    await setup.createStream('drain');
    await setup.createStream('short');
    await setup.close();

    const write = await runLoad({ port: server.port, connections: 16, depth: 32, sizeBytes: 100, events: EVENTS, stream: 'drain' });
    console.log(`durable writes (16,32):  ${Math.round(write.eventsPerSecond).toLocaleString('en')} events/s (${EVENTS.toLocaleString('en')} events, p99 ${write.p99Ms.toFixed(2)} ms, ${write.failures} failures)`);

    const drained = await drain(server.port, 'drain', 'workers', EVENTS);
    const drainRate = (drained.events / drained.ms) * 1000;
    const ratio = drainRate / write.eventsPerSecond;
    console.log(`drain with acks:         ${Math.round(drainRate).toLocaleString('en')} events/s (${drained.events.toLocaleString('en')} events in ${(drained.ms / 1000).toFixed(1)} s) = ${ratio.toFixed(2)}x the durable write rate; ${ratio >= 0.5 ? 'MET' : 'MISSED'} target >= 0.5x`);

    const live = await mixed(server.port);
    console.log(`mixed (${live.writers} writers x ${live.depth} deep, ${WORKERS} consumers): ${Math.round(live.consumedPerSecond).toLocaleString('en')} consumed/s; write-to-delivery p50 ${live.p50Ms.toFixed(2)} ms, p99 ${live.p99Ms.toFixed(2)} ms, max ${live.maxMs.toFixed(1)} ms`);

    await runLoad({ port: server.port, connections: 4, depth: 32, sizeBytes: 100, events: 10_000, stream: 'short' });
    const [short, long] = await markCost(server.port, ['short', 'drain']) as [{ meanMs: number; p99Ms: number }, { meanMs: number; p99Ms: number }];
    console.log(`mark_event, one id at a time: 10,000-event stream mean ${short.meanMs.toFixed(3)} ms (p99 ${short.p99Ms.toFixed(3)}); ${EVENTS.toLocaleString('en')}-event stream mean ${long.meanMs.toFixed(3)} ms (p99 ${long.p99Ms.toFixed(3)}); ratio ${(long.meanMs / short.meanMs).toFixed(2)}x`);

    const results = path.join(process.cwd(), 'bench', 'results');
    fs.mkdirSync(results, { recursive: true });
    const file = path.join(results, `consume-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(file, JSON.stringify({ events: EVENTS, workers: WORKERS, batch: BATCH, write, drain: { ...drained, eventsPerSecond: drainRate, ratio }, mixed: live, markCost: { short, long } }, null, 2));
    console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`results: ${file}`);
  } finally {
    await server.stop();
  }
}

await main();
