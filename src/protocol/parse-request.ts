/**
 * Parsing and validation of request lines, in the original's order of checks:
 * UTF-8 and JSON → envelope types → unknown operation → (auth, done by the server) → body.
 *
 * Each line is parsed with JSON.parse exactly once. Syntax and type errors keep the original's
 * reason `invalid json provided`, with our `code` and a `context`: the byte position, what was
 * expected and what was found for a line that is not a JSON object, the field for a type error.
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCodes, EventBusError, assert } from '../errors.js';
import type { EventStatus } from '../storage/index.js';
import { REQUIRED_FIELDS, lookupOperation, type Operation, type RequiredField } from './operations.js';
import { describeByte, locateJsonError, type JsonSyntaxError } from './json-syntax.js';
import { arrayElementSpans, compactJson, findBodyMember, findBodyMembers, findMember, findObjectMember, type Span } from './raw-json.js';
import type { AppendTerms, Credentials, Envelope, Request, WriteExtras } from './requests.js';
import type { ExpectedVersion, NewEvent } from '../storage/index.js';
import { UNICODE_TEXT } from '../storage/unicode-text.js';
import { parseReadPosition, parseConsumerStart, parseFilter, parseFromVersion, parseSubscribe } from './parse-positions.js';
import { parseRetention, parseOptionalRetention } from './parse-retention.js';
import { INVALID_JSON_REASON, INVALID_STATUS_REASON, INVALID_UTF8_REASON, MISSING_FIELDS_REASON, UNKNOWN_OPERATION_REASON } from './wire-texts.js';

/** Limits that parsing enforces. */
export interface ParseLimits {
  /** Most ids in one `mark_event` (`event_ids`). */
  maxMarkEventIds: number;
}

/** A line decoded into an envelope, or the error to answer it with (operation `decode_request`). */
export type DecodedLine =
  | { ok: true; envelope: Envelope }
  | { ok: false; error: EventBusError; requestIdJson: string | undefined };

export type JsonObject = Record<string, unknown>;

const INVALID_UTF8 = new EventBusError(ErrorCodes.INVALID_UTF8, INVALID_UTF8_REASON);
const UNKNOWN_OPERATION = new EventBusError(ErrorCodes.UNKNOWN_OPERATION, UNKNOWN_OPERATION_REASON);

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * `invalid json provided`, the original's text byte for byte; `context` says where the line
 * stopped being a JSON object (byte position), what was expected there and what was found.
 */
function invalidJson(where: JsonSyntaxError | undefined): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_JSON, INVALID_JSON_REASON, where === undefined ? {} : { context: where });
}

export function invalidField(field: string, expected: string): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_FIELD, INVALID_JSON_REASON, { context: { field, expected } });
}

function missingFields(fields: readonly RequiredField[]): EventBusError {
  return new EventBusError(ErrorCodes.MISSING_FIELDS, MISSING_FIELDS_REASON, { context: { body: fields } });
}

/** Decodes a request line's envelope. Never throws. */
export function decodeLine(line: Buffer): DecodedLine {
  if (!isUtf8(line)) return { ok: false, error: INVALID_UTF8, requestIdJson: undefined };
  let value: unknown;
  try {
    value = JSON.parse(line.toString('utf8'));
  } catch {
    return { ok: false, error: invalidJson(locateJsonError(line) ?? undefined), requestIdJson: undefined };
  }
  if (!isObject(value)) {
    const start = line.findIndex((byte) => byte !== 0x20 && byte !== 0x09 && byte !== 0x0d && byte !== 0x0a);
    return { ok: false, error: invalidJson({ position: start, expected: 'a JSON object: one request per line', found: describeByte(line, start) }), requestIdJson: undefined };
  }

  let requestIdJson: string | undefined;
  const requestId = value.request_id;
  if (typeof requestId === 'string') requestIdJson = JSON.stringify(requestId);
  else if (typeof requestId === 'number') requestIdJson = numberAsSent(line);
  else if (requestId !== undefined && requestId !== null) {
    return { ok: false, error: invalidField('request_id', 'a string or a number'), requestIdJson: undefined };
  }

  const name = value.operation;
  if (name !== undefined && name !== null && typeof name !== 'string') {
    return { ok: false, error: invalidField('operation', 'a string'), requestIdJson };
  }
  let credentials: Credentials | null = null;
  const auth = value.auth;
  if (auth !== undefined && auth !== null) {
    if (!isObject(auth)) return { ok: false, error: invalidField('auth', 'an object'), requestIdJson };
    const clientId = auth.client_id ?? '';
    const clientSecret = auth.client_secret ?? '';
    if (typeof clientId !== 'string') return { ok: false, error: invalidField('auth.client_id', 'a string'), requestIdJson };
    if (typeof clientSecret !== 'string') return { ok: false, error: invalidField('auth.client_secret', 'a string'), requestIdJson };
    // Compared as UTF-8: a lone surrogate would match the U+FFFD of a configured secret.
    if (!clientId.isWellFormed()) return { ok: false, error: invalidField('auth.client_id', UNICODE_TEXT), requestIdJson };
    if (!clientSecret.isWellFormed()) return { ok: false, error: invalidField('auth.client_secret', UNICODE_TEXT), requestIdJson };
    credentials = { clientId, clientSecret };
  }
  const operation = typeof name === 'string' ? lookupOperation(name) : undefined;
  if (operation === undefined) return { ok: false, error: UNKNOWN_OPERATION, requestIdJson };
  return { ok: true, envelope: { operation, requestIdJson, credentials, body: value.body, line } };
}

