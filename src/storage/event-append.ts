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
 * - with an integer expected version N (-1 and `no_stream` are N = -1), exactly, when the key (or,
 *   without a key, the stream) has moved past N: the events after N are compared with the batch
 *   (EventStoreDB's rule). The first one with another message id (or the batch's first event
 *   without one), WRONG_EXPECTED_VERSION; every event equal, by message id and key, a duplicate;
 *   otherwise IDEMPOTENCY_CONFLICT. No window is involved.
 * - otherwise (also when the key is at N) through the store's duplicate window
 *   (duplicate-window.ts): a batch whose every event has a message id seen in the stream, with the
 *   same key, at consecutive offsets in the batch's order (the same batch), is a duplicate; any
 *   other batch with an id seen is IDEMPOTENCY_CONFLICT. So an id in the window is never stored
 *   twice.
 * A duplicate appends nothing and answers with the original events (offsets, versions, times),
 * once they are durable; its next expected version is the original batch's last version (or
 * offset), as EventStoreDB answers an idempotent write, so a write that came between the two
 * attempts is not skipped over by the client's next conditional append.
 */
import { ErrorCodes, EventBusError, assert } from '../errors.js';
import { MAX_KEY_BYTES, MAX_MSG_ID_BYTES, MAX_TYPE_BYTES, type RecordFields } from './format/record-fields.js';
import type { DuplicateWindow } from './duplicate-window.js';
import { checkUnicodeText } from './unicode-text.js';
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
  // The version the exact rule compares from: an integer, or -1 for "no event yet".
  const exactFrom = typeof expected === 'number' ? expected : expected === 'no_stream' ? -1 : null;
  if (exactFrom !== null && current !== exactFrom) return exactRetry(target, batch, current, exactFrom, expected);
  const duplicate = windowedRetry(ctx, target, batch, nowMs);
  if (duplicate !== null) return duplicate;
  if (expected === 'stream_exists' && current < 0) throw wrongExpectedVersion(expected, current);
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

/**
 * Checks a batch against the limits and encodes its fields: INVALID_FIELD, EVENT_TOO_LARGE or
 * BATCH_TOO_LARGE before anything is written. Exported for stores that cannot check themselves
 * (bus/append-checks.ts), so a refusal reads the same on every backend.
 */
export function checkBatch(events: readonly NewEvent[], options: AppendEventsOptions, limits: AppendLimits): CheckedBatch {
  if (events.length === 0) throw invalid('events', 'a batch holds at least one event', 'a non-empty array');
  if (events.length > limits.maxBatchEvents) {
    throw new EventBusError(ErrorCodes.BATCH_TOO_LARGE, `a batch holds at most ${limits.maxBatchEvents} events, got ${events.length}`, {
      context: { field: 'events', limit: limits.maxBatchEvents, events: events.length },
    });
  }
  const expected = options.expectedVersion ?? 'any';
  if (!(expected === 'any' || expected === 'no_stream' || expected === 'stream_exists' || (Number.isSafeInteger(expected) && (expected as number) >= -1))) {
    // Named as Engine.appendEvents' argument: the server's requests never get here with a bad one (the protocol checks expected_version first).
    throw invalid('options.expectedVersion', `options.expectedVersion must be "any", "no_stream", "stream_exists" or an integer of at least -1, got ${JSON.stringify(expected)}`, '"any", "no_stream", "stream_exists" or an integer of at least -1');
  }
  const key = options.key;
  const keyBytes = key === undefined ? null : utf8Field('key', key, MAX_KEY_BYTES);
  const payloads: Buffer[] = new Array(events.length);
  const msgIds: (string | undefined)[] = new Array(events.length);
  const distinct = new Set<string>();
  let anyFields = keyBytes !== null;
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
  return { payloads, fields: anyFields ? fields : null, key, keyBytes, msgIds, expected };
}

