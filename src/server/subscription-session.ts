/**
 * A connection while it is a subscription (`subscribe`, bus/subscription.ts): the subscription's
 * lines go out through the connection's output, after every response before the `subscribe`
 * and before every one after it, and the lines the client sends meanwhile are answered here:
 * `unsubscribe` ends the subscription (its answer is the last line), `exit` ends it and the
 * connection answers and closes as usual, anything else gets SUBSCRIPTION_ACTIVE (a line that is
 * not a request gets its usual error). The connection takes none of those lines until the
 * subscription has sent its first line (or ended: {@link SubscriptionSession.starting}), so
 * every answer to them comes after it, in request order. The client's FIN ends the subscription
 * ({@link SubscriptionSession.inputEnded}) once it has sent that first line.
 *
 * In the connection's request queue the `subscribe` is one exclusive request whose response is
 * the subscription's last output: it is started in its turn ({@link start}), and what it sends
 * until it ends is taken by the connection's flush ({@link takeOutput}) right after the
 * responses before it.
 *
 * Counted in the request counts like any answer: the `subscribe` once, when it is answered (OK
 * once caught up, or ended by the client before that; its error code when refused or ended by
 * an error first), each `unsubscribe`, and each line refused while subscribed.
 */
import { ErrorCodes, EventBusError, isEventBusError } from '../errors.js';
import type { EventBus } from '../bus/bus.js';
import type { EventView } from '../bus/results.js';
import type { StoreSubscription } from '../bus/event-store.js';
import { subscriptionEnd, type SubscriptionLimits, type SubscriptionSink } from '../bus/subscription.js';
import { DECODE_REQUEST } from '../protocol/operations.js';
import { parseUnsubscribe, type DecodedLine } from '../protocol/parse-request.js';
import type { Credentials, SubscribeRequest } from '../protocol/requests.js';
import { encodeFailure } from '../protocol/response.js';
import { joinResponses, lineTail, responseMaxBytes, type Response } from '../protocol/response-bytes.js';
import { caughtUpLine, subscriptionEndLine, subscriptionEventsLine, unsubscribedLine } from '../protocol/subscription-lines.js';
import { UNAUTHORIZED_REASON } from '../protocol/wire-texts.js';
import { OK, type RequestCounts } from './request-counts.js';

/** What a session needs from its connection. */
export interface SessionHost {
  /** Bytes written to the socket and not yet sent. */
  readonly writableLength: number;
  /** Output is waiting: flush soon. */
  outputReady(): void;
  /** The session ended: the connection takes requests again (those after it wait for its last line). */
  sessionEnded(session: SubscriptionSession): void;
  /** Whether `credentials` may make requests (counts and logs a refusal). */
  authorized(credentials: Credentials | null, operation: string): boolean;
  /** The subscription has started or was refused ({@link SubscriptionSession.starting} is over): take lines again (soon: not from within this call). */
  linesReady(): void;
  /** The server's answer counts. */
  readonly counts: RequestCounts;
}

/**
 * Pages of at most this many events and about this many payload bytes per line (one event always
 * fits). Smaller lines would not help a slow subscriber (its connection is not cut for a slow
 * drain: Connection.subscriptionOutput) and made catching up several times slower (64 KiB lines:
 * 50,000 events of 1 KB took 1.3 to 4.9 s instead of 0.5 to 1.3 s, loopback).
 */
const PAGE_EVENTS = 1000;
const PAGE_BYTES = 1024 * 1024;
/** Catching up, the next page is read once less than this is waiting for the client. */
const HISTORY_BUFFER_BYTES = 256 * 1024;

const ACTIVE = new EventBusError(ErrorCodes.SUBSCRIPTION_ACTIVE, 'this connection is a subscription: it takes only unsubscribe and exit');
const UNAUTHORIZED = new EventBusError(ErrorCodes.UNAUTHORIZED, UNAUTHORIZED_REASON);

/** Bytes of `line` in the output, exactly (a subscription's lines are bytes, or short text). */
function lineBytes(line: Response): number {
  return typeof line === 'string' ? Buffer.byteLength(line, 'utf8') : responseMaxBytes(line);
}

