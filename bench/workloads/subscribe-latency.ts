/**
 * Write-to-subscriber latency (issue 13): an open-loop writer at a fixed rate (10,000 events/s;
 * the events spread over 4 pipelined connections) and 16 live subscribers of the stream. Each
 * event carries its send time; every subscriber records now − send time for every event it gets,
 * so the figure is the whole way: write, group commit (fsync under `always`), visibility, push,
 * the subscriber's parse. Target: p99 under 5 ms for eventbus (fsync always).
 *
 * The peer, measured in the same run: NATS JetStream (file storage) with 16 ordered push
 * consumers delivering new messages, the publisher awaiting each PubAck at the same rate. Both
 * are driven from this one process (the subscribers' parsing shares its two cores), alike.
 */
import { DeliverPolicy, StorageType, connect } from 'nats';
import { valueFigure } from '../core/figures.js';
import { EventBusClient } from '../../src/client/client.js';
import { localEndpoint } from '../../src/cli/bench/endpoint.js';
import { requestLine } from '../../src/cli/bench/eventbus-load.js';
import { newHistogram, recordMs, summarize, type LatencySummary } from '../../src/cli/bench/histogram.js';
import { openLines } from '../../src/cli/bench/pipelined-connection.js';
import type { RunningSystem } from '../systems/system.js';
import type { Workload } from './workload.js';

const RATE_PER_SECOND = 10_000;
const SUBSCRIBERS = 16;
const WRITERS = 4;
const WARMUP_MS = 1_000;
const MEASURE_MS = 5_000;
const STREAM = 'bench-subscribe-latency';

/**
 * Calls `send(seq)` for seq 0, 1, … at `RATE_PER_SECOND` until `durationMs` passed; returns events
 * sent. The sends due at one moment are a burst between `burst.before` and `burst.after` (eventbus
 * corks its writers' sockets: a burst goes out in one write per connection, at once, as the
 * NATS client's own buffering does).
 */
async function openLoop(durationMs: number, send: (seq: number) => void, burst?: { before(): void; after(): void }): Promise<number> {
  const started = performance.now();
  let sent = 0;
  for (;;) {
    const elapsed = performance.now() - started;
    if (elapsed >= durationMs) return sent;
    const due = Math.floor((elapsed * RATE_PER_SECOND) / 1000);
    if (sent < due) {
      burst?.before();
      while (sent < due) send(sent++);
      burst?.after();
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
}

interface Result {
  latency: LatencySummary;
  sent: number;
  received: number;
}

async function eventbusRun(port: number): Promise<Result> {
  const admin = await EventBusClient.connect({ port });
  await admin.request('delete_stream', { stream_name: STREAM }).catch(() => {});
  await admin.createStream(STREAM);
  const sentAt: number[] = [];
  const histogram = newHistogram();
  let measureFrom = Number.POSITIVE_INFINITY;
  let received = 0;
  const subscriptions = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => admin.subscribe(STREAM, { fromEnd: true })));
  await Promise.all(subscriptions.map((s) => s.caughtUp));
  const reading = subscriptions.map(async (subscription) => {
    try {
      for await (const line of subscription.lines()) {
        const now = performance.now();
        const events = (line.response.body as { events?: { body: { s: number } }[] }).events ?? [];
        for (const event of events) {
          const seq = event.body.s;
          if (sentAt[seq]! >= measureFrom) {
            recordMs(histogram, now - sentAt[seq]!);
            received += 1;
          }
        }
      }
    } catch {
      // closed at the end
    }
  });
  const writers = await openLines(localEndpoint(port), WRITERS);
  const pad = 'x'.repeat(60);
  let failures = 0;
  let answered = 0;
  const send = (seq: number) => {
    sentAt[seq] = performance.now();
    writers[seq % WRITERS]!.send(requestLine('write_event', { stream_name: STREAM, event: { s: seq, pad } })).then((reply) => {
      answered += 1;
      if (!reply.startsWith('{"operation":"write_event","status":true')) failures += 1;
    }, () => (failures += 1));
  };
  const burst = { before: () => writers.forEach((w) => w.cork()), after: () => writers.forEach((w) => w.uncork()) };
  await openLoop(WARMUP_MS, send, burst);
  measureFrom = performance.now();
  const base = sentAt.length;
  let next = base;
  const sent = await openLoop(MEASURE_MS, () => send(next++), burst);
  for (let waited = 0; answered < sentAt.length && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const subscription of subscriptions) subscription.close();
  await Promise.all(reading);
  for (const writer of writers) writer.close();
  await admin.request('delete_stream', { stream_name: STREAM }).catch(() => {});
  await admin.close();
  if (failures > 0) throw new Error(`${failures} writes failed`);
  return { latency: summarize(histogram), sent, received };
}

