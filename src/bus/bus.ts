/**
 * The bus: what each operation means, over the storage engine. It maps typed requests onto
 * engine calls and builds their results (event ids, statuses, stream figures); it knows nothing
 * of JSON lines or sockets.
 */
import { ErrorCodes, EventBusError, OriginalReasons, assert, isEventBusError } from '../errors.js';
import path from 'node:path';
import {
  decodeEventId, eventIdOf, isIdOf, type AppendEventsOptions, type AppendEventsResult, type DeliveredEvent, type Engine, type EventAttributes, type EventStatus,
  type IdEpoch, type NewEvent, type StoredEvent, type StreamInfo,
} from '../storage/index.js';
import { consumerName } from './consumer-name.js';
import type { AppendedBatch, Delivery, EventPage, EventView, SnapshotView, StreamInfoView, StreamView, WrittenEvent } from './results.js';
import { defaultSnapshotsRoot, resolveSnapshotDir } from './snapshot-path.js';
import { listStreams, type ListStreamsQuery, type StreamListing } from './stream-listing.js';

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
  const resolved = { ...DEFAULT_BUS_OPTIONS, ...options };
  const bad = (message: string) => new EventBusError(ErrorCodes.INVALID_FIELD, `invalid bus option: ${message}`);
  for (const key of ['defaultPageEvents', 'maxPageEvents', 'maxPageBytes'] as const) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value < 1) throw bad(`${key} must be a whole number of at least 1, got ${String(value)}`);
  }
  if (resolved.defaultPageEvents > resolved.maxPageEvents) {
    throw bad(`defaultPageEvents (${resolved.defaultPageEvents}) must not be larger than maxPageEvents (${resolved.maxPageEvents})`);
  }
  return resolved;
}

function eventNotFound(id: string): EventBusError {
  return new EventBusError(ErrorCodes.EVENT_NOT_FOUND, OriginalReasons.eventNotFound(id));
}

export interface ReadEventsQuery {
  streamName: string;
  fromOffset: number;
  maxEvents: number | undefined;
  consumer: string | undefined;
}

export interface ProcessQuery {
  streamName: string;
  consumer: string | undefined;
  maxEvents: number | undefined;
  waitMs: number | undefined;
  autoAck: boolean;
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

  constructor(readonly engine: Engine, options: BusOptions = {}) {
    const resolved = resolveBusOptions(options);
    this.options = { ...resolved, snapshotsRoot: path.resolve(options.snapshotsRoot ?? defaultSnapshotsRoot(engine.dataDir)) };
  }

  /** Where `snapshot_db` outputs are resolved (absolute). */
  get snapshotsRoot(): string {
    return this.options.snapshotsRoot;
  }

  async createStream(name: string): Promise<StreamView> {
    const stream = await this.engine.createStream(name);
    return { id: stream.id, name: stream.name, createdMs: stream.createdMs };
  }

  deleteStream(name: string): Promise<void> {
    return this.engine.deleteStream(name);
  }

  streamInfo(name: string): StreamInfoView {
    const { id, name: streamName, createdMs, eventCount, firstOffset, nextOffset, bytes, segmentCount, consumers, damage } = this.engine.stats(name);
    return { id, name: streamName, createdMs, eventCount, firstOffset, nextOffset, bytes, segmentCount, consumers, damage };
  }

  /** A page of the store's streams with their figures, in name order (stream-listing.ts). */
  listStreams(query: ListStreamsQuery): StreamListing {
    return listStreams(this.engine, query);
  }

  /** Appends one event (JSON text). Resolves once durable under the fsync policy. */
  writeEvent(name: string, payload: Buffer): Promise<WrittenEvent> {
    const stream = this.engine.getStream(name);
    const appended = this.engine.appendMany(name, [payload]);
    // Unknown streams: appendMany has already rejected with STREAM_NOT_FOUND.
    if (stream === undefined) return appended as Promise<never>;
    return appended.then((events) => new Written(stream.number, stream.idEpochs, events[0]!.offset, events[0]!.timestampMs));
  }

  /**
   * Appends a batch of events, all or none, with an optional key, expected version and msg_ids
   * (Engine.appendEvents). Resolves once durable under the fsync policy.
   */
  appendEvents(name: string, events: readonly NewEvent[], options: AppendEventsOptions): Promise<AppendedBatch> {
    const stream = this.engine.getStream(name);
    const appended = this.engine.appendEvents(name, events, options);
    if (stream === undefined) return appended as Promise<never>;
    return appended.then((result) => batchOf(stream, result));
  }

  /** A page of a stream's events in offset order, with their status for `consumer` (never created). */
  readEvents(query: ReadEventsQuery): EventPage {
    const consumer = consumerName(query.consumer);
    const maxEvents = Math.min(query.maxEvents ?? this.options.defaultPageEvents, this.options.maxPageEvents);
    const stored = this.engine.read(query.streamName, query.fromOffset, { maxEvents, maxBytes: this.options.maxPageBytes });
    const stream = this.stream(query.streamName);
    if (stored.length === 0) {
      const { firstOffset } = this.engine.stats(query.streamName);
      return { events: [], nextOffset: Math.max(query.fromOffset, firstOffset) };
    }
    const offsets = stored.map((event) => event.offset);
    const statuses = this.engine.eventStatuses(query.streamName, consumer, offsets);
    assert(statuses.length === stored.length, 'eventStatuses returned a different number of statuses');
    const events = new Array<EventView>(stored.length);
    for (let i = 0; i < stored.length; i++) {
      const { status, deliveryCount } = statuses[i]!;
      events[i] = view(stream, stored[i]!, status, deliveryCount);
    }
    return { events, nextOffset: stored[stored.length - 1]!.offset + 1 };
  }

