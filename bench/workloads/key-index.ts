/**
 * `key-index` (opt-in, issue 12): the key index at size. One stream of 10,000,000 events of
 * 100 B over 1,000,000 keys (`--quick`: 1,000,000 over 100,000), written with fsync never in
 * appends of 10 events of one key, against the same stream written without keys. Each store is
 * written by a child process that then kills itself with SIGKILL; a fresh process opens it and
 * reports the open time and RSS, then (keyed) appends with an integer expected version to cold
 * keys (never used since the open, spread over the key space) and to one hot key, fsync never
 * (fsync excluded), each followed by an append without a key (the peer: on a loaded machine the
 * scheduler alone puts milliseconds into a p99), and reports their latency percentiles. Targets: p99 ≤ 1 ms hot, ≤ 5 ms cold;
 * RSS, open time and disk use are published beside the keyless store's.
 */
import { fileURLToPath } from 'node:url';
import type { BenchContext } from '../core/context.js';
import { valueFigure } from '../core/figures.js';
import { makeTempDir, removeTempDir, runJsonChild } from '../core/processes.js';
import type { Workload } from './workload.js';

const CHILD = fileURLToPath(new URL('./key-index-child.js', import.meta.url));

/** Runs the child (its `write` ends by killing itself); resolves with the last JSON line it printed. */
function child(args: string[], onProgress?: (events: number) => void): Promise<Record<string, number>> {
  return runJsonChild(CHILD, args, { killedIsDone: true, ...(onProgress === undefined ? {} : { onProgress }) });
}

const WORKLOAD = 'key-index';

export const KEY_INDEX_HOT_CASE = 'append, integer expected version, hot key: p99';
export const KEY_INDEX_COLD_CASE = 'append, integer expected version, cold key: p99';
export const KEY_INDEX_PLAIN_CASE = 'append without a key, same stream and process: p99';

async function measure(ctx: BenchContext, events: number, keys: number, kind: 'keyed' | 'plain'): Promise<void> {
  const dir = makeTempDir(`eventbus-bench-keys-${kind}-`);
  const label = kind === 'keyed' ? `${events.toLocaleString('en-US')} events over ${keys.toLocaleString('en-US')} keys` : `${events.toLocaleString('en-US')} events without keys`;
  try {
    const written = await ctx.step('engine', `write ${label}`, (progress) => {
      progress.total = events;
      return child(['write', dir, String(events), String(keys), kind], (n) => (progress.done = n));
    });
    const system = 'engine';
    ctx.add(valueFigure({ workload: WORKLOAD, case: `disk use, ${label}`, system, unit: 'bytes', higherIsBetter: false }, [written.diskBytes!]));
    ctx.add(valueFigure({ workload: WORKLOAD, case: `RSS after writing, ${label}`, system, unit: 'bytes', higherIsBetter: false }, [written.rssBytes!]));
    ctx.add(valueFigure({ workload: WORKLOAD, case: `write rate (fsync never, appends of 10), ${label}`, system, unit: 'events/s', higherIsBetter: true }, [written.eventsPerSecond!]));
    // One open: only the first follows the SIGKILL (the open process closes cleanly).
    const open = await ctx.step('engine', `open after SIGKILL, ${label}`, () => child(['open', dir, String(events), String(keys), kind, ctx.scale.quick ? '1000' : '3000']));
    ctx.add(valueFigure({ workload: WORKLOAD, case: `open after SIGKILL, ${label}`, system, unit: 'ms', higherIsBetter: false }, [open.openMs!]));
    ctx.add(valueFigure({ workload: WORKLOAD, case: `RSS after open, ${label}`, system, unit: 'bytes', higherIsBetter: false }, [open.rssBytes!]));
    if (kind === 'keyed') {
      ctx.add(valueFigure({ workload: WORKLOAD, case: KEY_INDEX_HOT_CASE, system, unit: 'ms', higherIsBetter: false, note: `p50 ${open.hotP50Ms!.toFixed(3)} ms, max ${open.hotMaxMs!.toFixed(2)} ms; ${label}` }, [open.hotP99Ms!]));
      ctx.add(valueFigure({ workload: WORKLOAD, case: KEY_INDEX_COLD_CASE, system, unit: 'ms', higherIsBetter: false, note: `p50 ${open.coldP50Ms!.toFixed(3)} ms, max ${open.coldMaxMs!.toFixed(2)} ms; ${label}` }, [open.coldP99Ms!]));
      ctx.add(valueFigure({ workload: WORKLOAD, case: KEY_INDEX_PLAIN_CASE, system, unit: 'ms', higherIsBetter: false, note: `the peer, interleaved with the keyed appends above: p50 ${open.plainP50Ms!.toFixed(3)} ms, max ${open.plainMaxMs!.toFixed(2)} ms; ${label}` }, [open.plainP99Ms!]));
      ctx.add(valueFigure({ workload: WORKLOAD, case: `first keyed append after open (waits for the index's load), ${label}`, system, unit: 'ms', higherIsBetter: false }, [open.firstKeyedMs!]));
      ctx.add(valueFigure({ workload: WORKLOAD, case: `RSS after the appends, ${label}`, system, unit: 'bytes', higherIsBetter: false }, [open.rssAfterAppends!]));
    }
  } finally {
    removeTempDir(dir);
  }
}

export const keyIndexWorkload: Workload = {
  name: WORKLOAD,
  description: 'the key index at 10M events over 1M keys (--quick: 1M over 100k): expected-version append p99 hot and cold, RSS, open after SIGKILL, disk use, against the same stream without keys',
  systems: [],
  eventbusOnly: true,
  optIn: true,
  async run(ctx) {
    const events = ctx.scale.quick ? 1_000_000 : 10_000_000;
    const keys = events / 10;
    await measure(ctx, events, keys, 'plain');
    await measure(ctx, events, keys, 'keyed');
  },
};
