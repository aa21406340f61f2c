/**
 * Reads by time and backward against a reference model computed by scanning the stream: the
 * time lookup (log/time-lookup.ts: per-segment newest timestamps, then a binary search over a
 * segment's offsets) gives exactly the first event at or after a time, and backward pages give
 * exactly the scanned events in reverse, under random limits, across many small segments, after
 * a reopen and after truncation.
 */
import t from 'tap';
import type { Engine } from '../../src/storage/engine.js';
import { openEngine, payload, readAll, sleep } from '../helpers/store.js';
import { seededRandom, testSeeds } from '../helpers/random.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const SEGMENT_BYTES = 2048;

/** A stream of batches a few milliseconds apart: several events share each timestamp. */
async function fill(engine: Engine, batches: number, random: () => number): Promise<void> {
  await engine.createStream('s');
  let n = 0;
  for (let b = 0; b < batches; b++) {
    const count = 1 + Math.floor(random() * 6);
    await engine.appendMany('s', Array.from({ length: count }, () => payload(`e${n++}`, 20 + Math.floor(random() * 200))));
    if (random() < 0.7) await sleep(1 + Math.floor(random() * 3));
  }
}

function referenceAtTime(events: { offset: number; timestampMs: number }[], timeMs: number, next: number): number {
  return events.find((e) => e.timestampMs >= timeMs)?.offset ?? next;
}

function check(t: TapTest, engine: Engine, random: () => number, label: string): void {
  const events = readAll(engine, 's', 0);
  const { firstOffset, nextOffset } = engine.stats('s');
  t.equal(events[0]?.offset ?? nextOffset, firstOffset, `${label}: the scan starts at the first offset`);
  const first = events[0]?.timestampMs ?? 0;
  const last = events[events.length - 1]?.timestampMs ?? 0;
  let timeMismatches = 0;
  for (let ms = first - 3; ms <= last + 3; ms++) {
    if (engine.offsetAtTime('s', ms) !== referenceAtTime(events, ms, nextOffset)) timeMismatches += 1;
  }
  t.equal(timeMismatches, 0, `${label}: the time lookup matches the scan at every millisecond from ${first - 3} to ${last + 3}`);
  let backwardMismatches = 0;
  for (let i = 0; i < 200; i++) {
    const from = firstOffset - 2 + Math.floor(random() * (nextOffset - firstOffset + 6));
    const maxEvents = 1 + Math.floor(random() * 40);
    const maxBytes = random() < 0.5 ? 4 * 1024 * 1024 : 1 + Math.floor(random() * 2000);
    const got = engine.readBackward('s', from, { maxEvents, maxBytes });
    const expected: typeof events = [];
    let bytes = 0;
    for (let k = events.length - 1; k >= 0 && expected.length < maxEvents; k--) {
      const e = events[k]!;
      if (e.offset > from) continue;
      if (expected.length > 0 && bytes + e.payload.length > maxBytes) break;
      expected.push(e);
      bytes += e.payload.length;
    }
    const same = got.length === expected.length && got.every((e, k) => e.offset === expected[k]!.offset && e.payload.equals(expected[k]!.payload));
    if (!same) backwardMismatches += 1;
  }
  t.equal(backwardMismatches, 0, `${label}: 200 random backward pages match the scan in reverse`);
}

for (const seed of testSeeds(1300, 2)) {
  t.test(`time lookup and backward reads against a scan (seed ${seed})`, async (t) => {
    const random = seededRandom(seed).next;
    const dataDir = tempDir(t, 'reads');
    let engine = await openEngine(dataDir, { segmentSizeBytes: SEGMENT_BYTES, fsync: 'never' });
    await fill(engine, 60, random);
    t.ok(engine.stats('s').segmentCount > 5, 'many segments');
    check(t, engine, random, 'live');
    await engine.close();
    engine = await openEngine(dataDir, { segmentSizeBytes: SEGMENT_BYTES, fsync: 'never' });
    check(t, engine, random, 'reopened');
    const { nextOffset } = engine.stats('s');
    await engine.truncate('s', Math.floor(nextOffset / 3));
    check(t, engine, random, 'truncated');
    await engine.close();
  });
}

t.test('an empty stream: the time lookup gives the next offset, a backward read nothing', async (t) => {
  const engine = await openEngine(tempDir(t, 'reads-empty'), { fsync: 'never' });
  await engine.createStream('s');
  t.equal(engine.offsetAtTime('s', 0), 0);
  t.same(engine.readBackward('s', 10), []);
  await engine.appendMany('s', [payload('a', 10)]);
  t.equal(engine.offsetAtTime('s', Date.now() + 60_000), 1, 'after the newest: the next offset');
  t.same(engine.readBackward('s', Number.MAX_SAFE_INTEGER).map((e) => e.offset), [0], 'past the end: from the last event');
  await engine.close();
});
