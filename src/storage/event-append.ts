/**
 * An append of a batch of events with what event sourcing needs (Engine.appendEvents): a key (the
 * aggregate) whose versions count from 0, an expected version checked at commit, idempotency by
 * message id, and type and metadata kept beside each event.
 *
 * Everything from the checks to the assignment of offsets and versions happens in one
 * synchronous step, in the stream's write order: of concurrent appends expecting the same version
 * exactly one wins, without locks. Pending appends count (their versions are given), and a
 * failed write makes the stream refuse appends until reopened, so nothing assigned is ever
 * given again.
 *
 * Idempotency, checked before the expected version (a retried append must be recognised even
 * though its first attempt moved the version on):
 * - with an integer expected version N, exactly: when the key (or, without a key, the stream)
 *   has moved past N, the events after N are compared with the batch's message ids: all equal,
 *   the batch is a duplicate; the first one different, WRONG_EXPECTED_VERSION; some equal,
 *   IDEMPOTENCY_CONFLICT. No window is involved.
 * - otherwise through the store's duplicate window (duplicate-window.ts): every message id of the
 *   batch seen in the stream (with the same key), a duplicate; some, IDEMPOTENCY_CONFLICT.
 * A duplicate appends nothing and answers with the original events (offsets, versions, times),
 * once they are durable.
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import { MAX_KEY_BYTES, MAX_MSG_ID_BYTES, MAX_TYPE_BYTES, type RecordFields } from './format/record-fields.js';
import type { DuplicateWindow } from './duplicate-window.js';
import type { KeyIndex } from './keys/key-index.js';
import type { StoredEvent } from './log/record-reader.js';
import type { AppendedEvent, StreamLog } from './log/stream-log.js';

/**
 * What an append expects of the key's (or, without a key, the stream's) last event: `any`
 * (nothing), `no_stream` (there is none), `stream_exists` (there is one), or its version (without
 * a key, its offset). -1 is the same as `no_stream`.
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

/** One event of {@link Engine.appendEvents}. */
export interface NewEvent {
  /** The event's bytes, stored as given. */
  payload: Buffer;
  /** 1 to 255 bytes of UTF-8. */
  type?: string;
  /** Stored as given (eventbus's server stores a JSON object's text). */
  metadata?: Buffer;
  /** The client's id of the event, 1 to 64 bytes of UTF-8: a batch sent again is not appended twice. */
  msgId?: string;
}

/** Options of {@link Engine.appendEvents}. */
export interface AppendEventsOptions {
  /** The aggregate: 1 to 255 bytes of UTF-8. Each key's events have versions 0, 1, 2, … */
  key?: string;
  /** Default `any`. */
  expectedVersion?: ExpectedVersion;
}

/** What {@link Engine.appendEvents} resolves to. */
export interface AppendEventsResult {
  /** Each event's offset and time, and its version when the batch has a key. */
  events: AppendedEvent[];
  /** What to expect next: the key's last version, or without a key the stream's last offset. */
  nextExpectedVersion: number;
  /** True when the batch had been appended before (by message id): nothing was appended now. */
  duplicate: boolean;
}

/** Limits of an append (engine-options.ts). */
export interface AppendLimits {
  maxBatchEvents: number;
  maxBatchBytes: number;
  maxEventBytes: number;
}

/** What an append works on. */
export interface AppendTarget {
  number: number;
  log: StreamLog;
  keys: KeyIndex;
}

/** What every append of a store shares. */
export interface AppendContext {
  window: DuplicateWindow;
  limits: AppendLimits;
  /** Schedules the writes of what was queued (the log's, and the key index's bookkeeping). */
  queued(target: AppendTarget, keyed: boolean): void;
}

/** A batch after its checks: fields encoded, bytes counted. */
interface CheckedBatch {
  payloads: Buffer[];
  fields: (RecordFields | null)[] | null;
  key: string | undefined;
  keyBytes: Buffer | null;
  msgIds: (string | undefined)[];
  /** True when every event has a message id. */
  allMsgIds: boolean;
  expected: ExpectedVersion;
}

/**
 * Appends `events` as one batch to `target` (see the module comment). Throws synchronously, in
 * the caller's step, every refusal: INVALID_FIELD, EVENT_TOO_LARGE, BATCH_TOO_LARGE,
 * WRONG_EXPECTED_VERSION, IDEMPOTENCY_CONFLICT, STREAM_FAILED, DISK_FULL, CORRUPT_DATA.
 */
