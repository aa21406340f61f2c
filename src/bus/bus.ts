/**
 * The bus: what each operation means, over an event store (event-store.ts: the embedded engine or
 * a JetStream cluster). It validates consumer names, applies its page limits and resolves snapshot
 * paths, and hands each operation to the store; it knows nothing of JSON lines or sockets.
 */
import { ErrorCodes, EventBusError, assert } from '../errors.js';
import path from 'node:path';
import { decodeEventId, Engine, type EventStatus } from '../storage/index.js';
import { firstUnknownKey, wholeNumberRange } from '../storage/api-arguments.js';
import { consumerName } from './consumer-name.js';
import { EngineStore } from './engine-store.js';
import type { AppendOptions, EventStore, EventToAppend, StoreSubscription, WriteRefusal } from './event-store.js';
import type { AppendedBatch, Delivery, EventPage, SnapshotView, StreamInfoView, StreamView, WrittenEvent } from './results.js';
import { defaultSnapshotsRoot, resolveSnapshotDir } from './snapshot-path.js';
import type { ListStreamsQuery, StreamListing } from './stream-listing.js';
import type { ReadFrom } from './event-reads.js';
import type { SubscriptionLimits, SubscriptionSink, SubscriptionStart } from './subscription.js';
import { asWriteEventError } from './write-event-errors.js';
import { withWireField } from './wire-fields.js';
import type { RetentionPolicy, StreamRetention } from '../storage/index.js';
import type { ConsumerStart } from '../storage/index.js';

/** Limits of the bus. Every field has a default. */
export interface BusOptions {
  /** Events per `get_stream_events` page when the request gives no `max_events`. Default 1,000. */
  defaultPageEvents?: number;
  /** Cap on `max_events` of `get_stream_events`. Default 10,000. */
  maxPageEvents?: number;
  /** Most payload bytes in one page (one event is always returned). Default 4 MiB. */
  maxPageBytes?: number;
  /** Directory that `snapshot_db` outputs are resolved in. Default: `snapshots` beside the data directory. */
  snapshotsRoot?: string;
}

const BUS_OPTION_KEYS: readonly (keyof BusOptions)[] = ['defaultPageEvents', 'maxPageEvents', 'maxPageBytes', 'snapshotsRoot'];

export const DEFAULT_BUS_OPTIONS: Required<Omit<BusOptions, 'snapshotsRoot'>> = {
  defaultPageEvents: 1000,
  maxPageEvents: 10_000,
  maxPageBytes: 4 * 1024 * 1024,
};

/**
 * The options with defaults filled in. Throws INVALID_FIELD naming a bad value: a configuration
 * mistake is the user's to fix, never a failed assertion (INTERNAL).
 */
export function resolveBusOptions(options: BusOptions = {}): Required<Omit<BusOptions, 'snapshotsRoot'>> & BusOptions {
  const bad = (message: string, field?: string, expected?: string) =>
    new EventBusError(ErrorCodes.INVALID_FIELD, `invalid bus option: ${message}`, field === undefined ? {} : { context: { field: field === '' ? 'bus' : `bus.${field}`, expected } });
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw bad(`the options must be an object, got ${String(options)}`, '', 'an object');
  const unknown = firstUnknownKey(options, BUS_OPTION_KEYS);
  if (unknown !== undefined) throw bad(`unknown option ${unknown}`, unknown, `one of ${BUS_OPTION_KEYS.join(', ')} (unknown option)`);
  const resolved = { ...DEFAULT_BUS_OPTIONS, ...options };
  for (const key of ['defaultPageEvents', 'maxPageEvents', 'maxPageBytes'] as const) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value < 1) throw bad(`${key} must be ${wholeNumberRange(1)}, got ${String(value)}`, key, wholeNumberRange(1));
  }
  if (options.snapshotsRoot !== undefined && (typeof options.snapshotsRoot !== 'string' || options.snapshotsRoot === '')) {
    throw bad(`snapshotsRoot must be a non-empty path, got ${String(options.snapshotsRoot)}`, 'snapshotsRoot', 'a non-empty path');
  }
  if (resolved.defaultPageEvents > resolved.maxPageEvents) {
    throw bad(`defaultPageEvents (${resolved.defaultPageEvents}) must not be larger than maxPageEvents (${resolved.maxPageEvents})`);
  }
  return resolved;
}

