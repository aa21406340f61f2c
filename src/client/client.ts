/**
 * The TypeScript client: one typed method per operation, pipelining, EventBusError on failure.
 *
 * ```ts
 * import { EventBusClient } from 'eventbus/client';
 * const client = await EventBusClient.connect({ port: 8080 });
 * await client.ensureStream('orders');
 * const { id } = await client.writeEvent('orders', { total: 12 });
 * const { events } = await client.processEvents('orders', { maxEvents: 100 });
 * await client.markEvent(events.map((e) => e.id), 1);
 * await client.close();
 * ```
 *
 * Requests may be issued without awaiting the previous ones: they are written at once (batched
 * into one write per tick) and the server answers in order. Every method rejects with an
 * {@link EventBusError}: the server's `code` and `reason` for a failure response, and
 * CONNECTION_ERROR, CLOSED or TIMEOUT for transport problems. A key of an options object (or
 * retention, auth, a consumer's start, an event of appendEvents) that the method does not know
 * is INVALID_FIELD naming it, before anything is sent: called from JavaScript, a misspelt
 * `expectedVersion` would otherwise append with no version check.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ErrorCodes, EventBusError, isEventBusError } from '../errors.js';
import { CLOSED_AT_ONCE_MS, connectionClosed, connectionError, socketError } from './response-errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES, failureOf, lineTooLong, parseResponse, ResponseLines } from './response-lines.js';
import { Subscription, type SubscribeOptions } from './subscription.js';
import type {
  Credentials,
  Delivery,
  Event,
  RawResponse,
  EventPage,
  EventStatus,
  Response,
  Snapshot,
  Stream,
  StreamInfo,
  StreamPage,
  WrittenEvent,
  AppendOptions,
  AppendResult,
  CreateStreamOptions,
  ListStreamsOptions,
  MarkOptions,
  RetryOptions,
  NewEvent,
  WriteOptions,
  ConsumerFilter,
  ConsumerStart,
  KeyPage,
  KeyReadOptions,
  ProcessOptions,
  ReadOptions,
  Retention,
  RetentionLimits,
} from './types.js';

/** Options of {@link EventBusClient.connect}. */
export interface ClientOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080. */
  port?: number;
  /** Sent with every request when given: `{ clientId, clientSecret }` (anything else, another key too, is INVALID_FIELD at connect). */
  auth?: Credentials;
  /** Connect with TLS: `true`, or Node's tls.connect options (e.g. `{ ca }`). */
  tls?: boolean | tls.ConnectionOptions;
  /** Give up connecting after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /**
   * Fail when the oldest request has had no response for this long (counted from when it was
   * sent, or, behind others, from when the one before it was answered: the server answers in
   * order); 0 = wait forever. Default 60 s. A long-poll's wait_ms is added to it. A timeout closes the connection (later
   * responses could no longer be matched).
   */
  requestTimeoutMs?: number;
  /** Longest response line accepted (a subscription's lines too). Default 64 MiB. */
  maxResponseBytes?: number;
}

interface Pending {
  resolve(response: Response, line: string): void;
  reject(error: EventBusError): void;
  deadlineMs: number;
  /** A long-poll's wait_ms, added to the timeout. */
  waitMs: number;
}

/**
 * Every key of T, listed once at load: the compiler refuses a list that misses one of T's keys or
 * names one T does not have, so the lists below follow the option types.
 */
export function keysOf<T>(keys: Record<keyof T & string, true>): readonly string[] {
  return Object.keys(keys);
}

/** The keys each options object may have (checkKnownKeys). */
const CLIENT_OPTION_KEYS = keysOf<ClientOptions>({ host: true, port: true, auth: true, tls: true, connectTimeoutMs: true, requestTimeoutMs: true, maxResponseBytes: true });
const CREDENTIAL_KEYS = keysOf<Credentials>({ clientId: true, clientSecret: true });
const CREATE_STREAM_OPTION_KEYS = keysOf<CreateStreamOptions>({ ifNotExists: true, retention: true });
const RETENTION_KEYS = keysOf<Retention>({ maxAgeMs: true, maxBytes: true, maxEvents: true });
const LIST_STREAMS_OPTION_KEYS = keysOf<ListStreamsOptions>({ fromName: true, maxStreams: true });
const STREAMS_OPTION_KEYS = ['maxStreams'] as const;
const READ_OPTION_KEYS = keysOf<ReadOptions>({ fromOffset: true, fromTime: true, direction: true, types: true, maxEvents: true, consumer: true });
const KEY_READ_OPTION_KEYS = keysOf<KeyReadOptions>({ fromVersion: true, fromOffset: true, fromTime: true, direction: true, types: true, maxEvents: true });
const APPEND_OPTION_KEYS = keysOf<AppendOptions>({ key: true, expectedVersion: true });
const WRITE_OPTION_KEYS = keysOf<WriteOptions>({ key: true, expectedVersion: true, type: true, metadata: true, msgId: true });
const NEW_EVENT_KEYS = keysOf<NewEvent>({ body: true, type: true, metadata: true, msgId: true });
const PROCESS_OPTION_KEYS = keysOf<ProcessOptions>({ consumer: true, maxEvents: true, waitMs: true, autoAck: true, start: true, key: true, types: true });
/** A consumer's start given as an object: `{ offset }` or `{ time }` (which of them, the server checks). */
const START_KEYS = ['offset', 'time'] as const;
const RETRY_OPTION_KEYS = keysOf<RetryOptions>({ consumer: true, maxEvents: true });
const MARK_OPTION_KEYS = keysOf<MarkOptions>({ consumer: true });

