/**
 * A catch-up subscription (`subscribe`): a stream's events from a position, in offset order,
 * first those already stored (history), then a caught-up signal, then every new event as it
 * becomes visible (durable under the `always` fsync policy), with nothing lost or repeated across
 * the switch.
 *
 * It is one cursor over the log: each step reads from the cursor and moves it past what it
 * sent, whether the events are old or new, so the switch to live is only the moment a read
 * finds nothing and the subscription starts waiting on the stream's long-polls (woken when the
 * visible offset moves). No event is held in memory on the subscriber's behalf: they stay in
 * the log until sent (beyond a stream's few recent pages, at most 64 and about 4 MiB, shared by
 * all its subscribers).
 *
 * Flow control. While catching up, the subscription reads the next page only once what it sent
 * has mostly drained (`historyBufferBytes`): a subscriber far behind is fed as fast as it reads,
 * never faster. Once live, events are pushed as they come; a subscriber that falls behind lets
 * them queue up to `maxBufferedBytes`, past which the subscription ends with SLOW_CONSUMER
 * (`context.last_offset`: the last event sent, all of which reach the subscriber before the
 * error; `next_offset`: where to resume) and the subscriber resumes from there. Deleting the
 * stream ends it with STREAM_NOT_FOUND.
 */
import { assert, ErrorCodes, EventBusError, OriginalReasons } from '../errors.js';
import { checkFilter, type Engine, type EventFilter, type EventWatch, type StreamInfo } from '../storage/index.js';
// The unchecked test: the filter was checked once (checkFilter), and this runs per event.
import { matchesFilter } from '../storage/event-filter.js';
import type { EventView } from './results.js';

/** Where a subscription's events go (the server's connection, in the protocol's lines). */
export interface SubscriptionSink {
  /** One page of events, in offset order; `nextOffset` is the offset after the last. */
  events(events: readonly EventView[], nextOffset: number): void;
  /** History is sent; from now on events are sent as they become visible. */
  caughtUp(nextOffset: number): void;
  /** The subscription ended on its own; `error.context` says where to resume (`next_offset`). */
  ended(error: EventBusError): void;
  /** Bytes sent to the subscriber and not yet taken by it. */
  readonly bufferedBytes: number;
}

/**
 * An error that ends a subscription, its context saying what it sent and where to resume:
 * `last_offset`, the offset of the last event sent on this subscription (-1 when it sent none:
 * with a key or types, or from the end, that is not `next_offset - 1`), and `next_offset`, its
 * cursor (the next event it would have sent, filtered or not).
 */
export function subscriptionEnd(code: EventBusError['code'], reason: string, lastOffset: number, nextOffset: number, context?: unknown): EventBusError {
  assert(lastOffset < nextOffset, 'a subscription sends only events before its cursor');
  const position = { last_offset: lastOffset, next_offset: nextOffset };
  const merged = typeof context === 'object' && context !== null ? { ...context, ...position } : position;
  return new EventBusError(code, reason, { context: merged });
}

/** A subscription's limits. */
export interface SubscriptionLimits {
  /** Events per line. */
  pageEvents: number;
  /** About this many payload bytes per line (one event always fits). */
  pageBytes: number;
  /** Catching up: read on only while less than this is waiting for the subscriber. */
  historyBufferBytes: number;
  /** Live: past this waiting for the subscriber, SLOW_CONSUMER. */
  maxBufferedBytes: number;
}

/** Where a subscription starts (an offset, the stream's end, or a time), and which events it takes. */
export interface SubscriptionStart {
  fromOffset: number;
  fromEnd: boolean;
  fromTimeMs: number | undefined;
  /** Only this aggregate's events. */
  key?: string | undefined;
  /** Only events of these types. */
  types?: readonly string[] | undefined;
}

/** A page of events read from `from`, up to `next` (excluded). */
interface Page {
  from: number;
  next: number;
  views: EventView[];
  /** Payload bytes (the recent pages' bound). */
  bytes: number;
}

/**
 * The recent pages read by the subscriptions of each stream, by first offset, shared: live
 * subscribers of a stream wake together and read the same events from the same offset, so the
 * first reads (and its views are encoded once by the protocol, which caches by the array) and
 * the others reuse it. A subscriber that fell a little behind reads up to where a shared page
 * begins and meets the others there, so that pages stay shared under load (one page per
 * subscriber, encoded 16 times, is what made a loaded server fall further behind). Events are
 * immutable, so a page read from an offset stays a right answer from that offset.
 */
