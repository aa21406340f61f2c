/**
 * Where a read, a subscription or a new consumer starts, as the wire gives it:
 * `from_offset` (an offset, or `"end"`), `from_time` (RFC 3339), `direction` (`"forward"` or
 * `"backward"`), and a consumer's `start` (`"all"`, `"new"`, `{"offset": N}`, `{"time": "…"}`).
 */
import type { ConsumerStart } from '../storage/index.js';
import { UNICODE_TEXT } from '../storage/unicode-text.js';
import { findBodyMember, findObjectMember } from './raw-json.js';
import { integerField, invalidField, isObject, streamNameOf, type JsonObject } from './parse-request.js';
import type { FilterFields, ReadPosition, SubscribeRequest } from './requests.js';

/**
 * RFC 3339: a full date, `T` (or `t`, or a space), a full time with an optional fraction of any
 * number of digits (its `1*DIGIT`; the line's length bounds it), and an offset.
 */
const RFC_3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** What a position field holding an offset or a version may be: JavaScript's safe integers. */
export const UP_TO = `to ${Number.MAX_SAFE_INTEGER}`;

/**
 * `value` (RFC 3339) in ms since the epoch; throws INVALID_FIELD naming `field`. Events carry
 * whole milliseconds: a time between two of them is rounded `up` (to the first ms at or after
 * it: "the first event at or after") or `down` (backward: "the last at or before"). A leap
 * second (`:60`) is the moment after `:59.999`, as Unix time counts it.
 */
export function parseTime(value: unknown, field: string, round: 'up' | 'down' = 'up'): number {
  const match = typeof value === 'string' ? RFC_3339.exec(value) : null;
  const ms = match === null ? NaN : timeOf(match, value as string, round);
  if (!Number.isFinite(ms)) throw invalidField(field, 'an RFC 3339 time such as 2026-11-30T12:00:00Z');
  return ms;
}

function timeOf(match: RegExpExecArray, text: string, round: 'up' | 'down'): number {
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const zoneOk = match[8] === undefined || (Number(match[8]) <= 23 && Number(match[9]) <= 59);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 60 || !zoneOk) return NaN;
  // Date.parse takes no second 60: parse :59, then add the second.
  const leap = second === 60;
  const fraction = match[7] ?? '';
  // Date.parse is given milliseconds at most; what is finer only rounds (below).
  const whole = fraction.length > 3 ? text.replace(`.${fraction}`, `.${fraction.slice(0, 3)}`) : text;
  const parsed = Date.parse((leap ? whole.replace(/:60(?=[.Zz+-])/, ':59') : whole).replace(' ', 'T'));
  // The leap second is the next second's start, whichever way the read goes.
  if (leap) return parsed - (((parsed % 1000) + 1000) % 1000) + 1000;
  const belowMs = /[1-9]/.test(fraction.slice(3));
  return round === 'up' && belowMs ? parsed + 1 : parsed;
}

/** `from_offset` (N or "end"), `from_time` and `direction` of get_stream_events (`line`: its request line, for the integers' bytes). */
export function parseReadPosition(body: JsonObject, line: Buffer): ReadPosition {
  const direction = body.direction ?? 'forward';
  if (direction !== 'forward' && direction !== 'backward') throw invalidField('direction', 'forward or backward');
  const { fromOffset, fromEnd, fromTimeMs } = parseFrom(body, line, direction);
  return { fromOffset, fromEnd: fromEnd || (direction === 'backward' && body.from_offset == null && fromTimeMs === undefined), fromTimeMs, direction };
}

/**
 * `from_offset` or `from_time` (not both). Backward, `from_offset` may be -1: the `next_offset`
 * a backward read ends with, sent back (an empty page at the end).
 */
function parseFrom(body: JsonObject, line: Buffer, direction: 'forward' | 'backward' = 'forward'): { fromOffset: number; fromEnd: boolean; fromTimeMs: number | undefined } {
  const offset = body.from_offset;
  const time = body.from_time;
  const hasOffset = offset !== undefined && offset !== null;
  if (hasOffset && time !== undefined && time !== null) throw invalidField('from_time', 'from_offset or from_time, not both');
  if (time !== undefined && time !== null) return { fromOffset: 0, fromEnd: false, fromTimeMs: parseTime(time, 'from_time', direction === 'backward' ? 'down' : 'up') };
  if (offset === 'end') return { fromOffset: 0, fromEnd: true, fromTimeMs: undefined };
  if (!hasOffset) return { fromOffset: 0, fromEnd: false, fromTimeMs: undefined };
  const lowest = direction === 'backward' ? -1 : 0;
  const fromOffset = integerField(offset, lowest, line, () => findBodyMember(line, 'from_offset'));
  if (fromOffset === null) throw invalidField('from_offset', `an integer from ${lowest} ${UP_TO}, or the string end`);
  return { fromOffset, fromEnd: false, fromTimeMs: undefined };
}

