/**
 * The storage engine, usable on its own: `import { Engine } from 'eventbus/storage'`. Everything
 * an embedder needs is exported here, typed; nothing needs importing from internal files.
 * docs/embedding.md is the guide. Payloads are bytes: nothing here knows of JSON or sockets.
 *
 * The research tools (simulated disk, fault injection, crash-consistency checker) are
 * `eventbus/storage/testing`.
 */

// The engine and what its calls take and return.
export {
  Engine,
  type AppendedEvent,
  type Damage,
  type LogStats,
  type ReadLimits,
  type RetentionView,
  type StoredEvent,
  type StreamInfo,
  type StreamRetention,
  type StreamStats,
} from './engine.js';

// Event sourcing: keyed batches with expected versions and message ids (Engine.appendEvents).
export type { AppendEventsOptions, AppendEventsResult, ExpectedVersion, NewEvent, KeyIndexStats, EventAttributes } from './engine.js';
export type { KeyIndexOptions } from './keys/key-index.js';
export type { EventWatch } from './long-polls.js';
export { MAX_FILTER_TYPES, type EventFilter } from './event-filter.js';
export type { EngineOptions } from './engine-options.js';
export { FSYNC_POLICIES, type FsyncPolicy, type GroupCommitStats } from './fs/group-commit.js';
export type { RetentionPolicy } from './log/segment-list.js';

// Durable consumers.
export {
  DEFAULT_CONSUMER,
  DEFAULT_CONSUMER_LIMITS,
  EventStatuses,
  type ConsumeOptions,
  type ConsumeResult,
  type ConsumerLimits,
  type ConsumerStart,
  type ConsumerStats,
  type DeliveredEvent,
  type EventStatus,
  type RetryOptions,
} from './consumers/consumer-types.js';

// Observing the engine (observer.ts).
export type {
  CommitRound,
  EngineObserver,
  JournalCompaction,
  RecoveryCounts,
  RecoveryReport,
  RecoveryTotals,
  SegmentRoll,
  SegmentSeal,
  SnapshotTaken,
  StreamRecovery,
} from './observer.js';

// Whole-store tools: snapshots (Engine.snapshot), restore, verify, what a path holds.
export type { SnapshotResult } from './tools/snapshot.js';
export type { RestoreResult } from './tools/restore.js';
export type { Finding, VerifyReport } from './tools/verify.js';
export type { StoreDirectory, StoreDirectoryKind } from './store-directory.js';

// Event ids as the server gives them (a stream's number, an offset and the store's id).
export type { EventLocation, IdEpoch } from './format/event-id.js';

// Stream names.
export { MAX_STREAM_NAME_BYTES, RESERVED_PREFIX, validateStreamName } from './stream-name.js';

// The free functions, their arguments checked (public-functions.ts): filters, restore, verify,
// what a path holds, event ids, dead-letter names.
export {
  checkFilter,
  decodeEventId,
  deadLetterStreamName,
  eventIdOf,
  inspectStoreDirectory,
  isIdOf,
  matchesFilter,
  restoreSnapshot,
  verifyDirectory,
} from './public-functions.js';

// The file-system layer (EngineOptions.io) and the logging interface (EngineOptions.logger).
export { nodeIO, type FileIO, type FileStat, type OpenMode } from './fs/io.js';
export type { Logger } from './logger.js';

// Errors: one type with a stable code (docs/embedding.md lists the codes each call gives).
export { EventBusError, ErrorCodes, isEventBusError, type ErrorCode } from '../errors.js';