const recentPages = new WeakMap<Engine, Map<string, Map<number, Page>>>();
/** Each stream keeps at most this many recent pages, and about this many payload bytes of them. */
const RECENT_PAGES = 64;
const RECENT_PAGE_BYTES = 4 * 1024 * 1024;

function pagesOf(engine: Engine): Map<string, Map<number, Page>> {
  let pages = recentPages.get(engine);
  if (pages === undefined) recentPages.set(engine, (pages = new Map()));
  return pages;
}

function streamPages(engine: Engine, streamId: string): Map<number, Page> {
  const all = pagesOf(engine);
  let pages = all.get(streamId);
  if (pages === undefined) all.set(streamId, (pages = new Map()));
  return pages;
}

/** Keeps `page`, dropping the oldest pages past the bounds. */
function keepPage(pages: Map<number, Page>, page: Page): void {
  pages.delete(page.from);
  pages.set(page.from, page);
  let bytes = 0;
  for (const held of pages.values()) bytes += held.bytes;
  for (const [from, held] of pages) {
    if (pages.size <= 1 || (pages.size <= RECENT_PAGES && bytes <= RECENT_PAGE_BYTES)) break;
    pages.delete(from);
    bytes -= held.bytes;
  }
}

/** Pages sent in one turn of the event loop before yielding to other work. */
const PAGES_PER_TURN = 16;

export class Subscription {
  private cursor: number;
  /** The offset of the last event sent (-1: none yet). */
  private lastSent = -1;
  private live = false;
  private stopped = false;
  private waiting = false;
  private scheduled = false;
  /** The wait for new events, made once (a live subscription waits after every commit round). */
  private watch: EventWatch | null = null;
  private readonly wokenBound = (arrived: boolean) => this.woken(arrived);

  private constructor(
    private readonly engine: Engine,
    private readonly stream: StreamInfo,
    start: number,
    private readonly views: (stream: StreamInfo, stored: ReturnType<Engine['read']>) => EventView[],
    private readonly sink: SubscriptionSink,
    private readonly limits: SubscriptionLimits,
    private readonly filter: EventFilter | null,
  ) {
    this.cursor = start;
  }

  /**
   * Starts a subscription to `stream` (sending history at once). Throws STREAM_NOT_FOUND, or
   * CORRUPT_DATA if a record the time lookup needs is damaged.
   */
  static start(
    engine: Engine,
    stream: StreamInfo,
    from: SubscriptionStart,
    views: (stream: StreamInfo, stored: ReturnType<Engine['read']>) => EventView[],
    sink: SubscriptionSink,
    limits: SubscriptionLimits,
  ): Subscription {
    const filter: EventFilter | null = from.key === undefined && from.types === undefined
      ? null
      : { ...(from.key === undefined ? {} : { key: from.key }), ...(from.types === undefined ? {} : { types: from.types }) };
    if (filter !== null) checkFilter(filter);
    const { firstOffset, nextOffset } = engine.bounds(stream.name);
    let start: number;
    if (from.fromEnd) start = nextOffset;
    else if (from.fromTimeMs !== undefined) start = engine.offsetAtTime(stream.name, from.fromTimeMs);
    else start = Math.max(checkNotPastEnd(from.fromOffset, nextOffset), firstOffset);
    const subscription = new Subscription(engine, stream, start, views, sink, limits, filter);
    subscription.schedule();
    return subscription;
  }

  /** The offset of the next event to send: where to resume. */
  get nextOffset(): number {
    return this.cursor;
  }

  /** The offset of the last event sent, or -1 when none was. */
  get lastOffset(): number {
    return this.lastSent;
  }

  /** The subscriber took what was waiting: catching up goes on. */
  resume(): void {
    if (!this.live) this.schedule();
  }

