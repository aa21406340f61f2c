/**
 * What the client's methods take (their options; a key an options object does not have is
 * refused, client.ts) and return: the wire's bodies in camelCase. Times are RFC 3339 UTC
 * strings, exactly as the server sent them.
 */

/** Credentials sent with every request (the original's `auth` object). */
export interface Credentials {
  clientId: string;
  clientSecret: string;
}

export interface Stream {
  id: string;
  name: string;
  createdAt: string;
}

export interface ConsumerInfo {
  name: string;
  cursor: number;
  ackFloor: number;
  pending: number;
  retry: number;
  deadLettered: number;
  lag: number;
  /** Where the consumer started (as its first processEvents took it). */
  start?: ConsumerStart;
  /** The filter fixed at its creation; null for none. */
  filter?: ConsumerFilter | null;
  /** Only while moving its events to the dead-letter stream fails: why (they stay due). */
  deadLetterFailure?: { code: string; reason: string };
}

/** Where a consumer that does not exist yet starts: the oldest event (default), only new ones, an offset, a time. */
export type ConsumerStart = 'all' | 'new' | { offset: number } | { time: string };

/** A consumer's filter: only that key's events and/or events of those types. */
export interface ConsumerFilter {
  key?: string;
  types?: string[];
}

/** A stream's retention limits (0: unlimited). */
export interface Retention {
  maxAgeMs: number;
  maxBytes: number;
  maxEvents: number;
}

/** A stream's own retention limits: those left out follow the server's. */
export type RetentionLimits = Partial<Retention>;

/** createStream's options. */
export interface CreateStreamOptions {
  /** An existing stream of that name is not an error: see ensureStream. */
  ifNotExists?: boolean;
  retention?: RetentionLimits;
}

/** listStreams' options. */
export interface ListStreamsOptions {
  /** The first name of the page (the previous page's `nextName`). */
  fromName?: string;
  maxStreams?: number;
}

/** retryEvents' options. */
export interface RetryOptions {
  consumer?: string;
  maxEvents?: number;
}

/** markEvent's options. */
export interface MarkOptions {
  consumer?: string;
}

/** Stored bytes of a stream that cannot be read back as written. */
export interface Damage {
  file: string;
  position: number;
  firstOffset: number;
  lastOffset: number;
  reason: string;
}

export interface StreamInfo extends Stream {
  /** The retention limits that apply (absent where the backend has none, and for a stream with `error`). */
  retention?: Retention;
  eventCount: number;
  firstOffset: number;
  nextOffset: number;
  bytes: number;
  segmentCount: number;
  consumers: ConsumerInfo[];
  /** Damage found in the stream's files (empty when sound). */
  damage: Damage[];
  /**
   * `listStreams` only: the stream's files could not be opened when the server started (its
   * figures are then 0 and its consumers unknown). Absent for a stream that works.
   */
  error?: { code: string; reason: string };
}

/** A page of `listStreams`. */
export interface StreamPage {
  streams: StreamInfo[];
  /** Pass as `fromName` for the next page; null when this page ends the list. */
  nextName: string | null;
}

export interface WrittenEvent {
  id: string;
  offset: number;
  createdAt: string;
  /** The key's version of the event (a write with a key). */
  version?: number;
  /** A write with any event-sourcing option: what to expect next (see {@link AppendResult}). */
  nextExpectedVersion?: number;
  /** A write with any event-sourcing option: true when its msg_id had been appended before. */
  duplicate?: boolean;
}

/**
 * What an append expects of the key's (without a key, the stream's) last event: `any` (the
 * default), `no_stream`, `stream_exists`, or its version (without a key, its offset; -1: none).
 */
export type ExpectedVersion = 'any' | 'no_stream' | 'stream_exists' | number;

/** The key (aggregate) an append goes to and what it expects of it. */
export interface AppendOptions {
  /** 1 to 255 bytes of UTF-8. Each key's events have versions 0, 1, 2, … */
  key?: string;
  expectedVersion?: ExpectedVersion;
}

/** Options of writeEvent: an append of one event. */
export interface WriteOptions extends AppendOptions {
  /** The event's type, 1 to 255 bytes. */
  type?: string;
  /** A JSON object stored beside the event. */
  metadata?: Record<string, unknown>;
  /** The client's id of the event (1 to 64 bytes): a write sent again is not appended twice. */
  msgId?: string;
}

