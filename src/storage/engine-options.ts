/**
 * The options of {@link Engine.open}: what each means, its default, and the check of every value
 * where it is read (a bad one is INVALID_FIELD naming it, never a failed assertion later).
 */
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../errors.js';
import { DEFAULT_CONSUMER_LIMITS, type ConsumerLimits } from './consumers/consumer-types.js';
import { MAX_PENDING } from './consumers/journal-codec.js';
import { FSYNC_POLICIES, type FsyncPolicy } from './fs/group-commit.js';
import { nodeIO, type FileIO } from './fs/io.js';
import { checkObserver, FILE_IO_METHODS, firstUnknownKey, isFileIO, MAX_TIMER_MS, wholeNumberRange } from './api-arguments.js';
import { MAX_EVENT_BYTES } from './format/record.js';
import type { RetentionPolicy } from './log/segment-list.js';
import { silentLogger, type Logger } from './logger.js';
import type { KeyIndexOptions } from './keys/key-index.js';

/** Defaults of the key index (keys/key-index.ts): about 50 MiB of memory per store at most. */
export const DEFAULT_KEY_INDEX_OPTIONS: Readonly<KeyIndexOptions> = {
  cacheBytes: 32 * 1024 * 1024,
  flushEvents: 65_536,
  memtableEvents: 262_144,
  idleFlushMs: 2_000,
};
import type { EngineObserver } from './observer.js';

/** The default step of preallocation (EngineOptions.preallocateBytes). */
const DEFAULT_PREALLOCATE_BYTES = 1024 * 1024;

/** Options of Engine.open. Every limit has a default; see docs/operations.md. */
export interface EngineOptions {
  /** The data directory; created if missing (unless `create` is false). */
  dataDir: string;
  /**
   * False for tools that act on an existing store only: open refuses (NOT_A_STORE), changing
   * nothing, unless `dataDir` already holds a store. Default true.
   */
  create?: boolean;
  /** When an append resolves: after fsync (`always`, default), after write (`interval`, `never`). */
  fsync?: FsyncPolicy;
  /** With `interval`: how often dirty files are fsynced. Default 100 ms. */
  fsyncIntervalMs?: number;
  /** A segment is sealed and a new one started when a record would take it past this. Default 64 MiB. */
  segmentSizeBytes?: number;
  /**
   * The active segment's log grows ahead of its data in steps of this many bytes (sparse, with
   * ftruncate), so that most appends' fdatasync need not commit a new file size; cut back when
   * the segment is sealed and at a clean close. 0 turns it off (a research knob: the cost of
   * preallocation, docs/research.md). Default 1 MiB (at most `segmentSizeBytes`).
   */
  preallocateBytes?: number;
  /** Largest event accepted by an append (payload and metadata). Default 1 MiB; at most 64 MiB. */
  maxEventBytes?: number;
  /** Most events in one appendMany or appendEvents (one batch). Default 1,000. */
  maxBatchEvents?: number;
  /** Most bytes in one batch (payloads, metadata, keys, types, msg_ids). Default 4 MiB; at most 64 MiB. */
  maxBatchBytes?: number;
  /** The key index: its cache's bytes and when memtables are written out (keys/key-index.ts). */
  keyIndex?: Partial<KeyIndexOptions>;
  /** How long a msg_id is remembered for duplicate detection. Default 120,000 ms; 0 = only exact expected versions. */
  duplicateWindowMs?: number;
  /**
   * Most msg_ids remembered at once, for the whole store (every stream's together; about 150 bytes
   * each). Default 100,000, or maxBatchEvents if larger; 0 = only exact expected versions, else at
   * least maxBatchEvents.
   */
  duplicateWindowEvents?: number;
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
  /**
   * Told of every commit round, segment roll and seal, recovery, journal compaction and snapshot
   * (observer.ts). The only way to see the recovery of open; `engine.observe` adds more later.
   * Default: none (nothing is measured).
   */
  observer?: EngineObserver;
}

/** The options with every default filled in. */
export interface ResolvedOptions {
  dataDir: string;
  create: boolean;
  fsync: FsyncPolicy;
  fsyncIntervalMs: number;
  segmentSizeBytes: number;
  preallocateBytes: number;
  maxEventBytes: number;
  maxBatchEvents: number;
  maxBatchBytes: number;
  keyIndex: KeyIndexOptions;
  duplicateWindowMs: number;
  duplicateWindowEvents: number;
  retention: RetentionPolicy;
  retentionIntervalMs: number;
  maxOpenSegments: number;
  maxStreams: number;
  io: FileIO;
  logger: Logger;
  consumers: ConsumerLimits;
  observer: EngineObserver | undefined;
}

