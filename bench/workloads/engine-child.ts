/**
 * Child processes of the `engine` workload (bench/workloads/engine.ts), so that open times and
 * memory are a fresh process's and an unclean stop is a real SIGKILL:
 *
 *   node engine-child.js write DIR EVENTS clean|unclean   fill a store with 100 B events; `unclean`
 *        then reports {"ready":1} and keeps appending until it is killed (bench/core/engine-store.ts)
 *   node engine-child.js open DIR                          open, report open time and memory, close
 *
 * Each prints JSON lines on stdout; the last is its result.
 */
import { Engine } from '../../src/storage/index.js';
import { BENCH_STREAM, printJsonLine, runChildMode, writeMode } from '../core/engine-store.js';

async function open(dataDir: string): Promise<void> {
  const started = performance.now();
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  const openMs = performance.now() - started;
  const stats = engine.stats(BENCH_STREAM);
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  printJsonLine({ openMs, events: stats.eventCount, segments: stats.segmentCount, rssBytes: memory.rss, heapUsedBytes: memory.heapUsed });
  await engine.close();
}

runChildMode({ write: writeMode, open });
