/** The bus layer: what each operation means, over the storage engine. */
export { DEFAULT_BUS_OPTIONS, EventBus, type BusOptions, type MarkCommand, type ProcessQuery, type ReadEventsQuery, type RetryQuery } from './bus.js';
export { EngineStore } from './engine-store.js';
export type { AppendOptions, AppendResult, AppendedEventView, ConsumeQuery, EventStore, EventToAppend, ExpectedVersion, ReadQuery } from './event-store.js';
export { consumerName } from './consumer-name.js';
export { resolveSnapshotDir } from './snapshot-path.js';
export type { ConsumerView, Delivery, EventPage, EventView, SnapshotView, StreamInfoView, StreamView, WrittenEvent } from './results.js';
export { DEFAULT_PAGE_STREAMS, MAX_PAGE_CONSUMERS, MAX_PAGE_STREAMS, isBrokenStream, type BrokenStreamView, type ListStreamsQuery, type ListedStream, type StreamListing } from './stream-listing.js';
