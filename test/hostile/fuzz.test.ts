/**
 * The seeded protocol fuzzer, against a real server in this process (so that prototypes and
 * memory can be inspected after the run).
 *
 * 100,000 generated lines in `npm test`, 2,000,000 with EVENTBUS_LONG=1 (EVENTBUS_FUZZ_INPUTS
 * overrides), pipelined over 4 connections: random bytes, token soup, truncated and invalid
 * JSON, invalid UTF-8, mutations of valid requests, wrong types and missing fields, `__proto__`
 * / `constructor` / `prototype` keys everywhere, nesting up to 100,000 deep, huge numbers and
 * strings up to the line limit, blank lines and valid requests (generator.ts). Every non-blank
 * line must get exactly one answer, the one the oracle (oracle.ts, written from
 * docs/protocol.md) allows: the documented code, the original's exact reason, context naming
 * the field, request_id echoed as sent. Then: every split of a line across reads, byte by byte;
 * every wrong type of every field and every missing field of every operation (exact lines);
 * nesting and sizes at the limits; no prototype changed; memory back to its baseline.
 *
 * The seed is printed; replay a failure with EVENTBUS_TEST_SEED=<seed>.
 */
import { setImmediate as tick } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import t from 'tap';
import { LineReader } from '../../src/protocol/line-reader.js';
import { seededRandom } from '../helpers/random.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { LineSocket } from '../helpers/server-lines.js';
import { drive, type DriveResult } from './driver.js';
import { BODY_FIELDS, CaseGenerator, WRONG_VALUES, type GeneratorSetup } from './generator.js';
import { REASONS, REQUIRED, type OracleState } from './oracle.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const LONG = process.env.EVENTBUS_LONG === '1';
const INPUTS = Number(process.env.EVENTBUS_FUZZ_INPUTS ?? (LONG ? 2_000_000 : 100_000));
const CONNECTIONS = 4;
const forcedSeed = process.env.EVENTBUS_TEST_SEED;
const SEED = forcedSeed !== undefined && forcedSeed !== '' ? Number(forcedSeed) : Math.floor(Math.random() * 2 ** 31);
const CLIENT = { id: 'fuzz-client-id', secret: 'fuzz-client-secret' };
const AUTH = { client_id: CLIENT.id, client_secret: CLIENT.secret };
const MAX_LINE_BYTES = 5 * 1024 * 1024; // the defaults (docs/protocol.md, Limits)
const MAX_EVENT_BYTES = 1024 * 1024;
const MIB = 1024 * 1024;

// The long run outlasts the runner's per-file timeout (300 s).
if (LONG || INPUTS > 200_000) t.setTimeout(60 * 60_000);

t.comment(`fuzz seed ${SEED} (replay: EVENTBUS_TEST_SEED=${SEED}), ${INPUTS} inputs`);

const PROTOTYPES: [string, object][] = [
  ['Object', Object.prototype], ['Array', Array.prototype], ['Function', Function.prototype], ['String', String.prototype],
  ['Number', Number.prototype], ['Boolean', Boolean.prototype], ['Symbol', Symbol.prototype], ['Map', Map.prototype], ['Set', Set.prototype],
  ['Promise', Promise.prototype], ['Error', Error.prototype], ['RegExp', RegExp.prototype], ['Date', Date.prototype],
  ['Uint8Array', Uint8Array.prototype], ['Buffer', Buffer.prototype], ['JSON', JSON], ['Object (constructor)', Object],
];

/** Every own key of the built-in prototypes, with its descriptor's shape, and each one's prototype. */
function prototypeFingerprint(): string[] {
  const out: string[] = [];
  for (const [name, proto] of PROTOTYPES) {
    out.push(`${name} -> ${String(Object.getPrototypeOf(proto) === null ? 'null' : Object.getPrototypeOf(proto)?.constructor?.name)}`);
    for (const key of Reflect.ownKeys(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, key)!;
      const value = 'value' in d ? (typeof d.value === 'function' ? `function ${d.value.name}` : typeof d.value) : `get:${d.get?.name} set:${d.set?.name}`;
      out.push(`${name}.${String(key)} ${value} w${d.writable} e${d.enumerable} c${d.configurable}`);
    }
  }
  return out;
}

