/**
 * The write path on JetStream: one event per publish, acknowledged once the stream's quorum has
 * it. Every publish carries a msg id (the client's `msg_id`, else one of the gateway's), so a
 * retry after a timeout or a leader election is never stored twice (JetStream's duplicate window).
 * Writes to one stream go through its lane (write-lane.ts), so they are stored in the order this
 * gateway received them: unconditional ones pipelined, conditional ones one at a time.
 *
 * Keys and expected versions (issue 12). A key's version is assigned here: the key's last message
 * is read from the stream leader (its `Eb-Version` header) and the publish expects the stream's
 * last sequence (`Nats-Expected-Last-Sequence`), so it lands only if nothing was written to the
 * stream in between; a conflict re-reads and retries, a bounded number of times. The per-subject
 * expectation would serialise only the key, but on nats-server 2.9.10 it is not atomic on a
 * replicated stream (nats-server #4320: several racing writers win), so it is never used.
 * Several events in one append cannot be atomic on 2.9 (atomic batches arrived in 2.12):
 * refused with NOT_SUPPORTED, nothing written.
 */
import { randomUUID } from 'node:crypto';
import { headers as natsHeaders, type JetStreamManager, type MsgHdrs, type PubAck, type StoredMsg } from 'nats';
import { ErrorCodes, EventBusError, OriginalReasons, isEventBusError } from '../../errors.js';
import { encodeEventId } from '../../storage/format/event-id.js';
import type { AppendOptions, AppendResult, AppendedEventView, EventToAppend } from '../event-store.js';
import type { Catalog, CatalogEntry } from './catalog.js';
import type { ResolvedJetStreamOptions } from './jetstream-options.js';
import { CLIENT_MSG_ID_PREFIX, GATEWAY_MSG_ID_PREFIX, Headers, eventSubject, jsStreamName } from './names.js';
import { JsErrors, actualLastSequence, backendError, isTransient, jsErrorCode } from './nats-errors.js';
import type { PubAckPublish } from './pub-ack-publisher.js';
import type { RetryPauses } from './retry-pauses.js';
import { retryOnStream } from './stream-config.js';
import type { WriteHorizon } from './write-horizon.js';
import { WriteLane } from './write-lane.js';

/** Conflicting keyed writes are retried this many times before BACKEND_UNAVAILABLE. */
const MAX_CAS_ATTEMPTS = 200;
const RETRY_PAUSE_MS = 100;

interface KeyHead {
  /** Sequence of the key's last message, 0 when none. */
  seq: number;
  /** Its version, -1 when none. */
  version: number;
  msgId: string | undefined;
  timeMs: number;
}

export class Writer {
  /** Per stream name, the order its writes are published in (write-lane.ts). */
  private readonly lanes = new Map<string, WriteLane>();

  constructor(
    /** The publishing client a new lane of a stream uses (leader-affinity.ts: on the stream leader's node when it can). */
    private readonly publisherFor: (streamName: string) => PubAckPublish,
    private readonly jsm: JetStreamManager,
    private readonly catalog: Catalog,
    private readonly options: ResolvedJetStreamOptions,
    /** Completes a create stopped half way (stream-config.ts): true when the stream now exists. */
    private readonly repair: (entry: CatalogEntry) => Promise<boolean>,
    /** Told every acknowledged sequence (read-your-writes for consumers, write-horizon.ts). */
    private readonly horizon: WriteHorizon,
    /** Pauses between retries, ended by the gateway's shutdown (retry-pauses.ts). */
    private readonly pauses: RetryPauses,
  ) {}

