/**
 * The hot responses, as bytes rather than strings: `write_event` acknowledgements and event
 * lists (process_events, retry_events, get_stream_events, a subscription's events). They follow
 * response.ts's form byte for byte (field order, the one-line rule); only the way they are made
 * differs:
 *
 * - an acknowledgement ({@link WriteAck}) is written straight into its connection's output when
 *   that is flushed, from the event's stream number, offset and time: no id string, no reply
 *   string, no UTF-8 encoding of either;
 * - an event list is built in one buffer with each stored payload copied in as it is (the string
 *   round trip of a payload, decode and encode again, was most of a delivery's cost);
 * - ids are written by storage's writeEventId, and `created_at` from a per-second cache.
 *
 * A connection's output is then one buffer per flush ({@link joinResponses}), except that the
 * shared pages of subscription lines are written as they are ({@link responseChunks}).
 */
import { EVENT_ID_BYTES, writeEventId } from '../storage/format/event-id.js';
import type { Delivery, EventIdParts, EventPage, EventView, WrittenEvent } from '../bus/results.js';
import { assert } from '../errors.js';
import type { EventAttributes } from '../storage/index.js';

/** A response whose bytes are written only when its connection flushes. */
export interface DeferredResponse {
  /** The most bytes {@link writeInto} writes. */
  readonly maxBytes: number;
  /** Writes the response line into `out` at `at` (room for maxBytes); returns the index after it. */
  writeInto(out: Buffer, at: number): number;
}

/** One response line, `\n` included: text, bytes, or bytes written at flush. */
export type Response = string | Buffer | DeferredResponse;

/** Strings longer than this are measured; shorter ones are bounded by 3 bytes per UTF-16 unit. */
const MEASURE_STRINGS_FROM = 16 * 1024;

/** The most bytes `response` takes in the output. */
export function responseMaxBytes(response: Response): number {
  if (typeof response === 'string') return response.length < MEASURE_STRINGS_FROM ? response.length * 3 : Buffer.byteLength(response);
  if (response instanceof Uint8Array) return response.length;
  return response.maxBytes;
}

/** Writes `response` at `at` in `out` (room for responseMaxBytes); returns the index after it. */
function writeResponse(out: Buffer, at: number, response: Response): number {
  if (typeof response === 'string') return at + out.write(response, at, 'utf8');
  if (response instanceof Uint8Array) {
    out.set(response, at);
    return at + response.length;
  }
  return response.writeInto(out, at);
}

/** The first `count` responses as one buffer, in order (a single buffer is returned as it is). */
export function joinResponses(responses: readonly Response[], count: number): Buffer {
  return joinRange(responses, 0, count);
}

/** Responses `start` to `end` (exclusive) as one buffer. */
function joinRange(responses: readonly Response[], start: number, end: number): Buffer {
  if (end - start === 1 && responses[start] instanceof Uint8Array) return responses[start] as Buffer;
  let bound = 0;
  for (let i = start; i < end; i++) bound += responseMaxBytes(responses[i]!);
  const out = Buffer.allocUnsafe(bound);
  let at = 0;
  for (let i = start; i < end; i++) at = writeResponse(out, at, responses[i]!);
  return at === bound ? out : out.subarray(0, at);
}

/**
 * Heads of subscription lines at least this long are written as they are rather than copied.
 * Below it a copy into the flush's buffer costs less than another piece of a vectored write.
 */
const SHARED_HEAD_BYTES = 512;

/**
 * The first `count` responses as the buffers to write, in order: what {@link joinResponses} joins,
 * except that a long subscription line goes out as its shared head and its subscription's tail,
 * both written by reference. Every subscriber of a stream is sent the same page: copying it into
 * each subscriber's own buffer at every flush was most of the server's garbage with 16
 * subscribers (a full collection every ~140 ms at 10,000 events/s, each a pause of milliseconds).
 */
export function responseChunks(responses: readonly Response[], count: number): Buffer[] {
  const chunks: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const response = responses[i];
    if (!(response instanceof TailedLine) || response.head.length < SHARED_HEAD_BYTES) continue;
    if (i > start) chunks.push(joinRange(responses, start, i));
    chunks.push(response.head, response.tail);
    start = i + 1;
  }
  if (count > start) chunks.push(joinRange(responses, start, count));
  return chunks;
}

// ------------------------------------------------------------------ pieces

const ascii = (text: string) => Buffer.from(text, 'latin1');

