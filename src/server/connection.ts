/**
 * One client connection: reads request lines, runs them in the connection's order, writes exactly
 * one response line per request, in request order, and enforces the per-connection limits.
 *
 * Ordering is request-queue.ts: requests take effect in the order sent and are answered in that
 * order; consecutive `write_event`s run together, anything else waits for what came before.
 * A `subscribe` makes the connection a subscription until it ends (subscription-session.ts);
 * no line after it is taken until it has started or was refused, so a refusal leaves the lines
 * after it to be served as usual.
 *
 * Flow control. Lines are taken from the socket only while fewer than `maxInFlightRequests`
 * (and `maxInFlightBytes`) are unanswered and the client is reading its responses; otherwise the
 * socket is paused and TCP holds the client back. A client that stops reading is disconnected
 * when its queued output passes `maxOutputBytes` or has not drained for `outputStallTimeoutMs`;
 * except a subscription's, whose output is bounded by the subscription itself (see
 * {@link Connection.subscriptionOutput}).
 */
import type { Socket } from 'node:net';
import { ErrorCodes, EventBusError } from '../errors.js';
import { LINE_TOO_LONG, LineReader } from '../protocol/line-reader.js';
import { DECODE_REQUEST } from '../protocol/operations.js';
import { decodeLine, parseRequest, type ParseLimits } from '../protocol/parse-request.js';
import type { Credentials, Request } from '../protocol/requests.js';
import { encodeFailure, encodeSuccess } from '../protocol/response.js';
import { responseChunks, type Response } from '../protocol/response-bytes.js';
import { UNAUTHORIZED_REASON } from '../protocol/wire-texts.js';
import { decodeWriteEventLine } from '../protocol/write-event-line.js';
import type { Logger } from '../storage/logger.js';
import type { Authenticator } from './auth.js';
import { ConnectionAuth } from './connection-auth.js';
import type { Executor } from './execute.js';
import type { EventBus } from '../bus/bus.js';
import type { ServerLimits } from './limits.js';
import type { RequestCounts } from './request-counts.js';
import { RequestQueue, type RequestQueueHost } from './request-queue.js';
import { SubscriptionSession, type SessionHost } from './subscription-session.js';

/** Counters kept by the server across connections. */
export interface ServerStats {
  connectionsAccepted: number;
  /** Past max_connections (or during shutdown): answered TOO_MANY_CONNECTIONS (SHUTTING_DOWN) and closed. */
  connectionsRejected: number;
  /** Past max_connections plus the rejection headroom: closed at once, without a line. */
  connectionsDropped: number;
  /** TLS handshakes that failed or did not complete within partial_line_timeout_ms. */
  tlsHandshakeFailures: number;
  requests: number;
  authFailures: number;
  linesTooLong: number;
  timeouts: number;
  slowReadersDisconnected: number;
}

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly limits: ServerLimits;
  readonly parseLimits: ParseLimits;
  readonly executor: Executor;
  readonly authenticator: Authenticator;
  /** The bus, for subscriptions (the executor runs everything else). */
  readonly bus: EventBus;
  readonly logger: Logger;
  readonly stats: ServerStats;
  connectionClosed(connection: Connection): void;
}

const EXIT_REQUEST: Request = { operation: 'exit' };
/** Each `subscribe` request's session, from parsing to its turn (one map for every connection: none per connection). */
const sessions = new WeakMap<Request, SubscriptionSession>();
/** The responses of one flush, taken from a queue (flushes are synchronous: one array serves every connection). */
const taken: Response[] = [];
const UNAUTHORIZED = new EventBusError(ErrorCodes.UNAUTHORIZED, UNAUTHORIZED_REASON);

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

