/**
 * Round trip: what is appended is read back byte for byte, at dense offsets from 0, across many
 * segment rolls, in any read chunking, and again after the store is closed and reopened.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Engine } from '../../src/storage/engine.js';
import { seededRandom } from '../helpers/random.js';
import { openEngine, payload, readAll, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

/** Appends `count` events with random sizes, mixing single appends and batches, concurrently. */
async function appendRandom(engine: Engine, name: string, count: number, seed: number, first: number): Promise<Buffer[]> {
  const random = seededRandom(seed);
  const payloads: Buffer[] = [];
  const pending: Promise<unknown>[] = [];
  while (payloads.length < count) {
    const n = Math.min(count - payloads.length, random.chance(0.3) ? random.int(2, 50) : 1);
    const batch = Array.from({ length: n }, (_, i) => payload(`${name}:${first + payloads.length + i}`, random.chance(0.02) ? random.int(2000, 9000) : random.int(0, 300)));
    const at = first + payloads.length;
    payloads.push(...batch);
    pending.push((n === 1 ? engine.append(name, batch[0]!).then((e) => [e]) : engine.appendMany(name, batch)).then((events) => {
      events.forEach((event, i) => {
        if (event.offset !== at + i) throw new Error(`event given offset ${event.offset}, expected ${at + i}`);
      });
    }));
    if (random.chance(0.2)) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  return payloads;
}

function samePayloads(t: TapTest, got: { offset: number; payload: Buffer }[], want: Buffer[], what: string): void {
  t.equal(got.length, want.length, `${what}: event count`);
  const wrong = got.findIndex((event, i) => event.offset !== i || !event.payload.equals(want[i]!));
  t.equal(wrong, -1, `${what}: every event at its offset with its bytes`);
}

t.test('many events across segment rolls read back exactly, before and after reopen', async (t) => {
  const dataDir = tempDir(t);
  let engine = await openEngine(dataDir, { segmentSizeBytes: 8192 });
  await engine.createStream('orders');
  const written = await appendRandom(engine, 'orders', 3000, 1, 0);
  const stats = engine.stats('orders');
  t.equal(stats.firstOffset, 0);
  t.equal(stats.nextOffset, 3000);
  t.equal(stats.eventCount, 3000);
  t.ok(stats.segmentCount > 20, `rolled into ${stats.segmentCount} segments`);
  samePayloads(t, readAll(engine, 'orders'), written, 'before reopen');

  const dir = streamDir(engine, 'orders');
  t.equal(segmentFiles(dir).length, stats.segmentCount);

  await engine.close();
  // After a clean close the files hold exactly their data (no preallocated end).
  const onDisk = fs.readdirSync(dir).filter((n) => /\.(log|index)$/.test(n)).reduce((sum, n) => sum + fs.statSync(path.join(dir, n)).size, 0);
  engine = await openEngine(dataDir, { segmentSizeBytes: 8192 });
  t.teardown(() => engine.close());
  // Compared after the reopen: before the close, index entries may still be on their way to disk.
  t.equal(engine.stats('orders').bytes, onDisk, 'bytes on disk as stats report them');
  t.ok(stats.bytes <= onDisk, 'and no more before the close');
  t.same(engine.stats('orders').nextOffset, 3000);
  samePayloads(t, readAll(engine, 'orders', 0, 7), written, 'after reopen, 7 at a time');

  // Appends continue at the next offset, and everything still reads back.
  const more = await appendRandom(engine, 'orders', 500, 2, 3000);
  samePayloads(t, readAll(engine, 'orders'), [...written, ...more], 'after more appends');
});

t.test('reads honour their limits and always make progress', async (t) => {
  const dataDir = tempDir(t);
  const engine = await openEngine(dataDir, { segmentSizeBytes: 4096 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const sizes = [10, 500, 3000, 20, 20, 20, 5000, 1];
  for (const [i, size] of sizes.entries()) await engine.append('s', payload(`e${i}`, size));

  const two = engine.read('s', 3, { maxEvents: 2 });
  t.same(two.map((e) => e.offset), [3, 4], 'maxEvents');
  const capped = engine.read('s', 0, { maxBytes: 600 });
  t.same(capped.map((e) => e.offset), [0, 1], 'maxBytes: whole events while they fit');
  const big = engine.read('s', 2, { maxBytes: 100 });
  t.same(big.map((e) => e.offset), [2], 'one event is returned even when larger than maxBytes');
  t.equal(big[0]!.payload.length, 3000);
  t.same(engine.read('s', 8), [], 'nothing at or past the next offset');
  t.same(engine.read('s', 1000), [], 'far past the end');
  t.equal(engine.read('s', 6, { maxEvents: 1 })[0]!.payload.length, 5000, 'an event larger than a segment');
});

t.test('events larger than the read buffer and than a segment round-trip', async (t) => {
  const dataDir = tempDir(t);
  const engine = await openEngine(dataDir, { segmentSizeBytes: 64 * 1024, maxEventBytes: 1 << 20 });
  t.teardown(() => engine.close());
  await engine.createStream('big');
  const sizes = [200_000, 10, 70_000, 1 << 20, 0, 65_536];
  const written = sizes.map((size, i) => payload(`big${i}`, size));
  for (const p of written) await engine.append('big', p);
  samePayloads(t, readAll(engine, 'big'), written, 'large events');
  samePayloads(t, readAll(engine, 'big', 0, 1), written, 'one at a time');
});

t.test('an empty payload and binary payloads are stored as written', async (t) => {
  const dataDir = tempDir(t);
  const engine = await openEngine(dataDir);
  t.teardown(() => engine.close());
  await engine.createStream('bin');
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const events = await engine.appendMany('bin', [Buffer.alloc(0), binary, Buffer.from('{"a":1}')]);
  t.same(events.map((e) => e.offset), [0, 1, 2]);
  t.equal(new Set(events.map((e) => e.timestampMs)).size, 1, 'one timestamp for a batch');
  const read = engine.read('bin', 0);
  t.equal(read[0]!.payload.length, 0);
  t.ok(read[1]!.payload.equals(binary));
  t.equal(read[2]!.payload.toString(), '{"a":1}');
  t.ok(read[0]!.timestampMs <= Date.now() && read[0]!.timestampMs > Date.now() - 60_000, 'timestamp is the append time');
});
