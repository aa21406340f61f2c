/**
 * The fuzzer's oracle: what the server must answer to a request line, worked out from
 * docs/protocol.md alone (it shares no code with src/protocol), and a check of a response line
 * against it.
 *
 * The oracle knows the fuzz server's fixed state (its streams, the consumers that may exist, the
 * configured client) and refuses lines that would change that state beyond writing events and
 * delivering them ('discard': creating streams or consumers, deleting streams, snapshots, exit),
 * so that every other line's answer is known: exactly one line, the documented code, the
 * original's exact reason where the docs fix it, `context` naming the field, `request_id`
 * echoed as sent.
 */

/** An answer the server may give. */
export type Outcome =
  | { ok: true; line?: string }
  | {
      ok: false;
      code: string;
      /** The reason exactly (one of these when an array). */
      reason?: string | readonly string[];
      /** context.field (one of these when an array). */
      field?: string | readonly string[];
      /** context.body exactly (MISSING_FIELDS). */
      missing?: readonly RequiredField[];
    };

export interface Expectation {
  /** The response's `operation`. */
  operation: string;
  /** The request_id to echo: its JSON value and the line it came from; null: none. */
  requestId: { value: string | number; line: string } | null;
  /** The response must match one of these. */
  outcomes: Outcome[];
}

export interface RequiredField {
  name: string;
  type: string;
  required: true;
}

/** What the oracle knows about the server under test. */
export interface OracleState {
  /** Names of the streams that exist (the fuzzer never creates or deletes any). */
  streams: ReadonlySet<string>;
  /** Consumers the fuzzer lets requests create (on any stream). */
  consumers: ReadonlySet<string>;
  /** The one configured client, or null when the server needs no credentials. */
  client: { id: string; secret: string } | null;
  maxEventBytes: number;
  maxMarkEventIds: number;
}

export const OPERATIONS = [
  'health', 'create_stream', 'delete_stream', 'get_stream_info', 'get_stream_events', 'write_event',
  'process_events', 'retry_events', 'mark_event', 'snapshot_db', 'list_streams', 'exit',
] as const;

/**
 * Every operation the server knows, in its order: OPERATIONS plus `append_events` (issue 12)
 * and issue 13's (subscribe, unsubscribe, set_stream_retention, truncate_stream), which this
 * oracle does not model (the generator never sends them; their own tests are in test/sourcing,
 * test/server/subscribe.test.ts and reads-and-settings.test.ts).
 */
const KNOWN_OPERATIONS = [...OPERATIONS.slice(0, -1), 'append_events', 'subscribe', 'unsubscribe', 'set_stream_retention', 'truncate_stream', 'exit'];

export const REASONS = {
  INVALID_JSON: 'invalid json provided',
  INVALID_UTF8: 'invalid json provided: the request line is not valid UTF-8',
  UNKNOWN_OPERATION: `operation must be one of: '${KNOWN_OPERATIONS.join("', '")}'`,
  MISSING_FIELDS: 'missing required fields',
  INVALID_FIELD: 'invalid json provided',
  UNAUTHORIZED: 'unauthorized to make request',
  INVALID_STATUS: "status must be one of: 0 - unprocessed', '1 - processed', '2 - retry",
} as const;

export const streamNotFound = (name: string) => `stream '${name}' not found`;
export const streamExists = (name: string) => `stream: '${name}' already exists`;
export const eventNotFound = (id: string) => `event '${id}' not found`;

const STREAM_NAME: RequiredField = { name: 'stream_name', type: 'string', required: true };
/** docs/protocol.md, MISSING_FIELDS: the required fields of each operation, in the original's order. */
export const REQUIRED: Readonly<Record<string, readonly RequiredField[]>> = {
  create_stream: [STREAM_NAME],
  delete_stream: [STREAM_NAME],
  get_stream_info: [STREAM_NAME],
  get_stream_events: [STREAM_NAME],
  write_event: [STREAM_NAME, { name: 'event', type: '[]byte', required: true }],
  process_events: [STREAM_NAME],
  retry_events: [STREAM_NAME],
  mark_event: [{ name: 'event_id', type: 'string', required: true }, { name: 'status', type: 'uint8', required: true }],
  snapshot_db: [{ name: 'output', type: 'string', required: true }],
};