const NEWLINE = 0x0a;
const CLOSE_BRACE = 0x7d;
const ZERO = 0x30;
const REQUEST_ID = ascii(',"request_id":');
/** Digits of the largest safe integer. */
const MAX_DIGITS = 16;
/** `created_at` text: 24 bytes, up to 27 for years past 9999 (toISOString's extended years). */
const MAX_TIME_BYTES = 27;

function put(out: Buffer, at: number, bytes: Buffer): number {
  out.set(bytes, at);
  return at + bytes.length;
}

/** Writes a non-negative safe integer in decimal; returns the index after it. */
function putDecimal(out: Buffer, at: number, value: number): number {
  if (value < 10) {
    out[at] = ZERO + value;
    return at + 1;
  }
  let digits = 1;
  for (let power = 10; power <= value && digits < MAX_DIGITS; power *= 10) digits++;
  let v = value;
  for (let i = at + digits - 1; i >= at; i--) {
    const next = Math.floor(v / 10);
    out[i] = ZERO + (v - next * 10);
    v = next;
  }
  return at + digits;
}

/** Bytes of `,"request_id":<json>}\n` (or `}\n`) at most. */
function tailMaxBytes(requestIdJson: string | undefined): number {
  return requestIdJson === undefined ? 2 : REQUEST_ID.length + requestIdJson.length * 3 + 2;
}

/** Bytes of `,"request_id":<json>}\n` (or `}\n`), exactly. */
function tailBytes(requestIdJson: string | undefined): number {
  return requestIdJson === undefined ? 2 : REQUEST_ID.length + Buffer.byteLength(requestIdJson, 'utf8') + 2;
}

/** Writes the end of a response line: the request id if any, `}` and `\n`. */
function putTail(out: Buffer, at: number, requestIdJson: string | undefined): number {
  if (requestIdJson !== undefined) {
    at = put(out, at, REQUEST_ID);
    at += out.write(requestIdJson, at, 'utf8');
  }
  out[at] = CLOSE_BRACE;
  out[at + 1] = NEWLINE;
  return at + 2;
}

/** The text of the second being formatted, `YYYY-MM-DDTHH:MM:SS.` (null: a year toISOString writes longer). */
let cachedSecond = Number.NaN;
let cachedSecondText: Buffer | null = null;

/** Writes `ms` as RFC 3339 in UTC, as Date.toISOString does; returns the index after it. */
function putTime(out: Buffer, at: number, ms: number): number {
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    const text = new Date(second * 1000).toISOString();
    cachedSecond = second;
    cachedSecondText = text.length === 24 ? ascii(text.slice(0, 20)) : null;
  }
  if (cachedSecondText === null) return at + out.write(new Date(ms).toISOString(), at, 'latin1');
  at = put(out, at, cachedSecondText);
  const milli = ms - second * 1000;
  out[at] = ZERO + Math.floor(milli / 100);
  out[at + 1] = ZERO + (Math.floor(milli / 10) % 10);
  out[at + 2] = ZERO + (milli % 10);
  out[at + 3] = 0x5a; // Z
  return at + 4;
}

/** Writes an event's id: from the engine's parts when given, else its text (another backend's). */
function putEventId(out: Buffer, at: number, event: EventIdParts): number {
  if (event.streamNumber !== undefined && event.idEpochs !== undefined) return writeEventId(out, at, event.streamNumber, event.idEpochs, event.offset);
  assert(event.id.length === EVENT_ID_BYTES, () => `an event id of ${event.id.length} characters`);
  return at + out.write(event.id, at, 'latin1');
}

// ------------------------------------------------------------------ write_event

const ACK_HEAD = ascii('{"operation":"write_event","status":true,"body":{"event":{"id":"');
const ACK_OFFSET = ascii('","offset":');
const ACK_TIME = ascii(',"created_at":"');
const ACK_END = ascii('"}}');
const ACK_FIXED_BYTES = ACK_HEAD.length + EVENT_ID_BYTES + ACK_OFFSET.length + MAX_DIGITS + ACK_TIME.length + MAX_TIME_BYTES + ACK_END.length;

/** The success response of a `write_event`: `{"event":{"id","offset","created_at"}}`. */
export class WriteAck implements DeferredResponse {
  readonly maxBytes: number;

  constructor(private readonly event: WrittenEvent, private readonly requestIdJson: string | undefined) {
    this.maxBytes = ACK_FIXED_BYTES + tailMaxBytes(requestIdJson);
  }

