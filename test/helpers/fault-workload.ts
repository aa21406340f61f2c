/**
 * The workload and the checks of the crash suites (test/fault): writers and consumers that
 * record every acknowledgement the server gives in a {@link Ledger}, and a verification that,
 * after a restart, reads everything back over the wire and holds the server to each of them.
 *
 * What the ledger holds the server to:
 *
 * - Writes: every acknowledged `write_event` is at its offset with exactly its bytes; offsets run
 *   from 0 to `next_offset` with no gap; every stored event is one the writers sent, and none is
 *   stored twice. Writes in flight at the kill may be there or not, but at most once.
 * - Visibility: every event a reader or consumer was ever handed stays, unchanged (visibility
 *   follows durability: nothing a crash can take back is shown).
 * - Marks: an event acknowledged with status 1 is never delivered again and reads as status 1;
 *   one marked 2 reads as status 2 until it is delivered again; `process_events` never hands out
 *   an event twice (we never mark 0); every delivered event not acknowledged comes back through
 *   `retry_events` after a restart (every outstanding delivery is then due at once); every offset
 *   below a consumer's cursor was delivered to it (nothing skipped); after the verification has
 *   acknowledged everything, the consumer's figures agree (nothing pending, ack floor = cursor).
 *
 * The workload is randomised from a seed, but the moment of the kill and the interleaving of
 * the processes are real time: a seed replays the same choices, not the same schedule.
 */
import { EventBusClient } from '../../src/client/index.js';
import type { Event } from '../../src/client/index.js';
import { ErrorCodes, isEventBusError } from '../../src/errors.js';
import type { Random } from './random.js';

/** Streams and consumers of the workload. */
export interface Topology {
  streams: string[];
  consumers: { stream: string; name: string; workers: number }[];
}

export const DEFAULT_TOPOLOGY: Topology = {
  streams: ['orders', 'payments', 'audit'],
  consumers: [
    { stream: 'orders', name: 'billing', workers: 2 },
    { stream: 'orders', name: 'shipping', workers: 1 },
    { stream: 'payments', name: 'ledger', workers: 1 },
  ],
};

/** What the suites measured. */
export interface Figures {
  cycles: number;
  /** Cycles whose kill came before the server listened or during the verification. */
  earlyKills: number;
  writesSent: number;
  writesAcknowledged: number;
  /** Stored events read back and checked, summed over every verification. */
  eventsChecked: number;
  /** Acknowledged writes found at their offset with their bytes, summed over every verification. */
  acknowledgedWritesChecked: number;
  deliveries: number;
  marksAcknowledged: number;
  /** Acknowledged marks found in effect (status 1 or 2), summed over every verification. */
  marksChecked: number;
  /** Deliveries outstanding at a kill that came back through retry_events after the restart. */
  redeliveredAfterRestart: number;
  /** Distinct events stored at the end. */
  eventsStored: number;
  /** Time spent starting servers (spawn to listening), verifying, and running workloads, ms. */
  startMs: number;
  verifyMs: number;
  workloadMs: number;
}

function newFigures(): Figures {
  return {
    cycles: 0, earlyKills: 0, writesSent: 0, writesAcknowledged: 0, eventsChecked: 0, acknowledgedWritesChecked: 0, deliveries: 0,
    marksAcknowledged: 0, marksChecked: 0, redeliveredAfterRestart: 0, eventsStored: 0, startMs: 0, verifyMs: 0, workloadMs: 0,
  };
}

interface StreamLedger {
  name: string;
  /** Every payload sent, acknowledged or not. */
  sent: Set<string>;
  /** Acknowledged writes: offset → payload. */
  acknowledged: Map<number, string>;
  /** Events some reader was handed: offset → payload. */
  visible: Map<number, string>;
  /** Where each stored payload was found (to catch duplicates). */
  foundAt: Map<string, number>;
  /** Verifications read from here on (older offsets are checked by full verifications). */
  checkedBelow: number;
}

