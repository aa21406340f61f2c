/**
 * The checks of an append's fields and sizes, for a store that does not make them itself (the
 * JetStream store: NATS would store an empty key, and refuse a long one only by closing the
 * connection). They are the engine's checks (storage/event-append.ts, checkBatch), with its
 * limits, reasons and contexts, so a refusal reads the same on every backend;
 * test/bus/append-checks.test.ts holds them against the engine case by case so they cannot drift.
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import { MAX_KEY_BYTES, MAX_MSG_ID_BYTES, MAX_TYPE_BYTES } from '../storage/format/record-fields.js';
import type { AppendOptions, EventToAppend } from './event-store.js';

/** The size limits an append is checked against. */
export interface AppendLimits {
  /** Most bytes of one event's body and metadata. */
  maxEventBytes: number;
  /** Most events in one append. */
  maxBatchEvents: number;
  /** Most bytes of one append (bodies, metadata, keys, types, msg ids). */
  maxBatchBytes: number;
}

/** The engine's default batch limits (storage/engine-options.ts), which a store without its own uses. */
export const DEFAULT_BATCH_LIMITS: Pick<AppendLimits, 'maxBatchEvents' | 'maxBatchBytes'> = { maxBatchEvents: 1000, maxBatchBytes: 4 * 1024 * 1024 };

/**
 * Throws what the engine would refuse `events` with before looking at the stream's contents:
 * INVALID_FIELD (an empty batch, a bad expected version, a key, type or msg_id of no length or
 * over its limit, empty metadata, a msg_id twice in the batch), EVENT_TOO_LARGE or BATCH_TOO_LARGE.
 */
export function checkAppend(events: readonly EventToAppend[], options: AppendOptions, limits: AppendLimits): void {
  if (events.length === 0) throw invalid('events', 'a batch holds at least one event', 'a non-empty array');
  if (events.length > limits.maxBatchEvents) {
    throw new EventBusError(ErrorCodes.BATCH_TOO_LARGE, `a batch holds at most ${limits.maxBatchEvents} events, got ${events.length}`, {
      context: { field: 'events', limit: limits.maxBatchEvents, events: events.length },
    });
  }
  const expected = options.expectedVersion ?? 'any';
  if (!(expected === 'any' || expected === 'no_stream' || expected === 'stream_exists' || (Number.isSafeInteger(expected) && (expected as number) >= -1))) {
    throw invalid('expected_version', `expected_version must be "any", "no_stream", "stream_exists" or an integer of at least -1, got ${JSON.stringify(expected)}`, '"any", "no_stream", "stream_exists" or an integer of at least -1');
  }
  const keyBytes = options.key === undefined ? 0 : utf8Bytes('key', options.key, MAX_KEY_BYTES);
  const distinct = new Set<string>();
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const typeBytes = event.type === undefined ? 0 : utf8Bytes(`events[${i}].type`, event.type, MAX_TYPE_BYTES);
    const msgIdBytes = event.msgId === undefined ? 0 : utf8Bytes(`events[${i}].msg_id`, event.msgId, MAX_MSG_ID_BYTES);
    if (event.metadata !== undefined && event.metadata.length === 0) throw invalid(`events[${i}].metadata`, 'metadata must not be empty', 'a JSON object');
    if (event.msgId !== undefined) {
      if (distinct.has(event.msgId)) throw invalid(`events[${i}].msg_id`, `msg_id ${JSON.stringify(event.msgId)} appears twice in the batch`, 'a msg_id unique within the batch');
      distinct.add(event.msgId);
    }
    const eventBytes = event.payload.length + (event.metadata?.length ?? 0);
    if (eventBytes > limits.maxEventBytes) {
      throw new EventBusError(ErrorCodes.EVENT_TOO_LARGE, `event ${i} is ${eventBytes} bytes (body and metadata), the limit is ${limits.maxEventBytes}`, {
        context: { field: `events[${i}]`, limit: limits.maxEventBytes, bytes: eventBytes },
      });
    }
    bytes += eventBytes + keyBytes + typeBytes + msgIdBytes;
  }
  if (bytes > limits.maxBatchBytes) {
    throw new EventBusError(ErrorCodes.BATCH_TOO_LARGE, `a batch holds at most ${limits.maxBatchBytes} bytes, got ${bytes}`, {
      context: { field: 'events', limit: limits.maxBatchBytes, bytes },
    });
  }
}

/** The UTF-8 length of a string field of 1 to `max` bytes; INVALID_FIELD otherwise. */
function utf8Bytes(field: string, value: string, max: number): number {
  const length = Buffer.byteLength(value, 'utf8');
  if (length === 0 || length > max) throw invalid(field, `${field} must be 1 to ${max} bytes of UTF-8, got ${length}`, `a string of 1 to ${max} bytes`);
  return length;
}

function invalid(field: string, reason: string, expected: string): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_FIELD, reason, { context: { field, expected } });
}
