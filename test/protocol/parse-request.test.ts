import t from 'tap';
import { isEventBusError } from '../../src/errors.js';
import { decodeLine, parseRequest } from '../../src/protocol/parse-request.js';
import type { Request } from '../../src/protocol/requests.js';
import { UNKNOWN_OPERATION_REASON } from '../../src/protocol/wire-texts.js';

const limits = { maxMarkEventIds: 3 };

function parse(line: string | Buffer): Request {
  const decoded = decodeLine(typeof line === 'string' ? Buffer.from(line) : line);
  if (!decoded.ok) throw decoded.error;
  return parseRequest(decoded.envelope, limits);
}

function failure(line: string | Buffer): { code: string; reason: string; context: unknown } {
  try {
    parse(line);
  } catch (error) {
    if (isEventBusError(error)) return { code: error.code, reason: error.reason, context: error.context };
    throw error;
  }
  throw new Error(`no failure for ${line}`);
}

t.test('the unknown-operation text lists our 17 operations in the original order (then ours), without duplicates', async (t) => {
  t.equal(
    UNKNOWN_OPERATION_REASON,
    "operation must be one of: 'health', 'create_stream', 'delete_stream', 'get_stream_info', 'get_stream_events', 'write_event', 'process_events', 'retry_events', 'mark_event', 'snapshot_db', 'list_streams', 'append_events', 'subscribe', 'unsubscribe', 'set_stream_retention', 'truncate_stream', 'exit'",
  );
  for (const line of ['{}', '{"operation":""}', '{"operation":"HEALTH"}', '{"operation":"constructor"}', '{"operation":"__proto__"}', '{"operation":null}']) {
    t.same(failure(line), { code: 'UNKNOWN_OPERATION', reason: UNKNOWN_OPERATION_REASON, context: undefined }, line);
  }
});

t.test('lines that are not JSON objects: the original reason, and where in context', async (t) => {
  const cases: [string, number, RegExp][] = [
    ['not json', 1, /'null'/],
    ['[]', 0, /a JSON object/],
    ['"x"', 0, /a JSON object/],
    ['1', 0, /a JSON object/],
    ['  null', 2, /a JSON object/],
    ['{"operation":"health"} junk', 23, /the end of the line/],
    ['{"operation":"health"}{}', 22, /the end of the line/],
    ['{"a":1', 6, /',' or '}'/],
  ];
  for (const [line, position, expected] of cases) {
    const error = failure(line);
    t.same([error.code, error.reason], ['INVALID_JSON', 'invalid json provided'], line);
    t.match(error.context, { position, expected }, line);
  }
  t.equal(failure(Buffer.from([0x7b, 0xff, 0x7d])).code, 'INVALID_UTF8');
});

t.test('envelope fields of the wrong type', async (t) => {
  t.same(failure('{"operation":1}').context, { field: 'operation', expected: 'a string' });
  t.same(failure('{"operation":"health","auth":"x"}').context, { field: 'auth', expected: 'an object' });
  t.same(failure('{"operation":"health","auth":{"client_id":1}}').context, { field: 'auth.client_id', expected: 'a string' });
  t.same(failure('{"operation":"health","request_id":{}}').context, { field: 'request_id', expected: 'a string or a number' });
});

t.test('request_id is echoed as JSON', async (t) => {
  const decode = (line: string) => {
    const d = decodeLine(Buffer.from(line));
    return d.ok ? d.envelope.requestIdJson : d.requestIdJson;
  };
  t.equal(decode('{"operation":"health","request_id":"a\\"b"}'), '"a\\"b"');
  t.equal(decode('{"operation":"health","request_id":42}'), '42');
  t.equal(decode('{"operation":"nope","request_id":7}'), '7', 'echoed on unknown operations too');
  t.equal(decode('{"operation":"health"}'), undefined);
});

t.test('missing body or fields: the original context, in field order', async (t) => {
  const streamName = [{ name: 'stream_name', type: 'string', required: true }];
  for (const op of ['create_stream', 'delete_stream', 'get_stream_info', 'get_stream_events', 'process_events', 'retry_events']) {
    t.same(failure(`{"operation":"${op}"}`), { code: 'MISSING_FIELDS', reason: 'missing required fields', context: { body: streamName } }, op);
    t.same(failure(`{"operation":"${op}","body":null}`).context, { body: streamName }, `${op} with body null`);
    t.same(failure(`{"operation":"${op}","body":{}}`).context, { body: streamName }, `${op} with an empty body`);
  }
  t.same(failure('{"operation":"write_event"}').context, { body: [...streamName, { name: 'event', type: '[]byte', required: true }] });
  t.same(failure('{"operation":"write_event","body":{"stream_name":"s"}}').context, { body: [{ name: 'event', type: '[]byte', required: true }] });
  t.same(failure('{"operation":"mark_event"}').context, {
    body: [{ name: 'event_id', type: 'string', required: true }, { name: 'status', type: 'uint8', required: true }],
  });
  t.same(failure('{"operation":"snapshot_db"}').context, { body: [{ name: 'output', type: 'string', required: true }] });
});