  writeInto(out: Buffer, at: number): number {
    const event = this.event;
    at = put(out, at, ACK_HEAD);
    at = putEventId(out, at, event);
    at = put(out, at, ACK_OFFSET);
    at = putDecimal(out, at, event.offset);
    at = put(out, at, ACK_TIME);
    at = putTime(out, at, event.createdMs);
    at = put(out, at, ACK_END);
    return putTail(out, at, this.requestIdJson);
  }
}

// ------------------------------------------------------------------ event lists

const EVENT_ID = ascii('{"id":"');
const EVENT_STREAM_ID = ascii('","stream_id":"');
const EVENT_STATUS = ascii('","status":');
const EVENT_TIME = ascii(',"created_at":"');
const EVENT_BODY = ascii('","body":');
const EVENT_OFFSET = ascii(',"offset":');
const EVENT_DELIVERIES = ascii(',"delivery_count":');
const EVENT_FIXED_BYTES =
  EVENT_ID.length + EVENT_ID_BYTES + EVENT_STREAM_ID.length + EVENT_STATUS.length + MAX_DIGITS + EVENT_TIME.length + MAX_TIME_BYTES +
  EVENT_BODY.length + EVENT_OFFSET.length + MAX_DIGITS + EVENT_DELIVERIES.length + MAX_DIGITS + 2;
const EVENTS_OPEN = ascii(',"body":{"events":[');
const MORE_TRUE = ascii('],"more":true}');
const MORE_FALSE = ascii('],"more":false}');
const NEXT_OFFSET = ascii('],"next_offset":');
const NEXT_VERSION = ascii('],"next_version":');
const AT_END_TRUE = ascii(',"at_end":true}');
const AT_END_FALSE = ascii(',"at_end":false}');
const HEADS = new Map<string, Buffer>(['process_events', 'retry_events', 'get_stream_events', 'subscribe'].map((op) => [op, ascii(`{"operation":"${op}","status":true`)]));

/**
 * A payload that cannot go into the line as it is: empty, or holding a newline (only possible
 * for one appended through the embedded engine API). It is sent as a JSON string instead.
 */
function oddPayload(payload: Buffer): string | null {
  return payload.length === 0 || payload.indexOf(NEWLINE) !== -1 ? JSON.stringify(payload.toString('utf8')) : null;
}

/** The odd payloads of the list being written (see oddPayload), by index: found once, used twice. */
const oddPayloads: (string | null)[] = [];
/** The event-sourcing fields of the list being written (see attributesText), by index. */
const attributeTexts: string[] = [];

/**
 * An event's event-sourcing fields, each only when present (`,"key":…,"version":…,"type":…,
 * "metadata":…,"msg_id":…`); empty for an event without them, which reads exactly as before.
 */
function attributesText(a: EventAttributes | null | undefined): string {
  if (a === undefined || a === null) return '';
  let out = '';
  if (a.key !== undefined) out += `,"key":${JSON.stringify(a.key)},"version":${a.version}`;
  if (a.type !== undefined) out += `,"type":${JSON.stringify(a.type)}`;
  if (a.metadata !== undefined) out += `,"metadata":${oddPayload(a.metadata) ?? a.metadata.toString('utf8')}`;
  if (a.msgId !== undefined) out += `,"msg_id":${JSON.stringify(a.msgId)}`;
  return out;
}

/** {@link eventsResponse} without the end of the line: a subscription's page, shared by its subscribers. */
const NO_TAIL = Symbol('no tail');

/**
 * The response of `operation` listing `events`, then `trailer` (`],"more":…}`, or `],"next_offset":`
 * followed by `trailerNumber` and `numberEnd`, or `}` without one), then the line's end (none
 * for NO_TAIL).
 */
