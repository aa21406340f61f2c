/**
 * Event ids carry a random part of the store that gave them (issue 9, item 11): ids from two
 * stores, or from a store and a copy restored from its snapshot, do not collide, while every id
 * keeps locating its event from the id alone. Stores made before store ids keep their ids.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBus } from '../../src/bus/bus.js';
import { CATALOG } from '../../src/storage/catalog.js';
import { decodeChecked, encodeChecked } from '../../src/storage/format/checked-file.js';
import { decodeEventId, Engine, nodeIO, restoreSnapshot } from '../../src/storage/index.js';
import { tempDir } from '../helpers/temp-dir.js';

async function openBus(t: Parameters<typeof tempDir>[0], dataDir: string): Promise<{ engine: Engine; bus: EventBus }> {
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  return { engine, bus: new EventBus(engine) };
}

const LEGACY = /^[0-9a-f]{8}-[0-9a-f]{4}-8000-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CURRENT = /^[0-9a-f]{8}-[0-9a-f]{4}-8[89a-f][0-9a-f]{2}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('the first event of two new stores gets two different ids, each locating its event', async (t) => {
  const ids: string[] = [];
  for (const label of ['one', 'two']) {
    const { engine, bus } = await openBus(t, path.join(tempDir(t, `store-id-${label}`), 'data'));
    await engine.createStream('orders');
    const written = await bus.writeEvent('orders', Buffer.from('{"n":1}'));
    t.match(written.id, CURRENT, 'a version-8 UUID of the current layout');
    t.same(decodeEventId(written.id), { streamNumber: 1, offset: 0, storePart: engine.getStream('orders')!.idEpochs[0]!.storePart });
    await bus.process({ streamName: 'orders', consumer: undefined, maxEvents: undefined, waitMs: undefined, autoAck: false });
    await bus.mark({ eventIds: [written.id], status: 1, consumer: undefined });
    t.same(engine.eventStatuses('orders', 'default', [0])[0]!.status, 1, 'the id locates its event');
    ids.push(written.id);
  }
  t.not(ids[0], ids[1], 'same stream number and offset, different ids');
});

t.test('ids are the same after a restart', async (t) => {
  const dataDir = path.join(tempDir(t, 'store-id-restart'), 'data');
  let engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  await engine.createStream('s');
  const id = (await new EventBus(engine).writeEvent('s', Buffer.from('1'))).id;
  await engine.close();
  engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  const page = await new EventBus(engine).readEvents({ streamName: 's', fromOffset: 0, maxEvents: undefined, consumer: undefined });
  t.same(page.events.map((e) => e.id), [id]);
});

t.test('a store made before store ids keeps its old ids; its new events get ids with a store part; both resolve', async (t) => {
  const dataDir = path.join(tempDir(t, 'store-id-legacy'), 'data');
  const first = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  await first.createStream('s');
  await first.appendMany('s', [Buffer.from('0'), Buffer.from('1')]);
  await first.close();
  // The catalog as stores wrote it before store ids: no store_id, no id_epochs.
  const file = path.join(dataDir, CATALOG.name);
  const body = (decodeChecked(fs.readFileSync(file), CATALOG) as { body: { store_id?: string; streams: { id_epochs?: unknown }[] } }).body;
  delete body.store_id;
  for (const stream of body.streams) delete stream.id_epochs;
  fs.writeFileSync(file, encodeChecked(CATALOG, body));

  const { engine, bus } = await openBus(t, dataDir);
  const newer = await bus.writeEvent('s', Buffer.from('2'));
  t.match(newer.id, CURRENT, 'a new event gets an id with the store part');
  const ids = (await bus.readEvents({ streamName: 's', fromOffset: 0, maxEvents: undefined, consumer: undefined })).events.map((e) => e.id);
  t.match(ids[0], LEGACY, 'old events keep their ids of the old layout');
  t.match(ids[1], LEGACY);
  t.equal(ids[2], newer.id);
  t.same(ids[0], '00000000-0001-8000-8000-000000000000', 'exactly the id it was given');
  await bus.process({ streamName: 's', consumer: undefined, maxEvents: undefined, waitMs: undefined, autoAck: false });
  await bus.mark({ eventIds: ids, status: 1, consumer: undefined });
  t.same(engine.eventStatuses('s', 'default', [0, 1, 2]).map((s) => s.status), [1, 1, 1], 'old and new ids all resolve');
  const withoutPart = ids[2]!.replace(/-8[89a-f][0-9a-f]{2}-/, '-8000-');
  await t.rejects(bus.mark({ eventIds: [withoutPart], status: 1, consumer: undefined }), { code: 'EVENT_NOT_FOUND' }, 'a new event has no legacy id');
});

t.test('a restored copy keeps the ids it was restored with and gives new events ids the original never gives', async (t) => {
  const original = await openBus(t, path.join(tempDir(t, 'store-id-original'), 'data'));
  await original.engine.createStream('s');
  const before = await original.bus.writeEvent('s', Buffer.from('"before"'));
  const snapshot = await original.engine.snapshot(tempDir(t, 'store-id-snapshots'));
  const copyDir = path.join(tempDir(t, 'store-id-copy'), 'data');
  restoreSnapshot(nodeIO, snapshot.path, copyDir);
  const copy = await openBus(t, copyDir);

  const copied = (await copy.bus.readEvents({ streamName: 's', fromOffset: 0, maxEvents: undefined, consumer: undefined })).events;
  t.same(copied.map((e) => e.id), [before.id], 'the restored event keeps its id');
  const inOriginal = await original.bus.writeEvent('s', Buffer.from('"after, original"'));
  const inCopy = await copy.bus.writeEvent('s', Buffer.from('"after, copy"'));
  t.equal(inOriginal.offset, inCopy.offset, 'the same offset in both');
  t.not(inOriginal.id, inCopy.id, 'but different ids');
  await copy.bus.process({ streamName: 's', consumer: undefined, maxEvents: undefined, waitMs: undefined, autoAck: false });
  await t.rejects(copy.bus.mark({ eventIds: [inOriginal.id], status: 1, consumer: undefined }), { code: 'EVENT_NOT_FOUND' }, "the original's new id is not an event of the copy");
  await copy.bus.mark({ eventIds: [before.id, inCopy.id], status: 1, consumer: undefined });
  t.same(copy.engine.eventStatuses('s', 'default', [0, 1]).map((s) => s.status), [1, 1], "the copy's own ids resolve in it");
});
