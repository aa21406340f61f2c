/**
 * The consumers of one stream: their in-memory models (consumer.ts), their journal
 * (consumer-journal.ts) and the operations `process`, `retry` and `mark`.
 *
 * Every operation decides and applies its changes synchronously, before its first await, and
 * queues the matching journal records in the same step. So two callers on the same consumer
 * never receive the same new event, and the journal replays exactly the changes made. The
 * operation resolves once its records are durable (the group commit shares the fsync with
 * segment writes of the same moment).
 */
import { assert, ErrorCodes, EventBusError, OriginalReasons, isEventBusError } from '../../errors.js';
import { Consumer } from './consumer.js';
import { ConsumerJournal, type JournalContext } from './consumer-journal.js';
import {
  encodeConsumer,
  encodeDeadLetter,
  encodeDeliver,
  encodeMarks,
  encodeRedeliver,
  encodeSetup,
  encodeState,
  type JournalDamage,
} from './journal-codec.js';
import { replayJournal, settleAfterOpen } from './journal-replay.js';
import { damagedDeadLetterPayload, deadLetterMsgId, deadLetterPayload } from './dead-letter-record.js';
import type { LongPolls } from '../long-polls.js';
import type { ConsumeOptions, ConsumeResult, ConsumerLimits, ConsumerStats, DeliveredEvent, EventStatus, RetryOptions } from './consumer-types.js';
import { eventIdOf, type IdEpoch } from '../format/event-id.js';
import type { StreamLog } from '../log/stream-log.js';
import type { StoredEvent } from '../log/record-reader.js';
import type { Damage } from '../log/segment-check.js';
import { validateConsumerName } from '../stream-name.js';
import { checkFilter, isEmptyFilter, matchesFilter, type EventFilter } from '../event-filter.js';

import { encodeSetupSpec, resolveStart, START_ALL, type ConsumerSetup, type ConsumerStart } from './consumer-setup.js';

/**
 * A consumer with a filter reads at most this many pages per event-loop turn of a process_events
 * (its scan budget): without wait_ms the call then answers (more: true); with wait_ms it goes on
 * in the next turn, so other connections are served between budgets.
 */
const MAX_FILTERED_PAGES = 16;
/**
 * The fewest events a filtered consumer's page reads, whatever max_events is (it delivers at most
 * max_events of them): a small batch scans as far per turn as the default batch (100) does.
 */
const MIN_FILTERED_PAGE_EVENTS = 100;

/** What the consumers of a stream need from the engine. */
export interface ConsumersContext extends JournalContext {
  limits: ConsumerLimits;
  /** The store's event size limit: a dead-letter record longer than it leaves the body out. */
  maxEventBytes: number;
  /** Schedules a flush of the journal's queued records. */
  markDirty(journal: ConsumerJournal): void;
  /**
   * Appends each record to the dead-letter stream of `streamName` (created on first use) with its
   * msg_id, unless that id is in the duplicate window: resolves with one entry per record, null
   * when it is stored (now or before), else why not. Rejects when none can be (the stream cannot be
   * created).
   */
  deadLetter(streamName: string, records: readonly DeadLetter[]): Promise<(Error | null)[]>;
}

/** A dead-letter record and the msg_id that names its move (dead-letter-record.ts). */
export interface DeadLetter {
  msgId: string;
  payload: Buffer;
}

/** What one synchronous step of process_events delivered, and what to wait for. */
interface Delivery {
  events: DeliveredEvent[];
  bytes: number;
  durable: Promise<unknown>;
  /** Damaged events were moved aside: what follows may be due at once. */
  skippedDamage: boolean;
  /** A filtered consumer read new events (and passed over those that did not pass). */
  scanned: boolean;
}

/** Identity of the stream the consumers belong to. */
export interface StreamIdentity {
  id: string;
  name: string;
  number: number;
  idEpochs: readonly IdEpoch[];
}

const RESOLVED = Promise.resolve();

