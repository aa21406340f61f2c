/**
 * The engine's observer (src/storage/observer.ts): what an embedder records without patching the
 * engine. Each event is checked against what the test did: commit rounds add up to the events
 * appended, rolls and seals name the stream and segment, recovery reports exactly the torn bytes
 * the test left, compaction and snapshots report their sizes; an observer that throws changes
 * nothing, and one removed is told nothing more.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { type CommitRound, type EngineObserver, type JournalCompaction, type RecoveryReport, type SegmentRoll, type SegmentSeal, type SnapshotTaken, type StreamRecovery } from 'eventbus/storage';
import { openEngine, segmentFiles, simulateCrash, streamDir } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Records every event of every kind. */
function recorder() {
  const seen = { commit: [] as CommitRound[], roll: [] as SegmentRoll[], seal: [] as SegmentSeal[], recovery: [] as RecoveryReport[], compaction: [] as JournalCompaction[], snapshot: [] as SnapshotTaken[] };
  const observer: EngineObserver = {
    commit: (e) => seen.commit.push(e),
    roll: (e) => seen.roll.push(e),
    seal: (e) => seen.seal.push(e),
    recovery: (e) => seen.recovery.push(e),
    compaction: (e) => seen.compaction.push(e),
    snapshot: (e) => seen.snapshot.push(e),
  };
  return { seen, observer };
}

t.test('commit rounds account for every event and byte appended, with fsync time and waits', async (t) => {
  const { seen, observer } = recorder();
  const engine = await openEngine(tempDir(t, 'observer-commit'), { observer, segmentSizeBytes: 1024 * 1024 });
  t.teardown(() => engine.close());
  await engine.createStream('a');
  await engine.createStream('b');
  seen.commit.length = 0;
  // 3 rounds' worth: concurrent singles on two streams, then a batch.
  await Promise.all([...Array.from({ length: 20 }, (_, i) => engine.append(i % 2 === 0 ? 'a' : 'b', Buffer.alloc(100)))]);
  await engine.appendMany('a', Array.from({ length: 50 }, () => Buffer.alloc(10)));
  const events = seen.commit.reduce((sum, r) => sum + r.events, 0);
  t.equal(events, 70, 'the rounds made exactly the 70 appended events durable');
  const bytes = seen.commit.reduce((sum, r) => sum + r.bytes, 0);
  t.ok(bytes > 20 * 100 + 50 * 10, `bytes written include payloads and framing (${bytes})`);
  t.ok(seen.commit.length >= 2 && seen.commit.length <= 40, `${seen.commit.length} rounds`);
  for (const round of seen.commit) {
    t.equal(round.policy, 'always');
    t.ok(round.files >= 1 && round.fsyncMs >= 0 && round.failures === 0, 'files synced, fsync time, no failure');
    t.ok(round.commits >= 1 && round.oldestWaitMs >= round.newestWaitMs && round.newestWaitMs >= 0, 'waits measured, oldest first');
  }
  const numbers = seen.commit.map((r) => r.round);
  t.same(numbers, [...numbers].sort((x, y) => x - y), 'rounds are numbered in order');
  t.equal(numbers[numbers.length - 1], engine.commitStats.rounds, 'the numbering is the engine\'s round count');
});

