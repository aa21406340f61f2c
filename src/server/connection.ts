/**
 * One client connection: reads request lines, runs them in the connection's order, writes exactly
 * one response line per request, in request order, and enforces the per-connection limits.
 *
 * Ordering. Requests take effect in the order sent. Consecutive `write_event`s are dispatched at
 * once (the engine assigns their offsets in dispatch order, and one group commit covers their
 * fsyncs); any other request waits until everything before it has completed, and holds back what
 * follows. Requests answered without touching the store (decode, auth and validation errors,
 * `health`) complete at once; their responses still wait for their turn.
 *
 * Flow control. Lines are taken from the socket only while fewer than `maxInFlightRequests`
 * (and `maxInFlightBytes`) are unanswered and the client is reading its responses; otherwise the
 * socket is paused and TCP holds the client back. A client that stops reading is disconnected
 * when its queued output passes `maxOutputBytes` or has not drained for `outputStallTimeoutMs`.
 */
import type { Socket } from 'node:net';
import { ErrorCodes, EventBusError, assert } from '../errors.js';
import { LINE_TOO_LONG, LineReader } from '../protocol/line-reader.js';
import { DECODE_REQUEST } from '../protocol/operations.js';
import { decodeLine, parseRequest, type ParseLimits } from '../protocol/parse-request.js';
import type { Credentials, Request } from '../protocol/requests.js';
import { encodeFailure, encodeSuccess } from '../protocol/response.js';
import { UNAUTHORIZED_REASON } from '../protocol/wire-texts.js';
import type { Logger } from '../storage/logger.js';
import type { Authenticator } from './auth.js';
import type { Executor } from './execute.js';
import type { ServerLimits } from './limits.js';

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
  readonly logger: Logger;
  readonly stats: ServerStats;
  connectionClosed(connection: Connection): void;
}

interface Slot {
  /** The request, until it is dispatched (null for requests answered on arrival). */
  request: Request | null;
  requestIdJson: string | undefined;
  /** Waits for everything before it, and holds back everything after it. */
  exclusive: boolean;
  /** Request line bytes, counted against maxInFlightBytes until answered. */
  bytes: number;
  response: string | null;
  /** Close the connection once this response is written (`exit`, fatal errors). */
  closeAfter: boolean;
}

const EXIT_REQUEST: Request = { operation: 'exit' };
const UNAUTHORIZED = new EventBusError(ErrorCodes.UNAUTHORIZED, UNAUTHORIZED_REASON);
/** Answered slots at the front of the queue are dropped in batches of this many. */
const COMPACT_AFTER_SLOTS = 1024;
/**
 * Dispatch stops once the responses it computed at once since the last flush (reads: get_stream_events,
 * get_stream_info) pass this many characters, and lets them be written first; it goes on only
 * while the socket takes them. Without it, 256 pipelined reads of a 4 MiB page were computed in
 * one pass: a gigabyte held for one connection, and a string too long for V8 (the server crashed).
 */
const DISPATCH_OUTPUT_CHARS = 1 << 20;

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

export class Connection {
  readonly remote: string;
  private readonly reader: LineReader;
  private readonly limits: ServerLimits;
  private slots: Slot[] = [];
  /** First slot whose response is not yet written. */
  private head = 0;
  /** First slot not yet dispatched. */
  private next = 0;
  /** Dispatched slots not yet complete. */
  private running = 0;
  private exclusiveRunning = false;
  private inFlightBytes = 0;
  private flushScheduled = false;
  /** Characters of responses computed by dispatch at once since the last flush. */
  private computedUnflushed = 0;
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
  private authFailureLogged = false;
  private verifiedCredentials: Credentials | null = null;

  constructor(private readonly socket: Socket, private readonly host: ConnectionHost) {
    this.limits = host.limits;
    this.reader = new LineReader(host.limits.maxLineBytes);
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
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
    return this.slots.length - this.head;
  }

