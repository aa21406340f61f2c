/**
 * list_streams on the wire and through the client: every stream with its figures and consumers,
 * in name order (UTF-8 byte order), a page at a time with stable paging while streams come and
 * go, the same auth rules as every other operation, bad fields refused.
 */
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { MAX_PAGE_STREAMS } from '../../src/bus/index.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { linesFor } from '../helpers/server-lines.js';
import { onJetStream } from '../helpers/backend.js';

t.test('every stream in name order, with figures and consumers, page after page', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  t.same(await client.listStreams(), { streams: [], nextName: null }, 'an empty store lists nothing');
  // Created out of order; 'Z' < 'a' < 'é' (0xc3 0xa9) < '日' in UTF-8 byte order.
  for (const name of ['é', 'b', 'Z', 'a', '日本', 'c']) await client.createStream(name);
  await client.writeEventJson('b', '{"n":1}');
  await client.writeEventJson('b', '{"n":2}');
  await client.processEvents('b', { consumer: 'workers', maxEvents: 1 });

  const all = await client.listStreams();
  t.same(all.streams.map((s) => s.name), ['Z', 'a', 'b', 'c', 'é', '日本']);
  t.equal(all.nextName, null);
  const b = all.streams.find((s) => s.name === 'b')!;
  const info = await client.getStreamInfo('b');
  t.same(b, info, 'each stream as get_stream_info reports it');
  t.same(b.consumers.map((c) => [c.name, c.pending, c.lag]), [['workers', 1, 1]]);

  const first = await client.listStreams({ maxStreams: 2 });
  t.same([first.streams.map((s) => s.name), first.nextName], [['Z', 'a'], 'b']);
  await client.deleteStream('b'); // gone between pages: the next page starts at the first name from 'b' on
  await client.createStream('bb');
  const second = await client.listStreams({ fromName: first.nextName!, maxStreams: 2 });
  t.same([second.streams.map((s) => s.name), second.nextName], [['bb', 'c'], 'é']);
  const names: string[] = [];
  for await (const stream of client.streams({ maxStreams: 1 })) names.push(stream.name);
  t.same(names, ['Z', 'a', 'bb', 'c', 'é', '日本'], 'streams() walks every page');
});

t.test('the wire: no body needed, the body and fields checked, the same auth as the rest', async (t) => {
  const { port } = await serverFor(t, { clients: { app: { client_id: 'id', client_secret: 'secret' } } });
  const lines = await linesFor(t, port);
  const auth = '"auth":{"client_id":"id","client_secret":"secret"}';
  t.same((await lines.request('{"operation":"list_streams"}')), {
    operation: 'list_streams', status: false, reason: 'unauthorized to make request', code: 'UNAUTHORIZED',
  });
  await lines.request(`{"operation":"create_stream","body":{"stream_name":"s"},${auth}}`);
  const listed = (await lines.request(`{"operation":"list_streams",${auth}}`)) as { body: { streams: Record<string, unknown>[] } };
  t.match(listed, { operation: 'list_streams', status: true, body: { streams: [{ name: 's', event_count: 0, first_offset: 0, next_offset: 0, consumers: [], damage: [] }], next_name: null } });
  // Retention is the engine's (docs/protocol.md, the jetstream backend).
  const retention = onJetStream ? [] : ['retention'];
  t.same(Object.keys(listed.body.streams[0]), ['id', 'name', 'created_at', 'event_count', 'first_offset', 'next_offset', 'bytes', 'segment_count', ...retention, 'consumers', 'damage']);
  t.match((await lines.request(`{"operation":"list_streams","body":null,${auth}}`)), { status: true });
  for (const [body, field] of [['[]', 'body'], ['{"from_name":1}', 'from_name'], ['{"max_streams":0}', 'max_streams'], ['{"max_streams":"2"}', 'max_streams']] as const) {
    t.match((await lines.request(`{"operation":"list_streams","body":${body},${auth}}`)), {
      status: false, code: 'INVALID_FIELD', reason: 'invalid json provided', context: { field },
    }, body);
  }
  const capped = (await lines.request(`{"operation":"list_streams","body":{"max_streams":${MAX_PAGE_STREAMS * 10}},${auth}}`));
  t.equal(capped.status, true, 'a max_streams over the cap is capped, not refused');
});
