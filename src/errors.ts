/**
 * The one error type of eventbus.
 *
 * Every failure that reaches a caller (an embedded user of the engine, a client on the wire, a
 * user of the client library) is an {@link EventBusError} with a stable machine-readable `code`
 * and a human `reason`. Codes never change meaning once released; reasons may be reworded,
 * except where the original Go event-bus fixed the text (see docs/protocol.md), which we keep
 * byte for byte so that existing clients keep working.
 *
 * This module is a leaf: every layer (storage, bus, protocol, server, client) may import it.
 */

/** Every error code, with the situation it names. */
export const ErrorCodes = {
  /** The request line is not valid JSON, or not a JSON object. */
  INVALID_JSON: 'INVALID_JSON',
  /** The request line is not valid UTF-8. */
  INVALID_UTF8: 'INVALID_UTF8',
  /** The request names an operation that does not exist. */
  UNKNOWN_OPERATION: 'UNKNOWN_OPERATION',
  /** The request has no `body`, or the body lacks a required field. */
  MISSING_FIELDS: 'MISSING_FIELDS',
  /** A field has the wrong type or an out-of-range value. */
  INVALID_FIELD: 'INVALID_FIELD',
  /** Credentials are missing or wrong. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** No stream has that name. */
  STREAM_NOT_FOUND: 'STREAM_NOT_FOUND',
  /** A stream with that name exists already. */
  STREAM_EXISTS: 'STREAM_EXISTS',
  /** A stream name is empty, too long, has control characters or uses the reserved form. */
  INVALID_STREAM_NAME: 'INVALID_STREAM_NAME',
  /** The store holds the configured maximum of streams (`storage.max_streams`). */
  TOO_MANY_STREAMS: 'TOO_MANY_STREAMS',
  /** The stream has the configured maximum of consumers (`consumers.max_consumers_per_stream`). */
  TOO_MANY_CONSUMERS: 'TOO_MANY_CONSUMERS',
  /** No event has that id (never written, deleted with its stream, or removed by retention). */
  EVENT_NOT_FOUND: 'EVENT_NOT_FOUND',
  /** `mark_event` status is not 0, 1 or 2. */
  INVALID_STATUS: 'INVALID_STATUS',
  /** The event was not delivered to that consumer, so it cannot be marked. */
  EVENT_NOT_DELIVERED: 'EVENT_NOT_DELIVERED',
  /** The event was already processed (or dead-lettered) by that consumer; only status 1 repeats. */
  EVENT_ACKNOWLEDGED: 'EVENT_ACKNOWLEDGED',
  /** An event is larger than the configured maximum. */
  EVENT_TOO_LARGE: 'EVENT_TOO_LARGE',
  /** A batch (events in one append, ids in one mark) is larger than the configured maximum. */
  BATCH_TOO_LARGE: 'BATCH_TOO_LARGE',
  /**
   * An append's `expected_version` does not match the key's (or stream's) last event; `context`
   * is `{expected, actual}` (actual -1: there is no event). Nothing was appended.
   */
  WRONG_EXPECTED_VERSION: 'WRONG_EXPECTED_VERSION',
  /**
   * Some of an append's message ids (`msg_id`) were appended before and some not, or one was
   * appended with another key: neither a new batch nor a repeat of one. Nothing was appended.
   */
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  /** A request line is longer than the configured maximum; the connection is closed. */
  LINE_TOO_LONG: 'LINE_TOO_LONG',
  /** The server is at its connection limit; the connection is closed. */
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
  /** The connection was idle, or sent a partial line, for too long; it is closed. */
  TIMEOUT: 'TIMEOUT',
  /** The server is shutting down and takes no new work. */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  /** The disk is full: nothing of the failed write was acknowledged. */
  DISK_FULL: 'DISK_FULL',
  /** A write, fsync or read failed at the operating system: nothing unsynced was acknowledged. */
  IO_ERROR: 'IO_ERROR',
  /** Stored data failed its checksum or is inconsistent; the damaged file and position are named. */
  CORRUPT_DATA: 'CORRUPT_DATA',
  /** The stream refuses appends after an earlier write or fsync failure, until reopened. */
  STREAM_FAILED: 'STREAM_FAILED',
  /** The data directory is in use by another process. */
  LOCKED: 'LOCKED',
  /**
   * A path that should hold a data directory does not: it is missing, a file, a snapshot (restore
   * it instead) or a directory that is no store. A usage problem, not damage.
   */
  NOT_A_STORE: 'NOT_A_STORE',
  /** A snapshot output path is absolute or escapes the snapshots root. */
  INVALID_PATH: 'INVALID_PATH',
  /** A snapshot could not be taken, verified or restored. */
  SNAPSHOT_FAILED: 'SNAPSHOT_FAILED',
  /** The engine or client was closed. */
  CLOSED: 'CLOSED',
  /** A connection-level failure in the client library (refused, reset, closed mid-request). */
  CONNECTION_ERROR: 'CONNECTION_ERROR',
  /**
   * A subscriber did not read its events fast enough: the server ended the subscription rather
   * than buffer without bound. `context.last_offset` is the last event sent (-1: none was),
   * `context.next_offset` where to resume (past it when a key or types skipped events).
   */
  SLOW_CONSUMER: 'SLOW_CONSUMER',
  /** The connection is a subscription: it takes only `unsubscribe` and `exit`. */
  SUBSCRIPTION_ACTIVE: 'SUBSCRIPTION_ACTIVE',
  /** `unsubscribe` on a connection that is not a subscription. */
  NOT_SUBSCRIBED: 'NOT_SUBSCRIBED',
  /**
   * The storage backend cannot do this exactly (e.g. an atomic multi-event append on the JetStream
   * backend with nats-server 2.9): refused, nothing changed. docs/protocol.md lists each case.
   */
  NOT_SUPPORTED: 'NOT_SUPPORTED',
  /**
   * The replicated backend (NATS JetStream) did not answer in time: no quorum, no leader, or the
   * cluster unreachable. For a write the outcome is unknown: retry it with the same `msg_id`.
   */
  BACKEND_UNAVAILABLE: 'BACKEND_UNAVAILABLE',
  /** A bug: an invariant did not hold. */
  INTERNAL: 'INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * Reasons whose text the original Go event-bus fixed, byte for byte (existing clients compare
 * them). They live here because the storage engine raises them too.
 */
