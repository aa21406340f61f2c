/**
 * `key-read` (opt-in, issue 13): reading one aggregate from a cold start. One stream of
 * 10,000,000 events of 100 B (`--quick`: 1,000,000) over keys of 20 events each, written
 * round-robin so that a key's events lie far apart; a fresh process opens the store and reads
 * the 20 events of keys it has not touched (get_stream_events by key: the key index, then one
 * record read per event). Target: under 10 ms. Reported: the open time; the first read after the
 * open, which also loads the key index (its replay of the log after the newest run); the p50, p99
 * and max over the other sampled keys, each read for the first time.
 */
import { fileURLToPath } from 'node:url';
import { valueFigure } from '../core/figures.js';
import { makeTempDir, removeTempDir, runJsonChild } from '../core/processes.js';
import type { Workload } from './workload.js';

const CHILD = fileURLToPath(new URL('./key-read-child.js', import.meta.url));
const WORKLOAD = 'key-read';
export const KEY_READ_CASE = 'read 20 events of a key never read since the open: p99';

/** Runs the child; resolves with the last JSON line it printed (progress lines go to `onProgress`). */
function child(args: string[], onProgress?: (events: number) => void): Promise<Record<string, number>> {
  return runJsonChild(CHILD, args, onProgress === undefined ? {} : { onProgress });
}

export const keyReadWorkload: Workload = {
  name: WORKLOAD,
  description: 'reading the 20 events of one key in a 10M-event stream (--quick: 1M) from a cold start, through the key index; target < 10 ms',
  systems: [],
  eventbusOnly: true,
  optIn: true,
  async run(ctx) {
    const events = ctx.scale.quick ? 1_000_000 : 10_000_000;
    const label = `${events.toLocaleString('en-US')} events, keys of 20`;
    const dir = makeTempDir('eventbus-bench-key-read-');
    try {
      await ctx.step('engine', `write ${label}`, (progress) => {
        progress.total = events;
        return child(['write', dir, String(events)], (n) => (progress.done = n));
      });
      const p99: number[] = [];
      for (let rep = 0; rep < ctx.scale.reps; rep++) {
        const result = await ctx.step('engine', `open and read keys, rep ${rep + 1}/${ctx.scale.reps}`, () => child(['read', dir, String(events), ctx.scale.quick ? '300' : '1000']));
        const base = { workload: WORKLOAD, system: 'engine', unit: 'ms', higherIsBetter: false };
        ctx.add(valueFigure({ ...base, case: `open, ${label}, rep ${rep + 1}` }, [result.openMs!]));
        ctx.add(valueFigure({ ...base, case: `first key read after the open (loads the key index), ${label}, rep ${rep + 1}` }, [result.firstReadMs!]));
        ctx.add(valueFigure({ ...base, case: `key read p50 / max, ${label}, rep ${rep + 1}`, note: `max ${result.maxMs!.toFixed(2)} ms` }, [result.p50Ms!]));
        p99.push(result.p99Ms!);
      }
      ctx.add(valueFigure({ workload: WORKLOAD, system: 'engine', case: KEY_READ_CASE, unit: 'ms', higherIsBetter: false, note: label }, p99));
    } finally {
      removeTempDir(dir);
    }
  },
};
