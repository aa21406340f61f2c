/**
 * Every error case of the protocol over a real socket: the exact line the original sent (plus our
 * `code`), and the connection stays up after each.
 */
import t from 'tap';
import { decodeEventId, encodeEventId } from '../../src/storage/format/event-id.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { linesFor } from '../helpers/server-lines.js';

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