function memory(): NodeJS.MemoryUsage {
  // V8 keeps the subject of the last RegExp match (RegExp.lastMatch, `$_`) until the next match:
  // after a run that ends on a line of megabytes (the generator's mutations, a time field being
  // matched) that one string alone measured 10 MiB (seed 745825335). Not a leak: one string, not
  // one per line; a match on '' releases it so the check measures what the run left behind.
  /(?:)/.exec('');
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage();
}

async function settle(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 50));
    gc();
  }
  return memory();
}

const mb = (bytes: number) => `${(bytes / MIB).toFixed(1)} MiB`;

function report(t: { fail(message: string): void }, label: string, results: DriveResult[]): void {
  for (const result of results) {
    for (const m of result.mismatches) t.fail(`${label}: ${m.kind} line ${m.line} got ${m.response}: ${m.problem} (seed ${SEED})`);
    if (result.moreMismatches > 0) t.fail(`${label}: ${result.moreMismatches} more mismatches (seed ${SEED})`);
  }
}

t.test(`fuzzing the protocol (seed ${SEED})`, async (t) => {
  const before = prototypeFingerprint();
  const server = await serverFor(t, {
    clients: { fuzz: { client_id: CLIENT.id, client_secret: CLIENT.secret } },
    // No dead-lettering: a long run outlives ack_wait × max_deliveries, and the oracle does not
    // model the `$dlq:` streams that would appear (dead letters have suites of their own).
    engineOptions: { fsync: 'never', consumers: { maxWaitMs: 2, maxDeliveries: 0 } },
  });
  const { port } = server;
  const s = await LineSocket.connect(port);
  t.teardown(() => s.close());

  // Names that are also Object.prototype's keys are unknown until created, then ordinary.
  for (const name of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']) {
    t.equal(JSON.stringify(await s.request({ operation: 'get_stream_info', auth: AUTH, body: { stream_name: name } })),
      JSON.stringify({ operation: 'get_stream_info', status: false, reason: `stream '${name}' not found`, code: 'STREAM_NOT_FOUND' }), `${name} is not a stream yet`);
  }
  const streams = ['fz', 'deep', '__proto__', 'constructor', 'prototype', 'toString'];
  for (const name of streams) {
    const created = await s.request({ operation: 'create_stream', auth: AUTH, body: { stream_name: name } });
    t.equal((created.body as { stream: { name: string } } | undefined)?.stream.name, name, `created ${name}`);
  }
  const eventIds: string[] = [];
  for (let i = 0; i < 50; i++) {
    const written = await s.request({ operation: 'write_event', auth: AUTH, body: { stream_name: 'fz', event: { i } } });
    eventIds.push((written.body as { event: { id: string } }).event.id);
  }
  const state: OracleState = {
    streams: new Set(streams),
    consumers: new Set(['default', 'c1', '__proto__', 'constructor']),
    client: CLIENT,
    maxEventBytes: MAX_EVENT_BYTES,
    maxMarkEventIds: 1000,
  };
  const setup: GeneratorSetup = { state, stream: 'fz', eventIds, maxLineBytes: MAX_LINE_BYTES };
  const generators = (seed: number) => Array.from({ length: CONNECTIONS }, (_, i) => new CaseGenerator(seededRandom((seed * 31 + i) >>> 0), setup));
  const run = async (label: string, seed: number, inputs: number) => {
    const gens = generators(seed);
    const per = Math.ceil(inputs / CONNECTIONS);
    const results = await Promise.all(gens.map((g) => drive(port, () => g.next(), per)));
    report(t, label, results);
    return results;
  };

  // Warm-up (code paths compiled, lazily made structures made), then the baseline.
  const authBefore = server.server.stats.authFailures;
  const warm = await run('warm-up', SEED + 1, 8000);
  for (let i = 0; i < 100 && server.server.connectionCount > 1; i++) await new Promise((r) => setTimeout(r, 20));
  const baseline = await settle();

  let peakRss = 0;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 200);
  const started = Date.now();
  const results = await run('fuzz', SEED, INPUTS);
  const seconds = (Date.now() - started) / 1000;
  clearInterval(sampler);
  for (let i = 0; i < 500 && server.server.connectionCount > 1; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(server.server.connectionCount <= 1, 'every fuzzing connection closed before memory is compared');
  const after = await settle();

  const sent = results.reduce((n, r) => n + r.sent, 0);
  const answered = results.reduce((n, r) => n + r.answered, 0);
  const kinds: Record<string, number> = {};
  for (const r of results) for (const [k, n] of Object.entries(r.kinds)) kinds[k] = (kinds[k] ?? 0) + n;
  t.ok(sent >= INPUTS, `${sent} lines sent`);
  t.comment(`fuzz: ${sent} lines in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s), ${answered} answers (the rest blank), over ${CONNECTIONS} connections`);
  t.comment(`fuzz kinds: ${JSON.stringify(kinds)}`);
  const unauthorized = [...warm, ...results].reduce((n, r) => n + r.unauthorized, 0);
  t.equal(server.server.stats.authFailures - authBefore, unauthorized, `every refused credential was counted (${unauthorized})`);

  // Memory: back to the baseline once the connections are closed.
  const grew = (key: keyof NodeJS.MemoryUsage) => after[key] - baseline[key];
  t.comment(`memory baseline: heapUsed ${mb(baseline.heapUsed)}, external ${mb(baseline.external)}, rss ${mb(baseline.rss)}; ` +
    `after: heapUsed ${mb(after.heapUsed)}, external ${mb(after.external)}, rss ${mb(after.rss)}; peak rss during the run ${mb(peakRss)}`);
  // A leak of 100 bytes per line would be 10 MB over 100,000 lines.
  t.ok(grew('heapUsed') < 8 * MIB, `heap back to baseline (grew ${mb(grew('heapUsed'))})`);
  // `external` includes `arrayBuffers` (every Buffer): adding the two would count buffers twice.
  t.ok(grew('external') < 8 * MIB, `buffers back to baseline (grew ${mb(grew('external'))})`);
  // RSS keeps what the allocator and V8 reserved at the peak (lines of up to MAX_LINE_BYTES in
  // flight on every connection, and their copies), so its sanity bound scales with that limit;
  // the leak checks are the heap and buffer ones above.
  const rssBound = 64 * MAX_LINE_BYTES;
  t.ok(grew('rss') < rssBound, `rss within ${mb(rssBound)} of baseline (grew ${mb(grew('rss'))})`);

  // No prototype was touched.
  t.same(prototypeFingerprint(), before, 'built-in prototypes unchanged');
  const probe = {} as Record<string, unknown>;
  t.equal(probe.polluted, undefined, '({}).polluted is undefined');
  t.equal(([] as unknown as Record<string, unknown>).polluted, undefined, '[].polluted is undefined');
  t.equal(Object.getPrototypeOf(JSON.parse('{"__proto__":{"polluted":1}}')), Object.prototype, 'JSON.parse still makes plain objects');

  const health = await s.request({ operation: 'health', request_id: 'alive' });
  t.same(health, { operation: 'health', status: true, request_id: 'alive' }, 'the server is up');
});

