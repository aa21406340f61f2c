/**
 * Write-to-subscriber latency (issue 13): an open-loop writer at a fixed rate (10,000 events/s;
 * the events spread over 4 pipelined connections) and 16 live subscribers of the stream. Each
 * event `{s, t, pad}` carries its send time t on the clock every process shares
 * (performance.timeOrigin + performance.now(), ms); every subscriber records now − t for every event
 * it gets, so the figure is the whole way: write, group commit (fsync under `always`),
 * visibility, push, and the subscriber finding the event in what it read. Target: p99 under 5 ms
 * for eventbus (fsync always).
 *
 * The writer runs in this process; the subscribers run in child processes of their own
 * (subscribe-latency-child.ts, 2 × 8), so that their reading does not delay the writer's send
 * stamps, nor the writer their receive stamps. They read cheaply and alike for both systems:
 * eventbus's raw subscription lines, NATS's message data, each event's `s` and `t` found by
 * scanning bytes. An event is measured when it is one of the 50,000 sent after 10,000 of warm-up
 * (`--quick`: 10,000 after 2,000); each subscriber counts each measured event once (the child
 * checks, and eventbus's `next_offset` on every line), so received = 16 × sent unless
 * subscribers fell behind (had not got them 0.5 s after the last answer; 3 s with `--quick`). The writer also records each measured write's answer (PubAck for
 * NATS): the same way less the push to subscribers. It sends what is due every ~1 ms (a timer:
 * a spinning loop would take a core from the server); each event is stamped when sent.
 *
 * The peer, measured in the same run: NATS JetStream (file storage) with 16 ordered consumers
 * delivering new messages, the publisher awaiting each PubAck at the same rate.
 */
import { fileURLToPath } from 'node:url';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { StorageType, connect } from 'nats';
import { monotonicUs, type BenchContext } from '../core/context.js';
import { valueFigure } from '../core/figures.js';
import { processCpuMs } from '../core/cpu-time.js';
import { spawnTracked, type TrackedChild } from '../core/processes.js';
import { EventBusClient } from '../../src/client/client.js';
import { localEndpoint } from '../../src/cli/bench/endpoint.js';
import { requestLine } from '../../src/cli/bench/eventbus-load.js';
import { newHistogram, recordMs, summarize, type LatencySummary } from '../../src/cli/bench/histogram.js';
import { openLines } from '../../src/cli/bench/pipelined-connection.js';
import type { RunningSystem } from '../systems/system.js';
import type { Workload } from './workload.js';
import { NATS_CLIENT_OPTIONS } from '../core/nats-client.js';

const CHILD = fileURLToPath(new URL('./subscribe-latency-child.js', import.meta.url));
const RATE_PER_SECOND = 10_000;
const SUBSCRIBERS = 16;
/** Child processes the subscribers are spread over (1 × 16 used a little less CPU than 2 × 8; their p99s could not be told apart on a busy 2-core machine). */
const SUBSCRIBER_PROCESSES = 2;
const WRITERS = 4;
/** Events of warm-up, then measured: 1 s and 5 s (`--quick`: 0.2 s and 1 s). */
interface Counts {
  warmup: number;
  measured: number;
  /** What the subscribers get after the last answer before they are stopped (later events count as fallen behind). */
  graceMs: number;
}
const FULL_COUNTS: Counts = { warmup: RATE_PER_SECOND, measured: 5 * RATE_PER_SECOND, graceMs: 500 };
/** `--quick` is what the test suite runs, on a machine busier than a benchmark's: more grace. */
const QUICK_COUNTS: Counts = { warmup: RATE_PER_SECOND / 5, measured: RATE_PER_SECOND, graceMs: 3_000 };
/** How long the subscribers may take to be ready, and the writes to be answered after the last is sent. */
const READY_TIMEOUT_MS = 30_000;
const ANSWER_TIMEOUT_MS = 10_000;
const STREAM = 'bench-subscribe-latency';

/**
 * Calls `send(seq)` for seq `first` … `first + count − 1` at `RATE_PER_SECOND`, from now. The
 * sends due at one tick are a burst between `burst.before` and `burst.after` (eventbus corks its
 * writers' sockets: a burst goes out in one write per connection, at once, as the NATS client's
 * own buffering does).
 */
