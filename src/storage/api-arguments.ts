/**
 * The checks of what an embedder passes to the Engine's calls (engine.ts), made before anything
 * is queued, written or journaled: a wrong type or an out-of-range value is an INVALID_FIELD
 * naming the argument (`context: { field, expected }`), never a failed assertion, a damaged
 * index or a failed write later. The engine's own layers trust their arguments; this is the one
 * door where a caller's values are checked. (The options of `Engine.open` are checked in
 * engine-options.ts; the server's requests are checked by the protocol layer before they get
 * here, and pass these checks unchanged.)
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import type { ConsumeOptions, RetryOptions } from './consumers/consumer-types.js';
import type { AppendEventsOptions, NewEvent } from './event-append.js';
import { MAX_KEY_BYTES } from './format/record-fields.js';

/** The longest delay Node's timers take (about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** INVALID_FIELD for argument `field`, which should have been `expected`. */
export function invalidArgument(field: string, expected: string, value: unknown): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_FIELD, `${field} must be ${expected}, got ${describe(value)}`, { context: { field, expected } });
}

/** A short description of a value for a message (never its whole contents). */
export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Buffer.isBuffer(value)) return `a Buffer of ${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}…` : JSON.stringify(value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'function':
      return 'a function';
    default:
      return `a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value}`;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** An options object: absent, or an object (not null, not an array). */
export function checkOptionsObject(value: unknown, field: string): asserts value is Record<string, unknown> | undefined {
  if (value !== undefined && !isPlainObject(value)) throw invalidArgument(field, 'an object', value);
}

/**
 * A stream name given to a call that looks a stream up: a string (its rules are checked where a
 * stream is created; any other string is simply not found). INVALID_STREAM_NAME otherwise, the
 * code of a bad stream name.
 */
export function checkStreamNameType(value: unknown, field = 'name'): asserts value is string {
  if (typeof value !== 'string') {
    throw new EventBusError(ErrorCodes.INVALID_STREAM_NAME, `${field} must be a stream name (a string), got ${describe(value)}`, { context: { field, expected: 'a string' } });
  }
}

/** A whole number from `min` to `max`. */
export function checkWholeNumber(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): asserts value is number {
  if (!(Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max)) {
    throw invalidArgument(field, max === Number.MAX_SAFE_INTEGER ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`, value);
  }
}

/** A whole number, of any sign (a read's position: below the oldest stored is allowed). */
export function checkInteger(value: unknown, field: string): asserts value is number {
  if (!Number.isSafeInteger(value)) throw invalidArgument(field, 'a whole number', value);
}

/** An offset: a whole number, 0 or more (past a stream's end is the caller's business). */
export function checkOffset(value: unknown, field: string): asserts value is number {
  checkWholeNumber(value, field, 0);
}

/** A time in milliseconds since the epoch: a whole number (negative: before 1970). */
export function checkTimeMs(value: unknown, field: string): asserts value is number {
  if (!Number.isSafeInteger(value)) throw invalidArgument(field, 'a whole number of milliseconds since the epoch', value);
}

/** An optional count (`maxEvents`, `limit`): absent, or a whole number of at least 1. */
export function checkOptionalCount(value: unknown, field: string): void {
  if (value !== undefined) checkWholeNumber(value, field, 1);
}

/** A list of offsets (mark, eventStatuses): an array of whole numbers, 0 or more. */
export function checkOffsetList(value: unknown, field = 'offsets'): asserts value is readonly number[] {
  if (!Array.isArray(value)) throw invalidArgument(field, 'an array of offsets', value);
  for (let i = 0; i < value.length; i++) checkOffset(value[i], `${field}[${i}]`);
}

/** Limits of read and readBackward. */
export function checkReadLimits(limits: unknown): void {
  checkOptionsObject(limits, 'limits');
  if (limits === undefined) return;
  checkOptionalCount(limits.maxEvents, 'limits.maxEvents');
  checkOptionalCount(limits.maxBytes, 'limits.maxBytes');
}

/** A payload: bytes, as a Buffer (the engine never encodes anything for the caller). */
export function checkPayload(value: unknown, field: string): asserts value is Buffer {
  if (!Buffer.isBuffer(value)) throw invalidArgument(field, 'a Buffer', value);
}

/** The payloads of appendMany. */
export function checkPayloads(value: unknown): asserts value is readonly Buffer[] {
  if (!Array.isArray(value)) throw invalidArgument('payloads', 'an array of Buffers', value);
  for (let i = 0; i < value.length; i++) checkPayload(value[i], `payloads[${i}]`);
}

function checkOptionalString(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'string') throw invalidArgument(field, 'a string', value);
}

/** A key (an aggregate): 1 to 255 bytes of UTF-8. */
export function checkKey(value: unknown, field = 'key'): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || Buffer.byteLength(value) > MAX_KEY_BYTES) {
    throw invalidArgument(field, `a string of 1 to ${MAX_KEY_BYTES} bytes of UTF-8`, value);
  }
}

/**
 * The events and options of appendEvents: the types of every field (their lengths and limits
 * are event-append.ts's checks, made in the same synchronous step).
 */
export function checkNewEvents(events: unknown, options: unknown): asserts events is readonly NewEvent[] {
  if (!Array.isArray(events)) throw invalidArgument('events', 'an array of events', events);
  for (let i = 0; i < events.length; i++) {
    const event: unknown = events[i];
    if (!isPlainObject(event)) throw invalidArgument(`events[${i}]`, 'an object with a payload', event);
    checkPayload(event.payload, `events[${i}].payload`);
    checkOptionalString(event.type, `events[${i}].type`);
    if (event.metadata !== undefined) checkPayload(event.metadata, `events[${i}].metadata`);
    checkOptionalString(event.msgId, `events[${i}].msgId`);
  }
  checkOptionsObject(options, 'options');
  const { key } = (options ?? {}) as AppendEventsOptions;
  checkOptionalString(key, 'options.key');
}

/** The range of keyOffsets and keyEvents. */
export function checkKeyRange(key: unknown, fromVersion: unknown, options: unknown): void {
  checkKey(key);
  checkInteger(fromVersion, 'fromVersion');
  checkOptionsObject(options, 'options');
  if (options === undefined) return;
  if (options.direction !== undefined && options.direction !== 'forward' && options.direction !== 'backward') {
    throw invalidArgument('options.direction', '"forward" or "backward"', options.direction);
  }
  checkOptionalCount(options.limit, 'options.limit');
}

/** The options of consume: counts, wait, start and filter (their kinds and types). */
export function checkConsumeOptions(options: unknown): asserts options is ConsumeOptions | undefined {
  checkOptionsObject(options, 'options');
  if (options === undefined) return;
  checkOptionalCount(options.maxEvents, 'options.maxEvents');
  if (options.waitMs !== undefined) checkWholeNumber(options.waitMs, 'options.waitMs', 0);
  if (options.autoAck !== undefined && typeof options.autoAck !== 'boolean') throw invalidArgument('options.autoAck', 'a boolean', options.autoAck);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalidArgument('options.signal', 'an AbortSignal', options.signal);
  const start = options.start;
  if (start !== undefined) {
    if (!isPlainObject(start)) throw invalidArgument('options.start', 'an object with a kind', start);
    switch (start.kind) {
      case 'all':
      case 'new':
        break;
      case 'offset':
        checkOffset(start.offset, 'options.start.offset');
        break;
      case 'time':
        checkTimeMs(start.timeMs, 'options.start.timeMs');
        break;
      default:
        throw invalidArgument('options.start.kind', '"all", "new", "offset" or "time"', start.kind);
    }
  }
  const filter = options.filter;
  if (filter !== undefined) {
    if (!isPlainObject(filter)) throw invalidArgument('options.filter', 'an object ({ key?, types? })', filter);
    checkOptionalString(filter.key, 'options.filter.key');
    if (filter.types !== undefined) {
      if (!Array.isArray(filter.types)) throw invalidArgument('options.filter.types', 'an array of strings', filter.types);
      for (let i = 0; i < filter.types.length; i++) {
        if (typeof filter.types[i] !== 'string') throw invalidArgument(`options.filter.types[${i}]`, 'a string', filter.types[i]);
      }
    }
  }
}

/** The options of retry. */
export function checkRetryOptions(options: unknown): asserts options is RetryOptions | undefined {
  checkOptionsObject(options, 'options');
  if (options !== undefined) checkOptionalCount(options.maxEvents, 'options.maxEvents');
}

/** A directory path (a snapshot's parent): a non-empty string. */
export function checkPath(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw invalidArgument(field, 'a non-empty path', value);
}
