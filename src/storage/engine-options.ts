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
    maxBatchEvents: options.maxBatchEvents ?? 10_000,
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
