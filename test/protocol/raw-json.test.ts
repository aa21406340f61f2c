import t from 'tap';
import { compactJson, findBodyMember } from '../../src/protocol/raw-json.js';

function member(line: string, key: string): string | null {
  const bytes = Buffer.from(line);
  const span = findBodyMember(bytes, key);
  return span === null ? null : bytes.toString('utf8', span.start, span.end);
}

t.test('finds body.<key> as written', async (t) => {
  t.equal(member('{"operation":"write_event","body":{"stream_name":"s","event":{"a": [1, 2.0, "x"]}}}', 'event'), '{"a": [1, 2.0, "x"]}');
  t.equal(member('{"body":{"event":12345678901234567890}}', 'event'), '12345678901234567890');
  t.equal(member('{"body":{"event":1.0,"x":2}}', 'event'), '1.0');
  t.equal(member('{"body":{"event":null}}', 'event'), 'null');
  t.equal(member('{"body":{"event":"a\\"b\\\\"}}', 'event'), '"a\\"b\\\\"');
  t.equal(member(' { "body" : { "event" : true } } ', 'event'), 'true');
  t.equal(member('{"body":{"x":1}}', 'event'), null);
  t.equal(member('{"body":[1,2]}', 'event'), null);
  t.equal(member('{"event":1}', 'event'), null, 'only inside body');
});

t.test('the same member JSON.parse uses: last duplicate, escaped keys, nested look-alikes', async (t) => {
  const cases = [
    '{"body":{"event":1,"event":2}}',
    '{"body":{"event":1},"body":{"event":3}}',
    '{"body":{"\\u0065vent":4}}',
    '{"body":{"x":{"event":9},"event":5}}',
    '{"body":{"x":"\\"event\\":9","event":6}}',
    '{"operation":"{\\"body\\":{\\"event\\":0}}","body":{"event":7}}',
    '{"body":{"event":{"body":{"event":8}}}}',
  ];
  for (const line of cases) {
    t.same(JSON.parse(member(line, 'event')!), JSON.parse(line).body.event, line);
  }
});

t.test('deep nesting costs no stack', async (t) => {
  const depth = 100_000;
  const event = '['.repeat(depth) + ']'.repeat(depth);
  t.equal(member(`{"body":{"event":${event},"stream_name":"s"}}`, 'event'), event);
});

t.test('compaction removes whitespace outside strings only, and copies nothing when there is none', async (t) => {
  t.equal(compactJson(Buffer.from('{ "a" : [ 1 ,\t2 ] , "b c" : " x  y " }')).toString(), '{"a":[1,2],"b c":" x  y "}');
  t.equal(compactJson(Buffer.from('"a\\" b"')).toString(), '"a\\" b"');
  const compact = Buffer.from('{"a":[1,2.0,12345678901234567890]}');
  t.equal(compactJson(compact), compact, 'the same buffer');
});
