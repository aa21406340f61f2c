/**
 * Event sourcing over the wire (issue 12): append_events and write_event with key, type,
 * metadata, msg_id and expected_version; their replies and error codes; every read carrying the
 * new fields only when present; the batch limits.
 */
import t from 'tap';
import { serverFor } from '../helpers/server-inprocess.js';
import { linesFor, type LineSocket } from '../helpers/server-lines.js';

async function call(s: LineSocket, operation: string, body: unknown): Promise<any> {
  s.write(`${JSON.stringify({ operation, body })}\n`);
  return JSON.parse(await s.readLine());
}

t.test('append_events appends a keyed batch and answers offsets, versions and the next expected version', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  await call(s, 'create_stream', { stream_name: 'orders' });
  // Written by hand: bodies and metadata are stored byte for byte (a big integer, 1.0).
  s.write('{"operation":"append_events","body":{"stream_name":"orders","key":"order-1","expected_version":"no_stream","events":[' +
    '{"body": {"n": 12345678901234567890}, "type":"Created","metadata":{"by":"ann", "n":1.0},"msg_id":"a"},{"body":[1,2],"type":"Paid"}]}}\n');
  const first = JSON.parse(await s.readLine());
  t.equal(first.status, true, JSON.stringify(first));
  t.equal(first.body.first_offset, 0);
  t.equal(first.body.last_offset, 1);
  t.equal(first.body.next_expected_version, 1);
  t.equal(first.body.duplicate, false);
  t.same(first.body.events.map((e: any) => [e.offset, e.version]), [[0, 0], [1, 1]]);
  t.match(first.body.events[0].id, /^[0-9a-f-]+/);

  // Another key has its own versions; the stream offset stays gap-free.
  const other = await call(s, 'append_events', { stream_name: 'orders', key: 'order-2', events: [{ body: {} }] });
  t.same([other.body.first_offset, other.body.events[0].version, other.body.next_expected_version], [2, 0, 0]);

  // A write_event with the new fields keeps today's shape plus them.
  const written = await call(s, 'write_event', { stream_name: 'orders', event: { x: 1 }, key: 'order-1', expected_version: 1, type: 'Shipped' });
  t.equal(written.status, true, JSON.stringify(written));
  t.same(Object.keys(written.body.event), ['id', 'offset', 'created_at', 'version']);
  t.equal(written.body.event.version, 2);
  t.equal(written.body.next_expected_version, 2);
  // A plain write_event answers exactly as the original did.
  const plain = await call(s, 'write_event', { stream_name: 'orders', event: { y: 1 } });
  t.same(Object.keys(plain.body), ['event']);
  t.same(Object.keys(plain.body.event), ['id', 'offset', 'created_at']);

  // Reads carry the fields when present, byte for byte, and nothing new otherwise.
  s.write('{"operation":"get_stream_events","body":{"stream_name":"orders"}}\n');
  const line = await s.readLine();
  t.ok(line.includes('"body":{"n":12345678901234567890},"offset":0,"delivery_count":0,"key":"order-1","version":0,"type":"Created","metadata":{"by":"ann","n":1.0},"msg_id":"a"}'), line);
  const page = JSON.parse(line);
  t.same(Object.keys(page.body.events[4]), ['id', 'stream_id', 'status', 'created_at', 'body', 'offset', 'delivery_count']);
  t.same(page.body.events.map((e: any) => e.version), [0, 1, 0, 2, undefined]);
  // Consumers see them too.
  const delivered = await call(s, 'process_events', { stream_name: 'orders', max_events: 2 });
  t.same(delivered.body.events.map((e: any) => [e.key, e.type]), [['order-1', 'Created'], ['order-1', 'Paid']]);
  const retried = await call(s, 'retry_events', { stream_name: 'orders' });
  t.equal(retried.status, true);
});

