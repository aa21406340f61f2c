/**
 * The storage engine: a directory of streams, each an append-only log of segments, with durable
 * consumers. This class is the facade: it opens and closes the store, checks each call's
 * arguments (api-arguments.ts) and hands the call to the stream it names (stream-registry.ts).
 *
 * ```
 * <data dir>/
 *   LOCK                      the process that has the store open (fs/lock.ts)
 *   catalog                   the list of streams (catalog.ts)
 *   crc-checkpoint            running checksums of active segments, clean close only
 *   streams/<stream uuid>/    one directory per stream, named by id, never by the user's name
 *     00000000000000000000.log     segments (log/)
 *     00000000000000000000.index   their offset indexes
 *     consumers                    consumer state (consumers/)
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
import { assert, ErrorCodes, EventBusError, isEventBusError, OriginalReasons } from '../errors.js';
import { Catalog, type CatalogEntry } from './catalog.js';
import type { ConsumeOptions, ConsumeResult, ConsumerStats, EventStatus, RetryOptions } from './consumers/consumer-types.js';
import type { ConsumersContext, DeadLetter } from './consumers/stream-consumers.js';
import { readCrcCheckpoint, removeCrcCheckpoint, writeCrcCheckpoint, type SegmentCrcs } from './crc-checkpoint.js';
import { inspectStoreDirectory, unfinishedRestoreReason } from './store-directory.js';
import { resolveOptions, type EngineOptions, type ResolvedOptions } from './engine-options.js';
import {
  checkConsumeOptions, checkCreateStreamOptions, checkInteger, checkKey, checkKeyRange, checkNewEvents, checkObserver, checkOffset, checkOffsetList, checkPath, checkPayload, checkSnapshotOptions,
  checkPayloads, checkReadLimits, checkRetentionLimits, checkRetryOptions, checkStreamNameType, checkTimeMs, checkWholeNumber, invalidArgument, MAX_TIMER_MS,
} from './api-arguments.js';
import { ensureDirectory } from './fs/directory.js';
import { FlushScheduler } from './fs/flush-scheduler.js';
import { GroupCommit, type FsyncPolicy, type GroupCommitStats } from './fs/group-commit.js';
import { acquireLock, releaseLock, type HeldLock } from './fs/lock.js';
import { OpenFiles } from './fs/open-files.js';
import { syncDataDirectory } from './fs/sync-directory.js';
import type { StoredEvent } from './log/record-reader.js';
import type { IdEpoch } from './format/event-id.js';
import type { Damage } from './log/segment-check.js';
import type { AppendedEvent, LogContext, LogStats, RetentionPolicy } from './log/stream-log.js';
import { WriteScratch } from './log/write-scratch.js';
import { closeStream, prepareDataDirectory, removeOrphans, StreamLifecycle } from './stream-lifecycle.js';
import { StreamRegistry, type StreamState } from './stream-registry.js';
import { EventWatch } from './long-polls.js';
import { StreamAdmin, type RetentionView } from './stream-admin.js';
import type { StreamRetention } from './stream-settings.js';
import { deadLetterStreamName, validateConsumerName } from './stream-name.js';
import { COPY_LIMIT_BYTES, takeSnapshot, type SnapshotResult, type SnapshotSource } from './tools/snapshot.js';
import { DuplicateWindow } from './duplicate-window.js';
import { appendEvents, type AppendContext, type AppendEventsOptions, type AppendEventsResult, type ExpectedVersion, type NewEvent } from './event-append.js';
import { MAX_MSG_ID_BYTES, type EventAttributes } from './format/record-fields.js';
import { KeyCache } from './keys/key-cache.js';
import { KeyMaintenance, type KeyIndexContext } from './keys/key-index.js';
import { MAX_EVENT_BYTES } from './format/record.js';
import { Observers, RecoveryTally, recoveryTotals, type EngineObserver, type RecoveryReport, type StreamRecovery } from './observer.js';
import type { Segment } from './log/segment.js';
import type { StreamLog } from './log/stream-log.js';
import type { ConsumerJournal } from './consumers/consumer-journal.js';

export type {
  AppendedEvent, AppendEventsOptions, AppendEventsResult, Damage, EngineOptions, EventAttributes, ExpectedVersion, FsyncPolicy, GroupCommitStats, LogStats, NewEvent,
  RetentionPolicy, RetentionView, SnapshotResult, StoredEvent, StreamRetention,
};

/** Figures of a stream's key index (keys/key-index.ts) and of the store's shared parts. */
export interface KeyIndexStats {
  runs: number;
  runEntries: number;
  runBytes: number;
  memtableEntries: number;
  /** The store's cache of keys' newest versions: keys held, bytes counted against its bound. */
  cachedKeys: number;
  cacheBytes: number;
  /** Bytes every key index of the store holds in memory (memtables, run fences, the cache). */
  storeMemoryBytes: number;
}

/** A stream's identity. */
export interface StreamInfo {
  /** UUID, stable for the life of the stream. */
  id: string;
  name: string;
  /** Never reused; encoded in event ids. */
  number: number;
  createdMs: number;
  /** Which store id the ids of the stream's events carry, by offset (see eventIdOf). */
  idEpochs: readonly IdEpoch[];
}

/** A stream's identity and figures. */
export interface StreamStats extends StreamInfo, LogStats {
  /** Damage found in the stream's files (records that cannot be returned). */
  damage: Damage[];
  /** Every consumer of the stream. */
  consumers: ConsumerStats[];
  /** The stream's retention limits (stream-settings.ts). */
  retention: RetentionView;
}

/** Limits of {@link Engine.read}. */
export interface ReadLimits {
  /** Most events returned. Default 1,000. */
  maxEvents?: number;
  /** Most payload bytes returned, except that one event is always returned if any is due. Default 4 MiB. */
  maxBytes?: number;
}

