/**
 * Pull requests of durable consumers on one NATS connection, each on an inbox subscription of
 * the gateway's, instead of nats.js's `fetch`. nats.js 2.29's fetch ends its iterator when a message comes
 * with `info.pending === 0` (the consumer had nothing more when it sent it), and at its own
 * client-side `expires` timer; what the server still sends on that pull request is then dropped
 * (`QueuedIterator.push` after `done`), though JetStream counts it delivered, so it came back only
 * after the ack deadline, as a retry. That happened in steady state with several writers: a new
 * write lands after a `pending 0` message and is delivered on the same request (issue 16).
 *
 * Here a pull ends only when the server says it has ended: `batch` messages, or a status reply
 * (nats-server 2.9.10: 404 "No Messages" to a `no_wait` request that found nothing, 408 "Request
 * Timeout" to one that found fewer than `batch` and to an `expires` request at its end, 409 for a
 * request the consumer refuses); or when the caller's guard timer or a stop ends it first. A
 * message that arrives for a pull already ended that way goes to the `late` callback, which hands
 * it out later (consumers.ts); the inbox of such a pull is kept for `lateWindowMs`, that of a pull
 * the server ended is closed at once. A status of 503 (no responders: the consumer has no leader, or is
 * gone) fails the pull, as does the connection's close.
 *
 * A pull request is a publish to `$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>` with the pull's
 * inbox as reply subject and the body `{batch, no_wait}` or `{batch, expires}` (nanoseconds),
 * with `max_bytes` when the caller bounds the bytes.
 */
import { createInbox, ErrorCode, NatsError, nanos, type JsMsg, type Msg, type NatsConnection, type Subscription } from 'nats';
import { toJsMsg } from 'nats/lib/jetstream/jsmsg.js';
import { assert } from '../../errors.js';

/**
 * How a pull ended: `batch` messages, a status from the server (`bytes`: 409 "Message Size
 * Exceeds MaxBytes", the next message would pass the request's `max_bytes`; it stays undelivered),
 * the guard timer, or a stop.
 */
export type PullEnd = 'full' | 'status' | 'bytes' | 'guard' | 'stopped';

export interface PullResult {
  messages: JsMsg[];
  end: PullEnd;
}

/**
 * What to ask: a `no_wait` request, or one that waits up to `expiresMs` for the first message;
 * `maxBytes`, the most bytes of messages (JetStream counts each one's subject, headers and body).
 */
export type PullRequest = ({ batch: number; noWait: true } | { batch: number; noWait: false; expiresMs: number }) & { maxBytes?: number };

/** A pull in flight: its result, and a way to end it now with what it has. */
export interface Pull {
  result: Promise<PullResult>;
  stop(): void;
}

interface Active {
  batch: number;
  messages: JsMsg[];
  /** Ended: by the server's word, or by the guard or a stop (then later messages are late). */
  ended: boolean;
  timer: NodeJS.Timeout;
  sub: Subscription;
  resolve(result: PullResult): void;
  reject(error: Error): void;
}

const encoder = new TextEncoder();

export class Puller {
  private readonly active = new Set<Active>();

  constructor(
    private readonly nc: NatsConnection,
    /** A message for a pull that has already ended (by its guard or a stop). */
    private readonly late: (msg: JsMsg) => void,
    /** The timeout of a delivered message's confirmed ack (JsMsg.ackAck; the gateway uses its own). */
    private readonly ackTimeoutMs: number,
    /** How long the inbox of a pull ended by its guard or a stop still takes late messages (an ack deadline: later ones are delivered again anyway). */
    private readonly lateWindowMs: number,
  ) {
    void nc.closed().then(() => {
      for (const a of [...this.active]) this.settle(a, () => a.reject(NatsError.errorForCode(ErrorCode.ConnectionClosed)));
    });
  }

  /**
   * Sends a pull request for `durable` of `jsName`, with an inbox of its own (a delivered message
   * keeps its stream subject: only the subscription tells which pull it answers); it ends as the
   * module comment says, or after `guardMs`.
   */
  pull(jsName: string, durable: string, request: PullRequest, guardMs: number): Pull {
    assert(request.batch >= 1, 'a pull of no message');
    if (this.nc.isClosed()) return { result: Promise.reject(NatsError.errorForCode(ErrorCode.ConnectionClosed)), stop: () => {} };
    const inbox = createInbox();
    let active!: Active;
    const result = new Promise<PullResult>((resolve, reject) => {
      const timer = setTimeout(() => this.finish(active, 'guard'), guardMs);
      const sub = this.nc.subscribe(inbox, { callback: (error, msg) => (error === null ? this.onMessage(active, msg) : undefined) });
      active = { batch: request.batch, messages: [], ended: false, timer, sub, resolve, reject };
      this.active.add(active);
    });
    const body = {
      ...(request.noWait ? { batch: request.batch, no_wait: true } : { batch: request.batch, expires: nanos(request.expiresMs) }),
      ...(request.maxBytes === undefined ? {} : { max_bytes: request.maxBytes }),
    };
    try {
      this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${jsName}.${durable}`, encoder.encode(JSON.stringify(body)), { reply: inbox });
    } catch (error) {
      this.settle(active, () => active.reject(error as Error));
    }
    return { result, stop: () => this.finish(active, 'stopped') };
  }

  /** Pulls in flight (for tests and assertions). */
  get inFlight(): number {
    return this.active.size;
  }

  private onMessage(pull: Active, msg: Msg): void {
    const code = msg.data.length === 0 ? (msg.headers?.code ?? 0) : 0;
    if (code !== 0) {
      if (pull.ended || (code >= 100 && code < 200)) return; // after its end; idle heartbeats (not asked for)
      // A failure after messages (not seen: 503 comes alone) hands out what came.
      if (code === 409 && /exceeds maxbytes/i.test(msg.headers?.description ?? '')) return this.finish(pull, 'bytes');
      if (code === 404 || code === 408 || code === 409 || (code >= 300 && pull.messages.length > 0)) return this.finish(pull, 'status');
      const error = code === 503 ? NatsError.errorForCode(ErrorCode.NoResponders) : new NatsError(msg.headers?.description ?? 'pull request failed', `${code}`);
      return this.settle(pull, () => pull.reject(error));
    }
    const jsMsg = toJsMsg(msg, this.ackTimeoutMs);
    if (pull.ended) return this.late(jsMsg);
    pull.messages.push(jsMsg);
    if (pull.messages.length >= pull.batch) this.finish(pull, 'full');
  }

  private finish(pull: Active, end: PullEnd): void {
    this.settle(pull, () => pull.resolve({ messages: pull.messages, end }), end === 'guard' || end === 'stopped');
  }

  /** Ends `pull` once; its inbox is kept for late messages when the server may still send some. */
  private settle(pull: Active, how: () => void, keepInbox = false): void {
    if (pull.ended) return;
    pull.ended = true;
    this.active.delete(pull);
    clearTimeout(pull.timer);
    const close = () => {
      try {
        pull.sub.unsubscribe();
      } catch {
        // the connection is closed: so is the subscription
      }
    };
    if (keepInbox) setTimeout(close, this.lateWindowMs).unref();
    else close();
    how();
  }
}
