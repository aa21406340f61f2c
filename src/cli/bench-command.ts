/**
 * `eventbus bench`: the load generator against any eventbus server, so people can measure their
 * own deployment. It writes into a stream of its own for a time (or a number of events) with
 * `connections` × `depth` writes in flight, then drains and acknowledges every event with
 * `workers` consumers in batches, and prints each phase's throughput and latency percentiles
 * (p50, p99, p99.9: per write, and per batch for the drain). The stream is deleted at the end
 * unless --keep, also on Ctrl-C or SIGTERM (then it exits 130 with the bar removed). The same
 * generator (src/cli/bench) drives eventbus in `npm run bench`.
 *
 * A write the server refuses is not counted in the write rate; the first refusal's code and
 * reason are printed, and the drain is skipped (it would measure a stream not written as asked).
 */
import { randomBytes } from 'node:crypto';
import { CommandFailure, hostPort } from './command-failure.js';
import { BENCH_DEFAULTS } from './client-program.js';
import { withClient, type ConnectionFlags } from './connection-options.js';
import { ExitStatus } from './exit-status.js';
import { ConnectionClosedError } from './bench/closed-loop.js';
import { drainLoad, writeLoad } from './bench/eventbus-load.js';
import { ErrorCodes } from '../errors.js';
import { Progress } from './bench/progress.js';
import type { RunResult } from './bench/run-result.js';
import { Output, formatCount, formatRate } from './output.js';
import { progressBar, type ProgressBar } from './progress-bar.js';
import { stopOnSignals } from './stop-signal.js';
import type { EventBusClient } from '../client/client.js';
import type { Endpoint } from './bench/endpoint.js';

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

/** How long Ctrl-C waits for the drain's workers to stop (each ends after its request in flight). */
const DRAIN_STOP_WAIT_MS = 2000;

/** The bar drawn now, if any (Ctrl-C removes it). */
let currentBar: ProgressBar | null = null;
/** Set by Ctrl-C: no bar is drawn again while the run is wound up. */
let barsOff = false;

/**
 * Runs `work` with a progress bar fed from its Progress counter. The bar is drawn once the load
 * has set its total (after connecting), so its first frame shows the real one.
 */
async function withProgress<T>(label: string, unit: string, work: (progress: Progress) => Promise<T>): Promise<T> {
  const progress = new Progress();
  const timer = setInterval(() => {
    if (progress.total <= 0 || barsOff) return;
    currentBar ??= progressBar(label, unit, progress.total);
    currentBar.update(progress.done, progress.total);
  }, 125);
  try {
    return await work(progress);
  } finally {
    clearInterval(timer);
    currentBar?.stop();
    currentBar = null;
  }
}

/** Events that succeeded (a refused write is a reply too, but not throughput). */
function succeeded(result: RunResult): number {
  return Math.max(0, result.ops - result.errors);
}

function phaseJson(result: RunResult): Record<string, unknown> {
  const l = result.latency;
  return {
    events: succeeded(result),
    elapsed_ms: Math.round(result.elapsedMs),
    events_per_second: Math.round((succeeded(result) / result.elapsedMs) * 1000),
    latency_ms: { p50: l.p50Ms, p90: l.p90Ms, p99: l.p99Ms, p999: l.p999Ms, max: l.maxMs, mean: l.meanMs },
    errors: result.errors,
    ...(result.firstError === undefined ? {} : { first_error: firstErrorText(result.firstError) }),
  };
}

/** `CODE: reason` of a failed reply line (the line itself if it is not a reply). */
function firstErrorText(line: string): string {
  try {
    const reply = JSON.parse(line) as { code?: string; reason?: string };
    if (typeof reply.code === 'string') return `${reply.code}: ${reply.reason ?? ''}`.trim();
  } catch {
    // cut short or not JSON
  }
  return line;
}

/**
 * A load's connection lost as a one-line failure: the server's refusal it answered before closing
 * the connection (exit 3, its code first), or CONNECTION_ERROR (69).
 */
async function loadFailures<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (error instanceof ConnectionClosedError) {
      const closed = `the server closed a connection with ${formatCount(error.inFlight)} request${error.inFlight === 1 ? '' : 's'} in flight`;
      if (error.failure !== undefined) throw new CommandFailure(ExitStatus.REFUSED, `${firstErrorText(error.failure)}; ${closed}`);
      throw new CommandFailure(ExitStatus.UNAVAILABLE, `${ErrorCodes.CONNECTION_ERROR}: ${closed}`);
    }
    if (error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string') { // a socket's own error (ECONNRESET)
      throw new CommandFailure(ExitStatus.UNAVAILABLE, `${ErrorCodes.CONNECTION_ERROR}: ${error.message}`);
    }
    throw error;
  }
}

