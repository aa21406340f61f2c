/**
 * Torn tails: a crash can leave the end of the active segment cut anywhere or filled with
 * garbage. Recovery keeps exactly the complete, valid records before the tear, cuts the rest off
 * (it was never acknowledged), says so in the log, and appends continue at the right offset.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import type { Engine } from '../../src/storage/engine.js';
import { capturingLogger } from '../helpers/logger.js';
import { flipBit, openEngine, payload, readAll, recordPositions, segmentFiles, simulateCrash, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

interface Fixture {
  dataDir: string;
  /** The active segment's files and their bytes after a clean close. */
  log: string;
  index: string;
  logBytes: Buffer;
  indexBytes: Buffer;
  /** Base offset of the active segment. */
  base: number;
  /** Every payload written, by offset. */
  payloads: Buffer[];
}

/** A store with one stream: `sealed` sealed segments (maybe 0), then an active one of `tail` records. */
async function fixture(t: TapTest, sealedSegments: number, tailRecords: number): Promise<Fixture> {
  const dataDir = tempDir(t, 'torn');
  const engine = await openEngine(dataDir, { segmentSizeBytes: 1024, fsync: 'never' });
  await engine.createStream('s');
  const payloads: Buffer[] = [];
  const append = async () => {
    const p = payload(`event-${payloads.length}`, 10 + ((payloads.length * 37) % 90));
    payloads.push(p);
    await engine.append('s', p);
  };
  // The append that rolls is the first record of the next segment.
  while (engine.stats('s').segmentCount <= sealedSegments) await append();
  for (let i = sealedSegments === 0 ? 0 : 1; i < tailRecords; i++) await append();
  const dir = streamDir(engine, 's');
  await engine.close();
  const files = segmentFiles(dir);
  const active = files[files.length - 1]!;
  if (files.length !== sealedSegments + 1) throw new Error(`test: expected ${sealedSegments + 1} segments, got ${files.length}`);
  return { dataDir, log: active.log, index: active.index, logBytes: fs.readFileSync(active.log), indexBytes: fs.readFileSync(active.index), base: active.base, payloads };
}

/** Puts the fixture's files back, as left by a process that then died (a crash, not a clean close). */
function restore(f: Fixture): void {
  fs.writeFileSync(f.log, f.logBytes);
  fs.writeFileSync(f.index, f.indexBytes);
  simulateCrash(f.dataDir);
}

/** Checks the recovered store holds exactly `expected` events, then appends and closes. */
async function expectRecovered(t: TapTest, f: Fixture, engine: Engine, expected: number, what: string): Promise<boolean> {
  let ok = true;
  ok &&= t.equal(engine.stats('s').nextOffset, expected, `${what}: next offset`);
  const events = readAll(engine, 's');
  ok &&= t.equal(events.length, expected, `${what}: events readable`);
  const wrong = events.findIndex((e, i) => e.offset !== i || !e.payload.equals(f.payloads[i]!));
  ok &&= t.equal(wrong, -1, `${what}: every kept event intact`);
  ok &&= t.same(engine.stats('s').damage, [], `${what}: a torn tail is not damage`);
  const next = payload(`after-${what}`, 33);
  const appended = await engine.append('s', next);
  ok &&= t.equal(appended.offset, expected, `${what}: appends continue at the next offset`);
  const back = engine.read('s', expected);
  ok &&= t.ok(back.length === 1 && back[0]!.payload.equals(next), `${what}: the new event reads back`);
  await engine.close();
  return ok;
}

t.test('cutting the active segment at every byte position keeps exactly the complete records', async (t) => {
  for (const sealed of [0, 2]) {
    const f = await fixture(t, sealed, 4);
    const records = recordPositions(f.log);
    t.equal(records.length, 4, 'four records in the active segment');
    // Every position from inside the file header (a segment torn while being created) to the
    // last byte; a cut at the very end is a clean file.
    const from = sealed === 0 ? 0 : records[0]!.position;
    let failures = 0;
    for (let cut = from; cut <= f.logBytes.length; cut++) {
      restore(f);
      fs.truncateSync(f.log, cut);
      const complete = records.filter((r) => r.position + r.size <= cut).length;
      const keptBytes = complete === 0 ? 32 : records[complete - 1]!.position + records[complete - 1]!.size;
      const engine = await openEngine(f.dataDir, { segmentSizeBytes: 1024, fsync: 'never' });
      // A torn fragment made only of zero bytes (a record whose CRC starts with 0x00, cut inside
      // it) is indistinguishable from the preallocated end and may stay: zeros are never data.
      const after = fs.readFileSync(f.log).subarray(keptBytes);
      if (!t.ok(after.every((b) => b === 0), `cut at ${cut}: the torn part is truncated away`)) failures += 1;
      if (!(await expectRecovered(t, f, engine, f.base + complete, `cut at ${cut}`))) failures += 1;
      if (failures > 3) break; // enough to diagnose
    }
  }
});

