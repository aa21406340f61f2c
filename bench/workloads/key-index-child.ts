/**
 * Child processes of the `key-index` workload (key-index.ts), so that RSS is one store's and an
 * unclean stop is a real SIGKILL:
 *
 *   node key-index-child.js write DIR EVENTS KEYS keyed|plain   fill one stream with EVENTS 100 B
 *        events (fsync never): keyed, round-robin over KEYS keys in appends of 10 events of one
 *        key (so every key ends at version EVENTS/KEYS - 1); plain, the same appends without a
 *        key. Reports bytes on disk and RSS, then kills itself with SIGKILL (no clean close).
 *   node key-index-child.js open DIR EVENTS KEYS keyed|plain    open after that kill: the open
 *        time, RSS; for a keyed store then the first keyed append (it waits for the index's
 *        background load if that has not finished), then appends with an integer expected
 *        version, fsync never (fsync excluded), to cold keys (each once, never used since the
 *        open) and to one hot key, interleaved with appends without a key to the same stream (the
 *        peer: what the machine's load alone costs an append), reporting each set's latency
 *        percentiles; closes.
 *
 * Each prints JSON lines on stdout; the last is its result.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Engine } from '../../src/storage/index.js';

const PER_APPEND = 10;
const PAYLOAD = Buffer.alloc(100, 120);

function diskBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    // Allocated blocks, not apparent size: the active log is preallocated sparsely.
    total += entry.isDirectory() ? diskBytes(full) : statSync(full).blocks * 512;
  }
  return total;
}

function out(value: Record<string, number>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function write(dataDir: string, events: number, keys: number, keyed: boolean): Promise<void> {
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'never' });
  await engine.createStream('s');
  const batch = Array.from({ length: PER_APPEND }, () => ({ payload: PAYLOAD }));
  const payloads = batch.map((e) => e.payload);
  const started = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < events / PER_APPEND; i++) {
    const key = `customer-${i % keys}`;
    inFlight.push(keyed ? engine.appendEvents('s', batch, { key }) : engine.appendMany('s', payloads));
    if (inFlight.length >= 256) {
      await Promise.all(inFlight);
      inFlight.length = 0;
    }
    if (i % 100_000 === 0 && i > 0) out({ progress: i * PER_APPEND });
  }
  await Promise.all(inFlight);
  const writeMs = performance.now() - started;
  await engine.keyIndexIdle();
  const stats = keyed ? engine.keyIndexStats('s') : null;
  out({ done: 1, writeMs, eventsPerSecond: events / (writeMs / 1000), diskBytes: diskBytes(dataDir), rssBytes: process.memoryUsage.rss(), runs: stats?.runs ?? 0, runBytes: stats?.runBytes ?? 0, indexMemoryBytes: stats?.storeMemoryBytes ?? 0 });
  process.kill(process.pid, 'SIGKILL');
}

function percentiles(samples: number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[sorted.length - 1]! };
}

async function timedAppend(engine: Engine, key: string | null, expectedVersion: number): Promise<number> {
  const started = performance.now();
  await engine.appendEvents('s', [{ payload: PAYLOAD }], key === null ? {} : { key, expectedVersion });
  return performance.now() - started;
}

async function open(dataDir: string, events: number, keys: number, keyed: boolean, samples: number): Promise<void> {
  const started = performance.now();
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'never' });
  const openMs = performance.now() - started;
  const rssAfterOpen = process.memoryUsage.rss();
  if (!keyed) {
    out({ openMs, rssBytes: rssAfterOpen });
    await engine.close();
    return;
  }
  const lastVersion = events / keys - 1;
  // The first keyed use right after the open: it finishes the index's load if still under way.
  const firstKeyedMs = await timedAppend(engine, `customer-${keys - 2}`, lastVersion);
  // Cold: keys never touched since the open, spread over the whole key space (a prime stride).
  const cold: number[] = [];
  const plain: number[] = [];
  const stride = 7919;
  for (let i = 0; i < samples; i++) {
    cold.push(await timedAppend(engine, `customer-${(i * stride) % (keys - 2)}`, lastVersion));
    plain.push(await timedAppend(engine, null, 0));
  }
  // Hot: one key, appended again and again.
  const hot: number[] = [];
  let version = lastVersion;
  const hotKey = `customer-${keys - 1}`;
  for (let i = 0; i < samples; i++) {
    hot.push(await timedAppend(engine, hotKey, version++));
    plain.push(await timedAppend(engine, null, 0));
  }
  const c = percentiles(cold);
  const h = percentiles(hot);
  const p = percentiles(plain);
  out({ openMs, rssBytes: rssAfterOpen, rssAfterAppends: process.memoryUsage.rss(), firstKeyedMs, coldP50Ms: c.p50Ms, coldP99Ms: c.p99Ms, coldMaxMs: c.maxMs, hotP50Ms: h.p50Ms, hotP99Ms: h.p99Ms, hotMaxMs: h.maxMs, plainP50Ms: p.p50Ms, plainP99Ms: p.p99Ms, plainMaxMs: p.maxMs });
  await engine.close();
}

const [mode, dataDir, eventsText, keysText, kind, samplesText] = process.argv.slice(2);
const events = Number(eventsText);
const keys = Number(keysText);
const keyed = kind === 'keyed';
const run = mode === 'write' ? write(dataDir!, events, keys, keyed) : open(dataDir!, events, keys, keyed, Number(samplesText ?? 2000));
run.catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