  /**
   * Appends one event. Writes to one stream are stored in the order this method was called
   * (write-lane.ts): unconditional ones pipelined, conditional ones one at a time.
   */
  append(streamName: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    if (events.length === 0) return Promise.reject(new EventBusError(ErrorCodes.INVALID_FIELD, 'an append needs at least one event', { context: { field: 'events' } }));
    if (events.length > 1) {
      return Promise.reject(new EventBusError(ErrorCodes.NOT_SUPPORTED, 'an atomic append of several events needs nats-server 2.12 or later; the jetstream backend appends one event at a time (nothing was written)'));
    }
    const event = events[0]!;
    if (event.payload.length > this.options.maxEventBytes) {
      return Promise.reject(new EventBusError(ErrorCodes.EVENT_TOO_LARGE, `event is ${event.payload.length} bytes, the limit is ${this.options.maxEventBytes}`, {
        context: { field: 'events[0]', limit: this.options.maxEventBytes, bytes: event.payload.length },
      }));
    }
    const expected = options.expectedVersion ?? 'any';
    const msgId = event.msgId === undefined ? `${GATEWAY_MSG_ID_PREFIX}${randomUUID()}` : `${CLIENT_MSG_ID_PREFIX}${event.msgId}`;
    const timeMs = Date.now();
    // Taken now, synchronously: the lane's order is the order of these calls.
    const lane = this.laneOf(streamName);
    if (options.key === undefined && expected === 'any') return this.plain(lane, streamName, event, msgId, timeMs);
    // As for a plain write, the deadline counts from the write's arrival, not from its turn in
    // the lane: behind a write that spent write_timeout_ms on retries it fails after one try.
    const deadlineMs = timeMs + this.options.writeTimeoutMs;
    return lane.alone(() =>
      this.catalog.with(streamName, async (entry) => {
        try {
          if (options.key === undefined && expected === 'stream_exists') {
            await this.checkStreamExists(entry, deadlineMs);
            const h = this.headersOf(event, msgId, timeMs);
            return await this.answer(entry, await this.publishWrapped(entry, eventSubject(jsStreamName(entry.number), undefined), event.payload, h, deadlineMs), undefined, timeMs);
          }
          return await this.conditional(entry, event, options.key, expected, msgId, timeMs, deadlineMs);
        } catch (error) {
          throw withMsgId(error, msgId);
        }
      }),
    );
  }

  /**
   * Publishes a record the gateway writes itself (a dead letter, jetstream-store.ts) to `subject`
   * of `entry`'s stream, with the retries of a write (elections, timeouts; the same msg id in `h`,
   * so never stored twice) for up to `write_timeout_ms`, outside the stream's lane. Its sequence
   * goes into the write horizon, as a write's does (a consumer of the stream waits for it).
   */
  async publishRecord(entry: CatalogEntry, subject: string, payload: Buffer, h: MsgHdrs): Promise<PubAck> {
    const ack = await this.publish(entry, subject, payload, h);
    this.horizon.wrote(jsStreamName(entry.number), ack.seq);
    return ack;
  }

  private laneOf(streamName: string): WriteLane {
    let lane = this.lanes.get(streamName);
    if (lane === undefined) {
      const created: WriteLane = new WriteLane(this.publisherFor(streamName), () => {
        if (this.lanes.get(streamName) === created) this.lanes.delete(streamName);
      });
      this.lanes.set(streamName, created);
      lane = created;
    }
    return lane;
  }

  /**
   * An unconditional write without a key, pipelined in its lane: the catalog entry in turn, one
   * publish on the lane's connection; a transient failure is retried (same msg id) in order.
   */
  private async plain(lane: WriteLane, streamName: string, event: EventToAppend, msgId: string, timeMs: number): Promise<AppendResult> {
    const h = this.headersOf(event, msgId, timeMs);
    const { entry, ack } = await lane.pipelined(
      () => this.catalog.require(streamName),
      async (entry: CatalogEntry) => ({ entry, ack: await lane.publisher.publish(eventSubject(jsStreamName(entry.number), undefined), event.payload, { headers: h, timeout: this.options.requestTimeoutMs }) }),
      async (entry: CatalogEntry, error: unknown) => {
        // No responders may mean the stream was deleted, or replaced by another gateway since the
        // entry was cached (nothing was stored then): the catalog decides where the retry goes.
        const current = (error as { code?: string }).code === '503' ? await this.currentEntry(entry) : entry;
        // The deadline counts from the write's arrival: after a long outage the writes retried
        // behind the first one that gave up fail at once (outcome unknown, msg_id given).
        return { entry: current, ack: await this.publishWrapped(current, eventSubject(jsStreamName(current.number), undefined), event.payload, h, timeMs + this.options.writeTimeoutMs, error) };
      },
    ).catch((error: unknown) => {
      throw backendError(`writing to stream '${streamName}'`, error);
    });
    return this.answer(entry, ack, undefined, timeMs);
  }

  /** `publish` with failures as EventBusErrors. */
  private async publishWrapped(entry: CatalogEntry, subject: string, payload: Buffer, h: MsgHdrs, deadlineMs?: number, failure?: unknown): Promise<PubAck> {
    try {
      return await this.publish(entry, subject, payload, h, deadlineMs, failure);
    } catch (error) {
      throw backendError(`writing to stream '${entry.name}'`, error);
    }
  }

  /** The stream's entry read fresh from the catalog: STREAM_NOT_FOUND when it is gone. */
  private async currentEntry(entry: CatalogEntry): Promise<CatalogEntry> {
    let now: CatalogEntry | null;
    try {
      now = await this.catalog.get(entry.name, true);
    } catch {
      return entry; // the catalog is electing too: keep retrying where we were
    }
    if (now === null) throw new EventBusError(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(entry.name));
    return now;
  }

