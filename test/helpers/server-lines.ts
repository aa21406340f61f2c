/**
 * A raw line-oriented socket for protocol tests: send exact bytes, read exact response lines,
 * observe the server closing. Nothing here interprets the protocol.
 */
import net from 'node:net';

export class LineSocket {
  private buffer = '';
  private waiting: { resolve(line: string): void; reject(error: Error): void } | null = null;
  private ended = false;
  readonly closed: Promise<void>;
  private error: Error | null = null;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      this.deliver();
    });
    socket.on('error', (error) => {
      this.error = error;
    });
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.ended = true;
      this.deliver();
      resolve();
    }));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<LineSocket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      socket.once('connect', () => resolve(new LineSocket(socket)));
      socket.once('error', reject);
    });
  }

  /** Writes `text` as is (add the `\n` yourself). */
  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Writes one request line (a string is sent as is, anything else as JSON) and reads the response. */
  async request(request: unknown): Promise<Record<string, unknown>> {
    this.write(`${typeof request === 'string' ? request : JSON.stringify(request)}\n`);
    return JSON.parse(await this.readLine()) as Record<string, unknown>;
  }

  /** The next line (without `\n`); rejects after `timeoutMs` or if the connection closes first. */
  readLine(timeoutMs = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`no line within ${timeoutMs} ms (buffered: ${JSON.stringify(this.buffer.slice(0, 200))})`));
      }, timeoutMs);
      this.waiting = {
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.deliver();
    });
  }

  async readLines(count: number, timeoutMs = 5000): Promise<string[]> {
    const lines: string[] = [];
    for (let i = 0; i < count; i++) lines.push(await this.readLine(timeoutMs));
    return lines;
  }

  /** Bytes received and not yet read as lines. */
  get unread(): string {
    return this.buffer;
  }

  /** Resolves true if the server closes the connection within `timeoutMs`. */
  async closesWithin(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const result = await Promise.race([this.closed.then(() => true), timeout]);
    clearTimeout(timer);
    return result;
  }

  close(): void {
    this.socket.destroy();
  }

  private deliver(): void {
    if (this.waiting === null) return;
    const end = this.buffer.indexOf('\n');
    if (end !== -1) {
      const line = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 1);
      const waiting = this.waiting;
      this.waiting = null;
      waiting.resolve(line);
    } else if (this.ended) {
      const waiting = this.waiting;
      this.waiting = null;
      waiting.reject(this.error ?? new Error(`connection closed (unread: ${JSON.stringify(this.buffer)})`));
    }
  }
}

/** Connects and closes the socket when the test ends. */
export async function linesFor(t: { teardown(fn: () => void): void }, port: number): Promise<LineSocket> {
  const socket = await LineSocket.connect(port);
  t.teardown(() => socket.close());
  return socket;
}