export interface ReadEventsQuery extends ReadFrom {
  streamName: string;
  maxEvents: number | undefined;
  consumer: string | undefined;
}

export interface ProcessQuery {
  streamName: string;
  consumer: string | undefined;
  maxEvents: number | undefined;
  waitMs: number | undefined;
  autoAck: boolean;
  /** Where the consumer starts if this call creates it (default all). */
  start?: ConsumerStart | undefined;
  /** Which events a consumer created by this call takes (key, types). */
  filter?: { key: string | undefined; types: readonly string[] | undefined } | undefined;
}

export interface RetryQuery {
  streamName: string;
  consumer: string | undefined;
  maxEvents: number | undefined;
}

/** Characters of an event id before its offset's digits (event-id.ts: 8-4-4 and a dash). */
const SAME_STREAM_PREFIX_CHARS = 19;

export interface MarkCommand {
  eventIds: readonly string[];
  status: EventStatus;
  consumer: string | undefined;
}

export class EventBus {
  private readonly options: Required<BusOptions>;
  /** The storage behind the bus: the embedded engine or a JetStream cluster (event-store.ts). */
  readonly store: EventStore;

  /**
   * Over an open engine (the default backend) or any {@link EventStore}. `options.snapshotsRoot`
   * is required for a store that is not the engine (it has no data directory to put it beside).
   */
  constructor(store: Engine | EventStore, options: BusOptions = {}) {
    const resolved = resolveBusOptions(options);
    this.store = store instanceof Engine ? new EngineStore(store) : store;
    const root = options.snapshotsRoot ?? (store instanceof Engine ? defaultSnapshotsRoot(store.dataDir) : undefined);
    if (root === undefined) throw new EventBusError(ErrorCodes.INVALID_FIELD, 'invalid bus option: snapshotsRoot is required with this storage backend');
    this.options = { ...resolved, snapshotsRoot: path.resolve(root) };
  }

  /**
   * The embedded engine, for the parts of the server that read it directly (the HTTP port's
   * store figures and admin page). Only with the engine backend: NOT_SUPPORTED otherwise.
   */
  get engine(): Engine {
    if (this.store instanceof EngineStore) return this.store.engine;
    throw new EventBusError(ErrorCodes.NOT_SUPPORTED, `the ${this.store.backend} backend has no embedded engine`);
  }

  /** {@link engine}, or null with another backend. */
  get embeddedEngine(): Engine | null {
    return this.store instanceof EngineStore ? this.store.engine : null;
  }

  /** What refuses writes now (empty when they are taken): what /readyz reports. */
  writeRefusals(): WriteRefusal[] {
    return this.store.writeRefusals();
  }

  /** The engine's store, for what only the engine does (`what` names it in the refusal). */
  private engineStore(what: string): EngineStore {
    if (this.store instanceof EngineStore) return this.store;
    throw notSupported(this.store.backend, what);
  }

  /** Where `snapshot_db` outputs are resolved (absolute). */
  get snapshotsRoot(): string {
    return this.options.snapshotsRoot;
  }

  /** Creates a stream, with its own retention limits if given (engine only: NOT_SUPPORTED elsewhere). */
  createStream(name: string, retention?: StreamRetention): Promise<StreamView> {
    if (retention === undefined) return this.store.createStream(name);
    return this.engineStore('retention').createStream(name, retention);
  }

  deleteStream(name: string): Promise<void> {
    return this.store.deleteStream(name);
  }

