/**
 * Consumer state survives what it must: reopening, journal compaction, and power loss (through
 * the crash-consistency checker over the simulated disk, which drops or tears everything not yet
 * fsynced). The two promises: no acknowledged
 * event is delivered again by process, and no delivered-but-unacknowledged event is lost (it
 * comes back through retry).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Engine } from '../../src/storage/index.js';
import { checkCrashConsistency, type CrashScenario } from 'eventbus/storage/testing';
import { seededRandom, testSeeds } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

t.test('consumer state is the same after close and reopen', async (t) => {
  const dataDir = tempDir(t, 'consumer-reopen');
  let engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  await engine.createStream('s');
  await engine.appendMany('s', Array.from({ length: 50 }, (_, i) => Buffer.from(String(i))));
  const random = seededRandom(7);
  for (let round = 0; round < 20; round++) {
    const consumer = random.pick(['a', 'b', 'c']);
    const { events } = random.chance(0.7) ? await engine.consume('s', consumer, { maxEvents: random.int(1, 6) }) : await engine.retry('s', consumer, {});
    for (const event of events) {
      if (random.chance(0.8)) await engine.mark('s', consumer, [event.offset], random.pick([0, 1, 1, 2] as const));
    }
  }
  const statusesBefore = ['a', 'b', 'c'].map((c) => engine.eventStatuses('s', c, Array.from({ length: 50 }, (_, i) => i)));
  const statsBefore = engine.stats('s').consumers.map((c) => ({ ...c, pending: c.pending + c.retry, retry: 0 }));
  await engine.close();
  engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  const statusesAfter = ['a', 'b', 'c'].map((c) => engine.eventStatuses('s', c, Array.from({ length: 50 }, (_, i) => i)));
  // A restart makes every awaited delivery due (status 0 may become 2); acknowledged stay 1,
  // never-delivered stay 0, and nothing acknowledged comes back.
  const kind = (x: { status: number; deliveryCount: number }) => (x.status === 1 ? 'acknowledged' : x.deliveryCount === 0 ? 'new' : 'outstanding');
  t.same(statusesAfter.map((s) => s.map(kind)), statusesBefore.map((s) => s.map(kind)), 'every event keeps its status per consumer');
  t.ok(statusesAfter.flat().every((x, i) => statusesBefore.flat()[i]!.status !== 2 || x.status === 2), 'what was due for retry still is');
  t.same(statusesAfter.map((s) => s.map((x) => x.deliveryCount)), statusesBefore.map((s) => s.map((x) => x.deliveryCount)), 'and its delivery count');
  // After a restart every outstanding delivery is due at once: pending moves to retry.
  const statsAfter = engine.stats('s').consumers.map((c) => ({ ...c, pending: c.pending + c.retry, retry: 0 }));
  t.same(statsAfter, statsBefore, 'cursor, ack floor, outstanding and dead-letter counts survive');
});

t.test('the journal is compacted: its size follows what is outstanding, not history', async (t) => {
  const dataDir = tempDir(t, 'consumer-compact');
  let engine = await Engine.open({ dataDir, retentionIntervalMs: 0, fsync: 'never' });
  await engine.createStream('s');
  const total = 60_000;
  for (let i = 0; i < total; i += 1000) await engine.appendMany('s', Array.from({ length: 1000 }, () => Buffer.from('{}')));
  const journal = path.join(dataDir, 'streams', engine.getStream('s')!.id, 'consumers');
  let largest = 0;
  for (let delivered = 0; delivered < total;) {
    const { events } = await engine.consume('s', 'c', { maxEvents: 200 });
    delivered += events.length;
    // One mark per event: the most journal records a consumer can produce.
    await Promise.all(events.slice(0, -1).map((e) => engine.mark('s', 'c', [e.offset], 1)));
    largest = Math.max(largest, fs.statSync(journal).size);
  }
  t.ok(largest < 4 * 1024 * 1024, `journal stayed bounded (largest ${largest} bytes for ${total} marks)`);
  // Even under fsync never, a compaction's rename does not wait for close: a process killed now
  // must find the compacted journal, not the one it replaced.
  // The rename follows the compacted file's fdatasync in the thread pool: waited for, up to 5 s.
  await until(() => !fs.existsSync(`${journal}.compact`), 5_000);
  t.notOk(fs.existsSync(`${journal}.compact`), 'no compaction is left waiting for its rename');
  t.ok(fs.statSync(journal).size < 1024 * 1024, `the journal on disk is the compacted one (${fs.statSync(journal).size} bytes)`);
  const outstanding = engine.stats('s').consumers[0]!;
  t.equal(outstanding.pending, total / 200, 'one event per batch left unmarked');
  await engine.close();
  engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  const after = engine.stats('s').consumers[0]!;
  t.same([after.cursor, after.ackFloor, after.pending + after.retry], [total, 199, total / 200], 'state is intact after compactions and reopen');
  const due = await engine.retry('s', 'c', { maxEvents: 1000 });
  t.same(due.events.map((e) => e.offset), Array.from({ length: total / 200 }, (_, i) => i * 200 + 199), 'exactly the unmarked events come back');
});

/** What a process/mark workload was promised before the power went. */
interface ConsumerPromises {
  appended: Set<number>;
  delivered: Set<number>;
  acknowledged: Set<number>;
  /** Marked, the mark not yet resolved: it may or may not have survived. */
  markedUnconfirmed: Set<number>;
}

