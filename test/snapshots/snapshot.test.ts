/**
 * Snapshots on the engine: point in time under concurrent writes, isolation from the live store
 * (both ways), verify and restore, and no valid-looking partial snapshot after a failure.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Engine, nodeIO, restoreSnapshot, verifyDirectory } from '../../src/storage/index.js';
import { FaultyIO } from 'eventbus/storage/testing';
import { appendEach, readAll, flipBit, recordPositions } from '../helpers/store.js';
import { segmentFileName } from '../../src/storage/log/segment-files.js';
import { tempDir } from '../helpers/temp-dir.js';

const SEGMENT = 16 * 1024;

function openStore(dataDir: string, io = nodeIO): Promise<Engine> {
  return Engine.open({ dataDir, io, segmentSizeBytes: SEGMENT, retentionIntervalMs: 0 });
}

t.test('a snapshot taken while 8 writers run holds a prefix of each stream with everything acknowledged before it', async (t) => {
  const dataDir = tempDir(t, 'snap-live');
  const snapshots = tempDir(t, 'snap-out');
  const engine = await openStore(dataDir);
  const streams = ['a', 'b', 'c', 'd'];
  for (const name of streams) await engine.createStream(name);
  const acked = new Map<string, string[]>(streams.map((s) => [s, []]));
  let stop = false;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      const stream = streams[(w + i) % streams.length]!;
      const body = JSON.stringify({ w, i, pad: 'x'.repeat(200) });
      const { offset } = await engine.append(stream, Buffer.from(body));
      const list = acked.get(stream)!;
      list[offset] = body;
    }
  });
  // Until every stream has sealed a segment (a fixed wait is too short on a loaded machine).
  const sealedEverywhere = () => streams.every((s) => engine.stats(s).segmentCount >= 2);
  for (let waited_ms = 0; !sealedEverywhere() && waited_ms < 10_000; waited_ms += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const before = new Map(streams.map((s) => [s, engine.stats(s).nextOffset]));
  const snapshot = await engine.snapshot(snapshots);
  await new Promise((resolve) => setTimeout(resolve, 100));
  stop = true;
  await Promise.all(writers);
  t.ok(snapshot.linkedFiles > 0, `sealed segments were hard-linked (${snapshot.linkedFiles})`);
  t.equal(snapshot.streams, 4);

  const report = verifyDirectory(nodeIO, snapshot.path);
  t.same(report.problems, [], 'the snapshot verifies');
  t.equal(report.kind, 'snapshot');

  const restoredDir = path.join(tempDir(t, 'snap-restored'), 'data');
  restoreSnapshot(nodeIO, snapshot.path, restoredDir);
  const restored = await openStore(restoredDir);
  t.teardown(() => restored.close());
  let total = 0;
  for (const name of streams) {
    const events = readAll(restored, name);
    total += events.length;
    t.ok(events.length >= before.get(name)!, `${name}: holds every event acknowledged before the snapshot (${events.length} >= ${before.get(name)})`);
    const live = acked.get(name)!;
    t.ok(events.length <= live.length, `${name}: holds nothing that was never acknowledged`);
    t.ok(events.every((e, i) => e.offset === i && e.payload.toString() === live[i]), `${name}: a prefix of the acknowledged events, byte for byte`);
    t.equal(restored.getStream(name)!.id, engine.getStream(name)!.id, `${name}: same stream id`);
  }
  t.equal(total, snapshot.events, 'the reply counts the events it holds');
  await engine.close();
});

t.test('what happens to the live store after a snapshot never changes the snapshot, and the reverse', async (t) => {
  const dataDir = tempDir(t, 'snap-iso');
  const snapshots = tempDir(t, 'snap-iso-out');
  const engine = await Engine.open({ dataDir, segmentSizeBytes: SEGMENT, retentionIntervalMs: 0, retention: { maxEvents: 100 } });
  t.teardown(() => engine.close());
  await engine.createStream('keep');
  await engine.createStream('gone');
  for (const name of ['keep', 'gone']) {
    await appendEach(engine, name, Array.from({ length: 400 }, (_, i) => Buffer.from(JSON.stringify({ name, i, pad: 'y'.repeat(100) }))));
  }
  await engine.consume('keep', 'worker', { maxEvents: 10 });
  await engine.mark('keep', 'worker', [0, 1, 2], 1);
  const snapshot = await engine.snapshot(snapshots);

  await appendEach(engine, 'keep', Array.from({ length: 300 }, () => Buffer.from('{"after":true}')));
  await engine.mark('keep', 'worker', [3, 4], 1);
  await engine.deleteStream('gone');
  t.ok((await engine.applyRetention()) > 0, 'retention removed sealed segments the snapshot links');
  t.ok(engine.stats('keep').firstOffset > 0);

  const report = verifyDirectory(nodeIO, snapshot.path);
  t.same(report.problems, [], 'every snapshot file still matches its manifest');

  const restoredDir = path.join(tempDir(t, 'snap-iso-restored'), 'data');
  restoreSnapshot(nodeIO, snapshot.path, restoredDir);
  const restored = await openStore(restoredDir);
  t.same(restored.listStreams().map((s) => s.name), ['keep', 'gone'], 'the deleted stream is in the snapshot');
  t.equal(readAll(restored, 'gone').length, 400);
  t.equal(readAll(restored, 'keep').length, 400, 'later appends are not');
  const worker = restored.stats('keep').consumers[0]!;
  t.same([worker.name, worker.cursor, worker.ackFloor], ['worker', 10, 3], 'consumer position as of the snapshot');
  t.same((await restored.consume('keep', 'worker', { maxEvents: 1 })).events.map((e) => e.offset), [10]);
  await appendEach(restored, 'keep', [Buffer.from('{"restored":1}')]);
  await restored.close();
  t.same(verifyDirectory(nodeIO, snapshot.path).problems, [], 'writing to the restored store leaves the snapshot intact');
});

t.test('snapshot names are unique and restore refuses a non-empty directory', async (t) => {
  const dataDir = tempDir(t, 'snap-names');
  const snapshots = tempDir(t, 'snap-names-out');
  const engine = await openStore(dataDir);
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const names = new Set<string>();
  for (let i = 0; i < 5; i++) names.add(path.basename((await engine.snapshot(snapshots)).path));
  t.equal(names.size, 5, `five snapshots in a row get five names: ${[...names].join(', ')}`);
  for (const name of names) t.match(name, /^snapshot-\d{8}T\d{6}\.\d{3}Z(-\d+)?$/);
  const occupied = tempDir(t, 'snap-occupied');
  fs.writeFileSync(path.join(occupied, 'precious'), 'do not touch');
  t.throws(() => restoreSnapshot(nodeIO, path.join(snapshots, [...names][0]!), occupied), { code: 'SNAPSHOT_FAILED' });
  t.equal(fs.readFileSync(path.join(occupied, 'precious'), 'utf8'), 'do not touch');
});

t.test('a failure in the middle of a snapshot leaves no valid-looking snapshot', async (t) => {
  for (const op of ['link', 'writev', 'datasync', 'rename'] as const) {
    const dataDir = tempDir(t, `snap-fail-${op}`);
    const snapshots = tempDir(t, `snap-fail-out-${op}`);
    const io = new FaultyIO();
    const engine = await openStore(dataDir, io);
    await engine.createStream('s');
    await appendEach(engine, 's', Array.from({ length: 300 }, (_, i) => Buffer.from(JSON.stringify({ i, pad: 'z'.repeat(100) }))));
    io.inject({ op, errno: 'EIO', path: new RegExp(`${snapshots.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`) });
    await t.rejects(engine.snapshot(snapshots), { code: 'SNAPSHOT_FAILED' }, `a failed ${op} fails the snapshot`);
    const left = fs.readdirSync(snapshots);
    t.same(left.filter((name) => !name.startsWith('.')), [], `after a failed ${op}: no snapshot directory`);
    for (const name of left) t.notOk(verifyDirectory(nodeIO, path.join(snapshots, name)).ok, `${name} does not verify`);
    io.clearFaults();
    const good = await engine.snapshot(snapshots);
    t.ok(verifyDirectory(nodeIO, good.path).ok, 'the next snapshot succeeds');
    t.same(fs.readdirSync(snapshots).filter((name) => name.startsWith('.')), [], 'and clears the leftovers');
    await engine.close();
  }
});

t.test('verify finds damage in a snapshot and in a data directory', async (t) => {
  const dataDir = tempDir(t, 'snap-verify');
  const snapshots = tempDir(t, 'snap-verify-out');
  const engine = await openStore(dataDir);
  await engine.createStream('s');
  await appendEach(engine, 's', Array.from({ length: 300 }, (_, i) => Buffer.from(JSON.stringify({ i, pad: 'v'.repeat(100) }))));
  const snapshot = await engine.snapshot(snapshots);
  const id = engine.getStream('s')!.id;
  await engine.close();
  t.ok(verifyDirectory(nodeIO, dataDir).ok, 'a healthy data directory verifies');
  const segment = fs.readdirSync(path.join(snapshot.path, 'streams', id)).find((f) => f.endsWith('.log'))!;
  const file = path.join(snapshot.path, 'streams', id, segment);
  // The snapshot's sealed segments are hard links: copy before damaging, so the live store is untouched.
  const copy = fs.readFileSync(file);
  fs.unlinkSync(file);
  fs.writeFileSync(file, copy);
  flipBit(file, 500);
  const report = verifyDirectory(nodeIO, snapshot.path);
  t.notOk(report.ok);
  t.ok(report.problems.some((p) => p.file === file && /CRC32C/.test(p.message)), 'the manifest check names the file');
  t.ok(report.problems.some((p) => p.file === file && p.position !== undefined && /bad-crc/.test(p.message)), 'the record check names the position');
  t.ok(verifyDirectory(nodeIO, dataDir).ok, 'the live data was not touched');
});

t.test('a failed fsync followed by another failure fails the snapshot cleanly (nothing escapes)', async (t) => {
  const dataDir = tempDir(t, 'snap-two-faults');
  const snapshots = tempDir(t, 'snap-two-faults-out');
  const io = new FaultyIO();
  const engine = await openStore(dataDir, io);
  t.teardown(() => engine.close());
  await engine.createStream('s');
  await appendEach(engine, 's', Array.from({ length: 50 }, (_, i) => Buffer.from(JSON.stringify({ i }))));
  const under = new RegExp(snapshots.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  io.inject({ op: 'datasync', errno: 'EIO', path: under });
  io.inject({ op: 'writev', errno: 'ENOSPC', path: /catalog$/ });
  await t.rejects(engine.snapshot(snapshots), { code: 'SNAPSHOT_FAILED' });
  await new Promise((resolve) => setTimeout(resolve, 50)); // an unhandled rejection would fail the test here
  t.same(fs.readdirSync(snapshots).filter((name) => !name.startsWith('.')), [], 'no snapshot directory');
  io.clearFaults();
  t.ok(verifyDirectory(nodeIO, (await engine.snapshot(snapshots)).path).ok, 'the next one succeeds');
});

t.test('a segment kept damaged after a clean stop: snapshots take it with its damage, the store lists it after restarts, retention removes it', async (t) => {
  const dataDir = tempDir(t, 'snap-kept-damage');
  let engine = await openStore(dataDir);
  await engine.createStream('s');
  await engine.append('s', Buffer.from('"e0"'));
  await engine.appendEvents('s', ['"b1"', '"b2"', '"b3"'].map((p) => ({ payload: Buffer.from(p) })));
  const dir = path.join(dataDir, 'streams', fs.readdirSync(path.join(dataDir, 'streams'))[0]!);
  await engine.close();
  // The batch's last record cut off the log after the clean stop.
  const log = path.join(dir, segmentFileName(0, 'log'));
  fs.truncateSync(log, recordPositions(log).at(-1)!.position);
  engine = await openStore(dataDir);
  t.match(engine.stats('s').damage, [{ firstOffset: 1, lastOffset: 3 }]);
  t.equal((await engine.append('s', Buffer.from('"new"'))).offset, 4);
  const snapshot = await engine.snapshot(tempDir(t, 'snap-kept-damage-out'));
  t.ok(snapshot.linkedFiles >= 2, 'the damaged segment is sealed: linked');
  await engine.close();
  const report = verifyDirectory(nodeIO, snapshot.path);
  t.ok(report.problems.some((p) => p.file.endsWith(segmentFileName(0, 'log')) && /offsets 1 to 3 are damaged/.test(p.message)), 'verify of the snapshot reports the damage');
  t.throws(() => restoreSnapshot(nodeIO, snapshot.path, path.join(tempDir(t, 'snap-kept-damage-restored'), 'data')), { code: 'SNAPSHOT_FAILED' }, 'a snapshot holding damage is not restored, as any other');

  const again = await Engine.open({ dataDir, io: nodeIO, segmentSizeBytes: SEGMENT, retentionIntervalMs: 0, retention: { maxEvents: 1 } });
  t.teardown(() => again.close());
  t.match(again.stats('s').damage, [{ firstOffset: 1, lastOffset: 3 }], 'the damage is listed after another restart');
  t.throws(() => again.read('s', 1, { maxEvents: 10 }), { code: 'CORRUPT_DATA' });
  t.same(again.read('s', 4, { maxEvents: 10 }).map((e) => e.payload.toString()), ['"new"']);
  t.equal(await again.applyRetention(), 1, 'retention removes the damaged segment like any sealed one');
  t.same(again.stats('s').damage, [], 'and its damage with it');
  t.same(again.read('s', 0, { maxEvents: 10 }).map((e) => e.offset), [4]);
});
