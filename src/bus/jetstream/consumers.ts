/**
 * eventbus consumers as JetStream durable pull consumers (one per stream and consumer name, with
 * the stream's replicas): their cursor, acknowledgements, delivery counts and ack deadlines live
 * in the cluster, so they survive a gateway's death, and several gateways fetching from one
 * durable never deliver an event twice as new (research §4).
 *
 * - A durable is created by the first process_events naming it, with that call's start and filter
 *   (consumer-setup.ts); later calls' are ignored. A types filter is applied here: events of other
 *   types are acknowledged as they are fetched and not handed out (passOver).
 * - process_events: a `no_wait` fetch; when nothing is there and `wait_ms` > 0, a one-message
 *   long-poll, then a `no_wait` fetch for the rest. `no_wait` pulls carry `max_bytes`
 *   (max_batch_bytes less what the page has), so a page holds at most that many bytes of
 *   bodies, and a message alone over it is fetched alone (one event always goes, as on the
 *   engine); what came past it otherwise (late messages, a long-poll's first) is kept for the
 *   next call. JetStream has one delivery queue per consumer, redeliveries first, so a delivery
 *   may hold due retries beside new events; retry_events runs the same fetch (it cannot take
 *   only the retries).
 * - Dead letters: `max_deliver` is unlimited on the server (its own limit leaves only a
 *   non-durable advisory); a delivery whose count passes max_deliveries is written to
 *   `$dlq:<stream>` (key: the consumer, msg id fixed per event so a retry is not doubled) and
 *   terminated instead of delivered. The sink retries that write as writes are retried; when it
 *   fails all the same, the message is `-NAK`ed (due again, for a later call) and the rest of the
 *   batch is handed out; with nothing else to hand out, the call fails with the sink's error.
 * - mark_event: with the message this gateway delivered, `+ACK` or `-NAK`, both confirmed; from
 *   another gateway, the ack subject is rebuilt from the event id (`+ACK` works with any delivery
 *   sequence; `-NAK` needs the consumer's last delivery sequence, from consumer info). Confirmed
 *   acks go through a reply mux on the main connection (reply-mux.ts), whichever connection
 *   delivered the message: nats.js's `msg.ackAck` is a full request per message. Processed marks
 *   of held messages skip the checks (see mark).
 * - Read-your-writes: a write is acknowledged once a quorum has it, and a consumer's leader may
 *   be the replica that does not have it yet, so a `no_wait` fetch can find nothing, or less than
 *   was written. When one brings less than asked while writes through this gateway (dead letters
 *   included) were acknowledged past what the consumer is known to have delivered
 *   (write-horizon.ts; a durable this gateway creates adds the stream's last sequence at its
 *   creation, whoever wrote it), its info is asked, and if it has not delivered them (for a key's
 *   consumer: if the key's last event is past what it delivered) a one-message fetch waits up to
 *   {@link CATCH_UP_MS} for them.
 * - A caller gone during its long-poll (the query's signal aborted: its connection closed) is
 *   handed nothing; what the poll brought is `-NAK`ed, to be delivered again at once.
 * - Fetches are pulls of our own (puller.ts): a pull ends on the server's answer (its batch, or
 *   a 404/408 status), not on a message's pending count as nats.js's fetch did, which dropped
 *   what came after. Every pull runs under a guard timer that ends it (a pull can hang after a
 *   failover, research §4); what the server sends after that is kept per durable and handed out
 *   by its next fetch here (within half an ack deadline: later, JetStream delivers it again).
 *   A `no_wait` pull with no answer at all is sent again over a new connection; silent again,
 *   BACKEND_UNAVAILABLE (the cluster is unreachable: not "nothing to deliver").
 * - A watchdog for stalled fetches: after failovers on 2.9.10 a connection's fetches were seen to
 *   bring nothing while the durable had thousands to deliver, and a new connection fetched them
 *   at once (research §4). Fetches have a connection of their own, and move to a new one when a
 *   consumer's fetches have come back empty for {@link STALL_MS} while its info says it has
 *   events to deliver (and room under max_pending), when a `no_wait` pull gets no answer at
 *   all within its guard, or when the connection is closed. The old one stays open for an ack
 *   deadline, for the calls still handling what it delivered (a dead letter's `+TERM`, a types
 *   filter's passed-over acks; marks go through the reply mux); what it was sent and never heard
 *   comes back to the new one after the ack deadline.
 */
