/**
 * The key index's bloom filters (issue 12): a filter never says "not here" for a hash it was
 * given (property test, alone and through a run written and opened again), runs written before
 * filters (format version 1) still open and answer, a run whose filter fails its checksum is
 * removed and rebuilt from the log, and `verify` checks the filters.
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { nodeIO, verifyDirectory, type Engine } from '../../src/storage/index.js';
import { crc32c } from '../../src/storage/format/crc.js';
import { FILE_HEADER_BYTES } from '../../src/storage/format/file-header.js';
import { hashKey } from '../../src/storage/format/key-hash.js';
import { bloomPosition, decodeRunTrailer, encodeRunHeader, encodeRunTrailer, RUN_TRAILER_BYTES } from '../../src/storage/format/key-run.js';
import { BloomFilter } from '../../src/storage/keys/bloom-filter.js';
import { KeyRun, RunWriter } from '../../src/storage/keys/key-run-file.js';
import { openEngine, simulateCrash } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

/** A small seeded generator (xorshift32), so that a failure can be replayed from its seed. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const body = (text: string) => Buffer.from(JSON.stringify(text));

t.test('a bloom filter never answers "not here" for a hash it holds (property, 200 random filters)', async (t) => {
  let falsePositives = 0;
  let probes = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const next = random(seed * 2654435761);
    const count = 1 + (next() % 3000);
    const filter = BloomFilter.sized(count);
    const held: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      // Some hashes differ only in one half: the probes must still hold for both.
      const hi = i % 7 === 0 && i > 0 ? held[i - 1]![0] : next();
      held.push([hi, next()]);
      filter.add(held[i]![0], held[i]![1]);
    }
    for (const [hi, lo] of held) {
      if (!filter.mayHold(hi, lo)) {
        t.fail(`seed ${seed}: hash ${hi}/${lo} added but reported absent`);
        return;
      }
    }
    for (let i = 0; i < 1000; i++) {
      probes += 1;
      if (filter.mayHold(next(), next())) falsePositives += 1;
    }
  }
  t.pass('no false negative');
  // 10 bits and 7 probes a hash: about 1%; 3% leaves room for chance.
  t.ok(falsePositives / probes < 0.03, `false positive rate ${((100 * falsePositives) / probes).toFixed(2)}%`);
});

t.test('a run written and opened again holds every one of its keys in its filter', async (t) => {
  const dir = tempDir(t, 'run');
  const next = random(42);
  const entries: { hi: number; lo: number; version: number; offset: number }[] = [];
  for (let k = 0; k < 5000; k++) {
    const { hi, lo } = hashKey(Buffer.from(`key-${next()}`));
    for (let v = 0; v < 1 + (k % 3); v++) entries.push({ hi, lo, version: v, offset: entries.length });
  }
  entries.sort((a, b) => a.hi - b.hi || a.lo - b.lo || a.version - b.version);
  const writer = new RunWriter(nodeIO, dir, 0, entries.length, Date.now());
  for (const e of entries) writer.add(e.hi, e.lo, e.version, e.offset);
  const written = await writer.finish();
  written.release();
  const run = KeyRun.open(nodeIO, written.path);
  if (typeof run === 'string') throw new Error(run);
  t.teardown(() => run.release());
  t.ok(run.hasBloom && run.bloomMemoryBytes > 0, `the run has a filter (${run.bloomMemoryBytes} bytes)`);
  t.ok(entries.every((e) => run.mayHold(e.hi, e.lo)), 'every entry of the run is in its filter');
  for (const e of entries.slice(0, 50)) t.same(run.newestOf(nodeIO, e.hi, e.lo, 1)[0]?.offset !== undefined, true);
});

/** Rewrites a run as format version 1 (no filter: what runs written before filters are). */
function asVersion1(file: string): void {
  const bytes = fs.readFileSync(file);
  const trailer = decodeRunTrailer(bytes.subarray(bytes.length - RUN_TRAILER_BYTES));
  if (typeof trailer === 'string') throw new Error(trailer);
  const header = encodeRunHeader(trailer.fromOffset, Date.now(), 1);
  const body = Buffer.concat([header, bytes.subarray(FILE_HEADER_BYTES, bloomPosition(trailer.blockCount))]);
  const v1 = { ...trailer, bodyCrc: crc32c(body), bloomBytes: 0, bloomCrc: 0, bloomHashes: 0 };
  fs.writeFileSync(file, Buffer.concat([body, encodeRunTrailer(v1)]));
}

async function writeKeyed(engine: Engine, model: Map<string, number[]>, rounds: number): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const key = `key-${(round * 7919) % 61}`;
    const n = 1 + (round % 5);
    const r = await engine.appendEvents('s', Array.from({ length: n }, (_, i) => ({ payload: body(`${round}.${i}`) })), { key });
    const offsets = model.get(key) ?? [];
    for (const e of r.events) offsets.push(e.offset);
    model.set(key, offsets);
  }
  await engine.keyIndexIdle();
}