t.test('rolls and seals name the stream and segment; a seal follows its roll once durable', async (t) => {
  const { seen, observer } = recorder();
  const engine = await openEngine(tempDir(t, 'observer-roll'), { observer, segmentSizeBytes: 4096 });
  t.teardown(() => engine.close());
  await engine.createStream('orders');
  for (let i = 0; i < 10; i++) await engine.appendMany('orders', Array.from({ length: 10 }, () => Buffer.alloc(100)));
  const stats = engine.stats('orders');
  t.equal(seen.roll.length, stats.segmentCount - 1, 'one roll per segment after the first');
  t.equal(seen.roll[0]!.stream, 'orders');
  t.equal(seen.roll[0]!.frozenBaseOffset, 0);
  t.equal(seen.roll[0]!.baseOffset, seen.roll[0]!.records, 'the new segment starts after the frozen one\'s records');
  t.ok(seen.roll[0]!.logBytes > 3000 && seen.roll[0]!.logBytes <= 4096, `frozen segment of ${seen.roll[0]!.logBytes} bytes`);
  await engine.close();
  // Seals finish concurrently, each on its own fsyncs, so they may be told out of roll order.
  const sealed = seen.seal.map((s) => s.baseOffset).sort((x, y) => x - y);
  t.same(sealed, seen.roll.map((r) => r.frozenBaseOffset), 'every frozen segment was sealed, once');
  for (const seal of seen.seal) t.ok(seal.stream === 'orders' && seal.durationMs >= 0 && seal.records > 0);
});

t.test('recovery reports what a crash left: the torn bytes cut, the index rebuilt, per stream and in total', async (t) => {
  const dataDir = tempDir(t, 'observer-recovery');
  let engine = await openEngine(dataDir, { segmentSizeBytes: 4096 });
  await engine.createStream('kept');
  await engine.createStream('torn');
  for (const name of ['kept', 'torn']) await engine.appendMany(name, Array.from({ length: 50 }, () => Buffer.alloc(100)));
  t.equal(engine.recovery.afterCrash, false, 'a new store: nothing to recover');
  const dir = streamDir(engine, 'torn');
  await engine.close();

  // A crash: the LOCK is left, the active log has a torn record after its data, its index is gone.
  simulateCrash(dataDir);
  const active = segmentFiles(dir).pop()!;
  const end = fs.statSync(active.log).size;
  fs.appendFileSync(active.log, Buffer.from([0x2a, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3]));
  fs.rmSync(active.index);
  const { seen, observer } = recorder();
  engine = await openEngine(dataDir, { segmentSizeBytes: 4096, observer });
  t.teardown(() => engine.close());
  t.equal(seen.recovery.length, 1, 'one recovery event');
  const report = seen.recovery[0]!;
  t.equal(report, engine.recovery, 'the same report as engine.recovery');
  t.equal(report.afterCrash, true);
  t.ok(report.durationMs >= 0 && report.syncMs >= 0);
  const torn = report.streams.find((s) => s.stream === 'torn')!;
  const kept = report.streams.find((s) => s.stream === 'kept')!;
  t.equal(torn.tornBytesCut, 11, 'the 11 torn bytes were cut');
  t.equal(torn.indexesRebuilt, 1, 'the lost index was rebuilt');
  t.equal(torn.events, 50);
  t.equal(torn.error, null);
  t.same([kept.tornBytesCut, kept.indexesRebuilt, kept.events], [0, 0, 50], 'the other stream needed nothing');
  t.equal(report.totals.tornBytesCut, 11);
  t.equal(report.totals.streams, 2);
  t.equal(report.totals.events, 100);
  t.equal(fs.statSync(active.log).size, end, 'the log is back to its data');
});