/** The keys each options object may have: any other is a mistake (a misspelt option would be ignored). */
const OPTION_KEYS: readonly (keyof EngineOptions)[] = [
  'dataDir', 'create', 'fsync', 'fsyncIntervalMs', 'segmentSizeBytes', 'preallocateBytes', 'maxEventBytes', 'maxBatchEvents', 'maxBatchBytes', 'keyIndex',
  'duplicateWindowMs', 'duplicateWindowEvents', 'retention', 'retentionIntervalMs', 'maxOpenSegments', 'maxStreams', 'io', 'logger', 'consumers', 'observer',
];
const RETENTION_KEYS: readonly (keyof RetentionPolicy)[] = ['maxAgeMs', 'maxBytes', 'maxEvents'];
const LOGGER_METHODS = ['debug', 'info', 'warn', 'error'] as const;

/** Default most events in one batch (maxBatchEvents; the server's storage.max_batch_events). */
export const DEFAULT_MAX_BATCH_EVENTS = 1000;
/** Default most msg_ids the duplicate window holds (duplicateWindowEvents), raised to maxBatchEvents when that is larger. */
export const DEFAULT_DUPLICATE_WINDOW_EVENTS = 100_000;

/** The smallest key cache (keyIndex.cacheBytes; the server's storage.key_cache_bytes). */
export const MIN_KEY_CACHE_BYTES = 64 * 1024;