interface ConsumerLedger {
  stream: string;
  name: string;
  /** Offsets handed out by process_events (never twice: we never mark 0). */
  processed: Set<number>;
  /** Offsets delivered by anything, ever. */
  delivered: Set<number>;
  /** Delivered and not acknowledged (as far as we know). */
  outstanding: Set<number>;
  /** Mark 1 acknowledged. */
  acknowledged: Set<number>;
  /** Mark 1 sent, its answer not (yet) seen. */
  ackSent: Set<number>;
  /** Mark 2 acknowledged, not delivered since. */
  retryMarked: Set<number>;
  /** Statuses below this were checked by an earlier verification (its cursor then). */
  checkedBelow: number;
  /** The latest delivery of each outstanding offset (a number counting every delivery seen). */
  lastDelivery: Map<number, number>;
  /** Mark 2 sent: the latest delivery of the offset when it was sent. */
  retrySent: Map<number, number>;
  /**
   * retry_events requests sent and not answered. One the kill cut short may have delivered
   * events marked 2 again (they then read as pending, status 0), unbeknown to us.
   */
  retriesUnanswered: number;
}

/** Every acknowledgement the server gave, and every violation found. */
export class Ledger {
  readonly streams = new Map<string, StreamLedger>();
  readonly consumers: ConsumerLedger[] = [];
  readonly violations: string[] = [];
  readonly figures = newFigures();
  /** Violations by kind (the first few of each are kept in full). */
  readonly counts = new Map<string, number>();

  constructor(readonly topology: Topology) {
    for (const name of topology.streams) {
      this.streams.set(name, { name, sent: new Set(), acknowledged: new Map(), visible: new Map(), foundAt: new Map(), checkedBelow: 0 });
    }
    for (const c of topology.consumers) {
      this.consumers.push({
        stream: c.stream, name: c.name, processed: new Set(), delivered: new Set(), outstanding: new Set(),
        acknowledged: new Set(), ackSent: new Set(), retryMarked: new Set(), lastDelivery: new Map(), retrySent: new Map(), retriesUnanswered: 0, checkedBelow: 0,
      });
    }
  }

