/**
 * Child processes of the `engine-recovery` workload (engine-recovery.ts), so that an open is a
 * fresh process's and an unclean stop is a real SIGKILL:
 *
 *   node engine-recovery-child.js write DIR EVENTS clean|unclean   fill a store with 100 B events
 *        (fsync never, batches of 1,000); `unclean` then reports {"ready":1} and keeps appending
 *        until it is killed
 *   node engine-recovery-child.js open DIR                          open, report the open time and
 *        the recovery report's figures (engine.recovery), close
 *
 * Each prints JSON lines on stdout; the last is its result.
 */
import { Engine } from '../../src/storage/index.js';

const BATCH_EVENTS = 1000;

async function write(dataDir: string, events: number, unclean: boolean): Promise<void> {
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'never' });
  if (engine.getStream('bench') === undefined) await engine.createStream('bench');
  const batch = Array.from({ length: BATCH_EVENTS }, (_, i) => Buffer.alloc(100, 97 + (i % 26)));
  for (let written = 0; written < events; written += BATCH_EVENTS) await engine.appendMany('bench', batch.slice(0, Math.min(BATCH_EVENTS, events - written)));
  if (unclean) {
    process.stdout.write(`${JSON.stringify({ ready: 1 })}\n`);
    for (;;) await engine.append('bench', batch[0]!);
  }
  await engine.close();
  process.stdout.write(`${JSON.stringify({ done: 1 })}\n`);
}

async function open(dataDir: string): Promise<void> {
  const started = performance.now();
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  const openMs = performance.now() - started;
  const { recovery } = engine;
  const { totals } = recovery;
  process.stdout.write(`${JSON.stringify({
    openMs,
    recoveryMs: recovery.durationMs,
    syncMs: recovery.syncMs,
    afterCrash: recovery.afterCrash ? 1 : 0,
    events: totals.events,
    segments: totals.segments,
    tornBytesCut: totals.tornBytesCut,
    indexesRebuilt: totals.indexesRebuilt,
    indexEntriesAdded: totals.indexEntriesAdded,
  })}\n`);
  await engine.close();
}

const [mode, dataDir, ...rest] = process.argv.slice(2);
const run = mode === 'write' ? write(dataDir!, Number(rest[0]), rest[1] === 'unclean') : open(dataDir!);
run.catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
