/**
 * The targets the harness checks, each against figures of the same run: issue 11's ratios
 * against Redis, NATS and the echo server, and the earlier issues' absolute targets on this
 * machine. A target whose figures were not measured (a peer not installed, a workload not
 * selected) is `n/a`, never a pass.
 */
import type { Figure } from './core/figures.js';
import { formatNumber, formatRatio } from './report/format.js';

export type Verdict = 'PASS' | 'MISS' | 'n/a';

export interface TargetResult {
  source: string;
  target: string;
  measured: string;
  verdict: Verdict;
  /** eventbus / peer, for ratio targets. */
  ratio?: number;
}

type Check = (figures: readonly Figure[]) => TargetResult;

/** The last figure of `workload` and `system` whose case matches (the largest size comes last). */
function find(figures: readonly Figure[], workload: string, system: string, casePattern?: RegExp): Figure | undefined {
  return figures.filter((f) => f.workload === workload && f.system === system && (casePattern === undefined || casePattern.test(f.case))).pop();
}

const LABELS: Record<string, string> = {
  'eventbus-always': 'eventbus `always`',
  'eventbus-interval': 'eventbus `interval`',
  'redis-always': 'Redis `always`',
  'redis-everysec': 'Redis `everysec`',
  nats: 'NATS JetStream (no fsync per ack)',
  echo: 'the echo server',
};

function workloadText(workload: string): string {
  const write = /^write-(\d+)x(\d+)-(100|1k)$/.exec(workload);
  if (write !== null) return `writes (${write[1]},${write[2]}) ${write[3] === '1k' ? '1 KiB' : '100 B'}`;
  return workload === 'drain' ? 'drain-and-acknowledge' : workload;
}

/** eventbus's median ≥ `minimum` × the peer's median, same workload, same run. */
function ratio(workload: string, system: string, peer: string, minimum: number): Check {
  return (figures) => {
    const ours = find(figures, workload, system);
    const theirs = find(figures, workload, peer);
    const target = `${workloadText(workload)}: ${LABELS[system]} ≥ ${minimum.toFixed(1)}× ${LABELS[peer]}`;
    if (ours === undefined || theirs === undefined) return { source: 'issue 11', target, measured: 'not measured in this run', verdict: 'n/a' };
    const r = ours.value.median / theirs.value.median;
    return {
      source: 'issue 11',
      target,
      measured: `${formatNumber(ours.value.median)} / ${formatNumber(theirs.value.median)} ${ours.unit} = ${formatRatio(r)}`,
      verdict: r >= minimum ? 'PASS' : 'MISS',
      ratio: r,
    };
  };
}

/** A figure's median against a bound. */
function bound(source: string, target: string, workload: string, system: string, casePattern: RegExp | undefined, pick: (f: Figure) => number, unit: string, pass: (v: number) => boolean): Check {
  return (figures) => {
    const figure = find(figures, workload, system, casePattern);
    if (figure === undefined) return { source, target, measured: 'not measured in this run', verdict: 'n/a' };
    const value = pick(figure);
    return { source, target, measured: `${formatNumber(value)} ${unit}`, verdict: pass(value) ? 'PASS' : 'MISS' };
  };
}

const median = (f: Figure) => f.value.median;
const p99 = (f: Figure) => f.latency?.p99Ms.median ?? Number.NaN;

const ISSUE_11: Check[] = [
  ...['100', '1k'].flatMap((size) => ['1x1', '16x1', '16x32'].map((shape) => ratio(`write-${shape}-${size}`, 'eventbus-always', 'redis-always', 1.0))),
  ...['100', '1k'].map((size) => ratio(`write-16x32-${size}`, 'eventbus-always', 'echo', 0.4)),
  ...['100', '1k'].flatMap((size) => ['16x1', '16x32'].map((shape) => ratio(`write-${shape}-${size}`, 'eventbus-interval', 'redis-everysec', 0.8))),
  ratio('drain', 'eventbus-always', 'redis-always', 1.0),
  ratio('drain', 'eventbus-always', 'nats', 1.0),
];

