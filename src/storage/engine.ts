/**
 * The storage engine: a directory of streams, each an append-only log of segments.
 *
 * ```
 * <data dir>/
 *   LOCK                      the pid of the process that has the store open
 *   catalog                   the list of streams (catalog.ts)
 *   streams/<stream uuid>/    one directory per stream, named by id, never by the user's name
 *     00000000000000000000.log     segments (segment.ts, record.ts)
 *     00000000000000000000.index   their offset indexes (offset-index.ts)
 *     consumers                    consumer state (consumer-store.ts)
 * ```
 *
 * The engine knows nothing of JSON or sockets: payloads are bytes. Use it embedded:
 *
 * ```ts
 * import { Engine } from 'eventbus/storage';
 * const engine = await Engine.open({ dataDir: './data' });
 * await engine.createStream('orders');
 * const { offset } = await engine.append('orders', Buffer.from('{"id":1}'));
 * const events = engine.read('orders', 0, { maxEvents: 100 });
 * await engine.close();
 * ```
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ErrorCodes, EventBusError, OriginalReasons, ioError } from '../errors.js';
import { TEMPORARY_SUFFIX } from './fs/atomic-file.js';
import { ensureDirectory } from './fs/directory.js';
import { takeCrcCheckpoint, writeCrcCheckpoint, type SegmentCrcs } from './crc-checkpoint.js';
import { Catalog, type CatalogEntry } from './catalog.js';
import { FSYNC_POLICIES, GroupCommit, type FsyncPolicy, type GroupCommitStats } from './fs/group-commit.js';
import { nodeIO, type FileIO } from './fs/io.js';
import { acquireLock, LOCK_FILE, releaseLock } from './fs/lock.js';
import { syncDataDirectory } from './fs/sync-directory.js';
import { StreamLog, type AppendedEvent, type LogContext, type LogStats, type RetentionPolicy } from './log/stream-log.js';
import { WriteScratch } from './log/write-scratch.js';
import { silentLogger, type Logger } from './logger.js';
import { OpenFiles } from './fs/open-files.js';
import type { StoredEvent } from './log/record-reader.js';
import type { Damage } from './log/segment-check.js';
import { MAX_RECORD_PAYLOAD_BYTES } from './log/segment-files.js';
import { validateStreamName } from './stream-name.js';
import { takeSnapshot, type SnapshotResult } from './tools/snapshot.js';
import { DEFAULT_CONSUMER_LIMITS, type ConsumeOptions, type ConsumeResult, type ConsumerLimits, type ConsumerStats, type EventStatus, type RetryOptions } from './consumers/consumer-types.js';
import { StreamConsumers, type ConsumersContext } from './consumers/stream-consumers.js';
import { deadLetterStreamName } from './stream-name.js';

export type { AppendedEvent, Damage, FsyncPolicy, GroupCommitStats, LogStats, RetentionPolicy, SnapshotResult, StoredEvent };

/** Options of {@link Engine.open}. Every limit has a default; see docs/operations.md. */
export interface EngineOptions {
  /** The data directory; created if missing. */
  dataDir: string;
  /** When an append resolves: after fsync (`always`, default), after write (`interval`, `never`). */
  fsync?: FsyncPolicy;
  /** With `interval`: how often dirty files are fsynced. Default 100 ms. */
  fsyncIntervalMs?: number;
  /** A segment is sealed and a new one started when a record would take it past this. Default 64 MiB. */
  segmentSizeBytes?: number;
  /** Largest payload accepted by append. Default 1 MiB; at most 64 MiB. */
  maxEventBytes?: number;
  /** Most payloads in one appendMany. Default 10,000. */
  maxBatchEvents?: number;
  /** Retention limits per stream; 0 (the default for each) means unlimited. */
  retention?: Partial<RetentionPolicy>;
  /** How often retention runs. Default 60 s; 0 disables the timer (call applyRetention). */
  retentionIntervalMs?: number;
  /** Sealed segments kept open for reading at once. Default 256. */
  maxOpenSegments?: number;
  /**
   * Most streams (dead-letter streams included). Each holds up to three open files (its active
   * log and index, its consumer journal), so this bounds the descriptors the store needs.
   * Default 1,000.
   */
  maxStreams?: number;
  /** The file-system layer; tests substitute a faulty one. */
  io?: FileIO;
  /** Where recovery, damage and failures are reported. Default: silent. */
  logger?: Logger;
  /** Consumer timings and limits (consumer-types.ts has the defaults). */
  consumers?: Partial<ConsumerLimits>;
}