/** Codes a fuzzed line may get; anything else (INTERNAL, storage failures, connection-level codes) is a bug. */
export const FUZZ_CODES = new Set([
  'INVALID_JSON', 'INVALID_UTF8', 'UNKNOWN_OPERATION', 'MISSING_FIELDS', 'INVALID_FIELD', 'UNAUTHORIZED',
  'STREAM_NOT_FOUND', 'STREAM_EXISTS', 'INVALID_STREAM_NAME', 'EVENT_NOT_FOUND', 'INVALID_STATUS',
  'EVENT_NOT_DELIVERED', 'EVENT_ACKNOWLEDGED', 'EVENT_TOO_LARGE', 'BATCH_TOO_LARGE', 'INVALID_PATH',
]);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const own = (o: Json, key: string): unknown => (Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined);
const absent = (v: unknown) => v === undefined || v === null;

const fail = (code: string, extra: Omit<Extract<Outcome, { ok: false }>, 'ok' | 'code'> = {}): Outcome => ({ ok: false, code, ...extra });

/** A line the fuzzer must not send (it would change the fixed state), or what it must get. */
export type Verdict = Expectation | 'discard' | 'blank';

/** docs: blank lines are empty or only spaces, tabs and `\r`; one `\r` before `\n` is dropped. */
export function isBlankLine(line: Buffer): boolean {
  for (const b of line) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

/** docs, create_stream: 1 to 255 bytes of UTF-8 without control characters (consumers: the same rules). */
export function validName(name: string): boolean {
  if (name.length === 0 || !name.isWellFormed()) return false;
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return false;
  return Buffer.byteLength(name, 'utf8') <= 255;
}

/** The ids decodeEventId accepts: the current layout (store part) and the legacy one (`8000`). */
const OUR_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-8(000|[89a-f][0-9a-f]{2})-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The expectation for one request line (without its `\n`; one trailing `\r` allowed). */
export function expect(raw: Buffer, state: OracleState): Verdict {
  const line = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.subarray(0, raw.length - 1) : raw;
  if (isBlankLine(line)) return 'blank';
  const decode = (outcomes: Outcome[], requestId: Expectation['requestId'] = null): Expectation => ({ operation: 'decode_request', requestId, outcomes });
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    return decode([fail('INVALID_UTF8', { reason: REASONS.INVALID_UTF8 })]);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return decode([fail('INVALID_JSON', { reason: REASONS.INVALID_JSON })]);
  }
  if (!isObject(value)) return decode([fail('INVALID_JSON', { reason: REASONS.INVALID_JSON })]);

  // The envelope: request_id, operation and auth types (any bad one may be the one reported).
  const requestIdValue = own(value, 'request_id');
  const badEnvelope: string[] = [];
  let requestId: Expectation['requestId'] = null;
  if (typeof requestIdValue === 'string' || typeof requestIdValue === 'number') requestId = { value: requestIdValue, line: text };
  else if (!absent(requestIdValue)) badEnvelope.push('request_id');
  const name = own(value, 'operation');
  if (!absent(name) && typeof name !== 'string') badEnvelope.push('operation');
  const auth = own(value, 'auth');
  let credentials: { id: string; secret: string } | null = null;
  if (!absent(auth)) {
    if (!isObject(auth)) badEnvelope.push('auth');
    else {
      const id = own(auth, 'client_id') ?? '';
      const secret = own(auth, 'client_secret') ?? '';
      // docs: strings compared or stored as UTF-8 are Unicode text (no lone surrogate).
      if (typeof id !== 'string' || !id.isWellFormed()) badEnvelope.push('auth.client_id');
      if (typeof secret !== 'string' || !secret.isWellFormed()) badEnvelope.push('auth.client_secret');
      if (typeof id === 'string' && typeof secret === 'string') credentials = { id, secret };
    }
  }
  if (badEnvelope.length > 0) {
    // With a bad request_id nothing is echoed; otherwise it is.
    const echo = badEnvelope.includes('request_id') ? null : requestId;
    return decode([fail('INVALID_FIELD', { reason: REASONS.INVALID_FIELD, field: badEnvelope })], echo);
  }
  const operation = typeof name === 'string' && (OPERATIONS as readonly string[]).includes(name) ? name : undefined;
  if (operation === undefined) return decode([fail('UNKNOWN_OPERATION', { reason: REASONS.UNKNOWN_OPERATION })], requestId);
  if (operation === 'exit') return 'discard';
  const answer = (outcomes: Outcome[]): Expectation => ({ operation, requestId, outcomes });
  if (operation === 'health') return answer([{ ok: true }]);
  if (state.client !== null && (credentials === null || credentials.id !== state.client.id || credentials.secret !== state.client.secret)) {
    return answer([fail('UNAUTHORIZED', { reason: REASONS.UNAUTHORIZED })]);
  }
  if (operation === 'list_streams') return listStreams(own(value, 'body'), answer);
  return body(operation, own(value, 'body'), text, state, answer);
}