async function openLoop(first: number, count: number, send: (seq: number) => void, burst?: { before(): void; after(): void }): Promise<void> {
  const started = performance.now();
  let sent = 0;
  while (sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - started) * RATE_PER_SECOND) / 1000));
    if (sent < due) {
      burst?.before();
      while (sent < due) send(first + sent++);
      burst?.after();
    }
    // A timer, not setImmediate: spinning would take a core from the server on a 2-core machine.
    // The due sends go out together every ~1 ms (10 at this rate), each stamped when sent.
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

interface Measured {
  latency: LatencySummary;
  sent: number;
  /** How long after the last answer the subscribers were stopped. */
  graceMs: number;
  received: number;
  duplicates: number;
  minLatencyMs: number;
  /** CPU used while the measured events were sent, in % of one core: the server's, the subscriber processes' (together), this process's (the writer). */
  cpuPercent: { server: number | null; subscribers: number | null; writer: number };
}

interface Result extends Measured {
  /** Send to the write's answer (PubAck for NATS), in the writer, for the measured events: the subscribers' latency less the push. */
  ack: LatencySummary;
}

interface ChildResult {
  received: number;
  duplicates: number;
  minLatencyMs: number | null;
  histogram: string;
}

/** One subscriber process: ready once its subscriptions are open; `stop` collects its result. */
class SubscriberProcess {
  private readonly lines: string[] = [];
  private readonly proc: TrackedChild;
  private lineArrived: () => void = () => {};