/** Drain rate ≥ half the durable (16,32) write rate of the same run (issue 4). */
const drainVersusWrites: Check = (figures) => {
  const source = 'issue 4';
  const target = 'drain-and-acknowledge ≥ 0.5× eventbus `always` (16,32) 100 B writes';
  const drain = find(figures, 'drain', 'eventbus-always');
  const writes = find(figures, 'write-16x32-100', 'eventbus-always');
  if (drain === undefined || writes === undefined) return { source, target, measured: 'not measured in this run', verdict: 'n/a' };
  const r = drain.value.median / writes.value.median;
  return { source, target, measured: `${formatNumber(drain.value.median)} / ${formatNumber(writes.value.median)} = ${formatRatio(r)}`, verdict: r >= 0.5 ? 'PASS' : 'MISS', ratio: r };
};

/** (16,32) durable writes with the HTTP port on and scraped ≥ 0.97× with it off, same run (issue 15). */
const metricsCost: Check = (figures) => {
  const source = 'issue 15';
  const target = 'writes (16,32) 100 B, eventbus `always`: metrics on (scraped every 1 s) ≥ 0.97× metrics off';
  const on = find(figures, 'metrics-cost', 'eventbus-always', /^write .*metrics on/);
  const off = find(figures, 'metrics-cost', 'eventbus-always', /^write .*metrics off/);
  if (on === undefined || off === undefined) return { source, target, measured: 'not measured in this run', verdict: 'n/a' };
  const r = on.value.median / off.value.median;
  return { source, target, measured: `${formatNumber(on.value.median)} / ${formatNumber(off.value.median)} events/s = ${formatRatio(r)}`, verdict: r >= 0.97 ? 'PASS' : 'MISS', ratio: r };
};

/** Through the gateway ≥ 0.8× a direct JetStream client on the same cluster, same run (issue 16). */
function gatewayRatio(casePattern: RegExp, label: string): Check {
  return (figures) => {
    const source = 'issue 16';
    const target = `${label}: eventbus gateway on a 3-node JetStream cluster ≥ 0.8× a direct JetStream client`;
    const ours = find(figures, 'jetstream-gateway', 'eventbus-jetstream', casePattern);
    const theirs = find(figures, 'jetstream-gateway', 'jetstream-direct', casePattern);
    if (ours === undefined || theirs === undefined) return { source, target, measured: 'not measured in this run', verdict: 'n/a' };
    const r = ours.value.median / theirs.value.median;
    return { source, target, measured: `${formatNumber(ours.value.median)} / ${formatNumber(theirs.value.median)} ${ours.unit} = ${formatRatio(r)}`, verdict: r >= 0.8 ? 'PASS' : 'MISS', ratio: r };
  };
}

