/**
 * Every error case of the protocol over a real socket: the exact line the original sent (plus our
 * `code`), and the connection stays up after each.
 */
import t from 'tap';
import { decodeEventId, encodeEventId } from '../../src/storage/format/event-id.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { linesFor } from '../helpers/server-lines.js';
import { onJetStream } from '../helpers/backend.js';

const UNKNOWN = "operation must be one of: 'health', 'create_stream', 'delete_stream', 'get_stream_info', 'get_stream_events', 'write_event', 'process_events', 'retry_events', 'mark_event', 'snapshot_db', 'list_streams', 'append_events', 'subscribe', 'unsubscribe', 'set_stream_retention', 'truncate_stream', 'exit'";

t.test('exact error lines, and the connection stays up', async (t) => {
  const { port } = await serverFor(t, { engineOptions: { maxEventBytes: 64 } });
  const s = await linesFor(t, port);
  const exchange = async (line: string | Buffer) => {
    s.write(line);
    s.write('\n');
    return s.readLine();
  };
  const cases: [string, string][] = [
    // The original's reason byte for byte; context: where the line stopped being JSON (a byte position).
    ['not json', '{"operation":"decode_request","status":false,"context":{"position":1,"expected":"\'null\'","found":"\'o\'"},"reason":"invalid json provided","code":"INVALID_JSON"}'],
    ['{"operation": "create_stream", "body": {, ...', '{"operation":"decode_request","status":false,"context":{"position":40,"expected":"a property name in double quotes","found":"\',\'"},"reason":"invalid json provided","code":"INVALID_JSON"}'],
    ['[1,2]', '{"operation":"decode_request","status":false,"context":{"position":0,"expected":"a JSON object: one request per line","found":"\'[\'"},"reason":"invalid json provided","code":"INVALID_JSON"}'],
    ['{"stream_name":"\u00e9t\u00e9","x":}', '{"operation":"decode_request","status":false,"context":{"position":27,"expected":"a value (object, array, string, number, true, false or null)","found":"\'}\'"},"reason":"invalid json provided","code":"INVALID_JSON"}'],
    ['{"operation":"fly"}', `{"operation":"decode_request","status":false,"reason":"${UNKNOWN}","code":"UNKNOWN_OPERATION"}`],
    ['{"operation":"fly","request_id":"r"}', `{"operation":"decode_request","status":false,"reason":"${UNKNOWN}","code":"UNKNOWN_OPERATION","request_id":"r"}`],
    ['{"body":{}}', `{"operation":"decode_request","status":false,"reason":"${UNKNOWN}","code":"UNKNOWN_OPERATION"}`],
    ['{"operation":"create_stream"}', '{"operation":"create_stream","status":false,"context":{"body":[{"name":"stream_name","type":"string","required":true}]},"reason":"missing required fields","code":"MISSING_FIELDS"}'],
    ['{"operation":"mark_event"}', '{"operation":"mark_event","status":false,"context":{"body":[{"name":"event_id","type":"string","required":true},{"name":"status","type":"uint8","required":true}]},"reason":"missing required fields","code":"MISSING_FIELDS"}'],
    ['{"operation":"create_stream","body":{"stream_name":5}}', '{"operation":"create_stream","status":false,"context":{"field":"stream_name","expected":"a string"},"reason":"invalid json provided","code":"INVALID_FIELD"}'],
    ['{"operation":"get_stream_info","body":{"stream_name":"nonexistent-stream-name"}}', '{"operation":"get_stream_info","status":false,"reason":"stream \'nonexistent-stream-name\' not found","code":"STREAM_NOT_FOUND"}'],
    ['{"operation":"mark_event","body":{"event_id":"nonexisting-evt-id","status":1}}', '{"operation":"mark_event","status":false,"reason":"event \'nonexisting-evt-id\' not found","code":"EVENT_NOT_FOUND"}'],
    ['{"operation":"mark_event","body":{"event_id":"nonexisting-evt-id","status":5}}', '{"operation":"mark_event","status":false,"context":{"field":"status"},"reason":"status must be one of: 0 - unprocessed\', \'1 - processed\', \'2 - retry","code":"INVALID_STATUS"}'],
  ];
  for (const [line, expected] of cases) t.equal(await exchange(line), expected, line);

  for (const op of ['delete_stream', 'get_stream_info', 'get_stream_events', 'process_events', 'retry_events']) {
    t.equal(await exchange(`{"operation":"${op}","body":{"stream_name":"not-found-stream-name"}}`), `{"operation":"${op}","status":false,"reason":"stream 'not-found-stream-name' not found","code":"STREAM_NOT_FOUND"}`);
  }
  t.equal(await exchange('{"operation":"write_event","body":{"stream_name":"not-found-stream-name","event":{}}}'), `{"operation":"write_event","status":false,"reason":"stream 'not-found-stream-name' not found","code":"STREAM_NOT_FOUND"}`);

  t.equal(JSON.parse(await exchange('{"operation":"create_stream","body":{"stream_name":"s1-name"}}')).status, true);
  t.equal(await exchange('{"operation":"create_stream","body":{"stream_name":"s1-name"}}'), '{"operation":"create_stream","status":false,"reason":"stream: \'s1-name\' already exists","code":"STREAM_EXISTS"}');

  const empty = JSON.parse(await exchange('{"operation":"create_stream","body":{"stream_name":""}}'));
  t.equal(empty.code, 'INVALID_STREAM_NAME', 'an empty name is refused (the original created a stream called "")');
  t.notOk('body' in empty);
  t.equal(JSON.parse(await exchange('{"operation":"create_stream","body":{"stream_name":"$dlq:x"}}')).code, 'INVALID_STREAM_NAME');

  const big = JSON.parse(await exchange(`{"operation":"write_event","body":{"stream_name":"s1-name","event":"${'x'.repeat(100)}"}}`));
  t.equal(big.code, 'EVENT_TOO_LARGE');

  // An id of ours, for a stream that never existed, and for an offset never written.
  t.equal(JSON.parse(await exchange(`{"operation":"mark_event","body":{"event_id":"${encodeEventId(999, 0)}","status":1}}`)).code, 'EVENT_NOT_FOUND');
  const written = JSON.parse(await exchange('{"operation":"write_event","body":{"stream_name":"s1-name","event":1}}'));
  const location = decodeEventId(written.body.event.id)!;
  const unwritten = encodeEventId(location.streamNumber, 50, location.storePart);
  t.equal(await exchange(`{"operation":"mark_event","body":{"event_id":"${unwritten}","status":1}}`), `{"operation":"mark_event","status":false,"reason":"event '${unwritten}' not found","code":"EVENT_NOT_FOUND"}`);
  t.equal(JSON.parse(await exchange(`{"operation":"mark_event","body":{"event_id":"${written.body.event.id}","status":1}}`)).code, 'EVENT_NOT_DELIVERED');

  t.equal(JSON.parse(await exchange(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]))).code, 'INVALID_UTF8');
  t.equal(JSON.parse(await exchange('{"operation":"snapshot_db","body":{"output":"/tmp"}}')).code, 'INVALID_PATH');
  t.equal(JSON.parse(await exchange('{"operation":"snapshot_db","body":{"output":"a/../../b"}}')).code, 'INVALID_PATH');
  const tooLong = JSON.parse(await exchange(`{"operation":"snapshot_db","body":{"output":"${'n'.repeat(300)}"}}`)) as { code: string; reason: string };
  t.equal(tooLong.code, 'INVALID_PATH', 'a name the file system cannot hold is the client\'s mistake, not a failed snapshot');
  t.notMatch(tooLong.reason, /ENAMETOOLONG|\//, 'no system error, no server path in the reason');
  t.equal(JSON.parse(await exchange(`{"operation":"snapshot_db","body":{"output":"${'a/'.repeat(2100)}"}}`)).code, 'INVALID_PATH', 'a path too long for the snapshot below it');
  t.equal(JSON.parse(await exchange('{"operation":"process_events","body":{"stream_name":"s1-name","consumer":""}}')).code, 'INVALID_FIELD');

  t.equal(await exchange('{"operation":"health"}'), '{"operation":"health","status":true}', 'still up');
  t.equal(s.unread, '', 'exactly one line per request');
});

