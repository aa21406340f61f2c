/**
 * The storage engine in-process (issue 2), eventbus alone, on fresh stores in the temporary
 * directory:
 * - appends of 100 B and 1 KiB under each fsync policy, with 1 and 64 concurrent appenders each
 *   awaiting its append, and batched appendMany (1,000 per call); fsyncs counted (events per
 *   fsync under `always`);
 * - a big store (1,000,000 events): sequential read, open after a clean close, after SIGKILL,
 *   and after SIGKILL with the active segment's index also lost (recovery scans it: the worst
 *   case); resident memory of a process that opened a small store against the big one.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, type FsyncPolicy } from '../../src/storage/index.js';
import type { BenchContext } from '../core/context.js';
import { throughputFigure, valueFigure, type RunResult } from '../core/figures.js';
import { newHistogram, recordMs, summarize } from '../../src/cli/bench/histogram.js';
import { activeIndex, BENCH_STREAM, withBenchStore } from '../core/engine-store.js';
import { makeTempDir, removeTempDir, runJsonChild } from '../core/processes.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import type { Workload } from './workload.js';

const CHILD = fileURLToPath(new URL('./engine-child.js', import.meta.url));
const BATCH_EVENTS = 1000;

interface AppendCase {
  policy: FsyncPolicy;
  payloadBytes: number;
  appenders: number;
  batchEvents: number;
}

function appendCaseName(c: AppendCase): string {
  return `append ${c.payloadBytes === 1024 ? '1 KiB' : `${c.payloadBytes} B`}, ${c.policy}, ${c.batchEvents > 1 ? `batches of ${c.batchEvents}` : `${c.appenders} appender${c.appenders > 1 ? 's' : ''}`}`;
}

/** One store per case: a warm-up, then `reps` timed windows of `seconds`. */
function appendCase(c: AppendCase, seconds: number, reps: number, progress: Progress): Promise<RunResult[]> {
  const payload = Buffer.alloc(c.payloadBytes, 0x61);
  const batch = Array.from({ length: c.batchEvents }, () => payload);
  progress.total = Math.round(seconds * 1000 * (reps + 0.2));
  progress.unit = 'ms';
  const begun = performance.now();
  return withBenchStore('eventbus-bench-append-', { fsync: c.policy, maxBatchEvents: Math.max(c.batchEvents, 10_000) }, async (engine) => {
    const once = () => (c.batchEvents === 1 ? engine.append(BENCH_STREAM, payload) : engine.appendMany(BENCH_STREAM, batch));
    const warmUntil = performance.now() + seconds * 200;
    await Promise.all(Array.from({ length: c.appenders }, async () => {
      while (performance.now() < warmUntil) await once();
    }));
    const runs: RunResult[] = [];
    for (let rep = 0; rep < reps; rep++) {
      const syncsBefore = engine.commitStats.syncs;
      const histogram = newHistogram();
      let events = 0;
      const started = performance.now();
      const until = started + seconds * 1000;
      await Promise.all(Array.from({ length: c.appenders }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          await once();
          const now = performance.now();
          recordMs(histogram, now - t0);
          events += c.batchEvents;
          progress.done = now - begun;
        }
      }));
      const elapsedMs = performance.now() - started;
      const fsyncs = engine.commitStats.syncs - syncsBefore;
      runs.push({
        ops: events,
        elapsedMs,
        opsPerSecond: (events / elapsedMs) * 1000,
        latency: summarize(histogram),
        errors: 0,
        extra: { megabytesPerSecond: (events * c.payloadBytes) / elapsedMs / 1000, fsyncs, eventsPerFsync: fsyncs > 0 ? events / fsyncs : 0 },
      });
    }
    return runs;
  });
}

/** Runs the child in `mode`; resolves with the last JSON line it printed (killing it at `{"ready":1}` when asked). */
function child(args: string[], killWhenReady = false): Promise<Record<string, number>> {
  return runJsonChild(CHILD, args, { killWhenReady, killedIsDone: true, nodeOptions: ['--expose-gc'] });
}

function bytesIn(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? bytesIn(full) : statSync(full).size;
  }
  return total;
}

