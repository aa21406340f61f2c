/**
 * Child processes of the `key-read` workload (key-read.ts), so that a read "from a cold start"
 * is a fresh process opening the store:
 *
 *   node key-read-child.js write DIR EVENTS   fill one stream with EVENTS 100 B events (fsync
 *        never) over EVENTS/20 keys, round-robin in appends of 10 events of one key, so every key
 *        has 20 events far apart in the stream; closes cleanly.
 *   node key-read-child.js read DIR EVENTS SAMPLES   open it, then read the 20 events of a key
 *        (get_stream_events by key: the key index, then the records) for SAMPLES keys never read
 *        since the open, spread over the key space; reports the open time, the first read (the
 *        cold one: nothing of the index or the log read yet) and the percentiles of the others.
 *   node key-read-child.js crash DIR TAIL   open it, append TAIL more keyed events (to keys of
 *        their own, so the sampled keys keep their 20 events) and wait until they are written,
 *        then SIGKILL itself: the next open's key index must rebuild that tail from the log.
 *
 * Each prints JSON lines on stdout; the last is its result.
 */
import { readStoredPage } from '../../src/bus/event-reads.js';
import { Engine } from '../../src/storage/index.js';

const PER_APPEND = 10;
const PER_KEY = 20;
const PAYLOAD = Buffer.alloc(100, 120);

function out(value: Record<string, number>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

async function write(dataDir: string, events: number): Promise<void> {
  const keys = events / PER_KEY;
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'never' });
  await engine.createStream('s');
  const batch = Array.from({ length: PER_APPEND }, () => ({ payload: PAYLOAD }));
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < events / PER_APPEND; i++) {
    inFlight.push(engine.appendEvents('s', batch, { key: `order-${i % keys}` }));
    if (inFlight.length >= 256) {
      await Promise.all(inFlight);
      inFlight.length = 0;
    }
    if (i % 100_000 === 0 && i > 0) out({ progress: i * PER_APPEND });
  }
  await Promise.all(inFlight);
  await engine.keyIndexIdle();
  await engine.close();
  out({ done: 1 });
}

async function read(dataDir: string, events: number, samples: number): Promise<void> {
  const keys = events / PER_KEY;
  const started = performance.now();
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'never' });
  const openMs = performance.now() - started;
  const times: number[] = [];
  const stride = 7919;
  for (let i = 0; i < samples; i++) {
    const key = `order-${(i * stride) % keys}`;
    const begun = performance.now();
    const page = readStoredPage(engine, 's', { fromOffset: 0, key, fromVersion: 0 }, { maxEvents: PER_KEY, maxBytes: 4 * 1024 * 1024 });
    times.push(performance.now() - begun);
    if (page.stored.length !== PER_KEY || page.stored.some((e) => e.attributes?.key !== key)) throw new Error(`key ${key}: ${page.stored.length} events read`);
  }
  // The first read after the open is the cold one (after a crash it also replays the log past
  // the newest run: keys/key-index.ts): reported apart, the percentiles are over the others.
  const sorted = times.slice(1).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  out({ openMs, firstReadMs: times[0]!, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted[sorted.length - 1]! });
  await engine.close();
}

async function crash(dataDir: string, tail: number): Promise<void> {
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'never' });
  const batch = Array.from({ length: PER_APPEND }, () => ({ payload: PAYLOAD }));
  const stamp = Date.now();
  const inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < tail / PER_APPEND; i++) inFlight.push(engine.appendEvents('s', batch, { key: `tail-${stamp}-${i % 1000}` }));
  await Promise.all(inFlight);
  out({ tail: engine.keyIndexStats('s').memtableEntries });
  process.kill(process.pid, 'SIGKILL');
}

const [mode, dataDir, eventsText, samplesText] = process.argv.slice(2);
const events = Number(eventsText);
const run = mode === 'write' ? write(dataDir!, events) : mode === 'crash' ? crash(dataDir!, events) : read(dataDir!, events, Number(samplesText ?? 1000));
run.catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