/** Fills in defaults and checks every value; throws INVALID_FIELD naming a bad one. */
export function resolveOptions(options: EngineOptions): ResolvedOptions {
  const bad = (field: string, expected: string) => new EventBusError(ErrorCodes.INVALID_FIELD, `invalid engine option: ${field} must be ${expected}`, { context: { field, expected } });
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  /** An optional nested object with only `keys`. */
  const section = (value: unknown, field: string, keys: readonly string[]): void => {
    if (value === undefined) return;
    if (!isObject(value)) throw bad(field, 'an object');
    const unknown = firstUnknownKey(value, keys);
    if (unknown !== undefined) throw bad(`${field}.${unknown}`, `one of the options ${keys.join(', ')} (unknown option)`);
  };
  const whole = (value: number, field: string, min: number, max = Number.MAX_SAFE_INTEGER, unit = '') => {
    if (!(Number.isSafeInteger(value) && value >= min && value <= max)) {
      throw bad(field, `${wholeNumberRange(min, max)}${unit}`);
    }
  };
  if (!isObject(options)) throw bad('options', 'an object with at least dataDir');
  section(options, 'options', OPTION_KEYS);
  // '' would be the working directory: never a store by accident.
  if (typeof options.dataDir !== 'string' || options.dataDir.length === 0) throw bad('dataDir', 'a non-empty path');
  if (options.create !== undefined && typeof options.create !== 'boolean') throw bad('create', 'a boolean');
  section(options.keyIndex, 'keyIndex', Object.keys(DEFAULT_KEY_INDEX_OPTIONS));
  section(options.retention, 'retention', RETENTION_KEYS);
  section(options.consumers, 'consumers', Object.keys(DEFAULT_CONSUMER_LIMITS));
  if (options.io !== undefined && !isFileIO(options.io)) {
    // A factory passed uncalled (syncFreeIO for syncFreeIO()) is the likely mistake: say so.
    throw bad('io', `a FileIO (with ${FILE_IO_METHODS.join(', ')})${typeof options.io === 'function' ? '; a function was given: call it (syncFreeIO(), not syncFreeIO) to get the layer' : ''}`);
  }
  if (options.logger !== undefined && !(isObject(options.logger) && LOGGER_METHODS.every((method) => typeof (options.logger as unknown as Record<string, unknown>)[method] === 'function'))) {
    throw bad('logger', 'a Logger (debug, info, warn, error)');
  }
  if (options.observer !== undefined) checkObserver(options.observer, 'observer');
  const resolved: ResolvedOptions = {
    dataDir: path.resolve(options.dataDir),
    create: options.create ?? true,
    fsync: options.fsync ?? 'always',
    fsyncIntervalMs: options.fsyncIntervalMs ?? 100,
    segmentSizeBytes: options.segmentSizeBytes ?? 64 * 1024 * 1024,
    preallocateBytes: 0,
    maxEventBytes: options.maxEventBytes ?? 1024 * 1024,
    maxBatchEvents: options.maxBatchEvents ?? DEFAULT_MAX_BATCH_EVENTS,
    maxBatchBytes: options.maxBatchBytes ?? 4 * 1024 * 1024,
    keyIndex: { ...DEFAULT_KEY_INDEX_OPTIONS, ...options.keyIndex },
    duplicateWindowMs: options.duplicateWindowMs ?? 120_000,
    duplicateWindowEvents: options.duplicateWindowEvents ?? DEFAULT_DUPLICATE_WINDOW_EVENTS,
    retention: { maxAgeMs: 0, maxBytes: 0, maxEvents: 0, ...options.retention },
    retentionIntervalMs: options.retentionIntervalMs ?? 60_000,
    maxOpenSegments: options.maxOpenSegments ?? 256,
    maxStreams: options.maxStreams ?? 1000,
    io: options.io ?? nodeIO,
    logger: options.logger ?? silentLogger,
    consumers: { ...DEFAULT_CONSUMER_LIMITS, ...options.consumers },
    observer: options.observer,
  };
  if (!FSYNC_POLICIES.includes(resolved.fsync)) throw bad('fsync', `one of ${FSYNC_POLICIES.join(', ')}`);
  // Timers take at most MAX_TIMER_MS; a longer delay would fire at once, every millisecond.
  whole(resolved.fsyncIntervalMs, 'fsyncIntervalMs', 1, MAX_TIMER_MS, ' (ms)');
  whole(resolved.segmentSizeBytes, 'segmentSizeBytes', 1024, 1024 ** 3, ' (1 KiB to 1 GiB)');
  resolved.preallocateBytes = options.preallocateBytes ?? Math.min(DEFAULT_PREALLOCATE_BYTES, resolved.segmentSizeBytes);
  whole(resolved.preallocateBytes, 'preallocateBytes', 0, resolved.segmentSizeBytes, ' (at most segmentSizeBytes)');
  whole(resolved.maxEventBytes, 'maxEventBytes', 1, MAX_EVENT_BYTES, ' (at most 64 MiB)');
  whole(resolved.maxBatchEvents, 'maxBatchEvents', 1);
  whole(resolved.maxBatchBytes, 'maxBatchBytes', 1, MAX_EVENT_BYTES, ' (at most 64 MiB)');
  const k = resolved.keyIndex;
  whole(k.cacheBytes, 'keyIndex.cacheBytes', MIN_KEY_CACHE_BYTES, Number.MAX_SAFE_INTEGER, ' (64 KiB)');
  whole(k.flushEvents, 'keyIndex.flushEvents', 16);
  whole(k.memtableEvents, 'keyIndex.memtableEvents', k.flushEvents, Number.MAX_SAFE_INTEGER, ' (keyIndex.flushEvents)');
  whole(k.idleFlushMs, 'keyIndex.idleFlushMs', 0, MAX_TIMER_MS, ' (ms)');
  whole(resolved.duplicateWindowMs, 'duplicateWindowMs', 0);
  whole(resolved.duplicateWindowEvents, 'duplicateWindowEvents', 0);
  // A window of fewer ids than a batch could never recognise a full batch sent again (its first
  // ids pushed out by its last: IDEMPOTENCY_CONFLICT): raised to a batch when only the default,
  // refused when asked for.
  if (options.duplicateWindowEvents === undefined) resolved.duplicateWindowEvents = Math.max(resolved.duplicateWindowEvents, resolved.maxBatchEvents);
  if (resolved.duplicateWindowEvents > 0 && resolved.duplicateWindowEvents < resolved.maxBatchEvents) {
    throw bad('duplicateWindowEvents', `0 (no window) or at least maxBatchEvents (${resolved.maxBatchEvents}), got ${resolved.duplicateWindowEvents}: a smaller window cannot recognise a full batch sent again`);
  }
  for (const key of RETENTION_KEYS) whole(resolved.retention[key], `retention.${key}`, 0);
  whole(resolved.retentionIntervalMs, 'retentionIntervalMs', 0, MAX_TIMER_MS, ' (ms; 0 turns the timer off)');
  whole(resolved.maxOpenSegments, 'maxOpenSegments', 1);
  whole(resolved.maxStreams, 'maxStreams', 1);
  const c = resolved.consumers;
  for (const key of ['maxDeliveries', 'ackWaitMs'] as const) whole(c[key], `consumers.${key}`, 0);
  whole(c.maxWaitMs, 'consumers.maxWaitMs', 0, MAX_TIMER_MS, ' (ms)');
  // A consumer's whole state is one journal record, which has a largest size (journal-codec.ts).
  whole(c.maxPending, 'consumers.maxPending', 1, MAX_PENDING);
  for (const key of ['defaultBatchEvents', 'maxBatchEvents', 'maxBatchBytes', 'maxConsumersPerStream'] as const) whole(c[key], `consumers.${key}`, 1);
  // A default above the cap would hand out more than the cap to every call without maxEvents:
  // refused when asked for, lowered to the cap when it is only the default.
  if (options.consumers?.defaultBatchEvents === undefined) c.defaultBatchEvents = Math.min(c.defaultBatchEvents, c.maxBatchEvents);
  whole(c.defaultBatchEvents, 'consumers.defaultBatchEvents', 1, c.maxBatchEvents, ' (at most consumers.maxBatchEvents)');
  return resolved;
}
