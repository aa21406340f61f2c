/**
 * The storage interface of the bus: what an event store must do for the bus's operations. Two
 * implementations: the embedded engine (`engine-store.ts`, over `src/storage`) and a replicated
 * NATS JetStream cluster (`jetstream/jetstream-store.ts`). The bus validates requests, applies its
 * page limits and resolves snapshot paths; the store answers in the bus's result types (event ids,
 * statuses, figures), so nothing above the bus knows which store is in use.
 */
import type { ConsumerStart, EventStatus, SnapshotResult } from '../storage/index.js';
import type { AppendedBatch, Delivery, EventPage, StreamInfoView, StreamView, WrittenEvent } from './results.js';
import type { ListStreamsQuery, StreamListing } from './stream-listing.js';
import type { ReadFrom } from './event-reads.js';
import type { SubscriptionLimits, SubscriptionSink, SubscriptionStart } from './subscription.js';

/**
 * Which version a write expects (issue 12): `any` (no check), `no_stream` (the key, or without a
 * key the stream, has no events yet), `stream_exists`, or the version of the key's last event
 * (without a key: the stream's last offset).
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

/** One event to append: its JSON text and the optional fields of issue 12. */
export interface EventToAppend {
  /** The event's JSON text, stored as written. */
  payload: Buffer;
  /** Event type (≤ 255 bytes UTF-8). */
  type?: string;
  /** Metadata: the JSON text of an object, stored as written. */
  metadata?: Buffer;
  /** Client message id (≤ 64 bytes): a retry within the duplicate window is not stored again. */
  msgId?: string;
}

/** Where and under which condition events are appended. */
export interface AppendOptions {
  /** The aggregate the events belong to (≤ 255 bytes UTF-8); its versions count from 0. */
  key?: string;
  /** Checked atomically with the append; default `any`. */
  expectedVersion?: ExpectedVersion;
}

/** One appended event. */
export type AppendedEventView = WrittenEvent;

/** The answer to an append: its events, the version to expect next, and whether it was a repeat. */
export type AppendResult = AppendedBatch;

/** A page read of `get_stream_events` (from an offset, the end or a time; forward or backward; by key or types), with the bus's limits applied. */
export interface ReadQuery extends ReadFrom {
  streamName: string;
  maxEvents: number;
  maxBytes: number;
  /** The consumer whose statuses are reported (a valid name; never created). */
  consumer: string;
}

/** A delivery request of `process_events` (the consumer is created on first use). */
export interface ConsumeQuery {
  maxEvents?: number;
  waitMs?: number;
  autoAck: boolean;
  /** Where the consumer starts if this call creates it (default all; issue 13). */
  start?: ConsumerStart;
  /** Which events a consumer created by this call takes (issue 13). */
  filter?: { key?: string; types?: readonly string[] };
  /** Aborted when the caller is gone: a long-poll still waiting answers with nothing, delivering nothing. */
  signal?: AbortSignal;
}

/** A running catch-up subscription (the engine's: bus/subscription.ts). */
export interface StoreSubscription {
  /** The offset of the next event to send: where to resume. */
  readonly nextOffset: number;
  /** The offset of the last event sent, or -1 when none was (what an ending's `last_offset` says). */
  readonly lastOffset: number;
  /**
   * Only on a store whose subscriptions start asynchronously (the stream looked up, the start
   * position checked): settles once it has started, or has ended through `sink.ended` with the
   * refusal (without a position: nothing was sent). The server takes no more of the connection's
   * lines meanwhile, so they are answered as after the engine's synchronous start or refusal.
   */
  readonly started?: Promise<void>;
  /** The subscriber took what was waiting: catching up goes on. */
  resume(): void;
  /** Ends it; nothing more is sent. */
  stop(): void;
}

/** The storage behind the bus (see the module comment). */
export interface EventStore {
  /** `engine` or `jetstream`: for logs and `health`, never for decisions above the bus. */
  readonly backend: string;
  createStream(name: string): Promise<StreamView>;
  deleteStream(name: string): Promise<void>;
  streamInfo(name: string): Promise<StreamInfoView>;
  listStreams(query: ListStreamsQuery): Promise<StreamListing>;
  /** Appends events, all or none; resolves once they are durable (engine: fsync policy; JetStream: quorum). */
  append(streamName: string, events: readonly EventToAppend[], options: AppendOptions): Promise<AppendResult>;
  read(query: ReadQuery): Promise<EventPage>;
  consume(streamName: string, consumer: string, query: ConsumeQuery): Promise<Delivery>;
  retry(streamName: string, consumer: string, maxEvents: number | undefined): Promise<Delivery>;
  /** Marks events by id. Unknown ids are EVENT_NOT_FOUND. */
  mark(consumer: string, eventIds: readonly string[], status: EventStatus): Promise<void>;
  /** A snapshot in a new directory inside `parentDir` (absolute, existing or creatable). */
  snapshot(parentDir: string): Promise<SnapshotResult>;
  /**
   * A catch-up subscription (history, caught up, live) into `sink`; errors, STREAM_NOT_FOUND
   * among them, may also end it through `sink.ended`. A store without it refuses `subscribe`.
   */
  subscribe?(name: string, from: SubscriptionStart, sink: SubscriptionSink, limits: SubscriptionLimits): StoreSubscription;
  /** Long-polls waiting now answer at once (shutdown). */
  endWaits(): void;
  /** What refuses writes now, one entry each (empty when writes are taken): what /readyz reports. */
  writeRefusals(): WriteRefusal[];
}

/** Something that refuses writes now: what it is, the error code its writes get, and why. */
export interface WriteRefusal {
  what: string;
  code: string;
  reason: string;
}