  violation(kind: string, detail: string): void {
    const n = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, n);
    if (n <= 5) this.violations.push(`${kind}: ${detail}`);
  }

  /** Total violations found. */
  get violationCount(): number {
    let total = 0;
    for (const n of this.counts.values()) total += n;
    return total;
  }

  consumer(stream: string, name: string): ConsumerLedger {
    return this.consumers.find((c) => c.stream === stream && c.name === name)!;
  }

  sent(stream: string, payload: string): void {
    this.streams.get(stream)!.sent.add(payload);
    this.figures.writesSent += 1;
  }

  writeAcknowledged(stream: string, offset: number, payload: string): void {
    const s = this.streams.get(stream)!;
    const before = s.acknowledged.get(offset);
    if (before !== undefined) this.violation('offset given twice', `${stream} offset ${offset} acknowledged for ${before} and for ${payload}`);
    s.acknowledged.set(offset, payload);
    this.figures.writesAcknowledged += 1;
  }

  /** Checks an event handed to a reader against what was written; returns its payload text. */
  seen(stream: string, event: Event, how: string): string {
    const s = this.streams.get(stream)!;
    const text = JSON.stringify(event.body);
    const offset = event.offset;
    const acknowledged = s.acknowledged.get(offset);
    if (acknowledged !== undefined && acknowledged !== text) this.violation('payload mismatch', `${how}: ${stream} offset ${offset} holds ${text}, acknowledged ${acknowledged}`);
    const visible = s.visible.get(offset);
    if (visible !== undefined && visible !== text) this.violation('visible event changed', `${how}: ${stream} offset ${offset} holds ${text}, was ${visible}`);
    if (!s.sent.has(text)) this.violation('event never written', `${how}: ${stream} offset ${offset} holds ${text}`);
    const at = s.foundAt.get(text);
    if (at !== undefined && at !== offset) this.violation('duplicate event', `${how}: ${stream} payload ${text} at offsets ${at} and ${offset}`);
    s.foundAt.set(text, offset);
    s.visible.set(offset, text);
    return text;
  }

  /** An event delivered to a consumer by process_events or retry_events. */
  delivered(c: ConsumerLedger, event: Event, via: 'process' | 'retry', afterRestart: boolean): void {
    const offset = event.offset;
    this.seen(c.stream, event, `${via}_events to ${c.name}`);
    this.figures.deliveries += 1;
    if (c.acknowledged.has(offset)) this.violation('acknowledged event delivered again', `${c.stream}/${c.name} offset ${offset} by ${via}_events (delivery ${event.deliveryCount})`);
    if (via === 'process') {
      if (c.delivered.has(offset)) this.violation('process_events delivered an event twice', `${c.stream}/${c.name} offset ${offset}`);
      if (event.deliveryCount !== 1) this.violation('wrong delivery count', `${c.stream}/${c.name} offset ${offset}: process_events says ${event.deliveryCount}, expected 1`);
      c.processed.add(offset);
    } else {
      if (!c.outstanding.has(offset) && !afterRestart) this.violation('retry_events delivered an event not outstanding', `${c.stream}/${c.name} offset ${offset}`);
      if (event.deliveryCount < 2) this.violation('wrong delivery count', `${c.stream}/${c.name} offset ${offset}: retry_events says ${event.deliveryCount}, expected 2 or more`);
    }
    c.delivered.add(offset);
    c.outstanding.add(offset);
    c.retryMarked.delete(offset);
    c.lastDelivery.set(offset, ++this.deliveriesSeen);
  }

  private deliveriesSeen = 0;

  markSent(c: ConsumerLedger, offsets: readonly number[], status: 1 | 2): void {
    for (const o of offsets) {
      if (status === 1) c.ackSent.add(o);
      else c.retrySent.set(o, c.lastDelivery.get(o) ?? 0);
    }
  }

  markAcknowledged(c: ConsumerLedger, offsets: readonly number[], status: 1 | 2): void {
    this.figures.marksAcknowledged += offsets.length;
    for (const o of offsets) {
      if (status === 1) {
        c.acknowledged.add(o);
        c.outstanding.delete(o);
        c.retryMarked.delete(o);
        c.ackSent.delete(o);
        c.lastDelivery.delete(o);
        c.retrySent.delete(o);
      } else {
        // Another worker's retry_events may have delivered it again, after the server applied
        // this mark but before its answer reached us: then the mark is no longer in effect.
        const sentAfter = c.retrySent.get(o);
        c.retrySent.delete(o);
        if (sentAfter === (c.lastDelivery.get(o) ?? 0)) c.retryMarked.add(o);
      }
    }
  }

  /** Checks the status a consumer reports for `offset` against the marks acknowledged. */
  checkStatus(c: ConsumerLedger, offset: number, status: number): void {
    if (c.acknowledged.has(offset)) {
      this.figures.marksChecked += 1;
      if (status !== 1) this.violation('acknowledged mark lost', `${c.stream}/${c.name} offset ${offset} reads as status ${status} after mark 1 was acknowledged`);
      return;
    }
    if (status === 1 && !c.ackSent.has(offset)) {
      this.violation('event processed that was never acknowledged', `${c.stream}/${c.name} offset ${offset} reads as status 1`);
    }
    if (c.retryMarked.has(offset)) {
      this.figures.marksChecked += 1;
      const redelivered = status === 0 && c.retriesUnanswered > 0;
      if (status !== 2 && !redelivered && !(status === 1 && c.ackSent.has(offset))) this.violation('retry mark lost', `${c.stream}/${c.name} offset ${offset} reads as status ${status} after mark 2 was acknowledged`);
    }
  }
}