/** A stream's identity. */
export interface StreamInfo {
  /** UUID, stable for the life of the stream. */
  id: string;
  name: string;
  /** Never reused; encoded in event ids. */
  number: number;
  createdMs: number;
}

/** A stream's identity and figures. */
export interface StreamStats extends StreamInfo, LogStats {
  /** Damage found in the stream's files (records that cannot be returned). */
  damage: Damage[];
  /** Every consumer of the stream. */
  consumers: ConsumerStats[];
}

/** Limits of {@link Engine.read}. */
export interface ReadLimits {
  /** Most events returned. Default 1,000. */
  maxEvents?: number;
  /** Most payload bytes returned, except that one event is always returned if any is due. Default 4 MiB. */
  maxBytes?: number;
}

interface ResolvedOptions {
  dataDir: string;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  segmentSizeBytes: number;
  maxEventBytes: number;
  maxBatchEvents: number;
  retention: RetentionPolicy;
  retentionIntervalMs: number;
  maxOpenSegments: number;
  maxStreams: number;
  io: FileIO;
  logger: Logger;
  consumers: ConsumerLimits;
}

interface VisibleWaiter {
  afterOffset: number;
  resolve(arrived: boolean): void;
  timer: NodeJS.Timeout;
}

interface StreamState {
  entry: CatalogEntry;
  log: StreamLog;
  consumers: StreamConsumers;
  waiters: Set<VisibleWaiter>;
}

/** Anything with queued writes that the engine flushes once per event-loop turn. */
interface Flushable {
  flush(nowMs: number): void;
}

const STREAMS_DIR = 'streams';
const DEFAULT_READ_EVENTS = 1000;
const DEFAULT_READ_BYTES = 4 * 1024 * 1024;
/** Active logs grow ahead of their data in steps of this (see SegmentContext). */
const PREALLOCATE_STEP_BYTES = 1024 * 1024;


function resolveOptions(options: EngineOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    dataDir: path.resolve(options.dataDir),
    fsync: options.fsync ?? 'always',
    fsyncIntervalMs: options.fsyncIntervalMs ?? 100,
    segmentSizeBytes: options.segmentSizeBytes ?? 64 * 1024 * 1024,
    maxEventBytes: options.maxEventBytes ?? 1024 * 1024,
    maxBatchEvents: options.maxBatchEvents ?? 10_000,
    retention: { maxAgeMs: 0, maxBytes: 0, maxEvents: 0, ...options.retention },
    retentionIntervalMs: options.retentionIntervalMs ?? 60_000,
    maxOpenSegments: options.maxOpenSegments ?? 256,
    maxStreams: options.maxStreams ?? 1000,
    io: options.io ?? nodeIO,
    logger: options.logger ?? silentLogger,
    consumers: { ...DEFAULT_CONSUMER_LIMITS, ...options.consumers },
  };
  const bad = (what: string) => new EventBusError(ErrorCodes.INVALID_FIELD, `invalid engine option: ${what}`);
  if (!FSYNC_POLICIES.includes(resolved.fsync)) throw bad(`fsync must be one of ${FSYNC_POLICIES.join(', ')}`);
  if (!(resolved.fsyncIntervalMs >= 1)) throw bad('fsyncIntervalMs must be at least 1');
  if (!(resolved.segmentSizeBytes >= 1024 && resolved.segmentSizeBytes <= 1024 ** 3)) throw bad('segmentSizeBytes must be between 1 KiB and 1 GiB');
  if (!(resolved.maxEventBytes >= 1 && resolved.maxEventBytes <= MAX_RECORD_PAYLOAD_BYTES)) throw bad('maxEventBytes must be between 1 byte and 64 MiB');
  if (!(resolved.maxBatchEvents >= 1)) throw bad('maxBatchEvents must be at least 1');
  for (const [key, value] of Object.entries(resolved.retention)) if (!(value >= 0)) throw bad(`retention.${key} must be 0 or more`);
  if (!(resolved.maxOpenSegments >= 1)) throw bad('maxOpenSegments must be at least 1');
  if (!(resolved.maxStreams >= 1)) throw bad('maxStreams must be at least 1');
  for (const [key, value] of Object.entries(resolved.consumers)) {
    if (!(Number.isFinite(value) && value >= 0)) throw bad(`consumers.${key} must be a number, 0 or more`);
  }
  const c = resolved.consumers;
  if (c.maxPending < 1 || c.maxBatchEvents < 1 || c.defaultBatchEvents < 1 || c.maxBatchBytes < 1 || c.maxConsumersPerStream < 1) {
    throw bad('consumer limits must be at least 1 (maxDeliveries, ackWaitMs and maxWaitMs may be 0)');
  }
  return resolved;
}

