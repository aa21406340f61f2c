/**
 * A catch-up subscription in the client (`subscribe` on the wire), on a connection of its own:
 *
 * ```ts
 * const subscription = await client.subscribe('orders', { fromOffset: 0 });
 * for await (const item of subscription) {
 *   if (item.kind === 'caught_up') console.log('history done; live from', item.nextOffset);
 *   else handle(item.event);
 * }
 * ```
 *
 * `client.subscribe` resolves once the server's first line has arrived (so a refusal, such as
 * STREAM_NOT_FOUND, rejects it). The iterator yields every event in offset order and one
 * `caught_up` item between the history and the live events; `caughtUp` resolves at the same point
 * (or rejects if the subscription ends before it). The iterator throws the server's error when
 * the subscription ends (SLOW_CONSUMER, STREAM_NOT_FOUND, SHUTTING_DOWN): `nextOffset` is then
 * where to resume (`client.subscribe(name, { fromOffset: subscription.nextOffset })`), with
 * nothing lost or repeated: the error's `next_offset` (its `context`, beside `last_offset`, the
 * last event the server sent, -1 when none), every event before it having been taken. Lines the program has not taken yet are held up to a bound; past it
 * the socket is paused, and the server's flow control takes over.
 */
import type net from 'node:net';
import { ErrorCodes, EventBusError } from '../errors.js';
import { checkKnownKeys, event, keysOf, openSocket, timeText, wireAuth, type ClientOptions } from './client.js';
import { CLOSED_AT_ONCE_MS, connectionClosed, socketError } from './response-errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES, failureOf, lineTooLong, parseResponse, ResponseLines } from './response-lines.js';
import type { Event, RawResponse } from './types.js';

/** Where a subscription starts (at most one of fromOffset, fromTime, fromEnd, else INVALID_FIELD; default offset 0). A key not listed here is INVALID_FIELD. */
export interface SubscribeOptions {
  fromOffset?: number;
  /** The first event at or after this time. */
  fromTime?: string | Date;
  /** Only events written from now on. */
  fromEnd?: boolean;
  /** Only this aggregate's events. */
  key?: string;
  /** Only events of these types. */
  types?: string[];
  /** Lines held for the program before the socket is paused. Default 64. */
  maxQueuedLines?: number;
}

const SUBSCRIBE_OPTION_KEYS = keysOf<SubscribeOptions>({ fromOffset: true, fromTime: true, fromEnd: true, key: true, types: true, maxQueuedLines: true });

/** What the iterator yields. */
export type SubscriptionItem<T = unknown> =
  | { kind: 'event'; event: Event<T> }
  | { kind: 'caught_up'; nextOffset: number };

type Queued = { line: RawResponse } | { error: EventBusError } | { end: true };

export class Subscription<T = unknown> implements AsyncIterable<SubscriptionItem<T>> {
  /**
   * Where to resume: the offset after the last event taken from the iterator; before any, the
   * position the server started at (the first event it sent, or where live events start).
   */
  nextOffset: number;
  /** True once the caught-up line arrived. */
  isCaughtUp = false;
  /**
   * Resolves with the offset live events start at, once the caught-up line has arrived; rejects
   * with the error that ends the subscription if it ends before. Lines are read only while fewer
   * than `maxQueuedLines` wait to be taken, so with a longer history it resolves only as the
   * program takes events: await it while iterating, not before.
   */
  readonly caughtUp: Promise<number>;
  private resolveCaughtUp!: (nextOffset: number) => void;
  private rejectCaughtUp!: (error: EventBusError) => void;
  /** Settles on the first line: resolves on a subscription line, rejects on a refusal. */
  private readonly started: Promise<void>;
  private settleStarted: ((error?: EventBusError) => void) | null = null;
  private readonly queue: Queued[] = [];
  private waiter: (() => void) | null = null;
  private readonly framing: ResponseLines;
  private paused = false;
  private finished = false;
  private unsubscribed: ((nextOffset: number) => void) | null = null;
  /** close() or unsubscribe() was called: the iterator yields nothing more. */
  private closedByProgram = false;
  private readonly maxQueuedLines: number;
  /** The server has sent something (a close before that may be a TLS server's, as in client.ts). */
  private heard = false;
  /** When the subscribe request was written (performance.now()). */
  private sentAtMs: number | null = null;

