/**
 * Backward reads from past the end (docs/protocol.md, get_stream_events): a `from_offset` past the
 * newest event, or a `from_version` past a key's last version, is clamped to the newest (the
 * key's last) as "end" is, not refused; the page says so with nothing else changed.
 */
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { linesFor } from '../helpers/server-lines.js';

type Page = { body: { events: { offset: number; version?: number }[]; next_offset?: number; next_version?: number; at_end: boolean } };

t.test('backward from past the end starts at the newest event (by offset) or the key\'s last version', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  for (let i = 0; i < 20; i++) await client.appendEvents('s', [{ body: i }], { key: i % 2 === 0 ? 'a' : 'b' });
  const s = await linesFor(t, port);
  const read = async (body: Record<string, unknown>) => (await s.request({ operation: 'get_stream_events', body: { stream_name: 's', direction: 'backward', max_events: 3, ...body } })) as unknown as Page;

  const end = await read({ from_offset: 'end' });
  for (const from of [20, 100, 9007199254740991]) {
    const page = await read({ from_offset: from });
    t.same(page.body, end.body, `from_offset ${from}: as "end"`);
  }
  t.same(end.body.events.map((e) => e.offset), [19, 18, 17]);
  t.equal(end.body.next_offset, 16);

  const keyEnd = await read({ key: 'a', from_version: 'end' });
  t.same(keyEnd.body.events.map((e) => e.version), [9, 8, 7], 'key a has versions 0 to 9');
  for (const from of [10, 100]) t.same((await read({ key: 'a', from_version: from })).body, keyEnd.body, `key, from_version ${from}: as "end"`);
  t.same((await read({ key: 'a', from_offset: 100 })).body, keyEnd.body, 'key, from_offset past the end: from its last event');
});