const DEFAULT_READ_EVENTS = 1000;
const DEFAULT_READ_BYTES = 4 * 1024 * 1024;
/**
 * Most payload bytes in one appendMany: its batch goes into one segment (of at most 1 GiB before
 * it), so every record's position stays well inside the offset index's 32 bits.
 */
export const MAX_APPEND_MANY_BYTES = 2 ** 30;

/** The limits of a dead-letter record's append: one record, as long as a reader accepts, with its msg_id. */
const DEAD_LETTER_LIMITS = { maxBatchEvents: 1, maxBatchBytes: MAX_EVENT_BYTES + MAX_MSG_ID_BYTES, maxEventBytes: MAX_EVENT_BYTES };

function asError(error: unknown): Error {
  return error instanceof Error ? error : new EventBusError(ErrorCodes.INTERNAL, String(error));
}

export class Engine {
  readonly dataDir: string;
  private readonly streams: StreamRegistry;
  private readonly lifecycle: StreamLifecycle;
  /** Per-stream retention and truncation (stream-admin.ts). */
  private readonly admin: StreamAdmin;
  private readonly flusher = new FlushScheduler();
  /** Dead-letter streams being created, so concurrent retries create each once. */
  private readonly creatingDeadLetters = new Map<string, Promise<unknown>>();
  private readonly groupCommit: GroupCommit;
  private readonly context: LogContext & ConsumersContext;
  private readonly keyIndex: KeyIndexContext;
  private readonly appends: AppendContext;
  private retentionTimer: NodeJS.Timeout | null = null;
  /** A retention pass is under way (the timer skips its turn meanwhile). */
  private retentionRunning = false;
  private closed = false;
  /** The first close()'s promise, returned to every later call (null until close is called). */
  private closing: Promise<void> | null = null;
  /** Snapshots run one at a time. */
  private snapshotQueue: Promise<unknown> = Promise.resolve();
  private readonly observers: Observers;
  private recoveryReport: RecoveryReport | null = null;

  private constructor(private readonly options: ResolvedOptions, private readonly catalog: Catalog, afterCrash: boolean, private readonly lock: HeldLock) {
    this.dataDir = options.dataDir;
    this.streams = new StreamRegistry(options.maxStreams);
    this.groupCommit = new GroupCommit(options.fsync, options.fsyncIntervalMs, options.logger);
    this.context = {
      io: options.io,
      logger: options.logger,
      openFiles: new OpenFiles(options.maxOpenSegments),
      groupCommit: this.groupCommit,
      segmentSizeBytes: options.segmentSizeBytes,
      scratch: new WriteScratch(),
      preallocateStepBytes: options.preallocateBytes,
      afterCrash,
      onVisible: (log) => {
        const state = this.streams.findByLog(log);
        if (state === undefined) return;
        state.polls.wake();
        this.keyIndex.maintenance.check(state.keys);
      },
      limits: options.consumers,
      maxEventBytes: options.maxEventBytes,
      markDirty: (journal) => this.flusher.mark(journal),
      deadLetter: (streamName, records) => this.deadLetter(streamName, records),
      rolled: (log, frozen, next) => this.observedRoll(log, frozen, next),
      sealed: (log, segment, frozenMs) => this.observedSeal(log, segment, frozenMs),
      compacted: (journal, compaction) => this.observedCompaction(journal, compaction),
    };
    this.keyIndex = {
      io: options.io,
      logger: options.logger,
      options: options.keyIndex,
      cache: new KeyCache(options.keyIndex.cacheBytes),
      maintenance: new KeyMaintenance(options.keyIndex, options.logger),
      openFiles: this.context.openFiles,
    };
    this.appends = {
      window: new DuplicateWindow(options.duplicateWindowMs, options.duplicateWindowEvents),
      limits: { maxBatchEvents: options.maxBatchEvents, maxBatchBytes: options.maxBatchBytes, maxEventBytes: options.maxEventBytes },
      queued: (target, keyed) => {
        this.flusher.mark(target.log);
        if (keyed) this.flusher.mark(target.keys.afterWrite);
      },
    };
    this.observers = new Observers(options.logger, this.groupCommit);
    if (options.observer !== undefined) this.observers.add(options.observer);
    const { context, streams, flusher, keyIndex } = this;
    this.lifecycle = new StreamLifecycle({ options, context, keyIndex, streams, catalog, flusher, closed: () => this.closed });
    this.admin = new StreamAdmin({ streams, catalog, storeRetention: options.retention, logger: options.logger });
  }

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

  /**
   * Adds an observer (observer.ts): callbacks told of every group-commit round, segment roll and
   * seal, journal compaction and snapshot from now on. Returns the function that removes it.
   * (To see the recovery of `open`, pass the observer as `EngineOptions.observer`.)
   */
  observe(observer: EngineObserver): () => void {
    checkObserver(observer, 'observer');
    return this.observers.add(observer);
  }

  /** What the recovery of {@link Engine.open} found and repaired (also after a clean close). */
  get recovery(): RecoveryReport {
    return this.recoveryReport!;
  }

  /**
   * What refuses writes now, for readiness checks: the store closed, or the catalog or a
   * stream's files after a failed write or fsync (until the store is reopened). Empty while the
   * store takes writes everywhere. Streams that failed to open are not listed (see `stats`).
   */
  writeRefusals(): { what: string; code: string; reason: string }[] {
    if (this.closed) return [{ what: 'store', code: ErrorCodes.CLOSED, reason: 'the store is closed' }];
    const refusals: { what: string; code: string; reason: string }[] = [];
    try {
      this.catalog.checkWritable();
    } catch (error) {
      const failure = error as EventBusError;
      refusals.push({ what: 'catalog', code: failure.code, reason: failure.reason });
    }
    for (const { entry, log, consumers } of this.streams.open()) {
      const failure = log.failure ?? consumers.journalFile.failure;
      if (failure !== null) refusals.push({ what: `stream ${entry.name}`, code: failure.code, reason: failure.reason });
    }
    return refusals;
  }

