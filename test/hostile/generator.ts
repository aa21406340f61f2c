/**
 * The seeded generator of the protocol fuzzer: request lines of every hostile kind, each with
 * the answer the oracle (oracle.ts) says it must get. Lines that would change the server's fixed
 * state (create a stream or a consumer, delete, snapshot, exit) are drawn again.
 *
 * Kinds: random bytes, JSON token soup, truncated lines, invalid JSON, invalid UTF-8, mutations
 * of valid requests, wrong types for every field of every operation, missing fields, `__proto__`
 * / `constructor` / `prototype` keys anywhere, deep nesting (up to 100,000 levels), huge numbers,
 * huge strings (up to the line limit), envelope oddities, blank lines and valid requests.
 */
import type { Random } from '../helpers/random.js';
import { OPERATIONS, REQUIRED, expect, type Expectation, type OracleState } from './oracle.js';

export interface GeneratorSetup {
  state: OracleState;
  /** The stream valid requests use. */
  stream: string;
  /** Ids of events written to it before the run (valid mark_event targets). */
  eventIds: readonly string[];
  /** Longest line to generate (the server's max_line_bytes: longer lines close the connection). */
  maxLineBytes: number;
}

export interface FuzzCase {
  kind: string;
  /** The line, without `\n` (never contains one). */
  line: Buffer;
  /** What it must get; 'blank': no response at all. */
  verdict: Expectation | 'blank';
}

/** Every field a body may carry, per operation (docs/protocol.md), for wrong-type cases. */
export const BODY_FIELDS: Readonly<Record<string, readonly string[]>> = {
  create_stream: ['stream_name'],
  delete_stream: ['stream_name'],
  get_stream_info: ['stream_name'],
  get_stream_events: ['stream_name', 'from_offset', 'max_events', 'consumer'],
  write_event: ['stream_name'],
  process_events: ['stream_name', 'consumer', 'max_events', 'wait_ms', 'auto_ack'],
  retry_events: ['stream_name', 'consumer', 'max_events'],
  mark_event: ['event_id', 'event_ids', 'status', 'consumer'],
  snapshot_db: ['output'],
};

/** Values of the wrong type for some field (JSON texts). `null` is left out: it means absent. */
export const WRONG_VALUES = [
  'true', 'false', '0', '-1', '1.5', '1e999', '-1e999', '"x"', '""', '[]', '["x"]', '[1]', '{}', '{"__proto__":{"polluted":1}}',
  '12345678901234567890', '"1"', '[[[[[[[[[[]]]]]]]]]]', '{"a":{"b":{}}}',
];

/** Huge and odd numbers (JSON texts). */
export const HUGE_NUMBERS = [
  '1e999', '-1e999', '1e308', '1.7976931348623157e308', '5e-324', '1e-400', '-0', '0.0', '1.0', '1e0', '1E+2',
  '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740993', '18446744073709551616',
  '123456789012345678901234567890', `1${'0'.repeat(400)}`, `0.${'0'.repeat(500)}1`, `-${'9'.repeat(1000)}`, '256', '255', '3', '-1',
];

const INVALID_UTF8: readonly number[][] = [
  [0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xf4, 0x90, 0x80, 0x80],
  [0xf5, 0x80, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xff], [0xfe], [0xc3], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3, 0x28],
];

const INVALID_JSON = [
  'not json', '{', '}', '{"operation":"health"', '{"operation":"health"}}', '{"operation":"health"} x', '{"operation":"health"}{"operation":"health"}',
  "{'operation':'health'}", '{operation:"health"}', '{"operation":"health",}', '{"operation":NaN}', '{"operation":Infinity}', '{"operation":undefined}',
  '{"operation":"health"} // c', '/* c */ {"operation":"health"}', '\ufeff{"operation":"health"}', '[]', '[{"operation":"health"}]', '"health"',
  '123', 'null', 'true', '{"operation":"he\u0001alth"}', '{"operation":"\\x41"}', '{"operation":"\\u12"}', '{"a":01}', '{"a":.5}', '{"a":1.}',
  '{"a":+1}', '{"a":0x10}', '{"a":"\t"}', '{"a" "b"}', '{"a":1 "b":2}', '{,}', '{"a":[1,]}', '{"a":tru}', '{"a":nul}', '\u0000',
  '{"operation":"health"}\u0000', '{"operation":"health"}\u000b', '{"operation":"health"}\u00a0', '{"operation":"health"}\u2028',
];

