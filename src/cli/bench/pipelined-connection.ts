/**
 * A request/reply connection for protocols that answer in request order (eventbus JSON lines,
 * RESP): `send` returns a promise of the reply, and several sends may be outstanding
 * (pipelining). Used where a workload needs the replies' contents (drains, mixed runs); plain
 * write loads use the cheaper closed-loop generator.
 */
import type net from 'node:net';
import { openSockets, type Endpoint } from './endpoint.js';

export interface ReplyParser<T> {
  feed(chunk: Buffer): T[];
}

/** Newline-delimited replies, as strings without the newline. */
export class LineParser implements ReplyParser<string> {
  private carry = '';

  feed(chunk: Buffer): string[] {
    const text = this.carry + chunk.toString('utf8');
    const lines = text.split('\n');
    this.carry = lines.pop()!;
    return lines;
  }
}

/** What outstanding requests (long-polls at the end of a run) reject with when the benchmark closes. */
export class ClosedByBenchmark extends Error {
  constructor() {
    super('connection closed by the benchmark');
  }
}

export class PipelinedConnection<T> {
  private readonly waiting: { resolve: (value: T) => void; reject: (error: Error) => void }[] = [];
  private waitingHead = 0;
  private failure: Error | null = null;

  private constructor(private readonly socket: net.Socket, parser: ReplyParser<T>) {
    socket.on('data', (chunk: Buffer) => {
      for (const value of parser.feed(chunk)) {
        const waiter = this.waiting[this.waitingHead];
        if (waiter === undefined) {
          this.fail(new Error('a reply that answers no request'));
          return;
        }
        this.waiting[this.waitingHead++] = undefined as never;
        if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
          this.waiting.splice(0, this.waitingHead);
          this.waitingHead = 0;
        }
        waiter.resolve(value);
      }
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static async open<T>(endpoint: Endpoint, parser: () => ReplyParser<T>, count = 1): Promise<PipelinedConnection<T>[]> {
    const sockets = await openSockets(endpoint, count);
    return sockets.map((socket) => new PipelinedConnection(socket, parser()));
  }

  /** Sends one request; the promise settles with its reply (rejects once the connection fails or is closed). */
  send(request: string | Buffer): Promise<T> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(request);
    });
  }

  /** Holds writes until {@link uncork}, so that a burst of requests goes out in one write. */
  cork(): void {
    this.socket.cork();
  }

  /** Writes what {@link cork} held. */
  uncork(): void {
    this.socket.uncork();
  }

  /** Requests still waiting for their reply. */
  get outstanding(): number {
    return this.waiting.length - this.waitingHead;
  }

  close(): void {
    this.fail(new ClosedByBenchmark());
    this.socket.destroy();
  }

  private fail(error: Error): void {
    if (this.failure !== null) return;
    this.failure = error;
    const pending = this.waiting.slice(this.waitingHead);
    this.waiting.length = 0;
    this.waitingHead = 0;
    for (const waiter of pending) waiter.reject(error);
  }
}

/** `count` connections speaking newline-delimited JSON (eventbus). */
export function openLines(endpoint: Endpoint, count = 1): Promise<PipelinedConnection<string>[]> {
  return PipelinedConnection.open(endpoint, () => new LineParser(), count);
}