async function bigStore(ctx: BenchContext): Promise<void> {
  const events = ctx.scale.engineBigEvents;
  const reps = ctx.scale.reps;
  const base = { workload: 'engine', system: 'engine' };
  const dataDir = makeTempDir('eventbus-bench-big-');
  const uncleanDir = makeTempDir('eventbus-bench-unclean-');
  const lostDir = makeTempDir('eventbus-bench-lost-index-');
  const smallDir = makeTempDir('eventbus-bench-small-');
  try {
    await ctx.step('engine', `write a ${events.toLocaleString('en-US')}-event store`, () => child(['write', dataDir, String(events), 'clean']));
    const reads = await ctx.step('engine', 'sequential reads', async () => {
      const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
      const rates: number[] = [];
      try {
        for (let rep = 0; rep < reps; rep++) {
          const started = performance.now();
          let read = 0;
          for (let next = 0; ;) {
            const page = engine.read('bench', next, { maxEvents: 1000 });
            if (page.length === 0) break;
            read += page.length;
            next = page[page.length - 1]!.offset + 1;
          }
          if (read !== events) throw new Error(`read ${read} events of ${events}`);
          rates.push((read / (performance.now() - started)) * 1000);
        }
      } finally {
        await engine.close();
      }
      return rates;
    });
    ctx.add(valueFigure({ ...base, case: `sequential read, ${events.toLocaleString('en-US')} events of 100 B`, unit: 'events/s', higherIsBetter: true }, reads));
    const clean: number[] = [];
    const bigRss: number[] = [];
    const smallRss: number[] = [];
    await ctx.step('engine', 'open after clean close', async () => {
      for (let rep = 0; rep < reps; rep++) {
        const opened = await child(['open', dataDir]);
        clean.push(opened.openMs!);
        bigRss.push(opened.rssBytes!);
      }
    });
    ctx.add(valueFigure({ ...base, case: `open a ${events.toLocaleString('en-US')}-event store after a clean close`, unit: 'ms', higherIsBetter: false }, clean));
    ctx.add(valueFigure({ ...base, case: 'bytes on disk per 100 B event', unit: 'bytes', higherIsBetter: false }, [bytesIn(dataDir) / events]));

    // Unclean: a writer is killed with SIGKILL mid-append; each repetition kills it again on the same store.
    for (const [dir, loseIndex, label] of [[uncleanDir, false, 'after SIGKILL'], [lostDir, true, 'after SIGKILL, active index lost']] as const) {
      const times: number[] = await ctx.step('engine', `open ${label}`, async () => {
        const opens: number[] = [];
        for (let rep = 0; rep < reps; rep++) {
          await child(['write', dir, String(rep === 0 ? events : 0), 'unclean'], true);
          if (loseIndex) rmSync(activeIndex(dir));
          opens.push((await child(['open', dir])).openMs!);
        }
        return opens;
      });
      ctx.add(valueFigure({ ...base, case: `open a ${events.toLocaleString('en-US')}-event store ${label}`, unit: 'ms', higherIsBetter: false }, times));
    }

    await ctx.step('engine', 'memory of a small store', async () => {
      await child(['write', smallDir, '10000', 'clean']);
      for (let rep = 0; rep < reps; rep++) smallRss.push((await child(['open', smallDir])).rssBytes!);
    });
    ctx.add(valueFigure({ ...base, case: 'RSS after opening a 10,000-event store', unit: 'MB', higherIsBetter: false }, smallRss.map((b) => b / 1e6)));
    ctx.add(valueFigure({ ...base, case: `RSS after opening a ${events.toLocaleString('en-US')}-event store`, unit: 'MB', higherIsBetter: false }, bigRss.map((b) => b / 1e6)));
  } finally {
    for (const dir of [dataDir, uncleanDir, lostDir, smallDir]) removeTempDir(dir);
  }
}

export const engineWorkload: Workload = {
  name: 'engine',
  description: 'the storage engine in-process: appends per fsync policy and concurrency, reads, open times after clean and unclean stops, memory',
  systems: [],
  eventbusOnly: true,
  async run(ctx) {
    for (const payloadBytes of [100, 1024]) {
      for (const policy of ['always', 'interval', 'never'] as const) {
        for (const [appenders, batchEvents] of [[1, 1], [64, 1], [1, BATCH_EVENTS]] as const) {
          const c: AppendCase = { policy, payloadBytes, appenders, batchEvents };
          const name = appendCaseName(c);
          const runs = await ctx.step('engine', name, (progress) => appendCase(c, ctx.scale.engineSecondsPerCase, ctx.scale.reps, progress));
          ctx.add(throughputFigure({ workload: 'engine', case: name, system: 'engine' }, runs));
        }
      }
    }
    await bigStore(ctx);
  },
};