t.test('fields of the wrong type: invalid json provided, with the field', async (t) => {
  const cases: [string, string][] = [
    ['{"operation":"create_stream","body":"s"}', 'body'],
    ['{"operation":"create_stream","body":[1]}', 'body'],
    ['{"operation":"create_stream","body":{"stream_name":1}}', 'stream_name'],
    ['{"operation":"write_event","body":{"stream_name":true,"event":1}}', 'stream_name'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","from_offset":-1}}', 'from_offset'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","max_events":0}}', 'max_events'],
    ['{"operation":"process_events","body":{"stream_name":"s","max_events":1.5}}', 'max_events'],
    ['{"operation":"process_events","body":{"stream_name":"s","wait_ms":"1"}}', 'wait_ms'],
    ['{"operation":"process_events","body":{"stream_name":"s","auto_ack":1}}', 'auto_ack'],
    ['{"operation":"process_events","body":{"stream_name":"s","consumer":7}}', 'consumer'],
    ['{"operation":"mark_event","body":{"event_id":true,"status":1}}', 'event_id'],
    ['{"operation":"mark_event","body":{"event_id":"x","status":"1"}}', 'status'],
    ['{"operation":"mark_event","body":{"event_id":"x","status":-1}}', 'status'],
    ['{"operation":"mark_event","body":{"event_id":"x","status":256}}', 'status'],
    ['{"operation":"mark_event","body":{"event_id":"x","status":1.0}}', 'status'],
    ['{"operation":"mark_event","body":{"event_id":"x","status":1e0}}', 'status'],
    ['{"operation":"mark_event","body":{"event_ids":[],"status":1}}', 'event_ids'],
    ['{"operation":"mark_event","body":{"event_ids":["a",1],"status":1}}', 'event_ids'],
    ['{"operation":"mark_event","body":{"event_id":"a","event_ids":["b"],"status":1}}', 'event_ids'],
    ['{"operation":"snapshot_db","body":{"output":{}}}', 'output'],
  ];
  for (const [line, field] of cases) {
    const f = failure(line);
    t.equal(f.code, 'INVALID_FIELD', line);
    t.equal(f.reason, 'invalid json provided', line);
    t.equal((f.context as { field: string }).field, field, line);
  }
});

t.test('mark status 3..255 gets the original text', async (t) => {
  for (const status of [3, 5, 255]) {
    const f = failure(`{"operation":"mark_event","body":{"event_id":"x","status":${status}}}`);
    t.equal(f.code, 'INVALID_STATUS');
    t.equal(f.reason, "status must be one of: 0 - unprocessed', '1 - processed', '2 - retry");
  }
  t.equal(failure('{"operation":"mark_event","body":{"event_ids":["a","b","c","d"],"status":1}}').code, 'BATCH_TOO_LARGE');
});

t.test("a mark status of the wrong form: context.expected describes the form check (0 to 255), not the valid statuses", async (t) => {
  // 3 to 255 pass this check and are INVALID_STATUS, so "0 to 2" would send clients the wrong way.
  for (const status of ['-1', '256', '"1"', '1.0', '1e0', '-0', 'true', '[1]']) {
    const line = `{"operation":"mark_event","body":{"event_id":"x","status":${status}}}`;
    t.same(failure(line), { code: 'INVALID_FIELD', reason: 'invalid json provided', context: { field: 'status', expected: 'an integer literal from 0 to 255' } }, line);
  }
  t.same(failure('{"operation":"mark_event","body":{"event_id":"x","status":3}}').context, { field: 'status' }, 'a uint8 other than 0..2 is INVALID_STATUS naming the field');
});

t.test('too many event_ids: BATCH_TOO_LARGE names the field, the limit and the count, as append_events does', async (t) => {
  t.same(failure('{"operation":"mark_event","body":{"event_ids":["a","b","c","d"],"status":1}}'), {
    code: 'BATCH_TOO_LARGE',
    reason: 'a mark_event holds at most 3 event ids, got 4',
    context: { field: 'event_ids', limit: 3, event_ids: 4 },
  });
});

