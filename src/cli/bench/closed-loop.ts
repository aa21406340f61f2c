/**
 * The closed-loop load generator for writes: `connections` sockets, each keeping `depth`
 * identical requests in flight (depth 1 = wait for each reply), for a fixed time or a fixed
 * number of requests. Requests are one prebuilt buffer; replies are only framed and counted, so
 * the generator spends as little CPU as possible beside the servers on the same machine. Every
 * reply's latency (send to reply) goes into an HDR histogram.
 */
import { openSockets, type Endpoint } from './endpoint.js';
import { newHistogram, recordMs, summarize } from './histogram.js';
import type { ReplyFramer } from './line-framer.js';
import type { Progress } from './progress.js';
import type { RunResult } from './run-result.js';

/**
 * The server closed a connection of the run while requests were in flight. `failure` is the
 * first failed reply on it, if any: a server that closes a connection says why first
 * (LINE_TOO_LONG for a request longer than its max_line_bytes).
 */
export class ConnectionClosedError extends Error {
  constructor(readonly inFlight: number, readonly failure: string | undefined) {
    super(`the server closed a connection with ${inFlight} request${inFlight === 1 ? '' : 's'} in flight${failure === undefined ? '' : ` (it had answered: ${failure})`}`);
    this.name = 'ConnectionClosedError';
  }
}

export interface ClosedLoopOptions {
  endpoint: Endpoint;
  connections: number;
  depth: number;
  /** One complete request (with its terminator), sent over and over. */
  request: Buffer;
  framer: () => ReplyFramer;
  /** Stop issuing after this long... */
  durationMs?: number;
  /** ...or after this many requests in all (whichever comes first). */
  totalOps?: number;
  progress?: Progress;
}

export async function closedLoop(options: ClosedLoopOptions): Promise<RunResult> {
  const { connections, depth, request } = options;
  if (options.durationMs === undefined && options.totalOps === undefined) throw new Error('closedLoop needs durationMs or totalOps');
  const sockets = await openSockets(options.endpoint, connections);
  const histogram = newHistogram();
  const batch = Buffer.concat(Array.from({ length: depth }, () => request));
  const totalOps = options.totalOps ?? Number.POSITIVE_INFINITY;
  const progress = options.progress;
  let issued = 0;
  let completed = 0;
  const framers: ReplyFramer[] = [];
  let lastReplyAt = 0;
  const started = performance.now();
  const deadline = options.durationMs === undefined ? Number.POSITIVE_INFINITY : started + options.durationMs;
  if (progress !== undefined) {
    progress.total = options.durationMs ?? totalOps;
    progress.unit = options.durationMs === undefined ? 'events' : 'ms';
  }

  try {
    await Promise.all(sockets.map((socket) => new Promise<void>((resolve, reject) => {
      const framer = options.framer();
      framers.push(framer);
      const sentAt = new Float64Array(depth);
      let head = 0;
      let inFlight = 0;
      const fill = (now: number) => {
        let count = 0;
        while (inFlight + count < depth && issued < totalOps && now < deadline) {
          sentAt[(head + inFlight + count) % depth] = now;
          count += 1;
          issued += 1;
        }
        if (count > 0) {
          inFlight += count;
          socket.write(batch.subarray(0, count * request.length));
        } else if (inFlight === 0) {
          socket.off('close', closed);
          socket.end();
          resolve();
        }
      };
      const closed = () => reject(new ConnectionClosedError(inFlight, framer.firstFailure));
      socket.on('close', closed);
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        const replies = framer.feed(chunk);
        if (replies === 0) return;
        const now = performance.now();
        if (replies > inFlight) {
          reject(new Error(`${replies} replies for ${inFlight} requests in flight`));
          return;
        }
        for (let i = 0; i < replies; i++) {
          recordMs(histogram, now - sentAt[head]!);
          head = (head + 1) % depth;
        }
        inFlight -= replies;
        completed += replies;
        lastReplyAt = now;
        if (progress !== undefined) progress.done = options.durationMs === undefined ? completed : Math.min(now - started, options.durationMs);
        fill(now);
      });
      fill(performance.now());
    })));
  } finally {
    for (const socket of sockets) socket.destroy();
  }
  const elapsedMs = Math.max(1e-3, lastReplyAt - started);
  const failures = framers.reduce((sum, framer) => sum + framer.failures, 0);
  const firstError = framers.find((framer) => framer.firstFailure !== undefined)?.firstFailure;
  return { ops: completed, elapsedMs, opsPerSecond: (completed / elapsedMs) * 1000, latency: summarize(histogram), errors: failures, ...(firstError === undefined ? {} : { firstError }) };
}
