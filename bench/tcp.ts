/**
 * `npm run bench:tcp`: write_event throughput and latency through a real `eventbus serve`
 * process (fsync always, a fresh data directory), driven over raw TCP sockets.
 *
 *   node dist/bench/tcp.js                       the three target workloads (below)
 *   node dist/bench/tcp.js -c 16 -d 32 -n 200000 -s 100   one workload
 *   options: -c connections, -d depth (requests in flight per connection), -n events,
 *            -s payload bytes, --runs N (median of N, default 3), --fsync always|interval|never,
 *            --no-ebload, --json
 *
 * Figures on a shared virtual disk drift from run to run: each workload runs `--runs` times and
 * the median (by events/s) is reported with the spread, next to this machine's raw
 * write+fdatasync rate measured in the same run, so results can be read as ratios.
 *
 * Targets (issue 3, 100-byte events, fsync always): 16 connections without pipelining
 * ≥ 30,000 writes/s; 16 connections 32 deep ≥ 200,000/s; 1 connection p99 < 1 ms.
 * When ../shared/tools/ebload.mjs is found, it is run against the same server as a cross-check.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fdatasync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './bench-server.js';
import { runLoad, type LoadResult } from './tcp-load.js';

interface Workload {
  name: string;
  connections: number;
  depth: number;
  events: number;
  target?: { eventsPerSecond?: number; p99Ms?: number };
}

const EBLOAD_CANDIDATES = [
  fileURLToPath(new URL('../../../shared/tools/ebload.mjs', import.meta.url)),
  fileURLToPath(new URL('../../shared/tools/ebload.mjs', import.meta.url)),
  '/work/shared/tools/ebload.mjs',
];

function argument(names: string[], fallback?: string): string | undefined {
  for (let i = 2; i < process.argv.length; i++) if (names.includes(process.argv[i]!)) return process.argv[i + 1];
  return fallback;
}
const flag = (name: string) => process.argv.includes(name);

async function request(port: number, line: string): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    socket.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\n')) {
        socket.destroy();
        resolve(data.trim());
      }
    });
    socket.on('error', reject);
    socket.write(`${line}\n`);
  });
}

function ebload(port: number, workload: Workload, sizeBytes: number, stream: string): Record<string, unknown> | null {
  const script = EBLOAD_CANDIDATES.find((candidate) => existsSync(candidate));
  if (script === undefined) return null;
  const events = Math.min(workload.events, workload.depth > 1 ? 200_000 : 40_000);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, '--mode', 'write', '--port', String(port), '-c', String(workload.connections), '-d', String(workload.depth), '-n', String(events), '-s', String(sizeBytes), '--stream', stream], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch {
        resolve(null);
      }
    });
  }) as unknown as Record<string, unknown> | null;
}

/** Raw disk baseline: 256-byte write + fdatasync, one at a time, for `durationMs`. */
async function fsyncBaseline(durationMs: number): Promise<{ perSecond: number; p50Ms: number; p99Ms: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'eventbus-fsync-'));
  const fd = openSync(path.join(dir, 'f'), 'w');
  const block = Buffer.alloc(256, 120);
  const latencies: number[] = [];
  const started = performance.now();
  let position = 0;
  while (performance.now() - started < durationMs) {
    const t0 = performance.now();
    writeSync(fd, block, 0, block.length, position);
    position += block.length;
    await new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : resolve())));
    latencies.push(performance.now() - t0);
  }
  const elapsed = performance.now() - started;
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return { perSecond: (latencies.length / elapsed) * 1000, p50Ms: latencies[Math.floor(latencies.length / 2)]!, p99Ms: latencies[Math.floor(latencies.length * 0.99)]! };
}

