/**
 * Per-stream settings: truncation hides the events below it from every read and consumer as soon
 * as it resolves, survives a restart and a snapshot (restored), keeps offsets going, and its
 * whole segments are reclaimed; a stream's own retention overrides the store's, can be changed
 * later, and survives a restart; consumers start where they are told (all, new, an offset, a
 * time), also after a restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { nodeIO, type ConsumerStart } from '../../src/storage/index.js';
import { restoreSnapshot } from '../../src/storage/tools/restore.js';
import { openEngine, payload, readAll, segmentFiles, sleep, streamDir } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

const SEGMENT_BYTES = 1024;
const options = { segmentSizeBytes: SEGMENT_BYTES, fsync: 'always' as const, retentionIntervalMs: 0 };

t.test('truncation: reads, consumers, restart, snapshot, offsets continue, segments reclaimed', async (t) => {
  const dataDir = tempDir(t, 'truncate');
  let engine = await openEngine(dataDir, options);
  await engine.createStream('s');
  // Batches of 5: a batch is written whole into one segment, so small ones fill many segments.
  for (let i = 0; i < 50; i += 5) await engine.appendMany('s', Array.from({ length: 5 }, (_, k) => payload(`e${i + k}`, 100)));
  const delivered = await engine.consume('s', 'c', { maxEvents: 10 });
  t.equal(delivered.events.length, 10, 'a consumer holds 10 delivered events');
  const segmentsBefore = segmentFiles(streamDir(engine, 's')).length;
  await t.rejects(engine.truncate('s', 51), { code: 'INVALID_FIELD' }, 'past the next offset: refused');
  const result = await engine.truncate('s', 23);
  t.same(result, { firstOffset: 23, nextOffset: 50 });
  t.equal(readAll(engine, 's', 0)[0]!.offset, 23, 'a read from 0 starts at the truncation');
  t.equal(engine.readBackward('s', 100).at(-1)!.offset, 23, 'a backward read stops at it');
  t.equal(engine.stats('s').eventCount, 27);
  const consumer = engine.stats('s').consumers[0]!;
  t.equal(consumer.cursor, 23, 'the consumer\'s cursor moved up to it');
  t.equal(consumer.pending, 0, 'its outstanding events below it are gone');
  t.ok(segmentFiles(streamDir(engine, 's')).length < segmentsBefore, 'whole segments below it were removed');
  t.same((await engine.truncate('s', 10)), { firstOffset: 23, nextOffset: 50 }, 'a lower truncation changes nothing');
  const snapshot = await engine.snapshot(tempDir(t, 'truncate-snap'));
  const appended = await engine.append('s', payload('after', 10));
  t.equal(appended.offset, 50, 'offsets continue');
  await engine.close();

  engine = await openEngine(dataDir, options);
  t.equal(engine.stats('s').firstOffset, 23, 'after a restart: still truncated');
  t.equal(readAll(engine, 's', 0).length, 28);
  t.equal((await engine.consume('s', 'c', { maxEvents: 100 })).events[0]!.offset, 23, 'the consumer goes on from it');
  await engine.close();

  const restored = path.join(tempDir(t, 'truncate-restore'), 'data');
  restoreSnapshot(nodeIO, snapshot.path, restored);
  engine = await openEngine(restored, options);
  t.equal(engine.stats('s').firstOffset, 23, 'a restored snapshot is truncated');
  t.same(readAll(engine, 's', 0).map((e) => e.offset), Array.from({ length: 27 }, (_, i) => 23 + i));
  await engine.close();
});

t.test('per-stream retention overrides the store\'s, changes later, survives a restart', async (t) => {
  const dataDir = tempDir(t, 'retention-own');
  let engine = await openEngine(dataDir, { ...options, retention: { maxEvents: 0 } });
  await t.rejects(engine.createStream('bad', { retention: { maxEvents: -1 } }), { code: 'INVALID_FIELD' });
  await engine.createStream('kept');
  await engine.createStream('short', { retention: { maxEvents: 10 } });
  for (const name of ['kept', 'short']) {
    for (let i = 0; i < 60; i += 5) await engine.appendMany(name, Array.from({ length: 5 }, (_, k) => payload(`${name}${i + k}`, 100)));
  }
  t.same(engine.stats('short').retention, { effective: { maxAgeMs: 0, maxBytes: 0, maxEvents: 10 }, own: { maxEvents: 10 } });
  // A segment still being sealed is never removed: retention runs again until the last rolls'
  // seals have settled (up to 5 s on a loaded machine).
  const withinLimit = async () => {
    await engine.applyRetention();
    const stats = engine.stats('short');
    return stats.nextOffset - stats.firstOffset < 10 + 10;
  };
  await until(withinLimit, 5_000);
  t.equal(engine.stats('kept').firstOffset, 0, 'the store\'s unlimited default keeps everything');
  const short = engine.stats('short');
  t.ok(short.firstOffset > 0 && short.nextOffset - short.firstOffset < 10 + 10, 'the stream\'s own limit removed whole old segments');
  const view = await engine.setRetention('kept', { maxEvents: 20 });
  t.same(view.effective.maxEvents, 20);
  t.ok(engine.stats('kept').firstOffset > 0, 'a new limit applies at once');
  await engine.close();
  engine = await openEngine(dataDir, { ...options, retention: { maxEvents: 0 } });
  t.same(engine.stats('kept').retention.own, { maxEvents: 20 }, 'after a restart the stream keeps its own limit');
  t.same(engine.stats('short').retention.own, { maxEvents: 10 });
  await engine.setRetention('kept', {});
  t.same(engine.stats('kept').retention.effective.maxEvents, 0, 'an empty retention follows the store again');
  await engine.close();
});

t.test('several limits: each is a cap and the strictest decides, to within a segment', async (t) => {
  const dataDir = tempDir(t, 'retention-caps');
  const engine = await openEngine(dataDir, options);
  t.teardown(() => engine.close());
  // 5 events of 100 B a batch: about 4 batches fill a 1 KiB segment.
  const shapes = {
    bytesStricter: { maxBytes: 1, maxEvents: 30 },
    eventsStricter: { maxBytes: 3_000, maxEvents: 10 },
    bytesOnly: { maxBytes: 3_000 },
  };
  for (const [name, retention] of Object.entries(shapes)) {
    await engine.createStream(name, { retention });
    for (let i = 0; i < 200; i += 5) await engine.appendMany(name, Array.from({ length: 5 }, (_, k) => payload(`${name}${i + k}`, 100)));
  }
  const held = (name: string) => {
    const stats = engine.stats(name);
    return { events: stats.nextOffset - stats.firstOffset, bytes: stats.bytes, segments: stats.segmentCount };
  };
  // Seals settle asynchronously: run retention until the stricter limit is met.
  await until(async () => {
    await engine.applyRetention();
    return held('bytesStricter').segments === 1 && held('eventsStricter').events < 10 + 40 && held('bytesOnly').bytes < 3_000 + 2 * SEGMENT_BYTES;
  }, 5_000);
  t.equal(held('bytesStricter').segments, 1, 'max_bytes 1 with max_events 30: only the active segment is left (max_bytes is the stricter cap)');
  const events = held('eventsStricter');
  t.ok(events.events >= 10 && events.events < 10 + 40, `max_events 10 with max_bytes 3000: at least 10 and within a segment of it (${events.events})`);
  t.ok(events.bytes < 3_000, `and under max_bytes (${events.bytes} B)`);
  const bytes = held('bytesOnly');
  t.ok(bytes.bytes >= 3_000 && bytes.bytes < 3_000 + 2 * SEGMENT_BYTES, `max_bytes 3000 alone: at least 3000 B kept, less than a segment more (${bytes.bytes} B)`);
});

t.test('consumers start at all, new, an offset or a time; the start survives a restart', async (t) => {
  const dataDir = tempDir(t, 'consumer-start');
  let engine = await openEngine(dataDir, options);
  await engine.createStream('s');
  await engine.appendMany('s', Array.from({ length: 10 }, (_, i) => payload(`a${i}`, 20)));
  await sleep(5);
  const cutMs = Date.now();
  await sleep(2);
  await engine.appendMany('s', Array.from({ length: 5 }, (_, i) => payload(`b${i}`, 20)));
  const first = async (consumer: string, start?: ConsumerStart) =>
    (await engine.consume('s', consumer, { maxEvents: 1, ...(start === undefined ? {} : { start }) })).events[0]?.offset;
  t.equal(await first('all', { kind: 'all' }), 0);
  t.equal(await first('offset', { kind: 'offset', offset: 7 }), 7);
  t.equal(await first('time', { kind: 'time', timeMs: cutMs }), 10);
  t.equal(await first('new', { kind: 'new' }), undefined, 'new: nothing until something is written');
  await t.rejects(engine.consume('s', 'far', { start: { kind: 'offset', offset: 16 } }), { code: 'INVALID_FIELD' }, 'past the end: refused');
  t.equal(await first('offset', { kind: 'offset', offset: 0 }), 8, 'the start of an existing consumer is ignored');
  await engine.close();
  engine = await openEngine(dataDir, options);
  const starts = Object.fromEntries(engine.stats('s').consumers.map((c) => [c.name, c.start]));
  t.same(starts, { all: { kind: 'all' }, offset: { kind: 'offset', offset: 7 }, time: { kind: 'time', timeMs: cutMs }, new: { kind: 'new' } });
  await engine.append('s', payload('c', 20));
  t.equal((await engine.consume('s', 'new', { maxEvents: 10 })).events[0]?.offset, 15, 'new after a restart: starts where it was created');
  t.ok(fs.existsSync(dataDir));
  await engine.close();
});