  /** Server shutdown: stop reading, answer every complete line already received, then close. */
  shutdown(): void {
    if (this.state !== OPEN) return;
    this.draining = true;
    // Long-polls not yet started answer at once rather than hold the shutdown up.
    for (let i = this.next; i < this.slots.length; i++) {
      const request = this.slots[i]!.request;
      if (request !== null && request.operation === 'process_events') request.waitMs = 0;
    }
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
    if (this.writeBlockedSinceMs !== 0 && nowMs - this.writeBlockedSinceMs > this.limits.outputStallTimeoutMs) {
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
      this.slots.length - this.head < this.limits.maxInFlightRequests &&
      this.inFlightBytes < this.limits.maxInFlightBytes
    );
  }

  /** Takes buffered lines while there is room, then pauses or resumes the socket. */
  private pump(): void {
    let took = false;
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
    if (!this.reader.hasPartialLine) this.partialSinceMs = 0;
    else if (took || this.partialSinceMs === 0) this.partialSinceMs = Date.now();
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
    const decoded = decodeLine(line);
    if (!decoded.ok) {
      this.answer(encodeFailure(DECODE_REQUEST, decoded.error, decoded.requestIdJson), false);
      return;
    }
    const envelope = decoded.envelope;
    const { operation, requestIdJson } = envelope;
    if (operation === 'health') {
      this.answer(encodeSuccess(operation, undefined, requestIdJson), false);
      return;
    }
    if (operation === 'exit') {
      this.stopLines = true;
      this.reader.discard();
      this.enqueue(EXIT_REQUEST, requestIdJson, true, 0, true);
      return;
    }
    if (!this.authorized(envelope.credentials)) {
      this.authFailed(envelope.credentials?.clientId);
      this.answer(encodeFailure(operation, UNAUTHORIZED, requestIdJson), false);
      return;
    }
    let request: Request;
    try {
      request = parseRequest(envelope, this.host.parseLimits);
    } catch (error) {
      this.answer(this.host.executor.failure(operation, error, requestIdJson), false);
      return;
    }
    this.enqueue(request, requestIdJson, request.operation !== 'write_event', line.length, false);
  }

  /**
   * Clients send their credentials with every request: once a pair has been verified on this
   * connection, the same strings are accepted without hashing again. Comparing with the pair
   * this connection already proved it knows leaks nothing it does not have.
   */
  private authorized(credentials: Credentials | null): boolean {
    const verified = this.verifiedCredentials;
    if (verified !== null && credentials !== null && credentials.clientId === verified.clientId && credentials.clientSecret === verified.clientSecret) return true;
    if (!this.host.authenticator.check(credentials)) return false;
    if (credentials !== null) this.verifiedCredentials = credentials;
    return true;
  }

  private authFailed(clientId: string | undefined): void {
    this.host.stats.authFailures += 1;
    if (this.authFailureLogged) return;
    this.authFailureLogged = true; // once per connection: a client retrying in a loop must not flood the log
    this.host.logger.warn(
      // The id only when it is a configured one: a client that swapped its fields sent its secret as the id.
      { remote: this.remote, clientId: clientId !== undefined && this.host.authenticator.isClientId(clientId) ? clientId : null, authFailures: this.host.stats.authFailures },
      'request refused: unknown client credentials',
    );
  }

  private lineTooLong(): void {
    this.host.stats.linesTooLong += 1;
    this.host.logger.debug({ remote: this.remote, maxLineBytes: this.limits.maxLineBytes }, 'request line too long; closing the connection');
    this.fail(new EventBusError(ErrorCodes.LINE_TOO_LONG, `request line longer than ${this.limits.maxLineBytes} bytes; closing the connection`));
  }

  /** Answers with a connection-level error after what is already queued, then closes. */
  private fail(error: EventBusError): void {
    this.stopLines = true;
    this.reader.discard();
    this.partialSinceMs = 0;
    this.answer(encodeFailure(DECODE_REQUEST, error, undefined), true);
  }

