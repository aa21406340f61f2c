/**
 * The client refuses option keys it does not know (INVALID_FIELD naming them), before anything is
 * sent: called from JavaScript, a misspelt key was dropped, and what it asked for with it (a
 * misspelt retention limit removed the stream's limits, a misspelt expectedVersion appended
 * without a version check).
 */
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { serverFor } from '../helpers/server-inprocess.js';

/** What a refusal of `field` looks like: INVALID_FIELD, the key named in the reason and in context.field. */
function unknown(field: string): { code: string; reason: RegExp; context: { field: string } } {
  const escaped = field.replace(/[.[\]]/g, '\\$&');
  return { code: 'INVALID_FIELD', reason: new RegExp(`^${escaped} is not a known option \\(expected one of: `), context: { field } };
}

/** An argument as a JavaScript caller without the typings passes it. */
const js = (value: unknown): never => value as never;

t.test('connect refuses an unknown option, and an unknown key of auth, before connecting', async (t) => {
  const { port } = await serverFor(t);
  await t.rejects(EventBusClient.connect(js({ port, requestTimeoutMS: 5 })), unknown('options.requestTimeoutMS'));
  await t.rejects(EventBusClient.connect(js({ port, auth: { clientId: 'a', clientSecret: 'b', client_secret: 'b' } })), unknown('options.auth.client_secret'));
  await t.rejects(EventBusClient.connect(js({ port: 1, prot: port })), unknown('options.prot'), 'refused before connecting (port 1 would be CONNECTION_ERROR)');
  const client = await EventBusClient.connect({ port, host: undefined, tls: undefined, requestTimeoutMs: 5000 });
  await client.health();
  await client.close();
});

t.test('stream settings: a misspelt retention limit or option changes nothing', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());

  const createRefusal = await client.createStream('s2', js({ retention: { max_events: 100 } })).catch((error: unknown) => error);
  t.match(createRefusal, unknown('options.retention.max_events'));
  t.match((createRefusal as Error).message, /expected one of: maxAgeMs, maxBytes, maxEvents\)$/, 'the reason lists the known keys');
  await t.rejects(client.getStreamInfo('s2'), { code: 'STREAM_NOT_FOUND' }, 'no stream without its limit');
  await t.rejects(client.createStream('s2', js({ ifNotExist: true })), unknown('options.ifNotExist'));
  await t.rejects(client.createStream('s2', js({ ifNotExists: true, retention: { maxEvent: 1 } })), unknown('options.retention.maxEvent'));
  await t.rejects(client.ensureStream('s2', js({ maxAgeMS: 1 })), unknown('retention.maxAgeMS'));
  await t.rejects(client.getStreamInfo('s2'), { code: 'STREAM_NOT_FOUND' });

  await client.createStream('s2', { retention: { maxEvents: 100, maxBytes: undefined } });
  await t.rejects(client.setStreamRetention('s2', js({ maxEvnts: 5 })), unknown('retention.maxEvnts'));
  await t.rejects(client.setStreamRetention('s2', js(null)), { code: 'INVALID_FIELD', context: { field: 'retention' } });
  t.same((await client.getStreamInfo('s2')).retention, { maxAgeMs: 0, maxBytes: 0, maxEvents: 100 }, "the stream's own limit stays");
  t.same(await client.setStreamRetention('s2', { maxEvents: 5, maxBytes: undefined }), { maxAgeMs: 0, maxBytes: 0, maxEvents: 5 }, 'a correct call still works');
  t.equal((await client.ensureStream('s2', { maxEvents: 5 })).name, 's2');

  await t.rejects(client.listStreams(js({ max_streams: 1 })), unknown('options.max_streams'));
  await t.rejects(client.streams(js({ fromName: 's' })).next(), unknown('options.fromName'));
  t.equal((await client.listStreams({ maxStreams: 1, fromName: undefined })).streams.length, 1);
});