  streamInfo(name: string): Promise<StreamInfoView> {
    return this.store.streamInfo(name);
  }

  /** Replaces a stream's own retention limits (those left out follow the store's); the limits that now apply. */
  async setRetention(name: string, retention: StreamRetention): Promise<RetentionPolicy> {
    if (!(this.store instanceof EngineStore)) return this.refuseOnStream(name, 'retention');
    return (await this.store.engine.setRetention(name, retention)).effective;
  }

  /** Truncates a stream before `beforeOffset`, durably (stream-settings.ts in storage). */
  truncate(name: string, beforeOffset: number): Promise<{ firstOffset: number; nextOffset: number }> {
    if (!(this.store instanceof EngineStore)) return this.refuseOnStream(name, 'truncate_stream');
    return this.store.engine.truncate(name, beforeOffset).catch((error: unknown) => {
      throw withWireField(error, 'beforeOffset', 'before_offset', true);
    });
  }

  /** An engine-only operation on stream `name` with another store: STREAM_NOT_FOUND first, as the engine answers, else NOT_SUPPORTED. */
  private async refuseOnStream(name: string, what: string): Promise<never> {
    await this.store.streamInfo(name);
    throw notSupported(this.store.backend, what);
  }

  /** A page of the store's streams with their figures, in name order (stream-listing.ts). */
  listStreams(query: ListStreamsQuery): Promise<StreamListing> {
    return this.store.listStreams(query);
  }

  /**
   * Appends one event (JSON text) without event-sourcing fields. Resolves once durable (engine:
   * under the fsync policy; JetStream: on the cluster's quorum).
   */
  writeEvent(name: string, payload: Buffer): Promise<WrittenEvent> {
    // The engine's hot path: no batch, no options object.
    if (this.store instanceof EngineStore) return this.store.writeOne(name, payload);
    return this.store.append(name, [{ payload }], {}).then(
      (result) => {
        const event = result.events[0];
        assert(event !== undefined && result.events.length === 1, 'an append of one event answered with another count');
        return event;
      },
      (error: unknown) => {
        throw asWriteEventError(error);
      },
    );
  }

  /**
   * A `write_event` with event-sourcing fields: an append of one event (a batch of one), whose
   * refusals name `write_event`'s fields (`event`, `type`, `msg_id`), not the batch's.
   */
  writeEventWith(name: string, event: EventToAppend, options: AppendOptions): Promise<AppendedBatch> {
    return this.store.append(name, [event], options).catch((error: unknown) => {
      throw asWriteEventError(error);
    });
  }