  // ------------------------------------------------------------------ ordering

  private answer(response: string, closeAfter: boolean): void {
    this.slots.push({ request: null, requestIdJson: undefined, exclusive: false, bytes: 0, response, closeAfter });
    this.scheduleFlush();
  }

  private enqueue(request: Request, requestIdJson: string | undefined, exclusive: boolean, bytes: number, closeAfter: boolean): void {
    if (this.draining && request.operation === 'process_events') request.waitMs = 0;
    this.slots.push({ request, requestIdJson, exclusive, bytes, response: null, closeAfter });
    this.inFlightBytes += bytes;
    this.dispatch();
  }

  /**
   * Starts every slot whose turn has come, while the client reads its responses: stops when the
   * socket's buffer is full, and after about {@link DISPATCH_OUTPUT_CHARS} of responses computed
   * at once (the flush that writes them calls this again).
   */
  private dispatch(): void {
    while (this.next < this.slots.length && this.writeBlockedSinceMs === 0 && this.state === OPEN) {
      if (this.computedUnflushed >= DISPATCH_OUTPUT_CHARS) return; // a flush is scheduled: it calls dispatch again
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
      const result = this.host.executor.execute(request, slot.requestIdJson);
      if (typeof result === 'string') {
        slot.response = result;
        this.computedUnflushed += result.length;
        this.scheduleFlush();
        continue;
      }
      this.running += 1;
      if (slot.exclusive) this.exclusiveRunning = true;
      result.then(
        (response) => this.settled(slot, response),
        (error: unknown) => this.settled(slot, this.host.executor.failure(request.operation, error, slot.requestIdJson)),
      );
    }
  }

  private settled(slot: Slot, response: string): void {
    this.running -= 1;
    if (slot.exclusive) this.exclusiveRunning = false;
    slot.response = response;
    if (this.state === CLOSED) return;
    this.scheduleFlush();
    this.dispatch();
  }

  // ------------------------------------------------------------------ writing

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current microtasks: every response completed by one group commit goes out in one write.
    process.nextTick(this.flushBound);
  }

  /** Writes the answered slots at the front of the queue, in order. */
  private flush(): void {
    this.flushScheduled = false;
    this.computedUnflushed = 0;
    if (this.state !== OPEN) return;
    let out = '';
    let close = false;
    const slots = this.slots;
    while (this.head < slots.length) {
      const slot = slots[this.head]!;
      if (slot.response === null) break;
      out += slot.response;
      this.inFlightBytes -= slot.bytes;
      this.head += 1;
      if (slot.closeAfter) {
        close = true;
        break;
      }
    }
    // Answered slots that dispatch had not yet stepped over (it stops while output is blocked)
    // are written too: dispatch must not look behind them (after compaction, `next` would be
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
    if (out.length > 0) {
      this.lastActivityMs = Date.now();
      if (!this.socket.write(out) && this.writeBlockedSinceMs === 0) this.writeBlockedSinceMs = this.lastActivityMs;
      if (this.socket.writableLength > this.limits.maxOutputBytes) {
        this.host.stats.slowReadersDisconnected += 1;
        this.host.logger.warn({ remote: this.remote, queuedBytes: this.socket.writableLength }, 'disconnecting a client whose unread responses exceed the output limit');
        this.socket.destroy();
        return;
      }
    }
    if (close) {
      this.finish();
      return;
    }
    // Requests held back while their predecessors' responses were written (see dispatch).
    if (this.writeBlockedSinceMs === 0) this.dispatch();
    this.pump();
    this.maybeFinish();
  }

  private onDrain(): void {
    this.writeBlockedSinceMs = 0;
    if (this.state !== OPEN) return;
    this.dispatch();
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

  private onClose(): void {
    this.state = CLOSED;
    this.slots = [];
    this.head = 0;
    this.next = 0;
    this.reader.discard();
    this.host.connectionClosed(this);
  }
}