export class Connection implements RequestQueueHost, SessionHost {
  readonly remote: string;
  private readonly reader: LineReader;
  private readonly limits: ServerLimits;
  /** Requests in flight, in order (request-queue.ts). */
  private readonly queue: RequestQueue;
  private readonly auth: ConnectionAuth;
  private flushScheduled = false;
  private readonly flushBound = () => this.flush();
  private paused = false;
  /** 0, or when a write first returned false and has not drained since. */
  private writeBlockedSinceMs = 0;
  private lastActivityMs = Date.now();
  /** 0, or about when the line now being received started. */
  private partialSinceMs = 0;
  /** After `exit` or a fatal error: no more lines are read. */
  private stopLines = false;
  /** Server shutdown: answer what has been received, then close. */
  private draining = false;
  /** The client half-closed: answer what it sent, then close. */
  private inputEnded = false;
  private state = OPEN;
  private closingDeadlineMs = 0;
  /** Set from a `subscribe` until its subscription ends: lines go to it (subscription-session.ts). */
  private subscription: SubscriptionSession | null = null;
  /**
   * From a subscription's start until its last line is taken by the socket: the output stall
   * timeout does not apply. The kernel's socket buffers (megabytes on Linux, autotuned) take a
   * slow reader's output in steps of a third of them, so the output of a subscriber that reads
   * steadily at 20 KB/s was seen not to drain for a minute and cut off as a client that does not
   * read. A subscription's output is bounded without it: while catching up it reads on only when
   * little waits (pull), and once live it ends with SLOW_CONSUMER past `maxSubscriptionBufferBytes`,
   * its end line waiting behind what it sent, which the subscriber gets however slowly it reads.
   */
  private subscriptionOutput = false;
  /** Made at the first `process_events`, aborted once the client's input ends: see {@link endLongPolls}. */
  private gone: AbortController | null = null;