export class SubscriptionSession implements SubscriptionSink {
  /** The lines sent since the last take, and their bytes. */
  private readonly out: Response[] = [];
  private outBytes = 0;
  private started = false;
  private done = false;
  /** The subscription has sent a line (events or caught_up): lines after the `subscribe` are taken from then on. */
  private sentFirst = false;
  private storeStarting = false;
  private subscription: StoreSubscription | null = null;
  private finish: ((last: Response) => void) | null = null;
  private last: string | null = null;
  /** Whether the `subscribe` itself was counted (once: caught up, or ended first). */
  private counted = false;
  private readonly limits: SubscriptionLimits;
  /** The end of each event line (its request id): made once, written by reference; null without a request id (lines are shared whole). */
  private readonly tail: Buffer | null;

  constructor(
    private readonly host: SessionHost,
    private readonly bus: EventBus,
    private readonly request: SubscribeRequest,
    private readonly requestIdJson: string | undefined,
    maxBufferedBytes: number,
  ) {
    this.limits = { pageEvents: PAGE_EVENTS, pageBytes: PAGE_BYTES, historyBufferBytes: HISTORY_BUFFER_BYTES, maxBufferedBytes };
    this.tail = requestIdJson === undefined ? null : lineTail(requestIdJson);
  }

  /** Its turn in the queue: starts; resolves with its last output once it ends. */
  start(): Promise<Response> {
    this.started = true;
    return new Promise((resolve) => {
      this.finish = resolve;
      if (this.done) {
        this.settle(); // ended before its turn (server shutdown)
        this.host.linesReady();
        return;
      }
      try {
        this.subscription = this.bus.subscribe(this.request.streamName, this.request, this, this.limits);
      } catch (error) {
        this.count(isEventBusError(error) ? error.code : ErrorCodes.INTERNAL);
        this.end(subscriptionEndLine(error, this.requestIdJson));
        this.host.linesReady();
        return;
      }
      const storeStarted = this.subscription.started;
      if (storeStarted === undefined || this.done) {
        this.host.linesReady();
        return;
      }
      this.storeStarting = true;
      void storeStarted.then(() => {
        this.storeStarting = false;
        this.host.linesReady();
      });
    });
  }

  /**
   * True until the subscription has sent its first line (history or caught_up) or has ended
   * (refused, or ended before sending anything): before its turn in the queue, while a store
   * starts it asynchronously (StoreSubscription.started), and until its first read. The
   * connection takes no lines meanwhile, so a refusal (an unknown stream, a position past the
   * end) is answered before the requests after it, and those are served as usual; once it has
   * sent a line they are its lines, and what they are answered comes after that line (the
   * connection's flush of it takes them: Connection.flush).
   */
  get starting(): boolean {
    return !this.done && (!this.started || this.storeStarting || !this.sentFirst);
  }

  // ------------------------------------------------------------------ the subscription's sink

  get bufferedBytes(): number {
    return this.host.writableLength + this.outBytes;
  }

  events(events: readonly EventView[], nextOffset: number): void {
    this.sentFirst = true;
    this.push(subscriptionEventsLine(events, nextOffset, this.tail));
  }

  caughtUp(nextOffset: number): void {
    if (!this.done) this.count(OK);
    this.sentFirst = true;
    this.push(caughtUpLine(nextOffset, this.requestIdJson));
  }

  ended(error: EventBusError): void {
    if (!this.done) this.count(error.code);
    this.end(subscriptionEndLine(error, this.requestIdJson));
  }

  // ------------------------------------------------------------------ the connection's side