function isConnectionError(error: unknown): boolean {
  return isEventBusError(error, ErrorCodes.CONNECTION_ERROR) || isEventBusError(error, ErrorCodes.CLOSED) || isEventBusError(error, ErrorCodes.TIMEOUT);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A workload running against one server process until it dies (or {@link stop}). */
export interface RunningWorkload {
  /** Resolves once every worker has ended (after the server died). */
  finished: Promise<void>;
  /** Ends the workers at their next step (without killing anything). */
  stop(): void;
}

export interface WorkloadOptions {
  port: number;
  ledger: Ledger;
  random: Random;
  /** Tags payloads, so every payload of the whole run is unique. */
  cycle: number;
  writers?: number;
  /** Requests a writer keeps in flight at most. Default 32. */
  maxDepth?: number;
}

/** Starts writers and consumer workers. They record every acknowledgement in the ledger. */
export function startWorkload(options: WorkloadOptions): RunningWorkload {
  const { port, ledger, random, cycle } = options;
  const topology = ledger.topology;
  let stopped = false;
  const workers: Promise<void>[] = [];
  const writers = options.writers ?? 3;
  const unexpected = (who: string, error: unknown) => {
    if (isConnectionError(error)) return;
    ledger.violation('unexpected error', `${who}: ${(error as Error).message}`);
  };

  for (let w = 0; w < writers; w++) {
    const depth = random.int(1, options.maxDepth ?? 32);
    const seed = random.int(0, 2 ** 31);
    workers.push((async () => {
      const r = rng(seed);
      const client = await connectOrNull(port);
      if (client === null) return;
      let dead = false;
      let n = 0;
      const inflight = new Set<Promise<void>>();
      try {
        while (!stopped && !dead) {
          while (inflight.size < depth && !dead && !stopped) {
            const stream = topology.streams[Math.floor(r() * topology.streams.length)]!;
            // Mostly small; some large enough that a few fill a 4 KiB segment.
            const padLength = r() < 0.05 ? 1000 + Math.floor(r() * 2000) : Math.floor(r() * 120);
            const payload = JSON.stringify({ c: cycle, w, n: n++, p: 'x'.repeat(padLength) });
            ledger.sent(stream, payload);
            const request = client.writeEventJson(stream, payload).then(
              (ack) => ledger.writeAcknowledged(stream, ack.offset, payload),
              (error: unknown) => {
                dead = true;
                unexpected(`write_event to ${stream}`, error);
              },
            );
            inflight.add(request);
            void request.finally(() => inflight.delete(request));
          }
          if (inflight.size > 0) await Promise.race(inflight);
        }
        await Promise.all(inflight);
      } finally {
        client.close().catch(() => {});
      }
    })());
  }

  for (const spec of topology.consumers) {
    const c = ledger.consumer(spec.stream, spec.name);
    for (let k = 0; k < spec.workers; k++) {
      const seed = random.int(0, 2 ** 31);
      workers.push((async () => {
        const r = rng(seed);
        const client = await connectOrNull(port);
        if (client === null) return;
        try {
          while (!stopped) {
            const retry = r() < 0.2;
            const maxEvents = 1 + Math.floor(r() * 50);
            if (retry) c.retriesUnanswered += 1;
            const delivery = retry
              ? await client.retryEvents(spec.stream, { consumer: spec.name, maxEvents })
              : await client.processEvents(spec.stream, { consumer: spec.name, maxEvents, waitMs: r() < 0.5 ? 20 : 0 });
            if (retry) c.retriesUnanswered -= 1;
            for (const event of delivery.events) ledger.delivered(c, event, retry ? 'retry' : 'process', false);
            if (delivery.events.length === 0) {
              await sleep(2);
              continue;
            }
            const ones: Event[] = [];
            const twos: Event[] = [];
            for (const event of delivery.events) {
              const x = r();
              if (x < (retry ? 0.85 : 0.7)) ones.push(event);
              else if (x < (retry ? 1 : 0.85)) twos.push(event);
            }
            const marks: Promise<void>[] = [];
            for (const [events, status] of [[ones, 1], [twos, 2]] as const) {
              if (events.length === 0) continue;
              const offsets = events.map((e) => e.offset);
              ledger.markSent(c, offsets, status);
              if (r() < 0.5) {
                marks.push(client.markEvent(events.map((e) => e.id), status, { consumer: spec.name }).then(() => ledger.markAcknowledged(c, offsets, status)));
              } else {
                for (const event of events) {
                  marks.push(client.markEvent(event.id, status, { consumer: spec.name }).then(() => ledger.markAcknowledged(c, [event.offset], status)));
                }
              }
            }
            await Promise.all(marks);
          }
        } catch (error) {
          unexpected(`consumer ${spec.stream}/${spec.name}`, error);
        } finally {
          client.close().catch(() => {});
        }
      })());
    }
  }
  return { finished: Promise.all(workers).then(() => {}), stop: () => (stopped = true) };
}

/** A small generator for one worker, seeded from the run's generator (mulberry32). */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  };
}

/** Thrown when the server died during a verification (an early kill): not a violation. */
class Interrupted extends Error {}

async function wire<T>(request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (error) {
    if (isConnectionError(error)) throw new Interrupted('the server went away');
    throw error;
  }
}

const PAGE = 10_000;

/** A client with no request timeout (a server under faults may stall), or null when the server cannot be reached (it is down: a cycle's kill). */
async function connectOrNull(port: number): Promise<EventBusClient | null> {
  try {
    return await EventBusClient.connect({ port, requestTimeoutMs: 0 });
  } catch {
    return null;
  }
}