t.test('a consumer journal compaction is reported with its sizes', async (t) => {
  const { seen, observer } = recorder();
  const engine = await openEngine(tempDir(t, 'observer-compaction'), { observer, fsync: 'never', segmentSizeBytes: 64 * 1024 * 1024 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const total = 100_000;
  for (let i = 0; i < total; i += 1000) await engine.appendMany('s', Array.from({ length: 1000 }, () => Buffer.from('{}')));
  for (let delivered = 0; delivered < total && seen.compaction.length === 0;) {
    const { events } = await engine.consume('s', 'c', { maxEvents: 500 });
    delivered += events.length;
    await Promise.all(events.map((e) => engine.mark('s', 'c', [e.offset], 1)));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  t.equal(seen.compaction.length, 1, 'a compaction was reported');
  const compaction = seen.compaction[0]!;
  t.equal(compaction.stream, 's');
  t.equal(compaction.consumers, 1);
  t.ok(compaction.fromBytes > 1024 * 1024 && compaction.toBytes < 4096, `${compaction.fromBytes} → ${compaction.toBytes} bytes`);
  t.ok(compaction.durationMs >= 0);
});

t.test('snapshots are reported, completed or failed', async (t) => {
  const { seen, observer } = recorder();
  const root = tempDir(t, 'observer-snapshot');
  const engine = await openEngine(path.join(root, 'data'), { observer });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  await engine.appendMany('s', Array.from({ length: 10 }, () => Buffer.alloc(10)));
  const result = await engine.snapshot(path.join(root, 'snapshots'));
  fs.writeFileSync(path.join(root, 'a-file'), '');
  await t.rejects(engine.snapshot(path.join(root, 'a-file')), 'a snapshot into a file fails');
  t.equal(seen.snapshot.length, 2);
  t.same(seen.snapshot[0]!.result, result, 'the completed snapshot\'s result');
  t.equal(seen.snapshot[0]!.error, null);
  t.equal(seen.snapshot[1]!.result, null);
  t.ok(seen.snapshot[1]!.error !== null && typeof seen.snapshot[1]!.error.code === 'string', `failure reported with code ${seen.snapshot[1]!.error?.code}`);
});

t.test('an observer that throws changes nothing; one removed is told nothing more', async (t) => {
  const engine = await openEngine(tempDir(t, 'observer-throws'));
  t.teardown(() => engine.close());
  await engine.createStream('s');
  let calls = 0;
  const stopThrowing = engine.observe({ commit: () => { calls += 1; throw new Error('observer bug'); } });
  const appended = await Promise.all(Array.from({ length: 5 }, () => engine.append('s', Buffer.from('x'))));
  t.same(appended.map((e) => e.offset), [0, 1, 2, 3, 4], 'appends resolved as usual');
  t.ok(calls >= 1, 'the observer was called');
  const { seen, observer } = recorder();
  const stop = engine.observe(observer);
  stopThrowing();
  await engine.append('s', Buffer.from('y'));
  const before = calls;
  t.ok(seen.commit.length >= 1, 'a second observer sees rounds');
  stop();
  const rounds = seen.commit.length;
  await engine.append('s', Buffer.from('z'));
  t.equal(seen.commit.length, rounds, 'a removed observer is told nothing');
  t.equal(calls, before, 'neither is the first one');
});

t.test('recovery totals sum every figure of every stream, in the order reports list them', async (t) => {
  const { recoveryTotals } = await import('../../src/storage/observer.js');
  const stream = (n: number, error: StreamRecovery['error']): StreamRecovery => ({
    stream: `s${n}`, id: `id${n}`, durationMs: n, segments: n, events: 10 * n,
    tornBytesCut: 1 * n, segmentsDropped: 2 * n, indexesRebuilt: 3 * n, indexEntriesAdded: 4 * n, headersRewritten: 5 * n, leftoversRemoved: 6 * n, journalTornBytesCut: 7 * n,
    damage: Array.from({ length: n }, () => ({ file: 'f', position: 0, firstOffset: 0, lastOffset: 0, reason: 'r' })), error,
  });
  const totals = recoveryTotals([stream(1, null), stream(2, { code: 'CORRUPT_DATA', reason: 'x' }), stream(4, null)]);
  t.strictSame(Object.entries(totals), Object.entries({
    streams: 3, broken: 1, segments: 7, events: 70,
    tornBytesCut: 7, segmentsDropped: 14, indexesRebuilt: 21, indexEntriesAdded: 28, headersRewritten: 35, leftoversRemoved: 42, journalTornBytesCut: 49,
    damage: 7,
  }));
  t.strictSame(Object.entries(recoveryTotals([])).filter(([, v]) => v !== 0), [], 'nothing opened: all zero');
});