import { AckPolicy, ErrorCode, NatsError, nanos, type ConsumerInfo, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import { ErrorCodes, EventBusError, OriginalReasons, assert } from '../../errors.js';
import { checkFilter, type EventStatus } from '../../storage/index.js';
import type { ConsumeQuery } from '../event-store.js';
import type { ConsumerView, Delivery, EventView } from '../results.js';
import type { Catalog, CatalogEntry } from './catalog.js';
import type { ResolvedJetStreamOptions } from './jetstream-options.js';
import { consumerOfDescription, describeConsumer, filterOf, setupConfig, startOf } from './consumer-setup.js';
import { Headers, jsConsumerName, jsStreamName } from './names.js';
import { JsErrors, backendError, isTransientBackendError, jsErrorCode, sleep } from './nats-errors.js';
import { viewOf } from './message-view.js';
import { Puller, type PullRequest } from './puller.js';
import { ReplyMux, decodeAckReply } from './reply-mux.js';
import type { WriteHorizon } from './write-horizon.js';

const ACK = new TextEncoder().encode('+ACK');
const NAK = new TextEncoder().encode('-NAK');
/** How long a no_wait fetch may take before it is stopped. */
const NO_WAIT_GUARD_MS = 1000;
/** Empty fetches for this long while the consumer has events to deliver: a stall. */
export const STALL_MS = 3000;
/** Fetch connections replaced at most once per this long. */
const REPLACE_INTERVAL_MS = 3000;
/** How long process_events without wait_ms waits for events acknowledged but not yet on the consumer leader's replica. */
export const CATCH_UP_MS = 500;
/** Pages of events a call with a types filter looks at for one that passes (as on the engine). */
const MAX_FILTER_PAGES = 16;
/** A types-filtered long-poll does not start another fetch for less than this. */
const MIN_WAIT_MS = 10;
/** Pause between tries of a new consumer's creation when the cluster did not answer. */
const ENSURE_RETRY_PAUSE_MS = 250;
/** Messages this gateway delivered and still holds for marks, at most (a mark of an evicted one uses a rebuilt ack subject). */
const MAX_HELD = 50_000;
/** Messages that came after their pull ended, kept for the next call, at most (past it they are `-NAK`ed). */
const MAX_LATE = 10_000;

export interface DeadLetterSink {
  /** Writes the dead-letter record of `msg` (delivered `deliveryCount` times to `consumer`). */
  deadLetter(entry: CatalogEntry, consumer: string, msg: JsMsg): Promise<void>;
  /** Completes a create stopped half way (stream-config.ts): true when the stream now exists. */
  repair(entry: CatalogEntry): Promise<boolean>;
}

export class Consumers {
  private readonly known = new Set<string>();
  /** The types filter of each known durable that has one (consumer-setup.ts). */
  private readonly typeFilters = new Map<string, readonly string[]>();
  private readonly held = new Map<string, JsMsg>();
  private readonly waits = new Set<{ stop(): void }>();
  private ending = false;
  /** The connection fetches go over: its own, opened on first use, replaced by the watchdog. */
  private fetcher: { nc: NatsConnection; puller: Puller } | null = null;
  /**
   * Per durable, messages that came after the pull that asked for them had ended (its guard or a
   * stop), with when they came: handed out by the next fetch of the durable (puller.ts).
   */
  private readonly late = new Map<string, { msg: JsMsg; atMs: number }[]>();
  private lateCount = 0;
  /** Per durable, since when its fetches have come back empty. */
  private readonly emptySinceMs = new Map<string, number>();
  /** Per durable, the write horizon up to which it is known to have delivered, or was checked (catchUp). */
  private readonly checkedSeq = new Map<string, number>();
  private lastReplaceMs = 0;
  private replacing: Promise<void> | null = null;
  /** Fetch connections opened by the watchdog (closed at close(), or an ack deadline after they are replaced). */
  private readonly opened = new Set<NatsConnection>();
  /** Fetch connections replaced so far (for logs and tests). */
  fetchConnectionsReplaced = 0;
  /** Confirmed acks (`+ACK` awaiting the server's reply), over the main connection whichever one delivered. */
  private readonly acks: ReplyMux<true>;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly catalog: Catalog,
    private readonly options: ResolvedJetStreamOptions,
    private readonly sink: DeadLetterSink,
    /** Opens a new connection to the cluster (the watchdog's replacement for a stalled one). */
    private readonly openConnection: () => Promise<NatsConnection>,
    /** What writes through this gateway were acknowledged at (read-your-writes, see catchUp). */
    private readonly horizon: WriteHorizon,
  ) {
    this.acks = new ReplyMux<true>(nc, decodeAckReply, 'acknowledgements');
  }

  consume(streamName: string, consumer: string, query: ConsumeQuery, retryOnly = false): Promise<Delivery> {
    return this.catalog.with(streamName, (entry) => {
      // As on the engine: after the stream is found, before the consumer is (a key or type no event can have).
      if (query.filter !== undefined) checkFilter(query.filter);
      return this.consumeFrom(entry, consumer, query, retryOnly).catch((error: unknown) => {
        // Still no responder after the durable was made sure of: it has no leader now (an election).
        if (error instanceof ConsumerGone) throw backendError(`fetching from stream '${entry.name}'`, new Error(`consumer '${consumer}' did not answer (no responders: its leader is being elected)`));
        throw error;
      });
    });
  }

  private async consumeFrom(entry: CatalogEntry, consumer: string, query: ConsumeQuery, retryOnly: boolean): Promise<Delivery> {
    const startedMs = Date.now();
    const jsName = jsStreamName(entry.number);
    const durable = jsConsumerName(consumer);
    // retry_events of a consumer that does not exist: nothing is due, and it is not created (only
    // process_events creates one, with its start and filter), as on the engine.
    if (retryOnly && !this.known.has(`${jsName}|${durable}`) && (await this.info(entry, jsName, durable)) === null) return { events: [], more: false };
    await this.ensure(entry, consumer, durable, query);
    const limits = this.options.consumers;
    const max = Math.min(query.maxEvents ?? limits.defaultBatchEvents, limits.maxBatchEvents);
    // The pull itself is bounded by bytes (JetStream counts subjects and headers too, so the
    // bodies it sends stay within the limit); the hand-out below cuts what came without it.
    const first: FetchOptions = { batch: max, no_wait: true, maxBytes: limits.maxBatchBytes };
    let messages: JsMsg[];
    try {
      messages = await this.fetch(entry, jsName, durable, first);
    } catch (error) {
      if (!(error instanceof ConsumerGone)) throw error;
      await this.ensure(entry, consumer, durable, query);
      messages = await this.fetch(entry, jsName, durable, first);
    }
    const waitMs = Math.min(query.waitMs ?? 0, limits.maxWaitMs);
    // A page short of `max` may stop before writes acknowledged through this gateway (a long-poll
    // that found nothing waits below instead: its first event is what the catch-up waits for).
    const bytesLeft = limits.maxBatchBytes - bodyBytes(messages);
    if (messages.length < max && bytesLeft > 0 && (waitMs === 0 || messages.length > 0) && !this.ending && !retryOnly) {
      // What was fetched is handed out even when the catch-up fails (it would be held until ack_wait).
      const caughtUp = this.catchUp(entry, jsName, durable, max - messages.length, lastSeq(messages), bytesLeft);
      messages.push(...(await (messages.length > 0 ? caughtUp.catch(() => []) : caughtUp)));
    }
    if (messages.length === 0 && waitMs > 0 && !this.ending && !retryOnly) messages = await this.longPoll(entry, jsName, durable, max, waitMs, limits.maxBatchBytes);
    await this.watch(entry, jsName, durable, messages.length);
    this.delivered(jsName, durable, messages);
    let more = moreAfter(messages, max);
    const types = this.typeFilters.get(`${jsName}|${durable}`);
    if (types !== undefined) {
      ({ messages, more } = await this.passOver(entry, jsName, durable, messages, types, max));
      // A long-poll goes on until an event of its types comes, or wait_ms is over.
      const deadlineMs = startedMs + waitMs;
      while (messages.length === 0 && waitMs > 0 && !retryOnly && !this.ending && deadlineMs - Date.now() >= MIN_WAIT_MS) {
        const next = await this.longPoll(entry, jsName, durable, max, deadlineMs - Date.now(), limits.maxBatchBytes);
        if (next.length === 0) break;
        this.delivered(jsName, durable, next);
        ({ messages, more } = await this.passOver(entry, jsName, durable, next, types, max));
      }
    }
    if (query.signal?.aborted === true) {
      // The caller is gone (its connection closed during the wait): hand nothing out, and give
      // the messages back at once rather than after ack_wait.
      for (const msg of messages) msg.nak();
      return { events: [], more: false };
    }
    const events: EventView[] = [];
    let bytes = 0;
    /** The first dead letter that could not be written (retried as writes are, sink.deadLetter): the others are not tried. */
    let deadLetterFailure: unknown = null;
    for (const [i, msg] of messages.entries()) {
      const count = msg.info.deliveryCount;
      if (limits.maxDeliveries > 0 && count > limits.maxDeliveries) {
        if (deadLetterFailure === null) {
          try {
            await this.sink.deadLetter(entry, consumer, msg);
            msg.term();
            continue;
          } catch (error) {
            deadLetterFailure = error;
          }
        }
        // Due again at once, to be dead-lettered by a later call; the rest of the batch is handed out.
        msg.nak();
        continue;
      }
      // As on the engine: at most max_batch_bytes of bodies, and always one event. What does not
      // fit (fetched without the pull's byte bound: a long-poll's first message, late ones) is
      // the next call's, as new.
      if (events.length > 0 && bytes + msg.data.byteLength > limits.maxBatchBytes) {
        this.keepForNextCall(`${jsName}|${durable}`, messages.slice(i));
        more = true;
        break;
      }
      bytes += msg.data.byteLength;
      if (query.autoAck) {
        // At most once: an event whose ack is not confirmed is not handed out (it comes back later).
        const acked = await this.confirmAck(ackSubjectOf(msg)).catch(() => false);
        if (!acked) continue;
      } else {
        this.hold(jsName, durable, msg);
      }
      events.push(viewOf(entry, this.catalog.storePart, msg, query.autoAck ? 1 : count > 1 ? 2 : 0, count));
    }
    // Nothing to hand out but a dead letter that failed: the caller learns why (BACKEND_UNAVAILABLE).
    if (events.length === 0 && deadLetterFailure !== null) throw deadLetterFailure;
    return { events, more };
  }

  /**
   * A types filter: events of other types (or of none) are acknowledged and not handed out, passed
   * over as on the engine; while a whole page is passed over, the next is fetched, up to
   * {@link MAX_FILTER_PAGES} pages in all.
   */
  private async passOver(entry: CatalogEntry, jsName: string, durable: string, fetched: JsMsg[], types: readonly string[], max: number): Promise<{ messages: JsMsg[]; more: boolean }> {
    for (let page = 1; ; page++) {
      const kept: JsMsg[] = [];
      for (const msg of fetched) {
        if (types.includes(msg.headers?.get(Headers.type) ?? '')) kept.push(msg);
        else msg.ack();
      }
      const more = moreAfter(fetched, max);
      if (kept.length > 0 || !more || page >= MAX_FILTER_PAGES || this.ending) return { messages: kept, more };
      fetched = await this.fetch(entry, jsName, durable, { batch: max, no_wait: true });
      this.delivered(jsName, durable, fetched);
    }
  }

  /**
   * Marks events of one stream (the store groups ids by stream). `checkExists` rejects ids whose
   * events do not exist (EVENT_NOT_FOUND); it and the consumer's info are the checks.
   *
   * The fast path: processed (1) marks of ids that this gateway delivered and still holds need
   * neither check (held ⇒ the event exists and was delivered to this consumer; processed has no
   * already-acknowledged check), so they are confirmed at once, two cluster round trips fewer.
   * When a confirmation finds no responder (the consumer or its stream is gone) or the
   * connection closed, the checks run as for any mark, and give the answer they would have.
   */
  async mark(entry: CatalogEntry, consumer: string, ids: readonly string[], offsets: readonly number[], status: EventStatus, checkExists: () => Promise<void>): Promise<void> {
    const jsName = jsStreamName(entry.number);
    const durable = jsConsumerName(consumer);
    if (status === 1 && (await this.ackHeld(entry, jsName, durable, offsets))) return;
    await checkExists();
    const info = await this.info(entry, jsName, durable);
    for (let i = 0; i < offsets.length; i++) {
      const seq = offsets[i]! + 1;
      if (info === null || seq > info.delivered.stream_seq) {
        throw new EventBusError(ErrorCodes.EVENT_NOT_DELIVERED, `event '${ids[i]!}' has not been delivered to consumer '${consumer}'`);
      }
      if (status !== 1 && seq <= info.ack_floor.stream_seq) {
        throw new EventBusError(ErrorCodes.EVENT_ACKNOWLEDGED, `event '${ids[i]!}' was already processed by consumer '${consumer}'`);
      }
    }
    assert(info !== null, 'consumer info vanished');
    await Promise.all(offsets.map((offset) => this.markOne(entry, jsName, durable, info, offset + 1, status)));
  }

  /**
   * Confirms the acks of held messages when every one of `offsets` is held: true when all were
   * confirmed, false when one was not held (nothing sent) or its ack found no responder or a
   * closed connection (those are no longer held: the caller's rebuilt-subject path acks them).
   */
  private async ackHeld(entry: CatalogEntry, jsName: string, durable: string, offsets: readonly number[]): Promise<boolean> {
    // An id given twice is acked once (its second ack would have nothing more to say).
    const keys = [...new Set(offsets.map((offset) => `${jsName}|${durable}|${offset + 1}`))];
    if (!keys.every((key) => this.held.has(key))) return false;
    const messages = keys.map((key) => {
      const msg = this.held.get(key)!;
      this.held.delete(key);
      return msg;
    });
    let fallBack = false;
    await Promise.all(
      messages.map(async (msg) => {
        try {
          await this.confirmAck(ackSubjectOf(msg));
        } catch (error) {
          if (isConnectionGone(error) || isNoResponders(error)) fallBack = true;
          else throw backendError(`marking an event of stream '${entry.name}'`, error);
        }
      }),
    );
    return !fallBack;
  }

  /**
   * `+ACK` to a message's ack subject, resolved when the server confirms it (as `msg.ackAck`, whose
   * nats.js request it replaces); rejects TIMEOUT, CONNECTION_CLOSED, or no responders.
   */
  private confirmAck(ackSubject: string): Promise<true> {
    return this.acks.request(ackSubject, ACK, { timeout: this.options.requestTimeoutMs });
  }

  private async markOne(entry: CatalogEntry, jsName: string, durable: string, info: ConsumerInfo, seq: number, status: EventStatus): Promise<void> {
    const key = `${jsName}|${durable}|${seq}`;
    const msg = this.held.get(key);
    this.held.delete(key);
    try {
      if (status === 1) {
        if (msg !== undefined) {
          try {
            await this.confirmAck(ackSubjectOf(msg));
            return;
          } catch (error) {
            if (!isConnectionGone(error)) throw error;
          }
        }
        if (seq <= info.ack_floor.stream_seq) return;
        await this.confirmAck(`$JS.ACK.${jsName}.${durable}.1.${seq}.0.0.0`);
        return;
      }
      // Confirmed, as +ACK is: the consumer's leader answers once the event is due again, so a
      // fetch sent after the mark's answer gets it (a -NAK only flushed to a node could be
      // overtaken by that fetch on its way to the leader: seen in a CI run).
      const subject = msg !== undefined ? ackSubjectOf(msg) : `$JS.ACK.${jsName}.${durable}.1.${seq}.${info.delivered.consumer_seq}.0.0`;
      await this.acks.request(subject, NAK, { timeout: this.options.requestTimeoutMs });
    } catch (error) {
      throw backendError(`marking an event of stream '${entry.name}'`, error);
    }
  }

  /** Figures of every consumer of a stream, in name order (dead letters counted by the caller). */
  async list(entry: CatalogEntry, deadLettered: ReadonlyMap<string, number>): Promise<ConsumerView[]> {
    const jsName = jsStreamName(entry.number);
    const views: ConsumerView[] = [];
    try {
      const lister = this.jsm.consumers.list(jsName);
      for await (const info of lister) {
        if (info.config.durable_name === undefined || !info.name.startsWith('C_')) continue;
        const { name, types, start } = consumerOfDescription(info.name, info.config.description);
        const retry = Math.min(info.num_redelivered, info.num_ack_pending);
        views.push({
          name,
          cursor: info.delivered.stream_seq,
          ackFloor: info.ack_floor.stream_seq,
          pending: info.num_ack_pending - retry,
          retry,
          deadLettered: deadLettered.get(name) ?? 0,
          lag: info.num_pending,
          start: startOf(info.config, start),
          filter: filterOf(jsName, info.config, types),
        });
      }
    } catch (error) {
      if (jsErrorCode(error) === JsErrors.streamNotFound) return views;
      throw backendError(`listing the consumers of stream '${entry.name}'`, error);
    }
    return views.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  }

  /** The consumer's info, or null when it does not exist. */
  async info(entry: CatalogEntry, jsName: string, durable: string): Promise<ConsumerInfo | null> {
    for (let repaired = false; ; repaired = true) {
      try {
        return await this.jsm.consumers.info(jsName, durable);
      } catch (error) {
        const code = jsErrorCode(error);
        if (code === JsErrors.consumerNotFound) return null;
        if (code === JsErrors.streamNotFound && !repaired && (await this.sink.repair(entry))) continue;
        if (code === JsErrors.streamNotFound) throw this.notFound(entry);
        throw backendError(`reading consumer state of stream '${entry.name}'`, error);
      }
    }
  }

  /** Long-polls answer now (shutdown); late messages go back to the cluster, for other gateways. */
  endWaits(): void {
    this.ending = true;
    for (const wait of this.waits) wait.stop();
    for (const queue of this.late.values()) for (const { msg } of queue) msg.nak();
    this.late.clear();
    this.lateCount = 0;
  }

  /**
   * Creates the durable if it does not exist, with the start and filter of `setup` (consumer-setup.ts;
   * ignored if it exists). A cluster slow to answer (an election, a busy meta leader: a request
   * timed out in a benchmark run) is asked again, as a write is, up to `write_timeout_ms`.
   */
  private async ensure(entry: CatalogEntry, consumer: string, durable: string, setup: Pick<ConsumeQuery, 'start' | 'filter'>): Promise<void> {
    const key = `${jsStreamName(entry.number)}|${durable}`;
    if (this.known.has(key)) return;
    const deadlineMs = Date.now() + this.options.writeTimeoutMs;
    for (;;) {
      try {
        const types = await this.createIfMissing(entry, consumer, durable, setup);
        if (types === undefined) this.typeFilters.delete(key);
        else this.typeFilters.set(key, types);
        break;
      } catch (error) {
        if (!isTransientBackendError(error) || this.ending || Date.now() >= deadlineMs) throw error;
        await sleep(ENSURE_RETRY_PAUSE_MS);
      }
    }
    this.known.add(key);
  }

  /** Creates the durable unless it exists; returns the types filter it has (consumer-setup.ts). */
  private async createIfMissing(entry: CatalogEntry, consumer: string, durable: string, setup: Pick<ConsumeQuery, 'start' | 'filter'>): Promise<readonly string[] | undefined> {
    const jsName = jsStreamName(entry.number);
    const existing = await this.info(entry, jsName, durable);
    if (existing !== null) return consumerOfDescription(durable, existing.config.description).types;
    const durables = (await this.list(entry, new Map())).length;
    if (durables >= this.options.consumers.maxConsumersPerStream) {
      throw new EventBusError(ErrorCodes.TOO_MANY_CONSUMERS, `stream '${entry.name}' has ${durables} consumers, the most allowed (max_consumers_per_stream)`);
    }
    // What the stream holds now (from its leader): the new durable's first no_wait fetch waits for
    // it like for a write through this gateway (catchUp), whoever wrote it: its leader may be a
    // replica that has not applied the newest yet. One request, only when a durable is created.
    const storedSeq = (await this.state(entry, jsName)).last_seq;
    const { declared, ...config } = await setupConfig(jsName, setup.start, setup.filter, () => Promise.resolve(storedSeq));
    const description = describeConsumer(consumer, setup.filter?.types, declared);
    try {
      // Same config from every gateway: creating it twice is not an error (a `new` start's
      // sequence may differ: then the add fails, and the durable made first stands, below).
      await this.jsm.consumers.add(jsName, {
        durable_name: durable,
        description,
        ack_policy: AckPolicy.Explicit,
        ...config,
        ack_wait: nanos(this.options.consumers.ackWaitMs),
        max_deliver: -1,
        max_ack_pending: this.options.consumers.maxPending,
        max_waiting: 512,
      });
    } catch (error) {
      if (jsErrorCode(error) === JsErrors.streamNotFound) throw this.notFound(entry);
      // Another gateway created it first with another start or filter: its setup stands, as on the engine.
      const created = await this.info(entry, jsName, durable).catch(() => null);
      if (created === null) throw backendError(`creating consumer '${consumer}' of stream '${entry.name}'`, error);
      return consumerOfDescription(durable, created.config.description).types;
    }
    this.horizon.wrote(jsName, storedSeq);
    return setup.filter?.types;
  }

  /** The stream's state (for an offset start's bound, and what a new durable is to catch up to). */
  private async state(entry: CatalogEntry, jsName: string): Promise<{ last_seq: number }> {
    try {
      return (await this.jsm.streams.info(jsName)).state;
    } catch (error) {
      if (jsErrorCode(error) === JsErrors.streamNotFound) throw this.notFound(entry);
      throw backendError(`reading the state of stream '${entry.name}'`, error);
    }
  }

  /**
   * A fetch: first what came late for this durable (puller.ts), then a pull for the rest. When
   * the fetch connection is closed, once more over a new one. A `no_wait` pull that gets no
   * answer at all within its guard (the watchdog's second sign) is sent again over a new
   * connection, with `request_timeout_ms` to answer; silent again, the cluster did not answer in
   * time: BACKEND_UNAVAILABLE (not an empty page, which says there is nothing to deliver).
   */
  private async fetch(entry: CatalogEntry, jsName: string, durable: string, options: FetchOptions): Promise<JsMsg[]> {
    const late = this.takeLate(`${jsName}|${durable}`, options.batch);
    const bytesLeft = options.maxBytes === undefined ? Infinity : options.maxBytes - bodyBytes(late);
    // A long-poll has its first message; a no_wait fetch asks for the rest of its batch and bytes.
    if (late.length >= options.batch || (late.length > 0 && (options.no_wait !== true || bytesLeft <= 0))) return late;
    const bound = options.maxBytes === undefined ? {} : { maxBytes: bytesLeft, atLeastOne: late.length === 0 && options.atLeastOne !== false };
    const rest = { ...options, batch: options.batch - late.length, ...bound };
    try {
      return [...late, ...(await this.pullRetrying(entry, jsName, durable, rest))];
    } catch (error) {
      this.putBackLate(`${jsName}|${durable}`, late);
      throw error;
    }
  }

  private async pullRetrying(entry: CatalogEntry, jsName: string, durable: string, options: FetchOptions): Promise<JsMsg[]> {
    let unanswered = false;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.fetchOnce(entry, jsName, durable, unanswered ? { ...options, guardMs: this.options.requestTimeoutMs } : options);
      } catch (error) {
        if (error instanceof NoAnswer) {
          if (unanswered) throw backendError(`fetching from stream '${entry.name}'`, new NatsError(`the NATS cluster did not answer a fetch within ${this.options.requestTimeoutMs} ms`, ErrorCode.Timeout));
          unanswered = true;
          try {
            await this.replaceFetcher();
          } catch (replacing) {
            throw backendError(`fetching from stream '${entry.name}': the NATS cluster did not answer, and`, replacing);
          }
          continue;
        }
        if (!(error instanceof FetchConnectionLost)) throw error;
        if (attempt > 1 || this.ending) throw backendError(`fetching from stream '${entry.name}'`, new Error('the connection to NATS is closed'));
        await this.replaceFetcher();
      }
    }
  }

  /**
   * One pull (puller.ts) under a guard timer: a `no_wait` pull ends at the server's answer, in
   * milliseconds, or after {@link NO_WAIT_GUARD_MS} (or `guardMs`); a long-poll at the server's
   * 408 when `expires` is over, or that long after it. What the server sends after the guard
   * ended a pull is kept for the next fetch (takeLate).
   */
  private async fetchOnce(entry: CatalogEntry, jsName: string, durable: string, options: FetchOptions): Promise<JsMsg[]> {
    const fetcher = this.fetcher;
    if (fetcher === null || fetcher.nc.isClosed()) throw new FetchConnectionLost();
    const noWait = options.no_wait === true;
    const graceMs = Math.min(NO_WAIT_GUARD_MS, this.options.requestTimeoutMs);
    const bound = noWait && options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {};
    const request: PullRequest = noWait ? { batch: options.batch, noWait: true, ...bound } : { batch: options.batch, noWait: false, expiresMs: options.expires ?? 1000 };
    const guardMs = options.guardMs ?? (noWait ? graceMs : (options.expires ?? 1000) + graceMs);
    const pull = fetcher.puller.pull(jsName, durable, request, guardMs);
    const stopper = { stop: () => pull.stop() };
    this.waits.add(stopper);
    try {
      const { messages, end } = await pull.result;
      // A no_wait pull that brought nothing and did not even answer "no messages": the connection
      // does not hear the cluster, or the cluster does not answer (the caller sends it again).
      if (end === 'guard' && noWait && messages.length === 0 && !this.ending) throw new NoAnswer();
      // The next message alone is over the byte bound: it goes alone, as on the engine.
      if (end === 'bytes' && messages.length === 0 && options.atLeastOne !== false) return await this.fetchOnce(entry, jsName, durable, { batch: 1, no_wait: true });
      return messages;
    } catch (error) {
      if (error instanceof NoAnswer) throw error;
      if (isConnectionGone(error)) throw new FetchConnectionLost();
      if (isNoResponders(error)) {
        // The durable (or its stream) is gone, or has no leader: the caller makes sure of it.
        this.known.delete(`${jsName}|${durable}`);
        // What the old durable delivered is no longer held: its marks take the checked path.
        this.forgetHeld(`${jsName}|${durable}|`);
        throw new ConsumerGone();
      }
      throw backendError(`fetching from stream '${entry.name}'`, error);
    } finally {
      this.waits.delete(stopper);
    }
  }

  /** A message that came after its pull had ended (puller.ts): kept for the durable's next fetch, or `-NAK`ed. */
  private onLate(msg: JsMsg): void {
    if (this.ending || this.lateCount >= MAX_LATE) {
      msg.nak();
      return;
    }
    const key = `${msg.info.stream}|${msg.info.consumer}`;
    let queue = this.late.get(key);
    if (queue === undefined) this.late.set(key, (queue = []));
    queue.push({ msg, atMs: Date.now() });
    this.lateCount += 1;
  }

  /**
   * Up to `max` of the durable's late messages. One held for over half an ack deadline is
   * dropped instead: JetStream delivers it again at its deadline, maybe to another caller.
   */
  private takeLate(key: string, max: number): JsMsg[] {
    const queue = this.late.get(key);
    if (queue === undefined) return [];
    const freshMs = Date.now() - this.options.consumers.ackWaitMs / 2;
    const taken: JsMsg[] = [];
    while (queue.length > 0 && taken.length < max) {
      const { msg, atMs } = queue.shift()!;
      this.lateCount -= 1;
      if (atMs >= freshMs) taken.push(msg);
    }
    if (queue.length === 0) this.late.delete(key);
    return taken;
  }

  /**
   * Messages fetched for a call that does not hand them out (past its max_batch_bytes): first in
   * line for the durable's next fetch through this gateway, as late ones are (takeLate); at
   * shutdown, `-NAK`ed for another gateway.
   */
  private keepForNextCall(key: string, messages: readonly JsMsg[]): void {
    if (this.ending) for (const msg of messages) msg.nak();
    else this.putBackLate(key, messages);
  }

  /** Late messages taken by a fetch that then failed: first in line again. */
  private putBackLate(key: string, messages: readonly JsMsg[]): void {
    if (messages.length === 0) return;
    const atMs = Date.now();
    const queue = this.late.get(key) ?? [];
    this.late.set(key, [...messages.map((msg) => ({ msg, atMs })), ...queue]);
    this.lateCount += messages.length;
  }

  /**
   * After a `no_wait` fetch that brought less than asked, up to stream sequence `fetchedSeq` (0:
   * nothing; see the module comment): when writes through this gateway were acknowledged past what
   * this durable is known to have delivered, asks its info, and when it has not delivered them (and
   * has room under max_ack_pending) waits up to {@link CATCH_UP_MS} for the first, then takes what
   * is there up to `max`. At most one info request per durable for each advance of the horizon.
   */
  private async catchUp(entry: CatalogEntry, jsName: string, durable: string, max: number, fetchedSeq: number, maxBytes: number): Promise<JsMsg[]> {
    const key = `${jsName}|${durable}`;
    const written = this.horizon.last(jsName);
    if (written <= Math.max(fetchedSeq, this.checkedSeq.get(key) ?? 0)) return [];
    this.setChecked(key, written);
    const info = await this.info(entry, jsName, durable).catch(() => null);
    if (info === null || info.delivered.stream_seq >= written || !hasRoom(info)) return [];
    // A key's consumer waits only for a write of its key (the stream's leader has it).
    const subject = info.config.filter_subject;
    if (subject !== undefined && subject !== '' && (await this.lastSeqOf(jsName, subject)) <= info.delivered.stream_seq) return [];
    return this.longPoll(entry, jsName, durable, max, CATCH_UP_MS, maxBytes);
  }

  /**
   * A one-message fetch that waits up to `expiresMs`; when it brings one, a `no_wait` fetch for
   * the rest of the batch, within what is left of `maxBytes`.
   */
  private async longPoll(entry: CatalogEntry, jsName: string, durable: string, max: number, expiresMs: number, maxBytes: number): Promise<JsMsg[]> {
    const messages = await this.fetch(entry, jsName, durable, { batch: 1, expires: expiresMs });
    const bytesLeft = maxBytes - bodyBytes(messages);
    // The rest is optional: a failure of it must not hold the first message until ack_wait.
    if (messages.length > 0 && max > 1 && bytesLeft > 0) messages.push(...(await this.fetch(entry, jsName, durable, { batch: max - 1, no_wait: true, maxBytes: bytesLeft, atLeastOne: false }).catch(() => [])));
    return messages;
  }

  /** The sequence of the last message on `subject`, or 0 (none, or the question failed: nothing to wait for). */
  private async lastSeqOf(jsName: string, subject: string): Promise<number> {
    try {
      return (await this.jsm.streams.getMessage(jsName, { last_by_subj: subject })).seq;
    } catch {
      return 0;
    }
  }

  /** Notes the highest stream sequence delivered to a durable (what catchUp need not ask about). */
  private delivered(jsName: string, durable: string, messages: readonly JsMsg[]): void {
    if (messages.length === 0) return;
    const key = `${jsName}|${durable}`;
    const seq = lastSeq(messages);
    if (seq > (this.checkedSeq.get(key) ?? 0)) this.setChecked(key, seq);
  }

  private setChecked(key: string, seq: number): void {
    if (this.checkedSeq.size >= MAX_HELD && !this.checkedSeq.has(key)) this.checkedSeq.clear();
    this.checkedSeq.set(key, seq);
  }

  /**
   * The watchdog (see the module comment): counts a durable's empty fetches in a row and, past
   * {@link STALL_MS}, asks its info whether it had events to deliver.
   */
  private async watch(entry: CatalogEntry, jsName: string, durable: string, fetched: number): Promise<void> {
    const key = `${jsName}|${durable}`;
    if (fetched > 0 || this.ending) {
      this.emptySinceMs.delete(key);
      return;
    }
    const now = Date.now();
    const since = this.emptySinceMs.get(key);
    if (since === undefined) {
      if (this.emptySinceMs.size >= MAX_HELD) this.emptySinceMs.clear();
      this.emptySinceMs.set(key, now);
      return;
    }
    if (now - since < STALL_MS) return;
    this.emptySinceMs.set(key, now); // asked at most once per STALL_MS
    const info = await this.info(entry, jsName, durable).catch(() => null);
    if (info === null) return;
    if (info.num_pending > 0 && hasRoom(info)) await this.replaceFetcher();
  }

  /** Moves fetches to a new connection; the old one (if the watchdog opened it) closes after an ack deadline. */
  private replaceFetcher(): Promise<void> {
    this.replacing ??= this.openFetcher().finally(() => (this.replacing = null));
    return this.replacing;
  }

  private async openFetcher(): Promise<void> {
    if (this.ending) return;
    const now = Date.now();
    const current = this.fetcher;
    if (current !== null && !current.nc.isClosed() && now - this.lastReplaceMs < REPLACE_INTERVAL_MS) return;
    if (current !== null) this.lastReplaceMs = now;
    let nc: NatsConnection;
    try {
      nc = await this.openConnection();
    } catch (error) {
      throw backendError('opening a new connection for fetches', error);
    }
    if (this.ending) {
      await nc.close();
      return;
    }
    this.opened.add(nc);
    this.fetcher = { nc, puller: new Puller(nc, (msg) => this.onLate(msg), this.options.requestTimeoutMs, this.options.consumers.ackWaitMs) };
    if (current !== null) {
      this.fetchConnectionsReplaced += 1;
      const old = current.nc;
      // Calls still handling what it delivered ack or terminate over it: kept until their ack deadline has passed.
      const timer = setTimeout(() => {
        this.opened.delete(old);
        void old.close().catch(() => {});
      }, this.options.consumers.ackWaitMs + this.options.requestTimeoutMs);
      timer.unref();
    }
  }

  /** Closes the connections the watchdog opened. */
  async close(): Promise<void> {
    this.ending = true;
    await this.replacing?.catch(() => {});
    this.fetcher = null;
    // Closed, not drained: a stalled connection would never finish a drain.
    await Promise.all([...this.opened].map((c) => c.close().catch(() => {})));
    this.opened.clear();
  }

  private hold(jsName: string, durable: string, msg: JsMsg): void {
    if (this.held.size >= MAX_HELD) {
      // Oldest first (insertion order): its mark falls back to a rebuilt ack subject.
      const oldest = this.held.keys().next().value;
      if (oldest !== undefined) this.held.delete(oldest);
    }
    this.held.set(`${jsName}|${durable}|${msg.seq}`, msg);
  }

  private forgetHeld(prefix: string): void {
    for (const key of this.held.keys()) if (key.startsWith(prefix)) this.held.delete(key);
  }

  private notFound(entry: CatalogEntry): EventBusError {
    this.catalog.forget(entry.name);
    return new EventBusError(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(entry.name));
  }
}