function eventsResponse(
  operation: string,
  events: readonly EventView[],
  trailer: Buffer,
  trailerNumber: number | null,
  requestIdJson: string | undefined | typeof NO_TAIL,
  numberEnd: Buffer | null = null,
): Buffer {
  const head = HEADS.get(operation)!;
  let bound = head.length + EVENTS_OPEN.length + trailer.length + MAX_DIGITS + 1 + (numberEnd?.length ?? 0) + (requestIdJson === NO_TAIL ? 0 : tailMaxBytes(requestIdJson));
  let streamIdBound = 0;
  oddPayloads.length = events.length;
  attributeTexts.length = events.length;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const odd = oddPayload(event.payload);
    oddPayloads[i] = odd;
    const attributes = attributesText(event.attributes);
    attributeTexts[i] = attributes;
    bound += EVENT_FIXED_BYTES + (odd === null ? event.payload.length : odd.length * 3) + attributes.length * 3;
    if (event.streamId.length > streamIdBound) streamIdBound = event.streamId.length;
  }
  bound += events.length * streamIdBound * 3;
  const out = Buffer.allocUnsafe(bound);
  let at = put(out, 0, head);
  at = put(out, at, EVENTS_OPEN);
  let streamId = '';
  let streamIdBytes: Buffer | null = null;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    if (i > 0) out[at++] = 0x2c; // ,
    at = put(out, at, EVENT_ID);
    at = putEventId(out, at, event);
    at = put(out, at, EVENT_STREAM_ID);
    if (streamIdBytes === null || event.streamId !== streamId) {
      streamId = event.streamId;
      streamIdBytes = Buffer.from(streamId, 'utf8');
    }
    at = put(out, at, streamIdBytes);
    at = put(out, at, EVENT_STATUS);
    at = putDecimal(out, at, event.status);
    at = put(out, at, EVENT_TIME);
    at = putTime(out, at, event.createdMs);
    at = put(out, at, EVENT_BODY);
    const odd = oddPayloads[i]!;
    at = odd === null ? put(out, at, event.payload) : at + out.write(odd, at, 'utf8');
    at = put(out, at, EVENT_OFFSET);
    at = putDecimal(out, at, event.offset);
    at = put(out, at, EVENT_DELIVERIES);
    at = putDecimal(out, at, event.deliveryCount);
    const attributes = attributeTexts[i]!;
    if (attributes.length > 0) at += out.write(attributes, at, 'utf8');
    out[at++] = CLOSE_BRACE;
  }
  oddPayloads.length = 0;
  attributeTexts.length = 0;
  at = put(out, at, trailer);
  if (trailerNumber !== null) {
    // A backward read that reached the stream's start continues from -1.
    if (trailerNumber < 0) out[at++] = 0x2d; // -
    at = putDecimal(out, at, Math.abs(trailerNumber));
    if (numberEnd === null) out[at++] = CLOSE_BRACE;
    else at = put(out, at, numberEnd);
  }
  if (requestIdJson !== NO_TAIL) at = putTail(out, at, requestIdJson);
  return out.subarray(0, at);
}

/** The success response of process_events or retry_events: `{"events":[…],"more":bool}`. */
export function deliveryResponse(operation: 'process_events' | 'retry_events', delivery: Delivery, requestIdJson: string | undefined): Buffer {
  return eventsResponse(operation, delivery.events, delivery.more ? MORE_TRUE : MORE_FALSE, null, requestIdJson);
}

/**
 * The success response of get_stream_events: `{"events":[…],"next_offset":N,"at_end":bool}`
 * (`next_version` in place of `next_offset` for a read by key).
 */
export function eventPageResponse(page: EventPage, requestIdJson: string | undefined): Buffer {
  const byVersion = page.nextVersion !== undefined;
  return eventsResponse('get_stream_events', page.events, byVersion ? NEXT_VERSION : NEXT_OFFSET, byVersion ? page.nextVersion! : page.nextOffset, requestIdJson, page.atEnd ? AT_END_TRUE : AT_END_FALSE);
}

/**
 * A subscription's page of events up to the end of its line (`{"operation":"subscribe","status":true,
 * "body":{"events":[…],"next_offset":N}`): the subscribers of a stream share pages
 * (bus/subscription.ts), and each line of them ends with its own request id ({@link TailedLine}).
 */
export function subscriptionEventsHead(events: readonly EventView[], nextOffset: number): Buffer {
  return eventsResponse('subscribe', events, NEXT_OFFSET, nextOffset, NO_TAIL);
}

/** The end of a line (`,"request_id":…}` and the newline, or `}` and the newline), once per subscription. */
export function lineTail(requestIdJson: string | undefined): Buffer {
  const tail = Buffer.allocUnsafe(tailBytes(requestIdJson));
  const end = putTail(tail, 0, requestIdJson);
  assert(end === tail.length, 'a line tail fills its buffer');
  return tail;
}

/** A line made of `head` (everything before the request id, shared) and its subscription's `tail`. */
export class TailedLine implements DeferredResponse {
  /** Exact: a subscription counts the bytes it has waiting. */
  readonly maxBytes: number;

  constructor(readonly head: Buffer, readonly tail: Buffer) {
    this.maxBytes = head.length + tail.length;
  }

  writeInto(out: Buffer, at: number): number {
    return put(out, put(out, at, this.head), this.tail);
  }
}