t.test('valid requests', async (t) => {
  t.same(parse('{"operation":"health","body":{"anything":1},"auth":null}'), { operation: 'health' });
  const write = parse('{"operation":"write_event","body":{"stream_name":"s","event": { "n" : 12345678901234567890, "f": 1.0 }},"body2":1}');
  t.equal(write.operation, 'write_event');
  t.equal((write as { event: Buffer }).event.toString(), '{"n":12345678901234567890,"f":1.0}', 'stored as written, compacted');
  t.equal((parse('{"operation":"write_event","body":{"stream_name":"s","event":null}}') as { event: Buffer }).event.toString(), 'null');
  t.same(parse('{"operation":"mark_event","body":{"event_ids":["a","b"],"status":2,"consumer":"c"}}'), { operation: 'mark_event', eventIds: ['a', 'b'], status: 2, consumer: 'c' });
  t.same(parse('{"operation":"process_events","body":{"stream_name":"s","max_events":5,"wait_ms":0,"auto_ack":true}}'), {
    operation: 'process_events', streamName: 's', consumer: undefined, maxEvents: 5, waitMs: 0, autoAck: true, start: undefined, filter: { key: undefined, types: undefined },
  });
  t.same(parse('{"operation":"get_stream_events","body":{"stream_name":"s","from_offset":10}}'), {
    operation: 'get_stream_events', streamName: 's', fromOffset: 10, fromEnd: false, fromTimeMs: undefined, direction: 'forward', key: undefined, types: undefined, fromVersion: undefined, maxEvents: undefined, consumer: undefined,
  });
  t.same(parse('{"operation":"get_stream_events","body":{"stream_name":"s","direction":"backward"}}'), {
    operation: 'get_stream_events', streamName: 's', fromOffset: 0, fromEnd: true, fromTimeMs: undefined, direction: 'backward', key: undefined, types: undefined, fromVersion: undefined, maxEvents: undefined, consumer: undefined,
  }, 'backward without a position: from the end');
  t.same(parse('{"operation":"get_stream_events","body":{"stream_name":"s","from_time":"2026-11-30T12:00:00.5+01:00"}}'), {
    operation: 'get_stream_events', streamName: 's', fromOffset: 0, fromEnd: false, fromTimeMs: Date.parse('2026-11-30T11:00:00.500Z'), direction: 'forward', key: undefined, types: undefined, fromVersion: undefined, maxEvents: undefined, consumer: undefined,
  });
  t.same(parse('{"operation":"process_events","body":{"stream_name":"s","start":{"time":"2026-11-30T12:00:00Z"}}}'), {
    operation: 'process_events', streamName: 's', consumer: undefined, maxEvents: undefined, waitMs: undefined, autoAck: false, start: { kind: 'time', timeMs: Date.parse('2026-11-30T12:00:00Z') }, filter: { key: undefined, types: undefined },
  });
  t.same(parse('{"operation":"create_stream","body":{"stream_name":"s","retention":{"max_events":10,"max_age_ms":0}}}'), {
    operation: 'create_stream', streamName: 's', retention: { maxEvents: 10, maxAgeMs: 0 },
  });
  t.same(parse('{"operation":"truncate_stream","body":{"stream_name":"s","before_offset":7}}'), { operation: 'truncate_stream', streamName: 's', beforeOffset: 7 });
  t.same(parse('{"operation":"subscribe","body":{"stream_name":"s","from_offset":"end"}}'), { operation: 'subscribe', streamName: 's', fromOffset: 0, fromEnd: true, fromTimeMs: undefined, key: undefined, types: undefined });
  t.same(parse('{"operation":"unsubscribe"}'), { operation: 'unsubscribe' });
});

