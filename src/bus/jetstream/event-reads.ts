/**
 * `get_stream_events` on JetStream, as on the engine (src/bus/event-reads.ts): from an offset, the
 * end or a time, forward or backward, by key (in version order) or by types.
 *
 * - Messages are read through an ephemeral pull consumer (no acks, in memory, one replica) on the
 *   stream leader's node (reader-placement.ts; when none lands there, got from the leader one by
 *   one) from a start sequence, optionally filtered to one key's subject, until a sequence known
 *   from the stream's leader.
 * - Backward pages: sequences are gap-free, so the events below `top` are read forward in
 *   windows below it and handed out reversed (newest first), the windows growing fourfold, until
 *   the page is full by count or bytes.
 * - Time: `from_time` goes by `created_at` (the writing gateway's clock), found by a binary
 *   search over sequences: exact for the writes of one gateway, off by at most the clock skew
 *   between gateways for events written through several at the same moment.
 * - Keys: versions are consecutive per key and increase with the sequence, so the sequence of a
 *   version is found by a binary search over the key's subject (`next_by_subj` gets from the
 *   leader), then read forward (backward: the versions below read forward and reversed). From
 *   `from_offset` or `from_time`, the key's first message at or after the position is one
 *   `next_by_subj` get.
 * - Types: pages scanned until enough match, at most {@link MAX_SCAN_EVENTS} events a request.
 */
import { AckPolicy, DeliverPolicy, nanos, type ConsumerConfig, type JetStreamClient, type JetStreamManager, type StoredMsg } from 'nats';
import { ErrorCodes, EventBusError, OriginalReasons } from '../../errors.js';
import { checkFilter } from '../../storage/index.js';
import type { ReadQuery } from '../event-store.js';
import type { EventPage, EventView } from '../results.js';
import type { CatalogEntry } from './catalog.js';
import type { ResolvedJetStreamOptions } from './jetstream-options.js';
import { fromStored, viewOf, type ReadMsg } from './message-view.js';
import { timeOf } from './writer.js';
import { Headers, eventSubject, jsStreamName } from './names.js';
import { JsErrors, backendError, jsErrorCode } from './nats-errors.js';
import { addReaderOnLeader, type PlacedReader } from './reader-placement.js';

/** A backward page reads this many events below its top first, then four times as many each time. */
const FIRST_WINDOW_EVENTS = 16;
/** Most events a `types` read looks at in one request (as the engine's). */
export const MAX_SCAN_EVENTS = 10_000;
/** Gets sent at once when a page is read from the leader message by message. */
const GET_BATCH = 64;

/** What reads need from the store. */
export interface ReadHooks {
  /** The stream's state from its leader, and the leader's server name (STREAM_NOT_FOUND when gone). */
  state(entry: CatalogEntry): Promise<{ messages: number; first_seq: number; last_seq: number; leader?: string | undefined }>;
  /** The consumer's ack floor (a stream sequence), 0 when it does not exist. */
  ackFloor(entry: CatalogEntry, consumer: string): Promise<number>;
}

/** A page of messages (oldest or newest first, as read) and where the next page starts. */
interface RawPage {
  msgs: ReadMsg[];
  nextOffset: number;
  atEnd: boolean;
  nextVersion?: number;
}

export interface Bounds {
  /** First stored sequence (last + 1 when empty). */
  firstSeq: number;
  lastSeq: number;
  /** The stream leader's server name when the page started (readers are placed on its node). */
  leader?: string | undefined;
}

type Limits = { maxEvents: number; maxBytes: number };