export class Engine {
  /**
   * The most file descriptors the store can hold open: three per stream (active log and index,
   * consumer journal) and two per open sealed segment, plus a few for metadata. A server keeps
   * this many free for the store.
   */
  get fileDescriptorBudget(): number {
    return this.options.maxStreams * 3 + this.options.maxOpenSegments * 2 + 64;
  }

  /** Counters of the group commit: rounds, fsyncs, acknowledged commits. */
  get commitStats(): Readonly<GroupCommitStats> {
    return this.groupCommit.stats;
  }

  readonly dataDir: string;
  private readonly byName = new Map<string, StreamState>();
  private readonly byNumber = new Map<number, StreamState>();
  private readonly byLog = new Map<StreamLog, StreamState>();
  /** Streams whose files could not be opened: every operation but delete reports why. */
  private readonly broken = new Map<string, { entry: CatalogEntry; error: EventBusError }>();
  /** Names being created (not yet durable in the catalog). */
  private readonly creating = new Set<string>();
  private readonly dirty = new Set<Flushable>();
  /** Dead-letter streams being created, so concurrent retries create each once. */
  private readonly creatingDeadLetters = new Map<string, Promise<unknown>>();
  private readonly groupCommit: GroupCommit;
  private readonly context: LogContext & ConsumersContext;
  private flushScheduled = false;
  private retentionTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private catalogFailure: EventBusError | null = null;
  /** Set by {@link endWaits}: long-polls return at once. */
  private waitsEnded = false;
  /** Snapshots run one at a time. */
  private snapshotQueue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly options: ResolvedOptions, private readonly catalog: Catalog, afterCrash: boolean) {
    this.dataDir = options.dataDir;
    this.groupCommit = new GroupCommit(options.fsync, options.fsyncIntervalMs, options.logger);
    this.context = {
      io: options.io,
      logger: options.logger,
      openFiles: new OpenFiles(options.maxOpenSegments),
      groupCommit: this.groupCommit,
      segmentSizeBytes: options.segmentSizeBytes,
      scratch: new WriteScratch(),
      preallocateStepBytes: Math.min(PREALLOCATE_STEP_BYTES, options.segmentSizeBytes),
      afterCrash,
      onVisible: (log) => this.wakeWaiters(log),
      limits: options.consumers,
      markDirty: (journal) => {
        this.dirty.add(journal);
        this.scheduleFlush();
      },
      deadLetter: (streamName, payloads) => this.deadLetter(streamName, payloads),
    };
  }

  /** Opens (creating if needed) and recovers the store in `options.dataDir`. */
  static async open(options: EngineOptions): Promise<Engine> {
    const resolved = resolveOptions(options);
    const { io, dataDir, logger } = resolved;
    ensureDirectory(io, dataDir);
    const { lock, crashed } = acquireLock(io, dataDir);
    let engine: Engine | null = null;
    try {
      // The last process died with the store open: what it wrote may be in the page cache only.
      // Recovery reads it as it is, shows it and builds on it, so make it durable first.
      if (crashed) await syncDataDirectory(io, dataDir, logger);
      const catalog = Catalog.load(io, dataDir);
      const streamsDir = path.join(dataDir, STREAMS_DIR);
      if (io.stat(streamsDir) === null) {
        io.mkdir(streamsDir);
        io.syncDirNow(dataDir);
      }
      for (const name of io.readdir(dataDir)) {
        if (name.endsWith(TEMPORARY_SUFFIX)) io.unlink(path.join(dataDir, name));
      }
      engine = new Engine(resolved, catalog, crashed);
      const started = Date.now();
      // Checksums of the active segments recorded at the last clean close (none after a crash).
      const checkpoint = takeCrcCheckpoint(io, dataDir);
      if (crashed) checkpoint.clear();
      for (const entry of catalog.all()) {
        engine.openStream(entry);
        const crcs = checkpoint.get(entry.id);
        if (crcs !== undefined) engine.byName.get(entry.name)?.log.restoreActiveCrcs(crcs);
      }
      engine.removeOrphans();
      logger.info({ dataDir, streams: engine.byName.size, broken: engine.broken.size, ms: Date.now() - started }, 'store opened');
      if (resolved.retentionIntervalMs > 0) {
        const opened = engine;
        engine.retentionTimer = setInterval(() => opened.applyRetention(), resolved.retentionIntervalMs);
        engine.retentionTimer.unref();
      }
      return engine;
    } catch (error) {
      if (engine !== null) {
        for (const state of engine.byName.values()) {
          state.consumers.close();
          state.log.close();
        }
        engine.groupCommit.close();
      }
      // After a crash, keep the LOCK: recovery did not finish, and the next open must know.
      releaseLock(io, lock, dataDir, !crashed);
      throw error;
    }
  }

  private openStream(entry: CatalogEntry): void {
    const dir = this.streamDir(entry.id);
    try {
      const log = StreamLog.open(this.context, dir, Date.now());
      try {
        this.register(entry, log, StreamConsumers.open(this.context, dir, entry, log));
      } catch (error) {
        log.close();
        throw error;
      }
    } catch (error) {
      const failure = error instanceof EventBusError ? error : ioError(`opening stream ${dir}`, error);
      this.options.logger.error({ stream: entry.name, dir, code: failure.code, reason: failure.reason }, 'stream could not be opened');
      this.broken.set(entry.name, { entry, error: failure });
    }
  }

  private register(entry: CatalogEntry, log: StreamLog, consumers: StreamConsumers): StreamState {
    const state: StreamState = { entry, log, consumers, waiters: new Set() };
    if (this.waitsEnded) consumers.endWaits();
    this.byName.set(entry.name, state);
    this.byNumber.set(entry.number, state);
    this.byLog.set(log, state);
    return state;
  }

  /** Removes stream directories the catalog does not list (a crash mid-create or mid-delete). */
  private removeOrphans(): void {
    const { io, logger } = this.options;
    const listed = new Set(this.catalog.all().map((e) => e.id));
    const streamsDir = path.join(this.dataDir, STREAMS_DIR);
    let removed = 0;
    for (const name of io.readdir(streamsDir)) {
      if (listed.has(name)) continue;
      logger.warn({ dir: path.join(streamsDir, name) }, 'removing a stream directory the catalog does not list');
      io.removeTree(path.join(streamsDir, name));
      removed += 1;
    }
    if (removed > 0) io.syncDirNow(streamsDir);
  }

  private streamDir(id: string): string {
    return path.join(this.dataDir, STREAMS_DIR, id);
  }

  // ------------------------------------------------------------------ streams

  /**
   * Creates a stream. Resolves once the stream's files and its catalog entry are durable.
   * Throws INVALID_STREAM_NAME, STREAM_EXISTS, DISK_FULL or IO_ERROR.
   */
  async createStream(name: string, options: { allowReserved?: boolean } = {}): Promise<StreamInfo> {
    this.checkOpen();
    validateStreamName(name, options);
    if (this.byName.has(name) || this.broken.has(name) || this.creating.has(name)) {
      throw new EventBusError(ErrorCodes.STREAM_EXISTS, OriginalReasons.streamExists(name));
    }
    if (this.catalogFailure !== null) throw this.catalogFailure;
    if (this.byName.size + this.broken.size + this.creating.size >= this.options.maxStreams) {
      throw new EventBusError(ErrorCodes.TOO_MANY_STREAMS, `the store holds the maximum of ${this.options.maxStreams} streams (storage.max_streams)`);
    }
    this.creating.add(name);
    try {
      const entry: CatalogEntry = { number: this.catalog.takeNumber(), id: randomUUID(), name, createdMs: Date.now() };
      const dir = this.streamDir(entry.id);
      const { log, targets } = StreamLog.create(this.context, dir, entry.createdMs);
      try {
        // Durable before the catalog lists it, whatever the fsync policy: a listed stream
        // whose directory a power loss took away could not be opened.
        await Promise.all(targets.map((t) => t.sync()));
      } catch (error) {
        log.close();
        try {
          this.options.io.removeTree(dir);
        } catch {
          // Not listed in the catalog: the next open removes it.
        }
        throw error instanceof EventBusError ? error : ioError(`creating stream ${JSON.stringify(name)}`, error);
      }
      this.catalog.add(entry);
      try {
        await this.catalog.persist();
      } catch (error) {
        // The catalog on disk may list the stream now, or not: keep its directory (the next open
        // keeps it or removes it, as the catalog says) and take no more changes until then.
        this.catalog.remove(entry.id);
        log.close();
        throw this.catalogFailed(error);
      }
      if (this.closed) {
        log.close();
        this.checkOpen();
      }
      this.register(entry, log, StreamConsumers.open(this.context, dir, entry, log));
      return toInfo(entry);
    } finally {
      this.creating.delete(name);
    }
  }

  /**
   * Deletes a stream and its files. Appends in flight settle first; once this resolves the
   * deletion is durable and the stream's events are gone for good.
   */
  async deleteStream(name: string): Promise<void> {
    this.checkOpen();
    const brokenStream = this.broken.get(name);
    const state = this.byName.get(name);
    const entry = state?.entry ?? brokenStream?.entry;
    if (entry === undefined) throw notFound(name);
    if (this.catalogFailure !== null) throw this.catalogFailure;
    this.byName.delete(name);
    this.broken.delete(name);
    this.byNumber.delete(entry.number);
    if (state !== undefined) {
      this.byLog.delete(state.log);
      for (const waiter of state.waiters) {
        clearTimeout(waiter.timer);
        waiter.resolve(false);
      }
      this.dirty.delete(state.log);
      this.dirty.delete(state.consumers.journalFile);
      await Promise.all([state.log.idle(), state.consumers.idle()]);
      state.consumers.close(notFound(name));
      state.log.close(false, notFound(name));
    }
    this.catalog.remove(entry.id);
    try {
      await this.catalog.persist();
    } catch (error) {
      // Not deleted (as far as we know): the stream comes back, and the store takes no more
      // creates or deletes until reopened (the catalog on disk may say either).
      this.catalog.add(entry);
      if (!this.closed) this.openStream(entry);
      throw this.catalogFailed(error);
    }
    const dir = this.streamDir(entry.id);
    try {
      this.options.io.removeTree(dir);
      await this.options.io.syncDir(path.dirname(dir));
    } catch (error) {
      // The catalog no longer lists it: the next open removes what is left.
      this.options.logger.error({ dir, err: error }, 'could not remove a deleted stream\'s files');
    }
  }

  private catalogFailed(error: unknown): EventBusError {
    const failure = error instanceof EventBusError ? error : ioError('writing the catalog', error);
    if (failure.code === ErrorCodes.DISK_FULL || failure.code === ErrorCodes.IO_ERROR) {
      // The catalog on disk may be old or new: take no more changes until reopened.
      this.catalogFailure ??= new EventBusError(failure.code, `the catalog refuses changes until the store is reopened: ${failure.reason}`);
    }
    return failure;
  }

  /** Every stream, in creation order. */
  listStreams(): StreamInfo[] {
    const all = [...this.byName.values()].map((s) => s.entry);
    for (const { entry } of this.broken.values()) all.push(entry);
    return all.sort((a, b) => a.number - b.number).map(toInfo);
  }

  /** The stream called `name`, or undefined. */
  getStream(name: string): StreamInfo | undefined {
    const entry = this.byName.get(name)?.entry ?? this.broken.get(name)?.entry;
    return entry === undefined ? undefined : toInfo(entry);
  }

  /** The stream with catalog number `number` (from an event id), or undefined. */
  getStreamByNumber(number: number): StreamInfo | undefined {
    const state = this.byNumber.get(number);
    return state === undefined ? undefined : toInfo(state.entry);
  }

  /** A stream's identity and figures. Throws STREAM_NOT_FOUND or the stream's open error. */
  stats(name: string): StreamStats {
    const state = this.stream(name);
    const journalDamage = state.consumers.damage.map((d) => ({
      file: d.file,
      position: d.position,
      firstOffset: 0,
      lastOffset: -1, // no event is unreadable: a consumer's change was lost, its events come back
      reason: `consumer journal: ${d.reason}`,
    }));
    return { ...toInfo(state.entry), ...state.log.stats(), damage: [...state.log.damage(), ...journalDamage], consumers: state.consumers.stats() };
  }

  private stream(name: string): StreamState {
    const state = this.byName.get(name);
    if (state !== undefined) return state;
    const brokenStream = this.broken.get(name);
    if (brokenStream !== undefined) throw brokenStream.error;
    throw notFound(name);
  }

  // ------------------------------------------------------------------ appending and reading

  /** Appends one event. Resolves with its offset and timestamp once the fsync policy is met. */
  async append(name: string, payload: Buffer): Promise<AppendedEvent> {
    const events = await this.appendMany(name, [payload]);
    return events[0]!;
  }

  /**
   * Appends events in order, with consecutive offsets and one timestamp. Resolves once the fsync
   * policy is met; rejects with EVENT_TOO_LARGE, BATCH_TOO_LARGE, STREAM_NOT_FOUND, DISK_FULL,
   * IO_ERROR or STREAM_FAILED (nothing of a rejected append is ever acknowledged).
   */
  appendMany(name: string, payloads: readonly Buffer[]): Promise<AppendedEvent[]> {
    try {
      this.checkOpen();
      const state = this.stream(name);
      if (payloads.length > this.options.maxBatchEvents) {
        throw new EventBusError(ErrorCodes.BATCH_TOO_LARGE, `a batch holds at most ${this.options.maxBatchEvents} events, got ${payloads.length}`);
      }
      for (const payload of payloads) {
        if (payload.length > this.options.maxEventBytes) {
          throw new EventBusError(ErrorCodes.EVENT_TOO_LARGE, `event is ${payload.length} bytes, the limit is ${this.options.maxEventBytes}`);
        }
      }
      if (payloads.length === 0) return Promise.resolve([]);
      const appended = state.log.append(payloads, Date.now());
      this.dirty.add(state.log);
      this.scheduleFlush();
      return appended;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current I/O phase, so that every append that arrived in it shares one write.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const now = Date.now();
    for (const item of this.dirty) item.flush(now);
    this.dirty.clear();
  }

  /**
   * Reads visible events from `fromOffset` (clamped to the oldest stored). Throws
   * STREAM_NOT_FOUND, or CORRUPT_DATA if the first event due is damaged.
   */
  read(name: string, fromOffset: number, limits: ReadLimits = {}): StoredEvent[] {
    this.checkOpen();
    return this.stream(name).log.read(fromOffset, limits.maxEvents ?? DEFAULT_READ_EVENTS, limits.maxBytes ?? DEFAULT_READ_BYTES);
  }

  /**
   * Resolves true as soon as the stream holds a visible event at `afterOffset` or later, false
   * after `timeoutMs` (or if the stream is deleted or the engine closes first).
   */
  waitForEvents(name: string, afterOffset: number, timeoutMs: number): Promise<boolean> {
    const state = this.stream(name);
    if (state.log.visibleOffset > afterOffset) return Promise.resolve(true);
    if (timeoutMs <= 0 || this.closed || this.waitsEnded) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: VisibleWaiter = {
        afterOffset,
        resolve,
        timer: setTimeout(() => {
          state.waiters.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      state.waiters.add(waiter);
    });
  }

  private wakeWaiters(log: StreamLog): void {
    const state = this.byLog.get(log);
    if (state === undefined) return;
    state.consumers.wake();
    if (state.waiters.size === 0) return;
    for (const waiter of state.waiters) {
      if (log.visibleOffset > waiter.afterOffset) {
        clearTimeout(waiter.timer);
        state.waiters.delete(waiter);
        waiter.resolve(true);
      }
    }
  }

  // ------------------------------------------------------------------ consumers

  /**
   * Delivers `consumer`'s next events: those marked 0 (to be delivered again) and then new ones
   * after its cursor, in offset order, advancing the cursor past them. The consumer is created
   * on first use. Resolves once the delivery is durable under the fsync policy. With `waitMs`,
   * waits for events when none are due.
   */
  async consume(stream: string, consumer: string, options: ConsumeOptions = {}): Promise<ConsumeResult> {
    this.checkOpen();
    return this.stream(stream).consumers.consume(consumer, options);
  }

  /**
   * Delivers events marked for retry and pending events whose acknowledgement deadline passed;
   * events delivered `maxDeliveries` times go to the dead-letter stream instead.
   */
  async retry(stream: string, consumer: string, options: RetryOptions = {}): Promise<ConsumeResult> {
    this.checkOpen();
    return this.stream(stream).consumers.retry(consumer, options);
  }

  /**
   * Marks delivered events: 1 acknowledges, 2 moves to the retry set, 0 has process deliver
   * them again. Throws EVENT_NOT_FOUND (no such offset), EVENT_NOT_DELIVERED (not delivered to
   * this consumer) or EVENT_ACKNOWLEDGED (already processed or dead-lettered, status 0 or 2).
   * Resolves once durable under the fsync policy.
   */
  async mark(stream: string, consumer: string, offsets: readonly number[], status: EventStatus): Promise<void> {
    this.checkOpen();
    if (status !== 0 && status !== 1 && status !== 2) {
      throw new EventBusError(ErrorCodes.INVALID_STATUS, OriginalReasons.invalidStatus);
    }
    return this.stream(stream).consumers.mark(consumer, offsets, status);
  }

  /** The status and delivery count of each of `offsets` for `consumer` (unknown consumer: all 0). */
  eventStatuses(stream: string, consumer: string, offsets: readonly number[]): { status: EventStatus; deliveryCount: number }[] {
    return this.stream(stream).consumers.statuses(consumer, offsets);
  }

  /**
   * Ends every long-poll at once (they resolve with whatever is due, usually nothing), and makes
   * later ones return without waiting: for a server that is shutting down.
   */
  endWaits(): void {
    this.waitsEnded = true;
    for (const state of this.byName.values()) {
      state.consumers.endWaits();
      for (const waiter of state.waiters) {
        clearTimeout(waiter.timer);
        waiter.resolve(state.log.visibleOffset > waiter.afterOffset);
      }
      state.waiters.clear();
    }
  }

  /** Appends to the dead-letter stream of `streamName`, creating it on first use. */
  private async deadLetter(streamName: string, payloads: Buffer[]): Promise<void> {
    const name = deadLetterStreamName(streamName);
    if (!this.byName.has(name)) {
      let creating = this.creatingDeadLetters.get(name);
      if (creating === undefined) {
        creating = this.createStream(name, { allowReserved: true }).finally(() => this.creatingDeadLetters.delete(name));
        this.creatingDeadLetters.set(name, creating);
      }
      await creating;
    }
    await this.appendMany(name, payloads);
  }

  // ------------------------------------------------------------------ snapshots

  /**
   * Takes a point-in-time snapshot into a new directory inside `parentDir` (see snapshot.ts).
   * It holds every event and consumer change acknowledged before the call; later writes never
   * change it. Writes keep flowing while it runs. Throws SNAPSHOT_FAILED.
   */
  snapshot(parentDir: string): Promise<SnapshotResult> {
    this.checkOpen();
    const run = this.snapshotQueue.catch(() => {}).then(() => {
      this.checkOpen();
      return takeSnapshot({
        io: this.options.io,
        logger: this.options.logger,
        prepare: async (copyLimitBytes) => {
          this.flush();
          const sealing: Promise<unknown>[] = [];
          for (const state of this.byName.values()) {
            if (state.log.activeTailBytes > copyLimitBytes) sealing.push(state.log.sealActive(Date.now()));
          }
          await Promise.all(sealing);
          // Seals rolled by ordinary appends finish within an fsync or two; wait for them.
          await Promise.all([...this.byName.values()].map((state) => state.log.sealsSettled()));
        },
        capture: () => [...this.byName.values()].map((state) => {
          const visible = state.log.visibleOffset;
          return {
            entry: state.entry,
            firstOffset: state.log.firstOffset,
            nextOffset: visible,
            files: state.log.captureFiles(visible),
            consumerState: state.consumers.stateRecords(),
          };
        }),
        nextStreamNumber: () => this.catalog.nextStreamNumber,
      }, path.resolve(parentDir));
    });
    this.snapshotQueue = run;
    return run;
  }

  // ------------------------------------------------------------------ upkeep

  /** Applies the retention policy to every stream now. Returns the segments removed. */
  applyRetention(): number {
    if (this.closed) return 0;
    const now = Date.now();
    let removed = 0;
    for (const state of this.byName.values()) removed += state.log.applyRetention(this.options.retention, now);
    return removed;
  }

  /**
   * Closes the store: queued appends are written and every file is fsynced (whatever the
   * policy), then files are closed and the lock released.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer);
    await this.snapshotQueue.catch(() => {});
    this.flush();
    const states = [...this.byName.values()];
    await Promise.all(states.map((s) => s.log.idle()));
    for (const state of states) this.groupCommit.touch([...state.log.syncTargets(), ...state.consumers.journalFile.syncTargets()]);
    let clean = false;
    try {
      await this.groupCommit.syncAll();
      clean = states.every((state) => state.log.failure === null && state.consumers.journalFile.failure === null);
    } finally {
      this.groupCommit.close();
      const crcs = new Map<string, SegmentCrcs>();
      for (const state of states) {
        for (const waiter of state.waiters) {
          clearTimeout(waiter.timer);
          waiter.resolve(false);
        }
        const active = state.log.activeCrcs();
        if (active !== null) crcs.set(state.entry.id, active);
        state.consumers.close();
        state.log.close(true);
      }
      if (clean) {
        try {
          writeCrcCheckpoint(this.options.io, this.dataDir, crcs);
        } catch (error) {
          this.options.logger.warn({ err: error }, 'could not write the checksum checkpoint (the next snapshot computes them)');
        }
      }
      // A store whose last fsyncs failed keeps its LOCK: the next open recovers as after a crash.
      releaseLock(this.options.io, path.join(this.dataDir, LOCK_FILE), this.dataDir, clean);
      this.options.logger.info({ dataDir: this.dataDir, clean }, 'store closed');
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new EventBusError(ErrorCodes.CLOSED, 'the store is closed');
  }
}

function toInfo(entry: CatalogEntry): StreamInfo {
  return { id: entry.id, name: entry.name, number: entry.number, createdMs: entry.createdMs };
}

function notFound(name: string): EventBusError {
  return new EventBusError(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(name));
}