t.test('event-sourcing fields: wrong shapes are INVALID_FIELD naming the field', async (t) => {
  const cases: [string, string][] = [
    ['{"operation":"get_stream_events","body":{"stream_name":"s","from_offset":"start"}}', 'from_offset'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","from_time":"yesterday"}}', 'from_time'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","from_time":"2026-11-30"}}', 'from_time'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","from_offset":1,"from_time":"2026-11-30T12:00:00Z"}}', 'from_time'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","direction":"up"}}', 'direction'],
    ['{"operation":"process_events","body":{"stream_name":"s","start":"first"}}', 'start'],
    ['{"operation":"process_events","body":{"stream_name":"s","start":{"offset":-1}}}', 'start.offset'],
    ['{"operation":"create_stream","body":{"stream_name":"s","retention":{"max_event":1}}}', 'retention.max_event'],
    ['{"operation":"create_stream","body":{"stream_name":"s","retention":{"max_bytes":1.5}}}', 'retention.max_bytes'],
    ['{"operation":"set_stream_retention","body":{"stream_name":"s","retention":[]}}', 'retention'],
    ['{"operation":"truncate_stream","body":{"stream_name":"s","before_offset":"1"}}', 'before_offset'],
    // Dates that do not exist, hours past 23: not RFC 3339 (Date.parse takes them).
    ['{"operation":"get_stream_events","body":{"stream_name":"s","from_time":"2026-02-30T13:06:00Z"}}', 'from_time'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","from_time":"2026-12-02T24:00:00Z"}}', 'from_time'],
    ['{"operation":"process_events","body":{"stream_name":"s","start":{"time":"2023-02-29T00:00:00Z"}}}', 'start.time'],
    // -1 is only a backward read's end, sent back.
    ['{"operation":"get_stream_events","body":{"stream_name":"s","from_offset":-1}}', 'from_offset'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","key":"k","from_version":-1}}', 'from_version'],
  ];
  for (const [line, field] of cases) {
    const error = failure(line);
    t.equal(error.code, 'INVALID_FIELD', line);
    t.equal((error.context as { field: string }).field, field, `${line}: names ${field}`);
  }
  t.equal(failure('{"operation":"truncate_stream","body":{"stream_name":"s"}}').code, 'MISSING_FIELDS');
  const huge = failure('{"operation":"get_stream_events","body":{"stream_name":"s","from_offset":9007199254740992}}');
  t.same(huge.context, { field: 'from_offset', expected: 'an integer from 0 to 9007199254740991, or the string end' }, 'past 2^53 - 1: the range, not "at least 0"');
});

t.test('from_time: whole milliseconds rounded the way of the read, leap seconds, backward -1 positions', async (t) => {
  const timeOf = (body: string) => (parse(`{"operation":"get_stream_events","body":{"stream_name":"s",${body}}}`) as { fromTimeMs?: number; fromOffset?: number; fromVersion?: number });
  const ms = Date.parse('2026-12-03T13:06:00.909Z');
  t.equal(timeOf('"from_time":"2026-12-03T13:06:00.9091Z"').fromTimeMs, ms + 1, 'forward: a time inside a millisecond starts at the next one');
  t.equal(timeOf('"from_time":"2026-12-03T13:06:00.9091Z","direction":"backward"').fromTimeMs, ms, 'backward: at or before it is that millisecond');
  t.equal(timeOf('"from_time":"2026-12-03T13:06:00.909000Z"').fromTimeMs, ms, 'trailing zeros are the millisecond itself');
  t.equal(timeOf('"from_time":"2026-12-03T13:06:00.9090000001Z"').fromTimeMs, ms + 1, 'a fraction of 10 digits (RFC 3339 sets no limit)');
  t.equal(timeOf(`"from_time":"2026-12-03T14:06:00.909${'0'.repeat(40)}1+01:00","direction":"backward"`).fromTimeMs, ms, 'and of 44 digits, backward, with an offset');
  t.equal(timeOf(`"from_time":"2026-12-03T13:06:00.909${'0'.repeat(40)}Z"`).fromTimeMs, ms, 'long trailing zeros are the millisecond itself');
  t.equal(timeOf('"from_time":"2016-12-31T23:59:60Z"').fromTimeMs, Date.parse('2017-01-01T00:00:00Z'), 'a leap second is accepted: the next second\'s start');
  t.equal(timeOf('"from_offset":-1,"direction":"backward"').fromOffset, -1, 'backward from -1 (a backward read\'s end sent back)');
  t.equal(timeOf('"key":"k","from_version":-1,"direction":"backward"').fromVersion, -1);
});

t.test('__proto__ and constructor keys pollute nothing', async (t) => {
  parse('{"operation":"create_stream","body":{"stream_name":"s","__proto__":{"polluted":1}},"__proto__":{"polluted":2}}');
  t.equal(({} as Record<string, unknown>).polluted, undefined);
  t.equal(failure('{"operation":"create_stream","body":{"__proto__":{"stream_name":"s"}}}').code, 'MISSING_FIELDS');
});

t.test('integer fields are integer literals (no fraction, no exponent), as mark_event status and the original Go decoder', async (t) => {
  // Each template has N where the number goes.
  const fields: [string, string][] = [
    ['{"operation":"append_events","body":{"stream_name":"s","expected_version":N,"events":[{"body":{"n":1.5}}]}}', 'expected_version'],
    ['{"operation":"append_events","body":{"stream_name":"s","key":"k","events":[{"body":1}],"expected_version":N}}', 'expected_version'],
    ['{"operation":"write_event","body":{"stream_name":"s","event":{"f":1.0},"expected_version":N}}', 'expected_version'],
    ['{"operation":"truncate_stream","body":{"stream_name":"s","before_offset":N}}', 'before_offset'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","from_offset":N}}', 'from_offset'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","key":"k","from_version":N}}', 'from_version'],
    ['{"operation":"get_stream_events","body":{"stream_name":"s","max_events":N}}', 'max_events'],
    ['{"operation":"subscribe","body":{"stream_name":"s","from_offset":N}}', 'from_offset'],
    ['{"operation":"process_events","body":{"stream_name":"s","max_events":N}}', 'max_events'],
    ['{"operation":"process_events","body":{"stream_name":"s","wait_ms":N}}', 'wait_ms'],
    ['{"operation":"process_events","body":{"stream_name":"s","start":{"offset":N}}}', 'start.offset'],
    ['{"operation":"retry_events","body":{"stream_name":"s","max_events":N}}', 'max_events'],
    ['{"operation":"list_streams","body":{"max_streams":N}}', 'max_streams'],
    ['{"operation":"create_stream","body":{"stream_name":"s","retention":{"max_age_ms":N}}}', 'retention.max_age_ms'],
    ['{"operation":"set_stream_retention","body":{"stream_name":"s","retention":{"max_bytes":2,"max_events":N}}}', 'retention.max_events'],
  ];
  // JSON.parse makes every one of these an integer; none is written as one.
  const notLiterals = ['1.0', '1e0', '1E3', '1e+3', '1e-400', '0.99999999999999999999', '1.00000000000000000001', '10e-1', '-0.0'];
  for (const [template, field] of fields) {
    for (const number of notLiterals) {
      const line = template.replace('N', number);
      const error = failure(line);
      t.same([error.code, error.reason, (error.context as { field?: string }).field], ['INVALID_FIELD', 'invalid json provided', field], line);
    }
    // An integer literal passes (1 is in every field's range).
    t.doesNotThrow(() => parse(template.replace('N', '1')), `${field}: 1`);
  }
  // A null member of `start` counts as left out, as everywhere in a body.
  t.same((parse('{"operation":"process_events","body":{"stream_name":"s","start":{"offset":1,"time":null}}}') as { start?: unknown }).start, { kind: 'offset', offset: 1 });
  t.equal(failure('{"operation":"process_events","body":{"stream_name":"s","start":{"offset":null}}}').code, 'INVALID_FIELD', 'a start of nothing but nulls names no start');
  // Past 2^53 - 1, `expected` gives the range (retention limits named only the lower bound).
  t.same(failure('{"operation":"set_stream_retention","body":{"stream_name":"s","retention":{"max_age_ms":9007199254740992}}}').context, { field: 'retention.max_age_ms', expected: 'an integer from 0 to 9007199254740991 (0 = unlimited)' });
  const one = (text: string) => parse(`{"operation":"append_events","body":{"stream_name":"s","events":[{"body":1}],"expected_version":${text}}}`) as { expectedVersion?: number };
  t.equal(one('1').expectedVersion, 1);
  t.equal(one('-1').expectedVersion, -1);
  t.ok(Object.is(one('-0').expectedVersion, 0), '-0 is 0');
  t.equal(one('  7 ').expectedVersion, 7, 'whitespace around a literal is not part of it');
  // Bytes of the member itself are judged, not a same-named member elsewhere (last one wins, as JSON.parse).
  t.equal(one('1.0,"expected_version":2').expectedVersion, 2);
  t.equal(failure('{"operation":"append_events","body":{"stream_name":"s","expected_version":2,"events":[{"body":1}],"expected_version":2.0}}').code, 'INVALID_FIELD');
  t.equal((parse('{"operation":"get_stream_events","body":{"stream_name":"s","from_offset":3,"events":{"from_offset":3.0}}}') as { fromOffset: number }).fromOffset, 3, 'a nested namesake is not the field');
  t.same((parse('{"operation":"create_stream","body":{"stream_name":"s","retention":{"max\\u005fage_ms":5}}}') as { retention: unknown }).retention, { maxAgeMs: 5 }, 'an escaped key');
});