/** docs, list_streams: the body may be left out; `from_name` a string, `max_streams` an integer ≥ 1. */
function listStreams(b: unknown, answer: (o: Outcome[]) => Expectation): Verdict {
  if (absent(b)) return answer([{ ok: true }]);
  if (!isObject(b)) return answer([fail('INVALID_FIELD', { reason: REASONS.INVALID_FIELD, field: 'body' })]);
  const bad: string[] = [];
  const from = own(b, 'from_name');
  if (!absent(from) && (typeof from !== 'string' || !from.isWellFormed())) bad.push('from_name');
  const max = own(b, 'max_streams');
  if (!absent(max) && !(typeof max === 'number' && Number.isSafeInteger(max) && max >= 1)) bad.push('max_streams');
  return answer(bad.length > 0 ? [fail('INVALID_FIELD', { reason: REASONS.INVALID_FIELD, field: bad })] : [{ ok: true }]);
}

function body(operation: string, b: unknown, text: string, state: OracleState, answer: (o: Outcome[]) => Expectation): Verdict {
  const required = REQUIRED[operation]!;
  if (absent(b)) return answer([fail('MISSING_FIELDS', { reason: REASONS.MISSING_FIELDS, missing: required })]);
  if (!isObject(b)) return answer([fail('INVALID_FIELD', { reason: REASONS.INVALID_FIELD, field: 'body' })]);
  const missing = required.filter((f) => {
    if (f.name === 'event') return own(b, 'event') === undefined;
    if (operation === 'mark_event' && f.name === 'event_id') return absent(own(b, 'event_id')) && absent(own(b, 'event_ids'));
    return absent(own(b, f.name));
  });
  if (missing.length > 0) return answer([fail('MISSING_FIELDS', { reason: REASONS.MISSING_FIELDS, missing })]);

  // Field types (docs, each operation): every wrong field is a possible report.
  const bad: string[] = [];
  const otherFailures: Outcome[] = [];
  /** A field that may be reported bad (the oracle cannot tell from the text alone). */
  const maybeBad: string[] = [];
  // docs: a string field is Unicode text (no lone surrogate); a stream name breaking it is INVALID_STREAM_NAME, an output INVALID_PATH.
  const str = (f: string, required: boolean) => {
    const v = own(b, f);
    if (required ? typeof v !== 'string' : !absent(v) && typeof v !== 'string') bad.push(f);
    else if (typeof v === 'string' && !v.isWellFormed()) {
      if (f === 'stream_name') otherFailures.push(fail('INVALID_STREAM_NAME', { field: 'stream_name' }));
      else if (f === 'output') otherFailures.push(fail('INVALID_PATH', { field: 'output' }));
      else bad.push(f);
    }
  };
  const int = (f: string, min: number) => {
    const v = own(b, f);
    if (!absent(v) && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= min)) bad.push(f);
    else if (!absent(v)) {
      // docs: integer fields are integer literals (`1.0`, `1e3` are INVALID_FIELD).
      const literal = writtenAs(text, f, INTEGER_LITERAL);
      if (literal === false) bad.push(f);
      else if (literal === undefined) maybeBad.push(f);
    }
  };
  const bool = (f: string) => {
    const v = own(b, f);
    if (!absent(v) && typeof v !== 'boolean') bad.push(f);
  };
  switch (operation) {
    case 'create_stream': case 'delete_stream': case 'get_stream_info': case 'write_event':
      str('stream_name', true);
      break;
    case 'get_stream_events':
      str('stream_name', true); int('from_offset', 0); int('max_events', 1); str('consumer', false);
      break;
    case 'process_events':
      str('stream_name', true); str('consumer', false); int('max_events', 1); int('wait_ms', 0); bool('auto_ack');
      break;
    case 'retry_events':
      str('stream_name', true); str('consumer', false); int('max_events', 1);
      break;
    case 'snapshot_db':
      str('output', true);
      break;
    case 'mark_event': {
      const one = own(b, 'event_id');
      const many = own(b, 'event_ids');
      if (!absent(one) && !absent(many)) bad.push('event_ids');
      else if (!absent(one)) {
        if (typeof one !== 'string') bad.push('event_id');
      } else if (!Array.isArray(many) || many.length === 0 || many.some((id) => typeof id !== 'string')) bad.push('event_ids');
      else if (many.length > state.maxMarkEventIds) otherFailures.push(fail('BATCH_TOO_LARGE', { field: 'event_ids' }));
      str('consumer', false);
      const status = own(b, 'status');
      if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 255) bad.push('status');
      else {
        const literal = writtenAs(text, 'status', UINT8_LITERAL);
        if (literal === false) bad.push('status');
        else if (literal === undefined) maybeBad.push('status');
        if (literal !== false && status > 2) otherFailures.push(fail('INVALID_STATUS', { reason: REASONS.INVALID_STATUS, field: 'status' }));
      }
      break;
    }
  }
  const invalid = bad.length + maybeBad.length > 0 ? [fail('INVALID_FIELD', { reason: REASONS.INVALID_FIELD, field: [...bad, ...maybeBad] })] : [];
  if (bad.length > 0 || otherFailures.length > 0) return answer([...invalid, ...otherFailures]);
  const verdict = semantics(operation, b, state, answer, Buffer.byteLength(text, 'utf8'));
  if (typeof verdict === 'string' || maybeBad.length === 0) return verdict;
  return { ...verdict, outcomes: [...invalid, ...verdict.outcomes] };
}