t.test('writes: a misspelt option or event key appends nothing', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('w');
  const first = await client.writeEvent('w', { n: 0 }, { key: 'k' });

  await t.rejects(client.writeEvent('w', { n: 1 }, js({ key: 'k', expectedVerison: 3 })), unknown('options.expectedVerison'));
  await t.rejects(client.writeEvent('w', { n: 1 }, js({ msg_id: 'm' })), unknown('options.msg_id'));
  await t.rejects(client.writeEvent('w', { n: 1 }, js(null)), { code: 'INVALID_FIELD', context: { field: 'options' } }, 'null options: INVALID_FIELD, not a TypeError');
  await t.rejects(client.writeEventJson('w', '{"n":1}', js({ Key: 'k' })), unknown('options.Key'));
  t.throws(() => client.writeEventOverheadBytes('w', js({ tpye: 'T' })), unknown('options.tpye'));
  await t.rejects(client.appendEvents('w', [{ body: 1 }], js({ key: 'k', expectedVerison: 3 })), unknown('options.expectedVerison'));
  await t.rejects(client.appendEvents('w', [{ body: 1 }], js({ type: 'T' })), unknown('options.type'), 'a type is an event\'s, not the batch\'s');
  await t.rejects(client.appendEvents('w', [{ body: 1 }, js({ body: 2, msgID: 'm' })]), unknown('events[1].msgID'));
  await t.rejects(client.appendEvents('w', [{ body: 1 }, js(null)]), { code: 'INVALID_FIELD', context: { field: 'events[1]' } });
  const info = await client.getStreamInfo('w');
  t.equal(info.eventCount, 1, 'nothing was appended');

  const written = await client.writeEvent('w', { n: 1 }, { key: 'k', expectedVersion: 0, type: undefined, metadata: undefined, msgId: undefined });
  t.same([written.offset, written.version], [1, 1], 'undefined known options are fine');
  t.equal(client.writeEventOverheadBytes('w', { key: 'k' }), client.writeEventOverheadBytes('w', { key: 'k', type: undefined }));
  await t.rejects(client.writeEvent('w', { n: 2 }, { key: 'k', expectedVersion: 0 }), { code: 'WRONG_EXPECTED_VERSION' }, 'the version check a correct key asks for');
  const appended = await client.appendEvents('w', [{ body: 2, type: 'T', msgId: undefined }], { key: 'k', expectedVersion: 1 });
  t.equal(appended.nextExpectedVersion, 2);
  t.equal((await client.writeEventJson('w', '{"n":3}')).offset, 3);
  t.equal(first.offset, 0);
});

t.test('reads and consumers: a misspelt option is refused, no consumer created or changed', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('r');
  for (let i = 0; i < 3; i++) await client.writeEvent('r', { i }, { key: 'k' });

  await t.rejects(client.getStreamEvents('r', js({ from_offset: 1 })), unknown('options.from_offset'));
  await t.rejects(client.getKeyEvents('r', 'k', js({ consumer: 'c' })), unknown('options.consumer'), 'getKeyEvents takes no consumer');
  await t.rejects(client.processEvents('r', js({ consumer: 'c', max_events: 1 })), unknown('options.max_events'));
  await t.rejects(client.processEvents('r', js({ consumer: 'c', start: { ofset: 2 } })), unknown('options.start.ofset'));
  await t.rejects(client.retryEvents('r', js({ consumer: 'c', maxEvent: 1 })), unknown('options.maxEvent'));
  t.same((await client.getStreamInfo('r')).consumers, [], 'no consumer was created');
  await t.rejects(client.subscribe('r', js({ fromOfset: 2 })), unknown('options.fromOfset'));

  t.same((await client.getStreamEvents('r', { fromOffset: 1, consumer: undefined })).events.map((e) => e.offset), [1, 2]);
  t.same((await client.getKeyEvents('r', 'k', { fromVersion: 2 })).events.map((e) => e.offset), [2]);
  const delivery = await client.processEvents('r', { consumer: 'c', start: { offset: 1 }, maxEvents: 1 });
  t.same(delivery.events.map((e) => e.offset), [1], 'a correct start still works');
  await t.rejects(client.markEvent(delivery.events[0]!.id, 1, js({ consumr: 'c' })), unknown('options.consumr'));
  t.equal((await client.getStreamInfo('r')).consumers[0]!.pending, 1, 'the event is still pending');
  await client.markEvent(delivery.events[0]!.id, 1, { consumer: 'c' });
  t.equal((await client.getStreamInfo('r')).consumers[0]!.pending, 0);
  t.same((await client.retryEvents('r', { consumer: 'c', maxEvents: 1 })).events, []);
  const subscription = await client.subscribe('r', { fromOffset: 2, key: undefined });
  for await (const item of subscription) {
    t.same(item.kind === 'event' ? item.event.offset : -1, 2, 'a correct subscribe still works');
    break;
  }
});