/**
 * A numeric request_id's JSON text exactly as sent: String() of the parsed number would turn
 * 1e999 into `Infinity` (not JSON: the response line would be unreadable) and
 * 12345678901234567890 into another number.
 */
function numberAsSent(line: Buffer): string {
  const span = findMember(line, 'request_id');
  assert(span !== null, 'request_id was parsed but its bytes were not found');
  return line.toString('latin1', span.start, span.end);
}

const HEALTH: Request = { operation: 'health' };
const EXIT: Request = { operation: 'exit' };
const UNSUBSCRIBE: Request = { operation: 'unsubscribe' };

/**
 * `unsubscribe` has no field: its body may be left out (or null), but one that is there is an
 * object, as for list_streams (INVALID_FIELD `body` otherwise).
 */
export function parseUnsubscribe(body: unknown): Request {
  if (body !== undefined && body !== null && !isObject(body)) throw invalidField('body', 'an object');
  return UNSUBSCRIBE;
}

/**
 * Validates the body of a decoded request and returns the typed request. Throws EventBusError:
 * MISSING_FIELDS, INVALID_FIELD, INVALID_STATUS or BATCH_TOO_LARGE.
 */
export function parseRequest(envelope: Envelope, limits: ParseLimits): Request {
  const { operation } = envelope;
  if (operation === 'health') return HEALTH;
  if (operation === 'exit') return EXIT;
  if (operation === 'unsubscribe') return parseUnsubscribe(envelope.body);
  const required = REQUIRED_FIELDS.get(operation);
  assert(required !== undefined, `no required fields listed for ${operation}`);
  const body = envelope.body;
  // list_streams alone may leave its body out (every field is optional).
  if (operation === 'list_streams' && (body === undefined || body === null)) return { operation, fromName: undefined, maxStreams: undefined };
  // `"body": null` counts as missing (the original created a stream named "" instead).
  if (body === undefined || body === null) throw missingFields(required);
  if (!isObject(body)) throw invalidField('body', 'an object');
  checkPresent(operation, body, required);

  switch (operation) {
    case 'create_stream':
      return { operation, streamName: streamNameOf(body), retention: parseOptionalRetention(body, envelope.line) };
    case 'delete_stream':
    case 'get_stream_info':
      return { operation, streamName: streamNameOf(body) };
    case 'get_stream_events':
    {
      const filter = parseFilter(body);
      return {
        operation,
        streamName: streamNameOf(body),
        ...parseReadPosition(body, envelope.line),
        ...filter,
        fromVersion: parseFromVersion(body, filter.key, envelope.line),
        maxEvents: optionalInteger(body, 'max_events', 1, envelope.line),
        consumer: optionalString(body, 'consumer'),
      };
    }
    case 'set_stream_retention':
      return { operation, streamName: streamNameOf(body), retention: parseRetention(body, envelope.line) };
    case 'truncate_stream':
      return { operation, streamName: streamNameOf(body), beforeOffset: requiredInteger(body, 'before_offset', envelope.line) };
    case 'subscribe':
      return parseSubscribe(body, envelope.line);
    case 'write_event': {
      const streamName = streamNameOf(body);
      // One pass over the line finds every member whose bytes count.
      const [span, metadata, expected] = findBodyMembers(envelope.line, WRITE_RAW_MEMBERS);
      assert(span !== null && span !== undefined, 'body.event was parsed but its bytes were not found');
      return { operation, streamName, event: compactJson(envelope.line.subarray(span.start, span.end)), extras: writeExtras(envelope, body, metadata ?? null, expected ?? null) };
    }
    case 'append_events': {
      checkAppendMembers(body);
      // One pass over the line for both: a batch of 4 MiB costs as much to scan as to parse.
      const [events, expected] = findBodyMembers(envelope.line, APPEND_RAW_MEMBERS);
      return { operation, streamName: streamNameOf(body), ...appendTerms(body, envelope.line, expected ?? null), events: newEvents(envelope, body, events ?? null) };
    }
    case 'process_events':
      return {
        operation,
        streamName: streamNameOf(body),
        consumer: optionalString(body, 'consumer'),
        maxEvents: optionalInteger(body, 'max_events', 1, envelope.line),
        waitMs: optionalInteger(body, 'wait_ms', 0, envelope.line),
        autoAck: optionalBoolean(body, 'auto_ack'),
        start: parseConsumerStart(body, envelope.line),
        filter: parseFilter(body),
      };
    case 'retry_events':
      return {
        operation,
        streamName: streamNameOf(body),
        consumer: optionalString(body, 'consumer'),
        maxEvents: optionalInteger(body, 'max_events', 1, envelope.line),
      };
    case 'mark_event':
      return parseMark(envelope, body, limits);
    case 'snapshot_db':
      return { operation, output: string(body, 'output') };
    case 'list_streams':
      return { operation, fromName: optionalString(body, 'from_name'), maxStreams: optionalInteger(body, 'max_streams', 1, envelope.line) };
  }
}