export class StreamConsumers {
  private readonly byName = new Map<string, Consumer>();
  private readonly byId: Map<number, Consumer>;
  /** Where consumers created with a `start` started, by id (consumer-setup.ts). */
  private readonly setups: Map<number, ConsumerSetup>;
  private nextId: number;
  readonly damage: JournalDamage[];
  private closed = false;
  private closedError = new EventBusError(ErrorCodes.CLOSED, 'the stream was closed');

  private constructor(
    private readonly ctx: ConsumersContext,
    private readonly stream: StreamIdentity,
    private readonly log: StreamLog,
    private readonly journal: ConsumerJournal,
    /** The stream's long-polls (shared with readers waiting for events: long-polls.ts). */
    private readonly polls: LongPolls,
    replayed: { byId: Map<number, Consumer>; nextId: number; damage: JournalDamage[]; setups: Map<number, ConsumerSetup> },
  ) {
    this.byId = replayed.byId;
    this.setups = replayed.setups;
    this.nextId = replayed.nextId;
    this.damage = replayed.damage;
    for (const consumer of this.byId.values()) this.byName.set(consumer.name, consumer);
    journal.stateProvider = () => this.stateRecords();
  }

  /** Opens the consumers of the stream in `dir`, replaying their journal (journal-replay.ts). */
  static open(ctx: ConsumersContext, dir: string, stream: StreamIdentity, log: StreamLog, polls: LongPolls): StreamConsumers {
    const { journal, records, damage } = ConsumerJournal.open(ctx, dir, `stream '${stream.name}'`);
    const replayed = replayJournal(records, journal.file);
    settleAfterOpen(replayed.byId.values(), log.firstOffset, log.visibleOffset, stream.name, ctx.logger);
    return new StreamConsumers(ctx, stream, log, journal, polls, { ...replayed, damage: [...damage, ...replayed.damage] });
  }

  // ------------------------------------------------------------------ operations