  /**
   * Appends a batch of events, all or none, with an optional key, expected version and msg_ids
   * (issue 12; `write_event` with any of those fields is a batch of one). Resolves once durable.
   */
  appendEvents(name: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendedBatch> {
    return this.store.append(name, events, options);
  }

  /**
   * A page of a stream's events (from an offset, the end or a time; forward or backward; by key or
   * types: event-reads.ts), with their status for `consumer` (never created).
   */
  readEvents(query: ReadEventsQuery): Promise<EventPage> {
    const consumer = consumerName(query.consumer);
    const maxEvents = Math.min(query.maxEvents ?? this.options.defaultPageEvents, this.options.maxPageEvents);
    const limits = { maxEvents, maxBytes: this.options.maxPageBytes };
    if (this.store instanceof EngineStore) return Promise.resolve(this.store.readFrom(query.streamName, query, consumer, limits));
    return this.store.read({ ...query, consumer, ...limits });
  }

  /**
   * Starts a catch-up subscription to `name` (subscription.ts): history, caught-up, then live
   * events, into `sink`. Throws STREAM_NOT_FOUND (or ends through the sink with it); NOT_SUPPORTED
   * on a store without subscriptions.
   */
  subscribe(name: string, from: SubscriptionStart, sink: SubscriptionSink, limits: SubscriptionLimits): StoreSubscription {
    if (this.store instanceof EngineStore) return this.store.subscribe(name, from, sink, limits);
    if (this.store.subscribe === undefined) throw notSupported(this.store.backend, 'subscribe');
    return this.store.subscribe(name, from, sink, limits);
  }

  /**
   * Delivers `consumer`'s next events (created on first use). `signal`, aborted when the caller is
   * gone, ends a long-poll at once without delivering.
   */
  process(query: ProcessQuery, signal?: AbortSignal): Promise<Delivery> {
    const consumer = consumerName(query.consumer);
    return this.store.consume(query.streamName, consumer, {
      ...(query.maxEvents === undefined ? {} : { maxEvents: query.maxEvents }),
      ...(query.waitMs === undefined ? {} : { waitMs: query.waitMs }),
      autoAck: query.autoAck,
      ...(query.start === undefined ? {} : { start: query.start }),
      ...(query.filter === undefined || (query.filter.key === undefined && query.filter.types === undefined)
        ? {}
        : { filter: { ...(query.filter.key === undefined ? {} : { key: query.filter.key }), ...(query.filter.types === undefined ? {} : { types: query.filter.types }) } }),
      ...(signal === undefined ? {} : { signal }),
    });
  }

  /** Delivers `consumer`'s events due for retry. */
  retry(query: RetryQuery): Promise<Delivery> {
    const consumer = consumerName(query.consumer);
    return this.store.retry(query.streamName, consumer, query.maxEvents);
  }

  /**
   * True when {@link mark} of `command` applies its change (or fails) before it returns its
   * promise: on the engine, a mark of one stream. Marks of several streams apply one stream after
   * another's fsync, and another backend's marks are remote. The server lets consumer requests
   * that follow such a mark start at once (src/server/request-queue.ts).
   */
  markAppliesAtOnce(command: MarkCommand): boolean {
    if (!(this.store instanceof EngineStore)) return false;
    // Ids that agree up to their offset digits (the stream number, the layout and the store part:
    // event-id.ts) are of one stream: the usual case, told without decoding them.
    const ids = command.eventIds;
    if (ids.length === 0) return true;
    const prefix = ids[0]!.slice(0, SAME_STREAM_PREFIX_CHARS);
    let samePrefix = prefix.length === SAME_STREAM_PREFIX_CHARS;
    for (let i = 1; samePrefix && i < ids.length; i++) samePrefix = ids[i]!.startsWith(prefix);
    if (samePrefix) return true;
    let streamNumber = -1;
    for (const id of ids) {
      const location = decodeEventId(id);
      if (location === null) return true;
      if (streamNumber !== -1 && location.streamNumber !== streamNumber) return false;
      streamNumber = location.streamNumber;
    }
    return true;
  }

  /**
   * Marks events by id (grouped by stream by the store). Ids that are not ours, or whose stream
   * is gone, are `event 'ID' not found`. Marks of different streams are not atomic together.
   */
  mark(command: MarkCommand): Promise<void> {
    const consumer = consumerName(command.consumer);
    return this.store.mark(consumer, command.eventIds, command.status);
  }

  /**
   * Takes a snapshot in a new directory inside `output` (relative to the snapshots root): of the
   * whole store at one point in time (engine), or stream by stream (JetStream). Throws
   * INVALID_PATH or SNAPSHOT_FAILED.
   */
  async snapshot(output: string): Promise<SnapshotView> {
    const root = this.options.snapshotsRoot;
    const parent = resolveSnapshotDir(root, output);
    const result = await this.store.snapshot(parent);
    return { ...result, path: path.relative(root, result.path), absolutePath: result.path };
  }

  /** Long-polls waiting now answer at once (shutdown). */
  endWaits(): void {
    this.store.endWaits();
  }
}

function notSupported(backend: string, what: string): EventBusError {
  return new EventBusError(ErrorCodes.NOT_SUPPORTED, `the ${backend} backend does not support ${what} (docs/protocol.md, the jetstream backend)`);
}