const BLANKS = ['', ' ', '\t', '   \t  ', '\r', ' \r', '\t\r'];

/** Streams, names and consumers that are close to the real ones. */
const ODD_NAMES = [
  'nx-missing', '', ' ', 'fz ', ' fz', 'FZ', 'f\u0000z', 'f\nz', 'f\u007fz', 'f\u0085z', '\ud800', '$dlq:fz', '$dlq:', '../fz', '/etc/passwd', 'a/b', '..', '.',
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'fz\u200b', 'ｆｚ', 'a／b', 'x'.repeat(255), 'x'.repeat(256), 'é'.repeat(128),
];

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];
const PROTO_VALUES = [
  '{"polluted":1}', '{"prototype":{"polluted":1}}', '{"__proto__":{"polluted":1}}', 'null', '1', '"x"', '[]', '{"toString":1,"valueOf":1,"hasOwnProperty":1}',
];

type Field = [key: string, json: string];

function object(fields: readonly Field[], r: Random): string {
  const spaced = r.chance(0.1);
  const sep = spaced ? ', ' : ',';
  const colon = spaced ? ': ' : ':';
  return `{${fields.map(([k, v]) => `${JSON.stringify(k)}${colon}${v}`).join(sep)}}`;
}

const q = JSON.stringify;

export class CaseGenerator {
  private readonly setup: GeneratorSetup;
  private readonly kinds: [string, number, () => string | Buffer][];
  private readonly totalWeight: number;
  /** Counts of generated cases per kind, discarded draws included under `discarded`. */
  readonly counts: Record<string, number> = {};

  constructor(private readonly r: Random, setup: GeneratorSetup) {
    this.setup = setup;
    this.kinds = [
      ['random-bytes', 6, () => this.randomBytes()],
      ['token-soup', 6, () => this.tokenSoup()],
      ['truncated', 6, () => this.truncated()],
      ['invalid-json', 4, () => r.pick(INVALID_JSON)],
      ['invalid-utf8', 6, () => this.invalidUtf8()],
      ['mutation', 18, () => this.mutation()],
      ['wrong-type', 12, () => this.wrongType()],
      ['missing-fields', 8, () => this.missingFields()],
      ['proto-keys', 8, () => this.protoKeys()],
      ['deep-nesting', 0.6, () => this.deep()],
      ['huge-number', 4, () => this.hugeNumber()],
      ['huge-string', 1.4, () => this.hugeString()],
      ['envelope', 5, () => this.envelope()],
      ['blank', 2, () => r.pick(BLANKS)],
      ['valid', 14, () => this.valid()],
    ];
    this.totalWeight = this.kinds.reduce((sum, [, w]) => sum + w, 0);
  }

  /** The next case (lines the oracle discards are drawn again). */
  next(): FuzzCase {
    for (;;) {
      let roll = this.r.next() * this.totalWeight;
      let kind = this.kinds[this.kinds.length - 1]!;
      for (const candidate of this.kinds) {
        roll -= candidate[1];
        if (roll < 0) {
          kind = candidate;
          break;
        }
      }
      const made = kind[2]();
      let line = typeof made === 'string' ? Buffer.from(made, 'utf8') : made;
      if (line.includes(0x0a)) line = Buffer.from(line.map((b) => (b === 0x0a ? 0x20 : b)));
      if (this.r.chance(0.08)) line = Buffer.concat([line, Buffer.from('\r')]);
      if (line.length > this.setup.maxLineBytes) continue;
      const verdict = expect(line, this.setup.state);
      if (verdict === 'discard') {
        this.counts.discarded = (this.counts.discarded ?? 0) + 1;
        continue;
      }
      this.counts[kind[0]] = (this.counts[kind[0]] ?? 0) + 1;
      return { kind: kind[0], line, verdict };
    }
  }

