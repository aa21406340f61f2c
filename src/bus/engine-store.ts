/**
 * The event store over the embedded engine (`src/storage`): the default backend. Maps the store
 * interface (event-store.ts) onto engine calls and builds the bus's results (event ids from the
 * stream's number and id epochs, statuses, figures).
 */
import { ErrorCodes, EventBusError, OriginalReasons, assert, isEventBusError } from '../errors.js';
import {
  decodeEventId, eventIdOf, isIdOf, type DeliveredEvent, type Engine, type EventAttributes, type EventStatus, type IdEpoch, type SnapshotResult, type StoredEvent, type StreamInfo,
} from '../storage/index.js';
import type { AppendOptions, AppendResult, ConsumeQuery, EventStore, EventToAppend, ReadQuery, WriteRefusal } from './event-store.js';
import type { Delivery, EventPage, EventView, StreamInfoView, StreamView, WrittenEvent } from './results.js';
import { listStreams, type ListStreamsQuery, type StreamListing } from './stream-listing.js';
import { readStoredPage, type ReadFrom } from './event-reads.js';
import { Subscription, type SubscriptionLimits, type SubscriptionSink, type SubscriptionStart } from './subscription.js';
import { asWriteEventError } from './write-event-errors.js';
import { withWireField } from './wire-fields.js';
import type { StreamRetention } from '../storage/index.js';

function eventNotFound(id: string): EventBusError {
  return new EventBusError(ErrorCodes.EVENT_NOT_FOUND, OriginalReasons.eventNotFound(id));
}

export class EngineStore implements EventStore {
  readonly backend = 'engine';

  constructor(readonly engine: Engine) {}

  async createStream(name: string, retention?: StreamRetention): Promise<StreamView> {
    let stream: StreamInfo;
    try {
      stream = await this.engine.createStream(name, retention === undefined ? {} : { retention });
    } catch (error) {
      throw withWireField(error, 'name', 'stream_name', false); // "invalid stream name: …" keeps its words
    }
    return { id: stream.id, name: stream.name, createdMs: stream.createdMs };
  }

  deleteStream(name: string): Promise<void> {
    return this.engine.deleteStream(name);
  }

  /** Synchronous for the engine (the bus's hot paths call it directly). */
  streamInfoNow(name: string): StreamInfoView {
    const { id, name: streamName, createdMs, eventCount, firstOffset, nextOffset, bytes, segmentCount, consumers, damage, retention } = this.engine.stats(name);
    return { id, name: streamName, createdMs, eventCount, firstOffset, nextOffset, bytes, segmentCount, consumers, damage, retention: retention.effective };
  }

  async streamInfo(name: string): Promise<StreamInfoView> {
    return this.streamInfoNow(name);
  }

  async listStreams(query: ListStreamsQuery): Promise<StreamListing> {
    return listStreams(this.engine, query);
  }

