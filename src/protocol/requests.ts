/**
 * Typed requests: what a request line means once its envelope and body are validated.
 * The bus (src/bus) executes these; nothing here touches storage.
 */
import type { EventStatus, ExpectedVersion, NewEvent } from '../storage/index.js';
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
export interface CreateStreamRequest { operation: 'create_stream'; streamName: string }
export interface DeleteStreamRequest { operation: 'delete_stream'; streamName: string }
export interface GetStreamInfoRequest { operation: 'get_stream_info'; streamName: string }

export interface GetStreamEventsRequest {
  operation: 'get_stream_events';
  streamName: string;
  /** First offset wanted (clamped to the oldest stored). Default 0. */
  fromOffset: number;
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
  | ListStreamsRequest;