function median(results: LoadResult[]): LoadResult {
  const sorted = [...results].sort((a, b) => a.eventsPerSecond - b.eventsPerSecond);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function verdict(result: LoadResult, workload: Workload): string {
  const checks: string[] = [];
  if (workload.target?.eventsPerSecond !== undefined) {
    checks.push(`${result.eventsPerSecond >= workload.target.eventsPerSecond ? 'MET' : 'MISSED'} target ≥ ${workload.target.eventsPerSecond.toLocaleString('en')}/s`);
  }
  if (workload.target?.p99Ms !== undefined) checks.push(`${result.p99Ms < workload.target.p99Ms ? 'MET' : 'MISSED'} target p99 < ${workload.target.p99Ms} ms`);
  return checks.join(', ');
}

async function main(): Promise<void> {
  const sizeBytes = Number(argument(['-s', '--size'], '100'));
  const fsync = argument(['--fsync'], 'always')!;
  const json = flag('--json');
  const runs = Math.max(1, Number(argument(['--runs'], '3')));
  const single = argument(['-c', '--connections']);
  const workloads: Workload[] = single !== undefined
    ? [{ name: 'custom', connections: Number(single), depth: Number(argument(['-d', '--depth'], '1')), events: Number(argument(['-n', '--events'], '100000')) }]
    : [
        { name: '1 connection, no pipelining', connections: 1, depth: 1, events: Number(argument(['-n'], '20000')), target: { p99Ms: 1 } },
        { name: '16 connections, no pipelining', connections: 16, depth: 1, events: 150_000, target: { eventsPerSecond: 30_000 } },
        { name: '16 connections, 32 deep', connections: 16, depth: 32, events: 600_000, target: { eventsPerSecond: 200_000 } },
      ];
  if (!json) {
    console.log(`eventbus TCP benchmark: write_event, ${sizeBytes}-byte events, fsync ${fsync}; ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
    // Other processes on the machine skew every figure: say so.
    console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  }
  const baseline = await fsyncBaseline(2000);
  if (!json) {
    console.log(`disk baseline (same run): 256 B write + fdatasync ${Math.round(baseline.perSecond).toLocaleString('en')}/s, p50 ${baseline.p50Ms.toFixed(3)} ms, p99 ${baseline.p99Ms.toFixed(3)} ms`);
  }
  const server = await startServer(fsync);
  try {
    for (const [i, workload] of workloads.entries()) {
      const stream = `bench-${i}`;
      await request(server.port, `{"operation":"create_stream","body":{"stream_name":"${stream}"}}`);
      // Warm-up: JIT, page cache, segment files.
      await runLoad({ port: server.port, connections: workload.connections, depth: workload.depth, sizeBytes, events: Math.min(5000, workload.events), stream });
      const results: LoadResult[] = [];
      for (let run = 0; run < runs; run++) {
        results.push(await runLoad({ port: server.port, connections: workload.connections, depth: workload.depth, sizeBytes, events: workload.events, stream }));
      }
      const result = median(results);
      const rates = results.map((r) => Math.round(r.eventsPerSecond)).sort((a, b) => a - b);
      const cross = flag('--no-ebload') ? null : await ebload(server.port, workload, sizeBytes, stream);
      if (json) {
        console.log(JSON.stringify({ workload: workload.name, ...result, runs: rates, fsyncBaseline: baseline, ebload: cross }));
        continue;
      }
      console.log(
        `${workload.name.padEnd(30)} (${workload.connections},${workload.depth}): ${Math.round(result.eventsPerSecond).toLocaleString('en').padStart(9)} events/s` +
          `  p50 ${result.p50Ms.toFixed(3)} ms  p99 ${result.p99Ms.toFixed(3)} ms  max ${result.maxMs.toFixed(1)} ms` +
          `  [${(result.eventsPerSecond / baseline.perSecond).toFixed(1)}x raw fsync rate; median of ${runs}: ${rates.map((r) => r.toLocaleString('en')).join(' / ')}; ${result.failures} failures]  ${verdict(result, workload)}`,
      );
      if (cross !== null) {
        console.log(`${''.padEnd(30)} ebload cross-check: ${Math.round(cross.ops_per_s as number).toLocaleString('en').padStart(9)} ops/s  p50 ${cross.p50_ms} ms  p99 ${cross.p99_ms} ms  errors ${cross.errors}, non_true ${cross.non_true}`);
      }
    }
  } finally {
    await server.stop();
  }
  if (!json) console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await main();