t.test('every wrong type of every field, every missing field: the exact answer', async (t) => {
  const { port } = await serverFor(t, { engineOptions: { fsync: 'never', consumers: { maxWaitMs: 1 } } });
  const s = await LineSocket.connect(port);
  t.teardown(() => s.close());
  await s.request({ operation: 'create_stream', body: { stream_name: 's' } });
  const id = ((await s.request({ operation: 'write_event', body: { stream_name: 's', event: 1 } })).body as { event: { id: string } }).event.id;
  const valid: Record<string, Record<string, string>> = {
    create_stream: { stream_name: '"s"' }, delete_stream: { stream_name: '"nx"' }, get_stream_info: { stream_name: '"s"' },
    get_stream_events: { stream_name: '"s"', from_offset: '0', max_events: '1', consumer: '"c"' },
    write_event: { stream_name: '"s"', event: '1' },
    process_events: { stream_name: '"s"', consumer: '"c"', max_events: '1', wait_ms: '0', auto_ack: 'true' },
    retry_events: { stream_name: '"s"', consumer: '"c"', max_events: '1' },
    mark_event: { event_id: JSON.stringify(id), status: '1', consumer: '"c"' },
    snapshot_db: { output: '"/abs"' },
  };
  /** docs/protocol.md: the type of each field. */
  const fits = (field: string, json: string): boolean => {
    const v: unknown = JSON.parse(json);
    switch (field) {
      case 'stream_name': case 'consumer': case 'event_id': case 'output': return typeof v === 'string';
      case 'from_offset': case 'wait_ms': return Number.isSafeInteger(v) && (v as number) >= 0;
      case 'max_events': return Number.isSafeInteger(v) && (v as number) >= 1;
      case 'auto_ack': return typeof v === 'boolean';
      case 'event_ids': return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
      case 'status': return /^(0|[1-9][0-9]{0,2})$/.test(json) && (v as number) <= 255;
    }
    return true;
  };
  const lines: string[] = [];
  const expected: string[] = [];
  const invalid = (op: string, field: string) => `{"operation":"${op}","status":false,"context":{"field":"${field}","expected":`;
  for (const [op, fields] of Object.entries(BODY_FIELDS)) {
    for (const field of fields) {
      for (const wrong of WRONG_VALUES) {
        if (fits(field, wrong)) continue;
        const body = { ...valid[op]! };
        if (field === 'event_ids') delete body.event_id;
        body[field] = wrong;
        lines.push(`{"operation":"${op}","body":{${Object.entries(body).map(([k, v]) => `"${k}":${v}`).join(',')}},"request_id":${lines.length}}`);
        expected.push(`${invalid(op, field)}|"reason":"${REASONS.INVALID_FIELD}","code":"INVALID_FIELD","request_id":${expected.length}}`);
      }
    }
  }
  // The envelope's fields.
  const add = (line: string, op: string, field: string) => {
    lines.push(line);
    expected.push(`${invalid(op, field)}|"reason":"${REASONS.INVALID_FIELD}","code":"INVALID_FIELD"}`);
  };
  for (const wrong of WRONG_VALUES) {
    const v: unknown = JSON.parse(wrong);
    if (typeof v !== 'string') add(`{"operation":${wrong}}`, 'decode_request', 'operation');
    if (typeof v !== 'string' && typeof v !== 'number') add(`{"operation":"health","request_id":${wrong}}`, 'decode_request', 'request_id');
    if (typeof v !== 'object' || Array.isArray(v)) add(`{"operation":"health","auth":${wrong}}`, 'decode_request', 'auth');
    if (typeof v !== 'string') {
      add(`{"operation":"get_stream_info","auth":{"client_id":${wrong}}}`, 'decode_request', 'auth.client_id');
      add(`{"operation":"get_stream_info","auth":{"client_secret":${wrong}}}`, 'decode_request', 'auth.client_secret');
    }
    if (typeof v !== 'object' || Array.isArray(v)) {
      for (const op of Object.keys(REQUIRED)) add(`{"operation":"${op}","body":${wrong}}`, op, 'body');
    }
  }
  // Every subset of the required fields missing (absent or null), and no body at all.
  for (const [op, required] of Object.entries(REQUIRED)) {
    const missingLine = (fields: readonly { name: string }[]) =>
      `{"operation":"${op}","status":false,"context":${JSON.stringify({ body: fields })},"reason":"${REASONS.MISSING_FIELDS}","code":"MISSING_FIELDS"}`;
    for (const body of ['', ',"body":null', ',"body":{}']) {
      lines.push(`{"operation":"${op}"${body}}`);
      expected.push(missingLine(required));
    }
    for (let mask = 1; mask < 1 << required.length; mask++) {
      const gone = required.filter((_, i) => mask & (1 << i));
      for (const asNull of [false, true]) {
        const body = { ...valid[op]! };
        for (const f of gone) {
          if (asNull && f.name !== 'event') body[f.name] = 'null';
          else delete body[f.name];
        }
        lines.push(`{"operation":"${op}","body":{${Object.entries(body).map(([k, v]) => `"${k}":${v}`).join(',')}}}`);
        expected.push(missingLine(gone));
      }
    }
  }
  s.write(lines.join('\n') + '\n');
  const answers = await s.readLines(lines.length, 10_000);
  let exact = 0;
  for (let i = 0; i < lines.length; i++) {
    const want = expected[i]!;
    const got = answers[i]!;
    const ok = want.includes('|') ? got.startsWith(want.split('|')[0]!) && got.endsWith(`},${want.split('|')[1]!}`) : got === want;
    if (ok) exact += 1;
    else t.fail(`${lines[i]!.slice(0, 300)} got ${got.slice(0, 300)}, expected ${want.slice(0, 300)}`);
  }
  t.equal(exact, lines.length, `${lines.length} wrong-type and missing-field lines, each answered exactly`);
  t.equal(s.unread, '', 'nothing more');
});

