/**
 * Consumer state survives what it must: reopening, journal compaction, and power loss (through
 * the SimIO layer, which drops everything not yet fsynced). The two promises: no acknowledged
 * event is delivered again by process, and no delivered-but-unacknowledged event is lost (it
 * comes back through retry).
 */
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Engine } from '../../src/storage/index.js';
import { SimIO } from '../helpers/sim-io.js';
import { seededRandom, testSeeds } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

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
  await new Promise((resolve) => setTimeout(resolve, 50));
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

/** What a power-loss run found wrong; every list empty means both promises held. */
interface Violations {
  lostAppends: number[];
  redeliveredAcked: number[];
  lostDeliveries: number[];
  skipped: number[];
  summary: string;
}

/**
 * Runs a writer and a process/mark worker under SimIO, cuts the power at a random operation,
 * reopens with the real file system and checks what survived against what was acknowledged.
 */
async function powerLossRun(t: Test, seed: number, broken: { ignoreFileSync?: boolean }): Promise<Violations> {
  const random = seededRandom(seed);
  const dataDir = tempDir(t, 'consumer-power');
  const setup = await Engine.open({ dataDir, retentionIntervalMs: 0, segmentSizeBytes: 2048 });
  await setup.createStream('s');
  await setup.close();

  const io = new SimIO({ root: dataDir, crashAtOp: random.int(20, 600), ...broken });
  const engine = await Engine.open({ dataDir, io, retentionIntervalMs: 0, segmentSizeBytes: 2048, consumers: { ackWaitMs: 60_000 } });
  const appended = new Set<number>();
  const delivered = new Set<number>();
  const acknowledged = new Set<number>();
  const markedUnconfirmed = new Set<number>();
  const writer = (async () => {
    for (let i = 0; i < 400 && !io.crashed; i++) {
      try {
        const events = await engine.appendMany('s', Array.from({ length: random.int(1, 4) }, () => Buffer.from(`{"i":${i}}`)));
        for (const e of events) appended.add(e.offset);
      } catch {
        break;
      }
    }
  })();
  const worker = (async () => {
    while (!io.crashed) {
      try {
        const { events } = await engine.consume('s', 'c', { maxEvents: random.int(1, 8), waitMs: 20 });
        for (const e of events) delivered.add(e.offset);
        const toAck = events.filter(() => random.chance(0.7)).map((e) => e.offset);
        if (toAck.length === 0) continue;
        for (const o of toAck) markedUnconfirmed.add(o);
        await engine.mark('s', 'c', toAck, 1);
        for (const o of toAck) acknowledged.add(o);
      } catch {
        break;
      }
    }
  })();
  while (!io.crashed) await new Promise((resolve) => setTimeout(resolve, 5));
  io.crash();
  await Promise.all([writer, worker]);
  await engine.close().catch(() => {});

  const reopened = await Engine.open({ dataDir, retentionIntervalMs: 0, segmentSizeBytes: 2048 });
  try {
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
    try {
      await drain(() => reopened.consume('s', 'c', { maxEvents: 1000 }), processed);
      await drain(() => reopened.retry('s', 'c', { maxEvents: 1000 }), retried);
    } catch {
      // Unreadable data after a broken run: what was not drained counts as lost below.
    }
    const accounted = (o: number) => acknowledged.has(o) || markedUnconfirmed.has(o) || processed.has(o) || retried.has(o);
    return {
      lostAppends: [...appended].filter((o) => o >= next),
      redeliveredAcked: [...acknowledged].filter((o) => processed.has(o)),
      lostDeliveries: [...delivered].filter((o) => !acknowledged.has(o) && !markedUnconfirmed.has(o) && !retried.has(o)),
      skipped: [...appended].filter((o) => !accounted(o)),
      summary: `crash after ${io.ops} ops: ${appended.size} appended, ${delivered.size} delivered, ${acknowledged.size} acknowledged`,
    };
  } finally {
    await reopened.close();
  }
}

for (const seed of testSeeds(100, 12)) {
  t.test(`power loss during a process/mark workload keeps both promises (seed ${seed})`, async (t) => {
    const found = await powerLossRun(t, seed, {});
    t.comment(found.summary);
    t.same(found.lostAppends, [], 'every acknowledged append survived');
    t.same(found.redeliveredAcked, [], 'no acknowledged event is delivered again by process');
    t.same(found.lostDeliveries, [], 'every delivered, unacknowledged event comes back through retry');
    t.same(found.skipped, [], 'no appended event is skipped by the consumer');
  });
}

t.test('the power-loss check catches loss when fsyncs do nothing', async (t) => {
  let caught = 0;
  for (const seed of [100, 101, 102, 103]) {
    const found = await powerLossRun(t, seed, { ignoreFileSync: true });
    if (found.lostAppends.length + found.lostDeliveries.length + found.skipped.length > 0) caught += 1;
  }
  t.ok(caught >= 3, `with file syncs ignored, loss was detected in ${caught} of 4 runs`);
});