  /** A keyed or version-checked write: read, check, publish expecting the stream's last sequence. */
  private async conditional(entry: CatalogEntry, event: EventToAppend, key: string | undefined, expected: AppendOptions['expectedVersion'] & {}, msgId: string, timeMs: number, deadlineMs: number): Promise<AppendResult> {
    const jsName = jsStreamName(entry.number);
    const subject = eventSubject(jsName, key);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const lastSeq = await this.lastSequence(entry, deadlineMs);
      let version: number | undefined;
      const h = this.headersOf(event, msgId, timeMs);
      if (key !== undefined) {
        const head = await this.retrying(entry, () => this.keyHead(jsName, subject), deadlineMs);
        if (!matches(expected, head.version)) {
          // A retry of a write that did land: answer it again rather than fail it.
          if (head.msgId === msgId) return this.answer(entry, { seq: head.seq, duplicate: true } as PubAck, head.version, head.timeMs);
          throw wrongVersion(expected, head.version);
        }
        version = head.version + 1;
        h.set(Headers.key, key);
        h.set(Headers.version, String(version));
        if (head.seq > 0) h.set(Headers.previous, String(head.seq));
      } else if (!matches(expected, lastSeq - 1)) {
        throw wrongVersion(expected, lastSeq - 1);
      }
      h.set('Nats-Expected-Last-Sequence', String(lastSeq));
      try {
        const ack = await this.publish(entry, subject, event.payload, h, deadlineMs);
        return await this.answer(entry, ack, version, timeMs);
      } catch (error) {
        if (jsErrorCode(error) !== JsErrors.wrongLastSequence) throw backendError(`writing to stream '${entry.name}'`, error);
        if (key === undefined && typeof expected === 'number') throw wrongVersion(expected, (actualLastSequence(error) ?? lastSeq) - 1);
        // Another write landed in between: read again.
      }
    }
    throw new EventBusError(ErrorCodes.BACKEND_UNAVAILABLE, `too many conflicting writes on stream '${entry.name}': gave up after ${MAX_CAS_ATTEMPTS} attempts (nothing written)`);
  }

  private headersOf(event: EventToAppend, msgId: string, timeMs: number): MsgHdrs {
    const h = natsHeaders();
    h.set(Headers.msgId, msgId);
    h.set(Headers.timeMs, String(timeMs));
    if (event.type !== undefined) h.set(Headers.type, event.type);
    if (event.metadata !== undefined) h.set(Headers.metadata, event.metadata.toString('utf8'));
    return h;
  }

  /**
   * Publishes, retrying transient failures (no responders during an election, timeouts) with the
   * same msg id until writeTimeoutMs, or until the gateway shuts down (retry-pauses.ts). No
   * responders can also mean the stream was deleted: the catalog (read from its leader) decides.
   */
  private async publish(entry: CatalogEntry, subject: string, payload: Buffer, h: MsgHdrs, deadlineMs = Date.now() + this.options.writeTimeoutMs, failure?: unknown): Promise<PubAck> {
    let lastError = failure;
    let repaired = false;
    for (;;) {
      if (lastError !== undefined && Date.now() >= deadlineMs) {
        throw new EventBusError(ErrorCodes.BACKEND_UNAVAILABLE, `the write to stream '${entry.name}' was not acknowledged within ${this.options.writeTimeoutMs} ms: it may or may not be stored; retry it with the same msg_id`, {
          cause: lastError,
          context: { msg_id: h.get(Headers.msgId).replace(/^[cg]:/, '') },
        });
      }
      if (lastError !== undefined && !(await this.pauses.pause(RETRY_PAUSE_MS))) {
        throw new EventBusError(ErrorCodes.BACKEND_UNAVAILABLE, `the write to stream '${entry.name}' was not acknowledged before the gateway shut down: it may or may not be stored; retry it with the same msg_id`, {
          cause: lastError,
          context: { msg_id: h.get(Headers.msgId).replace(/^[cg]:/, '') },
        });
      }
      try {
        const js = this.lanes.get(entry.name)?.publisher ?? this.publisherFor(entry.name);
        return await js.publish(subject, payload, { headers: h, timeout: this.options.requestTimeoutMs });
      } catch (error) {
        if (!isTransient(error)) throw error; // the caller maps it (10071 is a conflict to retry)
        if ((error as { code?: string }).code === '503') {
          await this.checkStillThere(entry);
          // No responders for a stream the catalog names: an election, or a create stopped half
          // way (stream-config.ts), completed here once.
          if (!repaired) repaired = await this.repair(entry);
        }
        lastError = error;
      }
    }
  }

  /** STREAM_NOT_FOUND when the stream left the catalog (or was replaced) since `entry` was read. */
  private async checkStillThere(entry: CatalogEntry): Promise<void> {
    let now: CatalogEntry | null;
    try {
      now = await this.catalog.get(entry.name, true);
    } catch {
      return; // the catalog is electing too: keep retrying
    }
    if (now === null || now.number !== entry.number) throw new EventBusError(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(entry.name));
  }

  private async checkStreamExists(entry: CatalogEntry, deadlineMs: number): Promise<void> {
    const last = await this.lastSequence(entry, deadlineMs);
    if (last === 0) throw wrongVersion('stream_exists', -1);
  }

  /** The stream's last sequence, from its leader. */
  private async lastSequence(entry: CatalogEntry, deadlineMs: number): Promise<number> {
    return this.retrying(entry, async () => (await this.jsm.streams.info(jsStreamName(entry.number))).state.last_seq, deadlineMs);
  }

  /** The key's last message, from the stream leader (a direct get may miss the latest write). */
  private async keyHead(jsName: string, subject: string): Promise<KeyHead> {
    try {
      const message = await this.jsm.streams.getMessage(jsName, { last_by_subj: subject });
      return { seq: message.seq, version: Number(message.header.get(Headers.version)), msgId: message.header.get(Headers.msgId) || undefined, timeMs: timeOf(message) };
    } catch (error) {
      if (jsErrorCode(error) === JsErrors.noMessage) return { seq: 0, version: -1, msgId: undefined, timeMs: 0 };
      throw error;
    }
  }

  /** Runs an API call, retrying transient failures until `deadlineMs`; a missing stream is STREAM_NOT_FOUND. */
  private retrying<T>(entry: CatalogEntry, call: () => Promise<T>, deadlineMs: number): Promise<T> {
    const how = { catalog: this.catalog, repair: this.repair, deadlineMs, pauseMs: RETRY_PAUSE_MS, pauses: this.pauses, doing: `writing to stream '${entry.name}' (not written: reading the stream's last events from its leader failed)` };
    return retryOnStream(entry, how, call);
  }


  /** The reply: a duplicate answers with the original's offset and time (read back from the leader). */
  private async answer(entry: CatalogEntry, ack: PubAck, version: number | undefined, timeMs: number): Promise<AppendResult> {
    const offset = ack.seq - 1;
    this.horizon.wrote(jsStreamName(entry.number), ack.seq);
    const written: AppendedEventView = { id: encodeEventId(entry.number, offset, this.catalog.storePart), offset, createdMs: timeMs };
    if (version !== undefined) written.version = version;
    if (ack.duplicate) {
      try {
        const original = await this.jsm.streams.getMessage(jsStreamName(entry.number), { seq: ack.seq });
        written.createdMs = timeOf(original);
        const originalVersion = original.header?.get(Headers.version);
        if (originalVersion) written.version = Number(originalVersion);
      } catch {
        // Gone since (retention): the id and offset are still right.
      }
    }
    // As on the engine: the key's last version, or without a key the stream's last offset.
    return { events: [written], nextExpectedVersion: written.version ?? offset, duplicate: ack.duplicate };
  }
}