  /** Opens (creating if needed) and recovers the store in `options.dataDir`. */
  static async open(options: EngineOptions): Promise<Engine> {
    const resolved = resolveOptions(options);
    const { io, dataDir, logger } = resolved;
    checkDataDirectory(resolved);
    ensureDirectory(io, dataDir);
    const { lock, crashed: lockLeft } = acquireLock(io, dataDir);
    // Until recovery has finished, the LOCK says only that some process had the store open.
    let crashed = lockLeft;
    let engine: Engine | null = null;
    try {
      // The clean-close checkpoint (crc-checkpoint.ts) is removed only once this open's recovery
      // is durable, and before any write is accepted. A LOCK found beside it was left by an open
      // killed before that point, after a clean stop: nothing was written since that stop, so
      // the store is recovered as after a clean stop (damage at an active segment's end is kept,
      // never cut off as torn; docs/storage-format.md, "Recovery (on open)").
      const checkpoint = readCrcCheckpoint(io, dataDir);
      const interrupted = lockLeft && checkpoint.present;
      crashed = lockLeft && !checkpoint.present;
      if (interrupted) logger.warn({ dataDir }, 'the last open of this store stopped before it took any write (the clean-close checkpoint is still there): recovered as after a clean stop');
      // The last process died with the store open: what it wrote may be in the page cache only.
      // Recovery reads it as it is, shows it and builds on it, so make it durable first (after an
      // interrupted open too: its repairs are made durable as it makes them, but cheaply sure).
      const syncStarted = performance.now();
      if (lockLeft) await syncDataDirectory(io, dataDir, logger);
      const syncMs = lockLeft ? performance.now() - syncStarted : 0;
      const catalog = Catalog.load(io, dataDir);
      prepareDataDirectory(resolved);
      engine = new Engine(resolved, catalog, crashed, lock);
      const started = Date.now();
      const recovered: StreamRecovery[] = [];
      // Checksums of the active segments recorded at the last clean close (none after a crash).
      const crcsByStream = crashed ? new Map<string, SegmentCrcs>() : checkpoint.streams;
      for (const entry of catalog.all()) {
        const tally = new RecoveryTally();
        const streamStarted = performance.now();
        const crcs = crcsByStream.get(entry.id);
        engine.context.recovery = tally;
        engine.context.checkpoint = crcs;
        engine.lifecycle.open(entry);
        engine.context.recovery = undefined;
        engine.context.checkpoint = undefined;
        if (crcs !== undefined) engine.streams.find(entry.name)?.log.restoreActiveCrcs(crcs);
        recovered.push(engine.streamRecovery(entry, tally, performance.now() - streamStarted));
      }
      // A new store, a restored copy or a store made before store ids: ids of new events carry
      // this store's id, recorded before any is given (catalog.ts).
      for (const { entry, log } of engine.streams.open()) catalog.adoptStoreId(entry, log.visibleOffset);
      if (catalog.needsWrite) await catalog.persist();
      const orphansRemoved = removeOrphans(resolved, catalog);
      // Recovery's repairs are durable as made (seals and rebuilt indexes replace files, cuts are
      // fsynced): from here on the store takes writes, and a crash must be recovered as one.
      removeCrcCheckpoint(io, dataDir);
      logger.info({ dataDir, streams: engine.streams.openCount, broken: engine.streams.brokenCount, ms: Date.now() - started }, 'store opened');
      engine.recoveryReport = {
        dataDir, afterCrash: crashed, durationMs: performance.now() - syncStarted, syncMs, orphansRemoved, streams: recovered, totals: recoveryTotals(recovered),
      };
      engine.observers.emit('recovery', engine.recoveryReport);
      engine.startRetentionTimer();
      return engine;
    } catch (error) {
      if (engine !== null) {
        for (const state of engine.streams.open()) closeStream(state);
        engine.groupCommit.close();
      }
      // After a crash, or an open that was itself interrupted, keep the LOCK: recovery did not
      // finish, and the next open must know (the checkpoint, still there, tells it which).
      releaseLock(io, lock, !lockLeft);
      throw error;
    }
  }

