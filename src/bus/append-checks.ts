/**
 * The checks of an append's fields and sizes, for a store that does not make them itself (the
 * JetStream store: NATS would store an empty key, and refuse a long one only by closing the
 * connection). They are the engine's own checks (storage/event-append.ts, checkBatch), so a
 * refusal reads the same on every backend; test/bus/append-checks.test.ts holds them against
 * what the engine's appendEvents answers, its facade's checks included.
 */
import { checkBatch, type AppendLimits } from '../storage/event-append.js';
import type { AppendOptions, EventToAppend } from './event-store.js';

export type { AppendLimits };

/** The engine's default batch limits (storage/engine-options.ts), which a store without its own uses. */
export const DEFAULT_BATCH_LIMITS: Pick<AppendLimits, 'maxBatchEvents' | 'maxBatchBytes'> = { maxBatchEvents: 1000, maxBatchBytes: 4 * 1024 * 1024 };

/**
 * Throws what the engine would refuse `events` with before looking at the stream's contents:
 * INVALID_FIELD (an empty batch, a bad expected version, a key, type or msg_id of no length or
 * over its limit, empty metadata, a msg_id twice in the batch), EVENT_TOO_LARGE or BATCH_TOO_LARGE.
 */
export function checkAppend(events: readonly EventToAppend[], options: AppendOptions, limits: AppendLimits): void {
  checkBatch(events, options, limits);
}
