/**
 * In-process benchmark of the storage engine (issue 2): `npm run bench:engine`.
 *
 * Measures, on a fresh store under os.tmpdir() for each case:
 * - append throughput (events/s, MB/s of payload) for 100 B and 1 KiB payloads under each fsync
 *   policy, with 1 and 64 concurrent appenders each awaiting its append, plus batched appendMany;
 *   with fsyncs counted (events per fsync under `always`);
 * - sequential read throughput over a 1,000,000-event store;
 * - time to open that store after a clean close, after an unclean stop (a writer process killed
 *   with SIGKILL, never closed), and after an unclean stop that also lost the active segment's
 *   index (recovery then scans that segment: the worst case);
 * - resident memory of a process that opened a small store and one that opened the big one
 *   (memory must not grow with stored events).
 *
 * Prints a table and writes JSON to bench/results/engine-<timestamp>.json. Options (environment):
 * BENCH_SECONDS (per append case, default 2), BENCH_EVENTS (big store, default 1,000,000),
 * BENCH_DIR (where stores go, default os.tmpdir()), BENCH_ONLY (a substring of case names).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, type EngineOptions } from '../src/storage/engine.js';
import type { FsyncPolicy } from '../src/storage/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const BIG_EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const BASE_DIR = process.env.BENCH_DIR ?? os.tmpdir();
const ONLY = process.env.BENCH_ONLY ?? '';
const SELF = fileURLToPath(import.meta.url);
/** Events per appendMany call in batched cases: the engine's default maximum is 10,000. */
const BATCH_EVENTS = 1000;

/** Issue 2's targets. */
const TARGETS = {
  neverBatchedAppendsPerSecond: 1_000_000,
  alwaysConcurrent64AppendsPerSecond: 150_000,
  openAfterUncleanStopMs: 1000,
};

interface AppendResult {
  name: string;
  policy: FsyncPolicy;
  payloadBytes: number;
  appenders: number;
  batchEvents: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  megabytesPerSecond: number;
  fsyncs: number;
  eventsPerFsync: number | null;
  p50LatencyMs: number;
  p99LatencyMs: number;
  /** Set when the case could not complete (the engine failed): the figures are then partial. */
  error?: string;
}

function storeDir(label: string): string {
  return fs.mkdtempSync(path.join(BASE_DIR, `eventbus-bench-${label}-`));
}

