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
import { nodeIO, type FileIO } from './fs/io.js';
import type { EngineObserver } from './observer.js';
import { checkRetention, type StreamRetention } from './stream-settings.js';
import { checkUnicodeText } from './unicode-text.js';

/** The longest delay Node's timers take (about 24.8 days); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The largest whole number any check accepts, 2^53 − 1: past it, doubles are no longer exact. */
export const MAX_WHOLE_NUMBER = Number.MAX_SAFE_INTEGER;

/**
 * A whole number from `min` to `max` in words, the range always given (an unbounded one ends at
 * 2^53 − 1, which "at least `min`" would not say), as the protocol's checks say it.
 */
export function wholeNumberRange(min: number, max = MAX_WHOLE_NUMBER): string {
  return `a whole number from ${min} to ${max}`;
}

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
    throw invalidArgument(field, wholeNumberRange(min, max), value);
  }
}

/** A whole number, of any sign (a read's position: below the oldest stored is allowed). */
export function checkInteger(value: unknown, field: string): asserts value is number {
  if (!Number.isSafeInteger(value)) throw invalidArgument(field, wholeNumberRange(-MAX_WHOLE_NUMBER), value);
}

/** An offset: a whole number, 0 or more (past a stream's end is the caller's business). */
export function checkOffset(value: unknown, field: string): asserts value is number {
  checkWholeNumber(value, field, 0);
}

/** A time in milliseconds since the epoch: a whole number (negative: before 1970). */
export function checkTimeMs(value: unknown, field: string): asserts value is number {
  if (!Number.isSafeInteger(value)) throw invalidArgument(field, `${wholeNumberRange(-MAX_WHOLE_NUMBER)} (milliseconds since the epoch)`, value);
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
  checkKnownKeys(limits, 'limits', READ_LIMIT_KEYS);
  checkOptionalCount(limits.maxEvents, 'limits.maxEvents');
  checkOptionalCount(limits.maxBytes, 'limits.maxBytes');
}

/** A payload: bytes, as a Buffer (the engine never encodes anything for the caller). */
export function checkPayload(value: unknown, field: string): asserts value is Buffer {
  if (!Buffer.isBuffer(value)) throw invalidArgument(field, 'a Buffer', value);
}

/** The payloads of appendMany: a batch of at least one (as appendEvents: an empty batch is a mistake, not a no-op). */
export function checkPayloads(value: unknown): asserts value is readonly Buffer[] {
  if (!Array.isArray(value) || value.length === 0) throw invalidArgument('payloads', 'a non-empty array of Buffers', value);
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
  checkUnicodeText(value, field);
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
    checkKnownKeys(event, `events[${i}]`, NEW_EVENT_KEYS);
    checkPayload(event.payload, `events[${i}].payload`);
    checkOptionalString(event.type, `events[${i}].type`);
    if (event.metadata !== undefined) checkPayload(event.metadata, `events[${i}].metadata`);
    checkOptionalString(event.msgId, `events[${i}].msgId`);
  }
  checkOptionsObject(options, 'options');
  if (options === undefined) return;
  checkKnownKeys(options, 'options', APPEND_EVENTS_OPTION_KEYS);
  const { key } = options as AppendEventsOptions;
  checkOptionalString(key, 'options.key');
  // options.expectedVersion's value is event-append.ts's check (checkBatch), shared with the JetStream store.
}

/** The range of keyOffsets and keyEvents. */
export function checkKeyRange(key: unknown, fromVersion: unknown, options: unknown): void {
  checkKey(key);
  checkInteger(fromVersion, 'fromVersion');
  checkOptionsObject(options, 'options');
  if (options === undefined) return;
  checkKnownKeys(options, 'options', KEY_RANGE_OPTION_KEYS);
  if (options.direction !== undefined && options.direction !== 'forward' && options.direction !== 'backward') {
    throw invalidArgument('options.direction', '"forward" or "backward"', options.direction);
  }
  checkOptionalCount(options.limit, 'options.limit');
}

/** The options of consume: counts, wait, start and filter (their kinds and types). */
export function checkConsumeOptions(options: unknown): asserts options is ConsumeOptions | undefined {
  checkOptionsObject(options, 'options');
  if (options === undefined) return;
  checkKnownKeys(options, 'options', CONSUME_OPTION_KEYS);
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
        checkKnownKeys(start, 'options.start', ['kind']);
        break;
      case 'offset':
        checkKnownKeys(start, 'options.start', ['kind', 'offset']);
        checkOffset(start.offset, 'options.start.offset');
        break;
      case 'time':
        checkKnownKeys(start, 'options.start', ['kind', 'timeMs']);
        checkTimeMs(start.timeMs, 'options.start.timeMs');
        break;
      default:
        throw invalidArgument('options.start.kind', '"all", "new", "offset" or "time"', start.kind);
    }
  }
  const filter = options.filter;
  if (filter !== undefined) {
    if (!isPlainObject(filter)) throw invalidArgument('options.filter', 'an object ({ key?, types? })', filter);
    checkKnownKeys(filter, 'options.filter', ['key', 'types']);
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
  if (options === undefined) return;
  checkKnownKeys(options, 'options', ['maxEvents']);
  checkOptionalCount(options.maxEvents, 'options.maxEvents');
}

/** A directory path (a snapshot's parent): a non-empty string. */
export function checkPath(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw invalidArgument(field, 'a non-empty path', value);
}