/** Members of a write_event and of an append_events whose bytes are read, besides JSON.parse's values. */
const WRITE_RAW_MEMBERS = ['event', 'metadata', 'expected_version'];
const APPEND_RAW_MEMBERS = ['events', 'expected_version'];

/** The sourcing fields of a write_event: null when it has none (the original's write). */
function writeExtras(envelope: Envelope, body: JsonObject, metadataSpan: Span | null, expectedSpan: Span | null): WriteExtras | null {
  const terms = appendTerms(body, envelope.line, expectedSpan);
  const type = optionalString(body, 'type');
  const msgId = optionalString(body, 'msg_id');
  const metadata = body.metadata === undefined ? undefined : metadataBytes(envelope.line, body.metadata, metadataSpan, 'metadata');
  if (terms.key === undefined && terms.expectedVersion === undefined && type === undefined && msgId === undefined && metadata === undefined) return null;
  return { ...terms, type, metadata, msgId };
}

/** `key` and `expected_version` (its bytes at `expectedSpan`) of an append. The engine checks lengths and values. */
function appendTerms(body: JsonObject, line: Buffer, expectedSpan: Span | null): AppendTerms {
  const key = optionalString(body, 'key');
  const expected = body.expected_version;
  let expectedVersion: ExpectedVersion | undefined;
  if (expected === undefined || expected === null) expectedVersion = undefined;
  else if (expected === 'any' || expected === 'no_stream' || expected === 'stream_exists') expectedVersion = expected;
  else if (typeof expected === 'number' && integerField(expected, -1, line, () => expectedSpan) !== null) expectedVersion = expected + 0;
  else throw invalidField('expected_version', '"any", "no_stream", "stream_exists" or an integer from -1 to ' + Number.MAX_SAFE_INTEGER);
  return { key, expectedVersion };
}

/** A metadata member as JSON text (compacted), or undefined when absent or null; an object only. */
function metadataBytes(line: Buffer, value: unknown, span: Span | null, field: string): Buffer | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw invalidField(field, 'a JSON object');
  assert(span !== null, `${field} was parsed but its bytes were not found`);
  return compactJson(line.subarray(span.start, span.end));
}

/** The members an append_events body may have. */
const APPEND_MEMBERS: ReadonlySet<string> = new Set(['stream_name', 'key', 'expected_version', 'events']);
const UNKNOWN_APPEND_MEMBER = "one of append_events' members: stream_name, key, expected_version, events (type, metadata and msg_id are each event's, inside events)";