t.test('expected_version: no_stream, stream_exists, integers, with and without a key', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  await call(s, 'create_stream', { stream_name: 's' });
  const append = (body: object) => call(s, 'append_events', { stream_name: 's', events: [{ body: {} }], ...body });
  let r = await append({ key: 'k', expected_version: 'stream_exists' });
  t.same([r.code, r.context], ['WRONG_EXPECTED_VERSION', { expected: 'stream_exists', actual: -1 }]);
  r = await append({ key: 'k', expected_version: 0 });
  t.same([r.code, r.context], ['WRONG_EXPECTED_VERSION', { expected: 0, actual: -1 }]);
  r = await append({ key: 'k', expected_version: -1 });
  t.equal(r.status, true);
  r = await append({ key: 'k', expected_version: 'no_stream' });
  t.same([r.code, r.context], ['WRONG_EXPECTED_VERSION', { expected: 'no_stream', actual: 0 }]);
  r = await append({ key: 'k', expected_version: 'stream_exists' });
  t.equal(r.body.next_expected_version, 1);
  r = await append({ key: 'k', expected_version: 0 });
  t.same([r.code, r.context], ['WRONG_EXPECTED_VERSION', { expected: 0, actual: 1 }]);
  // Without a key: the stream's last offset.
  r = await append({ expected_version: 1 });
  t.equal(r.status, true);
  t.equal(r.body.next_expected_version, 2);
  t.same(r.body.events, [{ id: r.body.events[0].id, offset: 2 }], 'no version without a key');
  r = await append({ expected_version: 'no_stream' });
  t.same([r.code, r.context], ['WRONG_EXPECTED_VERSION', { expected: 'no_stream', actual: 2 }]);
  r = await call(s, 'write_event', { stream_name: 's', event: {}, expected_version: 7 });
  t.same([r.operation, r.code, r.context], ['write_event', 'WRONG_EXPECTED_VERSION', { expected: 7, actual: 2 }]);
  r = await append({ expected_version: 'latest' });
  t.same([r.code, r.context.field], ['INVALID_FIELD', 'expected_version']);
  r = await append({ expected_version: 1.5 });
  t.same([r.code, r.context.field], ['INVALID_FIELD', 'expected_version']);
});

t.test('msg_id: a repeated batch answers the original with duplicate: true; a partly repeated one is a conflict', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  await call(s, 'create_stream', { stream_name: 's' });
  const batch = { stream_name: 's', key: 'k', events: [{ body: { a: 1 }, msg_id: 'm1' }, { body: { a: 2 }, msg_id: 'm2' }] };
  const first = await call(s, 'append_events', batch);
  const again = await call(s, 'append_events', batch);
  t.equal(again.body.duplicate, true);
  t.same(again.body.events, first.body.events);
  t.equal(again.body.next_expected_version, 1);
  const partly = await call(s, 'append_events', { ...batch, events: [{ body: {}, msg_id: 'm2' }, { body: {}, msg_id: 'm3' }] });
  t.equal(partly.code, 'IDEMPOTENCY_CONFLICT');
  const write1 = await call(s, 'write_event', { stream_name: 's', event: {}, msg_id: 'w1' });
  const write2 = await call(s, 'write_event', { stream_name: 's', event: {}, msg_id: 'w1' });
  t.same([write2.body.duplicate, write2.body.event.offset], [true, write1.body.event.offset]);
  const info = await call(s, 'get_stream_info', { stream_name: 's' });
  t.equal(info.body.stream.event_count, 3, 'nothing appended twice');
});

