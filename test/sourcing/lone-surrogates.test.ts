/**
 * Strings with a lone UTF-16 surrogate (`"\ud800"`: valid JSON, valid UTF-8 on the wire, but no
 * UTF-8 form once decoded) are refused wherever the server or the engine would store or compare
 * them as UTF-8: keys, types, msg_ids, filters, consumer and stream names, list_streams'
 * from_name, credentials, a snapshot's output. Stored as U+FFFD they made `"\ud800"` and
 * `"\udc00"` one key with repeated versions, and a msg_id unrecognised after a restart. Event
 * bodies and metadata are stored as written (raw JSON text), so there the escape round-trips.
 */
import t, { type Test } from 'tap';
import { ErrorCodes, isEventBusError, type Engine } from '../../src/storage/index.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { linesFor, type LineSocket } from '../helpers/server-lines.js';
import { openEngine } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

/** Sends `line` as written (lone surrogates spelt as escapes) and answers the parsed response. */
async function send(s: LineSocket, line: string): Promise<any> {
  s.write(`${line}\n`);
  return JSON.parse(await s.readLine());
}

t.test('on the wire: every string field with a lone surrogate is INVALID_FIELD naming it, and nothing is written', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  t.equal((await send(s, '{"operation":"create_stream","body":{"stream_name":"s"}}')).status, true);
  const refusals: [string, string, string][] = [
    ['append_events key', '{"operation":"append_events","body":{"stream_name":"s","key":"\\ud800","events":[{"body":1}]}}', 'key'],
    ['append_events low surrogate key', '{"operation":"append_events","body":{"stream_name":"s","key":"a\\udc00b","events":[{"body":1}]}}', 'key'],
    ['append_events msg_id', '{"operation":"append_events","body":{"stream_name":"s","key":"k","events":[{"body":1,"msg_id":"id-\\ud800"}]}}', 'events[0].msg_id'],
    ['append_events type', '{"operation":"append_events","body":{"stream_name":"s","events":[{"body":1},{"body":2,"type":"T\\udfff"}]}}', 'events[1].type'],
    ['write_event key', '{"operation":"write_event","body":{"stream_name":"s","event":1,"key":"\\ud800"}}', 'key'],
    ['write_event type', '{"operation":"write_event","body":{"stream_name":"s","event":1,"type":"\\ud800"}}', 'type'],
    ['write_event msg_id', '{"operation":"write_event","body":{"stream_name":"s","event":1,"msg_id":"\\ud800"}}', 'msg_id'],
    ['get_stream_events key', '{"operation":"get_stream_events","body":{"stream_name":"s","key":"\\ud800"}}', 'key'],
    ['get_stream_events types', '{"operation":"get_stream_events","body":{"stream_name":"s","types":["a","\\udc00"]}}', 'types[1]'],
    ['get_stream_events consumer', '{"operation":"get_stream_events","body":{"stream_name":"s","consumer":"c\\ud800"}}', 'consumer'],
    ['process_events key', '{"operation":"process_events","body":{"stream_name":"s","key":"\\ud800"}}', 'key'],
    ['process_events types', '{"operation":"process_events","body":{"stream_name":"s","types":["\\ud800"]}}', 'types[0]'],
    ['process_events consumer', '{"operation":"process_events","body":{"stream_name":"s","consumer":"\\ud800"}}', 'consumer'],
    ['retry_events consumer', '{"operation":"retry_events","body":{"stream_name":"s","consumer":"\\ud800"}}', 'consumer'],
    ['subscribe key', '{"operation":"subscribe","body":{"stream_name":"s","key":"\\ud800"}}', 'key'],
    ['subscribe types', '{"operation":"subscribe","body":{"stream_name":"s","types":["\\ud800"]}}', 'types[0]'],
    ['list_streams from_name', '{"operation":"list_streams","body":{"from_name":"\\ud800"}}', 'from_name'],
    ['auth client_id', '{"operation":"write_event","auth":{"client_id":"\\ud800","client_secret":"x"},"body":{"stream_name":"s","event":1}}', 'auth.client_id'],
    ['auth client_secret', '{"operation":"get_stream_info","auth":{"client_id":"a","client_secret":"\\udc00"},"body":{"stream_name":"s"}}', 'auth.client_secret'],
  ];
  for (const [what, line, field] of refusals) {
    const answer = await send(s, line);
    t.same([answer.status, answer.code, answer.context?.field], [false, 'INVALID_FIELD', field], `${what}: ${JSON.stringify(answer)}`);
  }
  // Stream names: create_stream's code and text for every operation, also write_event's fast path.
  for (const line of [
    '{"operation":"create_stream","body":{"stream_name":"\\ud800"}}',
    '{"operation":"get_stream_info","body":{"stream_name":"\\ud800"}}',
    '{"operation":"write_event","body":{"stream_name":"s\\ud800","event":1}}',
    '{"operation":"append_events","body":{"stream_name":"\\udc00","events":[{"body":1}]}}',
  ]) {
    const answer = await send(s, line);
    t.same([answer.code, answer.reason, answer.context?.field], ['INVALID_STREAM_NAME', 'invalid stream name: it is not valid Unicode text', 'stream_name'], line);
  }
  const snapshot = await send(s, '{"operation":"snapshot_db","body":{"output":"b\\ud800"}}');
  t.same([snapshot.code, snapshot.context?.field], ['INVALID_PATH', 'output'], JSON.stringify(snapshot));
  t.match(snapshot.reason, /not valid Unicode text/);

  // Nothing was written: the key spelt U+FFFD starts at version 0.
  const info = await send(s, '{"operation":"get_stream_info","body":{"stream_name":"s"}}');
  t.equal(info.body.stream.event_count, 0, 'no refused request wrote an event');
  const replacement = await send(s, '{"operation":"append_events","body":{"stream_name":"s","key":"\\ufffd","events":[{"body":3}]}}');
  t.same([replacement.status, replacement.body.events[0].version], [true, 0]);
});

