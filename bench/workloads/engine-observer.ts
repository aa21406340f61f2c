/**
 * `engine-observer` (opt-in): what an engine observer costs (src/storage/observer.ts). One store
 * per case; each repetition times a window without an observer and a window with one that
 * records every commit round into an HDR histogram (what a metrics exporter does), in alternating
 * order on the same store, so other load on the machine falls on both alike. The figure to read
 * is the ratio of the two medians (with/without): 1.00 means free.
 */
import type { EngineObserver, FsyncPolicy } from '../../src/storage/index.js';
import { newHistogram, recordMs } from '../../src/cli/bench/histogram.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import { appendWindow, withBenchStore } from '../core/engine-store.js';
import { throughputFigure, type RunResult } from '../core/figures.js';
import type { Workload } from './workload.js';

interface ObserverCase {
  policy: FsyncPolicy;
  appenders: number;
}

/** A metrics exporter's observer: every round's oldest wait into a histogram, sums of the rest. */
function recordingObserver(): EngineObserver {
  const waits = newHistogram();
  const totals = { rounds: 0, events: 0, bytes: 0, fsyncMs: 0 };
  return {
    commit(round) {
      recordMs(waits, round.oldestWaitMs);
      totals.rounds += 1;
      totals.events += round.events;
      totals.bytes += round.bytes;
      totals.fsyncMs += round.fsyncMs;
    },
  };
}

function observerCase(c: ObserverCase, seconds: number, reps: number, progress: Progress): Promise<{ off: RunResult[]; on: RunResult[] }> {
  progress.total = reps * 2;
  return withBenchStore('eventbus-bench-observer-', { fsync: c.policy }, async (engine) => {
    const off: RunResult[] = [];
    const on: RunResult[] = [];
    await appendWindow(engine, c.appenders, seconds * 200); // warm-up
    for (let rep = 0; rep < reps; rep++) {
      for (const observed of rep % 2 === 0 ? [false, true] : [true, false]) {
        const stop = observed ? engine.observe(recordingObserver()) : null;
        (observed ? on : off).push(await appendWindow(engine, c.appenders, seconds * 1000));
        stop?.();
        progress.done += 1;
      }
    }
    return { off, on };
  });
}

export const engineObserverWorkload: Workload = {
  name: 'engine-observer',
  description: 'the cost of an engine observer: appends with and without one recording every commit round (in-process)',
  systems: [],
  eventbusOnly: true,
  optIn: true,
  async run(ctx) {
    const cases: ObserverCase[] = [{ policy: 'always', appenders: 1 }, { policy: 'always', appenders: 64 }, { policy: 'never', appenders: 64 }];
    const reps = Math.max(ctx.scale.reps, 5);
    for (const c of cases) {
      const name = `append 100 B, ${c.policy}, ${c.appenders} appender${c.appenders > 1 ? 's' : ''}`;
      const { off, on } = await ctx.step('engine', name, (progress) => observerCase(c, ctx.scale.engineSecondsPerCase, reps, progress));
      ctx.add(throughputFigure({ workload: 'engine-observer', case: `${name}, no observer`, system: 'engine' }, off));
      ctx.add(throughputFigure({ workload: 'engine-observer', case: `${name}, observer`, system: 'engine' }, on));
    }
  },
};