async function natsRun(port: number): Promise<Result> {
  const connection = await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
  const manager = await connection.jetstreamManager();
  await manager.streams.delete(STREAM).catch(() => {});
  await manager.streams.add({ name: STREAM, subjects: [STREAM], storage: StorageType.File });
  const js = connection.jetstream();
  const sentAt: number[] = [];
  const histogram = newHistogram();
  let measureFrom = Number.POSITIVE_INFINITY;
  let received = 0;
  const readers = await Promise.all(Array.from({ length: SUBSCRIBERS }, async () => {
    const subscriber = await connect({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 });
    const consumer = await subscriber.jetstream().consumers.get(STREAM, { deliver_policy: DeliverPolicy.New });
    const messages = await consumer.consume({ max_messages: 10_000 });
    const done = (async () => {
      for await (const message of messages) {
        const now = performance.now();
        const seq = (message.json() as { s: number }).s;
        if (sentAt[seq]! >= measureFrom) {
          recordMs(histogram, now - sentAt[seq]!);
          received += 1;
        }
      }
    })();
    return { subscriber, messages, done };
  }));
  const pad = 'x'.repeat(60);
  let failures = 0;
  const send = (seq: number) => {
    sentAt[seq] = performance.now();
    js.publish(STREAM, JSON.stringify({ s: seq, pad })).catch(() => (failures += 1));
  };
  await openLoop(WARMUP_MS, send);
  measureFrom = performance.now();
  let next = sentAt.length;
  const sent = await openLoop(MEASURE_MS, () => send(next++));
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const reader of readers) {
    reader.messages.stop();
    await reader.subscriber.close();
  }
  await Promise.all(readers.map((r) => r.done.catch(() => {})));
  await manager.streams.delete(STREAM).catch(() => {});
  await connection.close();
  if (failures > 0) throw new Error(`${failures} publishes failed`);
  return { latency: summarize(histogram), sent, received };
}

export const subscribeLatencyWorkload: Workload = {
  name: 'subscribe-latency',
  description: `write-to-subscriber latency: ${RATE_PER_SECOND.toLocaleString('en-US')} events/s open loop, ${SUBSCRIBERS} live subscribers (eventbus subscribe vs NATS JetStream ordered consumers); target p99 < 5 ms`,
  systems: ['eventbus-always', 'nats'],
  async run(ctx, systems: RunningSystem[]) {
    const p99 = new Map<string, number[]>();
    for (let rep = 0; rep < ctx.scale.reps; rep++) {
      for (const system of rep % 2 === 0 ? systems : [...systems].reverse()) {
        const run = system.id === 'nats' ? natsRun : eventbusRun;
        let result: Awaited<ReturnType<typeof run>>;
        try {
          result = await ctx.step(system.id, `${SUBSCRIBERS} subscribers, rep ${rep + 1}/${ctx.scale.reps}`, () => run(system.port));
        } catch (error) {
          // One system failing a repetition (NATS's publishes timing out at this rate) must not lose the others' figures.
          ctx.fail(`subscribe-latency: ${system.id}, rep ${rep + 1}: ${error instanceof Error ? error.message : String(error)}`);
          continue;
        }
        const expected = result.sent * SUBSCRIBERS;
        if (result.received < expected) ctx.fail(`${system.id}: subscribers received ${result.received} of ${expected} events sent while measuring within 0.5 s of the last write's answer (they fell behind)`);
        const base = { workload: 'subscribe-latency', system: system.id, unit: 'ms', higherIsBetter: false };
        ctx.add(valueFigure({ ...base, case: `write-to-subscriber p50, rep ${rep + 1}` }, [result.latency.p50Ms]));
        ctx.add(valueFigure({ ...base, case: `write-to-subscriber p99, rep ${rep + 1}` }, [result.latency.p99Ms]));
        ctx.add(valueFigure({ ...base, case: `write-to-subscriber max, rep ${rep + 1}` }, [result.latency.maxMs]));
        p99.set(system.id, [...(p99.get(system.id) ?? []), result.latency.p99Ms]);
      }
    }
    for (const [id, values] of p99) {
      ctx.add(valueFigure({ workload: 'subscribe-latency', system: id, case: `write-to-subscriber p99 (${RATE_PER_SECOND.toLocaleString('en-US')}/s, ${SUBSCRIBERS} subscribers)`, unit: 'ms', higherIsBetter: false }, values));
    }
    const ours = p99.get('eventbus-always');
    const theirs = p99.get('nats');
    if (ours !== undefined && theirs !== undefined && ours.length === theirs.length) {
      ctx.add(valueFigure({ workload: 'subscribe-latency', system: 'eventbus-always', case: 'p99 eventbus / NATS JetStream', unit: '×', higherIsBetter: false }, ours.map((v, i) => v / theirs[i]!)));
    }
  },
};
