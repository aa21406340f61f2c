/**
 * JetStream publishes on one NATS connection, with their acknowledgements (PubAcks) matched
 * without nats.js's request machinery. `js.publish` makes every write a request: an inbox token,
 * a Request object, a timer, a deferred and, once the answer is in, a NatsError (with its stack
 * trace) to cancel the request; at many writes in flight that was a tenth of the gateway's CPU.
 * Here one wildcard subscription per connection receives every PubAck, a map from reply token to
 * pending write matches them (in any order), and one interval timer times out the late ones.
 *
 * Publishes of one turn of the event loop leave in one socket write: they are queued in call
 * order and handed to nats.js together (setImmediate), which sends them in that order, so a
 * lane's order (write-lane.ts) is kept while the syscalls per write drop.
 *
 * Answers and failures are the ones `js.publish` gives, so the writer's retries, lanes and
 * conflict checks see no difference: a PubAck (`duplicate` false when absent), a NatsError
 * `503` for no responders (nothing stored), `TIMEOUT` when no answer came within the timeout
 * (outcome unknown), and a JetStream API error as a NatsError with its `api_error` (as
 * nats.js's checkJsErrorCode builds it). Pending writes fail with CONNECTION_CLOSED when the
 * connection closes.
 */
import { createInbox, ErrorCode, NatsError, type ApiError, type Msg, type MsgHdrs, type NatsConnection, type PubAck } from 'nats';

/** Late answers are found within this long after their timeout. */
const SWEEP_INTERVAL_MS = 100;
/** A limit on writes awaiting their PubAck on one connection; beyond it a publish fails at once. */
export const MAX_PENDING = 100_000;

/** The part of JetStreamClient the writer uses: a publish that resolves with the PubAck. */
export interface PubAckPublish {
  publish(subject: string, payload: Uint8Array, options: { headers: MsgHdrs; timeout: number }): Promise<PubAck>;
}

interface Pending {
  resolve: (ack: PubAck) => void;
  reject: (error: Error) => void;
  deadlineMs: number;
}

interface Queued {
  token: string;
  subject: string;
  payload: Uint8Array;
  headers: MsgHdrs;
  reply: string;
}

interface JsApiResponse {
  error?: { code: number; err_code?: number; description?: string };
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  domain?: string;
}

const decoder = new TextDecoder();

export class PubAckPublisher implements PubAckPublish {
  /** Reply subjects are `<prefix>.<token>`, the token a counter in base 36. */
  private readonly prefix = createInbox();
  private readonly pending = new Map<string, Pending>();
  private queue: Queued[] = [];
  private nextToken = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private closedError: Error | null = null;

  constructor(private readonly nc: NatsConnection) {
    nc.subscribe(`${this.prefix}.*`, { callback: (error, msg) => this.onReply(error, msg) });
    void nc.closed().then(() => this.failAll(NatsError.errorForCode(ErrorCode.ConnectionClosed)));
  }

  /** Publishes `payload` to `subject`; resolves with its PubAck, rejects as `js.publish` would. */
  publish(subject: string, payload: Uint8Array, options: { headers: MsgHdrs; timeout: number }): Promise<PubAck> {
    if (this.closedError !== null || this.nc.isClosed()) return Promise.reject(NatsError.errorForCode(ErrorCode.ConnectionClosed));
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new NatsError(`more than ${MAX_PENDING} writes await their acknowledgement`, ErrorCode.Timeout));
    const token = (this.nextToken++).toString(36);
    const reply = `${this.prefix}.${token}`;
    const acknowledged = new Promise<PubAck>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadlineMs: Date.now() + options.timeout });
    });
    if (this.queue.length === 0) setImmediate(() => this.flush());
    this.queue.push({ token, subject, payload, headers: options.headers, reply });
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();
    return acknowledged;
  }

  /** Writes awaiting their PubAck (for tests and assertions). */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Hands this turn's publishes to nats.js in call order: they leave in one socket write. */
  private flush(): void {
    const queue = this.queue;
    this.queue = [];
    for (const q of queue) {
      // Timed out already (the loop was blocked past its deadline): its caller has its answer.
      if (!this.pending.has(q.token)) continue;
      try {
        this.nc.publish(q.subject, q.payload, { headers: q.headers, reply: q.reply });
      } catch (error) {
        this.settle(q.token, (p) => p.reject(error as Error));
      }
    }
  }

  private onReply(error: NatsError | null, msg: Msg): void {
    if (error !== null) return; // the subscription's own failure (a permission): the sweep times the writes out
    const token = msg.subject.slice(this.prefix.length + 1);
    this.settle(token, (p) => {
      let outcome: PubAck | Error;
      try {
        outcome = decodePubAck(msg);
      } catch (error) {
        outcome = error as Error; // headers nats.js cannot parse: the write fails, the others go on
      }
      if (outcome instanceof Error) p.reject(outcome);
      else p.resolve(outcome);
    });
  }

  private settle(token: string, how: (p: Pending) => void): void {
    const p = this.pending.get(token);
    if (p === undefined) return; // answered after its timeout: the writer already retried it (same msg id)
    this.pending.delete(token);
    how(p);
  }

  /**
   * Times out every write whose deadline passed, as nats.js does: a NatsError TIMEOUT. The timer
   * stops at a sweep that finds nothing pending (not at every last answer: no timer per write).
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
 * A reply to a JetStream publish as `js.publish` returns or throws it: no responders (a status
 * 503 without payload), a JetStream API error, or the PubAck.
 */
export function decodePubAck(msg: Pick<Msg, 'data' | 'headers'>): PubAck | NatsError {
  if (msg.data.length === 0) {
    // nats-server answers a request no one subscribes to with status 503 and no payload.
    if (msg.headers?.code === 503) return NatsError.errorForCode(ErrorCode.NoResponders);
    return NatsError.errorForCode(ErrorCode.JetStreamInvalidAck);
  }
  let response: JsApiResponse;
  try {
    response = JSON.parse(decoder.decode(msg.data)) as JsApiResponse;
  } catch (error) {
    return NatsError.errorForCode(ErrorCode.BadJson, error as Error);
  }
  if (response.error !== undefined) {
    const error = apiError(response.error.code, response.error.description ?? '');
    if (error !== null) {
      error.api_error = response.error as ApiError;
      return error;
    }
  }
  if (typeof response.stream !== 'string' || response.stream === '' || typeof response.seq !== 'number') return NatsError.errorForCode(ErrorCode.JetStreamInvalidAck);
  const ack: PubAck = { stream: response.stream, seq: response.seq, duplicate: response.duplicate === true };
  if (response.domain !== undefined) ack.domain = response.domain;
  return ack;
}

/** nats.js's checkJsErrorCode (jetstream/jsutil.js), which it does not export: the same codes and messages. */
function apiError(code: number, description: string): NatsError | null {
  if (code < 300) return null;
  const lower = description.toLowerCase();
  switch (code) {
    case 404:
      return new NatsError(lower, ErrorCode.JetStream404NoMessages);
    case 408:
      return new NatsError(lower, ErrorCode.JetStream408RequestTimeout);
    case 409:
      return new NatsError(lower, lower.startsWith('idle heartbeats missed') ? ErrorCode.JetStreamIdleHeartBeat : ErrorCode.JetStream409);
    case 503:
      return NatsError.errorForCode(ErrorCode.JetStreamNotEnabled, new Error(lower));
    default:
      return new NatsError(lower === '' ? ErrorCode.Unknown : lower, `${code}`);
  }
}
