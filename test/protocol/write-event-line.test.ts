/**
 * The one-pass `write_event` decoder (src/protocol/write-event-line.ts) against the general path
 * (decodeLine + parseRequest): whenever the fast path answers, its request, request id and
 * credentials are exactly the general path's; it answers the lines clients really send; and it
 * leaves everything else (every error) to the general path.
 *
 * Lines come from the hostile fuzzer's generator and from mutations of write_event lines
 * (bytes inserted, removed or replaced with JSON punctuation, whitespace, escapes, invalid
 * UTF-8), so both valid and almost-valid lines are covered. The seed is printed; replay with
 * EVENTBUS_TEST_SEED=<seed>.
 */
import t, { type Test } from 'tap';
import { decodeLine, parseRequest } from '../../src/protocol/parse-request.js';
import { decodeWriteEventLine, MAX_DEPTH, type DecodedWriteEvent } from '../../src/protocol/write-event-line.js';
import { seededRandom, type Random } from '../helpers/random.js';
import { CaseGenerator } from '../hostile/generator.js';

const LONG = process.env.EVENTBUS_LONG === '1';
const forcedSeed = process.env.EVENTBUS_TEST_SEED;
const SEED = forcedSeed !== undefined && forcedSeed !== '' ? Number(forcedSeed) : Math.floor(Math.random() * 2 ** 31);
const LIMITS = { maxMarkEventIds: 1000 };
t.comment(`seed ${SEED} (replay: EVENTBUS_TEST_SEED=${SEED})`);

/** What the general path makes of a line, in the fast path's terms; null unless an accepted write_event. */
function general(line: Buffer): DecodedWriteEvent | null {
  const decoded = decodeLine(line);
  if (!decoded.ok || decoded.envelope.operation !== 'write_event') return null;
  try {
    const request = parseRequest(decoded.envelope, LIMITS);
    if (request.operation !== 'write_event') return null;
    return { request, requestIdJson: decoded.envelope.requestIdJson, credentials: decoded.envelope.credentials };
  } catch {
    return null;
  }
}

function plain(d: DecodedWriteEvent | null): unknown {
  if (d === null) return null;
  return { streamName: d.request.streamName, event: d.request.event.toString('latin1'), requestIdJson: d.requestIdJson, credentials: d.credentials };
}

/** Checks one line; returns whether the fast path answered it. */
function check(t: Test, line: Buffer, label: string): boolean {
  const fast = decodeWriteEventLine(line);
  if (fast === null) return false;
  const expected = general(line);
  if (expected === null) {
    t.fail(`the fast path accepted a line the general path refuses (${label}): ${JSON.stringify(line.toString('latin1'))}`);
    return true;
  }
  const same = JSON.stringify(plain(fast)) === JSON.stringify(plain(expected));
  if (!same) t.same(plain(fast), plain(expected), `${label}: ${JSON.stringify(line.toString('latin1'))}`);
  return true;
}

const TYPICAL = [
  '{"operation":"write_event","body":{"stream_name":"orders","event":{"total":12.5}}}',
  '{"operation": "write_event", "body": {"stream_name": "orders", "event": {"total": 12.50, "items": [1, 2, {"a": null}]}}}',
  '{"body":{"event":"x","stream_name":"s"},"operation":"write_event","request_id":"r-1"}',
  '{"operation":"write_event","request_id":12345678901234567890,"body":{"stream_name":"s","event":[]}}',
  '{"operation":"write_event","request_id":-1.5e3,"body":{"stream_name":"s","event":null}}',
  '{"operation":"write_event","request_id":null,"auth":null,"body":{"stream_name":"s","event":true}}',
  '{"operation":"write_event","auth":{"client_id":"id","client_secret":"secret"},"body":{"stream_name":"s","event":{"n":1}}}',
  '{"operation":"write_event","auth":{"client_id":null},"body":{"stream_name":"s","event":{}}}',
  '{"operation":"write_event","auth":{},"body":{"stream_name":"s","event":0}}',
  '{"operation":"write_event","body":{"stream_name":"s","event":"caf\\u00e9 \\"q\\" \\\\ \\/ \\b\\f\\n\\r\\t"}}',
  '{"operation":"write_event","body":{"stream_name":"żółw","event":{"name":"日本語 🐢"}}}',
  '{"operation":"write_event","request_id":"\\u0041\\n","body":{"stream_name":"a\\u00e9b","event":1}}',
  '{"operation":"write_event","body":{"stream_name":"s","event":{"a":1}},"other":{"x":[true,false]}}',
  '{"operation":"write_event","body":{"stream_name":"first","event":1,"stream_name":"second","event":2}}',
  ' \t{ "operation" : "write_event" , "body" : { "stream_name" : "s" , "event" : { "k" : [ 1 , 2 ] } } } \r',
  '{"__proto__":{"x":1},"operation":"write_event","body":{"stream_name":"s","event":{"__proto__":{}}}}',
  `{"operation":"write_event","body":{"stream_name":"s","event":${'['.repeat(MAX_DEPTH)}${']'.repeat(MAX_DEPTH)}}}`,
];

t.test('the lines clients send take the fast path, with the general path\'s result', async (t) => {
  for (const text of TYPICAL) t.ok(check(t, Buffer.from(text), 'typical'), `fast: ${text.slice(0, 100)}`);
});

