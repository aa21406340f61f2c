/**
 * Public types of consumers: durable, offset-based cursors with acknowledgement, retry,
 * redelivery and dead letters (see consumer.ts for the model, consumer-journal.ts for the file).
 */
import type { StoredEvent } from '../log/record-reader.js';
import type { ConsumerStart } from './consumer-setup.js';
import type { EventFilter } from '../event-filter.js';

export type { ConsumerStart };

/** An event's status for one consumer, as the original event-bus numbered them. */
export type EventStatus = 0 | 1 | 2;

export const EventStatuses = {
  /** Not yet delivered, delivered and not yet marked, or marked 0 to be delivered again. */
  UNPROCESSED: 0,
  /** Acknowledged: never delivered again. */
  PROCESSED: 1,
  /** Marked for retry, or its acknowledgement deadline passed: `retry` delivers it. */
  RETRY: 2,
} as const;

/** An event delivered to a consumer. */
export interface DeliveredEvent extends StoredEvent {
  /** The event's status for this consumer after this delivery. */
  status: EventStatus;
  /** How many times this consumer has been handed the event, this delivery included. */
  deliveryCount: number;
}

/** Options of {@link Engine.consume}. */
export interface ConsumeOptions {
  /** Most events to deliver. Default and cap: see ConsumerLimits. */
  maxEvents?: number;
  /** When nothing is due, wait up to this long for events (long-poll). Default 0, capped. */
  waitMs?: number;
  /** Acknowledge on delivery (at-most-once). Default false. */
  autoAck?: boolean;
  /** Where a consumer created by this call starts (consumer-setup.ts); ignored for an existing one. Default all. */
  start?: ConsumerStart;
  /** Which events a consumer created by this call takes (a key, types); ignored for an existing one. Default all. */
  filter?: EventFilter;
  /**
   * Ends a long-poll: once aborted, a call still waiting for events resolves at once with none,
   * and delivers nothing more (a server aborts it when the client's connection closes, so that
   * events are not handed to a caller that is gone and held until `ackWaitMs`). Events already
   * delivered by the call stay delivered.
   */
  signal?: AbortSignal;
}

/** Options of {@link Engine.retry}. */
export interface RetryOptions {
  maxEvents?: number;
}

/** What a delivery returns. */
export interface ConsumeResult {
  events: DeliveredEvent[];
  /** True when more events were due than were returned. */
  more: boolean;
}

/** A consumer's position and counts. */
export interface ConsumerStats {
  name: string;
  /** Offset of the next event never yet delivered. */
  cursor: number;
  /** Every event below this offset is acknowledged or dead-lettered. */
  ackFloor: number;
  /** Delivered, not yet marked, deadline not passed, not redelivered by retry (includes those marked 0, awaiting redelivery). */
  pending: number;
  /** Marked for retry, past their acknowledgement deadline, or redelivered by retry and not marked since (status 2). */
  retry: number;
  /** Records the consumer's moves wrote to the dead-letter stream, ever (a move cut short by a crash counts once made again). */
  deadLettered: number;
  /**
   * Why the last move of events to the dead-letter stream failed (`maxStreams` reached, the disk
   * full, …), or null once a move succeeds: those events stay due for `retry` (status 2) and are
   * tried again by each `retry` until it works; the consumer's other due events are delivered. Absent on stores without dead letters of their own.
   */
  deadLetterFailure?: { code: string; reason: string } | null;
  /**
   * Events after the cursor (next offset minus cursor): for a consumer with a filter, those it
   * will pass over count too until its cursor moves past them.
   */
  lag: number;
  /** Where the consumer started (`all` for those created without a start). */
  start: ConsumerStart;
  /** The consumer's filter, or null: it takes every event. */
  filter: EventFilter | null;
}

/** Limits and timings of consumers. */
export interface ConsumerLimits {
  /** Delivered events are retried after this long without a mark. Default 30 s. */
  ackWaitMs: number;
  /** Deliveries after which an event is dead-lettered instead; 0 = unlimited. Default 10. */
  maxDeliveries: number;
  /** Most delivered-but-unacknowledged events per consumer. Default 1,000. */
  maxPending: number;
  /** Default events per delivery. Default 100. */
  defaultBatchEvents: number;
  /** Cap on events per delivery. Default 1,000. */
  maxBatchEvents: number;
  /** Most payload bytes per delivery (one event is always delivered if due). Default 4 MiB. */
  maxBatchBytes: number;
  /** Cap on a long-poll wait. Default 30 s. */
  maxWaitMs: number;
  /** Most consumers per stream. Default 1,000. */
  maxConsumersPerStream: number;
}

export const DEFAULT_CONSUMER_LIMITS: ConsumerLimits = {
  ackWaitMs: 30_000,
  maxDeliveries: 10,
  maxPending: 1000,
  defaultBatchEvents: 100,
  maxBatchEvents: 1000,
  maxBatchBytes: 4 * 1024 * 1024,
  maxWaitMs: 30_000,
  maxConsumersPerStream: 1000,
};

/** Consumer names follow the rules of stream names, without the reserved prefix. */
export const DEFAULT_CONSUMER = 'default';