function open(dataDir: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  return Engine.open({ dataDir, retentionIntervalMs: 0, ...options });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** `appenders` loops, each appending `batchEvents` at a time and awaiting each call, for SECONDS. */
async function appendCase(policy: FsyncPolicy, payloadBytes: number, appenders: number, batchEvents: number): Promise<AppendResult> {
  const name = `append ${payloadBytes} B, ${policy}, ${appenders} appender${appenders > 1 ? 's' : ''}${batchEvents > 1 ? `, batches of ${batchEvents}` : ''}`;
  const dataDir = storeDir('append');
  const engine = await open(dataDir, { fsync: policy, maxBatchEvents: Math.max(batchEvents, 10_000) });
  try {
    await engine.createStream('bench');
    const payload = Buffer.alloc(payloadBytes, 0x61);
    const batch = Array.from({ length: batchEvents }, () => payload);
    // Warm up (JIT, page cache, first segment) for a fifth of the time.
    const warmUntil = performance.now() + (SECONDS * 1000) / 5;
    await Promise.all(Array.from({ length: appenders }, async () => {
      while (performance.now() < warmUntil) await (batchEvents === 1 ? engine.append('bench', payload) : engine.appendMany('bench', batch)).catch(() => {});
    }));
    const syncsBefore = engine.commitStats.syncs;
    const latencies: number[] = [];
    let events = 0;
    let error: string | undefined;
    const started = performance.now();
    const until = started + SECONDS * 1000;
    await Promise.all(Array.from({ length: appenders }, async () => {
      while (performance.now() < until && error === undefined) {
        const t0 = performance.now();
        try {
          if (batchEvents === 1) await engine.append('bench', payload);
          else await engine.appendMany('bench', batch);
        } catch (caught) {
          error ??= caught instanceof Error ? `${(caught as { code?: string }).code ?? ''} ${caught.message}`.trim() : String(caught);
          break;
        }
        latencies.push(performance.now() - t0);
        events += batchEvents;
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const fsyncs = engine.commitStats.syncs - syncsBefore;
    latencies.sort((a, b) => a - b);
    return {
      name,
      policy,
      payloadBytes,
      appenders,
      batchEvents,
      events,
      seconds,
      eventsPerSecond: events / seconds,
      megabytesPerSecond: (events * payloadBytes) / seconds / 1e6,
      fsyncs,
      eventsPerFsync: fsyncs > 0 ? events / fsyncs : null,
      p50LatencyMs: percentile(latencies, 50),
      p99LatencyMs: percentile(latencies, 99),
      ...(error === undefined ? {} : { error }),
    };
  } finally {
    await engine.close().catch((error: unknown) => console.error(`  close failed: ${String(error)}`));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ child processes

/** Runs this file as a child in `mode`; resolves with the JSON line it prints last. */
function child(mode: string, args: string[], options: { killAfterReady?: boolean } = {}): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', SELF, '--child', mode, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    let last: Record<string, number> | null = null;
    proc.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const lines = output.split('\n');
      output = lines.pop()!;
      for (const line of lines) {
        if (line.trim() === '') continue;
        last = JSON.parse(line) as Record<string, number>;
        if (options.killAfterReady && last.ready === 1) proc.kill('SIGKILL');
      }
    });
    proc.on('exit', (code, signal) => {
      if (last !== null && (code === 0 || signal === 'SIGKILL')) resolve(last);
      else reject(new Error(`child ${mode} ended with ${code ?? signal} and no result`));
    });
  });
}

/** Child: fills a store with `events` 100-byte events, then (unclean) reports ready and waits to be killed. */
async function childWriter(dataDir: string, events: number, unclean: boolean): Promise<void> {
  const engine = await open(dataDir, { fsync: 'never' });
  if (engine.getStream('bench') === undefined) await engine.createStream('bench');
  const batch = Array.from({ length: BATCH_EVENTS }, (_, i) => Buffer.alloc(100, 97 + (i % 26)));
  for (let written = 0; written < events; written += BATCH_EVENTS) await engine.appendMany('bench', batch);
  if (unclean) {
    // Keep appending, so that the kill lands in the middle of the writer's work.
    process.stdout.write(`${JSON.stringify({ ready: 1 })}\n`);
    for (;;) await engine.append('bench', batch[0]!);
  }
  await engine.close();
  process.stdout.write(`${JSON.stringify({ done: 1 })}\n`);
}

/** Child: opens a store, reads its stats, reports open time and memory. */
async function childOpen(dataDir: string): Promise<void> {
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  const engine = await open(dataDir);
  const openMs = performance.now() - started;
  const stats = engine.stats('bench');
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ openMs, events: stats.eventCount, segments: stats.segmentCount, rssBytes: memory.rss, rssBeforeOpenBytes: rssBefore, heapUsedBytes: memory.heapUsed })}\n`);
  await engine.close();
}

// ------------------------------------------------------------------ big store cases

interface BigStoreResult {
  events: number;
  bytesOnDisk: number;
  segments: number;
  writeSeconds: number;
  read: { events: number; seconds: number; eventsPerSecond: number; megabytesPerSecond: number };
  openCleanMs: number[];
  openUncleanMs: number;
  openUncleanEvents: number;
  openUncleanLostIndexMs: number;
  memory: { smallStoreEvents: number; smallStoreRssBytes: number; bigStoreRssBytes: number; bigStoreHeapUsedBytes: number; smallStoreHeapUsedBytes: number };
}

async function bigStoreCases(): Promise<BigStoreResult> {
  const dataDir = storeDir('big');
  try {
    // Clean: written and closed by a child process.
    const writeStarted = performance.now();
    await child('write', [dataDir, String(BIG_EVENTS), 'clean']);
    const writeSeconds = (performance.now() - writeStarted) / 1000;

    // Sequential read, in this process.
    const engine = await open(dataDir);
    const stats = engine.stats('bench');
    const readStarted = performance.now();
    let read = 0;
    let bytes = 0;
    for (let next = 0; ;) {
      const events = engine.read('bench', next, { maxEvents: 1000 });
      if (events.length === 0) break;
      read += events.length;
      for (const event of events) bytes += event.payload.length;
      next = events[events.length - 1]!.offset + 1;
    }
    const readSeconds = (performance.now() - readStarted) / 1000;
    await engine.close();
    if (read !== stats.eventCount) throw new Error(`read ${read} events of ${stats.eventCount}`);

    const openCleanMs: number[] = [];
    let bigRss = 0;
    let bigHeap = 0;
    for (let i = 0; i < 3; i++) {
      const opened = await child('open', [dataDir]);
      openCleanMs.push(opened.openMs!);
      bigRss = opened.rssBytes!;
      bigHeap = opened.heapUsedBytes!;
    }

    // Unclean: a writer adds to the store and is killed with SIGKILL, never closing it.
    const uncleanDir = storeDir('unclean');
    await child('write', [uncleanDir, String(BIG_EVENTS), 'unclean'], { killAfterReady: true });
    const unclean = await child('open', [uncleanDir]);
    // Worst case: the unclean stop also lost the active segment's index (as a power loss can).
    const uncleanLostDir = storeDir('unclean-lost-index');
    await child('write', [uncleanLostDir, String(BIG_EVENTS), 'unclean'], { killAfterReady: true });
    const streamsDir = path.join(uncleanLostDir, 'streams');
    const streamDir = path.join(streamsDir, fs.readdirSync(streamsDir)[0]!);
    const indexes = fs.readdirSync(streamDir).filter((n) => n.endsWith('.index')).sort();
    fs.rmSync(path.join(streamDir, indexes[indexes.length - 1]!));
    const lostIndex = await child('open', [uncleanLostDir]);
    fs.rmSync(uncleanDir, { recursive: true, force: true });
    fs.rmSync(uncleanLostDir, { recursive: true, force: true });

    // Memory: a process that opened a small store.
    const smallDir = storeDir('small');
    await child('write', [smallDir, '10000', 'clean']);
    const small = await child('open', [smallDir]);
    fs.rmSync(smallDir, { recursive: true, force: true });

    const bytesOnDisk = du(dataDir);
    return {
      events: stats.eventCount,
      bytesOnDisk,
      segments: stats.segmentCount,
      writeSeconds,
      read: { events: read, seconds: readSeconds, eventsPerSecond: read / readSeconds, megabytesPerSecond: bytes / readSeconds / 1e6 },
      openCleanMs,
      openUncleanMs: unclean.openMs!,
      openUncleanEvents: unclean.events!,
      openUncleanLostIndexMs: lostIndex.openMs!,
      memory: { smallStoreEvents: small.events!, smallStoreRssBytes: small.rssBytes!, bigStoreRssBytes: bigRss, smallStoreHeapUsedBytes: small.heapUsedBytes!, bigStoreHeapUsedBytes: bigHeap },
    };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function du(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? du(full) : fs.statSync(full).size;
  }
  return total;
}

// ------------------------------------------------------------------ report

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const started = new Date();
  console.log(`eventbus engine benchmark: node ${process.version}, ${os.cpus().length} CPUs, ${SECONDS}s per append case, stores in ${BASE_DIR}\n`);
  const cases: [FsyncPolicy, number, number, number][] = [];
  for (const payloadBytes of [100, 1024]) {
    for (const policy of ['always', 'interval', 'never'] as const) {
      for (const appenders of [1, 64]) cases.push([policy, payloadBytes, appenders, 1]);
      cases.push([policy, payloadBytes, 1, BATCH_EVENTS]);
    }
  }
  const appends: AppendResult[] = [];
  for (const [policy, payloadBytes, appenders, batch] of cases) {
    const name = `append ${payloadBytes} B, ${policy}, ${appenders}`;
    if (ONLY !== '' && !`${name} ${batch}`.includes(ONLY)) continue;
    const result = await appendCase(policy, payloadBytes, appenders, batch);
    appends.push(result);
    console.log(`  ${result.name}: ${fmt(result.eventsPerSecond)} events/s${result.error === undefined ? '' : ` FAILED: ${result.error}`}`);
  }
  console.log('');
  console.log(table(
    ['append case', 'events/s', 'MB/s', 'fsyncs', 'events/fsync', 'p50 ms', 'p99 ms'],
    appends.map((r) => [r.name + (r.error === undefined ? '' : ' (FAILED, see above)'), fmt(r.eventsPerSecond), fmt(r.megabytesPerSecond, 1), fmt(r.fsyncs), r.eventsPerFsync === null ? '-' : fmt(r.eventsPerFsync, 1), fmt(r.p50LatencyMs, 3), fmt(r.p99LatencyMs, 3)]),
  ));

  let big: BigStoreResult | null = null;
  if (ONLY === '' || 'big store'.includes(ONLY)) {
    console.log(`\nbuilding a ${fmt(BIG_EVENTS)}-event store (100 B events)...`);
    big = await bigStoreCases();
    console.log('');
    console.log(table(['big store', 'figure'], [
      ['events / segments / bytes on disk', `${fmt(big.events)} / ${big.segments} / ${fmt(big.bytesOnDisk / 1e6, 1)} MB`],
      ['sequential read', `${fmt(big.read.eventsPerSecond)} events/s, ${fmt(big.read.megabytesPerSecond, 1)} MB/s`],
      ['open after clean close (3 runs)', big.openCleanMs.map((ms) => `${fmt(ms, 1)} ms`).join(', ')],
      [`open after SIGKILL (${fmt(big.openUncleanEvents)} events)`, `${fmt(big.openUncleanMs, 1)} ms`],
      ['open after SIGKILL, active index lost', `${fmt(big.openUncleanLostIndexMs, 1)} ms`],
      [`RSS after open, ${fmt(big.memory.smallStoreEvents)}-event store`, `${fmt(big.memory.smallStoreRssBytes / 1e6, 1)} MB (heap ${fmt(big.memory.smallStoreHeapUsedBytes / 1e6, 1)} MB)`],
      [`RSS after open, ${fmt(big.events)}-event store`, `${fmt(big.memory.bigStoreRssBytes / 1e6, 1)} MB (heap ${fmt(big.memory.bigStoreHeapUsedBytes / 1e6, 1)} MB)`],
    ]));
  }

  const find = (policy: FsyncPolicy, bytes: number, appenders: number, batch: number) =>
    appends.find((r) => r.policy === policy && r.payloadBytes === bytes && r.appenders === appenders && r.batchEvents === batch);
  const never = find('never', 100, 1, BATCH_EVENTS);
  const always64 = find('always', 100, 64, 1);
  const verdicts = [
    never && [`never, 100 B in batches of ${BATCH_EVENTS}`, `${fmt(never.eventsPerSecond)} /s`, `>= ${fmt(TARGETS.neverBatchedAppendsPerSecond)} /s`, never.eventsPerSecond >= TARGETS.neverBatchedAppendsPerSecond],
    always64 && ['always, 100 B, 64 appenders', `${fmt(always64.eventsPerSecond)} /s (${fmt(always64.eventsPerFsync ?? 0, 1)} events/fsync)`, `>= ${fmt(TARGETS.alwaysConcurrent64AppendsPerSecond)} /s`, always64.eventsPerSecond >= TARGETS.alwaysConcurrent64AppendsPerSecond],
    big && ['open after unclean stop, 1M events', `${fmt(big.openUncleanMs, 1)} ms`, `< ${TARGETS.openAfterUncleanStopMs} ms`, big.openUncleanMs < TARGETS.openAfterUncleanStopMs],
  ].filter((v): v is [string, string, string, boolean] => Boolean(v));
  console.log('');
  console.log(table(['target', 'measured', 'target', 'met'], verdicts.map(([a, b, c, ok]) => [a, b, c, ok ? 'yes' : 'NO'])));

  const resultsDir = path.join(path.dirname(SELF).replace(`${path.sep}dist${path.sep}bench`, `${path.sep}bench`), 'results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `engine-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify({
    startedAt: started.toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    secondsPerCase: SECONDS,
    targets: TARGETS,
    appends,
    bigStore: big,
    verdicts: verdicts.map(([name, measured, target, met]) => ({ name, measured, target, met })),
  }, null, 2)}\n`);
  console.log(`\nresults written to ${path.relative(process.cwd(), file)}`);
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  const [, mode, dataDir, ...rest] = argv;
  const run = mode === 'write' ? childWriter(dataDir!, Number(rest[0]), rest[1] === 'unclean') : childOpen(dataDir!);
  run.catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