t.test('a line split across reads at every byte, and sent byte by byte, gets the same single answer', async (t) => {
  const { port } = await serverFor(t, { engineOptions: { fsync: 'never' } });
  // Count the chunks the server's line readers receive: proof the splits arrived as splits.
  let pushes = 0;
  const push = LineReader.prototype.push;
  LineReader.prototype.push = function (this: LineReader, chunk: Buffer) {
    pushes += 1;
    push.call(this, chunk);
  };
  t.teardown(() => void (LineReader.prototype.push = push));
  const s = await LineSocket.connect(port);
  t.teardown(() => s.close());
  await s.request({ operation: 'create_stream', body: { stream_name: 'split' } });
  const send = (bytes: Buffer) => new Promise<void>((resolve) => s.socket.write(bytes, () => resolve()));
  const arrive = async () => {
    await tick();
    await tick();
    await new Promise((r) => setTimeout(r, 1));
  };

  const cases: [Buffer, string][] = [
    [Buffer.from('{"operation":"health","request_id":"é😀\u2028 ok"}\r\n'), '{"operation":"health","status":true,"request_id":"é😀\u2028 ok"}'],
    [Buffer.concat([Buffer.from('{"operation":"health","x":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}\n')]), `{"operation":"decode_request","status":false,"reason":"${REASONS.INVALID_UTF8}","code":"INVALID_UTF8"}`],
    [Buffer.from('{"operation":"mark_event","body":{"event_id":"x","status":7}}\n'), `{"operation":"mark_event","status":false,"context":{"field":"status"},"reason":"${REASONS.INVALID_STATUS}","code":"INVALID_STATUS"}`],
    [Buffer.from('  {"operation": "get_stream_info", "body": {"stream_name": "nope-é"}}  \r\n'), `{"operation":"get_stream_info","status":false,"reason":"stream 'nope-é' not found","code":"STREAM_NOT_FOUND"}`],
  ];
  let splits = 0;
  let right = 0;
  const pushesBefore = pushes;
  for (const [bytes, answer] of cases) {
    for (let k = 1; k < bytes.length; k++) {
      await send(bytes.subarray(0, k));
      await arrive();
      await send(bytes.subarray(k));
      const got = await s.readLine();
      if (got === answer) right += 1;
      else t.fail(`${JSON.stringify(bytes.toString('latin1'))} split at ${k}: ${got}`);
      splits += 1;
    }
  }
  t.equal(right, splits, `${splits} lines split at every byte, each answered once, exactly`);
  t.ok(pushes - pushesBefore >= 2 * splits * 0.95, `the server read the halves separately (${pushes - pushesBefore} reads for ${splits} split lines)`);

  // A write_event whose event has multi-byte characters, split everywhere: stored byte for byte.
  const event = '{"é":"😀\\u00e9","n":12345678901234567890,"a":[1.0,-0]}';
  const write = Buffer.from(`{"operation":"write_event","body":{"stream_name":"split","event":${event}}}\n`);
  for (let k = 1; k < write.length; k++) {
    await send(write.subarray(0, k));
    await arrive();
    await send(write.subarray(k));
    const answer = JSON.parse(await s.readLine());
    if (answer.status !== true) t.fail(`split at ${k}: ${JSON.stringify(answer)}`);
  }
  s.write('{"operation":"get_stream_events","body":{"stream_name":"split","max_events":10000}}\n');
  const page = await s.readLine();
  t.equal(page.split(`"body":${event},`).length - 1, write.length - 1, `all ${write.length - 1} split writes stored byte for byte`);

  // Byte by byte.
  const line = Buffer.from('{"operation":"get_stream_info","body":{"stream_name":"split"},"request_id":"byte-by-byte é"}\r\n');
  const before = pushes;
  for (let i = 0; i < line.length; i++) {
    await send(line.subarray(i, i + 1));
    await arrive();
  }
  const info = JSON.parse(await s.readLine());
  t.equal(info.request_id, 'byte-by-byte é');
  t.equal(info.body.stream.event_count, write.length - 1);
  t.ok(pushes - before >= line.length * 0.95, `${pushes - before} reads for ${line.length} bytes`);

  // Random three-way splits of three pipelined requests.
  const r = seededRandom(SEED);
  const three = Buffer.from('{"operation":"health","request_id":1}\n{"operation":"health","request_id":2}\r\n\n  \n{"operation":"health","request_id":3}\n');
  const want = [1, 2, 3].map((n) => `{"operation":"health","status":true,"request_id":${n}}`).join('\n');
  let threeRight = 0;
  for (let i = 0; i < 100; i++) {
    const a = r.int(1, three.length - 2);
    const b = r.int(a + 1, three.length - 1);
    for (const part of [three.subarray(0, a), three.subarray(a, b), three.subarray(b)]) {
      await send(part);
      await arrive();
    }
    const got = (await s.readLines(3)).join('\n');
    if (got === want) threeRight += 1;
    else t.fail(`split at ${a}, ${b}: ${got}`);
  }
  t.equal(threeRight, 100, '100 random three-way splits of three pipelined requests and blank lines');
  t.equal(s.unread, '');
});

