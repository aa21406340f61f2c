/**
 * `subscribe` on JetStream: the same catch-up subscription as the engine's (bus/subscription.ts):
 * history from a position, one caught-up signal, then live events, in offset order, nothing lost
 * or repeated across the switch.
 *
 * One cursor, one ephemeral reader (no acks, in memory, one replica; filtered to the key's
 * subject with a key) from the cursor. Each fetch sends what it brought (types filtered here)
 * and moves the cursor past it. Caught up when the cursor has reached what the stream's leader
 * had (its last sequence, or with a key the key's last message) at that moment. A reader lost
 * (its node died, or it was idle too long) is made again from the cursor: the cursor, not the
 * reader, is the position, so nothing is skipped or sent twice.
 *
 * Flow control as on the engine: while catching up, the next fetch waits until what was sent has
 * mostly drained; once live, more than `maxBufferedBytes` waiting for the subscriber ends it with
 * SLOW_CONSUMER. Deleting the stream ends it with STREAM_NOT_FOUND (checked whenever a live fetch
 * comes back empty, about once a second).
 */
import { AckPolicy, DeliverPolicy, nanos, type JetStreamClient, type JetStreamManager, type JsMsg } from 'nats';
import { ErrorCodes, EventBusError, OriginalReasons, isEventBusError } from '../../errors.js';
import { checkFilter } from '../../storage/index.js';
import type { StoreSubscription } from '../event-store.js';
import { checkNotPastEnd, subscriptionEnd, type SubscriptionLimits, type SubscriptionSink, type SubscriptionStart } from '../subscription.js';
import type { Catalog, CatalogEntry } from './catalog.js';
import type { ResolvedJetStreamOptions } from './jetstream-options.js';
import { viewOf } from './message-view.js';
import { Headers, eventSubject, jsStreamName } from './names.js';
import { addReaderOnLeader } from './reader-placement.js';
import { JsErrors, backendError, isTransient, jsErrorCode, sleep } from './nats-errors.js';

/** A live fetch waits this long for new events before checking that the stream is still there. */
const LIVE_WAIT_MS = 1000;
/** A catching-up fetch waits at most this long (the reader's replica may lag behind the leader). */
const HISTORY_WAIT_MS = 1000;
const RETRY_PAUSE_MS = 250;

/** What a subscription needs from the store. */
export interface SubscriptionDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  catalog: Catalog;
  options: ResolvedJetStreamOptions;
  state(entry: CatalogEntry): Promise<{ messages: number; first_seq: number; last_seq: number; leader?: string | undefined }>;
  offsetAtTime(entry: CatalogEntry, timeMs: number): Promise<number>;
}