/** The UTF-8 bytes of a string field of 1 to `max` bytes of Unicode text (unicode-text.ts); INVALID_FIELD otherwise. */
function utf8Field(field: string, value: string, max: number): Buffer {
  checkUnicodeText(value, field);
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
 * The exact rule, for an expected version `from` (an integer; -1 for `no_stream`) that the key (or
 * stream) is no longer at: the events after it decide between a duplicate, WRONG_EXPECTED_VERSION
 * and IDEMPOTENCY_CONFLICT. `expected` is the version as the append named it, for the error.
 */
function exactRetry(target: AppendTarget, batch: CheckedBatch, current: number, from: number, expected: ExpectedVersion): Promise<AppendEventsResult> {
  const first = batch.msgIds[0];
  if (current < from || first === undefined) throw wrongExpectedVersion(expected, current);
  const count = batch.payloads.length;
  const after = eventsAfter(target, batch.key, from, count);
  // Not a retry of the append that moved the key past `from`: an ordinary mismatch.
  if (after.length === 0 || after[0]!.attributes?.msgId !== first) throw wrongExpectedVersion(expected, current);
  // Seen: the batch's ids among the events compared.
  const storedIds = new Set(after.map((event) => event.attributes?.msgId));
  const seenIds = batch.msgIds.filter((id): id is string => id !== undefined && storedIds.has(id));
  // Without a key the events after N may have one: the same ids with another key are not a repeat.
  const batchIds = new Set(seenIds);
  const otherKey = after.find((event) => event.attributes?.msgId !== undefined && batchIds.has(event.attributes.msgId) && event.attributes.key !== batch.key);
  if (otherKey !== undefined) throw idempotencyConflict(anotherKeyReason(otherKey.attributes!.msgId!), seenIds);
  let matching = 0;
  while (matching < count && matching < after.length && batch.msgIds[matching] !== undefined && after[matching]!.attributes?.msgId === batch.msgIds[matching]) matching += 1;
  if (matching === count) return duplicateOf(target, after);
  const withoutId = batch.msgIds.filter((id) => id === undefined).length;
  const compared = from < 0 ? `the ${batch.key === undefined ? 'stream' : 'key'}'s first events` : `the events after ${batch.key === undefined ? 'offset' : 'version'} ${from}`;
  const noIds = withoutId === 0 ? '' : `; ${withoutIdClause(withoutId)}`;
  throw idempotencyConflict(`${compared} repeat only the first ${matching} of the batch's ${count} events (by msg_id)${noIds}`, seenIds);
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
 * The window rule, for an expected version other than an integer the key has moved past: every
 * event's message id seen, with the same key, at consecutive offsets in the batch's order (the
 * same batch), a duplicate; any other batch with a message id seen, IDEMPOTENCY_CONFLICT; none
 * seen (or no message ids), null.
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
  const count = batch.payloads.length;
  if (seen.length < count) throw idempotencyConflict(partlySeenReason(seen.length, batch.msgIds.filter((id) => id !== undefined).length, count), seenIds);
  const originals: StoredEvent[] = [];
  for (let i = 0; i < count; i++) {
    const msgId = batch.msgIds[i]!;
    const event = readWritten(target.log, seen[i]!);
    if (event === null || event.attributes?.msgId !== msgId) throw idempotencyConflict(`msg_id ${JSON.stringify(msgId)} was appended before (the event is no longer stored)`, seenIds);
    if (event.attributes.key !== batch.key) throw idempotencyConflict(anotherKeyReason(msgId), seenIds);
    originals.push(event);
  }
  // A batch is stored at consecutive offsets: anything else is not a repeat of one batch.
  for (let i = 1; i < count; i++) {
    if (seen[i]! <= seen[i - 1]!) throw idempotencyConflict(`every msg_id of the batch was appended before, but in another order (msg_id ${JSON.stringify(batch.msgIds[i])} before ${JSON.stringify(batch.msgIds[i - 1])}): a repeat is the same batch in the same order`, seenIds);
    if (seen[i]! !== seen[i - 1]! + 1) throw idempotencyConflict(`every msg_id of the batch was appended before, but not as one batch (other events between ${JSON.stringify(batch.msgIds[i - 1])} and ${JSON.stringify(batch.msgIds[i])}): a repeat is the same batch in the same order`, seenIds);
  }
  return duplicateOf(target, originals);
}

/**
 * Why a batch with some message ids seen and some events not is a conflict: `seen` of its
 * `count` events were seen, `withIds` of them have a message id. Each clause a whole sentence,
 * e.g. "1 of the batch's 2 events was appended before (by msg_id); 1 event with a msg_id was not".
 */
function partlySeenReason(seen: number, withIds: number, count: number): string {
  assert(seen > 0 && seen <= withIds && withIds <= count && seen < count, `partly seen: ${seen} seen, ${withIds} with ids, ${count} events`);
  const parts = [`${seen} of the batch's ${count} events ${wasOrWere(seen)} appended before (by msg_id)`];
  if (withIds > seen) parts.push(`${eventsWord(withIds - seen)} with a msg_id ${wasOrWere(withIds - seen)} not`);
  if (count > withIds) parts.push(withoutIdClause(count - withIds));
  return parts.join('; ');
}

/** "1 event without a msg_id cannot be recognised as appended before", for `n` such events. */
function withoutIdClause(n: number): string {
  return `${eventsWord(n)} without a msg_id cannot be recognised as appended before`;
}

function wasOrWere(n: number): string {
  return n === 1 ? 'was' : 'were';
}

function anotherKeyReason(msgId: string): string {
  return `msg_id ${JSON.stringify(msgId)} was appended before with another key (or without one)`;
}

function eventsWord(n: number): string {
  return n === 1 ? '1 event' : `${n} events`;
}

/**
 * The answer to a duplicate: the original events (with their versions when they have a key), and
 * as next expected version the last one's version (or offset), once they are durable.
 */
function duplicateOf(target: AppendTarget, originals: readonly StoredEvent[]): Promise<AppendEventsResult> {
  const events: AppendedEvent[] = originals.map((event) => {
    const version = event.attributes?.version;
    return version === undefined ? { offset: event.offset, timestampMs: event.timestampMs } : { offset: event.offset, timestampMs: event.timestampMs, version };
  });
  const last = events[events.length - 1]!;
  const result: AppendEventsResult = { events, nextExpectedVersion: last.version ?? last.offset, duplicate: true };
  // Originals are in increasing offsets (one batch, or a key's versions in order).
  return target.log.whenVisible(last.offset).then(() => result);
}