  /** Appends events, all or none, with the fields of issue 12 (Engine.appendEvents). */
  append(name: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult> {
    const stream = this.engine.getStream(name);
    const appended = this.engine.appendEvents(name, events, options);
    // Unknown streams: appendEvents has already rejected with STREAM_NOT_FOUND.
    if (stream === undefined) return appended as Promise<never>;
    return appended.then((result) => ({
      events: result.events.map((event) => new Written(stream.number, stream.idEpochs, event.offset, event.timestampMs, event.version)),
      nextExpectedVersion: result.nextExpectedVersion,
      duplicate: result.duplicate,
    }));
  }

  /** The hot path of `write_event`: one event, no extra fields. */
  writeOne(name: string, payload: Buffer): Promise<WrittenEvent> {
    const stream = this.engine.getStream(name);
    const appended = this.engine.appendMany(name, [payload]);
    // Unknown streams: appendMany has already rejected with STREAM_NOT_FOUND.
    if (stream === undefined) return appended as Promise<never>;
    return appended.then(
      (events) => new Written(stream.number, stream.idEpochs, events[0]!.offset, events[0]!.timestampMs),
      (error: unknown) => {
        throw asWriteEventError(error);
      },
    );
  }

  async read(query: ReadQuery): Promise<EventPage> {
    return this.readFrom(query.streamName, query, query.consumer, query);
  }

  /**
   * A page of a stream's events (from an offset, the end or a time; forward or backward; by key
   * or types: event-reads.ts), with their status for `consumer` (never created).
   */
  readFrom(streamName: string, from: ReadFrom, consumer: string, limits: { maxEvents: number; maxBytes: number }): EventPage {
    const { stored, nextOffset, atEnd, nextVersion } = readStoredPage(this.engine, streamName, from, limits);
    const stream = this.stream(streamName);
    const position = nextVersion === undefined ? { nextOffset, atEnd } : { nextOffset, atEnd, nextVersion };
    if (stored.length === 0) return { events: [], ...position };
    const offsets = stored.map((event) => event.offset);
    const statuses = this.engine.eventStatuses(streamName, consumer, offsets);
    assert(statuses.length === stored.length, 'eventStatuses returned a different number of statuses');
    const events = new Array<EventView>(stored.length);
    for (let i = 0; i < stored.length; i++) {
      const { status, deliveryCount } = statuses[i]!;
      events[i] = view(stream, stored[i]!, status, deliveryCount);
    }
    return { events, ...position };
  }

  /** A catch-up subscription (subscription.ts). Throws STREAM_NOT_FOUND. */
  subscribe(name: string, from: SubscriptionStart, sink: SubscriptionSink, limits: SubscriptionLimits): Subscription {
    const stream = this.stream(name);
    return Subscription.start(this.engine, stream, from, (info, stored) => stored.map((event) => view(info, event, 0, 0)), sink, limits);
  }

  async consume(streamName: string, consumer: string, query: ConsumeQuery): Promise<Delivery> {
    const stream = this.stream(streamName);
    const result = await this.engine.consume(streamName, consumer, {
      ...(query.maxEvents === undefined ? {} : { maxEvents: query.maxEvents }),
      ...(query.waitMs === undefined ? {} : { waitMs: query.waitMs }),
      autoAck: query.autoAck,
      ...(query.start === undefined ? {} : { start: query.start }),
      ...(query.filter === undefined ? {} : { filter: query.filter }),
      ...(query.signal === undefined ? {} : { signal: query.signal }),
    });
    return { events: result.events.map((event) => delivered(stream, event)), more: result.more };
  }

  async retry(streamName: string, consumer: string, maxEvents: number | undefined): Promise<Delivery> {
    const stream = this.stream(streamName);
    const result = await this.engine.retry(streamName, consumer, maxEvents === undefined ? {} : { maxEvents });
    return { events: result.events.map((event) => delivered(stream, event)), more: result.more };
  }

  /**
   * Marks by id, grouped by stream (one engine call per stream, in the order the streams first
   * appear). Ids that are not ours, or whose stream is gone, are `event 'ID' not found`. Marks of
   * different streams are not atomic together: the groups before a failing one stay.
   */
  async mark(consumer: string, eventIds: readonly string[], status: EventStatus): Promise<void> {
    const groups = new Map<number, { stream: StreamInfo; ids: string[]; offsets: number[] }>();
    for (const id of eventIds) {
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
        await this.engine.mark(stream.name, consumer, offsets, status);
      } catch (error) {
        // Deleted while we marked: its events are gone too.
        if (isEventBusError(error, ErrorCodes.STREAM_NOT_FOUND)) throw eventNotFound(ids[0]!);
        throw error;
      }
    }
  }

  snapshot(parentDir: string): Promise<SnapshotResult> {
    return this.engine.snapshot(parentDir);
  }

  writeRefusals(): WriteRefusal[] {
    return this.engine.writeRefusals();
  }

  endWaits(): void {
    this.engine.endWaits();
  }

  private stream(name: string): StreamInfo {
    const stream = this.engine.getStream(name);
    if (stream === undefined) this.engine.stats(name); // throws STREAM_NOT_FOUND, in the engine's words
    assert(stream !== undefined, () => `stream ${name} vanished`);
    return stream;
  }
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
  return view(stream, event, event.status, event.deliveryCount);
}