export async function benchCommand(flags: BenchFlags): Promise<void> {
  const out = new Output(flags);
  const stream = flags.stream ?? `eventbus-bench-${randomBytes(4).toString('hex')}`;
  const seconds = flags.events === undefined ? flags.seconds ?? BENCH_DEFAULTS.seconds : flags.seconds;
  let deleted = false;
  /** The drain while it runs: Ctrl-C waits for its workers to stop before deleting the stream. */
  let draining: Promise<unknown> | null = null;
  const signal = stopOnSignals();
  try {
    await withClient(flags, async (client, endpoint) => {
      let created = false;
      // Ctrl-C: remove the bar, stop the drain's workers (bounded: a server that stopped answering
      // must not hold the exit up), delete the stream (on this connection: the load's are busy),
      // say so and exit 130 (ending the load's connections with the process). Before
      // create_stream is answered there is nothing to delete, nor any answer worth waiting for.
      const interrupted = signal.stopped.then(async () => {
        barsOff = true;
        currentBar?.stop();
        if (!created) {
          client.destroy();
          process.stderr.write(`eventbus: interrupted before the server answered create_stream: nothing was measured (if stream ${stream} was made, eventbus delete ${stream})\n`);
          process.exit(130);
        }
        if (draining !== null) await Promise.race([draining.catch(() => {}), new Promise((resolve) => setTimeout(resolve, DRAIN_STOP_WAIT_MS))]);
        let what = `stream ${stream} ${deleted ? 'deleted' : 'kept'}`;
        if (flags.keep !== true && !deleted) {
          what = await client.deleteStream(stream).then(() => `stream ${stream} deleted`, (error: unknown) => `stream ${stream} not deleted (${error instanceof Error ? error.message : String(error)}; eventbus delete ${stream})`);
        }
        process.stderr.write(`eventbus: interrupted: ${what}\n`);
        process.exit(130);
      });
      await client.createStream(stream);
      created = true;
      // After Ctrl-C, what the run ends with (a failure of the stream being deleted, a drain cut
      // short) is the interruption: the handler above says so and exits.
      const failure = await run(client, endpoint).then(() => null, (error: unknown) => ({ error }));
      if (signal.isStopped()) await interrupted;
      if (failure !== null) throw failure.error;
    }, { stop: signal, status: ExitStatus.INTERRUPTED });
  } finally {
    signal.dispose();
  }

  async function run(client: EventBusClient, endpoint: Endpoint): Promise<void> {
    let write: RunResult;
    let drain: RunResult | null = null;
    try {
      write = await loadFailures(() => withProgress('writing', seconds === undefined ? 'events' : 'ms', (progress) => writeLoad(endpoint, {
        stream,
        connections: flags.connections,
        depth: flags.depth,
        sizeBytes: flags.size,
        ...(seconds === undefined ? {} : { durationMs: seconds * 1000 }),
        ...(flags.events === undefined ? {} : { events: flags.events }),
        progress,
      })));
      if (flags.drain && write.errors === 0) {
        const { eventCount } = await client.getStreamInfo(stream);
        draining = loadFailures(() => withProgress('draining', 'events', (progress) => drainLoad(endpoint, { stream, consumer: 'eventbus-bench', workers: flags.workers, batch: flags.batch, events: eventCount, progress, stopped: () => signal.isStopped() })));
        drain = (await draining) as RunResult;
      }
    } finally {
      // After Ctrl-C the signal handler deletes the stream.
      if (flags.keep !== true && !signal.isStopped()) {
        await client.deleteStream(stream);
        deleted = true;
      }
    }
    if (signal.isStopped()) return;
    const shape = { server: hostPort(endpoint), tls: endpoint.tls !== undefined, stream, connections: flags.connections, depth: flags.depth, size_bytes: flags.size };
    if (out.json) {
      await out.value({ ...shape, write: phaseJson(write), drain: drain === null ? null : { ...phaseJson(drain), workers: flags.workers, batch: flags.batch } });
    } else {
      const row = (phase: string, r: RunResult) => [phase, succeeded(r), `${(r.elapsedMs / 1000).toFixed(2)} s`, formatRate((succeeded(r) / r.elapsedMs) * 1000), `${r.latency.p50Ms} ms`, `${r.latency.p99Ms} ms`, `${r.latency.p999Ms} ms`, `${r.latency.maxMs} ms`];
      const rows = [row(`write (${flags.connections},${flags.depth}) ${formatCount(flags.size)} B`, write)];
      if (drain !== null) rows.push(row(`drain ${flags.workers} × ${flags.batch}`, drain));
      await out.line(`${out.bold('eventbus bench')} against ${shape.server}${shape.tls ? ' (TLS)' : ''}${flags.keep === true ? `, stream ${stream} kept` : ''}`);
      await out.line(out.table(['phase', 'events', 'time', 'rate', 'p50', 'p99', 'p99.9', 'max'], rows, ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right']));
      await out.line(out.dim('latency: per write (send to acknowledgement); for the drain, per batch (fetch to delivery)'));
    }
    const errors = write.errors + (drain?.errors ?? 0);
    if (errors > 0) {
      const first = write.firstError ?? drain?.firstError;
      const why = first === undefined ? "see the server's log" : `the first: ${firstErrorText(first)}`;
      const skipped = write.errors > 0 && flags.drain ? '; the drain was skipped' : '';
      throw new CommandFailure(3, `${formatCount(errors)} request${errors === 1 ? '' : 's'} failed during the run (${why})${skipped}`);
    }
  }
}