/** docs, mark_event: `status` is an integer literal 0 to 255 (`1.0`, `1e0`, `-0` are invalid). */
const UINT8_LITERAL = /^(?:0|[1-9][0-9]{0,2})$/;
/** docs: every other integer field is an integer literal (an optional minus, digits; no fraction or exponent). */
const INTEGER_LITERAL = /^-?(?:0|[1-9][0-9]*)$/;

/**
 * Whether `field`'s number is written as `literal` requires: true or false when the line has
 * exactly one `"<field>":` and no escapes (so it is the body's); undefined when the text alone
 * cannot tell.
 */
function writtenAs(text: string, field: string, literal: RegExp): boolean | undefined {
  const matches = [...text.matchAll(new RegExp(`"${field}"\\s*:\\s*([^\\s,}\\]]*)`, 'g'))];
  if (matches.length !== 1 || text.includes('\\')) return undefined;
  return literal.test(matches[0]![1]!);
}

function semantics(operation: string, b: Json, state: OracleState, answer: (o: Outcome[]) => Expectation, lineBytes: number): Verdict {
  const stream = own(b, 'stream_name') as string;
  const consumer = own(b, 'consumer') as string | null | undefined;
  const notFound = fail('STREAM_NOT_FOUND', { reason: streamNotFound(stream) });
  const exists = typeof stream === 'string' && state.streams.has(stream);
  const badConsumer = !absent(consumer) && !validName(consumer as string);
  const consumerCreated = !absent(consumer) && validName(consumer as string) && !state.consumers.has(consumer as string);
  const consumerFailure = fail('INVALID_FIELD', { field: 'consumer' });
  switch (operation) {
    case 'create_stream':
      if (!validName(stream) || stream.startsWith('$dlq:')) return answer([fail('INVALID_STREAM_NAME')]);
      if (exists) return answer([fail('STREAM_EXISTS', { reason: streamExists(stream) })]);
      return 'discard';
    case 'delete_stream':
      return exists ? 'discard' : answer([notFound]);
    case 'get_stream_info':
      return answer([exists ? { ok: true } : notFound]);
    case 'get_stream_events': {
      const outcomes: Outcome[] = [];
      if (badConsumer) outcomes.push(consumerFailure);
      if (!exists) outcomes.push(notFound);
      return answer(outcomes.length > 0 ? outcomes : [{ ok: true }]);
    }
    case 'write_event': {
      // The stored event is the raw bytes less whitespace: never more than the line.
      const mayBeTooLarge = lineBytes > state.maxEventBytes;
      if (!exists) return answer(mayBeTooLarge ? [notFound, fail('EVENT_TOO_LARGE')] : [notFound]);
      return answer(mayBeTooLarge ? [{ ok: true }, fail('EVENT_TOO_LARGE')] : [{ ok: true }]);
    }
    case 'process_events':
    case 'retry_events': {
      const outcomes: Outcome[] = [];
      if (badConsumer) outcomes.push(consumerFailure);
      if (!exists) outcomes.push(notFound);
      if (outcomes.length > 0) return answer(outcomes);
      return consumerCreated ? 'discard' : answer([{ ok: true }]);
    }
    case 'mark_event': {
      const one = own(b, 'event_id');
      const ids = (absent(one) ? own(b, 'event_ids') : [one]) as string[];
      const outcomes: Outcome[] = [];
      if (badConsumer) outcomes.push(consumerFailure);
      const ours = ids.map((id) => OUR_ID.test(id));
      if (ours.some((o) => !o)) {
        // The first id that is not ours, or an earlier one of ours whose stream does not exist.
        const first = ours.indexOf(false);
        outcomes.push(fail('EVENT_NOT_FOUND', { reason: ids.slice(0, first + 1).map(eventNotFound) }));
        return answer(outcomes);
      }
      if (consumerCreated) return 'discard';
      return answer([...outcomes, { ok: true }, fail('EVENT_NOT_FOUND', { reason: ids.map(eventNotFound) }), fail('EVENT_NOT_DELIVERED'), fail('EVENT_ACKNOWLEDGED')]);
    }
    case 'snapshot_db': {
      const output = own(b, 'output') as string;
      if (output.startsWith('/') || output.includes('\u0000')) return answer([fail('INVALID_PATH')]);
      if (output.includes('\\') || output.includes(':')) return 'discard'; // Windows forms: not worth predicting
      const parts = output.split('/');
      let depth = 0;
      for (const part of parts) {
        if (part === '..') depth -= 1;
        else if (part !== '.' && part !== '') depth += 1;
        if (depth < 0) return answer([fail('INVALID_PATH')]);
      }
      return 'discard';
    }
  }
  return 'discard';
}

