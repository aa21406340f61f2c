/**
 * The ordering of one connection's requests, without the socket: requests take effect in the
 * order sent and are answered in that order.
 *
 * Consecutive `write_event`s (non-exclusive requests) are dispatched at once: the engine assigns
 * their offsets in dispatch order, and one group commit covers their fsyncs. Any other request
 * (exclusive) waits until everything before it has completed, and holds back what follows.
 * Requests answered without touching the store (decode, auth and validation errors, `health`)
 * are queued already answered; their responses still wait for their turn.
 *
 * Parsed requests are never changed: at shutdown a `process_events` dispatched after
 * {@link RequestQueue.drain} runs as a copy that does not wait (long-polls answer at once).
 */
import { assert } from '../errors.js';
import type { Request } from '../protocol/requests.js';

/** What the queue needs from its connection. */
export interface RequestQueueHost {
  /** Runs a request: its response line, or a promise of one. */
  execute(request: Request, requestIdJson: string | undefined): string | Promise<string>;
  /** The failure line of a request whose promise rejected (a bug: the executor answers failures). */
  failure(operation: string, error: unknown, requestIdJson: string | undefined): string;
  /** True while responses may be computed (the connection is open and its output not blocked). */
  canDispatch(): boolean;
  /** A response is ready: the connection should write what is answered at the front. */
  answered(): void;
}

interface Slot {
  /** The request, until it is dispatched (null for requests answered on arrival). */
  request: Request | null;
  requestIdJson: string | undefined;
  /** Waits for everything before it, and holds back everything after it. */
  exclusive: boolean;
  /** Request line bytes, counted against the in-flight byte limit until answered. */
  bytes: number;
  response: string | null;
  /** Close the connection once this response is written (`exit`, fatal errors). */
  closeAfter: boolean;
}

/** Answered slots at the front of the queue are dropped in batches of this many. */
const COMPACT_AFTER_SLOTS = 1024;
/**
 * Dispatch stops once the responses computed since the last {@link takeAnswered} (reads:
 * get_stream_events, get_stream_info; at once or settled) pass this many characters, and lets them be written
 * first; it goes on only while the socket takes them. Without it, 256 pipelined reads of a 4 MiB
 * page were computed in one pass: a gigabyte held for one connection, and a string too long for
 * V8 (the server crashed).
 */
export const DISPATCH_OUTPUT_CHARS = 1 << 20;

export class RequestQueue {
  private slots: Slot[] = [];
  /** First slot whose response is not yet taken. */
  private head = 0;
  /** First slot not yet dispatched. */
  private next = 0;
  /** Dispatched slots not yet complete. */
  private running = 0;
  private exclusiveRunning = false;
  private bytes = 0;
  /** Characters of responses computed by dispatch at once since the last take. */
  private computedUntaken = 0;
  private draining = false;
  private closed = false;

  constructor(private readonly host: RequestQueueHost) {}

  /** Requests received and not yet answered (taken). */
  get inFlight(): number {
    return this.slots.length - this.head;
  }

  /** Bytes of the request lines in flight. */
  get inFlightBytes(): number {
    return this.bytes;
  }

  /** Queues a response computed on arrival (it is written in its turn). */
  answer(response: string, closeAfter: boolean): void {
    this.slots.push({ request: null, requestIdJson: undefined, exclusive: false, bytes: 0, response, closeAfter });
    this.host.answered();
  }

  /** Queues a request (its line `bytes` long) and dispatches what may run. */
  enqueue(request: Request, requestIdJson: string | undefined, exclusive: boolean, bytes: number, closeAfter: boolean): void {
    this.slots.push({ request, requestIdJson, exclusive, bytes, response: null, closeAfter });
    this.bytes += bytes;
    this.dispatch();
  }

  /** Shutdown: long-polls not yet started answer at once. */
  drain(): void {
    this.draining = true;
  }

  /**
   * Starts every request whose turn has come, while the host can take responses: stops when it
   * cannot, and after about {@link DISPATCH_OUTPUT_CHARS} of responses computed at once (taking
   * them lets dispatch go on).
   */
  dispatch(): void {
    while (this.next < this.slots.length && !this.closed && this.host.canDispatch()) {
      if (this.computedUntaken >= DISPATCH_OUTPUT_CHARS) return; // the take that writes them calls this again
      const slot = this.slots[this.next]!;
      if (slot.response !== null) {
        this.next += 1;
        continue;
      }
      if (slot.exclusive ? this.running > 0 : this.exclusiveRunning) return;
      this.next += 1;
      const request = slot.request;
      assert(request !== null, 'a slot was dispatched twice');
      slot.request = null;
      const result = this.host.execute(this.effective(request), slot.requestIdJson);
      if (typeof result === 'string') {
        slot.response = result;
        this.computedUntaken += result.length;
        this.host.answered();
        continue;
      }
      this.running += 1;
      if (slot.exclusive) this.exclusiveRunning = true;
      result.then(
        (response) => this.settled(slot, response),
        (error: unknown) => this.settled(slot, this.host.failure(request.operation, error, slot.requestIdJson)),
      );
    }
  }

  /** The request as it runs: while draining, a long-poll does not wait. */
  private effective(request: Request): Request {
    return this.draining && request.operation === 'process_events' && request.waitMs !== 0 ? { ...request, waitMs: 0 } : request;
  }

  private settled(slot: Slot, response: string): void {
    this.running -= 1;
    if (slot.exclusive) this.exclusiveRunning = false;
    slot.response = response;
    // Counted like a response computed at once: a store that answers reads asynchronously (the
    // jetstream backend, and the bus's reads since the storage interface) settles pipelined
    // reads one after another in microtasks, before any take; without this they would pile up.
    this.computedUntaken += response.length;
    if (this.closed) return;
    this.host.answered();
    this.dispatch();
  }

  /**
   * Takes the answered responses at the front of the queue, in order, up to and including one
   * that closes the connection (`close` is then true).
   */
  takeAnswered(): { out: string; close: boolean } {
    this.computedUntaken = 0;
    let out = '';
    let close = false;
    const slots = this.slots;
    while (this.head < slots.length) {
      const slot = slots[this.head]!;
      if (slot.response === null) break;
      out += slot.response;
      this.bytes -= slot.bytes;
      this.head += 1;
      if (slot.closeAfter) {
        close = true;
        break;
      }
    }
    // Answered slots that dispatch had not yet stepped over (it stops while output is blocked)
    // are taken too: dispatch must not look behind them (after compaction, `next` would be
    // negative and the server would crash on the missing slot).
    if (this.next < this.head) this.next = this.head;
    if (this.head === slots.length) {
      this.slots = [];
      this.head = 0;
      this.next = 0;
    } else if (this.head >= COMPACT_AFTER_SLOTS) {
      this.slots = slots.slice(this.head);
      this.next -= this.head;
      this.head = 0;
    }
    return { out, close };
  }

  /** The connection closed: nothing more is dispatched, and responses still coming are dropped. */
  close(): void {
    this.closed = true;
    this.slots = [];
    this.head = 0;
    this.next = 0;
  }
}
