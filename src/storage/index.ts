/**
 * The storage engine, usable on its own: `import { Engine } from 'eventbus/storage'`.
 * Nothing here knows of JSON or sockets; payloads are bytes.
 */
export { Engine } from './engine.js';
export type {
  AppendedEvent,
  Damage,
  EngineOptions,
  FsyncPolicy,
  GroupCommitStats,
  ReadLimits,
  RetentionPolicy,
  StoredEvent,
  StreamInfo,
  StreamStats,
} from './engine.js';
export {
  DEFAULT_CONSUMER,
  DEFAULT_CONSUMER_LIMITS,
  EventStatuses,
  type ConsumeOptions,
  type ConsumeResult,
  type ConsumerLimits,
  type ConsumerStats,
  type DeliveredEvent,
  type EventStatus,
  type RetryOptions,
} from './consumers/consumer-types.js';
export { decodeEventId, encodeEventId, eventIdOf, isIdOf, writeEventId, EVENT_ID_BYTES, type EventLocation, type IdEpoch } from './format/event-id.js';
export { restoreSnapshot, type RestoreResult } from './tools/restore.js';
export { COPY_LIMIT_BYTES, snapshotName, type SnapshotResult } from './tools/snapshot.js';
export { MANIFEST_FILE } from './tools/manifest.js';
export { inspectStoreDirectory, type StoreDirectory, type StoreDirectoryKind } from './store-directory.js';
export { verifyDirectory, type Finding, type VerifyReport } from './tools/verify.js';
export { nodeIO, type FileIO, type FileStat, type OpenMode } from './fs/io.js';
export { FSYNC_POLICIES } from './fs/group-commit.js';
export type { Logger } from './logger.js';
export { MAX_STREAM_NAME_BYTES, RESERVED_PREFIX, deadLetterStreamName, validateStreamName } from './stream-name.js';
export { EventBusError, ErrorCodes, type ErrorCode } from '../errors.js';