/** No responder to a pull: the durable vanished (deleted by an operator, or its stream replaced), or has no leader: create it again if need be. */
class ConsumerGone extends Error {}

/** A `no_wait` pull got no answer at all within its guard. */
class NoAnswer extends Error {}

/**
 * What a fetch asks: `batch` messages, at once (`no_wait`) or waiting up to `expires` ms; `guardMs`
 * overrides the guard. A `no_wait` fetch with `maxBytes` asks JetStream for at most that many
 * bytes (subjects and headers counted: the bodies are fewer); when the next message alone is
 * more, it is fetched alone, unless `atLeastOne` is false (the rest of a page that has one).
 */
interface FetchOptions {
  batch: number;
  no_wait?: boolean;
  expires?: number;
  guardMs?: number;
  maxBytes?: number;
  atLeastOne?: boolean;
}

/** The fetch connection is closed: fetch over a new one. */
class FetchConnectionLost extends Error {}

/**
 * A delivered message's ack subject: its reply subject, which nats.js's JsMsg implementation has
 * (its `ack()` answers to it) and its interface does not declare.
 */
function ackSubjectOf(msg: JsMsg): string {
  const reply = (msg as JsMsg & { reply?: unknown }).reply;
  assert(typeof reply === 'string' && reply !== '', 'a delivered JetStream message without an ack subject');
  return reply;
}