/**
 * The first own key of `value` not in `known`, allocating nothing (writeEvent and appendEvents
 * check every call's options: a for-in over a few keys, each looked up in a short list).
 */
function firstUnknownKey(value: object, known: readonly string[]): string | undefined {
  for (const key in value) {
    if (!known.includes(key) && Object.hasOwn(value, key)) return key;
  }
  return undefined;
}

/** The refusal of `field.key`, a key `field` does not have. */
function unknownOption(field: string, key: string, known: readonly string[]): EventBusError {
  const name = `${field}.${key}`;
  const expected = `one of: ${known.join(', ')}`;
  return new EventBusError(ErrorCodes.INVALID_FIELD, `${name} is not a known option (expected ${expected})`, { context: { field: name, expected } });
}

/**
 * Throws INVALID_FIELD unless `value` is an object (not null, not an array) whose own keys are
 * all in `known`. Called from JavaScript, a misspelt or wire-style key (`expectedVerison`,
 * `max_events`) would otherwise be dropped, and what it asked for with it: an append without its
 * version check, a retention of `{}` that removes the stream's limits. A known key whose value
 * is undefined is fine (it is left out, as everywhere).
 */
export function checkKnownKeys(value: unknown, field: string, known: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `${field} must be an object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`, { context: { field, expected: 'an object' } });
  }
  const key = firstUnknownKey(value, known);
  if (key !== undefined) throw unknownOption(field, key, known);
}

/** ensureStream: create, then look up, at most this many times while others create and delete the name. */
const ENSURE_ATTEMPTS = 3;

const DEFAULTS = { host: '127.0.0.1', port: 8080, connectTimeoutMs: 10_000, requestTimeoutMs: 60_000, maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES };

function stream(body: unknown): Stream {
  const s = (body as { stream: Record<string, unknown> }).stream;
  return { id: s.id as string, name: s.name as string, createdAt: s.created_at as string };
}

export function event<T>(e: Record<string, unknown>): Event<T> {
  return {
    id: e.id as string,
    streamId: e.stream_id as string,
    status: e.status as EventStatus,
    createdAt: e.created_at as string,
    body: e.body as T,
    offset: e.offset as number,
    deliveryCount: e.delivery_count as number,
    ...(e.key === undefined ? {} : { key: e.key as string, version: e.version as number }),
    ...(e.type === undefined ? {} : { type: e.type as string }),
    ...(e.metadata === undefined ? {} : { metadata: e.metadata as Record<string, unknown> }),
    ...(e.msg_id === undefined ? {} : { msgId: e.msg_id as string }),
  };
}

/** The wire fields of write options (absent ones left out). */
function writeFields(options: WriteOptions): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (options.key !== undefined) fields.key = options.key;
  if (options.expectedVersion !== undefined) fields.expected_version = options.expectedVersion;
  if (options.type !== undefined) fields.type = options.type;
  if (options.metadata !== undefined) fields.metadata = options.metadata;
  if (options.msgId !== undefined) fields.msg_id = options.msgId;
  return fields;
}

function events<T>(body: unknown): Event<T>[] {
  const list = (body as { events: Record<string, unknown>[] | null }).events ?? [];
  return list.map((e) => event<T>(e));
}

/** Retention limits on the wire (absent ones left out); undefined for none. INVALID_FIELD (naming `field`) for an unknown key. */
function retentionWire(retention: RetentionLimits | undefined, field: string): Record<string, number> | undefined {
  if (retention === undefined) return undefined;
  checkKnownKeys(retention, field, RETENTION_KEYS);
  const wire: Record<string, number> = {};
  if (retention.maxAgeMs !== undefined) wire.max_age_ms = retention.maxAgeMs;
  if (retention.maxBytes !== undefined) wire.max_bytes = retention.maxBytes;
  if (retention.maxEvents !== undefined) wire.max_events = retention.maxEvents;
  return wire;
}