/**
 * After a restart: reads every stream back (from offset 0 when `full`, else from where the last
 * verification left off), checks it against the ledger, drains every consumer's retry set, checks
 * that nothing outstanding was lost, acknowledges everything outstanding, and checks the
 * consumers' figures. Returns false if the server died meanwhile (an early kill): the next
 * verification repeats what this one could not finish.
 */
export async function verifyAfterRestart(port: number, ledger: Ledger, full: boolean): Promise<boolean> {
  const client = await connectOrNull(port);
  if (client === null) return false;
  try {
    await verifyWith(client, ledger, full);
    return true;
  } catch (error) {
    if (error instanceof Interrupted) return false;
    ledger.violation('verification failed', (error as Error).stack ?? String(error));
    return true;
  } finally {
    await client.close().catch(() => {});
  }
}

async function verifyWith(client: EventBusClient, ledger: Ledger, full: boolean): Promise<void> {
  const topology = ledger.topology;
  for (const s of ledger.streams.values()) {
    const info = await wire(client.getStreamInfo(s.name));
    const next = info.nextOffset;
    if (info.firstOffset !== 0 || info.eventCount !== next) ledger.violation('stream figures', `${s.name}: first_offset ${info.firstOffset}, event_count ${info.eventCount}, next_offset ${next}`);
    for (const [offset, payload] of s.acknowledged) {
      if (offset >= next) ledger.violation('acknowledged event lost', `${s.name} offset ${offset} (${payload}) is past next_offset ${next}`);
    }
    for (const [offset] of s.visible) {
      if (offset >= next) ledger.violation('visible event lost', `${s.name} offset ${offset} was handed to a reader and is past next_offset ${next}`);
    }
    // The events: everything (full), or what is new since the last verification.
    await readRange(client, ledger, s.name, undefined, full ? 0 : s.checkedBelow, next, (event) => {
      ledger.seen(s.name, event, 'get_stream_events');
      ledger.figures.eventsChecked += 1;
      if (s.acknowledged.has(event.offset)) ledger.figures.acknowledgedWritesChecked += 1;
    });
    s.checkedBelow = next;
    // Each consumer's statuses below its cursor: everything (full), or what it was handed since
    // the last verification (above the cursor nothing was delivered: status 0 by definition).
    for (const spec of topology.consumers.filter((x) => x.stream === s.name)) {
      const c = ledger.consumer(spec.stream, spec.name);
      const cursor = info.consumers.find((x) => x.name === c.name)?.cursor ?? 0;
      await readRange(client, ledger, s.name, c.name, full ? 0 : c.checkedBelow, Math.min(cursor, next), (event) => ledger.checkStatus(c, event.offset, event.status));
    }
  }

  for (const c of ledger.consumers) {
    // Every outstanding delivery is due at once after a restart: drain them.
    const returned = new Set<number>();
    for (;;) {
      const delivery = await wire(client.retryEvents(c.stream, { consumer: c.name, maxEvents: 1000 }));
      if (delivery.events.length === 0) break;
      for (const event of delivery.events) {
        if (returned.has(event.offset)) ledger.violation('retry_events returned an event twice', `${c.stream}/${c.name} offset ${event.offset}`);
        returned.add(event.offset);
        ledger.delivered(c, event, 'retry', true);
      }
      const ids = delivery.events.map((e) => e.id);
      const offsets = delivery.events.map((e) => e.offset);
      ledger.markSent(c, offsets, 1);
      await wire(client.markEvent(ids, 1, { consumer: c.name }));
      ledger.markAcknowledged(c, offsets, 1);
    }
    ledger.figures.redeliveredAfterRestart += returned.size;
    // What is still outstanding was neither returned nor (by an unanswered mark 1) acknowledged.
    const stillOutstanding = [...c.outstanding];
    if (stillOutstanding.length > 0) {
      const statuses = await statusesOf(client, c, stillOutstanding);
      for (const offset of stillOutstanding) {
        if (statuses.get(offset) === 1 && c.ackSent.has(offset)) {
          ledger.markAcknowledged(c, [offset], 1);
          continue;
        }
        ledger.violation('delivered event lost', `${c.stream}/${c.name} offset ${offset} was delivered, not acknowledged, and retry_events does not return it (status ${statuses.get(offset)})`);
      }
    }
    c.ackSent.clear();
    c.retrySent.clear();
    c.retriesUnanswered = 0;
    const info = await wire(client.getStreamInfo(c.stream));
    const figures = info.consumers.find((x) => x.name === c.name);
    if (figures === undefined) {
      if (c.delivered.size > 0) ledger.violation('consumer lost', `${c.stream}/${c.name} is not listed by get_stream_info`);
      continue;
    }
    const where = `${c.stream}/${c.name}: cursor ${figures.cursor}, ack_floor ${figures.ackFloor}, pending ${figures.pending}, retry ${figures.retry}, lag ${figures.lag}, next_offset ${info.nextOffset}`;
    if (figures.pending !== 0 || figures.retry !== 0 || figures.ackFloor !== figures.cursor) ledger.violation('consumer figures', `${where} after everything outstanding was acknowledged`);
    if (figures.cursor > info.nextOffset || figures.lag !== info.nextOffset - figures.cursor) ledger.violation('consumer figures', where);
    let highest = -1;
    for (const o of c.delivered) if (o > highest) highest = o;
    if (highest >= figures.cursor) ledger.violation('cursor moved back', `${where}; offset ${highest} was delivered`);
    if (c.delivered.size !== figures.cursor) ledger.violation('event skipped', `${where}; ${c.delivered.size} distinct offsets were ever delivered below it`);
    c.checkedBelow = figures.cursor;
  }
}