  constructor(system: string, port: number, subscribers: number, counts: Counts) {
    this.proc = spawnTracked(process.execPath, [CHILD, system, String(port), STREAM, String(subscribers), String(counts.warmup), String(counts.measured)]);
    let buffered = '';
    this.proc.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      this.lines.push(...lines.filter((l) => l.trim() !== ''));
      this.lineArrived();
    });
  }

  async ready(): Promise<void> {
    const until = Date.now() + READY_TIMEOUT_MS;
    let exited = false;
    void this.proc.exited.then(() => (exited = true));
    while (!this.lines.includes('{"ready":1}')) {
      if (exited || Date.now() > until) throw new Error(`subscriber process not ready (${exited ? 'it exited' : 'timed out'}):\n${this.proc.output()}`);
      await new Promise<void>((resolve) => {
        this.lineArrived = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  async stop(): Promise<ChildResult> {
    this.proc.child.kill('SIGUSR2');
    const status = await this.proc.exited;
    const last = this.lines[this.lines.length - 1];
    if (status !== 0 || last === undefined || last === '{"ready":1}') throw new Error(`subscriber process ended with ${status}:\n${this.proc.output()}`);
    return JSON.parse(last) as ChildResult;
  }

  cpuMs(): number | null {
    return this.proc.child.pid === undefined ? null : processCpuMs(this.proc.child.pid);
  }

  kill(): void {
    void this.proc.stop('SIGKILL', 1000);
  }
}

/**
 * Starts the subscriber processes, runs `write` (warm-up, then the measured events), waits
 * `counts.graceMs`, then stops the subscribers and merges their histograms.
 */
async function measure(ctx: BenchContext, system: RunningSystem, counts: Counts, write: { warmup(): Promise<void>; measured(): Promise<void> }): Promise<Measured> {
  const perProcess = SUBSCRIBERS / SUBSCRIBER_PROCESSES;
  const children = Array.from({ length: SUBSCRIBER_PROCESSES }, () => new SubscriberProcess(system.id === 'nats' ? 'nats' : 'eventbus', system.port, perProcess, counts));
  try {
    await Promise.all(children.map((c) => c.ready()));
    await write.warmup();
    const startUs = monotonicUs();
    const cpuBefore = { server: processCpuMs(system.pid), subscribers: sumOrNull(children.map((c) => c.cpuMs())), writer: process.cpuUsage() };
    await write.measured();
    const cpuAfter = { server: processCpuMs(system.pid), subscribers: sumOrNull(children.map((c) => c.cpuMs())), writer: process.cpuUsage(cpuBefore.writer) };
    const endUs = monotonicUs();
    ctx.windows.push({ system: system.id, workload: 'subscribe-latency', startUs, endUs });
    const percent = (before: number | null, after: number | null) => (before === null || after === null ? null : ((after - before) * 100_000) / (endUs - startUs));
    const cpuPercent = { server: percent(cpuBefore.server, cpuAfter.server), subscribers: percent(cpuBefore.subscribers, cpuAfter.subscribers), writer: ((cpuAfter.writer.user + cpuAfter.writer.system) * 100) / (endUs - startUs) };
    await new Promise((resolve) => setTimeout(resolve, counts.graceMs));
    const results = await Promise.all(children.map((c) => c.stop()));
    const histogram = newHistogram();
    for (const result of results) histogram.add(decodeFromCompressedBase64(result.histogram));
    return {
      latency: summarize(histogram),
      sent: counts.measured,
      graceMs: counts.graceMs,
      received: results.reduce((sum, r) => sum + r.received, 0),
      duplicates: results.reduce((sum, r) => sum + r.duplicates, 0),
      minLatencyMs: Math.min(...results.map((r) => r.minLatencyMs ?? Number.POSITIVE_INFINITY)),
      cpuPercent,
    };
  } finally {
    for (const child of children) child.kill();
  }
}

function sumOrNull(values: (number | null)[]): number | null {
  return values.some((v) => v === null) ? null : values.reduce<number>((sum, v) => sum + v!, 0);
}

/** Waits until `answered()` reaches `sent` or `ANSWER_TIMEOUT_MS` passed. */
async function awaitAnswers(answered: () => number, sent: number): Promise<void> {
  for (let waited = 0; answered() < sent && waited < ANSWER_TIMEOUT_MS; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
}

async function eventbusRun(ctx: BenchContext, system: RunningSystem): Promise<Result> {
  const counts = ctx.scale.quick ? QUICK_COUNTS : FULL_COUNTS;
  const admin = await EventBusClient.connect({ port: system.port });
  await admin.request('delete_stream', { stream_name: STREAM }).catch(() => {});
  await admin.createStream(STREAM);
  const writers = await openLines(localEndpoint(system.port), WRITERS);
  const pad = 'x'.repeat(60);
  let failures = 0;
  let answered = 0;
  const acks = newHistogram();
  const send = (seq: number) => {
    const sentMs = performance.now();
    const line = requestLine('write_event', { stream_name: STREAM, event: { s: seq, t: performance.timeOrigin + sentMs, pad } });
    writers[seq % WRITERS]!.send(line).then((reply) => {
      answered += 1;
      if (!reply.startsWith('{"operation":"write_event","status":true')) failures += 1;
      else if (seq >= counts.warmup) recordMs(acks, performance.now() - sentMs);
    }, () => {
      answered += 1;
      failures += 1;
    });
  };
  const burst = { before: () => writers.forEach((w) => w.cork()), after: () => writers.forEach((w) => w.uncork()) };
  try {
    const result = await measure(ctx, system, counts, {
      warmup: () => openLoop(0, counts.warmup, send, burst),
      measured: async () => {
        await openLoop(counts.warmup, counts.measured, send, burst);
        await awaitAnswers(() => answered, counts.warmup + counts.measured);
      },
    });
    if (failures > 0) throw new Error(`${failures} writes failed`);
    return { ...result, ack: summarize(acks) };
  } finally {
    for (const writer of writers) writer.close();
    await admin.request('delete_stream', { stream_name: STREAM }).catch(() => {});
    await admin.close();
  }
}

async function natsRun(ctx: BenchContext, system: RunningSystem): Promise<Result> {
  const counts = ctx.scale.quick ? QUICK_COUNTS : FULL_COUNTS;
  const connection = await connect({ ...NATS_CLIENT_OPTIONS, servers: `127.0.0.1:${system.port}`, maxReconnectAttempts: 0 });
  const manager = await connection.jetstreamManager();
  await manager.streams.delete(STREAM).catch(() => {});
  await manager.streams.add({ name: STREAM, subjects: [STREAM], storage: StorageType.File });
  const js = connection.jetstream();
  const pad = 'x'.repeat(60);
  let failures = 0;
  let answered = 0;
  const acks = newHistogram();
  const send = (seq: number) => {
    const sentMs = performance.now();
    js.publish(STREAM, JSON.stringify({ s: seq, t: performance.timeOrigin + sentMs, pad })).then(() => {
      answered += 1;
      if (seq >= counts.warmup) recordMs(acks, performance.now() - sentMs);
    }, () => {
      answered += 1;
      failures += 1;
    });
  };
  try {
    const result = await measure(ctx, system, counts, {
      warmup: () => openLoop(0, counts.warmup, send),
      measured: async () => {
        await openLoop(counts.warmup, counts.measured, send);
        await awaitAnswers(() => answered, counts.warmup + counts.measured);
      },
    });
    if (failures > 0) throw new Error(`${failures} publishes failed`);
    return { ...result, ack: summarize(acks) };
  } finally {
    await manager.streams.delete(STREAM).catch(() => {});
    await connection.close();
  }
}

export const subscribeLatencyWorkload: Workload = {
  name: 'subscribe-latency',
  description: `write-to-subscriber latency: ${RATE_PER_SECOND.toLocaleString('en-US')} events/s open loop, ${SUBSCRIBERS} live subscribers in ${SUBSCRIBER_PROCESSES} child processes (eventbus subscribe vs NATS JetStream ordered consumers); target p99 < 5 ms`,
  systems: ['eventbus-always', 'nats'],
  async run(ctx, systems: RunningSystem[]) {
    const p99 = new Map<string, number[]>();
    for (let rep = 0; rep < ctx.scale.reps; rep++) {
      for (const system of rep % 2 === 0 ? systems : [...systems].reverse()) {
        const run = system.id === 'nats' ? natsRun : eventbusRun;
        let result: Result;
        try {
          result = await ctx.step(system.id, `${SUBSCRIBERS} subscribers, rep ${rep + 1}/${ctx.scale.reps}`, () => run(ctx, system));
        } catch (error) {
          // One system failing a repetition (NATS's publishes timing out at this rate) must not lose the others' figures.
          ctx.fail(`subscribe-latency: ${system.id}, rep ${rep + 1}: ${error instanceof Error ? error.message : String(error)}`);
          continue;
        }
        const expected = result.sent * SUBSCRIBERS;
        if (result.duplicates > 0) ctx.fail(`${system.id}: subscribers got ${result.duplicates} measured events more than once`);
        // The processes' clocks are one (the system's, read through each one's timeOrigin): a latency below zero would mean they are not.
        if (result.minLatencyMs < -0.5) ctx.fail(`${system.id}: a latency of ${result.minLatencyMs.toFixed(3)} ms: the processes' clocks disagree`);
        if (result.received < expected) ctx.fail(`${system.id}: subscribers received ${result.received} of ${expected} events sent while measuring within ${result.graceMs / 1000} s of the last write's answer (they fell behind)`);
        const base = { workload: 'subscribe-latency', system: system.id, unit: 'ms', higherIsBetter: false };
        ctx.add(valueFigure({ ...base, case: `write-to-subscriber p50, rep ${rep + 1}` }, [result.latency.p50Ms]));
        ctx.add(valueFigure({ ...base, case: `write-to-subscriber p99, rep ${rep + 1}` }, [result.latency.p99Ms]));
        ctx.add(valueFigure({ ...base, case: `write-to-subscriber max, rep ${rep + 1}` }, [result.latency.maxMs]));
        ctx.add(valueFigure({ ...base, case: `write acknowledgement p50, rep ${rep + 1}` }, [result.ack.p50Ms]));
        ctx.add(valueFigure({ ...base, case: `write acknowledgement p99, rep ${rep + 1}` }, [result.ack.p99Ms]));
        // Where the CPU went while measuring (what may set the p99 on a 2-core machine).
        const cpu = { workload: 'subscribe-latency', system: system.id, unit: '% of a core', higherIsBetter: false };
        if (result.cpuPercent.server !== null) ctx.add(valueFigure({ ...cpu, case: `CPU of the server while measuring, rep ${rep + 1}` }, [result.cpuPercent.server]));
        if (result.cpuPercent.subscribers !== null) ctx.add(valueFigure({ ...cpu, case: `CPU of the subscriber processes while measuring, rep ${rep + 1}` }, [result.cpuPercent.subscribers]));
        ctx.add(valueFigure({ ...cpu, case: `CPU of the writer (bench process) while measuring, rep ${rep + 1}` }, [result.cpuPercent.writer]));
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