t.test('limits and bad batches: each a clear error, nothing written, the connection stays up', async (t) => {
  const { port } = await serverFor(t, { engineOptions: { maxBatchEvents: 5, maxBatchBytes: 1000, maxEventBytes: 400 } });
  const s = await linesFor(t, port);
  await call(s, 'create_stream', { stream_name: 's' });
  const append = (body: object) => call(s, 'append_events', { stream_name: 's', ...body });
  const cases: [string, object, string, string?][] = [
    ['empty batch', { events: [] }, 'INVALID_FIELD', 'events'],
    ['events not an array', { events: {} }, 'INVALID_FIELD', 'events'],
    ['too many events', { events: Array.from({ length: 6 }, () => ({ body: 1 })) }, 'BATCH_TOO_LARGE', 'events'],
    ['too many bytes', { events: Array.from({ length: 5 }, () => ({ body: 'x'.repeat(300) })) }, 'BATCH_TOO_LARGE', 'events'],
    ['an event too large', { events: [{ body: 'x'.repeat(500) }] }, 'EVENT_TOO_LARGE', 'events[0]'],
    ['a misspelt msg_id', { events: [{ body: 1, msgid: 'q' }] }, 'INVALID_FIELD', 'events[0].msgid'],
    ['a key given per event', { events: [{ body: 1 }, { body: 2, key: 'k' }] }, 'INVALID_FIELD', 'events[1].key'],
    ['key too long', { key: 'k'.repeat(256), events: [{ body: 1 }] }, 'INVALID_FIELD', 'key'],
    ['empty key', { key: '', events: [{ body: 1 }] }, 'INVALID_FIELD', 'key'],
    ['type too long', { events: [{ body: 1, type: 't'.repeat(256) }] }, 'INVALID_FIELD', 'events[0].type'],
    ['msg_id too long', { events: [{ body: 1, msg_id: 'm'.repeat(65) }] }, 'INVALID_FIELD', 'events[0].msg_id'],
    ['msg_id twice', { events: [{ body: 1, msg_id: 'm' }, { body: 2, msg_id: 'm' }] }, 'INVALID_FIELD', 'events[1].msg_id'],
    ['metadata not an object', { events: [{ body: 1, metadata: [1] }] }, 'INVALID_FIELD', 'events[0].metadata'],
    ['key not a string', { key: 5, events: [{ body: 1 }] }, 'INVALID_FIELD', 'key'],
  ];
  for (const [label, body, code, field] of cases) {
    const r = await append(body);
    t.same([r.status, r.code], [false, code], `${label}: ${JSON.stringify(r)}`);
    if (field !== undefined) t.equal(r.context?.field, field, label);
  }
  const missing = await call(s, 'append_events', { stream_name: 's' });
  t.equal(missing.code, 'MISSING_FIELDS');
  const noBody = await append({ events: [{ body: null }, { type: 't' }] });
  t.match(noBody, { status: false, code: 'MISSING_FIELDS', reason: 'missing required fields', context: { body: [{ name: 'events[1].body', type: '[]byte', required: true }] } }, "an event without body: MISSING_FIELDS, as write_event's without event (a body of null is an event)");
  const misspelt = await append({ events: [{ body: 1, msgid: 'q' }] });
  t.match(misspelt.context, { field: 'events[0].msgid', expected: /body, type, metadata, msg_id/ }, 'the members an event may have are named');
  const unknown = await append({ stream_name: 'nope', events: [{ body: 1 }] });
  t.equal(unknown.code, 'STREAM_NOT_FOUND');
  const info = await call(s, 'get_stream_info', { stream_name: 's' });
  t.equal(info.body.stream.event_count, 0, 'nothing was written');
  const fits = await append({ events: Array.from({ length: 5 }, () => ({ body: 'x'.repeat(150) })) });
  t.equal(fits.status, true, 'a batch at the limits is appended');
});

t.test('the default limits: 1,000 events and 4 MiB in one line', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  await call(s, 'create_stream', { stream_name: 's' });
  const ok = await call(s, 'append_events', { stream_name: 's', events: Array.from({ length: 1000 }, (_, i) => ({ body: { i } })) });
  t.equal(ok.body.last_offset, 999);
  const over = await call(s, 'append_events', { stream_name: 's', events: Array.from({ length: 1001 }, (_, i) => ({ body: { i } })) });
  t.same([over.code, over.context.limit], ['BATCH_TOO_LARGE', 1000]);
  const big = 'x'.repeat(1000 * 1024);
  const fourMiB = await call(s, 'append_events', { stream_name: 's', events: Array.from({ length: 4 }, () => ({ body: big })) });
  t.equal(fourMiB.status, true, 'about 4 MiB fits');
  const overBytes = await call(s, 'append_events', { stream_name: 's', events: Array.from({ length: 5 }, () => ({ body: big })) });
  t.same([overBytes.code, overBytes.context.limit], ['BATCH_TOO_LARGE', 4 * 1024 * 1024]);
});