  // ------------------------------------------------------------------ valid requests

  private envelopeFields(operation: string, body: string | undefined): Field[] {
    const r = this.r;
    const fields: Field[] = [['operation', q(operation)]];
    if (body !== undefined) fields.push(['body', body]);
    const client = this.setup.state.client;
    if (client !== null && r.chance(0.92)) fields.push(['auth', object([['client_id', q(client.id)], ['client_secret', q(client.secret)]], r)]);
    if (r.chance(0.4)) fields.push(['request_id', r.chance(0.5) ? String(r.int(0, 1e9)) : q(`r${r.int(0, 1e6)}\u00e9`)]);
    return r.chance(0.2) ? shuffle(fields, r) : fields;
  }

  private smallEvent(): string {
    const r = this.r;
    return r.pick([
      () => String(r.int(-1e6, 1e6)),
      () => q(`e${r.int(0, 1e9)}`),
      () => '{"a":[1,2,{"b":"c"}],"n":12345678901234567890}',
      () => '{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}',
      () => '"\\u00e9\\ud83d\\ude00 <&> \\u2028"',
      () => 'null',
      () => '[true,false,null,1.0,-0,1E+2]',
      () => `{ "spaced" : [ 1 , 2 ] , "s" : " a  b " }`,
    ])();
  }

  /** A random valid request line (text). */
  validText(): string {
    const r = this.r;
    const stream = this.setup.stream;
    const consumer = (): Field[] => (r.chance(0.5) ? [] : [['consumer', q(r.pick([...this.setup.state.consumers]))]]);
    const ids = this.setup.eventIds;
    const op = r.pick(['health', 'get_stream_info', 'get_stream_events', 'write_event', 'write_event', 'process_events', 'retry_events', 'mark_event', 'mark_event', 'create_stream', 'delete_stream', 'snapshot_db']);
    let body: Field[] | undefined;
    switch (op) {
      case 'health': body = r.chance(0.5) ? undefined : [['ignored', '1']]; break;
      case 'get_stream_info': body = [['stream_name', q(r.chance(0.8) ? stream : r.pick([...this.setup.state.streams]))]]; break;
      case 'get_stream_events': body = [['stream_name', q(stream)], ['from_offset', String(r.int(0, 2000))], ['max_events', String(r.int(1, 4))], ...consumer()]; break;
      case 'write_event': body = [['stream_name', q(stream)], ['event', this.smallEvent()]]; break;
      case 'process_events': body = [['stream_name', q(stream)], ['max_events', String(r.int(1, 4))], ['auto_ack', r.chance(0.7) ? 'true' : 'false'], ['wait_ms', String(r.int(0, 5))], ...consumer()]; break;
      case 'retry_events': body = [['stream_name', q(stream)], ['max_events', String(r.int(1, 4))], ...consumer()]; break;
      case 'mark_event':
        body = r.chance(0.5)
          ? [['event_id', q(r.pick(ids))], ['status', String(r.int(0, 2))], ...consumer()]
          : [['event_ids', q(Array.from({ length: r.int(1, 5) }, () => r.pick(ids)))], ['status', String(r.int(0, 2))], ...consumer()];
        break;
      case 'create_stream': body = [['stream_name', q(stream)]]; break; // exists
      case 'delete_stream': body = [['stream_name', q(`nx-${r.int(0, 1e6)}`)]]; break;
      case 'snapshot_db': body = [['output', q(r.pick(['/tmp/x', '../x', 'a/../../x', 'x\u0000']))]]; break;
    }
    return object(this.envelopeFields(op, body === undefined ? undefined : object(body, r)), r);
  }

  private valid(): string {
    return this.validText();
  }

  // ------------------------------------------------------------------ garbage

  private randomBytes(): Buffer {
    const r = this.r;
    const bytes = r.bytes(r.int(1, r.chance(0.9) ? 200 : 5000));
    if (r.chance(0.3)) bytes[0] = 0x7b; // starts like an object
    return bytes;
  }