/**
 * subscribe {stream_name, key?, types?, from_offset | from_time}. A read's `from_version` and
 * `direction: "backward"` are refused rather than ignored: a subscriber that meant them would
 * otherwise get the whole history again, or in the order it did not ask for.
 */
export function parseSubscribe(body: JsonObject, line: Buffer): SubscribeRequest {
  if (body.from_version !== undefined && body.from_version !== null) throw invalidField('from_version', 'from_offset or from_time (a subscription starts at a position in the stream: to follow a key from a version, start at that event\'s offset)');
  if (body.direction !== undefined && body.direction !== null && body.direction !== 'forward') throw invalidField('direction', 'forward (a subscription goes forward only)');
  return { operation: 'subscribe', streamName: streamNameOf(body), ...parseFrom(body, line), ...parseFilter(body) };
}

/** `key` (a string) and `types` (a non-empty array of strings), Unicode text; lengths are checked by the engine. */
export function parseFilter(body: JsonObject): FilterFields {
  const key = body.key;
  if (key !== undefined && key !== null && typeof key !== 'string') throw invalidField('key', 'a string');
  if (typeof key === 'string' && !key.isWellFormed()) throw invalidField('key', UNICODE_TEXT);
  const types = body.types;
  if (types !== undefined && types !== null && (!Array.isArray(types) || types.length === 0 || !types.every((t) => typeof t === 'string'))) {
    throw invalidField('types', 'a non-empty array of strings');
  }
  if (Array.isArray(types)) for (let i = 0; i < types.length; i++) if (!(types[i] as string).isWellFormed()) throw invalidField(`types[${i}]`, UNICODE_TEXT);
  return { key: typeof key === 'string' ? key : undefined, types: Array.isArray(types) ? (types as string[]) : undefined };
}

/** get_stream_events `from_version` (with `key` only). */
export function parseFromVersion(body: JsonObject, key: string | undefined, line: Buffer): number | undefined {
  const value = body.from_version;
  if (value === undefined || value === null) return undefined;
  if (key === undefined) throw invalidField('from_version', 'from_version with a key only');
  const given = (field: string) => body[field] !== undefined && body[field] !== null;
  if (given('from_offset') || given('from_time')) throw invalidField('from_version', 'one of from_version, from_offset and from_time');
  if (value === 'end') return Number.MAX_SAFE_INTEGER;
  // Backward, -1 is the next_version a backward read ends with, sent back.
  const lowest = body.direction === 'backward' ? -1 : 0;
  const version = integerField(value, lowest, line, () => findBodyMember(line, 'from_version'));
  if (version === null) throw invalidField('from_version', `an integer from ${lowest} ${UP_TO}, or the string end`);
  return version;
}

/** process_events `start`; undefined when absent. */
export function parseConsumerStart(body: JsonObject, line: Buffer): ConsumerStart | undefined {
  const start = body.start;
  if (start === undefined || start === null) return undefined;
  if (start === 'all' || start === 'new') return { kind: start };
  // No double quotes: `expected` is quoted in the reply's context as it is.
  const expected = 'all, new, an object with offset (an integer) or time (RFC 3339)';
  if (!isObject(start)) throw invalidField('start', expected);
  // A member given as null counts as left out, as everywhere in a body.
  const keys = Object.keys(start).filter((key) => start[key] !== null);
  if (keys.length === 1 && keys[0] === 'offset') {
    const offset = integerField(start.offset, 0, line, () => {
      const span = findBodyMember(line, 'start');
      return span === null ? null : findObjectMember(line, span, 'offset');
    });
    if (offset === null) throw invalidField('start.offset', `an integer from 0 ${UP_TO}`);
    return { kind: 'offset', offset };
  }
  if (keys.length === 1 && keys[0] === 'time') return { kind: 'time', timeMs: parseTime(start.time, 'start.time') };
  throw invalidField('start', expected);
}
