/**
 * Damage in the middle of a log (a bit flip on disk, not a torn write): the damaged event is
 * never returned as data; reading it fails with CORRUPT_DATA naming the file and byte position;
 * stats list the damage; nothing is cut away (the file keeps its size and bytes) and the events
 * after it stay readable. This holds for sealed segments (found on read: opening does not read
 * them) and for the active one (found on read, or by recovery's scan when it has to scan).
 */
import fs from 'node:fs';
import t from 'tap';
import { EventBusError } from '../../src/errors.js';
import type { Engine } from '../../src/storage/engine.js';
import { capturingLogger } from '../helpers/logger.js';
import { appendEach, flipBit, openEngine, payload, readAll, recordPositions, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const OPTIONS = { segmentSizeBytes: 2048, fsync: 'never' as const };

/** A closed store with one stream of `count` events in segments of 2 KiB. */
async function store(t: TapTest, count: number) {
  const dataDir = tempDir(t, 'corrupt');
  const engine = await openEngine(dataDir, OPTIONS);
  await engine.createStream('s');
  const payloads = Array.from({ length: count }, (_, i) => payload(`event-${i}`, 20 + ((i * 53) % 120)));
  await appendEach(engine, 's', payloads);
  const dir = streamDir(engine, 's');
  await engine.close();
  return { dataDir, dir, payloads, segments: segmentFiles(dir) };
}

function readError(engine: Engine, offset: number): EventBusError | null {
  try {
    engine.read('s', offset, { maxEvents: 1 });
    return null;
  } catch (error) {
    if (error instanceof EventBusError) return error;
    throw error;
  }
}

/** The checks every kind of mid-log damage must pass. */
async function expectReported(t: TapTest, engine: Engine, payloads: Buffer[], damaged: { log: string; position: number }, offset: number): Promise<void> {
  const error = readError(engine, offset);
  t.ok(error !== null, 'reading the damaged event throws');
  t.equal(error?.code, 'CORRUPT_DATA');
  t.match(error?.reason, `${damaged.log} at byte ${damaged.position}`, 'the reason names the file and byte position');
  t.match(error?.context, { file: damaged.log, position: damaged.position, offset });
  t.match(engine.stats('s').damage, [{ file: damaged.log, position: damaged.position, firstOffset: offset, lastOffset: offset }], 'stats list the damage');
  const before = engine.read('s', offset - 3, { maxEvents: 10 });
  t.same(before.map((e) => e.offset), [offset - 3, offset - 2, offset - 1], 'a read stops before the damaged event, never returns it');
  const after = readAll(engine, 's', offset + 1);
  t.equal(after.length, payloads.length - offset - 1, 'every later event is readable');
  t.ok(after.every((e, i) => e.offset === offset + 1 + i && e.payload.equals(payloads[offset + 1 + i]!)), 'and intact');
  t.ok(readError(engine, offset) !== null, 'the damaged event stays unreadable');
}

t.test('a bit flip in the middle of a sealed segment is reported, not returned, not cut away', async (t) => {
  const { dataDir, payloads, segments } = await store(t, 120);
  t.ok(segments.length >= 5, `${segments.length} segments`);
  const sealed = segments[2]!;
  const records = recordPositions(sealed.log);
  // Damage each field of a record in turn: checksum, length, offset, timestamp, payload.
  for (const [field, at] of [['crc', 1], ['length', 4], ['offset', 9], ['timestamp', 17], ['payload', 30]] as const) {
    const relative = Math.floor(records.length / 2);
    const offset = sealed.base + relative;
    const target = records[relative]!;
    const original = fs.readFileSync(sealed.log);
    flipBit(sealed.log, target.position + at, 2);
    const damagedBytes = fs.readFileSync(sealed.log);
    await t.test(`damage in the ${field}`, async (t) => {
      const logger = capturingLogger();
      const engine = await openEngine(dataDir, { ...OPTIONS, logger });
      t.same(engine.stats('s').damage, [], 'opening does not read sealed records, so it does not notice');
      t.same(logger.find('error', ''), [], 'nothing logged at open');
      await expectReported(t, engine, payloads, { log: sealed.log, position: target.position }, offset);
      t.ok(logger.find('error', 'damaged').length > 0, 'the damage is logged');
      await engine.close();
      t.ok(fs.readFileSync(sealed.log).equals(damagedBytes), 'the log file is untouched: same size, same bytes');
      // Still reported after a reopen.
      const again = await openEngine(dataDir, OPTIONS);
      t.equal(readError(again, offset)?.code, 'CORRUPT_DATA');
      await again.close();
    });
    fs.writeFileSync(sealed.log, original);
  }
});

t.test('a bit flip in the middle of the active segment is reported the same way', async (t) => {
  const { dataDir, payloads, segments } = await store(t, 60);
  const active = segments[segments.length - 1]!;
  const records = recordPositions(active.log);
  t.ok(records.length >= 4, `${records.length} records in the active segment`);
  const relative = 2;
  const offset = active.base + relative;
  flipBit(active.log, records[relative]!.position + 40, 5);
  const size = fs.statSync(active.log).size;
  const engine = await openEngine(dataDir, OPTIONS);
  await expectReported(t, engine, payloads, { log: active.log, position: records[relative]!.position }, offset);
  t.equal(fs.statSync(active.log).size, size, 'not truncated');
  const appended = await engine.append('s', Buffer.from('next'));
  t.equal(appended.offset, payloads.length, 'appends continue after the last event, not at the damage');
  await engine.close();
});

t.test('recovery that has to scan reports a bad record followed by valid ones, and keeps them', async (t) => {
  const { dataDir, payloads, segments } = await store(t, 60);
  const active = segments[segments.length - 1]!;
  const records = recordPositions(active.log);
  const relative = 1;
  const offset = active.base + relative;
  flipBit(active.log, records[relative]!.position + 30, 1);
  fs.rmSync(active.index); // recovery cannot trust an index and must scan the whole segment
  const size = fs.statSync(active.log).size;
  const logger = capturingLogger();
  const engine = await openEngine(dataDir, { ...OPTIONS, logger });
  t.match(engine.stats('s').damage, [{ file: active.log, position: records[relative]!.position, firstOffset: offset, lastOffset: offset }], 'found at open');
  t.equal(fs.statSync(active.log).size, size, 'valid records after the damage: it is not a torn tail, nothing is cut');
  t.equal(engine.stats('s').nextOffset, payloads.length, 'every event is still counted');
  t.ok(logger.find('error', 'segment is damaged').length > 0, 'logged as damage');
  await expectReported(t, engine, payloads, { log: active.log, position: records[relative]!.position }, offset);
  await engine.close();
});