function retentionOf(wire: Record<string, number>): Retention {
  return { maxAgeMs: wire.max_age_ms!, maxBytes: wire.max_bytes!, maxEvents: wire.max_events! };
}

/** A time option on the wire: a string as given, a Date as RFC 3339; an invalid Date is INVALID_FIELD. */
export function timeText(time: string | Date): string {
  if (!(time instanceof Date)) return time;
  if (Number.isNaN(time.getTime())) throw new EventBusError(ErrorCodes.INVALID_FIELD, 'fromTime is an invalid Date', { context: { field: 'fromTime' } });
  return time.toISOString();
}

/** The position and filter fields of a read (undefined ones are left out of the line). */
function readWire(options: ReadOptions): Record<string, unknown> {
  return {
    from_offset: options.fromOffset,
    from_time: options.fromTime === undefined ? undefined : timeText(options.fromTime),
    direction: options.direction,
    types: options.types,
    max_events: options.maxEvents,
  };
}

/** A stream object of get_stream_info or list_streams, in camelCase. */
function streamInfo(s: Record<string, unknown>): StreamInfo {
  const consumers = (s.consumers as Record<string, unknown>[] | undefined) ?? [];
  const error = s.error as { code: string; reason: string } | undefined;
  const retention = s.retention as Record<string, number> | undefined;
  return {
    id: s.id as string,
    name: s.name as string,
    createdAt: s.created_at as string,
    ...(retention === undefined || retention === null ? {} : { retention: retentionOf(retention) }),
    eventCount: (s.event_count as number | undefined) ?? 0,
    firstOffset: (s.first_offset as number | undefined) ?? 0,
    nextOffset: (s.next_offset as number | undefined) ?? 0,
    bytes: (s.bytes as number | undefined) ?? 0,
    segmentCount: (s.segment_count as number | undefined) ?? 0,
    consumers: consumers.map((c) => ({
      name: c.name as string,
      cursor: c.cursor as number,
      ackFloor: c.ack_floor as number,
      pending: c.pending as number,
      retry: c.retry as number,
      deadLettered: c.dead_lettered as number,
      lag: c.lag as number,
      ...(c.start === undefined ? {} : { start: c.start as ConsumerStart }),
      ...(c.filter === undefined ? {} : { filter: c.filter as ConsumerFilter | null }),
      ...(c.dead_letter_failure === undefined ? {} : { deadLetterFailure: c.dead_letter_failure as { code: string; reason: string } }),
    })),
    damage: ((s.damage as Record<string, number | string>[] | undefined) ?? []).map((d) => ({
      file: d.file as string,
      position: d.position as number,
      firstOffset: d.first_offset as number,
      lastOffset: d.last_offset as number,
      reason: d.reason as string,
    })),
    ...(error === undefined ? {} : { error: { code: error.code, reason: error.reason } }),
  };
}

/**
 * The wire's `auth` object of the client's credentials. INVALID_FIELD unless they are
 * `{ clientId, clientSecret }`, both strings: a caller without the typings who wrote the wire's
 * `client_id` got `"client_id":undefined` on every line, which is not JSON.
 */
export function wireAuth(auth: Credentials): { client_id: string; client_secret: string } {
  const given = auth as unknown as Record<string, unknown> | null;
  if (typeof given !== 'object' || given === null || typeof given.clientId !== 'string' || typeof given.clientSecret !== 'string') {
    const keys = typeof given === 'object' && given !== null ? Object.keys(given) : [];
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `auth must be { clientId, clientSecret }, both strings${keys.length > 0 ? ` (got ${keys.join(', ')})` : ''}`, {
      context: { field: 'auth', expected: '{ clientId: string, clientSecret: string }' },
    });
  }
  checkKnownKeys(given, 'options.auth', CREDENTIAL_KEYS);
  return { client_id: given.clientId, client_secret: given.clientSecret };
}

/** `host:port`, an IPv6 address in brackets (`[::1]:8080`) so that the port can be told from it. */
export function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Longest delay Node's timers take (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The values of connect's options (their keys are checked by checkKnownKeys): INVALID_FIELD
 * naming the option, before connecting. Without it a port of -1 or '8080' was Node's RangeError,
 * and a connect timeout past 2^31 − 1 ms fired at once.
 */