  private tokenSoup(): string {
    const r = this.r;
    const tokens = ['{', '}', '[', ']', ':', ',', '"operation"', '"body"', '"stream_name"', '"health"', '"write_event"', `"${this.setup.stream}"`, 'null', 'true', 'false',
      '0', '-1', '1e999', '"x"', '"\\u0000"', ' ', '"__proto__"', '"auth"', '"request_id"', '"event"', '"status"', '1', '"mark_event"', '"event_ids"', '"\\ud800"', '"é"'];
    let out = r.chance(0.8) ? '{' : '';
    for (let i = r.int(0, 30); i > 0; i--) out += r.pick(tokens);
    return out + (r.chance(0.8) ? '}' : '');
  }

  private truncated(): Buffer {
    const line = Buffer.from(this.validText());
    return line.subarray(0, this.r.int(1, line.length - 1));
  }

  private invalidUtf8(): Buffer {
    const r = this.r;
    const line = Buffer.from(this.validText());
    const at = r.chance(0.2) ? line.length : r.int(0, line.length);
    return Buffer.concat([line.subarray(0, at), Buffer.from(r.pick(INVALID_UTF8)), line.subarray(at)]);
  }

  private mutation(): Buffer {
    const r = this.r;
    let bytes = [...Buffer.from(this.validText())];
    for (let n = r.int(1, 4); n > 0; n--) {
      const at = r.int(0, Math.max(0, bytes.length - 1));
      switch (r.int(0, 6)) {
        case 0: bytes[at] = r.int(0, 255); break;
        case 1: bytes.splice(at, 0, r.int(0x20, 0x7e)); break;
        case 2: bytes.splice(at, r.int(1, 8)); break;
        case 3: bytes.splice(at, 0, ...bytes.slice(r.int(0, at), at)); break;
        case 4: bytes[at] = r.pick([0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x5c, 0x30]); break;
        case 5: {
          const other = [...Buffer.from(this.validText())];
          const from = r.int(0, other.length - 1);
          bytes.splice(at, r.int(0, 10), ...other.slice(from, from + r.int(1, 30)));
          break;
        }
        default: bytes = [...Buffer.from(Buffer.from(bytes).toString('latin1').replace(/"[a-z_]+":("[^"]*"|-?\d+|true|false)/, (m) => m.replace(/:.*/, `:${r.pick(WRONG_VALUES)}`)), 'latin1')];
      }
    }
    return Buffer.from(bytes);
  }

  // ------------------------------------------------------------------ fields

  private baseBody(op: string): Map<string, string> {
    const r = this.r;
    const body = new Map<string, string>();
    const stream = this.setup.stream;
    switch (op) {
      case 'create_stream': body.set('stream_name', q(stream)); break;
      case 'delete_stream': body.set('stream_name', q('nx-gone')); break;
      case 'get_stream_info': body.set('stream_name', q(stream)); break;
      case 'get_stream_events': body.set('stream_name', q(stream)).set('max_events', '2'); break;
      case 'write_event': body.set('stream_name', q(stream)).set('event', this.smallEvent()); break;
      case 'process_events': body.set('stream_name', q(stream)).set('max_events', '2').set('auto_ack', 'true'); break;
      case 'retry_events': body.set('stream_name', q(stream)).set('max_events', '2'); break;
      case 'mark_event': body.set('event_id', q(r.pick(this.setup.eventIds))).set('status', '1'); break;
      case 'snapshot_db': body.set('output', q('/abs')); break;
    }
    return body;
  }

  private request(op: string, body: Map<string, string> | string | undefined): string {
    const text = body === undefined || typeof body === 'string' ? body : object([...body], this.r);
    return object(this.envelopeFields(op, text), this.r);
  }

  private wrongType(): string {
    const r = this.r;
    const op = r.pick(Object.keys(BODY_FIELDS));
    const body = this.baseBody(op);
    const field = r.pick(BODY_FIELDS[op]!);
    if (field === 'event_ids') body.delete('event_id');
    body.set(field, r.pick(WRONG_VALUES));
    return this.request(op, body);
  }

  private missingFields(): string {
    const r = this.r;
    const op = r.pick(Object.keys(REQUIRED));
    const choice = r.int(0, 4);
    if (choice === 0) return this.request(op, undefined);
    if (choice === 1) return this.request(op, 'null');
    if (choice === 2) return this.request(op, '{}');
    const body = this.baseBody(op);
    for (const field of REQUIRED[op]!) if (r.chance(0.6)) body.delete(field.name);
    if (r.chance(0.3)) for (const key of [...body.keys()]) if (r.chance(0.5)) body.set(key, 'null');
    return this.request(op, body);
  }

  private protoKeys(): string {
    const r = this.r;
    const key = r.pick(PROTO_KEYS);
    const value = r.pick(PROTO_VALUES);
    const op = r.pick([...OPERATIONS.filter((o) => o !== 'exit')]);
    const where = r.int(0, 7);
    const body = op === 'health' ? new Map<string, string>() : this.baseBody(op);
    const client = this.setup.state.client;
    switch (where) {
      case 0: // the envelope
        return object([[key, value], ...this.envelopeFields(op, object([...body], r))], r);
      case 1: // the body
        body.set(key, value);
        return this.request(op, body);
      case 2: // a body that is only that key
        return this.request(op, object([[key, object([...body], r)]], r));
      case 3: // the auth object, with the real credentials hidden behind the key
        return object([['operation', q(op)], ['body', object([...body], r)], ['auth', object([[key, client === null ? '{}' : object([['client_id', q(client.id)], ['client_secret', q(client.secret)]], r)]], r)]], r);
      case 4: // the event
        return this.request('write_event', new Map([['stream_name', q(this.setup.stream)], ['event', object([[key, value], ['x', '1']], r)]]));
      case 5: // names
        return this.request(r.pick(['get_stream_info', 'create_stream', 'delete_stream', 'write_event', 'get_stream_events']), new Map([['stream_name', q(key)], ['event', '1'], ['consumer', q(r.pick(PROTO_KEYS))]]));
      case 6: // the operation
        return object([['operation', q(r.pick([key, 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf']))], ...this.envelopeFields('health', undefined).slice(1)], r);
      default: // escaped spelling of the key
        return this.request(op, `{"\\u005f_proto__":${value},${object([...body], r).slice(1)}`);
    }
  }

  private deep(): string {
    const r = this.r;
    const depth = r.chance(0.05) ? 100_000 : r.int(100, 5000);
    const array = r.chance(0.5);
    const nested = array ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    const stream = q(this.setup.stream);
    switch (r.int(0, 8)) {
      case 0: return this.request('write_event', `{"stream_name":${stream},"event":${nested}}`);
      case 1: return this.request('get_stream_info', `{"stream_name":${stream},"other":${nested}}`);
      case 2: return this.request('get_stream_info', `{"stream_name":${nested}}`);
      case 3: return `{"operation":"health","request_id":${nested}}`;
      case 4: return `{"operation":"create_stream","auth":{"client_id":${nested}},"body":{"stream_name":${stream}}}`;
      case 5: return `{"operation":${nested}}`;
      case 6: return nested;
      case 7: return '['.repeat(depth); // never closed
      default: return this.request('mark_event', `{"event_ids":${nested},"status":1}`);
    }
  }

  private hugeNumber(): string {
    const r = this.r;
    const number = r.chance(0.02) ? '9'.repeat(r.int(10_000, 100_000)) : r.pick(HUGE_NUMBERS);
    switch (r.int(0, 3)) {
      case 0: return object([['operation', '"health"'], ['request_id', number]], r);
      case 1: return this.request('write_event', new Map([['stream_name', q(this.setup.stream)], ['event', r.chance(0.5) ? number : `{"n":${number}}`]]));
      default: {
        const op = r.pick(['get_stream_events', 'process_events', 'retry_events', 'mark_event']);
        const body = this.baseBody(op);
        body.set(r.pick(BODY_FIELDS[op]!.filter((f) => !['stream_name', 'consumer', 'event_id', 'event_ids'].includes(f))), number);
        return this.request(op, body);
      }
    }
  }

  private hugeString(): string {
    const r = this.r;
    const limit = this.setup.maxLineBytes - 400;
    const length = r.chance(0.04) ? r.int(limit - 1000, limit) : r.int(1000, 100_000);
    const text = r.chance(0.5) ? 'x'.repeat(length) : 'é'.repeat(Math.floor(length / 2));
    const s = q(text);
    const client = this.setup.state.client;
    switch (r.int(0, 7)) {
      case 7: return object([['operation', '"get_stream_info"'], ['auth', object([['client_id', q(client?.id ?? 'x')], ['client_secret', s]], r)], ['body', `{"stream_name":${q(this.setup.stream)}}`]], r);
      case 0: return object([['operation', '"health"'], ['request_id', s]], r);
      case 1: return this.request('get_stream_info', new Map([['stream_name', s]]));
      case 2: return this.request('create_stream', new Map([['stream_name', s]]));
      case 3: return this.request('write_event', new Map([['stream_name', q(this.setup.stream)], ['event', s]]));
      case 4: return this.request('mark_event', new Map([['event_id', s], ['status', '1']]));
      case 5: return this.request('get_stream_info', new Map([['stream_name', q(this.setup.stream)], ['padding', s]]));
      default: return object([['operation', s]], r);
    }
  }

  private envelope(): string {
    const r = this.r;
    const client = this.setup.state.client;
    const creds = client === null ? '{}' : object([['client_id', q(client.id)], ['client_secret', q(client.secret)]], r);
    return r.pick([
      () => `{"\\u006fperation":"health"}`,
      () => `{"operation":"h\\u0065alth"}`,
      () => `{"operation":"fly","operation":"health"}`,
      () => `{"operation":"health","operation":"fly"}`,
      () => `{"Operation":"health"}`,
      () => `{"operation":" health"}`,
      () => `{"operation":"HEALTH"}`,
      () => `{"operation":"health\\u0000"}`,
      () => `{"operation":""}`,
      () => `{"operation":null}`,
      () => `{}`,
      () => `{"operation":"ｈｅａｌｔｈ"}`,
      () => `{"operation":"health","request_id":${r.pick(WRONG_VALUES)}}`,
      () => `{"operation":"get_stream_info","auth":${r.pick(['1', '"x"', '[]', 'true', 'null', '{}', '{"client_id":1}', '{"client_secret":[]}', '{"client_id":null,"client_secret":null}'])},"body":{"stream_name":${q(this.setup.stream)}}}`,
      () => `{"operation":"get_stream_info","auth":${creds},"auth":{"client_id":"x","client_secret":"y"},"body":{"stream_name":${q(this.setup.stream)}}}`,
      () => `{"operation":"get_stream_info","auth":{"client_id":"x","client_secret":"y"},"auth":${creds},"body":{"stream_name":${q(this.setup.stream)}}}`,
      () => `{"operation":"get_stream_info","auth":${creds},"body":{"stream_name":${q(r.pick(ODD_NAMES))}}}`,
      () => `{"operation":"create_stream","auth":${creds},"body":{"stream_name":${q(r.pick(ODD_NAMES))}}}`,
      () => `{"operation":"process_events","auth":${creds},"body":{"stream_name":${q(this.setup.stream)},"consumer":${q(r.pick(ODD_NAMES))},"auto_ack":true}}`,
      () => `{"operation":"mark_event","auth":${creds},"body":{"event_id":${q(r.pick(this.setup.eventIds))},"event_ids":[${q(r.pick(this.setup.eventIds))}],"status":1}}`,
      () => `{"operation":"mark_event","auth":${creds},"body":{"event_ids":${q(Array.from({ length: r.pick([1000, 1001, 5000]) }, () => r.pick(this.setup.eventIds)))},"status":1}}`,
      () => `{"operation":"mark_event","auth":${creds},"body":{"event_id":${q(r.pick(this.setup.eventIds).toUpperCase())},"status":1}}`,
      () => `{"operation":"mark_event","auth":${creds},"body":{"event_id":${q(r.pick(this.setup.eventIds))},"status":${r.pick(['3', '255', '256', '1.0', '1e0', '"1"', '-0', '01', '2'])}}}`,
    ])();
  }
}

function shuffle<T>(items: T[], r: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
