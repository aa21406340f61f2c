/**
 * The in-process engine as the engine workloads (engine, engine-recovery, engine-batching,
 * engine-observer, engine-prealloc) and their child processes use it: a fresh store in a
 * temporary directory with one stream, `bench`; closed-loop appenders timed for a window; a
 * store filled by a child process (and killed in mid-append for an unclean stop); a child's
 * modes run from its command line; the active segment's offset index, to lose it.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Engine, type EngineOptions } from '../../src/storage/index.js';
import { newHistogram, recordMs, summarize } from '../../src/cli/bench/histogram.js';
import type { RunResult } from './figures.js';
import { makeTempDir, removeTempDir } from './processes.js';

/** The one stream of a bench store. */
export const BENCH_STREAM = 'bench';

/** A 100 B event. */
export const EVENT_100_B = Buffer.alloc(100, 0x61);

/** Runs `work` on a fresh store (`options` over no retention pass) with the stream `bench`; closes and removes it after. */
export async function withBenchStore<T>(prefix: string, options: Partial<EngineOptions>, work: (engine: Engine) => Promise<T>): Promise<T> {
  const dataDir = makeTempDir(prefix);
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, ...options });
  try {
    await engine.createStream(BENCH_STREAM);
    return await work(engine);
  } finally {
    await engine.close();
    removeTempDir(dataDir);
  }
}

/** `appenders` closed loops appending `payload` to `bench` for `ms`, each awaiting its append: appends/s and their latency. */
export async function appendWindow(engine: Engine, appenders: number, ms: number, payload = EVENT_100_B): Promise<RunResult> {
  const histogram = newHistogram();
  let events = 0;
  const started = performance.now();
  const until = started + ms;
  await Promise.all(Array.from({ length: appenders }, async () => {
    while (performance.now() < until) {
      const t0 = performance.now();
      await engine.append(BENCH_STREAM, payload);
      recordMs(histogram, performance.now() - t0);
      events += 1;
    }
  }));
  const elapsedMs = performance.now() - started;
  return { ops: events, elapsedMs, opsPerSecond: (events / elapsedMs) * 1000, latency: summarize(histogram), errors: 0 };
}

// ------------------------------------------------------------------ child processes

const FILL_BATCH_EVENTS = 1000;

/** A child's result or progress: one JSON line on stdout. */
export function printJsonLine(value: Record<string, number>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * In a child: adds `events` 100 B events to `bench` (fsync never, batches of 1,000), creating
 * the stream if needed, then closes and prints {"done":1}; `unclean` instead prints {"ready":1}
 * and keeps appending until the parent kills it, so that the kill lands in the middle of the
 * writer's work.
 */
export async function fillStore(dataDir: string, events: number, unclean: boolean): Promise<void> {
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'never' });
  if (engine.getStream(BENCH_STREAM) === undefined) await engine.createStream(BENCH_STREAM);
  const batch = Array.from({ length: FILL_BATCH_EVENTS }, (_, i) => Buffer.alloc(100, 97 + (i % 26)));
  for (let written = 0; written < events; written += FILL_BATCH_EVENTS) await engine.appendMany(BENCH_STREAM, batch.slice(0, Math.min(FILL_BATCH_EVENTS, events - written)));
  if (unclean) {
    printJsonLine({ ready: 1 });
    for (;;) await engine.append(BENCH_STREAM, batch[0]!);
  }
  await engine.close();
  printJsonLine({ done: 1 });
}

/** A child's `write DIR EVENTS clean|unclean` mode: {@link fillStore}. */
export function writeMode(dataDir: string, [events, stop]: string[]): Promise<void> {
  return fillStore(dataDir, Number(events), stop === 'unclean');
}

/**
 * A child's main: `node child.js MODE DIR ARGS…` runs `modes[MODE](DIR, ARGS)`; a failure is
 * printed on stderr with exit status 1 (the parent shows it).
 */
export function runChildMode(modes: Record<string, (dataDir: string, args: string[]) => Promise<void>>): void {
  const [mode, dataDir, ...args] = process.argv.slice(2);
  const run = modes[mode ?? ''];
  const done = run === undefined || dataDir === undefined ? Promise.reject(new Error(`usage: MODE DIR ARGS… (MODE one of ${Object.keys(modes).join(', ')})`)) : run(dataDir, args);
  done.catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

/** The newest offset index file of a store (the active segment's). */
export function activeIndex(dir: string): string {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.index')) found.push(full);
    }
  };
  walk(dir);
  const newest = found.sort().pop();
  if (newest === undefined) throw new Error('no offset index file found');
  return newest;
}
