/**
 * The options of {@link Engine.open}: what each means, its default, and the check of every value
 * where it is read (a bad one is INVALID_FIELD naming it, never a failed assertion later).
 */
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../errors.js';
import { DEFAULT_CONSUMER_LIMITS, type ConsumerLimits } from './consumers/consumer-types.js';
import { FSYNC_POLICIES, type FsyncPolicy } from './fs/group-commit.js';
import { nodeIO, type FileIO } from './fs/io.js';
import { MAX_RECORD_PAYLOAD_BYTES } from './log/segment-files.js';
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
  /** Most msg_ids remembered at once, store-wide (about 150 bytes each). Default 100,000. */
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

/** Fills in defaults and checks every value; throws INVALID_FIELD naming a bad one. */
export function resolveOptions(options: EngineOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    dataDir: path.resolve(options.dataDir),
    create: options.create ?? true,
    fsync: options.fsync ?? 'always',
    fsyncIntervalMs: options.fsyncIntervalMs ?? 100,
    segmentSizeBytes: options.segmentSizeBytes ?? 64 * 1024 * 1024,
    preallocateBytes: 0,
    maxEventBytes: options.maxEventBytes ?? 1024 * 1024,
    maxBatchEvents: options.maxBatchEvents ?? 1000,
    maxBatchBytes: options.maxBatchBytes ?? 4 * 1024 * 1024,
    keyIndex: { ...DEFAULT_KEY_INDEX_OPTIONS, ...options.keyIndex },
    duplicateWindowMs: options.duplicateWindowMs ?? 120_000,
    duplicateWindowEvents: options.duplicateWindowEvents ?? 100_000,
    retention: { maxAgeMs: 0, maxBytes: 0, maxEvents: 0, ...options.retention },
    retentionIntervalMs: options.retentionIntervalMs ?? 60_000,
    maxOpenSegments: options.maxOpenSegments ?? 256,
    maxStreams: options.maxStreams ?? 1000,
    io: options.io ?? nodeIO,
    logger: options.logger ?? silentLogger,
    consumers: { ...DEFAULT_CONSUMER_LIMITS, ...options.consumers },
    observer: options.observer,
  };
  const bad = (what: string) => new EventBusError(ErrorCodes.INVALID_FIELD, `invalid engine option: ${what}`);
  if (!FSYNC_POLICIES.includes(resolved.fsync)) throw bad(`fsync must be one of ${FSYNC_POLICIES.join(', ')}`);
  if (!(resolved.fsyncIntervalMs >= 1)) throw bad('fsyncIntervalMs must be at least 1');
  if (!(resolved.segmentSizeBytes >= 1024 && resolved.segmentSizeBytes <= 1024 ** 3)) throw bad('segmentSizeBytes must be between 1 KiB and 1 GiB');
  resolved.preallocateBytes = options.preallocateBytes ?? Math.min(DEFAULT_PREALLOCATE_BYTES, resolved.segmentSizeBytes);
  if (!(Number.isSafeInteger(resolved.preallocateBytes) && resolved.preallocateBytes >= 0 && resolved.preallocateBytes <= resolved.segmentSizeBytes)) {
    throw bad('preallocateBytes must be a whole number from 0 to segmentSizeBytes');
  }
  if (!(resolved.maxEventBytes >= 1 && resolved.maxEventBytes <= MAX_RECORD_PAYLOAD_BYTES)) throw bad('maxEventBytes must be between 1 byte and 64 MiB');
  if (!(Number.isSafeInteger(resolved.maxBatchEvents) && resolved.maxBatchEvents >= 1)) throw bad('maxBatchEvents must be a whole number of at least 1');
  if (!(Number.isSafeInteger(resolved.maxBatchBytes) && resolved.maxBatchBytes >= 1 && resolved.maxBatchBytes <= MAX_RECORD_PAYLOAD_BYTES)) throw bad('maxBatchBytes must be between 1 byte and 64 MiB');
  const k = resolved.keyIndex;
  if (!(Number.isSafeInteger(k.cacheBytes) && k.cacheBytes >= 64 * 1024)) throw bad('keyIndex.cacheBytes must be at least 64 KiB');
  if (!(Number.isSafeInteger(k.flushEvents) && k.flushEvents >= 16)) throw bad('keyIndex.flushEvents must be a whole number of at least 16');
  if (!(Number.isSafeInteger(k.memtableEvents) && k.memtableEvents >= k.flushEvents)) throw bad('keyIndex.memtableEvents must be a whole number of at least keyIndex.flushEvents');
  if (!(Number.isSafeInteger(k.idleFlushMs) && k.idleFlushMs >= 0)) throw bad('keyIndex.idleFlushMs must be a whole number, 0 or more');
  if (!(Number.isSafeInteger(resolved.duplicateWindowMs) && resolved.duplicateWindowMs >= 0)) throw bad('duplicateWindowMs must be a whole number, 0 or more');
  if (!(Number.isSafeInteger(resolved.duplicateWindowEvents) && resolved.duplicateWindowEvents >= 0)) throw bad('duplicateWindowEvents must be a whole number, 0 or more');
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
