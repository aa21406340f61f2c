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
} from './consumer-types.js';
export { decodeEventId, encodeEventId, type EventLocation } from './event-id.js';
export { restoreSnapshot, type RestoreResult } from './restore.js';
export { COPY_LIMIT_BYTES, MANIFEST_FILE, snapshotName, type SnapshotResult } from './snapshot.js';
export { inspectStoreDirectory, type StoreDirectory, type StoreDirectoryKind } from './store-directory.js';
export { verifyDirectory, type Finding, type VerifyReport } from './verify.js';
export { nodeIO, type FileIO, type FileStat, type OpenMode } from './io.js';
export type { Logger } from './logger.js';
export { MAX_STREAM_NAME_BYTES, RESERVED_PREFIX, deadLetterStreamName, validateStreamName } from './stream-name.js';
export { EventBusError, ErrorCodes, type ErrorCode } from '../errors.js';
