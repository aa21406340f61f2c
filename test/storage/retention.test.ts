/**
 * Retention removes whole old sealed segments only, and only while its limit (events, bytes or
 * age) is exceeded: the first offset moves forward to a segment boundary, the next offset never
 * moves, the remaining events read back unchanged at their old offsets (their files untouched),
 * the active segment is never removed, and all of this survives a reopen.
 */
import fs from 'node:fs';
import t from 'tap';
import type { Engine } from '../../src/storage/engine.js';
import type { RetentionPolicy } from '../../src/storage/log/stream-log.js';
import { appendEach, openEngine, payload, readAll, segmentFiles, sleep, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const SEGMENT_BYTES = 1024;

interface Before {
  dataDir: string;
  dir: string;
  payloads: Buffer[];
  files: Map<string, Buffer>;
  segments: ReturnType<typeof segmentFiles>;
}

/** A closed store holding `count` 100-byte events (7 to a 1 KiB segment). */
async function store(t: TapTest, count: number): Promise<Before> {
  const dataDir = tempDir(t, 'retention');
  const engine = await openEngine(dataDir, { segmentSizeBytes: SEGMENT_BYTES, fsync: 'never' });
  await engine.createStream('s');
  const payloads = Array.from({ length: count }, (_, i) => payload(`e${i}`, 100));
  await appendEach(engine, 's', payloads);
  const dir = streamDir(engine, 's');
  await engine.close();
  const segments = segmentFiles(dir);
  const files = new Map(segments.flatMap((s) => [s.log, s.index]).map((f) => [f, fs.readFileSync(f)] as const));
  return { dataDir, dir, payloads, files, segments };
}

async function withRetention(before: Before, retention: Partial<RetentionPolicy>): Promise<{ engine: Engine; removed: number }> {
  const engine = await openEngine(before.dataDir, { segmentSizeBytes: SEGMENT_BYTES, fsync: 'never', retention });
  return { engine, removed: await engine.applyRetention() };
}

/** What must hold after any retention run. */
function expectWholeSegmentsRemoved(t: TapTest, before: Before, engine: Engine, removed: number): void {
  const stats = engine.stats('s');
  const remaining = segmentFiles(before.dir);
  t.equal(remaining.length, before.segments.length - removed, 'the segments removed are gone from disk');
  t.same(remaining.map((s) => s.base), before.segments.slice(removed).map((s) => s.base), 'the oldest ones, in order');
  t.equal(stats.firstOffset, remaining[0]!.base, 'the first offset is the first remaining segment\'s base');
  t.equal(stats.nextOffset, before.payloads.length, 'the next offset does not move');
  t.equal(stats.eventCount, before.payloads.length - stats.firstOffset);
  t.equal(stats.segmentCount, remaining.length);
  for (const s of remaining) {
    const untouched = fs.readFileSync(s.log).equals(before.files.get(s.log)!) && fs.readFileSync(s.index).equals(before.files.get(s.index)!);
    if (!untouched) t.fail(`segment ${s.base} was rewritten`);
  }
  const events = readAll(engine, 's', 0);
  t.equal(events[0]?.offset, stats.firstOffset, 'a read from 0 starts at the first remaining offset');
  t.ok(events.length === stats.eventCount && events.every((e, i) => e.offset === stats.firstOffset + i && e.payload.equals(before.payloads[e.offset]!)), 'remaining events unchanged, at their offsets');
}

t.test('maxEvents removes old segments while the rest still holds that many events (the newest are always kept)', async (t) => {
  const before = await store(t, 100);
  const { engine, removed } = await withRetention(before, { maxEvents: 30 });
  t.ok(removed > 0, `${removed} segments removed`);
  expectWholeSegmentsRemoved(t, before, engine, removed);
  const stats = engine.stats('s');
  t.ok(stats.eventCount >= 30, `${stats.eventCount} events kept: at least the newest 30`);
  const nextBase = before.segments[removed + 1]!.base;
  t.ok(100 - nextBase < 30, 'every segment that could go went: removing one more would have taken some of the newest 30');
  t.equal(await engine.applyRetention(), 0, 'running again removes nothing more');
  t.equal((await engine.append('s', Buffer.from('next'))).offset, 100, 'appends continue at the next offset');
  await engine.close();

  const reopened = await openEngine(before.dataDir, { segmentSizeBytes: SEGMENT_BYTES });
  t.equal(reopened.stats('s').firstOffset, stats.firstOffset, 'the first offset survives a reopen');
  t.equal(reopened.stats('s').nextOffset, 101);
  await reopened.close();
});

t.test('maxBytes removes old segments while the stream takes more bytes than that', async (t) => {
  const before = await store(t, 100);
  const sizes = before.segments.map((s) => before.files.get(s.log)!.length + before.files.get(s.index)!.length);
  const total = sizes.reduce((a, b) => a + b, 0);
  const limit = Math.floor(total / 3);
  const { engine, removed } = await withRetention(before, { maxBytes: limit });
  t.ok(removed > 0, `${removed} segments removed`);
  expectWholeSegmentsRemoved(t, before, engine, removed);
  t.ok(engine.stats('s').bytes >= limit, `${engine.stats('s').bytes} bytes kept, at least ${limit}`);
  t.ok(engine.stats('s').bytes - sizes[removed]! < limit, 'every segment that could go went');
  await engine.close();
});

t.test('maxAgeMs removes segments whose newest event is older than that', async (t) => {
  const dataDir = tempDir(t, 'retention-age');
  const engine = await openEngine(dataDir, { segmentSizeBytes: SEGMENT_BYTES, fsync: 'never' });
  await engine.createStream('s');
  const old = Array.from({ length: 40 }, (_, i) => payload(`old${i}`, 100));
  for (const p of old) await engine.append('s', p);
  const oldEndMs = Date.now();
  // A wide gap, and an age limit measured from it just before retention runs: on a loaded machine
  // the reopen may take hundreds of milliseconds, and it must not age the fresh events out too.
  await sleep(1000);
  const fresh = Array.from({ length: 40 }, (_, i) => payload(`new${i}`, 100));
  for (const p of fresh) await engine.append('s', p);
  const dir = streamDir(engine, 's');
  await engine.close();
  const segments = segmentFiles(dir);
  const files = new Map(segments.flatMap((s) => [s.log, s.index]).map((f) => [f, fs.readFileSync(f)] as const));
  const before: Before = { dataDir, dir, payloads: [...old, ...fresh], files, segments };

  const { engine: aged, removed } = await withRetention(before, { maxAgeMs: Date.now() - oldEndMs - 100 });
  t.teardown(() => aged.close());
  expectWholeSegmentsRemoved(t, before, aged, removed);
  // Segments holding only old events go; the one holding the first new event stays.
  const firstNewSegment = [...segments].reverse().find((s) => s.base <= 40)!;
  t.equal(aged.stats('s').firstOffset, firstNewSegment.base, 'every segment of only old events removed, no other');
});

t.test('the active segment is never removed, however low the limits', async (t) => {
  const before = await store(t, 30);
  const { engine, removed } = await withRetention(before, { maxEvents: 1, maxBytes: 1, maxAgeMs: 1 });
  await sleep(5);
  const again = removed + (await engine.applyRetention());
  t.equal(again, before.segments.length - 1, 'every sealed segment removed');
  t.equal(engine.stats('s').segmentCount, 1, 'the active one kept');
  t.equal(engine.stats('s').nextOffset, 30);
  t.equal((await engine.append('s', Buffer.from('x'))).offset, 30, 'offsets are not reused');
  await engine.close();
});

t.test('no limits, no removal', async (t) => {
  const before = await store(t, 50);
  const { engine, removed } = await withRetention(before, {});
  t.equal(removed, 0);
  expectWholeSegmentsRemoved(t, before, engine, 0);
  await engine.close();
});

t.test('the retention timer removes a key\'s events only after the key index wrote their entries out', async (t) => {
  const dataDir = tempDir(t, 'retention-keys');
  // No idle flush: only retention can make the key index write its entries out here.
  const engine = await openEngine(dataDir, { segmentSizeBytes: SEGMENT_BYTES, fsync: 'never', retentionIntervalMs: 20, retention: { maxEvents: 10 }, keyIndex: { idleFlushMs: 0 } });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  await engine.appendEvents('s', [0, 1, 2].map((i) => ({ payload: payload(`k${i}`, 100) })), { key: 'gone' });
  for (let i = 0; i < 60; i++) await engine.append('s', payload(`e${i}`, 100));
  t.ok(await until(() => engine.stats('s').firstOffset > 3, 5_000), `the timer removed the key's events (first offset ${engine.stats('s').firstOffset})`);
  t.ok(engine.keyIndexStats('s').runEntries >= 3, 'their entries were written out in a run first');
  const next = await engine.appendEvents('s', [{ payload: payload('k3', 100) }], { key: 'gone', expectedVersion: 2 });
  t.equal(next.events[0]!.version, 3, 'the key goes on from its version');
});
