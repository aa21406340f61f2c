/**
 * `eventbus bench`: the load generator against any eventbus server, so people can measure their
 * own deployment. It writes into a stream of its own for a time (or a number of events) with
 * `connections` × `depth` writes in flight, then drains and acknowledges every event with
 * `workers` consumers in batches, and prints each phase's throughput and latency percentiles
 * (p50, p99, p99.9: per write, and per batch for the drain). The stream is deleted at the end
 * unless --keep. The same generator (src/cli/bench) drives eventbus in `npm run bench`.
 */
import { randomBytes } from 'node:crypto';
import { CommandFailure } from './command-failure.js';
import { BENCH_DEFAULTS } from './client-program.js';
import { withClient, type ConnectionFlags } from './connection-options.js';
import { drainLoad, writeLoad } from './bench/eventbus-load.js';
import { Progress } from './bench/progress.js';
import type { RunResult } from './bench/run-result.js';
import { Output, formatCount, formatRate } from './output.js';
import { progressBar } from './progress-bar.js';

export interface BenchFlags extends ConnectionFlags {
  stream?: string;
  connections: number;
  depth: number;
  size: number;
  seconds?: number;
  events?: number;
  drain: boolean;
  workers: number;
  batch: number;
  keep?: boolean;
}

/** Runs `work` with a progress bar fed from its Progress counter. */
async function withProgress<T>(label: string, unit: string, work: (progress: Progress) => Promise<T>): Promise<T> {
  const progress = new Progress();
  const bar = progressBar(label, unit, 1);
  const timer = setInterval(() => bar.update(progress.done, Math.max(1, progress.total)), 125);
  try {
    return await work(progress);
  } finally {
    clearInterval(timer);
    bar.stop();
  }
}

function phaseJson(result: RunResult): Record<string, unknown> {
  const l = result.latency;
  return {
    events: result.ops,
    elapsed_ms: Math.round(result.elapsedMs),
    events_per_second: Math.round(result.opsPerSecond),
    latency_ms: { p50: l.p50Ms, p90: l.p90Ms, p99: l.p99Ms, p999: l.p999Ms, max: l.maxMs, mean: l.meanMs },
    errors: result.errors,
  };
}

export async function benchCommand(flags: BenchFlags): Promise<void> {
  const out = new Output(flags);
  const stream = flags.stream ?? `eventbus-bench-${randomBytes(4).toString('hex')}`;
  const seconds = flags.events === undefined ? flags.seconds ?? BENCH_DEFAULTS.seconds : flags.seconds;
  await withClient(flags, async (client, endpoint) => {
    await client.createStream(stream);
    let write: RunResult;
    let drain: RunResult | null = null;
    try {
      write = await withProgress('writing', seconds === undefined ? 'events' : 'ms', (progress) => writeLoad(endpoint, {
        stream,
        connections: flags.connections,
        depth: flags.depth,
        sizeBytes: flags.size,
        ...(seconds === undefined ? {} : { durationMs: seconds * 1000 }),
        ...(flags.events === undefined ? {} : { events: flags.events }),
        progress,
      }));
      if (flags.drain) {
        const { eventCount } = await client.getStreamInfo(stream);
        drain = await withProgress('draining', 'events', (progress) => drainLoad(endpoint, { stream, consumer: 'eventbus-bench', workers: flags.workers, batch: flags.batch, events: eventCount, progress }));
      }
    } finally {
      if (flags.keep !== true) await client.deleteStream(stream);
    }
    const shape = { server: `${endpoint.host}:${endpoint.port}`, tls: endpoint.tls !== undefined, stream: flags.keep === true ? stream : null, connections: flags.connections, depth: flags.depth, size_bytes: flags.size };
    if (out.json) {
      await out.value({ ...shape, write: phaseJson(write), drain: drain === null ? null : { ...phaseJson(drain), workers: flags.workers, batch: flags.batch } });
    } else {
      const row = (phase: string, r: RunResult) => [phase, r.ops, `${(r.elapsedMs / 1000).toFixed(2)} s`, formatRate(r.opsPerSecond), `${r.latency.p50Ms} ms`, `${r.latency.p99Ms} ms`, `${r.latency.p999Ms} ms`, `${r.latency.maxMs} ms`];
      const rows = [row(`write (${flags.connections},${flags.depth}) ${formatCount(flags.size)} B`, write)];
      if (drain !== null) rows.push(row(`drain ${flags.workers} × ${flags.batch}`, drain));
      await out.line(`${out.bold('eventbus bench')} against ${shape.server}${shape.tls ? ' (TLS)' : ''}${flags.keep === true ? `, stream ${stream} kept` : ''}`);
      await out.line(out.table(['phase', 'events', 'time', 'rate', 'p50', 'p99', 'p99.9', 'max'], rows, ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right']));
      await out.line(out.dim('latency: per write (send to acknowledgement); for the drain, per batch (fetch to delivery)'));
    }
    const errors = write.errors + (drain?.errors ?? 0);
    if (errors > 0) throw new CommandFailure(3, `${formatCount(errors)} requests failed during the run (run with fewer --connections or --depth, or see the server's log)`);
  });
}