  /**
   * A line the client sent while subscribed. Returns false for `exit` (the session has ended;
   * the connection answers it and closes); answers everything else itself.
   */
  takeLine(decoded: DecodedLine): boolean {
    if (!decoded.ok) {
      this.host.counts.of(DECODE_REQUEST).fail(decoded.error.code); // metrics hook
      this.push(encodeFailure(DECODE_REQUEST, decoded.error, decoded.requestIdJson));
      return true;
    }
    const { operation, requestIdJson, credentials } = decoded.envelope;
    if (operation === 'exit') {
      // Ended as the client asked: the subscribe was served, whether or not it had caught up.
      if (!this.done) this.count(OK);
      this.end('');
      return false;
    }
    if (operation !== 'unsubscribe') {
      this.host.counts.of(operation).fail(ACTIVE.code); // metrics hook
      this.push(encodeFailure(operation, ACTIVE, requestIdJson));
    } else if (!this.host.authorized(credentials, operation)) {
      this.push(encodeFailure(operation, UNAUTHORIZED, requestIdJson));
    } else if (!this.validUnsubscribe(decoded.envelope.body, requestIdJson)) {
      // Refused (a body that is not an object): the subscription goes on.
    } else {
      if (!this.done) this.count(OK);
      this.host.counts.of(operation).ok += 1; // metrics hook
      this.end(unsubscribedLine(this.subscription?.nextOffset ?? this.request.fromOffset, requestIdJson));
    }
    return true;
  }

  /** Whether an `unsubscribe`'s body is acceptable; answers the refusal (INVALID_FIELD `body`) when not. */
  private validUnsubscribe(body: unknown, requestIdJson: string | undefined): boolean {
    try {
      parseUnsubscribe(body);
      return true;
    } catch (error) {
      this.host.counts.of('unsubscribe').fail(isEventBusError(error) ? error.code : ErrorCodes.INTERNAL); // metrics hook
      this.push(encodeFailure('unsubscribe', error, requestIdJson));
      return false;
    }
  }

  /** Adds to `into` what was sent since the last take (nothing before its turn: earlier responses go first). */
  takeOutput(into: Response[]): void {
    if (!this.started || this.done || this.out.length === 0) return;
    for (const line of this.out) into.push(line);
    this.out.length = 0;
    this.outBytes = 0;
    // Catching up waits while output is unsent; once written, the socket may have taken it all
    // (no 'drain' comes then): look again after this write.
    this.subscription?.resume();
  }

  /** The socket drained. */
  drained(): void {
    this.subscription?.resume();
  }

  /**
   * Server shutdown: ends with SHUTTING_DOWN, what it sent and where to resume; without a
   * position when it had not started (it waited its turn, or a store was still starting it):
   * there is none yet, as for a refusal (from "end" or a time, it is not known).
   */
  shutdown(): void {
    if (!this.done) this.count(ErrorCodes.SHUTTING_DOWN);
    const subscription = this.subscription;
    const reason = 'the server is shutting down';
    const error = subscription === null || this.storeStarting
      ? new EventBusError(ErrorCodes.SHUTTING_DOWN, reason)
      : subscriptionEnd(ErrorCodes.SHUTTING_DOWN, reason, subscription.lastOffset, subscription.nextOffset);
    this.end(subscriptionEndLine(error, this.requestIdJson));
  }

  /**
   * The client's input ended (a FIN): it may be gone or only half-closed, and a FIN cannot tell
   * which, so the subscription ends, without an end line, once it has sent its first line (the
   * connection calls this when {@link starting} is over and every line the client sent has been
   * taken); the connection then closes once its output is written. Counted as served, as `exit`.
   */
  inputEnded(): void {
    if (this.done) return;
    this.count(OK);
    this.end('');
  }

  /** The connection closed: stop, send nothing. */
  close(): void {
    this.done = true;
    this.subscription?.stop();
  }

  /** Counts the `subscribe` under `code` (OK or an error code), once. */
  private count(code: string): void {
    if (this.counted) return;
    this.counted = true;
    const counts = this.host.counts.of('subscribe');
    if (code === OK) counts.ok += 1;
    else counts.fail(code);
  }

  private push(line: Response): void {
    if (this.done) return;
    this.out.push(line);
    this.outBytes += lineBytes(line);
    if (this.started) this.host.outputReady();
  }

  private end(last: string): void {
    if (this.done) return;
    this.done = true;
    this.subscription?.stop();
    this.last = last;
    this.host.sessionEnded(this);
    if (this.started) this.settle();
  }

  private settle(): void {
    this.out.push(this.last ?? '');
    const all = this.out.length === 1 ? this.out[0]! : joinResponses(this.out, this.out.length);
    this.out.length = 0;
    this.outBytes = 0;
    this.finish?.(all);
    this.finish = null;
  }
}