export class JetStreamSubscription implements StoreSubscription {
  private cursor: number;
  /** The offset of the last event sent (-1: none yet). */
  private lastSent = -1;
  private stopped = false;
  private live = false;
  private wake: (() => void) | null = null;
  private stopFetch: (() => void) | null = null;
  private reader: string | null = null;
  private isStarted = false;
  private markStarted!: () => void;
  /** Settles once started, or ended while starting (StoreSubscription.started). */
  readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));

  constructor(
    private readonly deps: SubscriptionDeps,
    private readonly name: string,
    private readonly from: SubscriptionStart,
    private readonly sink: SubscriptionSink,
    private readonly limits: SubscriptionLimits,
    private readonly onEnd: () => void,
  ) {
    this.cursor = from.fromOffset;
    void this.run();
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
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  /** Ends the subscription; nothing more is sent. */
  stop(): void {
    this.stopped = true;
    this.stopFetch?.();
    this.resume();
    this.onEnd();
  }

  /** Ends it with `code` (shutdown), if it still runs. */
  endWith(code: EventBusError['code'], reason: string): void {
    this.end(this.failure(code, reason));
  }

  private async run(): Promise<void> {
    let entry: CatalogEntry | null = null;
    try {
      const filter = { ...(this.from.key === undefined ? {} : { key: this.from.key }), ...(this.from.types === undefined ? {} : { types: this.from.types }) };
      if (this.from.key !== undefined || this.from.types !== undefined) checkFilter(filter);
      entry = await this.deps.catalog.require(this.name);
      const state = await this.deps.state(entry);
      const first = state.messages === 0 ? state.last_seq : state.first_seq - 1;
      if (this.from.fromEnd) this.cursor = state.last_seq;
      else if (this.from.fromTimeMs !== undefined) this.cursor = await this.deps.offsetAtTime(entry, this.from.fromTimeMs);
      else this.cursor = Math.max(checkNotPastEnd(this.from.fromOffset, state.last_seq), first);
      this.isStarted = true;
      this.markStarted();
      await this.loop(entry);
    } catch (error) {
      // Refused at the start (an unknown stream, a position past the end): as the engine's
      // refusal, with the error's own context and no position to resume from.
      if (!this.isStarted && isEventBusError(error)) this.end(error);
      else this.end(isEventBusError(error) ? this.failure(error.code, error.reason, error.context) : this.failure(ErrorCodes.INTERNAL, 'internal error'));
    } finally {
      this.markStarted();
      if (entry !== null) this.dropReader(entry);
    }
  }

  private async loop(entry: CatalogEntry): Promise<void> {
    const jsName = jsStreamName(entry.number);
    const subject = this.from.key === undefined ? undefined : eventSubject(jsName, this.from.key);
    // History is what the leader had when the subscription started; caught up once the cursor
    // has passed it and the reader has nothing more at that moment (its replica may lag the leader).
    const history = await this.leaderLast(entry, jsName, subject);
    while (!this.stopped) {
      if (!this.live && this.sink.bufferedBytes > this.limits.historyBufferBytes) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      const msgs = await this.fetch(entry, jsName, subject);
      if (this.stopped) return;
      if (msgs.length > 0) {
        this.cursor = msgs[msgs.length - 1]!.seq; // the offset after the last
        const types = this.from.types;
        const wanted = types === undefined ? msgs : msgs.filter((msg) => types.includes(msg.headers?.get(Headers.type) ?? ''));
        if (wanted.length > 0) {
          this.lastSent = wanted[wanted.length - 1]!.seq - 1; // offsets are sequences less one
          this.sink.events(wanted.map((msg) => viewOf(entry, this.deps.catalog.storePart, msg, 0, 0)), this.cursor);
        }
        if (this.live && this.sink.bufferedBytes > this.limits.maxBufferedBytes) {
          this.end(this.failure(ErrorCodes.SLOW_CONSUMER, `the subscriber did not keep up: more than ${this.limits.maxBufferedBytes} bytes of events were waiting for it; resume from offset ${this.cursor}`));
          return;
        }
      }
      if (!this.live && this.cursor >= history && (msgs.length === 0 || msgs[msgs.length - 1]!.info.pending === 0)) {
        this.live = true;
        this.sink.caughtUp(this.cursor);
      }
      if (this.live && msgs.length === 0) await this.checkStillThere(entry);
    }
  }

  /** The last sequence the stream's leader has now (with a key: of the key's last message, 0 when none). */
  private async leaderLast(entry: CatalogEntry, jsName: string, subject: string | undefined): Promise<number> {
    if (subject === undefined) return (await this.deps.state(entry)).last_seq;
    try {
      return (await this.deps.jsm.streams.getMessage(jsName, { last_by_subj: subject })).seq;
    } catch (error) {
      if (jsErrorCode(error) === JsErrors.noMessage) return 0;
      if (jsErrorCode(error) === JsErrors.streamNotFound) throw this.notFound(entry);
      throw backendError(`reading stream '${entry.name}'`, error);
    }
  }

  /** The next events from the cursor (a reader made on first use and after it is lost). */
  private async fetch(entry: CatalogEntry, jsName: string, subject: string | undefined): Promise<JsMsg[]> {
    const msgs: JsMsg[] = [];
    let bytes = 0;
    try {
      const reader = this.reader ?? (await this.makeReader(entry, jsName, subject));
      const iterator = this.deps.js.fetch(jsName, reader, { batch: this.limits.pageEvents, expires: this.live ? LIVE_WAIT_MS : HISTORY_WAIT_MS });
      this.stopFetch = () => iterator.stop();
      const guard = setTimeout(() => iterator.stop(), (this.live ? LIVE_WAIT_MS : HISTORY_WAIT_MS) + this.deps.options.requestTimeoutMs);
      try {
        for await (const msg of iterator) {
          // A reader made again may repeat what was sent: the cursor decides.
          if (msg.seq <= this.cursor) continue;
          msgs.push(msg);
          bytes += msg.data.byteLength;
          if (bytes >= this.limits.pageBytes) iterator.stop();
        }
      } finally {
        clearTimeout(guard);
        this.stopFetch = null;
      }
    } catch (error) {
      if (isEventBusError(error)) throw error;
      if (msgs.length > 0) return msgs;
      // The reader is gone (its node died, it idled out, the stream was deleted), or the cluster
      // is electing: a deleted stream ends the subscription, anything else makes a new reader.
      this.dropReader(entry);
      await this.checkStillThere(entry);
      const code = jsErrorCode(error);
      if (code === JsErrors.consumerNotFound || code === JsErrors.streamNotFound || isTransient(error) || /no responders|consumer|503|404|408|409|timeout/i.test(String((error as Error).message))) {
        await sleep(RETRY_PAUSE_MS);
        return msgs;
      }
      throw backendError(`reading stream '${entry.name}'`, error);
    }
    return msgs;
  }

  /** A reader from the cursor on, on the stream leader's node when it can be (reader-placement.ts: else where it landed). */
  private async makeReader(entry: CatalogEntry, jsName: string, subject: string | undefined): Promise<string> {
    const leader = (await this.deps.state(entry)).leader;
    const info = await addReaderOnLeader(this.deps.jsm, jsName, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: this.cursor + 1,
      ...(subject === undefined ? {} : { filter_subject: subject }),
      mem_storage: true,
      num_replicas: 1,
      inactive_threshold: nanos(30_000),
    }, leader).catch((error: unknown) => {
      if (jsErrorCode(error) === JsErrors.streamNotFound) throw this.notFound(entry);
      throw error;
    });
    this.reader = info.name;
    return info.name;
  }

  private dropReader(entry: CatalogEntry): void {
    const reader = this.reader;
    this.reader = null;
    if (reader !== null) this.deps.jsm.consumers.delete(jsStreamName(entry.number), reader).catch(() => {});
  }

  /** STREAM_NOT_FOUND when the catalog no longer names this stream (deleted, or replaced). */
  private async checkStillThere(entry: CatalogEntry): Promise<void> {
    const now = await this.deps.catalog.get(entry.name).catch(() => entry);
    if (now === null || now.number !== entry.number) throw this.notFound(entry);
  }

  private notFound(entry: CatalogEntry): EventBusError {
    this.deps.catalog.forget(entry.name);
    return new EventBusError(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(entry.name));
  }

  /** An error that ends the subscription, saying where to resume. */
  private failure(code: EventBusError['code'], reason: string, context?: unknown): EventBusError {
    return subscriptionEnd(code, reason, this.lastSent, this.cursor, context);
  }

  private end(error: EventBusError): void {
    if (this.stopped) return;
    this.stop();
    this.sink.ended(error);
  }
}