t.test('after a crash, a bit flip anywhere in the last record: it is cut off (torn), the rest is kept', async (t) => {
  const f = await fixture(t, 1, 3);
  const records = recordPositions(f.log);
  const last = records[records.length - 1]!;
  let failures = 0;
  for (let at = last.position; at < last.position + last.size && failures <= 3; at++) {
    restore(f);
    flipBit(f.log, at, at % 8);
    const logger = capturingLogger();
    const engine = await openEngine(f.dataDir, { segmentSizeBytes: 1024, fsync: 'never', logger });
    if (!t.equal(fs.statSync(f.log).size, last.position, `flip at ${at}: the record is truncated`)) failures += 1;
    const warned = logger.find('warn', 'truncated the torn tail');
    if (!t.ok(warned.length === 1 && warned[0]!.fields.file === f.log && warned[0]!.fields.position === last.position, `flip at ${at}: the truncation is logged with file and position`)) failures += 1;
    if (!(await expectRecovered(t, f, engine, f.base + records.length - 1, `flip at ${at}`))) failures += 1;
  }
});

t.test('garbage after the last record is cut off; zeros (a preallocated end) are not data', async (t) => {
  const f = await fixture(t, 1, 3);
  const records = recordPositions(f.log);
  for (const [what, junk] of [['zeros', Buffer.alloc(5000)], ['noise', Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 131 + 7) % 256))]] as const) {
    restore(f);
    fs.appendFileSync(f.log, junk);
    const engine = await openEngine(f.dataDir, { segmentSizeBytes: 1024, fsync: 'never' });
    if (what === 'zeros') {
      // Zeros are what preallocation leaves: the data ends at the last record, nothing to cut.
      const bytes = fs.readFileSync(f.log);
      t.ok(bytes.subarray(0, f.logBytes.length).equals(f.logBytes) && bytes.subarray(f.logBytes.length).every((b) => b === 0), `${what}: the records, then only zeros`);
    } else {
      t.equal(fs.statSync(f.log).size, f.logBytes.length, `${what}: cut back to the last record`);
    }
    await expectRecovered(t, f, engine, f.base + records.length, what);
  }
});

t.test('after a clean close nothing can be torn: a bit flip in the last record is damage, kept and reported', async (t) => {
  const f = await fixture(t, 1, 3);
  const records = recordPositions(f.log);
  const last = records[records.length - 1]!;
  const lastOffset = f.base + records.length - 1;
  // The fixture closed the store cleanly: no LOCK is left.
  t.notOk(fs.existsSync(path.join(f.dataDir, 'LOCK')), 'a clean close leaves no LOCK');
  flipBit(f.log, last.position + 24 + 3, 5);
  const logger = capturingLogger();
  const engine = await openEngine(f.dataDir, { segmentSizeBytes: 1024, fsync: 'never', logger });
  t.teardown(() => engine.close());
  t.equal(fs.statSync(f.log).size, f.logBytes.length, 'nothing is cut away');
  t.same(logger.find('warn', 'truncated the torn tail'), [], 'it is not treated as a torn write');
  const damage = engine.stats('s').damage;
  t.match(damage, [{ file: f.log, position: last.position, firstOffset: lastOffset, lastOffset }], 'the damage is listed with file, position and offset');
  t.ok(logger.find('error', 'damaged').length > 0, 'and logged');
  t.throws(() => engine.read('s', lastOffset), { code: 'CORRUPT_DATA' }, 'the damaged event is never returned');
  const before = engine.read('s', 0, { maxEvents: 1000 });
  t.ok(before.length === lastOffset && before.every((e, i) => e.payload.equals(f.payloads[i]!)), 'every event before it reads fine');
  const next = await engine.append('s', payload('after-damage', 40));
  t.equal(next.offset, lastOffset + 1, 'its offset is not given to a new event');
  t.ok(engine.read('s', lastOffset + 1)[0]!.payload.equals(payload('after-damage', 40)), 'appends continue after it');
});