t.test('telnet line endings and request ids', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  s.write('{"operation":"health","request_id":1}\r\n\r\n  \r\n{"operation":"create_stream","body":{"stream_name":"x"},"request_id":"abc"}\r\n');
  t.equal(await s.readLine(), '{"operation":"health","status":true,"request_id":1}');
  const created = JSON.parse(await s.readLine());
  t.equal(created.request_id, 'abc');
  t.same(Object.keys(created), ['operation', 'status', 'body', 'request_id']);
});

t.test('events come back byte for byte', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  await s.request({ operation: 'create_stream', body: { stream_name: 'raw' } });
  const events = ['12345678901234567890', '1.0', '-0', '1E+2', '"\\u00e9\\ud83d\\ude00"', '"é😀"', '{"b":1,"a":2,"a":3}', 'null', 'true', '[]', '{}', '"<&>"'];
  for (const event of events) {
    s.write(`{"operation":"write_event","body":{"stream_name":"raw","event":${event}}}\n`);
    t.equal(JSON.parse(await s.readLine()).status, true, event);
  }
  s.write('{"operation":"write_event","body":{"stream_name":"raw","event": { "x" : [ 1 , 2 ] , "s" : " a  b " } }}\n');
  await s.readLine();
  s.write('{"operation":"get_stream_events","body":{"stream_name":"raw"}}\n');
  const line = await s.readLine();
  for (const event of events) t.ok(line.includes(`"body":${event},"offset"`), `${event} is spliced back as written`);
  t.ok(line.includes('"body":{"x":[1,2],"s":" a  b "},"offset"'), 'whitespace outside strings is removed, as Go did');
});