function checkConnectOptions(options: ClientOptions): void {
  const bad = (field: string, expected: string, value: unknown) =>
    new EventBusError(ErrorCodes.INVALID_FIELD, `options.${field} must be ${expected}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`, { context: { field: `options.${field}`, expected } });
  const whole = (field: 'port' | 'connectTimeoutMs' | 'requestTimeoutMs' | 'maxResponseBytes', min: number, max: number) => {
    const value: unknown = options[field];
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max)) throw bad(field, `a whole number from ${min} to ${max}`, value);
  };
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host.trim() === '')) throw bad('host', 'a non-empty string (an address or host name)', options.host);
  whole('port', 1, 65535); // 0 (a server's "any free port") names no server
  whole('connectTimeoutMs', 1, MAX_TIMER_MS);
  whole('requestTimeoutMs', 0, Number.MAX_SAFE_INTEGER);
  whole('maxResponseBytes', 1, Number.MAX_SAFE_INTEGER);
  const tlsOption: unknown = options.tls;
  if (tlsOption !== undefined && typeof tlsOption !== 'boolean' && (typeof tlsOption !== 'object' || tlsOption === null || Array.isArray(tlsOption))) {
    throw bad('tls', "true, false or Node's tls.connect options (an object)", tlsOption);
  }
}