  private startRetentionTimer(): void {
    if (this.options.retentionIntervalMs <= 0) return;
    this.retentionTimer = setInterval(() => {
      if (this.retentionRunning || this.closed) return; // a pass waiting on key index writes is still going
      this.retentionRunning = true;
      this.admin
        .applyRetention(Date.now())
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'retention pass failed (tried again at the next)'))
        .finally(() => {
          this.retentionRunning = false;
        });
    }, this.options.retentionIntervalMs);
    this.retentionTimer.unref();
  }

  // ------------------------------------------------------------------ streams

  /**
   * Creates a stream, with its own retention limits if given (each overrides the store's).
   * Resolves once the stream's files and its catalog entry are durable. Throws
   * INVALID_STREAM_NAME, INVALID_FIELD, STREAM_EXISTS, TOO_MANY_STREAMS, DISK_FULL or IO_ERROR.
   */
  async createStream(name: string, options: { retention?: StreamRetention } = {}): Promise<StreamInfo> {
    this.checkOpen();
    checkCreateStreamOptions(options);
    return toInfo(await this.lifecycle.create(name, { retention: options.retention }));
  }

  /**
   * Replaces a stream's own retention limits (those left out follow the store's), durably, and
   * applies them at once. Throws INVALID_FIELD, STREAM_NOT_FOUND, DISK_FULL or IO_ERROR.
   */
  setRetention(name: string, retention: StreamRetention): Promise<RetentionView> {
    try {
      this.checkOpen();
      checkStreamNameType(name);
      checkRetentionLimits(retention, 'retention');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.admin.setRetention(name, retention);
  }

  /**
   * Truncates a stream: once this resolves (durably), no read or consumer sees an event below
   * `beforeOffset`, also after a restart or in a snapshot; offsets continue. Whole segments
   * below it are removed now or by a later retention pass. Throws INVALID_FIELD (past the
   * stream's next offset), STREAM_NOT_FOUND, DISK_FULL or IO_ERROR.
   */
  truncate(name: string, beforeOffset: number): Promise<{ firstOffset: number; nextOffset: number }> {
    try {
      this.checkOpen();
      checkStreamNameType(name);
      checkOffset(beforeOffset, 'beforeOffset');
    } catch (error) {
      return Promise.reject(error);
    }
    return this.admin.truncate(name, beforeOffset);
  }

  /**
   * Deletes a stream and its files. Appends and consumer calls made before it (even in this
   * event-loop turn) are written and settle first; calls made after it get STREAM_NOT_FOUND. Once
   * this resolves the deletion is durable and the stream's events are gone for good.
   */
  async deleteStream(name: string): Promise<void> {
    this.checkOpen();
    checkStreamNameType(name);
    await this.lifecycle.delete(name);
  }

  /** Every stream, in creation order. */
  listStreams(): StreamInfo[] {
    this.checkOpen();
    return this.streams.entries().map(toInfo);
  }

  /** The stream called `name`, or undefined. */
  getStream(name: string): StreamInfo | undefined {
    this.checkOpen();
    const entry = this.streams.entry(name);
    return entry === undefined ? undefined : toInfo(entry);
  }

  /** The stream with catalog number `number` (from an event id), or undefined. */
  getStreamByNumber(number: number): StreamInfo | undefined {
    this.checkOpen();
    const state = this.streams.findByNumber(number);
    return state === undefined ? undefined : toInfo(state.entry);
  }

  /** A stream's identity and figures. Throws STREAM_NOT_FOUND or the stream's open error. */
  stats(name: string): StreamStats {
    this.checkOpen();
    checkStreamNameType(name);
    const { entry, log, consumers } = this.streams.get(name);
    return {
      ...toInfo(entry), ...log.stats(), damage: [...log.damage(), ...consumers.journalDamage()], consumers: consumers.stats(), retention: this.admin.retentionOf(entry),
    };
  }

  // ------------------------------------------------------------------ appending and reading

  /**
   * Appends one event. Resolves with its offset and timestamp once the fsync policy is met.
   * Rejects as {@link appendMany} (INVALID_FIELD for a payload that is not a Buffer).
   */
  async append(name: string, payload: Buffer): Promise<AppendedEvent> {
    checkPayload(payload, 'payload');
    const events = await this.appendMany(name, [payload]);
    return events[0]!;
  }

  /**
   * Appends events in order, with consecutive offsets and one timestamp. Resolves once the fsync
   * policy is met; rejects with INVALID_FIELD (not a non-empty array of Buffers; nothing is queued),
   * EVENT_TOO_LARGE, BATCH_TOO_LARGE, STREAM_NOT_FOUND, DISK_FULL, IO_ERROR or STREAM_FAILED
   * (nothing of a rejected append is ever acknowledged).
   */
  appendMany(name: string, payloads: readonly Buffer[]): Promise<AppendedEvent[]> {
    // Not maxBatchBytes (documented as appendEvents' limit; a batch here is bounded by
    // maxBatchEvents × maxEventBytes), but at most 1 GiB: a batch goes into one segment, whose
    // offset index holds 32-bit positions.
    try {
      this.checkOpen();
      checkStreamNameType(name);
      checkPayloads(payloads);
      const { log } = this.streams.get(name);
      const { maxBatchEvents, maxEventBytes } = this.options;
      if (payloads.length > maxBatchEvents) {
        throw new EventBusError(ErrorCodes.BATCH_TOO_LARGE, `a batch holds at most ${maxBatchEvents} events, got ${payloads.length}`);
      }
      let bytes = 0;
      for (const payload of payloads) {
        if (payload.length > maxEventBytes) {
          throw new EventBusError(ErrorCodes.EVENT_TOO_LARGE, `event is ${payload.length} bytes, the limit is ${maxEventBytes}`, { context: { limit: maxEventBytes, bytes: payload.length } });
        }
        bytes += payload.length;
      }
      if (bytes > MAX_APPEND_MANY_BYTES) {
        throw new EventBusError(ErrorCodes.BATCH_TOO_LARGE, `a batch of appendMany holds at most ${MAX_APPEND_MANY_BYTES} bytes, got ${bytes}`, { context: { limit: MAX_APPEND_MANY_BYTES, bytes } });
      }
      const appended = log.append(payloads, Date.now());
      this.flusher.mark(log);
      return appended;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Appends `events` as one batch, all or nothing (also across a crash: recovery never leaves
   * part of a batch), with an optional key whose versions count from 0, an expected version
   * checked in the stream's write order, and idempotency by message id (event-append.ts). Resolves
   * once the batch is durable under the fsync policy. Rejects with INVALID_FIELD,
   * EVENT_TOO_LARGE, BATCH_TOO_LARGE, WRONG_EXPECTED_VERSION, IDEMPOTENCY_CONFLICT,
   * STREAM_NOT_FOUND, DISK_FULL, IO_ERROR, STREAM_FAILED or CORRUPT_DATA.
   */
  appendEvents(name: string, events: readonly NewEvent[], options: AppendEventsOptions = {}): Promise<AppendEventsResult> {
    try {
      this.checkOpen();
      checkStreamNameType(name);
      checkNewEvents(events, options);
      const state = this.streams.get(name);
      return appendEvents(this.appends, { number: state.entry.number, log: state.log, keys: state.keys }, events, options, Date.now());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * The version and offset of the newest event of `key` in stream `name` (version -1 when it has
   * none), appends not yet durable included.
   */
  keyVersion(name: string, key: string): { version: number; offset: number } {
    this.checkOpen();
    checkStreamNameType(name);
    checkKey(key);
    const state = this.streams.get(name);
    const { version, offset } = state.keys.newest(key);
    return { version, offset };
  }

  /**
   * The versions and offsets of the events of `key` in stream `name`: from version `fromVersion`
   * on, at most `limit` (default 1,000), in version order (`forward`, the default), or from
   * `fromVersion` down, newest first (`backward`). Every appended version is there: appends
   * still queued in this event-loop turn are written first, so that only versions that retention
   * or truncation removed can be missing (read the events with `read`; one not yet visible is
   * not returned by it).
   */
  keyOffsets(name: string, key: string, fromVersion: number, options: { direction?: 'forward' | 'backward'; limit?: number } = {}): { version: number; offset: number }[] {
    this.checkOpen();
    checkStreamNameType(name);
    checkKeyRange(key, fromVersion, options);
    const state = this.streams.get(name);
    this.flusher.flushNow();
    return state.keys.offsetsOf(key, fromVersion, options.direction ?? 'forward', options.limit ?? 1000);
  }

  /**
   * {@link keyOffsets} with each event as stored (read once through the key index, its key
   * checked): what reads by key use. Appends queued in this turn are written first, as there.
   * `event` is null for an event retention or truncation has removed; an event written but not
   * yet visible is returned too (the caller compares its offset with {@link bounds}' `nextOffset`).
   */
  keyEvents(name: string, key: string, fromVersion: number, options: { direction?: 'forward' | 'backward'; limit?: number } = {}): { version: number; offset: number; event: StoredEvent | null }[] {
    this.checkOpen();
    checkStreamNameType(name);
    checkKeyRange(key, fromVersion, options);
    const state = this.streams.get(name);
    this.flusher.flushNow();
    return state.keys.eventsOf(key, fromVersion, options.direction ?? 'forward', options.limit ?? 1000);
  }

  /** Figures of the key index of stream `name` and of the store's shared parts. */
  keyIndexStats(name: string): KeyIndexStats {
    this.checkOpen();
    checkStreamNameType(name);
    const own = this.streams.get(name).keys.stats();
    const { cache } = this.keyIndex;
    let memory = cache.bytes;
    for (const state of this.streams.open()) memory += state.keys.memoryBytes;
    return { ...own, cachedKeys: cache.size, cacheBytes: cache.bytes, storeMemoryBytes: memory };
  }

  /** Resolves once the key index upkeep queued so far (runs written, merges) is done. */
  keyIndexIdle(): Promise<void> {
    return this.keyIndex.maintenance.idle();
  }

  /**
   * Reads visible events from `fromOffset` (a whole number, clamped to the oldest stored). Throws
   * INVALID_FIELD (a bad offset or limit), STREAM_NOT_FOUND, or CORRUPT_DATA if the first event
   * due is damaged.
   */
  read(name: string, fromOffset: number, limits: ReadLimits = {}): StoredEvent[] {
    this.checkOpen();
    checkStreamNameType(name);
    checkInteger(fromOffset, 'fromOffset');
    checkReadLimits(limits);
    return this.streams.get(name).log.read(fromOffset, limits.maxEvents ?? DEFAULT_READ_EVENTS, limits.maxBytes ?? DEFAULT_READ_BYTES);
  }

  /**
   * The oldest offset still stored and the next offset (everything visible is below it), cheaply.
   * Throws STREAM_NOT_FOUND.
   */
  bounds(name: string): { firstOffset: number; nextOffset: number } {
    this.checkOpen();
    checkStreamNameType(name);
    const { log } = this.streams.get(name);
    return { firstOffset: log.firstOffset, nextOffset: log.visibleOffset };
  }

  /**
   * Reads visible events newest first, from `fromOffset` (included; past the end: from the last
   * event) down to the oldest stored. Limits and errors as {@link read}.
   */
  readBackward(name: string, fromOffset: number, limits: ReadLimits = {}): StoredEvent[] {
    this.checkOpen();
    checkStreamNameType(name);
    checkInteger(fromOffset, 'fromOffset');
    checkReadLimits(limits);
    return this.streams.get(name).log.readBackward(fromOffset, limits.maxEvents ?? DEFAULT_READ_EVENTS, limits.maxBytes ?? DEFAULT_READ_BYTES);
  }

  /**
   * The first visible offset whose timestamp is at or after `timeMs` (the stream's next offset
   * if none is), found without scanning (log/time-lookup.ts). Throws STREAM_NOT_FOUND, or
   * CORRUPT_DATA if a record it must look at is damaged.
   */
  offsetAtTime(name: string, timeMs: number): number {
    this.checkOpen();
    checkStreamNameType(name);
    checkTimeMs(timeMs, 'timeMs');
    return this.streams.get(name).log.offsetAtTime(timeMs);
  }

  /**
   * Resolves true as soon as the stream holds a visible event at `afterOffset` or later, false
   * after `timeoutMs` (or if the stream is deleted or the engine closes first).
   */
  waitForEvents(name: string, afterOffset: number, timeoutMs: number): Promise<boolean> {
    let state;
    try {
      this.checkOpen();
      checkStreamNameType(name);
      checkInteger(afterOffset, 'afterOffset');
      checkWholeNumber(timeoutMs, 'timeoutMs', 0, MAX_TIMER_MS);
      state = this.streams.get(name);
    } catch (error) {
      return Promise.reject(error);
    }
    const { log, polls } = state;
    const arrived = () => log.visibleOffset > afterOffset;
    if (arrived() || this.closed) return Promise.resolve(arrived());
    return polls.wait(timeoutMs, arrived);
  }

  /**
   * A reusable wait for events of stream `name`, for a reader that waits after every read (a live
   * subscription): each {@link EventWatch.arm} calls `woken(true)` once an event at the offset
   * given or later is visible, or `woken(false)` if the stream is deleted or the engine closes;
   * no timeout, no timer, no promise. Throws STREAM_NOT_FOUND.
   */
  eventWatch(name: string, woken: (arrived: boolean) => void): EventWatch {
    this.checkOpen();
    checkStreamNameType(name);
    if (typeof woken !== 'function') throw invalidArgument('woken', 'a function', woken);
    const { log, polls } = this.streams.get(name);
    return new EventWatch(log, polls, woken);
  }

  // ------------------------------------------------------------------ consumers

  /**
   * Delivers `consumer`'s next events: those marked 0 (to be delivered again) and then new ones
   * after its cursor, in offset order, advancing the cursor past them. The consumer is created
   * on first use. Resolves once the delivery is durable under the fsync policy. With `waitMs`,
   * waits for events when none are due (a filtered consumer scans on, a budget per event-loop
   * turn, while events it passes over are ahead).
   */
  async consume(stream: string, consumer: string, options: ConsumeOptions = {}): Promise<ConsumeResult> {
    this.checkOpen();
    checkStreamNameType(stream, 'stream');
    checkConsumeOptions(options);
    return this.streams.get(stream).consumers.consume(consumer, options);
  }

  /**
   * Delivers events marked for retry and pending events whose acknowledgement deadline passed;
   * events delivered `maxDeliveries` times go to the dead-letter stream instead (a move that
   * fails holds up none of the others; `more` counts it only while moves work). A consumer that
   * does not exist is not created: nothing is due for it.
   */
  async retry(stream: string, consumer: string, options: RetryOptions = {}): Promise<ConsumeResult> {
    this.checkOpen();
    checkStreamNameType(stream, 'stream');
    checkRetryOptions(options);
    return this.streams.get(stream).consumers.retry(consumer, options);
  }

  /**
   * Marks delivered events: 1 acknowledges, 2 moves to the retry set, 0 has process deliver
   * them again. Acknowledging (1) an event that truncation or retention removed succeeds and
   * changes nothing. Throws EVENT_NOT_FOUND (no such offset; for 0 and 2, also a removed one),
   * EVENT_NOT_DELIVERED (not delivered to this consumer) or EVENT_ACKNOWLEDGED (already
   * processed or dead-lettered, status 0 or 2). Resolves once durable under the fsync policy.
   */
  async mark(stream: string, consumer: string, offsets: readonly number[], status: EventStatus): Promise<void> {
    this.checkOpen();
    checkStreamNameType(stream, 'stream');
    checkOffsetList(offsets);
    if (status !== 0 && status !== 1 && status !== 2) {
      throw new EventBusError(ErrorCodes.INVALID_STATUS, OriginalReasons.invalidStatus);
    }
    return this.streams.get(stream).consumers.mark(consumer, offsets, status);
  }

  /** The status and delivery count of each of `offsets` for `consumer` (unknown consumer: all 0). */
  eventStatuses(stream: string, consumer: string, offsets: readonly number[]): { status: EventStatus; deliveryCount: number }[] {
    this.checkOpen();
    checkStreamNameType(stream, 'stream');
    validateConsumerName(consumer);
    checkOffsetList(offsets);
    return this.streams.get(stream).consumers.statuses(consumer, offsets);
  }

  /**
   * Ends every long-poll at once (they resolve with whatever is due, usually nothing), and makes
   * later ones return without waiting: for a server that is shutting down.
   */
  endWaits(): void {
    this.streams.endWaits();
  }

  /**
   * Appends each record to the dead-letter stream of `streamName` (created on first use), each as
   * an append of its own with its msg_id (issued in one turn: one fsync round covers them): a
   * record whose msg_id is in the duplicate window (a move made again after a crash between the
   * record and the consumer's journal entry) is not stored again, whether or not that one is still
   * stored. Resolves with null for each record stored (now or before), else why not. The records
   * are the engine's own: bounded by what a reader accepts (MAX_EVENT_BYTES), not by
   * `maxEventBytes`, which their bodies already respect (dead-letter-record.ts).
   */
  private async deadLetter(streamName: string, records: readonly DeadLetter[]): Promise<(Error | null)[]> {
    const name = deadLetterStreamName(streamName);
    if (this.streams.find(name) === undefined) {
      let creating = this.creatingDeadLetters.get(name);
      if (creating === undefined) {
        // The one way to create a reserved name: createStream refuses them (and has no option for it).
        creating = this.lifecycle.create(name, { allowReserved: true }).finally(() => this.creatingDeadLetters.delete(name));
        this.creatingDeadLetters.set(name, creating);
      }
      await creating;
    }
    this.checkOpen();
    const state = this.streams.get(name);
    const target = { number: state.entry.number, log: state.log, keys: state.keys };
    const context: AppendContext = { ...this.appends, limits: DEAD_LETTER_LIMITS };
    const nowMs = Date.now();
    const appended = records.map((record) => {
      assert(record.payload.length <= MAX_EVENT_BYTES, 'a dead-letter record longer than readers accept');
      try {
        return appendEvents(context, target, [{ payload: record.payload, msgId: record.msgId }], {}, nowMs).then(
          () => null,
          (error: unknown) => asError(error),
        );
      } catch (error) {
        // The id was appended before and its record is no longer stored (truncated, removed by
        // retention): the move was recorded.
        return Promise.resolve(isEventBusError(error, ErrorCodes.IDEMPOTENCY_CONFLICT) ? null : asError(error));
      }
    });
    return Promise.all(appended);
  }

  // ------------------------------------------------------------------ snapshots and upkeep

  /**
   * Takes a point-in-time snapshot into a new directory inside `parentDir` (tools/snapshot.ts).
   * It holds every event and consumer change acknowledged before the call; later writes never
   * change it. Writes keep flowing while it runs. Throws INVALID_PATH when `parentDir` is inside
   * the data directory (nothing written), SNAPSHOT_FAILED. With `copyActiveTails`, every active
   * segment's tail is copied whole, however large, instead of sealing those over 1 MiB first: the
   * store's files are left as they are (the offline `eventbus snapshot`).
   */
  snapshot(parentDir: string, options?: { copyActiveTails?: boolean }): Promise<SnapshotResult> {
    try {
      this.checkOpen();
      checkPath(parentDir, 'parentDir');
      checkSnapshotOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    const copyLimitBytes = options?.copyActiveTails === true ? Infinity : COPY_LIMIT_BYTES;
    // Checked open at the call only: close waits for the snapshots called before it (in call
    // order, also in the same turn), so a queued one is taken, never refused for a later close.
    const run = this.snapshotQueue.catch(() => {}).then(() => this.observedSnapshot(path.resolve(parentDir), copyLimitBytes));
    this.snapshotQueue = run;
    return run;
  }

  /** Takes a snapshot, telling the observers how it went. */
  private async observedSnapshot(parentDir: string, copyLimitBytes: number): Promise<SnapshotResult> {
    const startedMs = performance.now();
    try {
      const result = await takeSnapshot(this.snapshotSource(), parentDir, copyLimitBytes);
      this.observers.emit('snapshot', { parentDir, durationMs: performance.now() - startedMs, result, error: null });
      return result;
    } catch (error) {
      const failure = error instanceof EventBusError ? error : new EventBusError(ErrorCodes.SNAPSHOT_FAILED, String(error));
      this.observers.emit('snapshot', { parentDir, durationMs: performance.now() - startedMs, result: null, error: failure });
      throw error;
    }
  }

  // ------------------------------------------------------------------ observation (observer.ts)

  /** What opening `entry` found and repaired, from recovery's notes and the opened stream. */
  private streamRecovery(entry: CatalogEntry, tally: RecoveryTally, durationMs: number): StreamRecovery {
    const base = { stream: entry.name, id: entry.id, durationMs, ...tally.counts };
    const state = this.streams.find(entry.name);
    if (state === undefined) {
      let error: { code: string; reason: string } = { code: ErrorCodes.INTERNAL, reason: 'the stream could not be opened' };
      try {
        this.streams.get(entry.name);
      } catch (failure) {
        if (failure instanceof EventBusError) error = { code: failure.code, reason: failure.reason };
      }
      return { ...base, segments: 0, events: 0, damage: [], error };
    }
    const stats = state.log.stats();
    return { ...base, segments: stats.segmentCount, events: stats.eventCount, damage: [...state.log.damage(), ...state.consumers.journalDamage()], error: null };
  }

  private observedRoll(log: StreamLog, frozen: Segment, next: Segment): void {
    this.observers.emitWanted('roll', () => ({ stream: this.nameOfLog(log), frozenBaseOffset: frozen.baseOffset, records: frozen.count, logBytes: frozen.size, baseOffset: next.baseOffset }));
  }

  private observedSeal(log: StreamLog, segment: Segment, frozenMs: number): void {
    this.observers.emitWanted('seal', () => ({ stream: this.nameOfLog(log), baseOffset: segment.baseOffset, records: segment.count, logBytes: segment.size, durationMs: performance.now() - frozenMs }));
  }

  private observedCompaction(journal: ConsumerJournal, compaction: { fromBytes: number; toBytes: number; consumers: number; durationMs: number }): void {
    this.observers.emitWanted('compaction', () => ({ stream: this.streams.open().find((state) => state.log.dir === journal.dir)?.entry.name ?? journal.dir, ...compaction }));
  }

  /** The name of the stream whose log is `log` (its directory if none is open: a stream being deleted). */
  private nameOfLog(log: StreamLog): string {
    return this.streams.findByLog(log)?.entry.name ?? log.dir;
  }

  private snapshotSource(): SnapshotSource {
    return {
      io: this.options.io,
      logger: this.options.logger,
      dataDir: this.dataDir,
      prepare: async (copyLimitBytes) => {
        this.flusher.flushNow();
        const logs = this.streams.open().map((state) => state.log);
        await Promise.all(logs.filter((log) => log.activeTailBytes > copyLimitBytes).map((log) => log.sealActive(Date.now())));
        // Seals rolled by ordinary appends finish within an fsync or two; wait for them.
        await Promise.all(logs.map((log) => log.sealsSettled()));
      },
      capture: () => this.streams.open().map(({ entry, log, consumers, keys }) => {
        const visible = log.visibleOffset;
        // A copy of the entry: settings changed while the snapshot is written are not in it.
        return { entry: { ...entry }, firstOffset: log.firstOffset, nextOffset: visible, files: [...log.captureFiles(visible), ...keys.captureFiles(visible)], consumerState: consumers.stateRecords() };
      }),
      leftOut: () => this.streams.brokenStreams().map(({ entry, error }) => ({ stream: entry.name, code: error.code, reason: error.reason })),
      encodeCatalog: (entries) => this.catalog.encode(entries),
    };
  }

  /**
   * Applies retention to every stream now (each stream's own limits over the store's, and its
   * truncation). Resolves to the segments removed, once the key index has written out the
   * entries of the events they held (a segment it could not is kept until the next pass).
   */
  async applyRetention(): Promise<number> {
    this.checkOpen();
    return this.admin.applyRetention(Date.now());
  }

  /**
   * Closes the store: queued appends are written and every file is fsynced (whatever the
   * policy), then files are closed and the lock released. Rejects (after closing everything) with
   * the first write or fsync failure that no call was told of (under `interval` and `never` any,
   * since they acknowledge before fsyncing; under `always` one no waiting append was rejected
   * with, as close's own final fsync): IO_ERROR, or DISK_FULL for a full disk. Resolving means
   * everything acknowledged is on disk. Every later or concurrent call gets the first call's
   * promise: it settles when that close has finished, and as it did.
   */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  /** The one run of {@link close}. */
  private async closeOnce(): Promise<void> {
    assert(!this.closed, 'the store is closed once');
    this.closed = true;
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer);
    await this.snapshotQueue.catch(() => {});
    this.flusher.flushNow();
    const states = this.streams.open();
    // Each key index writes its memtable out (merges stop at their next chunk), so that the next
    // open replays no log and answers keyed reads at once; then upkeep stops.
    await Promise.all(states.map((s) => s.log.idle()));
    await Promise.all(states.map((s) => s.keys.flushForClose()));
    for (const state of states) state.keys.close();
    await this.keyIndex.maintenance.idle();
    await Promise.all(states.map((s) => s.log.idle()));
    for (const { log, consumers } of states) this.groupCommit.touch([...log.syncTargets(), ...consumers.journalFile.syncTargets()]);
    let clean = false;
    let failure: EventBusError | null = null;
    try {
      await this.groupCommit.syncAll();
      clean = states.every((state) => state.log.failure === null && state.consumers.journalFile.failure === null);
      failure = unreportedFailure(states);
    } finally {
      this.groupCommit.close();
      const crcs = new Map<string, SegmentCrcs>();
      for (const state of states) {
        const active = state.log.activeCrcs();
        if (active !== null) crcs.set(state.entry.id, active);
        closeStream(state, undefined, true);
      }
      this.finishClose(clean, crcs);
    }
    if (failure !== null) {
      this.options.logger.error({ dataDir: this.dataDir, code: failure.code, reason: failure.reason }, 'close rejects: a write or fsync failed and no call was told');
      throw failure;
    }
  }

  /** Writes the checksum checkpoint of a clean close and releases the LOCK. */
  private finishClose(clean: boolean, crcs: Map<string, SegmentCrcs>): void {
    const { io, logger } = this.options;
    if (clean) {
      try {
        writeCrcCheckpoint(io, this.dataDir, crcs);
      } catch (error) {
        logger.warn({ err: error }, 'could not write the checksum checkpoint (the next snapshot computes them)');
      }
    }
    // A store whose last fsyncs failed keeps its LOCK: the next open recovers as after a crash.
    if (!releaseLock(io, this.lock, clean)) {
      logger.warn({ dataDir: this.dataDir }, 'the LOCK no longer names this process (another process took it over while the store was open here): left in place');
    }
    logger.info({ dataDir: this.dataDir, clean }, 'store closed');
  }

  private checkOpen(): void {
    if (this.closed) throw new EventBusError(ErrorCodes.CLOSED, 'the store is closed');
  }
}

/**
 * Refuses (NOT_A_STORE) to open what is not a data directory, before anything is written: a
 * file (or a path under one), a snapshot (it is restored, never served: a server would write
 * into it), a directory holding someone else's files (store-directory.ts: hidden files and
 * lost+found do not count), and, without `create`, anything but an existing store.
 */
function checkDataDirectory({ io, dataDir, create }: ResolvedOptions): void {
  const found = inspectStoreDirectory(dataDir, io);
  const { kind, obstacle } = found;
  const refuse = (reason: string) => new EventBusError(ErrorCodes.NOT_A_STORE, reason, { context: { path: dataDir, kind } });
  // Before its LOCK is taken: a restore cut short is not a store (tools/restore.ts).
  if (found.restoreInterrupted) throw refuse(unfinishedRestoreReason(found));
  if (kind === 'file') throw refuse(`${dataDir} is a file, not a data directory`);
  if (obstacle !== undefined) throw refuse(`the data directory ${dataDir} cannot be created: ${obstacle} is a file`);
  if (kind === 'snapshot') throw refuse(`${dataDir} is a snapshot, not a data directory: make a data directory from it with \`eventbus restore\``);
  if (kind === 'other') throw refuse(`${dataDir} is not empty and is not an eventbus data directory (it has no catalog, streams/ or LOCK); nothing was written`);
  if (create || kind === 'store') return;
  throw refuse(kind === 'missing' ? `there is no data directory at ${dataDir}` : `${dataDir} is not an eventbus data directory (it has no catalog)`);
}

/**
 * Close's rejection: the first failure of a stream's log or consumer journal that no call was
 * told of (fs/durable-writer.ts), in its own code; null if there is none.
 */
function unreportedFailure(states: readonly StreamState[]): EventBusError | null {
  let first: { error: EventBusError; order: number; stream: string } | null = null;
  for (const { entry, log, consumers } of states) {
    for (const found of [log.unreportedFailure, consumers.journalFile.unreportedFailure]) {
      if (found !== null && (first === null || found.order < first.order)) first = { ...found, stream: entry.name };
    }
  }
  if (first === null) return null;
  const { error, stream } = first;
  const reason = `the store closed after a failure no call was told of: ${error.reason} (stream '${stream}'); what was written to the stream may not be on disk (the next open recovers as after a crash)`;
  return new EventBusError(error.code, reason, { cause: error, context: { stream } });
}

function toInfo(entry: CatalogEntry): StreamInfo {
  return { id: entry.id, name: entry.name, number: entry.number, createdMs: entry.createdMs, idEpochs: entry.idEpochs };
}