t.test('auth: checked after the operation and before the body; health and exit need none', async (t) => {
  const { port, server } = await serverFor(t, { clients: { integration: { client_id: 'integration_client_id', client_secret: 'integration_client_secret' } } });
  const s = await linesFor(t, port);
  const auth = { client_id: 'integration_client_id', client_secret: 'integration_client_secret' };
  t.equal(JSON.stringify(await s.request({ operation: 'health' })), '{"operation":"health","status":true}');
  t.equal(JSON.stringify(await s.request({ operation: 'create_stream', body: { stream_name: 'a' } })), '{"operation":"create_stream","status":false,"reason":"unauthorized to make request","code":"UNAUTHORIZED"}');
  t.equal((await s.request({ operation: 'create_stream', auth: { ...auth, client_secret: 'wrong' }, body: { stream_name: 'a' } })).code, 'UNAUTHORIZED');
  t.equal((await s.request({ operation: 'create_stream', auth: { client_id: 'integration_client_id' }, body: { stream_name: 'a' } })).code, 'UNAUTHORIZED');
  t.equal((await s.request({ operation: 'create_stream', auth: { client_id: '', client_secret: '' } })).code, 'UNAUTHORIZED', 'auth before body validation');
  t.equal((await s.request({ operation: 'nope' })).code, 'UNKNOWN_OPERATION', 'unknown operation before auth');
  t.equal((await s.request({ operation: 'create_stream', auth })).code, 'MISSING_FIELDS', 'with good credentials the body is checked');
  t.equal((await s.request({ operation: 'create_stream', auth, body: { stream_name: 'a' } })).status, true);
  t.equal((await s.request({ operation: 'create_stream', auth: { ...auth, client_secret: 'integration_client_secreT' }, body: { stream_name: 'b' } })).code, 'UNAUTHORIZED', 'after a success, other credentials are still checked');
  t.equal((await s.request({ operation: 'create_stream', body: { stream_name: 'b' } })).code, 'UNAUTHORIZED', 'and so is no auth');
  t.equal(server.stats.authFailures, 6, 'failures are counted');
  t.equal(JSON.stringify(await s.request({ operation: 'exit' })), '{"operation":"exit","status":true}');
  t.ok(await s.closesWithin(2000));
});

t.test('a client that half-closes gets answers to everything it sent, the last line even without \\n', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  s.write('{"operation":"create_stream","body":{"stream_name":"h"}}\n{"operation":"write_event","body":{"stream_name":"h","event":1}}\n{"operation":"get_stream_info","body":{"stream_name":"h"}}');
  s.socket.end();
  const lines = await s.readLines(3);
  t.same(lines.map((l) => JSON.parse(l).status), [true, true, true]);
  t.equal(JSON.parse(lines[2]!).body.stream.event_count, 1);
  t.ok(await s.closesWithin(2000), 'then the server closes');
});