export function appendEvents(ctx: AppendContext, target: AppendTarget, events: readonly NewEvent[], options: AppendEventsOptions, nowMs: number): Promise<AppendEventsResult> {
  const { log } = target;
  const refused = log.refused();
  if (refused !== null) throw refused;
  const batch = checkBatch(events, options, ctx.limits);
  const current = batch.key === undefined ? log.assignedOffset - 1 : target.keys.newest(batch.key).version;
  const expected = batch.expected;
  if (typeof expected === 'number' && expected >= 0) {
    if (current !== expected) return exactRetry(target, batch, current, expected);
  } else {
    const duplicate = windowedRetry(ctx, target, batch, nowMs);
    if (duplicate !== null) return duplicate;
    const ok = expected === 'any' || ((expected === 'no_stream' || expected === -1) ? current === -1 : current >= 0);
    if (!ok) throw wrongExpectedVersion(expected, current);
  }
  const firstOffset = log.assignedOffset;
  const firstVersion = current + 1;
  if (batch.fields !== null && batch.keyBytes !== null) {
    for (let i = 0; i < batch.fields.length; i++) batch.fields[i]!.version = firstVersion + i;
  }
  const appended = log.append(batch.payloads, nowMs, batch.fields);
  const count = batch.payloads.length;
  if (batch.key !== undefined) target.keys.appended(batch.key, firstVersion, firstOffset, count);
  for (let i = 0; i < count; i++) {
    const msgId = batch.msgIds[i];
    if (msgId !== undefined) ctx.window.add(target.number, msgId, firstOffset + i, nowMs);
  }
  ctx.queued(target, batch.key !== undefined);
  const keyed = batch.key !== undefined;
  return appended.then((written) => {
    if (keyed) for (let i = 0; i < written.length; i++) written[i]!.version = firstVersion + i;
    return { events: written, nextExpectedVersion: keyed ? firstVersion + count - 1 : firstOffset + count - 1, duplicate: false };
  });
}

/** Checks a batch against the limits and encodes its fields. */
function checkBatch(events: readonly NewEvent[], options: AppendEventsOptions, limits: AppendLimits): CheckedBatch {
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
  const key = options.key;
  const keyBytes = key === undefined ? null : utf8Field('key', key, MAX_KEY_BYTES);
  const payloads: Buffer[] = new Array(events.length);
  const msgIds: (string | undefined)[] = new Array(events.length);
  const distinct = new Set<string>();
  let anyFields = keyBytes !== null;
  let allMsgIds = true;
  let bytes = 0;
  const fields: RecordFields[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    const type = event.type === undefined ? null : utf8Field(`events[${i}].type`, event.type, MAX_TYPE_BYTES);
    const msgId = event.msgId === undefined ? null : utf8Field(`events[${i}].msg_id`, event.msgId, MAX_MSG_ID_BYTES);
    const metadata = event.metadata === undefined ? null : event.metadata;
    if (metadata !== null && metadata.length === 0) throw invalid(`events[${i}].metadata`, 'metadata must not be empty', 'a JSON object');
    if (event.msgId !== undefined) {
      if (distinct.has(event.msgId)) throw invalid(`events[${i}].msg_id`, `msg_id ${JSON.stringify(event.msgId)} appears twice in the batch`, 'a msg_id unique within the batch');
      distinct.add(event.msgId);
    } else {
      allMsgIds = false;
    }
    const eventBytes = event.payload.length + (metadata?.length ?? 0);
    if (eventBytes > limits.maxEventBytes) {
      throw new EventBusError(ErrorCodes.EVENT_TOO_LARGE, `event ${i} is ${eventBytes} bytes (body and metadata), the limit is ${limits.maxEventBytes}`, {
        context: { field: `events[${i}]`, limit: limits.maxEventBytes, bytes: eventBytes },
      });
    }
    bytes += eventBytes + (keyBytes?.length ?? 0) + (type?.length ?? 0) + (msgId?.length ?? 0);
    payloads[i] = event.payload;
    msgIds[i] = event.msgId;
    fields[i] = { key: keyBytes, version: 0, type, metadata, msgId };
    anyFields ||= type !== null || metadata !== null || msgId !== null;
  }
  if (bytes > limits.maxBatchBytes) {
    throw new EventBusError(ErrorCodes.BATCH_TOO_LARGE, `a batch holds at most ${limits.maxBatchBytes} bytes, got ${bytes}`, {
      context: { field: 'events', limit: limits.maxBatchBytes, bytes },
    });
  }
  return { payloads, fields: anyFields ? fields : null, key, keyBytes, msgIds, allMsgIds: allMsgIds && distinct.size > 0, expected };
}

/** The UTF-8 bytes of a string field of 1 to `max` bytes; INVALID_FIELD otherwise. */
function utf8Field(field: string, value: string, max: number): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0 || bytes.length > max) throw invalid(field, `${field} must be 1 to ${max} bytes of UTF-8, got ${bytes.length}`, `a string of 1 to ${max} bytes`);
  return bytes;
}

function invalid(field: string, reason: string, expected: string): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_FIELD, reason, { context: { field, expected } });
}

function wrongExpectedVersion(expected: ExpectedVersion, actual: number): EventBusError {
  return new EventBusError(ErrorCodes.WRONG_EXPECTED_VERSION, `expected version ${JSON.stringify(expected)}, but the last event is at ${actual}`, {
    context: { expected, actual },
  });
}

