/**
 * A batch is read whole or not at all (docs/storage-format.md, "Batches"), also when the damage
 * is found by a read and not at open: a read that would return part of a batch whose later records
 * are damaged (up to its batch-end record) returns none of it. Forward pages stop short of the
 * batch, a read starting inside it fails with CORRUPT_DATA, backward pages stop above it, key reads
 * and consumers never return its events, and the whole batch is listed as damage at once. In the
 * active segment (open does not read a cleanly stopped store's records) and in a sealed one.
 */
import fs from 'node:fs';
import t from 'tap';
import { ErrorCodes, isEventBusError } from '../../src/errors.js';
import type { Engine } from '../../src/storage/engine.js';
import { openEngine, payload, recordPositions, segmentFiles, streamDir } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const OPTIONS = { segmentSizeBytes: 4096, consumers: { ackWaitMs: 0 } };
const EVENTS = 60;
const BATCH = 3;

/**
 * A cleanly stopped store: stream `s` of 60 events in batches of 3 (offsets 3b to 3b+2), batch b
 * keyed `k${b % 3}`, in segments of 4 KiB; then one byte of the payload of the last record of the
 * batch holding `offset` is changed (every other record of the batch passes its own checks).
 */
async function damagedStore(t: TapTest, offset: number): Promise<{ dataDir: string; log: string; sealed: boolean }> {
  const dataDir = tempDir(t, 'batch-reads');
  const engine = await openEngine(dataDir, OPTIONS);
  await engine.createStream('s');
  const appended: number[] = [];
  for (let b = 0; b < EVENTS / BATCH; b++) {
    const events = Array.from({ length: BATCH }, (_, i) => ({ payload: payload(`e${b * BATCH + i}`, 120) }));
    appended.push(...offsets((await engine.appendEvents('s', events, { key: `k${b % 3}` })).events));
  }
  t.same(appended, range(0, EVENTS - 1));
  const segments = segmentFiles(streamDir(engine, 's'));
  await engine.close();
  t.ok(segments.length >= 3, `${segments.length} segments`);
  const end = offset - (offset % BATCH) + BATCH - 1;
  const index = segments.findLastIndex((s) => s.base <= end);
  const segment = segments[index]!;
  const record = recordPositions(segment.log)[end - segment.base]!;
  const fd = fs.openSync(segment.log, 'r+');
  fs.writeSync(fd, Buffer.from('#'), 0, 1, record.position + record.size - 3);
  fs.closeSync(fd);
  return { dataDir, log: segment.log, sealed: index < segments.length - 1 };
}

