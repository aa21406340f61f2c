/**
 * A raw-socket load generator for write_event: `connections` sockets each keep `depth` requests in
 * flight (depth 1 = wait for each reply), until `events` replies have arrived. Requests are
 * prebuilt strings and replies are only counted and checked for `"status":true`, so the
 * generator spends as little CPU as possible beside the server on the same machine.
 */
import net from 'node:net';

export interface LoadOptions {
  port: number;
  host?: string;
  connections: number;
  depth: number;
  /** Bytes of each event's JSON payload. */
  sizeBytes: number;
  events: number;
  stream: string;
  auth?: { clientId: string; clientSecret: string };
}

export interface LoadResult {
  connections: number;
  depth: number;
  sizeBytes: number;
  events: number;
  elapsedMs: number;
  eventsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  failures: number;
}

/** A JSON object of exactly `sizeBytes` bytes: {"seq":N,"pad":"xxx…"} padded to size. */
export function payload(sizeBytes: number, seq: number): string {
  const head = `{"seq":${seq},"pad":"`;
  const padding = Math.max(0, sizeBytes - head.length - 2);
  return `${head}${'x'.repeat(padding)}"}`;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { connections, depth, events } = options;
  const auth = options.auth === undefined ? '' : `,"auth":{"client_id":${JSON.stringify(options.auth.clientId)},"client_secret":${JSON.stringify(options.auth.clientSecret)}}`;
  const event = payload(options.sizeBytes, 0);
  const request = `{"operation":"write_event","body":{"stream_name":${JSON.stringify(options.stream)},"event":${event}}${auth}}\n`;
  const latencies = new Float64Array(events);
  let recorded = 0;
  let issued = 0;
  let failures = 0;
  const started = performance.now();

  await Promise.all(Array.from({ length: connections }, () => new Promise<void>((resolve, reject) => {
    const socket = net.connect({ port: options.port, host: options.host ?? '127.0.0.1' });
    socket.setNoDelay(true);
    const sentAt: number[] = [];
    let sentHead = 0;
    let buffered = '';
    let inFlight = 0;
    const fill = () => {
      let out = '';
      const now = performance.now();
      while (inFlight < depth && issued < events) {
        issued += 1;
        inFlight += 1;
        sentAt.push(now);
        out += request;
      }
      if (out.length > 0) socket.write(out);
      else if (inFlight === 0) {
        socket.end();
        resolve();
      }
    };
    socket.on('connect', fill);
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      let start = 0;
      const now = performance.now();
      for (;;) {
        const end = buffered.indexOf('\n', start);
        if (end === -1) break;
        if (!buffered.startsWith('{"operation":"write_event","status":true', start)) failures += 1;
        latencies[recorded++] = now - sentAt[sentHead++]!;
        inFlight -= 1;
        start = end + 1;
      }
      buffered = buffered.slice(start);
      if (sentHead > 4096) {
        sentAt.splice(0, sentHead);
        sentHead = 0;
      }
      fill();
    });
  })));

  const elapsedMs = performance.now() - started;
  const sorted = latencies.slice(0, recorded).sort();
  return {
    connections,
    depth,
    sizeBytes: options.sizeBytes,
    events: recorded,
    elapsedMs,
    eventsPerSecond: (recorded / elapsedMs) * 1000,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length === 0 ? 0 : sorted[sorted.length - 1]!,
    failures,
  };
}