  /** `process_events`: see Engine.consume. */
  async consume(name: string, options: ConsumeOptions): Promise<ConsumeResult> {
    validateConsumerName(name);
    const limits = this.ctx.limits;
    const batch = this.batchSize(options.maxEvents);
    const autoAck = options.autoAck === true;
    const waitMs = Math.min(Math.max(0, options.waitMs ?? 0), limits.maxWaitMs);
    const giveUpAt = Date.now() + waitMs;
    const events: DeliveredEvent[] = [];
    let bytes = 0;
    // Everything this call changed, made durable before it answers (awaited between steps only
    // where what follows depends on it).
    let durable: Promise<unknown> = RESOLVED;
    const answer = async (consumer: Consumer): Promise<ConsumeResult> => {
      await durable;
      return { events, more: this.moreToProcess(consumer, autoAck) };
    };
    let pages = 0;
    for (let waited = false; ; waited = true) {
      this.checkUsable();
      const { consumer, created } = this.consumer(name, options.start, options.filter);
      durable = settledLater(Promise.all([durable, created]));
      // The caller is gone (its connection closed) while this call waited: deliver nothing more.
      if (waited && options.signal?.aborted === true) return { ...(await answer(consumer)), more: false };
      let delivery: Delivery;
      try {
        delivery = this.deliver(consumer, batch - events.length, autoAck, limits.maxBatchBytes - bytes);
      } catch (error) {
        // What this call delivered before stays delivered: answer it; the failure comes again.
        if (events.length > 0) return answer(consumer);
        throw error; // (a failure of the creation's write is this one's cause, or moot)
      }
      events.push(...delivery.events);
      bytes += delivery.bytes;
      durable = settledLater(Promise.all([durable, delivery.durable]));
      if (delivery.skippedDamage) {
        // Damaged events were moved aside: what follows may be due at once.
        await durable;
        continue;
      }
      // At shutdown a long-poll is answered at once with what is due (nothing), not dropped.
      const remaining = this.polls.hasEnded ? 0 : giveUpAt - Date.now();
      const full = events.length >= batch || bytes >= limits.maxBatchBytes;
      if (delivery.scanned && !full && !this.closed && this.hasNew(consumer, autoAck)) {
        // A filtered consumer with events still ahead: read on, within the scan budget of this
        // turn; past it, with nothing found and time left, in the next turn.
        if (++pages < MAX_FILTERED_PAGES) continue;
        if (events.length === 0 && remaining > 0) {
          pages = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
      }
      if (events.length > 0 || remaining <= 0 || this.closed) return answer(consumer);
      await Promise.all([durable, this.polls.wait(remaining, undefined, options.signal)]);
      pages = 0;
    }
  }

  /**
   * Delivers due redeliveries and then new events, synchronously, at most `batch` events and
   * (beyond the first) `maxBytes` payload bytes; returns what to wait for.
   */
  private deliver(consumer: Consumer, batch: number, autoAck: boolean, maxBytes: number): Delivery {
    this.checkUsable();
    const { limits } = this.ctx;
    const log = this.log;
    const now = Date.now();
    consumer.clampTo(log.firstOffset);
    const { deliver: again, deadLetter } = this.dueSplit(consumer, 'redeliver', now, batch);
    const events: DeliveredEvent[] = [];
    let bytes = 0;
    const redelivered: number[] = [];
    for (const offset of again) {
      if (events.length > 0 && bytes >= maxBytes) break;
      const event = this.readOne(offset);
      const entry = consumer.entries.get(offset)!;
      events.push(deliveredEvent(event, autoAck ? 1 : 0, entry.deliveries + 1));
      bytes += event.payload.length;
      redelivered.push(offset);
    }
    const room = autoAck ? Number.MAX_SAFE_INTEGER : limits.maxPending - consumer.entries.size;
    const wantNew = Math.min(batch - events.length, room);
    const filter = this.setups.get(consumer.id)?.filter;
    let fresh: StoredEvent[] = [];
    const deadlineMs = now + limits.ackWaitMs;
    const records: Buffer[] = [];
    let skippedDamage = false;
    if (wantNew > 0 && consumer.cursor < log.visibleOffset && !(events.length > 0 && bytes >= maxBytes)) {
      // A filtered consumer reads a larger page than it may deliver: most of it may not pass.
      const pageEvents = filter === undefined ? wantNew : Math.max(wantNew, MIN_FILTERED_PAGE_EVENTS);
      try {
        fresh = log.read(consumer.cursor, pageEvents, Math.max(1, maxBytes - bytes));
      } catch (error) {
        // With redeliveries in hand, deliver those; the damage is dealt with by the next call.
        if (!isEventBusError(error, ErrorCodes.CORRUPT_DATA) || (events.length === 0 && this.damageAt(consumer.cursor) === undefined)) throw error;
      }
      // The next event is damaged: it can never be delivered. Rather than stop the consumer there
      // for good, move the damaged offsets to the dead-letter stream (saying where the damage is)
      // and go on after them.
      const damage = fresh.length === 0 && events.length === 0 ? this.damageAt(consumer.cursor) : undefined;
      if (damage !== undefined) {
        const from = consumer.cursor;
        const count = Math.min(damage.lastOffset - from + 1, batch, log.visibleOffset - from);
        consumer.applyDeliver(from, count, deadlineMs, false);
        records.push(encodeDeliver(consumer.id, from, count, deadlineMs, false));
        for (let offset = from; offset < from + count; offset++) deadLetter.push(offset);
        this.ctx.logger.error({ stream: this.stream.name, consumer: consumer.name, from, count, file: damage.file, position: damage.position }, 'damaged events moved to the dead-letter stream: they cannot be delivered');
        skippedDamage = true;
      }
    }
    if (redelivered.length > 0) {
      consumer.applyRedeliver(redelivered, deadlineMs, autoAck);
      records.push(encodeRedeliver(consumer.id, deadlineMs, autoAck, redelivered));
    }
    const before = events.length;
    if (fresh.length > 0) this.deliverFresh(consumer, fresh, wantNew, filter, deadlineMs, autoAck, records, events);
    for (let i = before; i < events.length; i++) bytes += events[i]!.payload.length;
    assert(consumer.cursor <= log.visibleOffset, 'a delivery moved a cursor past the end of its stream');
    const durable = Promise.all([this.write(records), this.moveToDeadLetters(consumer, deadLetter)]);
    return { events, bytes, durable, skippedDamage, scanned: filter !== undefined && fresh.length > 0 };
  }

  /**
   * Delivers `fresh` (read from the cursor): all of it, or, for a consumer with a filter
   * (consumer-setup.ts), up to `max` of those that pass it, stopping after the last of them; the
   * others are passed over as acknowledged (never pending), so the cursor still moves past them.
   * One DELIVER record per run of each.
   */
  private deliverFresh(consumer: Consumer, fresh: readonly StoredEvent[], max: number, filter: EventFilter | undefined, deadlineMs: number, autoAck: boolean, records: Buffer[], events: DeliveredEvent[]): void {
    let runStart = 0;
    let delivered = 0;
    while (runStart < fresh.length && delivered < max) {
      const passes = filter === undefined || matchesFilter(filter, fresh[runStart]!.attributes);
      let runEnd = runStart + 1;
      const runMax = passes ? runStart + (max - delivered) : fresh.length;
      while (runEnd < fresh.length && runEnd < runMax && (filter === undefined || matchesFilter(filter, fresh[runEnd]!.attributes)) === passes) runEnd += 1;
      const from = consumer.cursor;
      const skip = !passes;
      consumer.applyDeliver(from, runEnd - runStart, deadlineMs, autoAck || skip);
      records.push(encodeDeliver(consumer.id, from, runEnd - runStart, deadlineMs, autoAck || skip));
      if (passes) {
        for (let i = runStart; i < runEnd; i++) events.push(deliveredEvent(fresh[i]!, autoAck ? 1 : 0, 1));
        delivered += runEnd - runStart;
      }
      runStart = runEnd;
    }
  }

  /** Whether new events are ahead of the cursor that the consumer has room for. */
  private hasNew(consumer: Consumer, autoAck: boolean): boolean {
    return consumer.cursor < this.log.visibleOffset && (autoAck || consumer.entries.size < this.ctx.limits.maxPending);
  }

  /**
   * process_events' `more`: a next call would deliver something now (a redelivery, a new event)
   * or move an event to the dead-letter stream; not when all that is due is a move that failed.
   */
  private moreToProcess(consumer: Consumer, autoAck: boolean): boolean {
    return this.hasDue(consumer, 'redeliver', Date.now()) || this.hasNew(consumer, autoAck);
  }

  /**
   * Whether an outstanding event is due for `kind` that a next call would deliver, or would move
   * to the dead-letter stream while moves work (after a failed one, those wait for the next call
   * made for other reasons: a client looping while `more` is true must not spin on them).
   */
  private hasDue(consumer: Consumer, kind: 'redeliver' | 'retry', nowMs: number): boolean {
    const movesWork = consumer.deadLetterFailure === null;
    let found = false;
    consumer.forEachDue(kind, nowMs, (offset, entry) => {
      found = movesWork || !this.usedUp(offset, entry.deliveries);
      return !found;
    });
    return found;
  }

  /** The damage of the log that makes `offset` unreadable, if any. */
  private damageAt(offset: number) {
    return this.log.damageAt(offset);
  }

  /**
   * `retry_events`: see Engine.retry. A consumer that does not exist has nothing due: it is not
   * created (only process_events creates one, with its start and filter).
   */
  async retry(name: string, options: RetryOptions): Promise<ConsumeResult> {
    validateConsumerName(name);
    this.checkUsable();
    const { limits } = this.ctx;
    const consumer = this.byName.get(name);
    if (consumer === undefined) return { events: [], more: false };
    consumer.clampTo(this.log.firstOffset);
    const now = Date.now();
    const batch = this.batchSize(options.maxEvents);
    const { deliver, deadLetter } = this.dueSplit(consumer, 'retry', now, batch);
    const events: DeliveredEvent[] = [];
    const retried: number[] = [];
    let bytes = 0;
    for (const offset of deliver) {
      if (events.length > 0 && bytes >= limits.maxBatchBytes) break;
      const event = this.readOne(offset);
      events.push(deliveredEvent(event, 2, consumer.entries.get(offset)!.deliveries + 1));
      bytes += event.payload.length;
      retried.push(offset);
    }
    const records: Buffer[] = [];
    if (retried.length > 0) {
      const deadlineMs = now + limits.ackWaitMs;
      consumer.applyRedeliver(retried, deadlineMs, false, true);
      records.push(encodeRedeliver(consumer.id, deadlineMs, false, retried));
    }
    await Promise.all([this.write(records), this.moveToDeadLetters(consumer, deadLetter)]);
    return { events, more: this.hasDue(consumer, 'retry', Date.now()) };
  }

  /**
   * `mark_event`: see Engine.mark. All offsets are checked before any is changed. Acknowledging
   * an event that truncation or retention removed succeeds and changes nothing: its work is done
   * either way, and refusing it would refuse the rest of a worker's batch with it. Asking for one
   * to be delivered again (status 0 or 2) cannot be done: EVENT_NOT_FOUND.
   */
  async mark(name: string, given: readonly number[], status: EventStatus): Promise<void> {
    validateConsumerName(name);
    this.checkUsable();
    const log = this.log;
    const consumer = this.byName.get(name);
    const removed = (offset: number) => Number.isSafeInteger(offset) && offset >= 0 && offset < log.firstOffset;
    const offsets = status === 1 ? given.filter((offset) => !removed(offset)) : given;
    if (offsets.length === 0) return;
    for (const offset of offsets) {
      if (!Number.isSafeInteger(offset) || offset < log.firstOffset || offset >= log.visibleOffset) {
        throw new EventBusError(ErrorCodes.EVENT_NOT_FOUND, OriginalReasons.eventNotFound(this.eventId(offset)));
      }
      if (consumer === undefined || offset >= consumer.cursor) {
        throw new EventBusError(ErrorCodes.EVENT_NOT_DELIVERED, `event '${this.eventId(offset)}' has not been delivered to consumer '${name}'`);
      }
      if (status !== 1 && !consumer.entries.has(offset)) {
        throw new EventBusError(ErrorCodes.EVENT_ACKNOWLEDGED, `event '${this.eventId(offset)}' was already processed by consumer '${name}'`);
      }
    }
    if (consumer === undefined) return;
    consumer.applyMark(offsets, status);
    // Written even when nothing changed (a repeated acknowledgement), so that success means the
    // earlier mark it repeats is durable too.
    const written = this.write(encodeMarks(consumer.id, status, offsets));
    if (status !== 2) this.polls.wake(); // a redelivery is due, or room was freed
    await written;
  }

  /** Status and delivery count of each offset for `name` (all 0 for an unknown consumer). */
  statuses(name: string, offsets: readonly number[]): { status: EventStatus; deliveryCount: number }[] {
    const consumer = this.byName.get(name);
    if (consumer === undefined) return offsets.map(() => ({ status: 0 as EventStatus, deliveryCount: 0 }));
    consumer.clampTo(this.log.firstOffset);
    const now = Date.now();
    return offsets.map((offset) => consumer.statusOf(offset, now));
  }

  stats(): ConsumerStats[] {
    const now = Date.now();
    const visible = this.log.visibleOffset;
    return [...this.byId.values()].map((consumer) => {
      consumer.clampTo(this.log.firstOffset);
      return {
        name: consumer.name,
        cursor: consumer.cursor,
        ackFloor: consumer.ackFloor,
        ...consumer.counts(now),
        deadLettered: consumer.deadLettered,
        deadLetterFailure: consumer.deadLetterFailure,
        lag: consumer.lag(visible),
        start: this.setups.get(consumer.id)?.start ?? START_ALL,
        filter: this.setups.get(consumer.id)?.filter ?? null,
      };
    });
  }

  // ------------------------------------------------------------------ helpers

  /** The consumer `name`, created (starting at `start`, default all) if new. */
  private consumer(name: string, start?: ConsumerStart, filter?: EventFilter): { consumer: Consumer; created: Promise<unknown> } {
    if (filter !== undefined) checkFilter(filter);
    const existing = this.byName.get(name);
    if (existing !== undefined) return { consumer: existing, created: RESOLVED };
    if (this.byName.size >= this.ctx.limits.maxConsumersPerStream) {
      throw new EventBusError(ErrorCodes.TOO_MANY_CONSUMERS, `stream '${this.stream.name}' has the maximum of ${this.ctx.limits.maxConsumersPerStream} consumers (consumers.max_consumers_per_stream)`);
    }
    const startOffset = start === undefined ? this.log.firstOffset : resolveStart(start, this.log);
    const consumer = new Consumer(this.nextId++, name, Date.now(), startOffset);
    this.byId.set(consumer.id, consumer);
    this.byName.set(name, consumer);
    const records = [encodeConsumer(consumer.id, consumer.createdMs, name)];
    if (start !== undefined || !isEmptyFilter(filter)) {
      const setup: ConsumerSetup = { start: start ?? START_ALL, startOffset, ...(isEmptyFilter(filter) ? {} : { filter: filter! }) };
      this.setups.set(consumer.id, setup);
      records.push(encodeSetup(consumer.id, startOffset, encodeSetupSpec(setup)));
    }
    return { consumer, created: this.write(records) };
  }

  private batchSize(requested: number | undefined): number {
    const { defaultBatchEvents, maxBatchEvents } = this.ctx.limits;
    if (requested === undefined) return defaultBatchEvents;
    return Math.min(Math.max(1, Math.floor(requested)), maxBatchEvents);
  }

  /** Whether the outstanding event at `offset`, delivered `deliveries` times, goes to the dead-letter stream rather than out again. */
  private usedUp(offset: number, deliveries: number): boolean {
    const max = this.ctx.limits.maxDeliveries;
    return (max > 0 && deliveries >= max) || this.damageAt(offset) !== undefined; // damaged: can never be delivered again
  }

  /**
   * The outstanding events due for `kind`, in offset order: up to `batch` to deliver, and up to
   * `batch` that used up their deliveries (or are damaged) to move to the dead-letter stream. The
   * two are counted apart, so moves that keep failing never hold up the events due behind them.
   */
  private dueSplit(consumer: Consumer, kind: 'redeliver' | 'retry', nowMs: number, batch: number): { deliver: number[]; deadLetter: number[] } {
    const deliver: number[] = [];
    const deadLetter: number[] = [];
    consumer.forEachDue(kind, nowMs, (offset, entry) => {
      const list = this.usedUp(offset, entry.deliveries) ? deadLetter : deliver;
      if (list.length < batch) list.push(offset);
      return deliver.length < batch || deadLetter.length < batch;
    });
    return { deliver, deadLetter };
  }

  /**
   * Moves events that used up their deliveries to the stream's dead-letter stream (created on
   * first use), then records that. Each record is appended on its own (in one turn: one fsync
   * round covers them) with the msg_id of its move, so a move made again after a crash (within the
   * duplicate window) stores nothing twice, and one that fails leaves only its own event
   * outstanding, to be tried again.
   */
  private async moveToDeadLetters(consumer: Consumer, offsets: number[]): Promise<void> {
    if (offsets.length === 0) return;
    const now = new Date().toISOString();
    const letters: DeadLetter[] = [];
    const moving: number[] = [];
    let failure: unknown = null;
    for (const offset of offsets) {
      try {
        letters.push({ msgId: deadLetterMsgId(this.stream.id, offset, consumer.name), payload: this.deadLetterPayload(consumer, offset, now) });
        moving.push(offset);
        consumer.entries.get(offset)!.deadLettering = true;
      } catch (error) {
        failure ??= error;
      }
    }
    let results: (unknown | null)[];
    try {
      results = letters.length === 0 ? [] : await this.ctx.deadLetter(this.stream.name, letters);
    } catch (error) {
      results = letters.map(() => error);
    }
    const moved: number[] = [];
    for (let i = 0; i < moving.length; i++) {
      if (results[i] === null) {
        moved.push(moving[i]!);
        continue;
      }
      failure ??= results[i];
      const entry = consumer.entries.get(moving[i]!);
      if (entry !== undefined) entry.deadLettering = false;
    }
    if (failure !== null) {
      this.ctx.logger.error({ stream: this.stream.name, consumer: consumer.name, err: failure, failed: offsets.length - moved.length, moved: moved.length }, 'could not move events to the dead-letter stream; they stay due');
    }
    // Shown in the consumer's stats, so that an embedder sees why events stay due.
    consumer.deadLetterFailure = failure === null ? null : failure instanceof EventBusError ? { code: failure.code, reason: failure.reason } : { code: ErrorCodes.INTERNAL, reason: String(failure) };
    if (moved.length === 0 || this.closed) return;
    consumer.applyDeadLetter(moved);
    await this.write([encodeDeadLetter(consumer.id, moved)]);
  }

  /** The dead-letter record of `offset` (dead-letter-record.ts). */
  private deadLetterPayload(consumer: Consumer, offset: number, nowIso: string): Buffer {
    const origin = {
      id: this.eventId(offset),
      stream: this.stream.name,
      stream_id: this.stream.id,
      offset,
      consumer: consumer.name,
      delivery_count: consumer.entries.get(offset)!.deliveries,
    };
    const damage = this.damageAt(offset);
    return damage === undefined ? deadLetterPayload(origin, this.readOne(offset), nowIso, this.ctx.maxEventBytes) : damagedDeadLetterPayload(origin, damage, nowIso);
  }

  private readOne(offset: number): StoredEvent {
    const [event] = this.log.read(offset, 1, 1);
    if (event === undefined || event.offset !== offset) {
      throw new EventBusError(ErrorCodes.CORRUPT_DATA, `event at offset ${offset} of stream '${this.stream.name}' could not be read`);
    }
    return event;
  }

  private write(records: Buffer[]): Promise<unknown> {
    if (records.length === 0) return RESOLVED;
    const written = this.journal.append(records);
    this.ctx.markDirty(this.journal);
    return written;
  }

  private eventId(offset: number): string {
    return Number.isSafeInteger(offset) && offset >= 0 ? eventIdOf(this.stream.number, this.stream.idEpochs, offset) : String(offset);
  }

  private checkUsable(): void {
    if (this.closed) throw this.closedError;
    this.journal.checkUsable();
  }

  /**
   * Journal damage in the form of stream damage (stats): no event is unreadable because of it
   * (a consumer's change was lost, its events come back), so it covers no offset.
   */
  journalDamage(): Damage[] {
    return this.damage.map((d) => ({ file: d.file, position: d.position, firstOffset: 0, lastOffset: -1, reason: `consumer journal: ${d.reason}` }));
  }

  /** The state of every consumer as STATE records (what a compacted journal holds). */
  stateRecords(): Buffer[] {
    const records: Buffer[] = [];
    for (const consumer of this.byId.values()) {
      records.push(encodeState(consumer));
      const setup = this.setups.get(consumer.id);
      if (setup !== undefined) records.push(encodeSetup(consumer.id, setup.startOffset, encodeSetupSpec(setup)));
    }
    return records;
  }

  /** The journal, for flushing, syncing and snapshots. */
  get journalFile(): ConsumerJournal {
    return this.journal;
  }

  /** Resolves when no journal write of these consumers is in flight. */
  idle(): Promise<void> {
    return this.journal.idle();
  }

  /** Closes the consumers; later operations fail with `reason` (deleted stream, closed store). */
  close(reason = new EventBusError(ErrorCodes.CLOSED, 'the stream was closed')): void {
    this.closed = true;
    this.closedError = reason;
    this.polls.cancel(); // long-polls end now, and find the consumers closed
    this.journal.close(reason);
  }
}

/** A stored event as delivered (an object of one shape: spreading the stored one made each delivery slower). */
function deliveredEvent(event: StoredEvent, status: EventStatus, deliveryCount: number): DeliveredEvent {
  return { offset: event.offset, timestampMs: event.timestampMs, payload: event.payload, attributes: event.attributes, status, deliveryCount };
}

/** `promise`, with its rejection handled for now: it is awaited later, after other awaits. */
function settledLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}