/** The time of a stored message: the gateway's clock at the write (Eb-Time), else the leader's. */
export function timeOf(message: StoredMsg): number {
  const header = message.header?.get(Headers.timeMs);
  return header ? Number(header) : message.time.getTime();
}

function matches(expected: AppendOptions['expectedVersion'] & {}, actual: number): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return actual === -1;
  if (expected === 'stream_exists') return actual >= 0;
  return expected === actual;
}

/**
 * A conditional write's BACKEND_UNAVAILABLE with `context.msg_id` (the client's, or the one the
 * gateway gave it), as a plain write's has: a retry with it is never stored twice.
 */
function withMsgId(error: unknown, msgId: string): unknown {
  if (!isEventBusError(error, ErrorCodes.BACKEND_UNAVAILABLE) || error.context !== undefined) return error;
  return new EventBusError(error.code, error.reason, { cause: error.cause, context: { msg_id: msgId.replace(/^[cg]:/, '') } });
}

/** The engine's refusal, word for word (storage/event-append.ts). */
function wrongVersion(expected: AppendOptions['expectedVersion'] & {}, actual: number): EventBusError {
  return new EventBusError(ErrorCodes.WRONG_EXPECTED_VERSION, `expected version ${JSON.stringify(expected)}, but the last event is at ${actual}`, { context: { expected, actual } });
}