  private constructor(private readonly socket: net.Socket, fromOffset: number, maxQueuedLines: number, private readonly maxLineBytes: number, private readonly auth: Record<string, unknown>) {
    this.nextOffset = fromOffset;
    this.maxQueuedLines = maxQueuedLines;
    this.framing = new ResponseLines(maxLineBytes);
    this.caughtUp = new Promise((resolve, reject) => {
      this.resolveCaughtUp = resolve;
      this.rejectCaughtUp = reject;
    });
    this.caughtUp.catch(() => {});
    this.started = new Promise((resolve, reject) => (this.settleStarted = (error) => (error === undefined ? resolve() : reject(error))));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.push({ error: socketError(error) }));
    socket.on('close', () => this.push(this.finished ? { end: true } : { error: connectionClosed(this.closedUnansweredAtOnce()) }));
  }

  /** Opens a connection and subscribes (see EventBusClient.subscribe). */
  static async open<T>(client: ClientOptions, name: string, options: SubscribeOptions): Promise<Subscription<T>> {
    // The request is made before the connection, so that a bad option (an unknown one too) opens nothing.
    checkKnownKeys(options, 'options', SUBSCRIBE_OPTION_KEYS);
    const body: Record<string, unknown> = { stream_name: name };
    const starts = [options.fromOffset !== undefined && 'fromOffset', options.fromTime !== undefined && 'fromTime', options.fromEnd === true && 'fromEnd'].filter(Boolean);
    if (starts.length > 1) throw new EventBusError(ErrorCodes.INVALID_FIELD, `give one of fromOffset, fromTime and fromEnd, not ${starts.join(' and ')}`, { context: { field: String(starts[1]) } });
    if (options.fromEnd === true) body.from_offset = 'end';
    else if (options.fromTime !== undefined) body.from_time = timeText(options.fromTime);
    else body.from_offset = options.fromOffset ?? 0;
    if (options.key !== undefined) body.key = options.key;
    if (options.types !== undefined) body.types = options.types;
    // Sent with the unsubscribe too: the server checks credentials on every request but health and exit.
    const auth = client.auth === undefined ? {} : { auth: wireAuth(client.auth) };
    const socket = await openSocket(client);
    const subscription = new Subscription<T>(socket, options.fromOffset ?? 0, options.maxQueuedLines ?? 64, client.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES, auth);
    subscription.sentAtMs = performance.now();
    socket.write(`${JSON.stringify({ operation: 'subscribe', body, ...auth })}\n`);
    try {
      await subscription.started;
    } catch (error) {
      subscription.close();
      throw error;
    }
    return subscription;
  }

  /**
   * Every event, with one `caught_up` item after the history. Leaving the loop early (`break`,
   * `return`, a throw in its body) closes the subscription's connection.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<SubscriptionItem<T>> {
    try {
      yield* this.items();
    } finally {
      this.close();
    }
  }

  private async *items(): AsyncGenerator<SubscriptionItem<T>> {
    for await (const { response } of this.received()) {
      const body = response.body as { events?: Record<string, unknown>[]; caught_up?: boolean; next_offset: number };
      if (body.caught_up === true) {
        yield { kind: 'caught_up', nextOffset: body.next_offset };
        continue;
      }
      for (const raw of body.events ?? []) {
        if (this.closedByProgram) return; // unsubscribe or close: events not yet taken are dropped
        const item = event<T>(raw);
        this.nextOffset = item.offset + 1;
        yield { kind: 'event', event: item };
      }
      this.nextOffset = Math.max(this.nextOffset, body.next_offset);
    }
  }

  /**
   * The subscription's lines as received (events exactly as stored, e.g. integers beyond 2^53),
   * events lines and the caught-up line; throws the error that ends it. Use it or the iterator.
   * Leaving the loop early closes the subscription's connection, as the iterator does.
   */
  async *lines(): AsyncGenerator<RawResponse> {
    try {
      yield* this.received();
    } finally {
      this.close();
    }
  }

  private async *received(): AsyncGenerator<RawResponse> {
    for (;;) {
      const item = this.queue.shift();
      if (item === undefined) {
        await new Promise<void>((resolve) => (this.waiter = resolve));
        continue;
      }
      if (this.paused && this.queue.length < this.maxQueuedLines / 2) {
        this.paused = false;
        this.socket.resume();
      }
      if ('end' in item || this.closedByProgram) return;
      if ('error' in item) {
        // Every line before the error was taken: its next_offset is where to resume (past what a
        // key or types passed over after the last event sent).
        const next = (item.error.context as { next_offset?: unknown } | undefined)?.next_offset;
        if (typeof next === 'number') this.nextOffset = Math.max(this.nextOffset, next);
        throw item.error;
      }
      const body = item.line.response.body as { events?: unknown[]; next_offset: number };
      if (body.events === undefined) this.nextOffset = Math.max(this.nextOffset, body.next_offset);
      yield item.line;
      if (body.events !== undefined) this.nextOffset = Math.max(this.nextOffset, body.next_offset);
    }
  }

  /**
   * Ends the subscription: events not yet taken are dropped, the iterator ends. Resolves with
   * {@link nextOffset}, where a new subscription would go on.
   */
  async unsubscribe(): Promise<number> {
    if (!this.finished && !this.socket.destroyed) {
      const answered = new Promise<number>((resolve) => (this.unsubscribed = resolve));
      this.socket.write(`${JSON.stringify({ operation: 'unsubscribe', ...this.auth })}\n`);
      if (this.paused) this.socket.resume();
      this.paused = false;
      await Promise.race([answered, new Promise((resolve) => this.socket.once('close', resolve))]);
    }
    this.close();
    return this.nextOffset;
  }

  /** Closes the connection; the iterator ends (lines not yet taken are dropped). */
  close(): void {
    this.finished = true;
    this.closedByProgram = true;
    this.queue.length = 0;
    this.socket.destroy();
    this.push({ end: true });
  }

  /** Closed without a line, right after the subscribe request: what a TLS server does to a plain connection. */
  private closedUnansweredAtOnce(): boolean {
    return !this.heard && this.sentAtMs !== null && performance.now() - this.sentAtMs <= CLOSED_AT_ONCE_MS;
  }

  private onData(chunk: Buffer): void {
    this.heard = true;
    if (this.framing.push(chunk, (line) => this.onLine(line))) return;
    this.push({ error: lineTooLong(this.maxLineBytes) });
    this.socket.destroy();
  }

  private onLine(line: string): void {
    const response = parseResponse(line);
    if (response instanceof EventBusError) {
      this.push({ error: response });
      return;
    }
    if (this.unsubscribed !== null) {
      // Dropping what was sent before the unsubscribe took effect.
      if (response.operation === 'unsubscribe') {
        this.finished = true;
        this.unsubscribed((response.body as { next_offset: number } | undefined)?.next_offset ?? this.nextOffset);
      }
      return;
    }
    const failure = failureOf(response);
    if (failure !== null) {
      this.finished = true;
      this.push({ error: failure });
      this.socket.end();
      return;
    }
    const body = response.body as { events?: { offset: number }[]; caught_up?: boolean; next_offset: number } | undefined;
    if (this.settleStarted !== null && body !== undefined) {
      // Nothing was taken before the first line: where the server started is where to resume
      // (with fromEnd or fromTime the program's own fromOffset says nothing).
      this.nextOffset = body.caught_up === true ? body.next_offset : (body.events?.[0]?.offset ?? body.next_offset);
      this.settleStarted();
      this.settleStarted = null;
    }
    if (body?.caught_up === true) {
      this.isCaughtUp = true;
      this.resolveCaughtUp(body.next_offset);
    }
    this.push({ line: { response, line } });
  }

  private push(item: Queued): void {
    if ('error' in item) {
      this.settleStarted?.(item.error);
      this.settleStarted = null;
      if (!this.isCaughtUp) this.rejectCaughtUp(item.error);
    } else if ('end' in item) {
      this.settleStarted?.(connectionClosed(this.closedUnansweredAtOnce()));
      this.settleStarted = null;
      if (!this.isCaughtUp) this.rejectCaughtUp(connectionClosed(this.closedUnansweredAtOnce()));
    }
    if (this.queue.length > 0 && !('line' in item) && !('line' in this.queue[this.queue.length - 1]!)) return; // one end is enough
    this.queue.push(item);
    if (this.queue.length >= this.maxQueuedLines && !this.paused && !this.socket.destroyed) {
      this.paused = true;
      this.socket.pause();
    }
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}