t.test('the limits of keys, types, msg_ids and batches are checked before anything is stored, on every backend', async (t) => {
  const { port } = await serverFor(t, { engineOptions: { maxEventBytes: 64 } });
  const s = await linesFor(t, port);
  t.equal((await s.request({ operation: 'create_stream', body: { stream_name: 'lim' } })).status, true);
  const write = (fields: Record<string, unknown>) => s.request({ operation: 'write_event', body: { stream_name: 'lim', event: 'x', ...fields } });
  t.same(await write({ key: '' }), { operation: 'write_event', status: false, context: { field: 'key', expected: 'a string of 1 to 255 bytes' }, reason: 'key must be 1 to 255 bytes of UTF-8, got 0', code: 'INVALID_FIELD' });
  t.same((await write({ key: 'k'.repeat(256) })).reason, 'key must be 1 to 255 bytes of UTF-8, got 256');
  // A key NATS would take only by closing the connection (its control line is 4 KiB): refused at once.
  const started = Date.now();
  t.same((await write({ key: 'k'.repeat(5000) })).code, 'INVALID_FIELD');
  t.ok(Date.now() - started < 2000, 'a long key is refused at once');
  for (const [field, value] of [['type', ''], ['type', 't'.repeat(256)], ['type', 't'.repeat(200_000)], ['msg_id', ''], ['msg_id', 'm'.repeat(65)], ['msg_id', 'm'.repeat(200_000)]] as const) {
    const refused = await write({ [field]: value });
    t.equal(refused.code, 'INVALID_FIELD', `${field} of ${value.length} bytes`);
    t.match((refused.context as { field: string }).field, new RegExp(`${field}$`));
  }
  t.equal(JSON.parse(await s.readLine(50).catch(() => '{"none":true}')).none, true, 'one answer each');
  const info = await s.request({ operation: 'get_stream_info', body: { stream_name: 'lim' } });
  t.equal((info.body as { stream: { event_count: number } }).stream.event_count, 0, 'nothing was stored');
  t.same(await write({ key: 'k', expected_version: 'stream_exists' }), { operation: 'write_event', status: false, context: { expected: 'stream_exists', actual: -1 }, reason: 'expected version "stream_exists", but the last event is at -1', code: 'WRONG_EXPECTED_VERSION' });

  const append = (body: Record<string, unknown>) => s.request({ operation: 'append_events', body: { stream_name: 'lim', ...body } });
  t.same(await append({ events: [] }), { operation: 'append_events', status: false, context: { field: 'events', expected: 'a non-empty array' }, reason: 'a batch holds at least one event', code: 'INVALID_FIELD' });
  t.same(await append({ events: [{ body: 'x'.repeat(80) }] }), { operation: 'append_events', status: false, context: { field: 'events[0]', limit: 64, bytes: 82 }, reason: 'event 0 is 82 bytes (body and metadata), the limit is 64', code: 'EVENT_TOO_LARGE' });
  // Checked before the jetstream backend refuses several events with NOT_SUPPORTED.
  t.same(await append({ stream_name: 'lim-none', events: [{ body: 1 }, { body: 2 }] }), { operation: 'append_events', status: false, reason: "stream 'lim-none' not found", code: 'STREAM_NOT_FOUND' });
  t.same(await append({ events: Array.from({ length: 1001 }, (_, i) => ({ body: i })) }), { operation: 'append_events', status: false, context: { field: 'events', limit: 1000, events: 1001 }, reason: 'a batch holds at most 1000 events, got 1001', code: 'BATCH_TOO_LARGE' });
  t.same(await append({ events: [{ body: 1, msg_id: 'd' }, { body: 2, msg_id: 'd' }] }), { operation: 'append_events', status: false, context: { field: 'events[1].msg_id', expected: 'a msg_id unique within the batch' }, reason: 'msg_id "d" appears twice in the batch', code: 'INVALID_FIELD' });

  const consume = (body: Record<string, unknown>) => s.request({ operation: 'process_events', body: { stream_name: 'lim', ...body } });
  t.same(await consume({ consumer: 'emptyk', key: '' }), { operation: 'process_events', status: false, context: { field: 'key', expected: '1 to 255 bytes of UTF-8' }, reason: 'key must be 1 to 255 bytes of UTF-8', code: 'INVALID_FIELD' });
  t.same((await consume({ consumer: 'ty', types: ['t'.repeat(300)] })).code, 'INVALID_FIELD');
  t.same((await consume({ stream_name: 'lim-none', consumer: 'ty', types: ['t'.repeat(300)] })).code, 'STREAM_NOT_FOUND', 'an unknown stream first');
  const after = await s.request({ operation: 'get_stream_info', body: { stream_name: 'lim' } });
  t.same((after.body as { stream: { consumers: unknown[] } }).stream.consumers, [], 'no consumer was created');
});

t.test('metadata past a NATS header\'s room is EVENT_TOO_LARGE on the jetstream backend, stored on the engine', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  await s.request({ operation: 'create_stream', body: { stream_name: 'meta' } });
  const big = await s.request({ operation: 'append_events', body: { stream_name: 'meta', events: [{ body: 1, metadata: { m: 'm'.repeat(70_000) } }] } });
  if (onJetStream) {
    // docs/protocol.md, the jetstream backend: metadata is a NATS header, 62 KiB at most.
    t.same([big.code, big.context], ['EVENT_TOO_LARGE', { field: 'events[0].metadata', limit: 63_488, bytes: 70_008 }]);
  } else {
    t.equal(big.status, true);
  }
});

t.test('truncate_stream and set_stream_retention on a stream that does not exist: STREAM_NOT_FOUND on either backend', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  for (const request of [{ operation: 'truncate_stream', body: { stream_name: 'nope', before_offset: 1 } }, { operation: 'set_stream_retention', body: { stream_name: 'nope', retention: { max_events: 10 } } }]) {
    t.same((await s.request(request)).code, 'STREAM_NOT_FOUND', `${request.operation}: the stream is looked for first`);
  }
  await s.request({ operation: 'create_stream', body: { stream_name: 'here' } });
  const truncated = await s.request({ operation: 'truncate_stream', body: { stream_name: 'here', before_offset: 0 } });
  // docs/protocol.md, the jetstream backend: truncation and retention are refused there.
  t.same(truncated.code, onJetStream ? 'NOT_SUPPORTED' : undefined, onJetStream ? 'an existing stream: refused' : 'an existing stream: done');
});
