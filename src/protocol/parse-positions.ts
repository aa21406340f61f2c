/**
 * Where a read, a subscription or a new consumer starts, as the wire gives it:
 * `from_offset` (an offset, or `"end"`), `from_time` (RFC 3339), `direction` (`"forward"` or
 * `"backward"`), and a consumer's `start` (`"all"`, `"new"`, `{"offset": N}`, `{"time": "…"}`).
 */
import type { ConsumerStart } from '../storage/index.js';
import { invalidField, isObject, string, type JsonObject } from './parse-request.js';
import type { ReadPosition, SubscribeRequest } from './requests.js';

/** RFC 3339: a full date, `T` (or `t`, or a space), a full time with optional fraction, and an offset. */
const RFC_3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** `value` (RFC 3339) in ms since the epoch; throws INVALID_FIELD naming `field`. */
export function parseTime(value: unknown, field: string): number {
  const ms = typeof value === 'string' && RFC_3339.test(value) ? Date.parse(value.replace(' ', 'T')) : NaN;
  if (!Number.isFinite(ms)) throw invalidField(field, 'an RFC 3339 time such as 2026-11-30T12:00:00Z');
  return ms;
}

/** `from_offset` (N or "end"), `from_time` and `direction` of get_stream_events. */
export function parseReadPosition(body: JsonObject): ReadPosition {
  const direction = body.direction ?? 'forward';
  if (direction !== 'forward' && direction !== 'backward') throw invalidField('direction', 'forward or backward');
  const { fromOffset, fromEnd, fromTimeMs } = parseFrom(body);
  return { fromOffset, fromEnd: fromEnd || (direction === 'backward' && body.from_offset == null && fromTimeMs === undefined), fromTimeMs, direction };
}

/** `from_offset` or `from_time` (not both). */
function parseFrom(body: JsonObject): { fromOffset: number; fromEnd: boolean; fromTimeMs: number | undefined } {
  const offset = body.from_offset;
  const time = body.from_time;
  const hasOffset = offset !== undefined && offset !== null;
  if (hasOffset && time !== undefined && time !== null) throw invalidField('from_time', 'from_offset or from_time, not both');
  if (time !== undefined && time !== null) return { fromOffset: 0, fromEnd: false, fromTimeMs: parseTime(time, 'from_time') };
  if (offset === 'end') return { fromOffset: 0, fromEnd: true, fromTimeMs: undefined };
  if (!hasOffset) return { fromOffset: 0, fromEnd: false, fromTimeMs: undefined };
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw invalidField('from_offset', 'an integer of at least 0, or the string end');
  return { fromOffset: offset, fromEnd: false, fromTimeMs: undefined };
}

/** subscribe {stream_name, from_offset | from_time}. */
export function parseSubscribe(body: JsonObject): SubscribeRequest {
  return { operation: 'subscribe', streamName: string(body, 'stream_name'), ...parseFrom(body) };
}

/** process_events `start`; undefined when absent. */
export function parseConsumerStart(body: JsonObject): ConsumerStart | undefined {
  const start = body.start;
  if (start === undefined || start === null) return undefined;
  if (start === 'all' || start === 'new') return { kind: start };
  // No double quotes: `expected` is quoted in the reply's context as it is.
  const expected = 'all, new, an object with offset (an integer) or time (RFC 3339)';
  if (!isObject(start)) throw invalidField('start', expected);
  const keys = Object.keys(start);
  if (keys.length === 1 && keys[0] === 'offset') {
    const offset = start.offset;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw invalidField('start.offset', 'an integer of at least 0');
    return { kind: 'offset', offset };
  }
  if (keys.length === 1 && keys[0] === 'time') return { kind: 'time', timeMs: parseTime(start.time, 'start.time') };
  throw invalidField('start', expected);
}
