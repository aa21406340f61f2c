/**
 * Offset indexes are derived data: a missing, short or damaged index (sealed or active) is
 * rebuilt from its log, the rebuild is logged naming the file, and reads give exactly the same
 * results as before. An entry that passes its own check but points at the wrong record (a stale
 * index) is also rebuilt rather than reported as damage.
 */
import fs from 'node:fs';
import t from 'tap';
import { encodeIndexEntry, indexEntryPosition, sealedIndexBytes } from '../../src/storage/format/offset-index.js';
import { capturingLogger, type CapturingLogger } from '../helpers/logger.js';
import { appendEach, flipBit, openEngine, payload, readAll, recordPositions, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const OPTIONS = { segmentSizeBytes: 2048, fsync: 'never' as const };

async function store(t: TapTest) {
  const dataDir = tempDir(t, 'index');
  const engine = await openEngine(dataDir, OPTIONS);
  await engine.createStream('s');
  const payloads = Array.from({ length: 90 }, (_, i) => payload(`event-${i}`, 10 + ((i * 41) % 100)));
  await appendEach(engine, 's', payloads);
  const dir = streamDir(engine, 's');
  await engine.close();
  const segments = segmentFiles(dir);
  return { dataDir, payloads, segments, sealed: segments[1]!, active: segments[segments.length - 1]! };
}

type Damage = [string, (file: string) => void];

const damages: Damage[] = [
  ['deleted', (file) => fs.rmSync(file)],
  ['emptied', (file) => fs.truncateSync(file, 0)],
  ['cut inside its header', (file) => fs.truncateSync(file, 10)],
  ['cut after a few entries', (file) => fs.truncateSync(file, indexEntryPosition(3))],
  ['cut by one byte', (file) => fs.truncateSync(file, fs.statSync(file).size - 1)],
  ['header damaged', (file) => flipBit(file, 9)],
  ['an entry damaged', (file) => flipBit(file, indexEntryPosition(2) + 5)],
  ['the last entry damaged', (file) => flipBit(file, indexEntryPosition(0) + Math.floor((fs.statSync(file).size - 32) / 12 - 1) * 12 + 1)],
  ['garbage appended', (file) => fs.appendFileSync(file, Buffer.alloc(7, 0xab))],
];

/** Opens, reads everything, and checks the result and that the rebuild was logged. */
async function readsTheSame(t: TapTest, dataDir: string, payloads: Buffer[], index: string, logger: CapturingLogger): Promise<void> {
  const engine = await openEngine(dataDir, { ...OPTIONS, logger });
  const events = readAll(engine, 's');
  t.equal(events.length, payloads.length, 'every event readable');
  t.ok(events.every((e, i) => e.offset === i && e.payload.equals(payloads[i]!)), 'the same events as before');
  // A sequential read consults the index only where it starts: start at every offset.
  const each = payloads.map((_, i) => engine.read('s', i, { maxEvents: 1 })[0]);
  t.ok(each.every((e, i) => e?.offset === i && e.payload.equals(payloads[i]!)), 'a read starting at any offset finds its event');
  t.same(engine.stats('s').damage, [], 'an index problem is not damage to the data');
  t.ok(logger.records.some((r) => r.fields.file === index && /index/.test(r.message) && (r.level === 'warn' || r.level === 'info')), 'the rebuild is logged, naming the index file');
  await engine.close();
}

t.test('a damaged sealed index is rebuilt from its log and reads are unchanged', async (t) => {
  const { dataDir, payloads, sealed, segments } = await store(t);
  const pristine = fs.readFileSync(sealed.index);
  const count = segments[2]!.base - sealed.base;
  for (const [what, damage] of damages) {
    await t.test(what, async (t) => {
      fs.writeFileSync(sealed.index, pristine);
      damage(sealed.index);
      const logger = capturingLogger();
      await readsTheSame(t, dataDir, payloads, sealed.index, logger);
      t.equal(fs.statSync(sealed.index).size, sealedIndexBytes(count), 'the rebuilt index is a whole sealed index');
      // The rebuilt index is good: the next open neither rebuilds nor logs anything about it.
      const quiet = capturingLogger();
      const engine = await openEngine(dataDir, { ...OPTIONS, logger: quiet });
      readAll(engine, 's');
      await engine.close();
      t.same(quiet.records.filter((r) => r.fields.file === sealed.index), [], 'no second rebuild');
    });
  }
});

t.test('a damaged active index is rebuilt from its log and reads are unchanged', async (t) => {
  const { dataDir, payloads, active } = await store(t);
  const pristine = fs.readFileSync(active.index);
  for (const [what, damage] of damages) {
    await t.test(what, async (t) => {
      fs.writeFileSync(active.index, pristine);
      damage(active.index);
      const logger = capturingLogger();
      await readsTheSame(t, dataDir, payloads, active.index, logger);
      t.ok(fs.readFileSync(active.index).equals(pristine), 'the index is back to what it was');
    });
  }
});

t.test('an entry that checks but points at another record is rebuilt, not reported as damage', async (t) => {
  const { dataDir, payloads, sealed, active } = await store(t);
  for (const segment of [sealed, active]) {
    // Point the entry of the segment's third record at its fourth record: the entry's own CRC
    // is valid, but the record there carries another offset.
    const records = recordPositions(segment.log);
    const entry = Buffer.alloc(12);
    encodeIndexEntry(entry, 0, 2, records[3]!.position);
    const fd = fs.openSync(segment.index, 'r+');
    fs.writeSync(fd, entry, 0, 12, indexEntryPosition(2));
    fs.closeSync(fd);
    const logger = capturingLogger();
    const engine = await openEngine(dataDir, { ...OPTIONS, logger });
    const got = engine.read('s', segment.base + 2, { maxEvents: 1 });
    t.equal(got[0]?.offset, segment.base + 2, 'the event at that offset is returned');
    t.ok(got[0]?.payload.equals(payloads[segment.base + 2]!), 'with its own bytes');
    t.same(engine.stats('s').damage, [], 'no damage reported');
    t.ok(logger.find('warn', 'index rebuilt').some((r) => r.fields.file === segment.index), 'the rebuild is logged');
    await engine.close();
  }
});