function offsets(events: readonly { offset: number }[]): number[] {
  return events.map((e) => e.offset);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** The read's offsets, or its error code. */
function attempt(read: () => readonly { offset: number }[]): number[] | string {
  try {
    return offsets(read());
  } catch (error) {
    if (isEventBusError(error)) return error.code;
    throw error;
  }
}

async function open(t: TapTest, dataDir: string): Promise<Engine> {
  const engine = await openEngine(dataDir, OPTIONS);
  t.teardown(() => engine.close());
  return engine;
}

for (const { label, damaged } of [
  { label: 'the active segment', damaged: 48 },
  { label: 'a sealed segment', damaged: 9 },
]) {
  const first = damaged;
  const last = damaged + BATCH - 1;

  t.test(`${label}: a forward page stops short of a batch whose end is damaged; a read inside it fails`, async (t) => {
    const { dataDir, log, sealed } = await damagedStore(t, damaged);
    t.equal(sealed, label.includes('sealed'), 'the damage is where the test means it to be');
    const engine = await open(t, dataDir);
    t.same(engine.stats('s').damage, [], 'open did not read the records: nothing known yet');
    t.same(attempt(() => engine.read('s', first - 3, { maxEvents: 10 })), range(first - 3, first - 1), 'a page from before the batch ends before it');
    t.same(attempt(() => engine.read('s', first, { maxEvents: 1 })), ErrorCodes.CORRUPT_DATA, 'a read of its first event fails');
    t.same(attempt(() => engine.read('s', first + 1, { maxEvents: 1 })), ErrorCodes.CORRUPT_DATA, 'so does one of its second');
    t.same(attempt(() => engine.read('s', last, { maxEvents: 1 })), ErrorCodes.CORRUPT_DATA, 'and of its damaged end');
    t.same(attempt(() => engine.read('s', last + 1, { maxEvents: 3 })), range(last + 1, last + 3), 'the next batch reads');
    t.match(engine.stats('s').damage, [{ file: log, firstOffset: first, lastOffset: last }], 'the whole batch is listed, once');
    t.equal(engine.stats('s').damage.length, 1);
  });

  t.test(`${label}: a read starting inside the batch is the first to meet it`, async (t) => {
    const { dataDir, log } = await damagedStore(t, damaged);
    const engine = await open(t, dataDir);
    t.same(attempt(() => engine.read('s', first, { maxEvents: 1 })), ErrorCodes.CORRUPT_DATA, 'CORRUPT_DATA, though the record itself checks');
    t.match(engine.stats('s').damage, [{ file: log, firstOffset: first, lastOffset: last }], 'the whole batch is listed');
    t.same(attempt(() => engine.read('s', first + 1, { maxEvents: 1 })), ErrorCodes.CORRUPT_DATA, 'and stays unreadable');
    t.same(attempt(() => engine.read('s', first - 2, { maxEvents: 4 })), [first - 2, first - 1]);
  });

  t.test(`${label}: backward pages stop above the batch; one starting inside it fails`, async (t) => {
    const { dataDir } = await damagedStore(t, damaged);
    const engine = await open(t, dataDir);
    t.same(attempt(() => engine.readBackward('s', first + 1, { maxEvents: 10 })), ErrorCodes.CORRUPT_DATA, 'from inside the batch: CORRUPT_DATA');
    t.same(attempt(() => engine.readBackward('s', last + 4, { maxEvents: 10 })), range(last + 1, last + 4).reverse(), 'from above: down to the batch, not into it');
    t.same(attempt(() => engine.readBackward('s', first - 1, { maxEvents: 4 })), range(first - 4, first - 1).reverse(), 'from below it: as ever');
  });

  t.test(`${label}: a backward page from inside the batch, before anything read it`, async (t) => {
    const { dataDir } = await damagedStore(t, damaged);
    const engine = await open(t, dataDir);
    t.same(attempt(() => engine.readBackward('s', first, { maxEvents: 10 })), ErrorCodes.CORRUPT_DATA, 'its first event is the newest due: CORRUPT_DATA');
  });

  t.test(`${label}: a key read never returns the batch's events`, async (t) => {
    const { dataDir } = await damagedStore(t, damaged);
    const engine = await open(t, dataDir);
    const batch = first / BATCH;
    const key = `k${batch % 3}`;
    const version = Math.floor(batch / 3) * BATCH;
    t.same(attempt(() => engine.keyEvents('s', key, version, { limit: 2 }).map((e) => ({ offset: e.event?.offset ?? -1 }))), ErrorCodes.CORRUPT_DATA, 'versions in the batch: CORRUPT_DATA');
    t.same(engine.keyEvents('s', key, 0, { limit: version }).map((e) => e.version), range(0, version - 1), 'the versions before it read');
  });

  t.test(`${label}: a consumer is never delivered part of the batch: it is dead-lettered whole`, async (t) => {
    const { dataDir, log } = await damagedStore(t, damaged);
    const engine = await open(t, dataDir);
    const seen: number[] = [];
    for (;;) {
      const { events } = await engine.consume('s', 'c', { maxEvents: 5 });
      if (events.length === 0) break;
      seen.push(...offsets(events));
      await engine.mark('s', 'c', offsets(events), 1);
    }
    t.same(seen, range(0, EVENTS - 1).filter((o) => o < first || o > last), 'every event but the batch, in order');
    const dead = engine.read('$dlq:s', 0).map((e) => JSON.parse(e.payload.toString()) as Record<string, unknown>);
    t.match(dead, range(first, last).map((offset) => ({ offset, consumer: 'c', damaged: { file: log } })), 'the batch is dead-lettered, saying where the damage is');
  });
}
