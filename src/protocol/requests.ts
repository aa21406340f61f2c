/**
 * Typed requests: what a request line means once its envelope and body are validated.
 * The bus (src/bus) executes these; nothing here touches storage.
 */
import type { ConsumerStart, EventStatus, ExpectedVersion, NewEvent, StreamRetention } from '../storage/index.js';
import type { Operation } from './operations.js';

/** Credentials from the request's `auth` object (absent or null: both empty). */
export interface Credentials {
  clientId: string;
  clientSecret: string;
}

/** A decoded request line: the operation, and what is needed to answer it. */
export interface Envelope {
  operation: Operation;
  /** `request_id` as JSON text, echoed in the response; undefined when the request had none. */
  requestIdJson: string | undefined;
  /** Null when the request had no `auth` (or `auth: null`). */
  credentials: Credentials | null;
  /** The parsed `body`; undefined when absent. */
  body: unknown;
  /** The raw line, for the fields kept byte for byte (`write_event`'s event). */
  line: Buffer;
}

export interface HealthRequest { operation: 'health' }
export interface ExitRequest { operation: 'exit' }
export interface CreateStreamRequest {
  operation: 'create_stream';
  streamName: string;
  /** The stream's own retention limits (each overrides the store's); undefined: none. */
  retention: StreamRetention | undefined;
}
export interface DeleteStreamRequest { operation: 'delete_stream'; streamName: string }
export interface GetStreamInfoRequest { operation: 'get_stream_info'; streamName: string }

/** Where a read starts and which way it goes (parse-positions.ts). */
export interface ReadPosition {
  /** First offset wanted (clamped to the oldest stored). Default 0 forward, the end backward. */
  fromOffset: number;
  /** `from_offset: "end"`: the stream's end (forward: only what comes next; backward: the newest). */
  fromEnd: boolean;
  /** `from_time` (RFC 3339) in ms: forward, the first event at or after it; backward, the last before or at it. */
  fromTimeMs: number | undefined;
  direction: 'forward' | 'backward';
}

/** Which events a read, subscription or new consumer takes (`key`, `types`); empty: all. */
export interface FilterFields {
  key: string | undefined;
  types: string[] | undefined;
}

export interface GetStreamEventsRequest extends ReadPosition, FilterFields {
  operation: 'get_stream_events';
  streamName: string;
  /** With `key`: the first version wanted (forward default 0, backward default the last). */
  fromVersion: number | undefined;
  maxEvents: number | undefined;
  /** Whose statuses to report. Default `default`; never creates the consumer. */
  consumer: string | undefined;
}

/** What an append names beside its events: the key (aggregate) and the expected version. */
export interface AppendTerms {
  key: string | undefined;
  expectedVersion: ExpectedVersion | undefined;
}

/** What `write_event` may carry beside its event (event sourcing): all of it optional. */
export interface WriteExtras extends AppendTerms {
  type: string | undefined;
  /** The metadata object's JSON text as written, compacted. */
  metadata: Buffer | undefined;
  msgId: string | undefined;
}

export interface WriteEventRequest {
  operation: 'write_event';
  streamName: string;
  /** The event's JSON text as written, compacted. */
  event: Buffer;
  /** Null for a write with none of key, type, metadata, msg_id, expected_version (today's write). */
  extras: WriteExtras | null;
}

export interface AppendEventsRequest extends AppendTerms {
  operation: 'append_events';
  streamName: string;
  /** Each event's body and metadata as JSON text as written, compacted. */
  events: NewEvent[];
}

export interface ProcessEventsRequest {
  operation: 'process_events';
  streamName: string;
  consumer: string | undefined;
  maxEvents: number | undefined;
  waitMs: number | undefined;
  autoAck: boolean;
  /** Where the consumer starts if this call creates it. */
  start: ConsumerStart | undefined;
  /** Which events the consumer takes, fixed when this call creates it. */
  filter: FilterFields;
}

export interface RetryEventsRequest {
  operation: 'retry_events';
  streamName: string;
  consumer: string | undefined;
  maxEvents: number | undefined;
}

export interface MarkEventRequest {
  operation: 'mark_event';
  /** From `event_id`, or `event_ids`; never empty. */
  eventIds: string[];
  status: EventStatus;
  consumer: string | undefined;
}

export interface SnapshotRequest {
  operation: 'snapshot_db';
  output: string;
}

export interface ListStreamsRequest {
  operation: 'list_streams';
  /** First stream name wanted (inclusive, name order); undefined: from the first. */
  fromName: string | undefined;
  maxStreams: number | undefined;
}

/** `subscribe`: history from a position, the caught-up line, then live events (subscription.ts in bus). */
export interface SubscribeRequest extends FilterFields {
  operation: 'subscribe';
  streamName: string;
  /** First offset wanted; `fromEnd`: only what is written from now on; `fromTimeMs`: from that time. */
  fromOffset: number;
  fromEnd: boolean;
  fromTimeMs: number | undefined;
}

export interface UnsubscribeRequest { operation: 'unsubscribe' }

export interface SetStreamRetentionRequest {
  operation: 'set_stream_retention';
  streamName: string;
  /** Replaces the stream's own limits; those left out follow the store's. */
  retention: StreamRetention;
}

export interface TruncateStreamRequest {
  operation: 'truncate_stream';
  streamName: string;
  beforeOffset: number;
}

export type Request =
  | HealthRequest
  | ExitRequest
  | CreateStreamRequest
  | DeleteStreamRequest
  | GetStreamInfoRequest
  | GetStreamEventsRequest
  | WriteEventRequest
  | AppendEventsRequest
  | ProcessEventsRequest
  | RetryEventsRequest
  | MarkEventRequest
  | SnapshotRequest
  | ListStreamsRequest
  | SubscribeRequest
  | UnsubscribeRequest
  | SetStreamRetentionRequest
  | TruncateStreamRequest;
