/**
 * eventbus: a TCP event bus with its own crash-safe storage engine.
 *
 * - {@link EventBusServer}: serve a store over TCP (or TLS), as `eventbus serve` does.
 * - {@link EventBusClient}: the TypeScript client (also `eventbus/client`).
 * - {@link Engine}: the storage engine, embedded (also `eventbus/storage`).
 * - {@link EventBusError}: the one error type, with stable codes.
 */
export { EventBusClient, type ClientOptions } from './client/index.js';
export type { ConsumerInfo, Delivery, Event, EventPage, EventStatus, Snapshot, Stream, StreamInfo, WrittenEvent } from './client/types.js';
export { EventBusServer, DEFAULT_LIMITS, type ServerLimits, type ServerOptions, type ClientCredentials, type ServerStats } from './server/index.js';
export { EventBus, type BusOptions } from './bus/index.js';
export { Engine, type EngineOptions } from './storage/index.js';
export { EventBusError, ErrorCodes, isEventBusError, type ErrorCode } from './errors.js';