function idempotencyConflict(reason: string, msgIds: readonly string[]): EventBusError {
  return new EventBusError(ErrorCodes.IDEMPOTENCY_CONFLICT, reason, { context: { msg_ids: msgIds } });
}

/**
 * The exact rule, for an integer expected version `expected` that the key (or stream) is no
 * longer at: the events after it decide between a duplicate, WRONG_EXPECTED_VERSION and
 * IDEMPOTENCY_CONFLICT.
 */
function exactRetry(target: AppendTarget, batch: CheckedBatch, current: number, expected: number): Promise<AppendEventsResult> {
  if (current < expected || !batch.allMsgIds) throw wrongExpectedVersion(expected, current);
  const count = batch.payloads.length;
  const after = eventsAfter(target, batch.key, expected, count);
  let matching = 0;
  for (let i = 0; i < count && i < after.length; i++) if (after[i]!.attributes?.msgId === batch.msgIds[i]) matching += 1;
  if (matching === count) return duplicateOf(target, batch, after);
  if (after.length === 0 || after[0]!.attributes?.msgId !== batch.msgIds[0]) throw wrongExpectedVersion(expected, current);
  throw idempotencyConflict(`the events after version ${expected} match only part of the batch (${matching} of ${count} message ids)`, batch.msgIds.filter((id): id is string => id !== undefined));
}

/**
 * Up to `count` events of `key` after version `expected` (without a key: the stream's events
 * after offset `expected`), in order; stops at the first one that is not stored (removed by
 * retention).
 */
function eventsAfter(target: AppendTarget, key: string | undefined, expected: number, count: number): StoredEvent[] {
  const { log } = target;
  const out: StoredEvent[] = [];
  if (key === undefined) {
    for (let i = 0; i < count; i++) {
      const event = readWritten(log, expected + 1 + i);
      if (event === null) break;
      out.push(event);
    }
    return out;
  }
  // Appends still queued are written first: the index checks records already written.
  if (log.writtenOffset < log.assignedOffset) readWritten(log, log.writtenOffset);
  for (const entry of target.keys.offsetsOf(key, expected + 1, 'forward', count)) {
    const event = readWritten(log, entry.offset);
    if (event === null) break;
    out.push(event);
  }
  return out;
}

/** The stored event at `offset`, writing queued appends first if it is one of them. */
function readWritten(log: StreamLog, offset: number): StoredEvent | null {
  if (offset >= log.writtenOffset && offset < log.assignedOffset) {
    log.flush(Date.now());
    const refused = log.refused();
    if (refused !== null) throw refused;
  }
  return log.readWritten(offset);
}

/**
 * The window rule, for an expected version other than an integer: every message id seen, a
 * duplicate; some, IDEMPOTENCY_CONFLICT; none (or no message ids), null.
 */
function windowedRetry(ctx: AppendContext, target: AppendTarget, batch: CheckedBatch, nowMs: number): Promise<AppendEventsResult> | null {
  if (batch.msgIds.every((id) => id === undefined)) return null;
  // After a restart, the stream's recent ids are read from its log first (once).
  ctx.window.load(target.number, target.log, nowMs);
  const seen: number[] = [];
  const seenIds: string[] = [];
  for (const msgId of batch.msgIds) {
    if (msgId === undefined) continue;
    const offset = ctx.window.get(target.number, msgId, nowMs);
    if (offset !== undefined) {
      seen.push(offset);
      seenIds.push(msgId);
    }
  }
  if (seen.length === 0) return null;
  if (!batch.allMsgIds || seen.length < batch.payloads.length) {
    throw idempotencyConflict(`${seen.length} of the batch's ${batch.payloads.length} events were appended before (by msg_id), the others not`, seenIds);
  }
  const originals: StoredEvent[] = [];
  for (let i = 0; i < seen.length; i++) {
    const event = readWritten(target.log, seen[i]!);
    if (event === null || event.attributes?.msgId !== batch.msgIds[i] || event.attributes?.key !== batch.key) {
      throw idempotencyConflict(`msg_id ${JSON.stringify(batch.msgIds[i])} was appended before ${event === null ? '(the event is no longer stored)' : 'with another key'}`, seenIds);
    }
    originals.push(event);
  }
  return duplicateOf(target, batch, originals);
}

/** The answer to a duplicate: the original events, once they are durable. */
function duplicateOf(target: AppendTarget, batch: CheckedBatch, originals: readonly StoredEvent[]): Promise<AppendEventsResult> {
  const keyed = batch.key !== undefined;
  const events: AppendedEvent[] = originals.map((event) => ({
    offset: event.offset,
    timestampMs: event.timestampMs,
    ...(keyed ? { version: event.attributes!.version! } : {}),
  }));
  const last = events[events.length - 1]!;
  const highest = Math.max(...events.map((e) => e.offset));
  const result: AppendEventsResult = { events, nextExpectedVersion: keyed ? last.version! : last.offset, duplicate: true };
  return target.log.whenVisible(highest).then(() => result);
}
