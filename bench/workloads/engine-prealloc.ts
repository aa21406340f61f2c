/**
 * `engine-prealloc` (opt-in): the cost of preallocation. The active log normally grows ahead of
 * its data in 1 MiB steps (EngineOptions.preallocateBytes), so that an append's fdatasync need
 * not commit a new file size (a journal commit on ext4). Here the same appends run with the
 * default step and with preallocation off (`preallocateBytes: 0`), each repetition on a fresh
 * store, the two alternating so that other load on the machine falls on both. The observer
 * gives the mean fsync round; the figure to read is the ratio of the medians.
 */
import type { CommitRound, EngineOptions } from '../../src/storage/index.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import { appendWindow, withBenchStore } from '../core/engine-store.js';
import { throughputFigure, type RunResult } from '../core/figures.js';
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
function repetition(c: PreallocCase, options: Partial<EngineOptions>, ms: number): Promise<RunResult> {
  const payload = Buffer.alloc(c.payloadBytes, 0x61);
  return withBenchStore('eventbus-bench-prealloc-', { fsync: 'always', ...options }, async (engine) => {
    await appendWindow(engine, c.appenders, ms / 5, payload); // warm-up
    const rounds: CommitRound[] = [];
    const stop = engine.observe({ commit: (round) => rounds.push(round) });
    const run = await appendWindow(engine, c.appenders, ms, payload);
    stop();
    const appendRounds = rounds.filter((r) => r.events > 0);
    return {
      ...run,
      extra: {
        roundsPerSecond: (appendRounds.length / run.elapsedMs) * 1000,
        meanFsyncMs: appendRounds.length === 0 ? 0 : appendRounds.reduce((sum, r) => sum + r.fsyncMs, 0) / appendRounds.length,
      },
    };
  });
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