/**
 * Refuses a member append_events does not have, as for its events' members: new in this
 * protocol, so no original to stay lenient for, and a misspelt `expected_version` or `key` would
 * make a conditional or keyed append an unconditional or unkeyed one. write_event stays lenient
 * (the original ignored unknown body keys).
 */
function checkAppendMembers(body: JsonObject): void {
  for (const member in body) {
    if (!APPEND_MEMBERS.has(member)) throw invalidField(member, UNKNOWN_APPEND_MEMBER);
  }
}

/** The members an append_events event may have. */
const EVENT_MEMBERS: ReadonlySet<string> = new Set(['body', 'type', 'metadata', 'msg_id']);
const UNKNOWN_EVENT_MEMBER = "one of an event's members: body, type, metadata, msg_id (key and expected_version are the batch's, beside events)";

/** `events` of an append_events: each `{body, type?, metadata?, msg_id?}`, bodies byte for byte. */
function newEvents(envelope: Envelope, body: JsonObject, eventsSpan: Span | null): NewEvent[] {
  const events = body.events;
  if (!Array.isArray(events)) throw invalidField('events', 'an array of events {body, type?, metadata?, msg_id?}');
  const line = envelope.line;
  assert(eventsSpan !== null, 'body.events was parsed but its bytes were not found');
  const spans = arrayElementSpans(line, eventsSpan);
  assert(spans.length === events.length, 'body.events has a different number of elements in its bytes');
  const out: NewEvent[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const event: unknown = events[i];
    const field = `events[${i}]`;
    if (!isObject(event)) throw invalidField(field, 'an object {body, type?, metadata?, msg_id?}');
    // New in this protocol, so no original to stay lenient for: a misspelt msg_id, or a per-event
    // key, would otherwise append without the idempotency or the version the client asked for.
    for (const member in event) {
      if (!EVENT_MEMBERS.has(member)) throw invalidField(`${field}.${member}`, UNKNOWN_EVENT_MEMBER);
    }
    // Absent, as write_event's `event` is: MISSING_FIELDS (a body of null is the JSON value null).
    if (event.body === undefined) throw missingFields([{ name: `${field}.body`, type: '[]byte', required: true }]);
    const bodySpan = findObjectMember(line, spans[i]!, 'body');
    assert(bodySpan !== null, `${field}.body was parsed but its bytes were not found`);
    const type = optionalString(event, 'type', `${field}.type`);
    const msgId = optionalString(event, 'msg_id', `${field}.msg_id`);
    const metadata = metadataBytes(line, event.metadata, findObjectMember(line, spans[i]!, 'metadata'), `${field}.metadata`);
    out[i] = {
      payload: compactJson(line.subarray(bodySpan.start, bodySpan.end)),
      ...(type === undefined ? {} : { type }),
      ...(metadata === undefined ? {} : { metadata }),
      ...(msgId === undefined ? {} : { msgId }),
    };
  }
  return out;
}

/** Throws MISSING_FIELDS listing every required field that is absent (null counts as absent). */
function checkPresent(operation: Operation, body: JsonObject, required: readonly RequiredField[]): void {
  let missing: RequiredField[] | null = null;
  for (const field of required) {
    let present = body[field.name] !== undefined && body[field.name] !== null;
    // `event: null` is an event (the JSON value null); only an absent key is missing.
    if (field.name === 'event') present = body.event !== undefined;
    // mark_event takes `event_ids` (many) in place of `event_id`.
    if (operation === 'mark_event' && field.name === 'event_id') present ||= body.event_ids !== undefined && body.event_ids !== null;
    if (!present) (missing ??= []).push(field);
  }
  if (missing !== null) throw missingFields(missing);
}

/**
 * `stream_name`: a string, and Unicode text, for every operation. create_stream refuses a lone
 * surrogate among the name's rules (INVALID_STREAM_NAME); refused here for the operations that
 * look a stream up too, with the same code and text: as UTF-8 (a JetStream catalog key) it would
 * name the stream called with U+FFFD in its place.
 */
export function streamNameOf(body: JsonObject): string {
  const value = string(body, 'stream_name');
  if (!value.isWellFormed()) throw new EventBusError(ErrorCodes.INVALID_STREAM_NAME, 'invalid stream name: it is not valid Unicode text', { context: { field: 'stream_name' } });
  return value;
}