  /** Delivers `consumer`'s next events (created on first use). */
  async process(query: ProcessQuery): Promise<Delivery> {
    const consumer = consumerName(query.consumer);
    const stream = this.stream(query.streamName);
    const result = await this.engine.consume(query.streamName, consumer, {
      ...(query.maxEvents === undefined ? {} : { maxEvents: query.maxEvents }),
      ...(query.waitMs === undefined ? {} : { waitMs: query.waitMs }),
      autoAck: query.autoAck,
    });
    return { events: result.events.map((event) => delivered(stream, event)), more: result.more };
  }

  /** Delivers `consumer`'s events due for retry. */
  async retry(query: RetryQuery): Promise<Delivery> {
    const consumer = consumerName(query.consumer);
    const stream = this.stream(query.streamName);
    const result = await this.engine.retry(query.streamName, consumer, query.maxEvents === undefined ? {} : { maxEvents: query.maxEvents });
    return { events: result.events.map((event) => delivered(stream, event)), more: result.more };
  }

  /**
   * True when {@link mark} of `command` applies its change (or fails) before it returns its
   * promise: its ids are of one stream (or one of them is not an id at all, which fails at once).
   * Marks of several streams apply one stream after another's fsync. The server lets consumer
   * requests that follow such a mark start at once (src/server/request-queue.ts).
   */
  markAppliesAtOnce(command: MarkCommand): boolean {
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
   * Marks events by id, grouped by stream (one engine call per stream, in the order the streams
   * first appear). Ids that are not ours, or whose stream is gone, are `event 'ID' not found`.
   * Marks of different streams are not atomic together: the groups before a failing one stay.
   */
  async mark(command: MarkCommand): Promise<void> {
    const consumer = consumerName(command.consumer);
    const groups = new Map<number, { stream: StreamInfo; ids: string[]; offsets: number[] }>();
    for (const id of command.eventIds) {
      const location = decodeEventId(id);
      const stream = location === null ? undefined : this.engine.getStreamByNumber(location.streamNumber);
      // An id with another store's id in it names an event of that store, not of this one.
      if (location === null || stream === undefined || !isIdOf(location, stream.idEpochs)) throw eventNotFound(id);
      let group = groups.get(stream.number);
      if (group === undefined) groups.set(stream.number, (group = { stream, ids: [], offsets: [] }));
      group.ids.push(id);
      group.offsets.push(location.offset);
    }
    for (const { stream, ids, offsets } of groups.values()) {
      try {
        await this.engine.mark(stream.name, consumer, offsets, command.status);
      } catch (error) {
        // Deleted while we marked: its events are gone too.
        if (isEventBusError(error, ErrorCodes.STREAM_NOT_FOUND)) throw eventNotFound(ids[0]!);
        throw error;
      }
    }
  }

  /**
   * Takes a point-in-time snapshot of the whole store in a new directory inside `output`
   * (relative to the snapshots root). Throws INVALID_PATH or SNAPSHOT_FAILED.
   */
  async snapshot(output: string): Promise<SnapshotView> {
    const root = this.options.snapshotsRoot;
    const parent = resolveSnapshotDir(root, output);
    const result = await this.engine.snapshot(parent);
    return { ...result, path: path.relative(root, result.path), absolutePath: result.path };
  }

  private stream(name: string): StreamInfo {
    const stream = this.engine.getStream(name);
    if (stream === undefined) this.engine.stats(name); // throws STREAM_NOT_FOUND, in the engine's words
    assert(stream !== undefined, () => `stream ${name} vanished`);
    return stream;
  }
}

function batchOf(stream: StreamInfo, result: AppendEventsResult): AppendedBatch {
  const events = result.events.map((event): WrittenEvent => new Written(stream.number, stream.idEpochs, event.offset, event.timestampMs, event.version));
  return { events, nextExpectedVersion: result.nextExpectedVersion, duplicate: result.duplicate };
}

/** An acknowledged write; its id's text is made only if asked for (responses write its bytes). */
class Written implements WrittenEvent {
  constructor(
    readonly streamNumber: number,
    readonly idEpochs: readonly IdEpoch[],
    readonly offset: number,
    readonly createdMs: number,
    readonly version?: number,
  ) {}

  get id(): string {
    return eventIdOf(this.streamNumber, this.idEpochs, this.offset);
  }
}

/** An event as a reader or consumer sees it; its id's text is made only if asked for. */
class View implements EventView {
  readonly streamNumber: number;
  readonly idEpochs: readonly IdEpoch[];
  readonly streamId: string;
  readonly createdMs: number;
  readonly payload: Buffer;
  readonly offset: number;
  readonly attributes: EventAttributes | null | undefined;

  constructor(stream: StreamInfo, event: StoredEvent, readonly status: EventStatus, readonly deliveryCount: number) {
    this.streamNumber = stream.number;
    this.idEpochs = stream.idEpochs;
    this.streamId = stream.id;
    this.createdMs = event.timestampMs;
    this.payload = event.payload;
    this.offset = event.offset;
    this.attributes = event.attributes;
  }

  get id(): string {
    return eventIdOf(this.streamNumber, this.idEpochs, this.offset);
  }
}

function view(stream: StreamInfo, event: StoredEvent, status: EventStatus, deliveryCount: number): EventView {
  return new View(stream, event, status, deliveryCount);
}

function delivered(stream: StreamInfo, event: DeliveredEvent): EventView {
  return new View(stream, event, event.status, event.deliveryCount);
}