const ISSUE_16: Check[] = [
  gatewayRatio(/^write \(1,1\)/, 'writes (1,1) 100 B'),
  gatewayRatio(/^write \(16,1\)/, 'writes (16,1) 100 B'),
  gatewayRatio(/^write \(16,32\)/, 'writes (16,32) 100 B'),
  gatewayRatio(/^drain-and-acknowledge/, 'drain-and-acknowledge'),
];
/** append_events of 100 ≥ 3× the events/s of single write_event, same connections, same run (issue 12). */
const appendBatch: Check = (figures) => {
  const source = 'issue 12';
  const target = 'append_events of 100 events ≥ 3× single write_event events/s (16 connections, fsync always)';
  const batch = find(figures, 'append-batch', 'eventbus-always', /^append_events, 100 events per call \(/);
  const single = find(figures, 'append-batch', 'eventbus-always', /^write_event/);
  if (batch === undefined || single === undefined) return { source, target, measured: 'not measured in this run', verdict: 'n/a' };
  const r = batch.value.median / single.value.median;
  return { source, target, measured: `${formatNumber(batch.value.median)} / ${formatNumber(single.value.median)} events/s = ${formatRatio(r)}`, verdict: r >= 3 ? 'PASS' : 'MISS', ratio: r };
};

const EARLIER: Check[] = [
  bound('issue 3', 'writes (1,1) 100 B, eventbus `always`: p99 < 1 ms', 'write-1x1-100', 'eventbus-always', undefined, p99, 'ms', (v) => v < 1),
  bound('issue 3', 'writes (16,1) 100 B, eventbus `always` ≥ 30,000/s', 'write-16x1-100', 'eventbus-always', undefined, median, 'events/s', (v) => v >= 30_000),
  bound('issue 3', 'writes (16,32) 100 B, eventbus `always` ≥ 200,000/s', 'write-16x32-100', 'eventbus-always', undefined, median, 'events/s', (v) => v >= 200_000),
  drainVersusWrites,
  bound('issue 4', 'mark_event latency independent of stream length (long / short ≤ 1.5×)', 'mark-cost', 'eventbus-always', /long \/ short/, median, '×', (v) => v <= 1.5),
  bound('issue 2', 'engine `never`, 100 B in batches of 1,000 ≥ 1,000,000/s', 'engine', 'engine', /^append 100 B, never, batches/, median, 'events/s', (v) => v >= 1_000_000),
  bound('issue 2', 'engine `always`, 100 B, 64 appenders ≥ 150,000/s', 'engine', 'engine', /^append 100 B, always, 64 appenders/, median, 'events/s', (v) => v >= 150_000),
  bound('issue 2', 'engine: open after SIGKILL < 1 s', 'engine', 'engine', /after SIGKILL$/, median, 'ms', (v) => v < 1000),
  bound('issue 5', 'snapshot of the largest store < 200 ms', 'snapshot', 'engine', /streams$/, median, 'ms', (v) => v < 200),
  bound('issue 6', 'RSS per idle connection ≤ 16 KiB', 'idle', 'eventbus-always', /^server RSS/, median, 'bytes', (v) => v <= 16 * 1024),
  bound('issue 6', "another client's write p99 with the idle connections open < 50 ms", 'idle', 'eventbus-always', /idle connections open$/, median, 'ms', (v) => v < 50),
  bound('issue 13', 'reading 20 events of one key in a 10M-event stream from a cold start < 10 ms (the first read after a clean open)', 'key-read', 'engine', /first read after a clean open \(cold start\)$/, median, 'ms', (v) => v < 10),
  bound('issue 13', 'reading 20 events of one key in a 10M-event stream < 10 ms (p99 over keys not read since the open)', 'key-read', 'engine', /since the open: p99$/, median, 'ms', (v) => v < 10),
  bound('issue 13', 'write-to-subscriber p99 < 5 ms at 10,000 events/s, 16 subscribers', 'subscribe-latency', 'eventbus-always', /^write-to-subscriber p99 \(/, median, 'ms', (v) => v < 5),
  bound('issue 12', 'key index: expected-version append p99 on a hot key ≤ 1 ms (fsync excluded)', 'key-index', 'engine', /hot key: p99$/, median, 'ms', (v) => v <= 1),
  bound('issue 12', 'key index: expected-version append p99 on a cold key ≤ 5 ms (fsync excluded)', 'key-index', 'engine', /cold key: p99$/, median, 'ms', (v) => v <= 5),
];

/**
 * The key index's memory (issue 12): RSS of the keyed store after its expected-version appends
 * at most 64 MiB (the per-store bound) over the same stream's RSS without keys, same run.
 */
const keyIndexMemory: Check = (figures) => {
  const source = 'issue 12';
  const target = 'key index: RSS with keys (after the appends) ≤ RSS without keys + 64 MiB';
  const keyed = find(figures, 'key-index', 'engine', /^RSS after the appends, /);
  const plain = find(figures, 'key-index', 'engine', /^RSS after open, .* without keys$/);
  if (keyed === undefined || plain === undefined) return { source, target, measured: 'not measured in this run', verdict: 'n/a' };
  const extra = keyed.value.median - plain.value.median;
  return { source, target, measured: `${formatNumber(keyed.value.median)} − ${formatNumber(plain.value.median)} bytes = ${formatNumber(extra / 1024 / 1024)} MiB`, verdict: extra <= 64 * 1024 * 1024 ? 'PASS' : 'MISS' };
};

export function checkTargets(figures: readonly Figure[]): TargetResult[] {
  return [...ISSUE_11, ...EARLIER, metricsCost, appendBatch, ...ISSUE_16, keyIndexMemory].map((check) => check(figures));
}
