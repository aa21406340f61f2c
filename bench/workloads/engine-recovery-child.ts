/**
 * Child processes of the `engine-recovery` workload (engine-recovery.ts), so that an open is a
 * fresh process's and an unclean stop is a real SIGKILL:
 *
 *   node engine-recovery-child.js write DIR EVENTS clean|unclean   fill a store with 100 B events
 *        (fsync never, batches of 1,000); `unclean` then reports {"ready":1} and keeps appending
 *        until it is killed (bench/core/engine-store.ts)
 *   node engine-recovery-child.js open DIR                          open, report the open time and
 *        the recovery report's figures (engine.recovery), close
 *
 * Each prints JSON lines on stdout; the last is its result.
 */
import { Engine } from '../../src/storage/index.js';
import { printJsonLine, runChildMode, writeMode } from '../core/engine-store.js';

async function open(dataDir: string): Promise<void> {
  const started = performance.now();
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  const openMs = performance.now() - started;
  const { recovery } = engine;
  const { totals } = recovery;
  printJsonLine({
    openMs,
    recoveryMs: recovery.durationMs,
    syncMs: recovery.syncMs,
    afterCrash: recovery.afterCrash ? 1 : 0,
    events: totals.events,
    segments: totals.segments,
    tornBytesCut: totals.tornBytesCut,
    indexesRebuilt: totals.indexesRebuilt,
    indexEntriesAdded: totals.indexEntriesAdded,
  });
  await engine.close();
}

runChildMode({ write: writeMode, open });
