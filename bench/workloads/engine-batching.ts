/**
 * `engine-batching` (opt-in): group commit, batching against concurrency. Closed-loop appenders
 * of 100 B events under `fsync: always`, from 1 to 256 at once, each awaiting its append, on a
 * fresh store per count. The engine's observer (src/storage/observer.ts) records every commit
 * round: how many events shared an fsync round, how long the round's fsyncs took, how long the
 * oldest commit waited. The question: does one fsync carry more appends as concurrency grows, so
 * that throughput scales with the number of appenders until the CPU, not the disk, is the limit?
 */
import type { CommitRound, Engine } from '../../src/storage/index.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import { appendWindow, withBenchStore } from '../core/engine-store.js';
import { throughputFigure, type RunResult } from '../core/figures.js';
import type { Workload } from './workload.js';

const APPENDERS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** One repetition: `appenders` closed loops for `ms`, with the rounds the observer saw. */
async function repetition(engine: Engine, appenders: number, ms: number): Promise<RunResult> {
  const rounds: CommitRound[] = [];
  const stop = engine.observe({ commit: (round) => rounds.push(round) });
  let run: RunResult;
  try {
    run = await appendWindow(engine, appenders, ms);
  } finally {
    stop();
  }
  const elapsedMs = run.elapsedMs;
  const appendRounds = rounds.filter((r) => r.events > 0);
  const sum = (f: (r: CommitRound) => number) => appendRounds.reduce((total, r) => total + f(r), 0);
  return {
    ...run,
    extra: {
      eventsPerRound: appendRounds.length === 0 ? 0 : sum((r) => r.events) / appendRounds.length,
      roundsPerSecond: (appendRounds.length / elapsedMs) * 1000,
      meanFsyncMs: appendRounds.length === 0 ? 0 : sum((r) => r.fsyncMs) / appendRounds.length,
      meanOldestWaitMs: appendRounds.length === 0 ? 0 : sum((r) => r.oldestWaitMs) / appendRounds.length,
    },
  };
}

function batchingCase(appenders: number, seconds: number, reps: number, progress: Progress): Promise<RunResult[]> {
  progress.total = reps;
  return withBenchStore('eventbus-bench-batching-', { fsync: 'always' }, async (engine) => {
    await repetition(engine, appenders, seconds * 200); // warm-up
    const runs: RunResult[] = [];
    for (let rep = 0; rep < reps; rep++) {
      runs.push(await repetition(engine, appenders, seconds * 1000));
      progress.done = rep + 1;
    }
    return runs;
  });
}

export const engineBatchingWorkload: Workload = {
  name: 'engine-batching',
  description: 'group commit: appends/s, events per fsync round and latency for 1 to 256 concurrent appenders under fsync always (in-process)',
  systems: [],
  eventbusOnly: true,
  optIn: true,
  async run(ctx) {
    for (const appenders of APPENDERS) {
      const name = `append 100 B, always, ${appenders} appender${appenders > 1 ? 's' : ''}`;
      const runs = await ctx.step('engine', name, (progress) => batchingCase(appenders, ctx.scale.engineSecondsPerCase, ctx.scale.reps, progress));
      ctx.add(throughputFigure({ workload: 'engine-batching', case: name, system: 'engine' }, runs));
    }
  },
};