t.test('everything the general path refuses, and the unusual, is left to it', async (t) => {
  const refused = [
    '', '{}', '[]', 'null', '{"operation":"write_event"}', '{"operation":"write_event","body":null}',
    '{"operation":"write_event","body":{"stream_name":"s"}}', '{"operation":"write_event","body":{"event":1}}',
    '{"operation":"write_event","body":{"stream_name":1,"event":1}}', '{"operation":"write_event","body":{"stream_name":null,"event":1}}',
    '{"operation":"write_event","body":[],"x":1}', '{"operation":"health","body":{"stream_name":"s","event":1}}',
    '{"operation":"write_event","operation":"health","body":{"stream_name":"s","event":1}}',
    '{"operation":"write_event","request_id":true,"body":{"stream_name":"s","event":1}}',
    '{"operation":"write_event","request_id":{},"body":{"stream_name":"s","event":1}}',
    '{"operation":"write_event","auth":"x","body":{"stream_name":"s","event":1}}',
    '{"operation":"write_event","auth":{"client_id":1},"body":{"stream_name":"s","event":1}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":1}} x',
    '{"operation":"write_event","body":{"stream_name":"s","event":01}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":1.}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":"\\x"}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":"\\u12"}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":[1,]}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":{"a":1,}}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":tru}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":1},"body":{"stream_name":"s"}}',
    `{"operation":"write_event","body":{"stream_name":"s","event":${'['.repeat(MAX_DEPTH + 2)}${']'.repeat(MAX_DEPTH + 2)}}}`,
    '{"oper\\u0061tion":"write_event","body":{"stream_name":"s","event":1}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":"a\tb"}}',
    // Body members other than stream_name and event: the general path reads them (a field a later
    // protocol adds, such as an expected version, must never be dropped by the fast path).
    '{"operation":"write_event","body":{"stream_name":"s","event":{"a":1},"extra":[1,{"b":"c"}]}}',
    '{"operation":"write_event","body":{"__proto__":1,"stream_name":"s","event":1}}',
    '{"operation":"write_event","body":{"stream_name":"s","event":1,"expected_version":3,"key":"k"}}',
  ];
  for (const text of refused) t.equal(decodeWriteEventLine(Buffer.from(text)), null, text.slice(0, 100));
  const invalidUtf8 = Buffer.concat([Buffer.from('{"operation":"write_event","body":{"stream_name":"s","event":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]);
  t.equal(decodeWriteEventLine(invalidUtf8), null, 'invalid UTF-8 inside a string');
  t.same(general(Buffer.from(refused[4]!)), null, 'the general path refuses them too');
});

const PIECES = [
  '{', '}', '[', ']', ',', ':', '"', '\\', ' ', '\t', '\r', '0', '-', '.', 'e', 'E', '+', '1', 'a', 'n', 'null', 'true', 'false',
  '\\u00e9', '\\"', '\\\\', '\\u', '"event":', '"stream_name":', '"body":', '"operation":', '"request_id":', '"auth":', '"client_id":',
  '"write_event"', 'é', '🐢', '{"a":[1,{"b":null}]}',
];
const RAW_BYTES = [[0xc3, 0x28], [0x80], [0xff], [0xed, 0xa0, 0x80], [0x00], [0x1f], [0xe2, 0x82]];

function mutate(r: Random, base: Buffer): Buffer {
  let line = base;
  const edits = r.int(1, 4);
  for (let k = 0; k < edits; k++) {
    const at = r.int(0, line.length);
    const choice = r.int(0, 3);
    const insert = r.chance(0.15) ? Buffer.from(r.pick(RAW_BYTES)) : Buffer.from(r.pick(PIECES));
    if (choice === 0) line = Buffer.concat([line.subarray(0, at), insert, line.subarray(at)]);
    else if (choice === 1) line = Buffer.concat([line.subarray(0, at), line.subarray(Math.min(line.length, at + r.int(1, 3)))]);
    else line = Buffer.concat([line.subarray(0, at), insert, line.subarray(Math.min(line.length, at + insert.length))]);
  }
  return line;
}

t.test('mutated write_event lines: the fast path never disagrees with the general path', async (t) => {
  const r = seededRandom(SEED);
  const rounds = LONG ? 2_000_000 : 100_000;
  let fast = 0;
  for (let i = 0; i < rounds; i++) {
    const base = Buffer.from(r.pick(TYPICAL));
    if (check(t, r.chance(0.1) ? base : mutate(r, base), `mutation ${i}`)) fast++;
  }
  t.ok(fast > rounds / 50, `the fast path answered ${fast} of ${rounds}`);
});

t.test('the hostile fuzzer\'s lines: the fast path never disagrees with the general path', async (t) => {
  const r = seededRandom(SEED + 1);
  const generator = new CaseGenerator(r, {
    state: { streams: new Set(['fz']), consumers: new Set(['default']), client: { id: 'id', secret: 'secret' }, maxEventBytes: 1 << 20, maxMarkEventIds: 1000 },
    stream: 'fz',
    eventIds: ['00000001-0001-8800-8000-000000000000'],
    maxLineBytes: 256 * 1024,
  });
  const rounds = LONG ? 500_000 : 20_000;
  let fast = 0;
  for (let i = 0; i < rounds; i++) if (check(t, generator.next().line, `fuzz case ${i}`)) fast++;
  t.ok(fast > 0, `the fast path answered ${fast} of ${rounds}`);
});