t.test('8 connections race on one key with the same expected version: exactly one wins per version', async (t) => {
  const { port } = await serverFor(t, { engineOptions: { fsync: 'always' } });
  const sockets = await Promise.all(Array.from({ length: 8 }, () => linesFor(t, port)));
  await call(sockets[0]!, 'create_stream', { stream_name: 'race' });
  for (let version = -1; version < 20; version++) {
    const answers = await Promise.all(sockets.map((s, w) => call(s, 'append_events', { stream_name: 'race', key: 'agg', expected_version: version, events: [{ body: { w, version } }] })));
    const won = answers.filter((a) => a.status === true);
    t.equal(won.length, 1, `one winner at expected version ${version}`);
    t.equal(won[0]?.body.events[0].version, version + 1);
    for (const lost of answers.filter((a) => a.status !== true)) t.same([lost.code, lost.context], ['WRONG_EXPECTED_VERSION', { expected: version, actual: version + 1 }]);
  }
  const page = await call(sockets[0]!, 'get_stream_events', { stream_name: 'race' });
  t.same(page.body.events.map((e: any) => e.version), Array.from({ length: 21 }, (_, i) => i), 'versions gap-free');
});

t.test('write_event refusals name write_event\'s fields (event, type, msg_id), not a batch\'s', async (t) => {
  const { port } = await serverFor(t, { engineOptions: { maxEventBytes: 400 } });
  const s = await linesFor(t, port);
  await call(s, 'create_stream', { stream_name: 's' });
  const write = (body: object) => call(s, 'write_event', { stream_name: 's', ...body });
  let r = await write({ event: 1, type: '' });
  t.same([r.code, r.context, r.reason], ['INVALID_FIELD', { field: 'type', expected: 'a string of 1 to 255 bytes' }, 'type must be 1 to 255 bytes of UTF-8, got 0']);
  r = await write({ event: 1, msg_id: 'm'.repeat(65) });
  t.same([r.code, r.context.field], ['INVALID_FIELD', 'msg_id']);
  r = await write({ event: 'x'.repeat(500), type: 'T' });
  t.same([r.code, r.context], ['EVENT_TOO_LARGE', { field: 'event', limit: 400, bytes: 502 }]);
  t.equal(r.reason, 'event is 502 bytes (body and metadata), the limit is 400');
  // A plain write keeps its reason and gains the context the errors table promises.
  s.write(`{"operation":"write_event","body":{"stream_name":"s","event":"${'x'.repeat(500)}"}}\n`);
  t.equal(await s.readLine(), '{"operation":"write_event","status":false,"context":{"field":"event","limit":400,"bytes":502},"reason":"event is 502 bytes, the limit is 400","code":"EVENT_TOO_LARGE"}');
  // append_events keeps the batch's names.
  r = await call(s, 'append_events', { stream_name: 's', events: [{ body: 1, type: '' }] });
  t.equal(r.context.field, 'events[0].type');
  const info = await call(s, 'get_stream_info', { stream_name: 's' });
  t.equal(info.body.stream.event_count, 0, 'nothing was written');
});

t.test('a retry expecting the version it now reads is answered as a duplicate, not stored twice', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  await call(s, 'create_stream', { stream_name: 'twice' });
  const first = await call(s, 'append_events', { stream_name: 'twice', key: 'K', events: [{ body: 'F', msg_id: 'f' }] });
  const again = await call(s, 'append_events', { stream_name: 'twice', key: 'K', expected_version: 0, events: [{ body: 'G', msg_id: 'f' }] });
  t.equal(again.status, true, JSON.stringify(again));
  t.same([again.body.duplicate, again.body.events, again.body.first_offset, again.body.last_offset], [true, first.body.events, 0, 0]);
  const written = await call(s, 'write_event', { stream_name: 'twice', event: 'H', msg_id: 'f', key: 'K', expected_version: 0 });
  t.same([written.body.duplicate, written.body.event.offset, written.body.event.version], [true, 0, 0], 'write_event too');
  const info = await call(s, 'get_stream_info', { stream_name: 'twice' });
  t.equal(info.body.stream.event_count, 1, 'stored once');
});