/**
 * A writer and a process/mark worker on one stream, through the crash-consistency checker
 * (src/storage/testing/crash-checker.ts): the power goes at sampled operations, and after each
 * crash the recovered store must keep both promises. Deterministic (no timers), so a failing
 * point replays from its seed.
 */
const consumerScenario: CrashScenario<ConsumerPromises> = {
  state: () => ({ appended: new Set(), delivered: new Set(), acknowledged: new Set(), markedUnconfirmed: new Set() }),
  async prepare({ openEngine }) {
    await (await openEngine()).createStream('s');
  },
  async workload({ openEngine, random, state, crashed }) {
    const engine = await openEngine({ segmentSizeBytes: 2048, consumers: { ackWaitMs: 60_000 } });
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 120 && !crashed(); i++) {
        const events = await engine.appendMany('s', Array.from({ length: random.int(1, 4) }, () => Buffer.from(`{"i":${i}}`)));
        for (const e of events) state.appended.add(e.offset);
      }
    })().finally(() => { writing = false; });
    const worker = (async () => {
      while (!crashed()) {
        const { events } = await engine.consume('s', 'c', { maxEvents: random.int(1, 8) });
        for (const e of events) state.delivered.add(e.offset);
        if (events.length === 0) {
          if (!writing) return;
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        const toAck = events.filter(() => random.chance(0.7)).map((e) => e.offset);
        if (toAck.length === 0) continue;
        for (const o of toAck) state.markedUnconfirmed.add(o);
        await engine.mark('s', 'c', toAck, 1);
        for (const o of toAck) state.acknowledged.add(o);
      }
    })();
    await Promise.all([writer, worker]);
  },
  async invariant({ openEngine, state }) {
    const reopened = await openEngine({ segmentSizeBytes: 2048 });
    const next = reopened.stats('s').nextOffset;
    const drain = async (take: () => ReturnType<Engine['consume']>, into: Set<number>) => {
      for (;;) {
        const { events } = await take();
        if (events.length === 0) return;
        for (const e of events) into.add(e.offset);
        await reopened.mark('s', 'c', events.map((e) => e.offset), 1);
      }
    };
    const processed = new Set<number>();
    const retried = new Set<number>();
    await drain(() => reopened.consume('s', 'c', { maxEvents: 1000 }), processed);
    await drain(() => reopened.retry('s', 'c', { maxEvents: 1000 }), retried);
    const { appended, delivered, acknowledged, markedUnconfirmed } = state;
    const accounted = (o: number) => acknowledged.has(o) || markedUnconfirmed.has(o) || processed.has(o) || retried.has(o);
    assert.deepEqual([...appended].filter((o) => o >= next), [], 'every acknowledged append survived');
    assert.deepEqual([...acknowledged].filter((o) => processed.has(o)), [], 'no acknowledged event is delivered again by process');
    assert.deepEqual([...delivered].filter((o) => !acknowledged.has(o) && !markedUnconfirmed.has(o) && !retried.has(o)), [], 'every delivered, unacknowledged event comes back through retry');
    assert.deepEqual([...appended].filter((o) => !accounted(o)), [], 'no appended event is skipped by the consumer');
  },
};

for (const seed of testSeeds(100, 3)) {
  t.test(`power loss during a process/mark workload keeps both promises (seed ${seed})`, async (t) => {
    const report = await checkCrashConsistency(consumerScenario, { seed, sample: 40 });
    const found = report.violation;
    t.comment(`${report.operations} operations, ${report.checked} crash points`);
    t.equal(found, null, found === null ? 'both promises held at every crash point' : `crash at operation ${found.crashAtOp} (${found.operation}, ${found.mode}), replay with seed ${found.seed}: ${found.violation}`);
  });
}

t.test('the power-loss check catches loss when fsyncs do nothing', async (t) => {
  const report = await checkCrashConsistency(consumerScenario, { seed: 100, sample: 40, modes: ['drop'], simulate: { ignoreFileSync: true } });
  t.not(report.violation, null, `with file syncs ignored, loss was detected: ${report.violation?.violation}`);
});
