/**
 * Idle connections against a real `eventbus serve` process: the server's RSS with none and with
 * N idle connections open, and the latency of another client's writes in both cases. Used by
 * test/hostile/idle-connections.test.ts and `npm run bench -- --only idle` (bench/workloads/idle.ts).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventBusClient } from '../../src/client/client.js';
import { startServerProcess } from './server-process.js';

export interface Latency {
  writes: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface IdleResult {
  connections: number;
  /** Server RSS (bytes) with no idle connection (one active client), and with all of them open. */
  rssWithout: number;
  rssWith: number;
  /** (rssWith - rssWithout) / connections. */
  bytesPerConnection: number;
  /** Descriptors the server holds with all of them open. */
  serverFds: number;
  /** How long opening them took. */
  openMs: number;
  /** Another client's sequential write_event latency (fsync as configured). */
  latencyWithout: Latency;
  latencyWith: Latency;
  /** Idle connections the server closed during the measurement (should be 0). */
  closedByServer: number;
  /** Did every one stay connected and does the server still answer one of them? */
  idleStillServed: boolean;
  fsync: string;
}

export interface IdleOptions {
  connections: number;
  /** Sequential writes measured with and without the idle connections. */
  writes: number;
  /** Keep the idle connections open this long (writing all the while) before measuring memory. */
  holdMs?: number;
  fsync?: 'always' | 'interval' | 'never';
  /** Called with progress lines (benchmarks print them). */
  log?: (line: string) => void;
}

function memory(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

async function writeLatency(client: EventBusClient, writes: number, untilMs = 0): Promise<Latency> {
  const samples: number[] = [];
  while (samples.length < writes || Date.now() < untilMs) {
    const started = performance.now();
    await client.writeEvent('latency', { n: samples.length, pad: 'x'.repeat(64) });
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { writes: samples.length, p50Ms: percentile(samples, 50), p99Ms: percentile(samples, 99), maxMs: samples[samples.length - 1]! };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function measureIdleConnections(options: IdleOptions): Promise<IdleResult> {
  const log = options.log ?? (() => {});
  const fsync = options.fsync ?? 'always';
  const dir = mkdtempSync(path.join(tmpdir(), 'eventbus-idle-'));
  const config = path.join(dir, 'config.yaml');
  // Room for the idle connections plus the measuring client.
  writeFileSync(config, `server:\n  max_connections: ${options.connections + 100}\n`);
  const server = await startServerProcess({ dataDir: path.join(dir, 'data'), cwd: dir, args: ['--config', config, '--fsync', fsync] });
  const pid = server.child.pid!;
  const sockets: net.Socket[] = [];
  let closedByServer = 0;
  try {
    const client = await EventBusClient.connect({ port: server.port });
    await client.createStream('latency');
    await writeLatency(client, 300); // warm-up
    await sleep(300);
    const latencyWithout = await writeLatency(client, options.writes);
    await sleep(300);
    const rssWithout = memory(pid);
    log(`without idle connections: rss ${(rssWithout / 2 ** 20).toFixed(1)} MiB, write p50 ${latencyWithout.p50Ms.toFixed(2)} ms p99 ${latencyWithout.p99Ms.toFixed(2)} ms`);

    const opened = Date.now();
    for (let i = 0; i < options.connections; i += 500) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < Math.min(options.connections, i + 500); j++) {
        batch.push(new Promise<void>((resolve, reject) => {
          const socket = net.connect({ port: server.port, host: '127.0.0.1' });
          socket.once('connect', () => resolve());
          socket.once('error', reject);
          socket.on('close', () => (closedByServer += 1));
          socket.on('data', () => {});
          sockets.push(socket);
        }));
      }
      await Promise.all(batch);
    }
    const openMs = Date.now() - opened;
    for (let i = 0; i < 200 && fds(pid) < options.connections; i++) await sleep(50);
    log(`${options.connections} idle connections open in ${openMs} ms`);
    await sleep(500);
    const holdUntil = Date.now() + (options.holdMs ?? 0);
    const latencyWith = await writeLatency(client, options.writes, holdUntil);
    await sleep(300);
    const rssWith = memory(pid);
    const serverFds = fds(pid);
    // One of them, chosen at random, is still served.
    const probe = sockets[Math.floor(Math.random() * sockets.length)]!;
    const answer = await new Promise<string>((resolve) => {
      let data = '';
      probe.on('data', (chunk: Buffer) => {
        data += chunk.toString();
        if (data.includes('\n')) resolve(data);
      });
      probe.write('{"operation":"health"}\n');
      setTimeout(() => resolve(data), 5000).unref();
    });
    const idleStillServed = answer === '{"operation":"health","status":true}\n' && closedByServer === 0;
    log(`with them: rss ${(rssWith / 2 ** 20).toFixed(1)} MiB, write p50 ${latencyWith.p50Ms.toFixed(2)} ms p99 ${latencyWith.p99Ms.toFixed(2)} ms`);
    await client.close();
    return {
      connections: options.connections,
      rssWithout,
      rssWith,
      bytesPerConnection: (rssWith - rssWithout) / options.connections,
      serverFds,
      openMs,
      latencyWithout,
      latencyWith,
      closedByServer,
      idleStillServed,
      fsync,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await server.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
