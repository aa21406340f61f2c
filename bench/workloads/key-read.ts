/**
 * `key-read` (opt-in, issue 13): reading one aggregate from a cold start. One stream of
 * 10,000,000 events of 100 B (`--quick`: 1,000,000) over keys of 20 events each, written
 * round-robin so that a key's events lie far apart; a fresh process opens the store and reads
 * the 20 events of keys it has not touched (get_stream_events by key: the key index, then the
 * records of the events). Target: under 10 ms for the first read after the open (the cold one:
 * a clean close wrote the key index's memtable out, so nothing is replayed) and at p99 over the
 * other keys sampled, each read for the first time.
 *
 * Each rep also kills a writer with SIGKILL after it appended a tail of keyed events the index
 * has not yet written as a run (just under one flush), and reports the first read after that
 * open: it waits for the tail's replay from the log (keys/key-index.ts), the price of a crash.
 */
import { fileURLToPath } from 'node:url';
import { valueFigure } from '../core/figures.js';
import { makeTempDir, removeTempDir, runJsonChild } from '../core/processes.js';
import type { Workload } from './workload.js';

const CHILD = fileURLToPath(new URL('./key-read-child.js', import.meta.url));
const WORKLOAD = 'key-read';
/** Keyed events a crash leaves past the index's newest run: just under one flush (65,536). */
const CRASH_TAIL_EVENTS = 65_530;
export const KEY_READ_CASE = 'read 20 events of a key, the first read after a clean open (cold start)';
export const KEY_READ_P99_CASE = 'read 20 events of a key never read since the open: p99';

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
      const samples = ctx.scale.quick ? '300' : '1000';
      const first: number[] = [];
      const p99: number[] = [];
      const afterCrash: number[] = [];
      const base = { workload: WORKLOAD, system: 'engine', unit: 'ms', higherIsBetter: false };
      for (let rep = 0; rep < ctx.scale.reps; rep++) {
        const result = await ctx.step('engine', `open and read keys, rep ${rep + 1}/${ctx.scale.reps}`, () => child(['read', dir, String(events), samples]));
        ctx.add(valueFigure({ ...base, case: `open, ${label}, rep ${rep + 1}` }, [result.openMs!]));
        ctx.add(valueFigure({ ...base, case: `first key read after a clean open, ${label}, rep ${rep + 1}` }, [result.firstReadMs!]));
        ctx.add(valueFigure({ ...base, case: `key read p50 / max, ${label}, rep ${rep + 1}`, note: `max ${result.maxMs!.toFixed(2)} ms` }, [result.p50Ms!]));
        first.push(result.firstReadMs!);
        p99.push(result.p99Ms!);
        const crash = await ctx.step('engine', `append a tail and SIGKILL, rep ${rep + 1}/${ctx.scale.reps}`, () => runJsonChild(CHILD, ['crash', dir, String(CRASH_TAIL_EVENTS)], { killedIsDone: true }));
        const recovered = await ctx.step('engine', `open after SIGKILL and read keys, rep ${rep + 1}/${ctx.scale.reps}`, () => child(['read', dir, String(events), samples]));
        ctx.add(valueFigure({ ...base, case: `first key read after SIGKILL (replays ${crash.tail!.toLocaleString('en-US')} keyed events), rep ${rep + 1}` }, [recovered.firstReadMs!]));
        afterCrash.push(recovered.firstReadMs!);
      }
      ctx.add(valueFigure({ ...base, case: KEY_READ_CASE, note: label }, first));
      ctx.add(valueFigure({ ...base, case: KEY_READ_P99_CASE, note: label }, p99));
      ctx.add(valueFigure({ ...base, case: 'read 20 events of a key, the first read after an open after SIGKILL (tail replayed)', note: `${label}; a tail of about ${CRASH_TAIL_EVENTS.toLocaleString('en-US')} keyed events` }, afterCrash));
    } finally {
      removeTempDir(dir);
    }
  },
};