t.test('nesting and sizes up to the limits and past them', async (t) => {
  const { port, server } = await serverFor(t, { engineOptions: { fsync: 'never' } });
  const s = await LineSocket.connect(port);
  t.teardown(() => s.close());
  await s.request({ operation: 'create_stream', body: { stream_name: 'deep' } });
  const exchange = async (line: string) => {
    s.write(`${line}\n`);
    return s.readLine(20_000);
  };
  const invalidField = (op: string, field: string) => new RegExp(`^\\{"operation":"${op}","status":false,"context":\\{"field":"${field.replace('.', '\\.')}","expected":"[^"]+"\\},"reason":"invalid json provided","code":"INVALID_FIELD"\\}$`);

  // 100,000 deep in the event: stored and returned byte for byte; and up to what fits in a line.
  const deepest = Math.floor((MAX_LINE_BYTES - 100) / 2);
  for (const depth of [100_000, Math.floor(MAX_EVENT_BYTES / 2)]) {
    const event = '['.repeat(depth) + ']'.repeat(depth);
    t.equal(JSON.parse(await exchange(`{"operation":"write_event","body":{"stream_name":"deep","event":${event}}}`)).status, true, `a ${depth}-deep event is stored`);
    const objects = Math.floor(depth / 5);
    const objectEvent = '{"a":'.repeat(objects) + 'null' + '}'.repeat(objects);
    t.equal(JSON.parse(await exchange(`{"operation":"write_event","body":{"stream_name":"deep","event":${objectEvent}}}`)).status, true, `a ${objects}-deep object is stored`);
  }
  const page = await exchange('{"operation":"get_stream_events","body":{"stream_name":"deep","max_events":1}}');
  t.ok(page.includes(`"body":${'['.repeat(100_000)}${']'.repeat(100_000)},"offset":0`), 'the 100,000-deep event comes back as written');
  const nested = '['.repeat(100_000) + ']'.repeat(100_000);
  t.equal(await exchange(`{"operation":"get_stream_info","body":{"stream_name":"deep","other":${nested}}}`).then((l) => JSON.parse(l).status), true, 'deep unknown keys are ignored');
  t.match(await exchange(`{"operation":"get_stream_info","body":{"stream_name":${nested}}}`), invalidField('get_stream_info', 'stream_name'));
  t.match(await exchange(`{"operation":"health","request_id":${nested}}`), invalidField('decode_request', 'request_id'));
  t.match(await exchange(`{"operation":"health","auth":{"client_id":${nested}}}`), invalidField('decode_request', 'auth.client_id'));
  t.match(await exchange(`{"operation":"mark_event","body":{"event_ids":${nested},"status":1}}`), invalidField('mark_event', 'event_ids'));
  t.equal(await exchange('['.repeat(deepest) + ']'.repeat(deepest)), `{"operation":"decode_request","status":false,"context":{"position":0,"expected":"a JSON object: one request per line","found":"'['"},"reason":"invalid json provided","code":"INVALID_JSON"}`, `${deepest} deep at the top: not an object`);
  const unclosed = '{"a":'.repeat(Math.floor(deepest / 5));
  t.equal(await exchange(unclosed), `{"operation":"decode_request","status":false,"context":{"position":${unclosed.length},"expected":"a value (object, array, string, number, true, false or null)","found":"the end of the line"},"reason":"invalid json provided","code":"INVALID_JSON"}`, 'deep and never closed: located without recursion');

  // Events at the size limit, and one byte over.
  const event = (bytes: number) => JSON.stringify('x'.repeat(bytes - 2));
  t.equal(JSON.parse(await exchange(`{"operation":"write_event","body":{"stream_name":"deep","event":${event(MAX_EVENT_BYTES)}}}`)).status, true, 'an event of exactly max_event_bytes is stored');
  const over = JSON.parse(await exchange(`{"operation":"write_event","body":{"stream_name":"deep","event":${event(MAX_EVENT_BYTES + 1)}}}`));
  t.same([over.status, over.code, over.reason], [false, 'EVENT_TOO_LARGE', `event is ${MAX_EVENT_BYTES + 1} bytes, the limit is ${MAX_EVENT_BYTES}`]);
  const spaced = JSON.parse(await exchange(`{"operation":"write_event","body":{"stream_name":"deep","event":[${' '.repeat(2000)}${event(MAX_EVENT_BYTES - 2)}${' '.repeat(2000)}]}}`));
  t.equal(spaced.status, true, 'whitespace outside strings does not count');

  // Huge numbers: refused where an integer is wanted, kept as written in events and request ids.
  for (const n of ['1e999', '-1e999', '9007199254740992', `1${'0'.repeat(1000)}`, '1.5', '-1']) {
    t.match(await exchange(`{"operation":"get_stream_events","body":{"stream_name":"deep","from_offset":${n}}}`), invalidField('get_stream_events', 'from_offset'), `from_offset ${n.slice(0, 20)}`);
  }
  const digits = '9'.repeat(500_000);
  const huge = JSON.parse(await exchange(`{"operation":"write_event","body":{"stream_name":"deep","event":{"n":${digits}}},"request_id":${digits}}`).then((l) => l.replace(digits, '1')));
  t.same([huge.status, huge.request_id], [true, 1], 'a 500,000-digit number is stored, and echoed as request_id as written');
  t.equal(await exchange('{"operation":"health","request_id":1e999}'), '{"operation":"health","status":true,"request_id":1e999}', 'request_id 1e999 is echoed as sent (JSON, not Infinity)');
  t.equal(await exchange('{"operation":"health","request_id":12345678901234567890}'), '{"operation":"health","status":true,"request_id":12345678901234567890}');

  // A line of exactly max_line_bytes (with and without \r) is a request; one byte more closes the connection.
  const head = '{"operation":"health","request_id":"exact","pad":"';
  const exact = head + 'p'.repeat(MAX_LINE_BYTES - head.length - 2) + '"}';
  t.equal(Buffer.byteLength(exact), MAX_LINE_BYTES);
  t.equal(await exchange(exact), '{"operation":"health","status":true,"request_id":"exact"}', 'a line of exactly max_line_bytes');
  t.equal(await exchange(`${exact}\r`), '{"operation":"health","status":true,"request_id":"exact"}', 'and with \\r\\n');
  const longStream = 'n'.repeat(MAX_LINE_BYTES - 80);
  const notFound = await exchange(`{"operation":"get_stream_info","body":{"stream_name":"${longStream}"}}`);
  t.equal(notFound, `{"operation":"get_stream_info","status":false,"reason":"stream '${longStream}' not found","code":"STREAM_NOT_FOUND"}`, 'a 1 MiB name gets its exact reason');
  const closes = await LineSocket.connect(port);
  t.teardown(() => closes.close());
  closes.write(`${exact}x\n`);
  t.equal(await closes.readLine(), `{"operation":"decode_request","status":false,"reason":"request line longer than ${MAX_LINE_BYTES} bytes; closing the connection","code":"LINE_TOO_LONG"}`);
  t.ok(await closes.closesWithin(5000), 'then the connection closes');
  t.equal(server.stats.linesTooLong, 1);
  t.equal(await exchange('{"operation":"health"}'), '{"operation":"health","status":true}', 'others are unaffected');
});
