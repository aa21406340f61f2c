/**
 * `engine-recovery` (opt-in): recovery time against store size. For stores of 1 %, 10 % and
 * 100 % of the engine workload's big store (10,000, 100,000 and 1,000,000 events of 100 B in a
 * full run), a fresh process opens the store after a clean close, after a writer was killed
 * with SIGKILL mid-append, and after such a kill with the active segment's offset index also
 * deleted (recovery then rebuilds it from the whole active segment: the worst case). Each open
 * reports the engine's recovery report (src/storage/observer.ts): time in the fsync of the
 * whole store that follows a crash, index entries recovered, torn bytes cut.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from '../core/context.js';
import { stat, valueFigure, type Figure } from '../core/figures.js';
import { activeIndex } from '../core/engine-store.js';
import { makeTempDir, removeTempDir, runJsonChild } from '../core/processes.js';
import type { Workload } from './workload.js';

const CHILD = fileURLToPath(new URL('./engine-recovery-child.js', import.meta.url));

/** Runs the child (killing it at `{"ready":1}` when asked); resolves with the last JSON line it printed. */
function child(args: string[], killWhenReady = false): Promise<Record<string, number>> {
  return runJsonChild(CHILD, args, { killWhenReady, killedIsDone: true });
}

/** A figure of open times with the recovery report's medians as extras. */
function openFigure(events: number, label: string, opens: Record<string, number>[]): Figure {
  const figure = valueFigure({ workload: 'engine-recovery', case: `open a ${events.toLocaleString('en-US')}-event store ${label}`, system: 'engine', unit: 'ms', higherIsBetter: false }, opens.map((o) => o.openMs!));
  const extra = Object.fromEntries(['syncMs', 'indexEntriesAdded', 'indexesRebuilt', 'tornBytesCut', 'segments'].map((key) => [key, stat(opens.map((o) => o[key] ?? 0))]));
  return { ...figure, extra };
}

async function storeSize(ctx: BenchContext, events: number): Promise<void> {
  const reps = ctx.scale.reps;
  const dir = makeTempDir('eventbus-bench-recovery-');
  try {
    await ctx.step('engine', `write a ${events.toLocaleString('en-US')}-event store`, () => child(['write', dir, String(events), 'clean']));
    const clean = await ctx.step('engine', 'open after a clean close', async () => {
      const opens: Record<string, number>[] = [];
      for (let rep = 0; rep < reps; rep++) opens.push(await child(['open', dir]));
      return opens;
    });
    ctx.add(openFigure(events, 'after a clean close', clean));
    for (const [loseIndex, label] of [[false, 'after SIGKILL'], [true, 'after SIGKILL, active index lost']] as const) {
      const opens = await ctx.step('engine', `open ${label}`, async () => {
        const results: Record<string, number>[] = [];
        for (let rep = 0; rep < reps; rep++) {
          await child(['write', dir, '0', 'unclean'], true);
          if (loseIndex) rmSync(activeIndex(dir));
          results.push(await child(['open', dir]));
        }
        return results;
      });
      ctx.add(openFigure(events, label, opens));
    }
  } finally {
    removeTempDir(dir);
  }
}

export const engineRecoveryWorkload: Workload = {
  name: 'engine-recovery',
  description: 'recovery time against store size: open after a clean close, after SIGKILL, after SIGKILL with the active index lost (in fresh processes)',
  systems: [],
  eventbusOnly: true,
  optIn: true,
  async run(ctx) {
    const big = ctx.scale.engineBigEvents;
    for (const events of [big / 100, big / 10, big]) await storeSize(ctx, Math.round(events));
  },
};
