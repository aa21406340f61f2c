/** The bus over a real engine: ids, paging, marks across streams, snapshot paths. */
import { mkdirSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBus } from '../../src/bus/bus.js';
import { resolveSnapshotDir } from '../../src/bus/snapshot-path.js';
import { Engine } from '../../src/storage/engine.js';
import { decodeEventId } from '../../src/storage/format/event-id.js';
import { tempDir } from '../helpers/server-process.js';

async function open(t: { teardown(fn: () => Promise<void>): void } & Parameters<typeof tempDir>[0]) {
  const dir = tempDir(t);
  const engine = await Engine.open({ dataDir: path.join(dir, 'data') });
  t.teardown(() => engine.close());
  return { engine, bus: new EventBus(engine, { defaultPageEvents: 3, maxPageEvents: 5, snapshotsRoot: path.join(dir, 'snapshots') }), dir };
}

t.test('event ids locate the stream and offset', async (t) => {
  const { engine, bus } = await open(t);
  await bus.createStream('a');
  const b = await bus.createStream('b');
  const written = await bus.writeEvent('b', Buffer.from('{"x":1}'));
  t.same(decodeEventId(written.id), { streamNumber: engine.getStream('b')!.number, offset: 0, storePart: engine.getStream('b')!.idEpochs[0]!.storePart });
  t.equal(b.name, 'b');
});

t.test('pages: default and capped sizes, next_offset', async (t) => {
  const { bus } = await open(t);
  await bus.createStream('p');
  for (let i = 0; i < 8; i++) await bus.writeEvent('p', Buffer.from(String(i)));
  const first = await bus.readEvents({ streamName: 'p', fromOffset: 0, maxEvents: undefined, consumer: undefined });
  t.same(first.events.map((e) => e.offset), [0, 1, 2], 'default page size');
  t.equal(first.nextOffset, 3);
  const capped = await bus.readEvents({ streamName: 'p', fromOffset: first.nextOffset, maxEvents: 100, consumer: undefined });
  t.same(capped.events.map((e) => e.offset), [3, 4, 5, 6, 7], 'capped at maxPageEvents');
  const end = await bus.readEvents({ streamName: 'p', fromOffset: 8, maxEvents: 100, consumer: undefined });
  t.same(end, { events: [], nextOffset: 8, atEnd: true });
  t.throws(() => bus.readEvents({ streamName: 'p', fromOffset: 0, maxEvents: 1, consumer: '' }), { code: 'INVALID_FIELD' });
});

t.test('mark_event ids of several streams are grouped by stream', async (t) => {
  const { bus } = await open(t);
  await bus.createStream('x');
  await bus.createStream('y');
  for (const s of ['x', 'y']) for (let i = 0; i < 2; i++) await bus.writeEvent(s, Buffer.from(String(i)));
  const x = await bus.process({ streamName: 'x', consumer: undefined, maxEvents: undefined, waitMs: undefined, autoAck: false });
  const y = await bus.process({ streamName: 'y', consumer: undefined, maxEvents: undefined, waitMs: undefined, autoAck: false });
  await bus.mark({ eventIds: [x.events[0]!.id, y.events[1]!.id, x.events[1]!.id], status: 1, consumer: undefined });
  t.same((await bus.streamInfo('x')).consumers[0]!.pending, 0);
  t.same((await bus.streamInfo('y')).consumers[0]!.pending, 1);
  await t.rejects(bus.mark({ eventIds: ['f47ac10b-58cc-4372-a567-0e02b2c3d479'], status: 1, consumer: undefined }), { code: 'EVENT_NOT_FOUND', reason: "event 'f47ac10b-58cc-4372-a567-0e02b2c3d479' not found" });
  await bus.deleteStream('y');
  await t.rejects(bus.mark({ eventIds: [y.events[0]!.id], status: 1, consumer: undefined }), { code: 'EVENT_NOT_FOUND' }, 'ids of a deleted stream are not found');
});

t.test('snapshot outputs stay inside the root', async (t) => {
  const dir = tempDir(t);
  const root = path.join(dir, 'root');
  t.equal(resolveSnapshotDir(root, 'backups'), path.join(root, 'backups'));
  t.equal(resolveSnapshotDir(root, 'a/../b'), path.join(root, 'b'));
  t.equal(resolveSnapshotDir(root, ''), root);
  for (const bad of ['/etc', '..', '../x', 'a/../../x', 'a\0b']) t.throws(() => resolveSnapshotDir(root, bad), { code: 'INVALID_PATH' }, bad);
  mkdirSync(path.join(dir, 'outside'));
  symlinkSync(path.join(dir, 'outside'), path.join(root, 'link'));
  t.throws(() => resolveSnapshotDir(root, 'link/x'), { code: 'INVALID_PATH', message: /symbolic link/ });
});