/** The consumer may deliver more: it is under its max_ack_pending (or has none). */
function hasRoom(info: ConsumerInfo): boolean {
  return info.config.max_ack_pending === undefined || info.config.max_ack_pending < 1 || info.num_ack_pending < info.config.max_ack_pending;
}

/** Whether the consumer has more after a batch of `messages` asked as `max`: a full batch, or the last message's pending count. */
function moreAfter(messages: readonly JsMsg[], max: number): boolean {
  const last = messages[messages.length - 1];
  return messages.length === max || (last !== undefined && last.info.pending > 0);
}

/** The bytes of the bodies of `messages` (what max_batch_bytes counts, as on the engine). */
function bodyBytes(messages: readonly JsMsg[]): number {
  let bytes = 0;
  for (const msg of messages) bytes += msg.data.byteLength;
  return bytes;
}

/** The highest stream sequence of `messages`, 0 for none. */
function lastSeq(messages: readonly JsMsg[]): number {
  let seq = 0;
  for (const msg of messages) seq = Math.max(seq, msg.seq);
  return seq;
}

/** A request nobody answers: on an ack subject, the consumer (or its stream) is gone. */
function isNoResponders(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === ErrorCode.NoResponders;
}

function isConnectionGone(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code === 'CONNECTION_CLOSED' || code === 'CONNECTION_DRAINING';
}