function checkAll(t: Test, engine: Engine, model: Map<string, number[]>, label: string): void {
  let wrong = 0;
  for (const [key, offsets] of model) {
    const { version, offset } = engine.keyVersion('s', key);
    if (version !== offsets.length - 1 || offset !== offsets.at(-1)) wrong += 1;
    if (engine.keyOffsets('s', key, 0, { limit: 10_000 }).map((e) => e.offset).join() !== offsets.join()) wrong += 1;
  }
  t.equal(wrong, 0, `${label}: every key's versions and offsets right`);
  t.same(engine.keyVersion('s', 'never-written'), { version: -1, offset: -1 }, `${label}: an unknown key has none`);
}

const options = { fsync: 'never' as const, segmentSizeBytes: 64 * 1024, keyIndex: { flushEvents: 64, memtableEvents: 256, cacheBytes: 64 * 1024 } };

function runFiles(dataDir: string): string[] {
  const streams = path.join(dataDir, 'streams');
  const dir = path.join(streams, fs.readdirSync(streams)[0]!);
  return fs.readdirSync(dir).filter((f) => f.endsWith('.run')).sort().map((f) => path.join(dir, f));
}

t.test('runs written before filters (format version 1) open, answer and are merged', async (t) => {
  const dataDir = tempDir(t, 'v1');
  let engine = await openEngine(dataDir, options);
  await engine.createStream('s');
  const model = new Map<string, number[]>();
  await writeKeyed(engine, model, 150);
  await engine.close();
  const files = runFiles(dataDir);
  t.ok(files.length >= 2, `${files.length} runs to rewrite`);
  for (const file of files) asVersion1(file);
  t.same(verifyDirectory(nodeIO, dataDir).problems, [], 'verify accepts version 1 runs');
  engine = await openEngine(dataDir, options);
  checkAll(t, engine, model, 'over version 1 runs');
  // More writes: new runs have filters, merges take version 1 runs in.
  await writeKeyed(engine, model, 300);
  checkAll(t, engine, model, 'over version 1 and 2 runs, merged');
  await engine.close();
  engine = await openEngine(dataDir, options);
  t.teardown(() => engine.close());
  checkAll(t, engine, model, 'reopened');
});

t.test('a run whose filter fails its checksum is found by verify, removed and rebuilt from the log', async (t) => {
  const dataDir = tempDir(t, 'damaged');
  let engine = await openEngine(dataDir, options);
  await engine.createStream('s');
  const model = new Map<string, number[]>();
  await writeKeyed(engine, model, 150);
  await engine.close();
  t.same(verifyDirectory(nodeIO, dataDir).problems, [], 'sound runs verify');
  const file = runFiles(dataDir)[0]!;
  const bytes = fs.readFileSync(file);
  const trailer = decodeRunTrailer(bytes.subarray(bytes.length - RUN_TRAILER_BYTES));
  if (typeof trailer === 'string') throw new Error(trailer);
  t.ok(trailer.bloomBytes > 0, 'the run has a filter');
  // Clear the whole filter: a run trusting it would miss every key.
  bytes.fill(0, bloomPosition(trailer.blockCount), bloomPosition(trailer.blockCount) + trailer.bloomBytes);
  fs.writeFileSync(file, bytes);
  t.match(verifyDirectory(nodeIO, dataDir).problems, [{ file, message: /bloom filter fails its checksum/ }], 'verify names the damaged filter');
  simulateCrash(dataDir);
  engine = await openEngine(dataDir, options);
  t.teardown(() => engine.close());
  checkAll(t, engine, model, 'after the damaged run was rebuilt');
  await engine.keyIndexIdle();
  await engine.close();
  t.same(verifyDirectory(nodeIO, dataDir).problems, [], 'the rebuilt runs verify');
  engine = await openEngine(dataDir, options);
});

t.test("runs' descriptors stay open between lookups, within the engine's open-files bound", { skip: process.platform !== 'linux' ? 'counts descriptors in /proc/self/fd (Linux only)' : false }, async (t) => {
  const dataDir = tempDir(t, 'fds');
  const engine = await openEngine(dataDir, { ...options, maxOpenSegments: 1 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const model = new Map<string, number[]>();
  await writeKeyed(engine, model, 400);
  // Merges run in the background (4 runs into 1): write on until more than one run is left once
  // they are done, so that none opens or closes files while descriptors are counted.
  for (let i = 0; i < 20; i++) {
    await engine.keyIndexIdle();
    if (engine.keyIndexStats('s').runs >= 2) break;
    await writeKeyed(engine, model, 50);
  }
  const runs = engine.keyIndexStats('s').runs;
  t.ok(runs > 1, `${runs} runs, more than the bound of 1`);
  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const before = fds();
  checkAll(t, engine, model, 'with the bound');
  const after = fds();
  // One holder at most: a sealed segment holds two descriptors (log and index), a run one.
  t.ok(after - before <= 2, `descriptors grew by ${after - before} over ${runs} runs and many segments (bound 1 holder)`);
  checkAll(t, engine, model, 'again');
  t.ok(fds() - before <= 2, 'and stay within it');
  t.ok(after > before, 'some descriptors are held between lookups');
});
