/**
 * `engine-prealloc` (opt-in): the cost of preallocation. The active log normally grows ahead of
 * its data in 1 MiB steps (EngineOptions.preallocateBytes), so that an append's fdatasync need
 * not commit a new file size (a journal commit on ext4). Here the same appends run with the
 * default step and with preallocation off (`preallocateBytes: 0`), each repetition on a fresh
 * store, the two alternating so that other load on the machine falls on both. The observer
 * gives the mean fsync round; the figure to read is the ratio of the medians.
 */
import { Engine, type CommitRound, type EngineOptions } from '../../src/storage/index.js';
import { newHistogram, recordMs, summarize } from '../../src/cli/bench/histogram.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import { throughputFigure, type RunResult } from '../core/figures.js';
import { makeTempDir, removeTempDir } from '../core/processes.js';
import type { Workload } from './workload.js';

interface PreallocCase {
  appenders: number;
  payloadBytes: number;
}

const VARIANTS: { label: string; options: Partial<EngineOptions> }[] = [
  { label: 'preallocation 1 MiB (default)', options: {} },
  { label: 'preallocation off', options: { preallocateBytes: 0 } },
];

/** One repetition on a fresh store: a warm-up, then `ms` of closed-loop appends. */
async function repetition(c: PreallocCase, options: Partial<EngineOptions>, ms: number): Promise<RunResult> {
  const dataDir = makeTempDir('eventbus-bench-prealloc-');
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'always', ...options });
  const payload = Buffer.alloc(c.payloadBytes, 0x61);
  const rounds: CommitRound[] = [];
  const histogram = newHistogram();
  let events = 0;
  try {
    await engine.createStream('bench');
    const loop = async (until: number, record: boolean) => {
      await Promise.all(Array.from({ length: c.appenders }, async () => {
        while (performance.now() < until) {
          const t0 = performance.now();
          await engine.append('bench', payload);
          if (!record) continue;
          recordMs(histogram, performance.now() - t0);
          events += 1;
        }
      }));
    };
    await loop(performance.now() + ms / 5, false);
    const stop = engine.observe({ commit: (round) => rounds.push(round) });
    const started = performance.now();
    await loop(started + ms, true);
    stop();
    const elapsedMs = performance.now() - started;
    const appendRounds = rounds.filter((r) => r.events > 0);
    return {
      ops: events,
      elapsedMs,
      opsPerSecond: (events / elapsedMs) * 1000,
      latency: summarize(histogram),
      errors: 0,
      extra: {
        roundsPerSecond: (appendRounds.length / elapsedMs) * 1000,
        meanFsyncMs: appendRounds.length === 0 ? 0 : appendRounds.reduce((sum, r) => sum + r.fsyncMs, 0) / appendRounds.length,
      },
    };
  } finally {
    await engine.close();
    removeTempDir(dataDir);
  }
}

async function preallocCase(c: PreallocCase, seconds: number, reps: number, progress: Progress): Promise<RunResult[][]> {
  const results: RunResult[][] = VARIANTS.map(() => []);
  progress.total = reps * VARIANTS.length;
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 === 0 ? [0, 1] : [1, 0];
    for (const v of order) {
      results[v]!.push(await repetition(c, VARIANTS[v]!.options, seconds * 1000));
      progress.done += 1;
    }
  }
  return results;
}

export const enginePreallocWorkload: Workload = {
  name: 'engine-prealloc',
  description: 'the cost of preallocation: appends under fsync always with the log preallocated in 1 MiB steps and without (in-process)',
  systems: [],
  eventbusOnly: true,
  optIn: true,
  async run(ctx) {
    const cases: PreallocCase[] = [{ appenders: 1, payloadBytes: 100 }, { appenders: 64, payloadBytes: 100 }, { appenders: 64, payloadBytes: 1024 }];
    for (const c of cases) {
      const name = `append ${c.payloadBytes === 1024 ? '1 KiB' : `${c.payloadBytes} B`}, always, ${c.appenders} appender${c.appenders > 1 ? 's' : ''}`;
      const results = await ctx.step('engine', name, (progress) => preallocCase(c, ctx.scale.engineSecondsPerCase, Math.max(ctx.scale.reps, 4), progress));
      VARIANTS.forEach((variant, v) => ctx.add(throughputFigure({ workload: 'engine-prealloc', case: `${name}, ${variant.label}`, system: 'engine' }, results[v]!)));
    }
  },
};