/** One event of appendEvents. */
export interface NewEvent {
  /** Any JSON-serialisable value. */
  body: unknown;
  type?: string;
  metadata?: Record<string, unknown>;
  msgId?: string;
}

/** What appendEvents resolves to. */
export interface AppendResult {
  firstOffset: number;
  lastOffset: number;
  /** Each event's id and offset, and its version when the batch has a key. */
  events: { id: string; offset: number; version?: number }[];
  /** The key's last version (without a key, the stream's last offset): pass as expectedVersion next. */
  nextExpectedVersion: number;
  /** True when the batch had been appended before (by msg_id): nothing was appended now. */
  duplicate: boolean;
}

/** 0 unprocessed, 1 processed, 2 retry. */
export type EventStatus = 0 | 1 | 2;

export interface Event<T = unknown> {
  id: string;
  /** The stream's id (UUID). */
  streamId: string;
  status: EventStatus;
  createdAt: string;
  /** The event as written, parsed with JSON.parse (integers beyond 2^53 lose precision). */
  body: T;
  offset: number;
  deliveryCount: number;
  /** The event's key and its version, type, metadata and msg_id, each when the event has it. */
  key?: string;
  version?: number;
  type?: string;
  metadata?: Record<string, unknown>;
  msgId?: string;
}

/** `process_events` / `retry_events`. */
export interface Delivery<T = unknown> {
  events: Event<T>[];
  /** More events were due than returned. */
  more: boolean;
}

/** `get_stream_events`. */
export interface EventPage<T = unknown> {
  events: Event<T>[];
  /** Pass as `fromOffset` (same direction) to read the next page. */
  nextOffset: number;
  /** Nothing further now: forward, the stream's end; backward, its first event. */
  atEnd: boolean;
}

/** `get_stream_events` with a key: one aggregate's events in version order. */
export interface KeyPage<T = unknown> {
  events: Event<T>[];
  /** Pass as `fromVersion` (same direction) to read the next page; backward, -1 past version 0. */
  nextVersion: number;
  /** The key has nothing further now. */
  atEnd: boolean;
}

/** Where and how getStreamEvents reads (one of fromOffset and fromTime). */
export interface ReadOptions {
  /** An offset, or `'end'`; default 0 forward, `'end'` backward. */
  fromOffset?: number | 'end';
  /** Forward, the first event at or after it; backward, the last at or before it. */
  fromTime?: string | Date;
  direction?: 'forward' | 'backward';
  /** Only events of these types (a scan, bounded per request: page on with nextOffset). */
  types?: string[];
  maxEvents?: number;
  /** Whose statuses the events carry (default `default`). */
  consumer?: string;
}

/** Where getKeyEvents reads: one of fromVersion, fromOffset and fromTime. */
export interface KeyReadOptions extends Omit<ReadOptions, 'consumer'> {
  /** A version, or `'end'`; default 0 forward, the key's last version backward. */
  fromVersion?: number | 'end';
}

/** processEvents' options; `start`, `key` and `types` apply when the call creates the consumer. */
export interface ProcessOptions {
  consumer?: string;
  maxEvents?: number;
  waitMs?: number;
  autoAck?: boolean;
  start?: ConsumerStart;
  key?: string;
  types?: string[];
}

export interface Snapshot {
  /** Relative to the server's snapshots root, as given in `output`. */
  path: string;
  /** Where the snapshot is on the server's machine (for `eventbus verify` and `eventbus restore`). */
  absolutePath: string;
  createdAt: string;
  streams: number;
  events: number;
  bytes: number;
  linkedFiles: number;
  copiedFiles: number;
  copyFallback: boolean;
  /** Streams the snapshot does not hold because the server could not open them (empty: none); restoring it loses them. */
  leftOut: { stream: string; code: string; reason: string }[];
}

/** A successful response line as received, and parsed (`requestRaw`). */
export interface RawResponse {
  response: Response;
  /** The line without its newline, exactly as the server sent it. */
  line: string;
}

/** A response line, parsed: what {@link EventBusClient.request} resolves with on success. */
export interface Response {
  operation: string;
  status: boolean;
  body?: unknown;
  context?: unknown;
  reason?: string;
  code?: string;
  request_id?: string | number;
}