export function string(body: JsonObject, field: string): string {
  const value = body[field];
  if (typeof value !== 'string') throw invalidField(field, 'a string');
  return value;
}

export function optionalString(body: JsonObject, field: string, name = field): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidField(name, 'a string');
  // Stored or compared as UTF-8 (a key, type, msg_id, consumer, from_name): see storage/unicode-text.ts.
  if (!value.isWellFormed()) throw invalidField(name, UNICODE_TEXT);
  return value;
}

/**
 * How every integer field is written: an integer literal (digits, an optional minus), no fraction
 * and no exponent, as the original's Go decoder took its integer fields (it refused `1.0` and
 * `1e3`). JSON.parse alone would take `1.0`, `1e3`, `1e-400` (as 0) and `0.99999999999999999999`
 * (as 1), so the field's bytes are read too.
 */
const INTEGER_LITERAL = /^-?(?:0|[1-9][0-9]*)$/;

/**
 * `value` as an integer field: a safe integer of at least `minimum` (and at most `maximum`),
 * written as an integer literal at `span()` (looked for only when the value passes; a scan of the
 * line). Null otherwise: the caller words the error. `-0` is 0.
 */
export function integerField(value: unknown, minimum: number, line: Buffer, span: () => Span | null, maximum = Number.MAX_SAFE_INTEGER): number | null {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum || value > maximum) return null;
  const at = span();
  if (at === null || !INTEGER_LITERAL.test(line.toString('latin1', at.start, at.end))) return null;
  return value + 0;
}

export function optionalInteger(body: JsonObject, field: string, minimum: number, line: Buffer): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  const integer = integerField(value, minimum, line, () => findBodyMember(line, field));
  if (integer === null) throw invalidField(field, `an integer from ${minimum} to ${Number.MAX_SAFE_INTEGER}`);
  return integer;
}

export function requiredInteger(body: JsonObject, field: string, line: Buffer): number {
  const integer = integerField(body[field], 0, line, () => findBodyMember(line, field));
  if (integer === null) throw invalidField(field, `an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
  return integer;
}

export function optionalBoolean(body: JsonObject, field: string): boolean {
  const value = body[field];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalidField(field, 'true or false');
  return value;
}

/** What Go's decoder accepts for a uint8: an integer literal, no fraction or exponent, 0..255. */
const UINT8_LITERAL = /^(?:0|[1-9][0-9]{0,2})$/;
/**
 * What the form check above takes (the original's `uint8`), as `context.expected`: 3 to 255 pass
 * it and are INVALID_STATUS, so saying "0 to 2" here would misdescribe the check.
 */
const STATUS_FORM = 'an integer literal from 0 to 255';

function parseMark(envelope: Envelope, body: JsonObject, limits: ParseLimits): Request {
  const one = body.event_id;
  const many = body.event_ids;
  let eventIds: string[];
  if (one !== undefined && one !== null) {
    if (many !== undefined && many !== null) throw invalidField('event_ids', 'event_id or event_ids, not both');
    if (typeof one !== 'string') throw invalidField('event_id', 'a string');
    eventIds = [one];
  } else {
    if (!Array.isArray(many) || many.length === 0) throw invalidField('event_ids', 'a non-empty array of strings');
    for (const id of many) if (typeof id !== 'string') throw invalidField('event_ids', 'a non-empty array of strings');
    if (many.length > limits.maxMarkEventIds) {
      throw new EventBusError(ErrorCodes.BATCH_TOO_LARGE, `a mark_event holds at most ${limits.maxMarkEventIds} event ids, got ${many.length}`, {
        context: { field: 'event_ids', limit: limits.maxMarkEventIds, event_ids: many.length },
      });
    }
    eventIds = many as string[];
  }
  const status = body.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 0 || status > 255) {
    throw invalidField('status', STATUS_FORM);
  }
  // 1.0 and 1e0 parse as 1, but the original (Go, uint8) rejected them: look at the bytes.
  const span = findBodyMember(envelope.line, 'status');
  if (span === null || !UINT8_LITERAL.test(envelope.line.toString('latin1', span.start, span.end))) {
    throw invalidField('status', STATUS_FORM);
  }
  if (status > 2) throw new EventBusError(ErrorCodes.INVALID_STATUS, INVALID_STATUS_REASON, { context: { field: 'status' } });
  return { operation: 'mark_event', eventIds, status: status as EventStatus, consumer: optionalString(body, 'consumer') };
}
