/** The TypeScript client's event-sourcing calls: appendEvents, writeEvent with options, the fields on reads. */
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { serverFor } from '../helpers/server-inprocess.js';

t.test('appendEvents and writeEvent with a key, expected versions, msg_ids; reads carry the fields', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('orders');
  const batch = [
    { body: { placed: true }, type: 'OrderPlaced', metadata: { user: 'ann' }, msgId: 'p-1' },
    { body: { paid: 10 }, type: 'OrderPaid', msgId: 'p-2' },
  ];
  const appended = await client.appendEvents('orders', batch, { key: 'order-1', expectedVersion: 'no_stream' });
  t.same([appended.firstOffset, appended.lastOffset, appended.nextExpectedVersion, appended.duplicate], [0, 1, 1, false]);
  t.same(appended.events.map((e) => e.version), [0, 1]);
  const again = await client.appendEvents('orders', batch, { key: 'order-1', expectedVersion: 'no_stream' });
  t.same([again.duplicate, again.events], [true, appended.events], 'a retried batch is a duplicate');
  const written = await client.writeEvent('orders', { shipped: true }, { key: 'order-1', expectedVersion: 1, type: 'OrderShipped' });
  t.same([written.offset, written.version, written.nextExpectedVersion, written.duplicate], [2, 2, 2, false]);
  const plain = await client.writeEvent('orders', { note: 1 });
  t.same(Object.keys(plain), ['id', 'offset', 'createdAt'], 'a plain write answers as before');
  await t.rejects(client.appendEvents('orders', [{ body: 1 }], { key: 'order-1', expectedVersion: 1 }), { code: 'WRONG_EXPECTED_VERSION', context: { expected: 1, actual: 2 } });
  await t.rejects(client.appendEvents('orders', []), { code: 'INVALID_FIELD' });
  const page = await client.getStreamEvents('orders');
  t.same(page.events.map((e) => [e.key, e.version, e.type, e.msgId]), [['order-1', 0, 'OrderPlaced', 'p-1'], ['order-1', 1, 'OrderPaid', 'p-2'], ['order-1', 2, 'OrderShipped', undefined], [undefined, undefined, undefined, undefined]]);
  t.same(page.events[0]!.metadata, { user: 'ann' });
  const delivery = await client.processEvents('orders', { maxEvents: 1 });
  t.equal(delivery.events[0]!.type, 'OrderPlaced');
});
