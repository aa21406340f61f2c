/**
 * What the bus's operations return: plain values that the protocol layer encodes. Times are
 * milliseconds since the epoch; payloads are the stored bytes (JSON text as written).
 */
import type { ConsumerStats, Damage, EventStatus, SnapshotResult } from '../storage/index.js';

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
}

/** An acknowledged write. */
export interface WrittenEvent {
  id: string;
  offset: number;
  createdMs: number;
}

/** An event as a reader or consumer sees it. */
export interface EventView {
  id: string;
  /** The stream's UUID. */
  streamId: string;
  status: EventStatus;
  createdMs: number;
  /** The event's JSON text, exactly as stored. */
  payload: Buffer;
  offset: number;
  deliveryCount: number;
  /**
   * The fields of issue 12 (event sourcing), when the event has them: filled by the jetstream
   * backend from its headers; the protocol writes them once event sourcing part 1 is merged.
   */
  key?: string;
  version?: number;
  type?: string;
  /** The metadata's JSON text, as written. */
  metadata?: Buffer;
  msgId?: string;
}

/** A delivery to a consumer (`process_events`, `retry_events`). */
export interface Delivery {
  events: EventView[];
  /** True when more events were due than were returned. */
  more: boolean;
}

/** A page of a stream's events in offset order (`get_stream_events`). */
export interface EventPage {
  events: EventView[];
  /** Where the next page starts. */
  nextOffset: number;
}

/**
 * A snapshot taken by `snapshot_db`: the engine's result, with `path` relative to the snapshots
 * root and `absolutePath` where it is on the server's machine.
 */
export interface SnapshotView extends SnapshotResult {
  absolutePath: string;
}
