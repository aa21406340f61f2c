/**
 * The ordering of one connection's requests, without the socket: requests take effect in the
 * order sent and are answered in that order.
 *
 * Consecutive `write_event`s and `append_events` (non-exclusive requests) are dispatched at once: the engine assigns
 * their offsets in dispatch order, and one group commit covers their fsyncs. Any other request
 * (exclusive) waits until everything before it has completed, and holds back what follows.
 * Requests answered without touching the store (decode, auth and validation errors, `health`)
 * are queued already answered; their responses still wait for their turn.
 *
 * One exception to "holds back what follows": a `mark_event` whose change the engine applies when
 * it is dispatched (its ids are of one stream: {@link RequestQueue.enqueue}'s `appliedAtDispatch`)
 * lets the consumer requests after it (`process_events`, `retry_events`, `mark_event`) start
 * while its journal record is being made durable. They see the mark (it is already applied), and
 * their own journal records follow it in the same append-only journal, so they are never durable
 * before it; the mark is still answered only after its fsync, and answers stay in order. A
 * drain's mark and its next fetch so share one fsync round instead of taking two in turn.
 *
 * Parsed requests are never changed: at shutdown a `process_events` dispatched after
 * {@link RequestQueue.drain} runs as a copy that does not wait (long-polls answer at once).
 */
import { assert } from '../errors.js';
import type { Request } from '../protocol/requests.js';
import { responseMaxBytes, type Response } from '../protocol/response-bytes.js';

/** What the queue needs from its connection. */
export interface RequestQueueHost {
  /** Runs a request: its response line, or a promise of one. */
  execute(request: Request, requestIdJson: string | undefined): Response | Promise<Response>;
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
  /** A mark applied at dispatch: holds back only what is not a consumer request (see above). */
  appliedAtDispatch: boolean;
  /** Request line bytes, counted against the in-flight byte limit until answered. */
  bytes: number;
  response: Response | null;
  /** Close the connection once this response is written (`exit`, fatal errors). */
  closeAfter: boolean;
}

/** Answered slots at the front of the queue are dropped in batches of this many. */
const COMPACT_AFTER_SLOTS = 1024;
/**
 * Dispatch stops once the responses it computed at once since the last {@link takeAnswered}
 * (reads: get_stream_events, get_stream_info) pass about this many bytes, and lets them be
 * written first; it goes on only while the socket takes them. Without it, 256 pipelined reads of
 * a 4 MiB page were computed in one pass: a gigabyte held for one connection, and a string too
 * long for V8 (the server crashed).
 */
export const DISPATCH_OUTPUT_BYTES = 1 << 20;

export class RequestQueue {
  private slots: Slot[] = [];
  /** First slot whose response is not yet taken. */
  private head = 0;
  /** First slot not yet dispatched. */
  private next = 0;
  /** Dispatched slots not yet complete. */
  private running = 0;
  /** An exclusive request (not a mark applied at dispatch) is running: nothing else starts. */
  private exclusiveRunning = false;
  /** Marks applied at dispatch, running: only consumer requests may start. */
  private marksRunning = 0;
  private bytes = 0;
  /** Bytes (at most) of responses computed by dispatch at once since the last take. */
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
  answer(response: Response, closeAfter: boolean): void {
    this.slots.push({ request: null, requestIdJson: undefined, exclusive: false, appliedAtDispatch: false, bytes: 0, response, closeAfter });
    this.host.answered();
  }

  /**
   * Queues a request (its line `bytes` long) and dispatches what may run. `appliedAtDispatch`
   * (for a `mark_event` only) says the executor applies its change before returning its promise.
   */
  enqueue(request: Request, requestIdJson: string | undefined, exclusive: boolean, bytes: number, closeAfter: boolean, appliedAtDispatch = false): void {
    assert(!appliedAtDispatch || (exclusive && request.operation === 'mark_event'), 'only a mark is applied at dispatch');
    this.slots.push({ request, requestIdJson, exclusive, appliedAtDispatch, bytes, response: null, closeAfter });
    this.bytes += bytes;
    this.dispatch();
  }

  /** Shutdown: long-polls not yet started answer at once. */
  drain(): void {
    this.draining = true;
  }

  /**
   * Starts every request whose turn has come, while the host can take responses: stops when it
   * cannot, and after about {@link DISPATCH_OUTPUT_BYTES} of responses computed at once (taking
   * them lets dispatch go on).
   */
  dispatch(): void {
    while (this.next < this.slots.length && !this.closed && this.host.canDispatch()) {
      if (this.computedUntaken >= DISPATCH_OUTPUT_BYTES) return; // the take that writes them calls this again
      const slot = this.slots[this.next]!;
      if (slot.response !== null) {
        this.next += 1;
        continue;
      }
      const request = slot.request;
      assert(request !== null, 'a slot was dispatched twice');
      if (!this.mayStart(slot, request)) return;
      this.next += 1;
      slot.request = null;
      const result = this.host.execute(this.effective(request), slot.requestIdJson);
      if (!(result instanceof Promise)) {
        slot.response = result;
        this.computedUntaken += responseMaxBytes(result);
        this.host.answered();
        continue;
      }
      this.running += 1;
      if (slot.appliedAtDispatch) this.marksRunning += 1;
      else if (slot.exclusive) this.exclusiveRunning = true;
      result.then(
        (response) => this.settled(slot, response),
        (error: unknown) => this.settled(slot, this.host.failure(request.operation, error, slot.requestIdJson)),
      );
    }
  }

  /** Whether `slot` may start now, given what is running (see the top of this file). */
  private mayStart(slot: Slot, request: Request): boolean {
    if (!slot.exclusive) return !this.exclusiveRunning && this.marksRunning === 0;
    const op = request.operation;
    const afterMarks = op === 'process_events' || op === 'retry_events' || op === 'mark_event';
    return this.running - (afterMarks ? this.marksRunning : 0) === 0;
  }

  /** The request as it runs: while draining, a long-poll does not wait. */
  private effective(request: Request): Request {
    return this.draining && request.operation === 'process_events' && request.waitMs !== 0 ? { ...request, waitMs: 0 } : request;
  }

  private settled(slot: Slot, response: Response): void {
    this.running -= 1;
    if (slot.appliedAtDispatch) this.marksRunning -= 1;
    else if (slot.exclusive) this.exclusiveRunning = false;
    slot.response = response;
    // Counted like a response computed at once: a store that answers reads asynchronously (the
    // jetstream backend, and the bus's reads since the storage interface) settles pipelined
    // reads one after another in microtasks, before any take; without this they would pile up.
    this.computedUntaken += responseMaxBytes(response);
    if (this.closed) return;
    this.host.answered();
    this.dispatch();
  }

  /**
   * Moves the answered responses at the front of the queue, in order, into `into` (which must be
   * empty), up to and including one that closes the connection; returns true in that case.
   */
  takeAnswered(into: Response[]): boolean {
    this.computedUntaken = 0;
    let close = false;
    const slots = this.slots;
    while (this.head < slots.length) {
      const slot = slots[this.head]!;
      if (slot.response === null) break;
      into.push(slot.response);
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
    return close;
  }

  /** The connection closed: nothing more is dispatched, and responses still coming are dropped. */
  close(): void {
    this.closed = true;
    this.slots = [];
    this.head = 0;
    this.next = 0;
  }
}