/** A connected socket (TLS if asked); rejects with CONNECTION_ERROR. */
export function openSocket(options: ClientOptions): Promise<net.Socket> {
  const host = options.host ?? DEFAULTS.host;
  const port = options.port ?? DEFAULTS.port;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
  return new Promise((resolve, reject) => {
    const tlsOptions = options.tls === true ? {} : options.tls === false ? undefined : options.tls;
    const socket: net.Socket = tlsOptions === undefined
      ? net.connect({ host, port })
      : tls.connect({ servername: net.isIP(host) === 0 ? host : undefined, ...tlsOptions, host, port });
    const ready = tlsOptions === undefined ? 'connect' : 'secureConnect';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(connectionError(`could not connect to ${hostPort(host, port)} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onError = (error: Error) => {
      clearTimeout(timer);
      reject(connectionError(`could not connect to ${hostPort(host, port)}: ${error.message}`, error));
    };
    socket.once('error', onError);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

export class EventBusClient {
  private readonly pending: Pending[] = [];
  private pendingHead = 0;
  private outgoing = '';
  private flushScheduled = false;
  private readonly framing: ResponseLines;
  private readonly onLineBound = (line: string): void => this.onLine(line);
  private closedError: EventBusError | null = null;
  private readonly authJson: string;
  private readonly requestTimeoutMs: number;
  private readonly maxResponseBytes: number;
  private timer: NodeJS.Timeout | null = null;
  private readonly closed: Promise<void>;
  /** The server has sent something on this connection (a close before that may be a TLS server's). */
  private heard = false;
  /** When the first request was written (performance.now()), for telling a TLS server's close from a lost one. */
  private firstSentAtMs: number | null = null;

  private constructor(private readonly socket: net.Socket, private readonly options: ClientOptions) {
    this.authJson = options.auth === undefined ? '' : `,"auth":${JSON.stringify(wireAuth(options.auth))}`;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULTS.maxResponseBytes;
    this.framing = new ResponseLines(this.maxResponseBytes);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(socketError(error)));
    this.closed = new Promise((resolve) => socket.once('close', () => {
      // A TLS server closes a plain connection as soon as it reads the first request, without a
      // word; a close long after it (a long-poll waiting on a server that was killed) is not that.
      const atOnce = !this.heard && this.firstSentAtMs !== null && performance.now() - this.firstSentAtMs <= CLOSED_AT_ONCE_MS;
      this.fail(connectionClosed(atOnce));
      resolve();
    }));
    if (this.requestTimeoutMs > 0) {
      this.timer = setInterval(() => this.checkTimeout(), Math.max(10, Math.min(1000, Math.floor(this.requestTimeoutMs / 4))));
      this.timer.unref();
    }
  }

  /**
   * Connects; rejects with CONNECTION_ERROR if the server cannot be reached, and with
   * INVALID_FIELD, before connecting, for an option it does not know or if `auth` is not
   * `{ clientId, clientSecret }` (strings). `tls` is Node's tls.connect options, passed as given.
   */
  static async connect(options: ClientOptions = {}): Promise<EventBusClient> {
    checkKnownKeys(options, 'options', CLIENT_OPTION_KEYS);
    checkConnectOptions(options);
    if (options.auth !== undefined) wireAuth(options.auth);
    return new EventBusClient(await openSocket(options), options);
  }

  /**
   * Subscribes to a stream on a connection of its own (subscription.ts): its events from
   * `fromOffset` (default 0), `fromTime` or `"end"`, then a caught-up signal, then new events as
   * they are written, as an async iterator. Rejects with STREAM_NOT_FOUND or a connection error.
   */
  subscribe<T = unknown>(name: string, options: SubscribeOptions = {}): Promise<Subscription<T>> {
    return Subscription.open<T>(this.options, name, options);
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.length - this.pendingHead;
  }

  // ------------------------------------------------------------------ operations

  async health(): Promise<void> {
    await this.request('health');
  }

  /**
   * Creates a stream; rejects with STREAM_EXISTS if one has that name, unless `ifNotExists` is
   * set, which makes it {@link ensureStream}: safe to run at every start of a program.
   */
  async createStream(name: string, options: CreateStreamOptions = {}): Promise<Stream> {
    checkKnownKeys(options, 'options', CREATE_STREAM_OPTION_KEYS);
    const retention = retentionWire(options.retention, 'options.retention');
    if (options.ifNotExists === true) return this.ensureStream(name, options.retention);
    return stream((await this.request('create_stream', { stream_name: name, retention })).body);
  }

  /** Replaces the stream's own retention limits (those left out follow the server's); resolves with those that now apply. */
  async setStreamRetention(name: string, retention: RetentionLimits): Promise<Retention> {
    const body = (await this.request('set_stream_retention', { stream_name: name, retention: retentionWire(retention, 'retention') })).body as { retention: Record<string, number> };
    return retentionOf(body.retention);
  }

  /** Removes the stream's events below `beforeOffset` from every read and consumer; offsets go on. */
  async truncateStream(name: string, beforeOffset: number): Promise<{ firstOffset: number; nextOffset: number }> {
    const body = (await this.request('truncate_stream', { stream_name: name, before_offset: beforeOffset })).body as { first_offset: number; next_offset: number };
    return { firstOffset: body.first_offset, nextOffset: body.next_offset };
  }

  /**
   * Makes sure a stream exists: creates it, or, when it exists already, resolves with the
   * existing one's identity (id, name, created_at). Idempotent, and safe against a concurrent
   * create or delete of the same name.
   */
  async ensureStream(name: string, retention?: RetentionLimits): Promise<Stream> {
    const wire = retentionWire(retention, 'retention');
    for (let attempt = 1; ; attempt++) {
      try {
        return stream((await this.request('create_stream', { stream_name: name, retention: wire })).body);
      } catch (error) {
        if (!isEventBusError(error, ErrorCodes.STREAM_EXISTS)) throw error;
      }
      try {
        const { id, name: existing, createdAt } = await this.getStreamInfo(name);
        return { id, name: existing, createdAt };
      } catch (error) {
        // Deleted between the two requests: create it again (a bounded number of times).
        if (!isEventBusError(error, ErrorCodes.STREAM_NOT_FOUND) || attempt >= ENSURE_ATTEMPTS) throw error;
      }
    }
  }

  async deleteStream(name: string): Promise<void> {
    await this.request('delete_stream', { stream_name: name });
  }

  async getStreamInfo(name: string): Promise<StreamInfo> {
    return streamInfo((((await this.request('get_stream_info', { stream_name: name })).body) as { stream: Record<string, unknown> }).stream);
  }

  /**
   * A page of the server's streams with their figures, in name order: pass `nextName` as
   * `fromName` for the next page (null: no more). A stream whose files could not be opened has
   * `error` and zero figures. See {@link streams} for all of them.
   */
  async listStreams(options: ListStreamsOptions = {}): Promise<StreamPage> {
    checkKnownKeys(options, 'options', LIST_STREAMS_OPTION_KEYS);
    const body = (await this.request('list_streams', { from_name: options.fromName, max_streams: options.maxStreams })).body as { streams: Record<string, unknown>[]; next_name: string | null };
    return { streams: body.streams.map(streamInfo), nextName: body.next_name };
  }

  /** Every stream, page after page (`maxStreams` per request). */
  async *streams(options: { maxStreams?: number } = {}): AsyncGenerator<StreamInfo> {
    checkKnownKeys(options, 'options', STREAMS_OPTION_KEYS);
    let fromName: string | undefined;
    for (;;) {
      const page = await this.listStreams({ ...options, ...(fromName === undefined ? {} : { fromName }) });
      yield* page.streams;
      if (page.nextName === null) return;
      fromName = page.nextName;
    }
  }

  /**
   * A page of the stream's events in offset order, forward or backward, from an offset, `'end'`
   * or a time, optionally of some types only (statuses for `consumer`, default `default`).
   */
  async getStreamEvents<T = unknown>(name: string, options: ReadOptions = {}): Promise<EventPage<T>> {
    checkKnownKeys(options, 'options', READ_OPTION_KEYS);
    const body = (await this.request('get_stream_events', { stream_name: name, ...readWire(options), consumer: options.consumer })).body as { next_offset: number; at_end?: boolean };
    return { events: events<T>(body), nextOffset: body.next_offset, atEnd: body.at_end === true };
  }

  /**
   * A page of one aggregate's events (`key`) in version order, forward or backward, through the
   * server's key index: from a version (default 0; backward, the last), an offset or a time.
   */
  async getKeyEvents<T = unknown>(name: string, key: string, options: KeyReadOptions = {}): Promise<KeyPage<T>> {
    checkKnownKeys(options, 'options', KEY_READ_OPTION_KEYS);
    const body = (await this.request('get_stream_events', { stream_name: name, key, from_version: options.fromVersion, ...readWire(options) })).body as { next_version: number; at_end?: boolean };
    return { events: events<T>(body), nextVersion: body.next_version, atEnd: body.at_end === true };
  }

  /**
   * Writes `event` (any JSON-serialisable value). With `options` (key, expectedVersion, type,
   * metadata, msgId) it is an append of one event: see {@link appendEvents}.
   */
  writeEvent(name: string, event: unknown, options: WriteOptions = {}): Promise<WrittenEvent> {
    let json: string;
    try {
      json = jsonText(event, 'event');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.sendWriteEvent(name, json, options);
  }

  /**
   * Appends `events` to stream `name` as one batch: all or none, also across a crash, and never
   * seen in part by a reader. With `key`, the events belong to that aggregate and get its next
   * versions; `expectedVersion` makes the append conditional (WRONG_EXPECTED_VERSION with
   * `context: {expected, actual}` otherwise); events with a `msgId` sent again are answered with
   * the original events and `duplicate: true` (IDEMPOTENCY_CONFLICT if only some were seen).
   */
  async appendEvents(name: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    checkKnownKeys(options, 'options', APPEND_OPTION_KEYS);
    for (let i = 0; i < events.length; i++) {
      const e: unknown = events[i];
      // The field's name is made only for a refusal: nothing allocated per event otherwise.
      if (typeof e !== 'object' || e === null || firstUnknownKey(e, NEW_EVENT_KEYS) !== undefined) checkKnownKeys(e, `events[${i}]`, NEW_EVENT_KEYS);
    }
    const wire = events.map((e) => ({ body: e.body, ...writeFields({ type: e.type, metadata: e.metadata, msgId: e.msgId } as WriteOptions) }));
    const body = (await this.request('append_events', { stream_name: name, ...writeFields(options), events: wire })).body as Record<string, unknown>;
    return {
      firstOffset: body.first_offset as number,
      lastOffset: body.last_offset as number,
      events: body.events as AppendResult['events'],
      nextExpectedVersion: body.next_expected_version as number,
      duplicate: body.duplicate as boolean,
    };
  }

  /**
   * Writes an event given as JSON text, stored exactly as written (e.g. integers beyond 2^53).
   * The server checks that it is valid JSON.
   */
  writeEventJson(name: string, json: string, options: WriteOptions = {}): Promise<WrittenEvent> {
    // One JSON value, checked here: pasted into the request line, text such as `1,"stream_name":"x"`
    // would otherwise become fields of the request.
    try {
      JSON.parse(json);
    } catch (error) {
      // The code the server gives a line that is not JSON, with the parser's own words.
      return Promise.reject(new EventBusError(ErrorCodes.INVALID_JSON, `invalid json provided: the event is not one JSON value (${(error as Error).message})`, { context: { field: 'event' } }));
    }
    return this.sendWriteEvent(name, json, options);
  }

  /**
   * Bytes the request line of {@link writeEventJson}`(name, json, options)` holds besides the
   * event's own (its closing `\n` excluded, as the server's `max_line_bytes` counts): a caller
   * writing long events can tell a line the server would refuse (LINE_TOO_LONG, which also
   * closes the connection) before sending it. Throws INVALID_FIELD for an option it does not know.
   */
  writeEventOverheadBytes(name: string, options: WriteOptions = {}): number {
    return Buffer.byteLength(this.writeEventLine(name, '', options)) - 1;
  }

  /** The write_event request line carrying `json` (already JSON text) as the event; INVALID_FIELD for an option not known. */
  private writeEventLine(name: string, json: string, options: WriteOptions): string {
    checkKnownKeys(options, 'options', WRITE_OPTION_KEYS);
    const fields = writeFields(options);
    const extra = Object.keys(fields).length === 0 ? '' : `,${jsonText(fields, 'metadata').slice(1, -1)}`;
    // A raw newline can only be whitespace in valid JSON; it must not end the request line.
    return `{"operation":"write_event","body":{"stream_name":${JSON.stringify(name)},"event":${json.includes('\n') ? json.replace(/\n/g, ' ') : json}${extra}}${this.authJson}}\n`;
  }

  private async sendWriteEvent(name: string, json: string, options: WriteOptions): Promise<WrittenEvent> {
    const line = this.writeEventLine(name, json, options);
    const body = (await this.send(line, 0)).body as { event: Record<string, unknown>; next_expected_version?: number; duplicate?: boolean };
    const e = body.event;
    return {
      id: e.id as string,
      offset: e.offset as number,
      createdAt: e.created_at as string,
      ...(e.version === undefined ? {} : { version: e.version as number }),
      ...(body.next_expected_version === undefined ? {} : { nextExpectedVersion: body.next_expected_version }),
      ...(body.duplicate === undefined ? {} : { duplicate: body.duplicate }),
    };
  }

  /**
   * Delivers the consumer's next events (see docs/protocol.md for the consumer model). `start`,
   * `key` and `types` say where a consumer this call creates starts and what it takes; they are
   * fixed then, and ignored once it exists.
   */
  async processEvents<T = unknown>(name: string, options: ProcessOptions = {}): Promise<Delivery<T>> {
    checkKnownKeys(options, 'options', PROCESS_OPTION_KEYS);
    if (typeof options.start === 'object' && options.start !== null) checkKnownKeys(options.start, 'options.start', START_KEYS);
    const body = (await this.request('process_events', {
      stream_name: name,
      consumer: options.consumer,
      max_events: options.maxEvents,
      wait_ms: options.waitMs,
      auto_ack: options.autoAck,
      start: options.start,
      key: options.key,
      types: options.types,
    }, options.waitMs ?? 0)).body;
    return { events: events<T>(body), more: (body as { more?: boolean }).more === true };
  }

  /** Delivers the consumer's events due for retry. */
  async retryEvents<T = unknown>(name: string, options: RetryOptions = {}): Promise<Delivery<T>> {
    checkKnownKeys(options, 'options', RETRY_OPTION_KEYS);
    const body = (await this.request('retry_events', { stream_name: name, consumer: options.consumer, max_events: options.maxEvents })).body;
    return { events: events<T>(body), more: (body as { more?: boolean }).more === true };
  }

  /** Marks one event or many: 1 processed, 2 retry, 0 deliver again. */
  async markEvent(eventIds: string | readonly string[], status: EventStatus, options: MarkOptions = {}): Promise<void> {
    checkKnownKeys(options, 'options', MARK_OPTION_KEYS);
    const ids = typeof eventIds === 'string' ? { event_id: eventIds } : { event_ids: eventIds };
    await this.request('mark_event', { ...ids, status, consumer: options.consumer });
  }

  /** Snapshots the store into `output` (relative to the server's snapshots root). */
  async snapshot(output: string): Promise<Snapshot> {
    const s = (((await this.request('snapshot_db', { output })).body) as { snapshot: Record<string, unknown> }).snapshot;
    return {
      path: s.path as string,
      absolutePath: s.absolute_path as string,
      createdAt: s.created_at as string,
      streams: s.streams as number,
      events: s.events as number,
      bytes: s.bytes as number,
      linkedFiles: s.linked_files as number,
      copiedFiles: s.copied_files as number,
      copyFallback: s.copy_fallback as boolean,
      leftOut: (s.left_out as Snapshot['leftOut'] | undefined) ?? [],
    };
  }

  /** Says goodbye: the server answers, then closes the connection. */
  async exit(): Promise<void> {
    await this.request('exit');
    await this.close();
  }

  /**
   * Sends any operation with any body (undefined fields are left out) and resolves with the
   * parsed response; rejects with the server's error when it reports a failure.
   */
  request(operation: string, body?: Record<string, unknown>, extraWaitMs = 0): Promise<Response> {
    return this.withLine(operation, body, (line) => this.send(line, extraWaitMs));
  }

  /**
   * {@link request}, resolving with the response line exactly as received as well: event bodies
   * in it are byte for byte as stored (`response.body` went through JSON.parse, which rounds
   * integers beyond 2^53).
   */
  requestRaw(operation: string, body?: Record<string, unknown>, extraWaitMs = 0): Promise<RawResponse> {
    return this.withLine(operation, body, (line) => this.sendRaw(line, extraWaitMs));
  }

  /** Sends the request's line, or rejects (never throws) when its body cannot be one. */
  private withLine<T>(operation: string, body: Record<string, unknown> | undefined, send: (line: string) => Promise<T>): Promise<T> {
    let line: string;
    try {
      line = this.requestLine(operation, body);
    } catch (error) {
      return Promise.reject(error);
    }
    return send(line);
  }

  /** The request's line; throws INVALID_FIELD for a body JSON cannot hold (a BigInt, a cycle). */
  private requestLine(operation: string, body: Record<string, unknown> | undefined): string {
    const bodyJson = body === undefined ? '' : `,"body":${jsonText(body, 'body')}`;
    return `{"operation":${JSON.stringify(operation)}${bodyJson}${this.authJson}}\n`;
  }

  /**
   * Closes the connection at once, not waiting for answers: requests unanswered reject with
   * CLOSED (a long-poll abandoned so; what the server delivered to it meanwhile stays pending
   * and comes back through retry_events after ack_wait_ms, as for any unacknowledged delivery).
   */
  destroy(): void {
    this.fail(new EventBusError(ErrorCodes.CLOSED, 'the client is closed'));
    this.socket.destroy();
  }

  /**
   * Closes the connection (after flushing what was sent). Requests still unanswered reject with
   * CONNECTION_ERROR.
   */

  async close(): Promise<void> {
    this.flush();
    this.closedError ??= new EventBusError(ErrorCodes.CLOSED, 'the client is closed');
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 1000);
    await this.closed;
    clearTimeout(timer);
  }

  // ------------------------------------------------------------------ transport

  private send(line: string, extraWaitMs: number): Promise<Response> {
    return this.enqueue(line, extraWaitMs, (resolve) => (response) => resolve(response));
  }

  private sendRaw(line: string, extraWaitMs: number): Promise<RawResponse> {
    return this.enqueue(line, extraWaitMs, (resolve) => (response, raw) => resolve({ response, line: raw }));
  }

  private enqueue<T>(line: string, extraWaitMs: number, onResponse: (resolve: (value: T) => void) => Pending['resolve']): Promise<T> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const deadlineMs = this.requestTimeoutMs > 0 ? Date.now() + this.requestTimeoutMs + extraWaitMs : Infinity;
      this.pending.push({ resolve: onResponse(resolve), reject, deadlineMs, waitMs: extraWaitMs });
      this.outgoing += line;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0 || this.closedError !== null) return;
    this.firstSentAtMs ??= performance.now();
    this.socket.write(this.outgoing);
    this.outgoing = '';
  }

  private onData(chunk: Buffer): void {
    this.heard = true;
    if (this.framing.push(chunk, this.onLineBound)) return;
    this.fail(lineTooLong(this.maxResponseBytes));
    this.socket.destroy();
  }

  private onLine(line: string): void {
    if (this.pendingHead >= this.pending.length) {
      // A server refusing the connection itself (TOO_MANY_CONNECTIONS, SHUTTING_DOWN) says so
      // before any request: requests then reject with its code, not a transport error.
      const response = parseResponse(line);
      const refusal = response instanceof EventBusError ? null : failureOf(response);
      this.fail(refusal ?? connectionError(`unexpected line from the server (no request waiting): ${line.slice(0, 200)}`));
      this.socket.destroy();
      return;
    }
    const waiter = this.pending[this.pendingHead]!;
    this.pending[this.pendingHead] = undefined as unknown as Pending;
    this.pendingHead += 1;
    if (this.pendingHead === this.pending.length) {
      this.pending.length = 0;
      this.pendingHead = 0;
    } else if (this.pendingHead >= 1024) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    // The server answers in order: the next request's wait (a long-poll's wait_ms above all)
    // starts only now, so its time without a response is counted from here.
    const next = this.pending[this.pendingHead];
    if (next !== undefined && this.requestTimeoutMs > 0) next.deadlineMs = Math.max(next.deadlineMs, Date.now() + this.requestTimeoutMs + next.waitMs);
    const response = parseResponse(line);
    if (response instanceof EventBusError) return waiter.reject(response);
    const failure = failureOf(response);
    if (failure !== null) waiter.reject(failure);
    else waiter.resolve(response, line);
  }

  private checkTimeout(): void {
    if (this.pendingHead >= this.pending.length) return;
    if (Date.now() <= this.pending[this.pendingHead]!.deadlineMs) return;
    this.fail(new EventBusError(ErrorCodes.TIMEOUT, `no response within ${this.requestTimeoutMs} ms; the connection is closed`));
    this.socket.destroy();
  }

  /** Rejects every unanswered request and refuses new ones. */
  private fail(error: EventBusError): void {
    this.closedError ??= error;
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
    const waiting = this.pending.slice(this.pendingHead);
    this.pending.length = 0;
    this.pendingHead = 0;
    for (const waiter of waiting) waiter.reject(error);
  }
}

/**
 * `value` as JSON text; INVALID_FIELD (naming `field`) for what JSON cannot hold: a BigInt, a
 * cycle, or a value with no JSON form at all (undefined, a function).
 */
function jsonText(value: unknown, field: string): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `${field} must be JSON-serialisable: ${(error as Error).message}`, { context: { field } });
  }
  if (json === undefined) throw new EventBusError(ErrorCodes.INVALID_FIELD, `${field} must be JSON-serialisable`, { context: { field } });
  return json;
}
