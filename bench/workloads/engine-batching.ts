/**
 * `engine-batching` (opt-in): group commit, batching against concurrency. Closed-loop appenders
 * of 100 B events under `fsync: always`, from 1 to 256 at once, each awaiting its append, on a
 * fresh store per count. The engine's observer (src/storage/observer.ts) records every commit
 * round: how many events shared an fsync round, how long the round's fsyncs took, how long the
 * oldest commit waited. The question: does one fsync carry more appends as concurrency grows, so
 * that throughput scales with the number of appenders until the CPU, not the disk, is the limit?
 */
import { Engine, type CommitRound } from '../../src/storage/index.js';
import { newHistogram, recordMs, summarize } from '../../src/cli/bench/histogram.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import { throughputFigure, type RunResult } from '../core/figures.js';
import { makeTempDir, removeTempDir } from '../core/processes.js';
import type { Workload } from './workload.js';

const APPENDERS = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const PAYLOAD = Buffer.alloc(100, 0x61);

/** One repetition: `appenders` closed loops for `ms`, with the rounds the observer saw. */
async function repetition(engine: Engine, appenders: number, ms: number): Promise<RunResult> {
  const rounds: CommitRound[] = [];
  const stop = engine.observe({ commit: (round) => rounds.push(round) });
  const histogram = newHistogram();
  let events = 0;
  const started = performance.now();
  const until = started + ms;
  try {
    await Promise.all(Array.from({ length: appenders }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        await engine.append('bench', PAYLOAD);
        recordMs(histogram, performance.now() - t0);
        events += 1;
      }
    }));
  } finally {
    stop();
  }
  const elapsedMs = performance.now() - started;
  const appendRounds = rounds.filter((r) => r.events > 0);
  const sum = (f: (r: CommitRound) => number) => appendRounds.reduce((total, r) => total + f(r), 0);
  return {
    ops: events,
    elapsedMs,
    opsPerSecond: (events / elapsedMs) * 1000,
    latency: summarize(histogram),
    errors: 0,
    extra: {
      eventsPerRound: appendRounds.length === 0 ? 0 : sum((r) => r.events) / appendRounds.length,
      roundsPerSecond: (appendRounds.length / elapsedMs) * 1000,
      meanFsyncMs: appendRounds.length === 0 ? 0 : sum((r) => r.fsyncMs) / appendRounds.length,
      meanOldestWaitMs: appendRounds.length === 0 ? 0 : sum((r) => r.oldestWaitMs) / appendRounds.length,
    },
  };
}

async function batchingCase(appenders: number, seconds: number, reps: number, progress: Progress): Promise<RunResult[]> {
  const dataDir = makeTempDir('eventbus-bench-batching-');
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'always' });
  progress.total = reps;
  try {
    await engine.createStream('bench');
    await repetition(engine, appenders, seconds * 200); // warm-up
    const runs: RunResult[] = [];
    for (let rep = 0; rep < reps; rep++) {
      runs.push(await repetition(engine, appenders, seconds * 1000));
      progress.done = rep + 1;
    }
    return runs;
  } finally {
    await engine.close();
    removeTempDir(dataDir);
  }
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