export class EventReads {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly storePart: () => number,
    private readonly options: ResolvedJetStreamOptions,
    private readonly hooks: ReadHooks,
  ) {}

  async page(entry: CatalogEntry, query: ReadQuery): Promise<EventPage> {
    checkFilter({ ...(query.key === undefined ? {} : { key: query.key }), ...(query.types === undefined ? {} : { types: query.types }) });
    const state = await this.hooks.state(entry);
    const bounds: Bounds = { firstSeq: state.messages === 0 ? state.last_seq + 1 : state.first_seq, lastSeq: state.last_seq, leader: state.leader };
    const limits = { maxEvents: query.maxEvents, maxBytes: query.maxBytes };
    let raw: RawPage;
    if (query.key !== undefined) raw = await this.keyPage(entry, bounds, query, query.key, limits);
    else if (query.types !== undefined) raw = await this.typesPage(entry, bounds, query, query.types, limits);
    else raw = await this.plainPage(entry, bounds, query, limits);
    const ackFloor = raw.msgs.length === 0 ? 0 : await this.hooks.ackFloor(entry, query.consumer);
    const events: EventView[] = raw.msgs.map((msg) => viewOf(entry, this.storePart(), msg, msg.seq <= ackFloor ? 1 : 0, 0));
    const page: EventPage = { events, nextOffset: raw.nextOffset, atEnd: raw.atEnd };
    if (raw.nextVersion !== undefined) page.nextVersion = raw.nextVersion;
    return page;
  }

  /** A page by offset (no filter); offsets are sequences − 1. */
  private async plainPage(entry: CatalogEntry, b: Bounds, from: ReadQuery, limits: Limits): Promise<RawPage> {
    const first = b.firstSeq - 1;
    const end = b.lastSeq;
    if (from.direction === 'backward') {
      let top: number;
      if (from.fromEnd === true) top = end - 1;
      else if (from.fromTimeMs !== undefined) top = (await this.offsetAtTime(entry, b, from.fromTimeMs + 1)) - 1;
      else top = Math.min(from.fromOffset, end - 1);
      const msgs = top < first ? [] : await this.backward(entry, b, top + 1, limits);
      const nextOffset = msgs.length > 0 ? msgs[msgs.length - 1]!.seq - 2 : first - 1;
      return { msgs, nextOffset, atEnd: nextOffset < first };
    }
    let start: number;
    if (from.fromEnd === true) start = end;
    else if (from.fromTimeMs !== undefined) start = await this.offsetAtTime(entry, b, from.fromTimeMs);
    else start = Math.min(Math.max(from.fromOffset, first), end);
    const msgs = start >= end ? [] : await this.forward(entry, b, start + 1, Math.min(end, start + limits.maxEvents), limits.maxBytes);
    const nextOffset = msgs.length > 0 ? msgs[msgs.length - 1]!.seq : start;
    return { msgs, nextOffset, atEnd: nextOffset >= end };
  }

  /** Events of `types`: plain pages scanned until enough match, the budget is spent or the end is reached. */
  private async typesPage(entry: CatalogEntry, b: Bounds, from: ReadQuery, types: readonly string[], limits: Limits): Promise<RawPage> {
    const backward = from.direction === 'backward';
    const msgs: ReadMsg[] = [];
    let bytes = 0;
    let scanned = 0;
    let position: ReadQuery = { ...from, key: undefined, types: undefined };
    for (;;) {
      const page = await this.plainPage(entry, b, position, { maxEvents: Math.min(1000, MAX_SCAN_EVENTS - scanned), maxBytes: limits.maxBytes });
      for (const msg of page.msgs) {
        if (types.includes(msg.headers?.get(Headers.type) ?? '')) {
          if (msgs.length >= limits.maxEvents || (msgs.length > 0 && bytes + msg.data.byteLength > limits.maxBytes)) {
            return { msgs, nextOffset: msg.seq - 1, atEnd: false };
          }
          msgs.push(msg);
          bytes += msg.data.byteLength;
        }
        scanned += 1;
        const next = backward ? msg.seq - 2 : msg.seq;
        position = { ...position, fromOffset: next, fromEnd: false, fromTimeMs: undefined };
      }
      if (page.atEnd || page.msgs.length === 0) return { msgs, nextOffset: page.nextOffset, atEnd: page.atEnd };
      if (scanned >= MAX_SCAN_EVENTS || msgs.length >= limits.maxEvents) return { msgs, nextOffset: page.nextOffset, atEnd: false };
    }
  }

  /** One key's events in version order (or newest first), optionally of `types` too. */
  private async keyPage(entry: CatalogEntry, b: Bounds, from: ReadQuery, key: string, limits: Limits): Promise<RawPage> {
    const jsName = jsStreamName(entry.number);
    const subject = eventSubject(jsName, key);
    const end = b.lastSeq;
    const head = await this.lastOfSubject(jsName, subject);
    const last = head === null ? -1 : versionOf(head.msgVersion);
    const backward = from.direction === 'backward';
    const start = await this.keyStartVersion(entry, b, jsName, subject, from, last);
    if (start < 0 || head === null) return { msgs: [], nextOffset: end, atEnd: true, nextVersion: backward ? -1 : last + 1 };
    if (!backward && start > last) return { msgs: [], nextOffset: end, atEnd: true, nextVersion: last + 1 };
    const matches = (msg: ReadMsg) => from.types === undefined || from.types.includes(msg.headers?.get(Headers.type) ?? '');
    if (backward) {
      const topSeq = start === last ? head.seq : await this.seqOfVersion(jsName, subject, b, start, head.seq);
      const read = await this.keyBackward(entry, jsName, subject, b, start, topSeq, limits);
      const nextVersion = read.length > 0 ? versionOf(read[read.length - 1]!.headers?.get(Headers.version)) - 1 : -1;
      return { msgs: read.filter(matches), nextOffset: end, atEnd: nextVersion < 0, nextVersion };
    }
    const fromSeq = start === 0 ? b.firstSeq : await this.seqOfVersion(jsName, subject, b, start, head.seq);
    const read = await this.forward(entry, b, fromSeq, head.seq, limits.maxBytes, subject, limits.maxEvents);
    const nextVersion = read.length > 0 ? versionOf(read[read.length - 1]!.headers?.get(Headers.version)) + 1 : start;
    return { msgs: read.filter(matches), nextOffset: end, atEnd: nextVersion > last, nextVersion };
  }

  /**
   * Messages from `fromSeq` up to `toSeq` (inclusive; both sequences), oldest first, cut at
   * `maxBytes` (one message always) and `maxEvents`. With `subject`, only that subject's. Read
   * through a reader on the leader's node; when none could be placed there, got from the leader
   * one by one (reader-placement.ts).
   */
  private async forward(entry: CatalogEntry, b: Bounds, fromSeq: number, toSeq: number, maxBytes: number, subject?: string, maxEvents = toSeq - fromSeq + 1): Promise<ReadMsg[]> {
    const msgs: ReadMsg[] = [];
    if (toSeq < fromSeq || maxEvents < 1) return msgs;
    let bytes = 0;
    const take = (msg: ReadMsg): boolean => {
      if (msg.seq > toSeq || (msgs.length > 0 && bytes + msg.data.byteLength > maxBytes)) return false;
      bytes += msg.data.byteLength;
      msgs.push(msg);
      return msg.seq < toSeq && msgs.length < maxEvents;
    };
    const start = { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq, ...(subject === undefined ? {} : { filter_subject: subject }) };
    await this.withReader(entry, start, b.leader, async (jsName, reader) => {
      if (reader === null) {
        await this.getForward(jsName, fromSeq, toSeq, subject, take);
        return;
      }
      const iterator = this.js.fetch(jsName, reader, { batch: Math.min(maxEvents, toSeq - fromSeq + 1), expires: this.options.requestTimeoutMs });
      for await (const msg of iterator) {
        if (!take(msg)) {
          iterator.stop();
          break;
        }
      }
    });
    return msgs;
  }

  /**
   * Messages from `fromSeq` to `toSeq` got from the stream leader one by one (a subject's: each
   * the next of it), handed to `take` in order until it returns false.
   */
  private async getForward(jsName: string, fromSeq: number, toSeq: number, subject: string | undefined, take: (msg: ReadMsg) => boolean): Promise<void> {
    for (let seq = fromSeq; seq <= toSeq; ) {
      if (subject !== undefined) {
        const found = await this.getMessage(jsName, { next_by_subj: subject, seq });
        if (found === null || !take(fromStored(found))) return;
        seq = found.seq + 1;
        continue;
      }
      // Gaps cannot occur (sequences are gap-free below the last), so a batch of gets at once.
      const batch = Array.from({ length: Math.min(GET_BATCH, toSeq - seq + 1) }, (_, i) => this.getMessage(jsName, { seq: seq + i }));
      for (const found of await Promise.all(batch)) {
        if (found === null || !take(fromStored(found))) return;
      }
      seq += batch.length;
    }
  }

  /**
   * Messages from `topSeq` down (to `firstSeq` at most), newest first, within `limits` (one
   * message always). Read forward in windows below the top, each four times the last, so a page
   * of large events never reads much more than it returns.
   */
  private async backward(entry: CatalogEntry, b: Bounds, topSeq: number, limits: Limits): Promise<ReadMsg[]> {
    const firstSeq = b.firstSeq;
    const out: ReadMsg[] = [];
    const bytes = { total: 0 };
    let window = FIRST_WINDOW_EVENTS;
    for (let hi = topSeq; hi >= firstSeq && out.length < limits.maxEvents; window *= 4) {
      const lo = Math.max(firstSeq, hi - Math.min(window, limits.maxEvents - out.length) + 1);
      const read = (await this.forward(entry, b, lo, hi, Number.MAX_SAFE_INTEGER)).reverse();
      if (!takeNewestFirst(out, read, bytes, limits)) break;
      hi = lo - 1;
    }
    return out;
  }

  /** One key's messages from version `top` (at `topSeq`) down, newest first, within `limits`, in windows as {@link backward}. */
  private async keyBackward(entry: CatalogEntry, jsName: string, subject: string, b: Bounds, top: number, topSeq: number, limits: Limits): Promise<ReadMsg[]> {
    const out: ReadMsg[] = [];
    const bytes = { total: 0 };
    let window = FIRST_WINDOW_EVENTS;
    let hiVersion = top;
    let hiSeq = topSeq; // read up to and including this
    for (; hiVersion >= 0 && hiSeq >= b.firstSeq && out.length < limits.maxEvents; window *= 4) {
      const loVersion = Math.max(0, hiVersion - Math.min(window, limits.maxEvents - out.length) + 1);
      const loSeq = loVersion === 0 ? b.firstSeq : await this.seqOfVersion(jsName, subject, b, loVersion, hiSeq + 1);
      const read = (await this.forward(entry, b, loSeq, hiSeq, Number.MAX_SAFE_INTEGER, subject)).reverse();
      if (!takeNewestFirst(out, read, bytes, limits)) break;
      hiVersion = loVersion - 1;
      hiSeq = loSeq - 1;
    }
    return out;
  }

  /**
   * The offset of the first event whose `created_at` is at or after `timeMs`; the end when none.
   * A binary search over sequences with gets from the leader: `created_at` (the writing
   * gateway's clock, Eb-Time) rises with the sequence for the writes of one gateway, which
   * stores them in the order it stamped them (write-lane.ts).
   */
  async offsetAtTime(entry: CatalogEntry, b: Bounds, timeMs: number): Promise<number> {
    const jsName = jsStreamName(entry.number);
    let lo = b.firstSeq;
    let hi = b.lastSeq + 1; // the answer is in [lo, hi]; hi = none
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const found = await this.getMessage(jsName, { seq: mid });
      if (found !== null && timeOf(found) >= timeMs) hi = mid;
      else lo = mid + 1;
    }
    return lo - 1;
  }

  /** The sequence of the first message of `subject` whose version is at least `version` (`atMostSeq` when none is before it). */
  private async seqOfVersion(jsName: string, subject: string, b: Bounds, version: number, atMostSeq: number): Promise<number> {
    let best = atMostSeq;
    let lo = b.firstSeq;
    let top = atMostSeq - 1;
    while (lo <= top) {
      const mid = Math.floor((lo + top) / 2);
      const found = await this.getMessage(jsName, { next_by_subj: subject, seq: mid });
      if (found === null || found.seq > top) {
        top = mid - 1;
        continue;
      }
      if (versionOf(found.header.get(Headers.version)) >= version) {
        best = found.seq;
        top = mid - 1;
      } else {
        lo = found.seq + 1;
      }
    }
    return best;
  }

  /**
   * Where a read by key starts: `from_version` (forward, at most one past the last), or the key's
   * version at `from_offset` or `from_time` (the first of the key's messages at or after the
   * position, one `next_by_subj` get; backward, the one below the first after it), or the end.
   */
  private async keyStartVersion(entry: CatalogEntry, b: Bounds, jsName: string, subject: string, from: ReadQuery, last: number): Promise<number> {
    const backward = from.direction === 'backward';
    if (from.fromVersion !== undefined) return backward ? Math.min(from.fromVersion, last) : Math.min(from.fromVersion, last + 1);
    if (from.fromEnd === true) return backward ? last : last + 1;
    const atOrAfter = async (offset: number) => {
      const found = await this.getMessage(jsName, { next_by_subj: subject, seq: Math.max(offset, 0) + 1 });
      return found === null ? last + 1 : versionOf(found.header.get(Headers.version));
    };
    if (from.fromTimeMs !== undefined) {
      return backward ? (await atOrAfter(await this.offsetAtTime(entry, b, from.fromTimeMs + 1))) - 1 : atOrAfter(await this.offsetAtTime(entry, b, from.fromTimeMs));
    }
    return backward ? (await atOrAfter(from.fromOffset + 1)) - 1 : atOrAfter(from.fromOffset);
  }

  private async lastOfSubject(jsName: string, subject: string): Promise<{ seq: number; msgVersion: string } | null> {
    const found = await this.getMessage(jsName, { last_by_subj: subject });
    return found === null ? null : { seq: found.seq, msgVersion: found.header.get(Headers.version) };
  }

  /**
   * A stored message from the stream's leader, or null when there is none. `next_by_subj` (the
   * first message of a subject at or after `seq`) is in the server's API since 2.9 though not in
   * nats.js 2.x's types; the client passes the request through as it is.
   */
  private async getMessage(jsName: string, query: { seq: number; next_by_subj?: string } | { last_by_subj: string }): Promise<StoredMsg | null> {
    try {
      return await this.jsm.streams.getMessage(jsName, query as Parameters<JetStreamManager['streams']['getMessage']>[1]);
    } catch (error) {
      if (jsErrorCode(error) === JsErrors.noMessage) return null;
      throw backendError(`reading stream ${jsName}`, error);
    }
  }

  /**
   * Runs `read` with a fresh ephemeral reader on the leader's node, deleted after; with null
   * when none could be placed there (the caller then reads from the leader itself).
   */
  private async withReader(entry: CatalogEntry, start: Partial<ConsumerConfig>, leader: string | undefined, read: (jsName: string, name: string | null) => Promise<void>): Promise<void> {
    const jsName = jsStreamName(entry.number);
    let placed: PlacedReader;
    try {
      placed = await addReaderOnLeader(this.jsm, jsName, {
        ack_policy: AckPolicy.None,
        ...start,
        mem_storage: true,
        num_replicas: 1,
        inactive_threshold: nanos(30_000),
      }, leader);
    } catch (error) {
      if (jsErrorCode(error) === JsErrors.streamNotFound) throw new EventBusError(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(entry.name));
      throw backendError(`reading stream '${entry.name}'`, error);
    }
    try {
      await read(jsName, placed.onLeader ? placed.name : null);
    } finally {
      this.jsm.consumers.delete(jsName, placed.name).catch(() => {});
    }
  }
}

/** Appends `read` (newest first) to `out` within `limits`; false once the page is full. */
function takeNewestFirst(out: ReadMsg[], read: readonly ReadMsg[], bytes: { total: number }, limits: Limits): boolean {
  for (const msg of read) {
    if (out.length >= limits.maxEvents || (out.length > 0 && bytes.total + msg.data.byteLength > limits.maxBytes)) return false;
    out.push(msg);
    bytes.total += msg.data.byteLength;
  }
  return out.length < limits.maxEvents;
}

function versionOf(header: string | undefined): number {
  const version = Number(header);
  return header === undefined || header === '' || !Number.isSafeInteger(version) ? -1 : version;
}
