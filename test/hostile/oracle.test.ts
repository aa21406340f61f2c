/**
 * The fuzzer's oracle can fail: it predicts the documented answers, and its check refuses every
 * kind of wrong response (bad JSON, wrong code or reason, a success with a reason, request_id not
 * echoed as sent, keys out of order).
 */
import t from 'tap';
import { check, expect, REASONS, type Expectation, type OracleState } from './oracle.js';

const state: OracleState = {
  streams: new Set(['fz']),
  consumers: new Set(['default']),
  client: { id: 'id', secret: 'secret' },
  maxEventBytes: 1024,
  maxMarkEventIds: 3,
};
const AUTH = '"auth":{"client_id":"id","client_secret":"secret"}';
const verdict = (line: string | Buffer) => expect(Buffer.isBuffer(line) ? line : Buffer.from(line), state);
const expectation = (line: string | Buffer) => {
  const v = verdict(line);
  if (typeof v === 'string') throw new Error(`no expectation for ${String(line)}: ${v}`);
  return v;
};

t.test('predictions', async (t) => {
  t.equal(verdict('  \t\r'), 'blank');
  t.equal(verdict('{"operation":"exit"}'), 'discard');
  t.equal(verdict(`{"operation":"create_stream",${AUTH},"body":{"stream_name":"new"}}`), 'discard', 'creating a stream would change the state');
  t.equal(verdict(`{"operation":"process_events",${AUTH},"body":{"stream_name":"fz","consumer":"new"}}`), 'discard', 'so would a new consumer');
  const cases: [string | Buffer, string][] = [
    ['not json', 'INVALID_JSON'],
    [Buffer.from([0x7b, 0xc3, 0x28, 0x7d]), 'INVALID_UTF8'],
    ['\ufeff{"operation":"health"}', 'INVALID_JSON'],
    ['{"operation":"fly"}', 'UNKNOWN_OPERATION'],
    ['{"operation":1}', 'INVALID_FIELD'],
    ['{"operation":"get_stream_info","body":{"stream_name":"fz"}}', 'UNAUTHORIZED'],
    [`{"operation":"get_stream_info",${AUTH}}`, 'MISSING_FIELDS'],
    [`{"operation":"get_stream_info",${AUTH},"body":{"stream_name":"nope"}}`, 'STREAM_NOT_FOUND'],
    [`{"operation":"mark_event",${AUTH},"body":{"event_id":"x","status":1.0}}`, 'INVALID_FIELD'],
    [`{"operation":"mark_event",${AUTH},"body":{"event_id":"x","status":7}}`, 'INVALID_STATUS'],
    [`{"operation":"mark_event",${AUTH},"body":{"event_ids":["a","b","c","d"],"status":1}}`, 'BATCH_TOO_LARGE'],
    [`{"operation":"mark_event",${AUTH},"body":{"event_id":"x","status":1}}`, 'EVENT_NOT_FOUND'],
    [`{"operation":"snapshot_db",${AUTH},"body":{"output":"a/../../b"}}`, 'INVALID_PATH'],
  ];
  for (const [line, code] of cases) {
    const e = expectation(line);
    t.same(e.outcomes.map((o) => (o.ok ? 'OK' : o.code)), [code], String(line));
  }
  t.same(expectation(`{"operation":"get_stream_info",${AUTH},"body":{"stream_name":"fz"},"request_id":7}`).requestId, { value: 7, line: `{"operation":"get_stream_info",${AUTH},"body":{"stream_name":"fz"},"request_id":7}` });
  t.same(expectation('{"operation":"health","request_id":{}}').requestId, null, 'a bad request_id is not echoed');
});

t.test('check refuses wrong responses', async (t) => {
  const health = expectation('{"operation":"health","request_id":1e999}');
  t.equal(check('{"operation":"health","status":true,"request_id":1e999}', health), null, 'the right answer passes');
  t.match(check('{"operation":"health","status":true,"request_id":Infinity}', health), /not JSON/);
  t.match(check('{"operation":"health","status":true}', health), /not echoed/);
  const big = expectation('{"operation":"health","request_id":12345678901234567890}');
  t.match(check('{"operation":"health","status":true,"request_id":12345678901234567000}', big), /not as sent/);
  const missing = expectation(`{"operation":"write_event",${AUTH},"body":{"event":1}}`);
  t.equal(check('{"operation":"write_event","status":false,"context":{"body":[{"name":"stream_name","type":"string","required":true}]},"reason":"missing required fields","code":"MISSING_FIELDS"}', missing), null);
  t.match(check('{"operation":"write_event","status":false,"context":{"body":[]},"reason":"missing required fields","code":"MISSING_FIELDS"}', missing), /context/);
  t.match(check('{"operation":"write_event","status":false,"reason":"missing fields","code":"MISSING_FIELDS"}', missing), /reason/);
  t.match(check('{"operation":"write_event","status":false,"reason":"missing required fields","code":"INTERNAL"}', missing), /code INTERNAL/);
  t.match(check('{"status":false,"operation":"write_event","reason":"missing required fields","code":"MISSING_FIELDS"}', missing), /misplaced/);
  t.match(check('{"operation":"decode_request","status":false,"reason":"missing required fields","code":"MISSING_FIELDS"}', missing), /operation/);
  const ok: Expectation = expectation(`{"operation":"get_stream_info",${AUTH},"body":{"stream_name":"fz"}}`);
  t.match(check('{"operation":"get_stream_info","status":true,"body":{},"reason":"x"}', ok), /success with reason/);
  t.match(check('{"operation":"get_stream_info","status":true,"extra":1}', ok), /unexpected/);
  t.equal(check(`{"operation":"decode_request","status":false,"reason":"${REASONS.INVALID_JSON}","code":"INVALID_JSON"}`, expectation('{')), null);
});
