/**
 * What the bus's operations return: plain values that the protocol layer encodes. Times are
 * milliseconds since the epoch; payloads are the stored bytes (JSON text as written).
 */
import type { ConsumerStats, Damage, EventAttributes, EventStatus, IdEpoch, RetentionPolicy, SnapshotResult } from '../storage/index.js';

/** A stream's identity. */
export interface StreamView {
  id: string;
  name: string;
  createdMs: number;
}

/** One consumer's position, as `get_stream_info` reports it: the engine's figures as they are. */
export type ConsumerView = ConsumerStats;

/** Stored bytes that cannot be read back as written (see docs/storage-format.md, Recovery). */
export type DamageView = Damage;

/** A stream's identity and figures. */
export interface StreamInfoView extends StreamView {
  eventCount: number;
  firstOffset: number;
  nextOffset: number;
  bytes: number;
  segmentCount: number;
  consumers: ConsumerView[];
  /** Damage found in the stream's files (empty when sound). */
  damage: DamageView[];
  /** The retention limits that apply to the stream (its own over the store's; 0 = unlimited); the engine's only. */
  retention?: RetentionPolicy;
}

/**
 * How an event's id is made: its stream's number and id epochs, and its offset. The protocol
 * writes ids straight into responses from these (storage's writeEventId); `id` gives the text.
 */
export interface EventIdParts {
  /** The id's text (made when asked). */
  readonly id: string;
  /** With `idEpochs`: the engine's parts, from which the id's bytes are written (absent: `id` is written). */
  readonly streamNumber?: number;
  readonly idEpochs?: readonly IdEpoch[];
  readonly offset: number;
}

/** An acknowledged write. */
export interface WrittenEvent extends EventIdParts {
  createdMs: number;
  /** The key's version of the event (a keyed append only). */
  version?: number;
}

/**
 * An acknowledged append of a batch (`append_events`, or a `write_event` with any event-sourcing
 * field): its events, what to expect next, and whether it repeated an earlier append.
 */
export interface AppendedBatch {
  events: WrittenEvent[];
  /** The key's last version, or without a key the stream's last offset. */
  nextExpectedVersion: number;
  /** True when every msg_id had been appended before: nothing was appended now. */
  duplicate: boolean;
}

/** An event as a reader or consumer sees it. */
export interface EventView extends EventIdParts {
  /** The stream's UUID. */
  streamId: string;
  status: EventStatus;
  createdMs: number;
  /** The event's JSON text, exactly as stored. */
  payload: Buffer;
  deliveryCount: number;
  /** Key, version, type, metadata and msg_id, each when the event has it; null or absent for none. */
  attributes?: EventAttributes | null;
}

/** A delivery to a consumer (`process_events`, `retry_events`). */
export interface Delivery {
  events: EventView[];
  /** True when more events were due than were returned. */
  more: boolean;
}

/** A page of a stream's events (`get_stream_events`): in offset order, or newest first backward. */
export interface EventPage {
  events: EventView[];
  /** Where the next page starts (backward: the offset below the oldest returned). */
  nextOffset: number;
  /** True when the page reached the end: nothing newer (forward) or older (backward) is stored now. */
  atEnd: boolean;
  /** Reads by key: the version the next page starts at (`next_version` replaces `next_offset`). */
  nextVersion?: number;
}

/**
 * A snapshot taken by `snapshot_db`: the engine's result, with `path` relative to the snapshots
 * root and `absolutePath` where it is on the server's machine.
 */
export interface SnapshotView extends SnapshotResult {
  absolutePath: string;
}
