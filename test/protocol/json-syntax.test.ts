/**
 * Locating the first JSON syntax error (the context of `invalid json provided`): it agrees with
 * JSON.parse on which lines are JSON, and on where the error is (as a byte position), for
 * thousands of mutated requests; it never recurses.
 */
import t from 'tap';
import { locateJsonError } from '../../src/protocol/json-syntax.js';
import { seededRandom } from '../helpers/random.js';

const SAMPLES = [
  '{"operation":"write_event","body":{"stream_name":"orders","event":{"total":12.50,"n":-1e-7,"ok":true,"no":false,"x":null,"list":[1,2,[3,{}]],"s":"a\\"b\\\\c\\u00e9\\n"}}}',
  '{"operation":"mark_event","body":{"event_ids":["00000000-0001-8000-8000-000000000000"],"status":1},"request_id":42}',
  '{ "operation" : "health" , "auth" : { "client_id" : "é", "client_secret" : "ü" } }',
  '[]',
  '"just a string"',
  '0',
];
const ALPHABET = ['{', '}', '[', ']', ',', ':', '"', '\\', '-', '.', 'e', '0', '1', 't', 'n', 'f', 'u', ' ', 'x', 'é', '\u0001'];

t.test('agrees with JSON.parse on thousands of mutated lines, positions in bytes', async (t) => {
  const seed = Number(process.env.EVENTBUS_TEST_SEED ?? Date.now() % 1_000_000);
  t.comment(`seed ${seed} (EVENTBUS_TEST_SEED=${seed} replays it)`);
  const random = seededRandom(seed);
  let located = 0;
  let positionsCompared = 0;
  for (let n = 0; n < 20_000; n++) {
    let text = random.pick(SAMPLES);
    for (let m = random.int(1, 3); m > 0; m--) {
      const at = random.int(0, text.length);
      const op = random.int(0, 2);
      if (op === 0) text = text.slice(0, at) + random.pick(ALPHABET) + text.slice(at);
      else if (op === 1) text = text.slice(0, at) + text.slice(at + 1);
      else text = text.slice(0, at);
    }
    const bytes = Buffer.from(text, 'utf8');
    let parsed = true;
    let message = '';
    try {
      JSON.parse(text);
    } catch (error) {
      parsed = false;
      message = (error as Error).message;
    }
    const found = locateJsonError(bytes);
    if (parsed !== (found === null)) {
      t.fail(`disagrees with JSON.parse on ${JSON.stringify(text)}: ${message || 'parsed'} vs ${JSON.stringify(found)}`);
      return;
    }
    if (found === null) continue;
    located += 1;
    if (found.position < 0 || found.position > bytes.length) {
      t.fail(`position ${found.position} outside the line ${JSON.stringify(text)}`);
      return;
    }
    // Where V8 names a position (UTF-16 units), it is the same place as ours (bytes).
    const v8 = /at position (\d+)/.exec(message);
    if (v8 !== null) {
      const expectedBytes = Buffer.byteLength(text.slice(0, Number(v8[1])), 'utf8');
      if (found.position !== expectedBytes) {
        t.fail(`position ${found.position}, V8 says ${v8[1]} (${expectedBytes} bytes) for ${JSON.stringify(text)}: ${message}`);
        return;
      }
      positionsCompared += 1;
    }
  }
  t.ok(located > 5000, `${located} errors located, ${positionsCompared} positions compared with V8's`);
});

t.test('what was expected and found', async (t) => {
  t.same(locateJsonError(Buffer.from('{"a":1,}')), { position: 7, expected: 'a property name in double quotes', found: "'}'" });
  t.same(locateJsonError(Buffer.from('{"é" 1}')), { position: 6, expected: "':' after the property name", found: "'1'" });
  t.same(locateJsonError(Buffer.from('{"a":"b')), { position: 7, expected: 'a closing quote', found: 'the end of the line' });
  t.same(locateJsonError(Buffer.from('{"a":"\u0001"}')), { position: 6, expected: 'a character of the string (control characters must be escaped) or a closing quote', found: 'the control character 0x01' });
  t.same(locateJsonError(Buffer.from('{"a":é}')), { position: 5, expected: 'a value (object, array, string, number, true, false or null)', found: "'é'" });
  t.same(locateJsonError(Buffer.from('[1 2]')), { position: 3, expected: "',' or ']'", found: "'2'" });
  t.equal(locateJsonError(Buffer.from(' {"a":[1,{"b":null}]} \r')), null);
  const deep = '['.repeat(500_000) + ']'.repeat(499_999);
  t.same(locateJsonError(Buffer.from(deep)), { position: deep.length, expected: "',' or ']'", found: 'the end of the line' }, 'half a million levels deep, no recursion');
});