  constructor(private readonly socket: Socket, private readonly host: ConnectionHost) {
    this.limits = host.limits;
    this.reader = new LineReader(host.limits.maxLineBytes);
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.auth = new ConnectionAuth(host.authenticator, this.remote);
    this.queue = new RequestQueue(this);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.onDrain());
    socket.on('error', (error: NodeJS.ErrnoException) => {
      host.logger.debug({ remote: this.remote, code: error.code }, 'connection error');
    });
    socket.on('close', () => this.onClose());
  }

  /** Requests read and not yet answered. */
  get inFlight(): number {
    return this.queue.inFlight;
  }

  /** Server shutdown: stop reading, answer every complete line already received, then close. */
  shutdown(): void {
    if (this.state !== OPEN) return;
    this.draining = true;
    this.subscription?.shutdown();
    // Long-polls not yet started answer at once rather than hold the shutdown up.
    this.queue.drain();
    this.pump();
    this.maybeFinish();
  }

  /** Closes at once, answered or not. */
  destroy(): void {
    if (this.state === CLOSED) return;
    this.socket.destroy();
  }

  /** Enforces timeouts; called by the server's sweep. */
  checkTimers(nowMs: number): void {
    if (this.state === CLOSING) {
      if (nowMs >= this.closingDeadlineMs) this.socket.destroy();
      return;
    }
    if (this.state !== OPEN) return;
    if (this.writeBlockedSinceMs !== 0 && !this.subscriptionOutput && nowMs - this.writeBlockedSinceMs > this.limits.outputStallTimeoutMs) {
      this.host.stats.slowReadersDisconnected += 1;
      this.host.logger.warn({ remote: this.remote, queuedBytes: this.socket.writableLength }, 'disconnecting a client that does not read its responses');
      this.socket.destroy();
      return;
    }
    if (this.inFlight > 0) return;
    if (this.partialSinceMs !== 0 && nowMs - this.partialSinceMs > this.limits.partialLineTimeoutMs) {
      this.host.stats.timeouts += 1;
      this.fail(new EventBusError(ErrorCodes.TIMEOUT, `request line not completed within ${this.limits.partialLineTimeoutMs} ms; closing the connection`));
      return;
    }
    if (this.limits.idleTimeoutMs > 0 && this.partialSinceMs === 0 && nowMs - this.lastActivityMs > this.limits.idleTimeoutMs) {
      this.host.stats.timeouts += 1;
      this.host.logger.debug({ remote: this.remote }, 'closing an idle connection');
      this.finish();
    }
  }

  // ------------------------------------------------------------------ reading

  private onData(chunk: Buffer): void {
    if (this.state !== OPEN || this.stopLines) return; // closing: what follows is discarded
    this.lastActivityMs = Date.now();
    this.reader.push(chunk);
    this.pump();
  }

  private onEnd(): void {
    if (this.state === CLOSING) {
      this.socket.destroySoon(); // once our last response is flushed
      return;
    }
    this.inputEnded = true;
    this.endLongPolls();
    if (!this.stopLines) {
      // As Go's line scanner: a last line without a newline is still a request.
      this.reader.push(Buffer.from('\n'));
      this.pump();
    }
    this.maybeFinish();
  }

  private canTakeLine(): boolean {
    return (
      this.state === OPEN &&
      !this.stopLines &&
      this.writeBlockedSinceMs === 0 &&
      this.queue.inFlight < this.limits.maxInFlightRequests &&
      this.queue.inFlightBytes < this.limits.maxInFlightBytes &&
      !(this.subscription?.starting ?? false)
    );
  }

  /** Takes buffered lines while there is room, then pauses or resumes the socket. */
  private pump(): void {
    let took = false;
    const endedBefore = this.reader.linesEnded;
    while (this.canTakeLine()) {
      const line = this.reader.next();
      if (line === null) break;
      took = true;
      if (line === LINE_TOO_LONG) {
        this.lineTooLong();
        break;
      }
      this.handleLine(line);
    }
    // A line ended since the last pump (a blank one too): what is held now started after it.
    if (!this.reader.hasPartialLine) this.partialSinceMs = 0;
    else if (took || this.partialSinceMs === 0 || this.reader.linesEnded !== endedBefore) this.partialSinceMs = Date.now();
    // The client's FIN: its subscription ends once it has sent its first line and every line the
    // client sent has been answered (see endLongPolls); the connection then closes (maybeFinish).
    const subscription = this.subscription;
    if (this.inputEnded && subscription !== null && !subscription.starting && !this.reader.hasUnreadBytes) subscription.inputEnded();
    const wantData = this.state === OPEN && !this.stopLines && !this.draining && !this.inputEnded && this.canTakeLine();
    if (wantData && this.paused) {
      this.paused = false;
      this.socket.resume();
    } else if (!wantData && !this.paused && this.state === OPEN) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private handleLine(line: Buffer): void {
    this.host.stats.requests += 1;
    // Most lines are write_event: one pass over the bytes; anything else takes the general path.
    // (Not on a subscription's connection: it takes only unsubscribe and exit, below.)
    const write = this.subscription === null ? decodeWriteEventLine(line) : null;
    if (write !== null) {
      if (!this.auth.authorized(write.credentials)) {
        this.refuse('write_event', write.credentials, write.requestIdJson);
        return;
      }
      this.queue.enqueue(write.request, write.requestIdJson, false, line.length, false);
      return;
    }
    const decoded = decodeLine(line);
    if (this.subscription !== null && this.subscription.takeLine(decoded)) return;
    if (!decoded.ok) {
      this.host.executor.counts.of(DECODE_REQUEST).fail(decoded.error.code); // metrics hook
      this.queue.answer(encodeFailure(DECODE_REQUEST, decoded.error, decoded.requestIdJson), false);
      return;
    }
    const envelope = decoded.envelope;
    const { operation, requestIdJson } = envelope;
    if (operation === 'health') {
      this.host.executor.counts.of(operation).ok += 1; // metrics hook
      this.queue.answer(encodeSuccess(operation, undefined, requestIdJson), false);
      return;
    }
    if (operation === 'exit') {
      this.stopLines = true;
      this.reader.discard();
      this.queue.enqueue(EXIT_REQUEST, requestIdJson, true, 0, true);
      return;
    }
    if (!this.auth.authorized(envelope.credentials)) {
      this.refuse(operation, envelope.credentials, requestIdJson);
      return;
    }
    let request: Request;
    try {
      request = parseRequest(envelope, this.host.parseLimits);
    } catch (error) {
      this.queue.answer(this.host.executor.failure(operation, error, requestIdJson), false);
      return;
    }
    if (request.operation === 'subscribe') {
      this.subscription = new SubscriptionSession(this, this.host.bus, request, requestIdJson, this.limits.maxSubscriptionBufferBytes);
      sessions.set(request, this.subscription);
    }
    // Appends run together: the engine orders them (and checks expected versions) as dispatched.
    const exclusive = request.operation !== 'write_event' && request.operation !== 'append_events';
    const atDispatch = request.operation === 'mark_event' && this.host.executor.markAppliedAtDispatch(request);
    this.queue.enqueue(request, requestIdJson, exclusive, line.length, false, atDispatch);
  }

  /** Answers UNAUTHORIZED (the refusal is logged once per connection). */
  private refuse(operation: string, credentials: Credentials | null, requestIdJson: string | undefined): void {
    this.host.stats.authFailures += 1;
    this.host.executor.counts.of(operation).fail(ErrorCodes.UNAUTHORIZED); // metrics hook
    this.auth.refused(credentials?.clientId, this.host.stats.authFailures, this.host.logger);
    this.queue.answer(encodeFailure(operation, UNAUTHORIZED, requestIdJson), false);
  }

  private lineTooLong(): void {
    this.host.stats.linesTooLong += 1;
    this.host.logger.debug({ remote: this.remote, maxLineBytes: this.limits.maxLineBytes }, 'request line too long; closing the connection');
    this.fail(new EventBusError(ErrorCodes.LINE_TOO_LONG, `request line longer than ${this.limits.maxLineBytes} bytes; closing the connection`));
  }

  /** Answers with a connection-level error after what is already queued, then closes. */
  private fail(error: EventBusError): void {
    this.host.executor.counts.of(DECODE_REQUEST).fail(error.code); // metrics hook
    this.stopLines = true;
    this.reader.discard();
    this.partialSinceMs = 0;
    this.queue.answer(encodeFailure(DECODE_REQUEST, error, undefined), true);
  }

  // ------------------------------------------------------------------ the queue's host (methods, not closures: no memory per connection)

  /** RequestQueueHost: runs a request (a subscribe: its session, until it ends). */
  execute(request: Request, requestIdJson: string | undefined): Response | Promise<Response> {
    const session = request.operation === 'subscribe' ? sessions.get(request) : undefined;
    if (session !== undefined) {
      this.subscriptionOutput = true;
      return session.start();
    }
    if (request.operation !== 'process_events') return this.host.executor.execute(request, requestIdJson);
    this.gone ??= new AbortController();
    return this.host.executor.execute(request, requestIdJson, this.gone.signal);
  }

  // ------------------------------------------------------------------ the subscription's host

  /** SessionHost: bytes queued on the socket. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  /** SessionHost: a subscription has output. */
  outputReady(): void {
    this.scheduleFlush();
  }

  /** SessionHost: lines are requests again. */
  sessionEnded(session: SubscriptionSession): void {
    if (this.subscription === session) this.subscription = null;
  }

  /** SessionHost: a subscription's asynchronous start is over: lines held meanwhile are taken. */
  linesReady(): void {
    // Called from within the queue's dispatch: the pump (which may enqueue) runs after it.
    queueMicrotask(() => {
      if (this.state === OPEN) this.pump();
    });
  }

  /** SessionHost: the server's answer counts (request-counts.ts). */
  get counts(): RequestCounts {
    return this.host.executor.counts;
  }

  /** SessionHost: may these credentials make requests (an unsubscribe)? */
  authorized(credentials: Credentials | null, operation: string): boolean {
    if (this.auth.authorized(credentials)) return true;
    this.host.stats.authFailures += 1;
    this.host.executor.counts.of(operation).fail(ErrorCodes.UNAUTHORIZED); // metrics hook
    this.auth.refused(credentials?.clientId, this.host.stats.authFailures, this.host.logger);
    return false;
  }

  /** RequestQueueHost: the failure line of a request. */
  failure(operation: string, error: unknown, requestIdJson: string | undefined): string {
    return this.host.executor.failure(operation, error, requestIdJson);
  }

  /** RequestQueueHost: responses may be computed while open and the client reads them. */
  canDispatch(): boolean {
    return this.writeBlockedSinceMs === 0 && this.state === OPEN;
  }

  /** RequestQueueHost: a response is ready. */
  answered(): void {
    this.scheduleFlush();
  }

  // ------------------------------------------------------------------ writing

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current microtasks: every response completed by one group commit goes out in one write.
    process.nextTick(this.flushBound);
  }

  /** Writes the answered responses at the front of the queue, in order, in one write. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.state !== OPEN) return;
    const close = this.queue.takeAnswered(taken);
    // A subscription's lines follow the answers taken (they are never interleaved with them).
    this.subscription?.takeOutput(taken);
    if (taken.length > 0) {
      const chunks = responseChunks(taken, taken.length);
      taken.length = 0;
      this.lastActivityMs = Date.now();
      if (!this.write(chunks) && this.writeBlockedSinceMs === 0) this.writeBlockedSinceMs = this.lastActivityMs;
      if (this.socket.writableLength > this.limits.maxOutputBytes) {
        this.host.stats.slowReadersDisconnected += 1;
        this.host.logger.warn({ remote: this.remote, queuedBytes: this.socket.writableLength }, 'disconnecting a client whose unread responses exceed the output limit');
        this.socket.destroy();
        return;
      }
    }
    // A subscription's last line has gone to the kernel: the connection's output is ordinary again.
    if (this.subscription === null && this.writeBlockedSinceMs === 0) this.subscriptionOutput = false;
    if (close) {
      this.finish();
      return;
    }
    // Requests held back while their predecessors' responses were written (see RequestQueue.dispatch).
    if (this.writeBlockedSinceMs === 0) this.queue.dispatch();
    this.pump();
    this.maybeFinish();
  }

  /** Writes the chunks as one vectored write; false when the socket asks to wait for 'drain'. */
  private write(chunks: readonly Buffer[]): boolean {
    if (chunks.length === 1) return this.socket.write(chunks[0]!);
    this.socket.cork();
    let more = true;
    for (const chunk of chunks) more = this.socket.write(chunk);
    this.socket.uncork();
    return more;
  }

  private onDrain(): void {
    this.writeBlockedSinceMs = 0;
    if (this.subscription === null) this.subscriptionOutput = false;
    if (this.state !== OPEN) return;
    this.subscription?.drained();
    this.queue.dispatch();
    this.pump();
  }

  // ------------------------------------------------------------------ closing

  /** Closes once everything received has been answered (shutdown, or the client half-closed). */
  private maybeFinish(): void {
    if (this.state !== OPEN || !(this.draining || this.inputEnded)) return;
    if (this.inFlight > 0 || (this.reader.hasUnreadBytes && !this.stopLines)) return;
    this.finish();
  }

  /** Ends the connection after what is written; what the client still sends is discarded. */
  private finish(): void {
    if (this.state !== OPEN) return;
    this.state = CLOSING;
    this.stopLines = true;
    this.reader.discard();
    this.closingDeadlineMs = Date.now() + this.limits.closeLingerMs;
    this.socket.end();
    if (this.inputEnded) {
      this.socket.destroySoon();
      return;
    }
    // Keep reading (and dropping) so that unread input does not turn our close into a reset
    // that could discard the last response before the client reads it.
    this.paused = false;
    this.socket.resume();
  }

  /**
   * The client closed, or half-closed: its long-polls answer now with what is due, and later ones
   * do not wait. A FIN cannot tell a client that is gone from one that only stopped sending, and
   * a poll that went on waiting for a gone client would hand it the next events, held from every
   * other caller until ack_wait. For the same reason its subscription ends (in pump, once it has
   * sent its first line): kept open, a gone subscriber held its connection (CLOSE-WAIT, counted
   * open) until the next write to a quiet stream.
   */
  private endLongPolls(): void {
    (this.gone ??= new AbortController()).abort();
  }

  private onClose(): void {
    this.state = CLOSED;
    this.endLongPolls();
    this.subscription?.close();
    this.queue.close();
    this.reader.discard();
    this.host.connectionClosed(this);
  }
}