/** The options of snapshot: `{ copyActiveTails? }`. */
export function checkSnapshotOptions(options: unknown): asserts options is { copyActiveTails?: boolean } | undefined {
  checkOptionsObject(options, 'options');
  if (options === undefined) return;
  checkKnownKeys(options, 'options', ['copyActiveTails']);
  if (options.copyActiveTails !== undefined && typeof options.copyActiveTails !== 'boolean') throw invalidArgument('options.copyActiveTails', 'a boolean', options.copyActiveTails);
}

// ------------------------------------------------------------------ unknown keys, stream settings, file layers and observers

const READ_LIMIT_KEYS = ['maxEvents', 'maxBytes'] as const;
const NEW_EVENT_KEYS = ['payload', 'type', 'metadata', 'msgId'] as const;
const APPEND_EVENTS_OPTION_KEYS = ['key', 'expectedVersion'] as const;
const KEY_RANGE_OPTION_KEYS = ['direction', 'limit'] as const;
const CONSUME_OPTION_KEYS = ['maxEvents', 'waitMs', 'autoAck', 'start', 'filter', 'signal'] as const;
const RETENTION_KEYS = ['maxAgeMs', 'maxBytes', 'maxEvents'] as const;

/**
 * The first key of `value` that is not one of `known`, or undefined. A for-in loop over the
 * object's own keys, allocating nothing: cheap enough for every append (the keys of an options
 * object are few, and `known` is a short list).
 */
export function firstUnknownKey(value: object, known: readonly string[]): string | undefined {
  for (const key in value) {
    if (!known.includes(key) && Object.hasOwn(value, key)) return key;
  }
  return undefined;
}

/**
 * INVALID_FIELD naming `field.key` for a key of `value` not in `known`: a misspelt option would
 * be ignored, and with it what it asked for (a misspelt `expectedVersion` would append without
 * any version check). Engine.open refuses its own options with it too (engine-options.ts).
 */
export function checkKnownKeys(value: object, field: string, known: readonly string[]): void {
  const key = firstUnknownKey(value, known);
  if (key !== undefined) throw unknownKey(`${field}.${key}`, known);
}

/** The refusal of an unknown key: `expected` lists the known ones. */
export function unknownKey(field: string, known: readonly string[]): EventBusError {
  const expected = `one of ${known.join(', ')} (unknown key)`;
  return new EventBusError(ErrorCodes.INVALID_FIELD, `${field} is not known: expected ${expected}`, { context: { field, expected } });
}

/** The options of createStream: `{ retention? }`. */
export function checkCreateStreamOptions(options: unknown): asserts options is { retention?: StreamRetention } | undefined {
  checkOptionsObject(options, 'options');
  if (options === undefined) return;
  checkKnownKeys(options, 'options', ['retention']);
  if (options.retention !== undefined) checkRetentionLimits(options.retention, 'options.retention');
}

/** A stream's own retention limits (`{ maxAgeMs?, maxBytes?, maxEvents? }`, each a whole number of 0 or more). */
export function checkRetentionLimits(value: unknown, field: string): asserts value is StreamRetention {
  if (!isPlainObject(value)) throw invalidArgument(field, 'an object of limits ({ maxAgeMs?, maxBytes?, maxEvents? })', value);
  checkKnownKeys(value, field, RETENTION_KEYS);
  checkRetention(value, field);
}

/** The methods a FileIO must have: those of nodeIO. */
export const FILE_IO_METHODS = Object.keys(nodeIO) as readonly (keyof FileIO)[];

/** True if `value` has every method of a FileIO. */
export function isFileIO(value: unknown): value is FileIO {
  return typeof value === 'object' && value !== null && FILE_IO_METHODS.every((method) => typeof (value as Record<string, unknown>)[method] === 'function');
}

/**
 * A file-system layer (EngineOptions.io, the `inner` of the testing layers): an object with every
 * method of nodeIO. A factory passed uncalled (`syncFreeIO` instead of `syncFreeIO()`) is named.
 */
export function checkFileIO(value: unknown, field: string): asserts value is FileIO {
  if (isFileIO(value)) return;
  const hint = typeof value === 'function' ? ' (a function was given: call it, e.g. syncFreeIO(), to get the layer)' : '';
  throw invalidArgument(field, `a FileIO, an object with the methods ${FILE_IO_METHODS.join(', ')}${hint}`, value);
}

/** Every callback an EngineObserver may have (the Record makes the compiler keep this list whole). */
const OBSERVER_CALLBACKS = Object.keys({ commit: true, roll: true, seal: true, recovery: true, compaction: true, snapshot: true } satisfies Record<keyof EngineObserver, true>);

/**
 * An observer (EngineOptions.observer, engine.observe): an object whose keys are callbacks of
 * EngineObserver, each a function (or undefined). Anything else would throw at every event, each
 * time logged and ignored; a misspelt callback would never be called.
 */
export function checkObserver(value: unknown, field: string): asserts value is EngineObserver {
  if (!isPlainObject(value)) throw invalidArgument(field, `an object of callbacks (${OBSERVER_CALLBACKS.join(', ')})`, value);
  checkKnownKeys(value, field, OBSERVER_CALLBACKS);
  for (const name of OBSERVER_CALLBACKS) {
    const callback = value[name];
    if (callback !== undefined && typeof callback !== 'function') throw invalidArgument(`${field}.${name}`, 'a function', callback);
  }
}