t.test('on the wire: bodies, metadata and request_id keep a lone surrogate as written (raw JSON text)', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  await send(s, '{"operation":"create_stream","body":{"stream_name":"s"}}');
  const written = await send(s, '{"operation":"write_event","request_id":"r\\ud800","body":{"stream_name":"s","event":"\\ud800"}}');
  t.equal(written.status, true, JSON.stringify(written));
  t.equal(written.request_id, 'r\ud800', 'request_id echoed as sent');
  const appended = await send(s, '{"operation":"append_events","body":{"stream_name":"s","key":"k","events":[{"body":{"x":"\\udc00"},"metadata":{"m":"\\ud800z"}}]}}');
  t.equal(appended.status, true, JSON.stringify(appended));
  s.write('{"operation":"get_stream_events","body":{"stream_name":"s"}}\n');
  const line = await s.readLine();
  t.ok(line.includes('"body":"\\ud800"'), `the body comes back byte for byte: ${line}`);
  t.ok(line.includes('"body":{"x":"\\udc00"}'), 'a body holding one');
  t.ok(line.includes('"metadata":{"m":"\\ud800z"}'), 'metadata too');
});

async function refusal(t: Test, call: () => unknown, field: string, what: string): Promise<void> {
  try {
    await call();
    t.fail(`${what}: accepted`);
  } catch (error) {
    t.ok(isEventBusError(error, ErrorCodes.INVALID_FIELD), `${what}: INVALID_FIELD (${String(error)})`);
    t.equal((error as { context?: { field?: string } }).context?.field, field, `${what}: names ${field}`);
  }
}

t.test('the engine refuses them in keys, types, msg_ids and filters, and a refused msg_id is never written (across a reopen)', async (t) => {
  const dir = tempDir(t, 'surrogates');
  let engine: Engine = await openEngine(dir);
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const one = [{ payload: Buffer.from('1') }];
  await refusal(t, () => engine.appendEvents('s', one, { key: '\ud800' }), 'key', 'appendEvents key');
  await refusal(t, () => engine.appendEvents('s', [{ payload: Buffer.from('1'), type: 'T\udc00' }]), 'events[0].type', 'appendEvents type');
  await refusal(t, () => engine.appendEvents('s', [{ payload: Buffer.from('1') }, { payload: Buffer.from('2'), msgId: 'id-\ud800' }], { key: 'k' }), 'events[1].msg_id', 'appendEvents msgId');
  await refusal(t, () => engine.keyVersion('s', '\ud800'), 'key', 'keyVersion');
  await refusal(t, () => engine.keyOffsets('s', '\udc00', 0), 'key', 'keyOffsets');
  await refusal(t, () => engine.keyEvents('s', 'a\ud800', 0), 'key', 'keyEvents');
  await refusal(t, () => engine.consume('s', 'c', { filter: { key: '\ud800' } }), 'key', 'consume filter key');
  await refusal(t, () => engine.consume('s', 'c', { filter: { types: ['a', '\udc00'] } }), 'types[1]', 'consume filter types');
  await refusal(t, () => engine.consume('s', 'c\ud800'), 'consumer', 'consume consumer name');

  // The key spelt U+FFFD is a key of its own, and a msg_id with U+FFFD is not one refused above.
  const first = await engine.appendEvents('s', [{ payload: Buffer.from('1'), msgId: 'id-\ufffd' }], { key: '\ufffd' });
  t.same([first.events[0]!.version, first.duplicate], [0, false]);
  await engine.close();
  engine = await openEngine(dir);
  await refusal(t, () => engine.appendEvents('s', [{ payload: Buffer.from('1'), msgId: 'id-\ud800' }], { key: '\ufffd' }), 'events[0].msg_id', 'after a reopen');
  const again = await engine.appendEvents('s', [{ payload: Buffer.from('1'), msgId: 'id-\ufffd' }], { key: '\ufffd' });
  t.same([again.events[0]!.version, again.duplicate], [0, true], 'the stored msg_id is recognised after a reopen');
  t.equal(engine.bounds('s').nextOffset, 1, 'only the one event was ever written');
});