export const OriginalReasons = {
  streamNotFound: (name: string) => `stream '${name}' not found`,
  streamExists: (name: string) => `stream: '${name}' already exists`,
  eventNotFound: (id: string) => `event '${id}' not found`,
  /** `mark_event` with a status from 3 to 255. The quoting is the original's, exactly. */
  invalidStatus: "status must be one of: 0 - unprocessed', '1 - processed', '2 - retry",
} as const;

/** Options for {@link EventBusError}. */
export interface EventBusErrorOptions {
  /** Machine-readable extra detail (e.g. the fields that are missing, a file and byte position). */
  context?: unknown;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** An error with a stable `code` and a human `reason`. `message` equals `reason`. */
export class EventBusError extends Error {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly context: unknown;

  constructor(code: ErrorCode, reason: string, options: EventBusErrorOptions = {}) {
    super(reason, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EventBusError';
    this.code = code;
    this.reason = reason;
    this.context = options.context;
  }
}

/** True when `error` is an {@link EventBusError} (optionally with the given code). */
export function isEventBusError(error: unknown, code?: ErrorCode): error is EventBusError {
  return error instanceof EventBusError && (code === undefined || error.code === code);
}

/**
 * Translates an operating-system error from a write or fsync into an {@link EventBusError}:
 * ENOSPC and EDQUOT become DISK_FULL, everything else IO_ERROR. The reason names what failed.
 */
export function ioError(what: string, error: unknown): EventBusError {
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new EventBusError(ErrorCodes.DISK_FULL, `disk full: ${what} failed (${errno})`, { cause: error });
  }
  const detail = errno ?? (error instanceof Error ? error.message : String(error));
  return new EventBusError(ErrorCodes.IO_ERROR, `I/O error: ${what} failed (${detail})`, { cause: error });
}

/**
 * The refusal of something that failed a write or fsync earlier and takes no more changes until
 * reopened: DISK_FULL if the disk was full, STREAM_FAILED otherwise, with the first failure's reason.
 */
export function refusalAfter(failure: EventBusError, what: string): EventBusError {
  const code = failure.code === ErrorCodes.DISK_FULL ? ErrorCodes.DISK_FULL : ErrorCodes.STREAM_FAILED;
  return new EventBusError(code, `${what} until reopened after an earlier failure: ${failure.reason}`, { cause: failure });
}

/**
 * Asserts a programmer invariant (TigerBeetle style): a failed assertion is a bug, never an
 * operating error, and throws INTERNAL so it can never be mistaken for bad input. On hot paths
 * pass the message as a function: it is then worded only when the assertion fails (a template
 * string would be built on every call).
 */
export function assert(condition: unknown, message: string | (() => string) = 'assertion failed'): asserts condition {
  if (!condition) throw new EventBusError(ErrorCodes.INTERNAL, `internal error: ${typeof message === 'string' ? message : message()}`);
}