/** The keys of a response, in the documented order. */
const ORDER = ['operation', 'status', 'body', 'context', 'reason', 'code', 'request_id'];

/**
 * Checks one response line against an expectation; returns null when it fits, or what is wrong.
 */
export function check(responseLine: string, expected: Expectation): string | null {
  let response: Json;
  try {
    const parsed: unknown = JSON.parse(responseLine);
    if (!isObject(parsed)) return 'the response is not a JSON object';
    response = parsed;
  } catch {
    return 'the response is not JSON';
  }
  const keys = Object.keys(response);
  let at = 0;
  for (const key of keys) {
    const index = ORDER.indexOf(key);
    if (index < at) return `unexpected or misplaced key ${JSON.stringify(key)}`;
    at = index + 1;
  }
  if (response.operation !== expected.operation) return `operation ${JSON.stringify(response.operation)}, expected ${JSON.stringify(expected.operation)}`;
  if (typeof response.status !== 'boolean') return 'status is not a boolean';
  // request_id: echoed as sent, or absent.
  if (expected.requestId === null) {
    if ('request_id' in response) return 'a request_id was echoed that the request did not validly have';
  } else {
    if (!('request_id' in response)) return 'request_id not echoed';
    const echoed = response.request_id;
    const want = expected.requestId.value;
    if (typeof want === 'string' ? echoed !== want : typeof echoed !== 'number' || !(Object.is(echoed, want) || echoed === want)) {
      return `request_id ${JSON.stringify(echoed)} echoed for ${JSON.stringify(want)}`;
    }
    if (typeof want === 'number') {
      const raw = /,"request_id":([^,}]*)\}$/.exec(responseLine)?.[1];
      if (raw === undefined || !expected.requestId.line.includes(raw)) return `numeric request_id echoed as ${raw}, not as sent`;
    }
  }
  const problems: string[] = [];
  for (const outcome of expected.outcomes) {
    const problem = matches(responseLine, response, outcome);
    if (problem === null) return null;
    problems.push(problem);
  }
  return problems.join('; or ');
}

function matches(line: string, response: Json, outcome: Outcome): string | null {
  if (outcome.ok) {
    if (response.status !== true) return `failed (${String(response.code)}: ${String(response.reason)}) where success was expected`;
    if ('reason' in response || 'code' in response) return 'a success with reason or code';
    if (outcome.line !== undefined && line !== outcome.line) return `${line} is not ${outcome.line}`;
    return null;
  }
  if (response.status !== false) return `succeeded where ${outcome.code} was expected`;
  if (typeof response.reason !== 'string' || response.reason.length === 0) return 'a failure without reason';
  if (response.code !== outcome.code) return `code ${String(response.code)} (${response.reason}), expected ${outcome.code}`;
  if (outcome.reason !== undefined) {
    const reasons = typeof outcome.reason === 'string' ? [outcome.reason] : outcome.reason;
    if (!reasons.includes(response.reason)) return `reason ${JSON.stringify(response.reason)} is not ${JSON.stringify(reasons.slice(0, 3))}`;
  }
  const context = response.context as Json | undefined;
  if (outcome.field !== undefined) {
    const fields = typeof outcome.field === 'string' ? [outcome.field] : outcome.field;
    if (!isObject(context) || !fields.includes(context.field as string)) return `context ${JSON.stringify(context)} does not name ${fields.join(' or ')}`;
  }
  if (outcome.missing !== undefined) {
    if (JSON.stringify(context) !== JSON.stringify({ body: outcome.missing })) return `context ${JSON.stringify(context)}, expected ${JSON.stringify({ body: outcome.missing })}`;
  }
  return null;
}