/** Reads offsets [from, to) of a stream page by page (statuses for `consumer`), checking that none is missing. */
async function readRange(client: EventBusClient, ledger: Ledger, stream: string, consumer: string | undefined, from: number, to: number, each: (event: Event) => void): Promise<void> {
  let expected = from;
  while (expected < to) {
    const page = await wire(client.getStreamEvents(stream, { fromOffset: expected, maxEvents: Math.min(PAGE, to - expected), ...(consumer === undefined ? {} : { consumer }) }));
    if (page.events.length === 0) {
      ledger.violation('offset gap', `${stream}: reading from ${expected} returns nothing, expected events up to ${to}`);
      return;
    }
    for (const event of page.events) {
      if (event.offset !== expected) {
        ledger.violation('offset gap', `${stream}: expected offset ${expected}, got ${event.offset}`);
        expected = event.offset;
      }
      if (expected < to) each(event);
      expected += 1;
    }
  }
}

/** The statuses of `offsets` for consumer `c` (reads the pages that hold them). */
async function statusesOf(client: EventBusClient, c: ConsumerLedger, offsets: number[]): Promise<Map<number, number>> {
  const wanted = new Set(offsets);
  const out = new Map<number, number>();
  const sorted = [...offsets].sort((a, b) => a - b);
  let from = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  while (from <= last) {
    const page = await wire(client.getStreamEvents(c.stream, { fromOffset: from, maxEvents: PAGE, consumer: c.name }));
    if (page.events.length === 0) break;
    for (const event of page.events) if (wanted.has(event.offset)) out.set(event.offset, event.status);
    from = page.nextOffset;
  }
  return out;
}

/** Creates the topology's streams (the first cycle). */
export async function createStreams(port: number, ledger: Ledger): Promise<void> {
  const client = await EventBusClient.connect({ port });
  try {
    for (const name of ledger.topology.streams) await client.createStream(name);
  } finally {
    await client.close();
  }
}

/** A line summarising the figures. */
export function describeFigures(f: Figures, ms: number): string {
  return `${f.cycles} kill cycles (${f.earlyKills} killed during start-up or verification) in ${(ms / 1000).toFixed(1)} s; `
    + `${f.writesAcknowledged} of ${f.writesSent} writes acknowledged, ${f.eventsStored} events stored; `
    + `${f.eventsChecked} event reads checked (${f.acknowledgedWritesChecked} of acknowledged writes); `
    + `${f.deliveries} deliveries, ${f.marksAcknowledged} marks acknowledged, ${f.marksChecked} mark checks, `
    + `${f.redeliveredAfterRestart} outstanding deliveries returned by retry_events after restarts; `
    + `time in start-up ${(f.startMs / 1000).toFixed(1)} s, verification ${(f.verifyMs / 1000).toFixed(1)} s, workload ${(f.workloadMs / 1000).toFixed(1)} s`;
}