  /** Ends the subscription (unsubscribe, or the subscriber is gone); nothing more is sent. */
  stop(): void {
    this.stopped = true;
    this.watch?.disarm();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Sends what is due from the cursor, then waits for more (or for the subscriber to drain). */
  private pump(): void {
    if (this.stopped) return;
    try {
      if (!this.exists()) return this.end(this.failure(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(this.stream.name)));
      for (let page = 0; page < PAGES_PER_TURN; page++) {
        if (!this.live && this.sink.bufferedBytes > this.limits.historyBufferBytes) return; // resume() goes on
        const page = this.readPage();
        if (page === null) {
          if (!this.live) {
            this.live = true;
            this.sink.caughtUp(this.cursor);
          }
          this.wait();
          return;
        }
        this.cursor = page.next;
        const filter = this.filter;
        const views = filter === null ? page.views : page.views.filter((view) => matchesFilter(filter, view.attributes));
        if (views.length > 0) {
          this.lastSent = views[views.length - 1]!.offset;
          this.sink.events(views, this.cursor);
        }
        if (this.live && this.sink.bufferedBytes > this.limits.maxBufferedBytes) {
          return this.end(this.failure(ErrorCodes.SLOW_CONSUMER, `the subscriber did not keep up: more than ${this.limits.maxBufferedBytes} bytes of events were waiting for it; resume from offset ${this.cursor}`));
        }
      }
      this.schedule(); // more is due: go on after other work
    } catch (error) {
      this.end(error instanceof EventBusError ? this.failure(error.code, error.reason, error.context) : this.failure(ErrorCodes.INTERNAL, 'internal error'));
    }
  }

  /** The events from the cursor (shared with the stream's other subscriptions there), or null at the end. */
  private readPage(): Page | null {
    const pages = streamPages(this.engine, this.stream.id);
    const cached = pages.get(this.cursor);
    if (cached !== undefined) {
      // Not a page truncation or retention has since removed (part of): the read skips to the first offset.
      const { firstOffset, nextOffset } = this.engine.bounds(this.stream.name);
      if (cached.from >= firstOffset && cached.next <= nextOffset) return cached;
    }
    const stored = this.engine.read(this.stream.name, this.cursor, { maxEvents: this.limits.pageEvents, maxBytes: this.limits.pageBytes });
    if (stored.length === 0) return null;
    // End where a page the others read begins: from there on this subscriber shares theirs.
    let count = stored.length;
    for (let i = 1; i < stored.length; i++) {
      if (pages.has(stored[i]!.offset)) {
        count = i;
        break;
      }
    }
    const taken = count === stored.length ? stored : stored.slice(0, count);
    let bytes = 0;
    for (const event of taken) bytes += event.payload.length;
    const page: Page = { from: this.cursor, next: taken[taken.length - 1]!.offset + 1, views: this.views(this.stream, taken), bytes };
    keepPage(pages, page);
    return page;
  }

  /** Waits for an event at the cursor or later to become visible. */
  private wait(): void {
    if (this.waiting || this.stopped) return;
    try {
      this.watch ??= this.engine.eventWatch(this.stream.name, this.wokenBound);
    } catch {
      return this.schedule(); // the stream is gone: pump says so
    }
    this.waiting = true;
    this.watch.arm(this.cursor);
  }

  /** New events are visible, or (not `arrived`) the stream is gone or the store is closing. */
  private woken(arrived: boolean): void {
    this.waiting = false;
    if (this.stopped) return;
    if (!arrived && this.exists()) return this.end(this.failure(ErrorCodes.SHUTTING_DOWN, 'the store is closing'));
    this.pump();
  }

  private exists(): boolean {
    return this.engine.getStream(this.stream.name)?.id === this.stream.id;
  }

  /** An error that ends the subscription, saying where to resume. */
  private failure(code: EventBusError['code'], reason: string, context?: unknown): EventBusError {
    return subscriptionEnd(code, reason, this.lastSent, this.cursor, context);
  }

  private end(error: EventBusError): void {
    if (this.stopped) return;
    this.stopped = true;
    this.watch?.disarm();
    if (!this.exists()) pagesOf(this.engine).delete(this.stream.id);
    this.sink.ended(error);
  }
}

/**
 * A subscription's `from_offset` at most the stream's next offset, as a new consumer's start:
 * past it is INVALID_FIELD, not a wait for offsets that do not exist (a position kept from
 * before a crash under `fsync: interval` may be past what survived: the client must hear it).
 */
export function checkNotPastEnd(fromOffset: number, nextOffset: number): number {
  if (fromOffset <= nextOffset) return fromOffset;
  throw new EventBusError(ErrorCodes.INVALID_FIELD, `from_offset ${fromOffset} is past the stream's next offset (${nextOffset})`, {
    context: { field: 'from_offset', expected: `an integer from 0 to ${nextOffset}, or the string end` },
  });
}
