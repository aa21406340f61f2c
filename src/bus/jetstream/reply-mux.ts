/**
 * Requests on one NATS connection with their replies matched without nats.js's request
 * machinery. A nats.js request (`js.publish`, `msg.ackAck`, `nc.request`) makes an inbox token, a
 * Request object, a timer, a deferred and, once the answer is in, a NatsError (with its stack
 * trace) to cancel the request; at many requests in flight that was a tenth of the gateway's
 * CPU. Here one wildcard subscription per mux receives every reply, a map from reply token to
 * pending request matches them (in any order), and one interval timer times out the late ones.
 *
 * Requests of one turn of the event loop leave in one socket write: they are queued in call
 * order and handed to nats.js together (setImmediate), which sends them in that order, so an
 * order callers rely on (a write lane's, write-lane.ts) is kept while the syscalls drop.
 *
 * Failures are nats.js's: a NatsError `TIMEOUT` when no reply came within the timeout (outcome
 * unknown), `CONNECTION_CLOSED` for every pending request when the connection closes, and what
 * the reply decoder makes of a reply (pub-ack-publisher.ts for PubAcks, {@link decodeAckReply}
 * for confirmed consumer acks).
 */
import { createInbox, ErrorCode, NatsError, type Msg, type MsgHdrs, type NatsConnection } from 'nats';

/** Late replies are found within this long after their timeout. */
const SWEEP_INTERVAL_MS = 100;
/** A limit on requests awaiting their reply on one mux; beyond it a request fails at once. */
export const MAX_PENDING = 100_000;

/** Turns a reply into the request's answer, or its failure. */
export type ReplyDecoder<T> = (msg: Msg) => T | Error;

interface Pending<T> {
  resolve: (answer: T) => void;
  reject: (error: Error) => void;
  deadlineMs: number;
}

interface Queued {
  token: string;
  subject: string;
  payload: Uint8Array;
  headers: MsgHdrs | undefined;
  reply: string;
}

export class ReplyMux<T> {
  /** Reply subjects are `<prefix>.<token>`, the token a counter in base 36. */
  private readonly prefix = createInbox();
  private readonly pending = new Map<string, Pending<T>>();
  private queue: Queued[] = [];
  private nextToken = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private closedError: Error | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly decode: ReplyDecoder<T>,
    /** What a request is, for the error when too many are pending ("writes", "acknowledgements"). */
    private readonly what = 'requests',
  ) {
    nc.subscribe(`${this.prefix}.*`, { callback: (error, msg) => this.onReply(error, msg) });
    void nc.closed().then(() => this.failAll(NatsError.errorForCode(ErrorCode.ConnectionClosed)));
  }

  /** Publishes `payload` to `subject` with a reply subject of this mux; resolves with the decoded reply. */
  request(subject: string, payload: Uint8Array, options: { headers?: MsgHdrs; timeout: number }): Promise<T> {
    if (this.closedError !== null || this.nc.isClosed()) return Promise.reject(NatsError.errorForCode(ErrorCode.ConnectionClosed));
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new NatsError(`more than ${MAX_PENDING} ${this.what} await their reply`, ErrorCode.Timeout));
    const token = (this.nextToken++).toString(36);
    const reply = `${this.prefix}.${token}`;
    const answered = new Promise<T>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadlineMs: Date.now() + options.timeout });
    });
    if (this.queue.length === 0) setImmediate(() => this.flush());
    this.queue.push({ token, subject, payload, headers: options.headers, reply });
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();
    return answered;
  }

  /** Requests awaiting their reply (for tests and assertions). */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Hands this turn's requests to nats.js in call order: they leave in one socket write. */
  private flush(): void {
    const queue = this.queue;
    this.queue = [];
    for (const q of queue) {
      // Timed out already (the loop was blocked past its deadline): its caller has its answer.
      if (!this.pending.has(q.token)) continue;
      try {
        this.nc.publish(q.subject, q.payload, q.headers === undefined ? { reply: q.reply } : { headers: q.headers, reply: q.reply });
      } catch (error) {
        this.settle(q.token, (p) => p.reject(error as Error));
      }
    }
  }

  private onReply(error: NatsError | null, msg: Msg): void {
    if (error !== null) return; // the subscription's own failure (a permission): the sweep times the requests out
    const token = msg.subject.slice(this.prefix.length + 1);
    this.settle(token, (p) => {
      let outcome: T | Error;
      try {
        outcome = this.decode(msg);
      } catch (error) {
        outcome = error as Error; // headers nats.js cannot parse: this request fails, the others go on
      }
      if (outcome instanceof Error) p.reject(outcome);
      else p.resolve(outcome);
    });
  }

  private settle(token: string, how: (p: Pending<T>) => void): void {
    const p = this.pending.get(token);
    if (p === undefined) return; // answered after its timeout: the caller already has its answer
    this.pending.delete(token);
    how(p);
  }

  /**
   * Times out every request whose deadline passed, as nats.js does: a NatsError TIMEOUT. The timer
   * stops at a sweep that finds nothing pending (not at every last answer: no timer per request).
   */
  private sweep(): void {
    if (this.pending.size === 0) return this.stopSweeper();
    const nowMs = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadlineMs <= nowMs) this.settle(token, (late) => late.reject(NatsError.errorForCode(ErrorCode.Timeout)));
    }
  }

  private failAll(error: Error): void {
    this.closedError ??= error;
    const all = [...this.pending.values()];
    this.pending.clear();
    this.queue = [];
    this.stopSweeper();
    for (const p of all) p.reject(error);
  }

  private stopSweeper(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }
}

/**
 * nats-server answers a request no one subscribes to with status 503 and no payload: nats.js's
 * NoResponders error (its isRequestError), else null.
 */
export function noResponders(msg: Pick<Msg, 'data' | 'headers'>): NatsError | null {
  return msg.data.length === 0 && msg.headers?.code === 503 ? NatsError.errorForCode(ErrorCode.NoResponders) : null;
}

/**
 * The reply to a confirmed consumer ack (`+ACK` with a reply subject), as `msg.ackAck` takes it:
 * any reply confirms it, except no responders (the consumer, or its stream, is gone).
 */
export function decodeAckReply(msg: Pick<Msg, 'data' | 'headers'>): true | NatsError {
  return noResponders(msg) ?? true;
}
