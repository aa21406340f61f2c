/**
 * `eventbus bench`: the load generator against any eventbus server, so people can measure their
 * own deployment. It writes into a stream of its own for a time (or a number of events) with
 * `connections` × `depth` writes in flight, then drains and acknowledges every event with
 * `workers` consumers in batches, and prints each phase's throughput and latency percentiles
 * (p50, p99, p99.9: per write, and per batch for the drain). The stream is deleted at the end
 * unless --keep, also on Ctrl-C or SIGTERM (then it exits 130 with the bar removed), and after a
 * run that failed, whose line ends with what became of the stream (deleted, kept, or not deleted
 * and how to delete it: a server killed mid-run takes this connection too). The same generator
 * (src/cli/bench) drives eventbus in `npm run bench`.
 *
 * A write the server refuses is not counted in the write rate; the first refusal's code and
 * reason are printed, and the drain is skipped (it would measure a stream not written as asked).
 */
import { randomBytes } from 'node:crypto';
import { CommandFailure, clientFailure, hostPort, type Target } from './command-failure.js';
import { BENCH_DEFAULTS } from './client-program.js';
import { withClient, type ConnectionFlags } from './connection-options.js';
import { ExitStatus } from './exit-status.js';
import { ConnectionClosedError } from './bench/closed-loop.js';
import { drainLoad, writeLoad } from './bench/eventbus-load.js';
import { ErrorCodes, isEventBusError } from '../errors.js';
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

/** `CODE: reason` of an error from the client (its message for anything else). */
function errorText(error: unknown): string {
  if (isEventBusError(error)) return `${error.code}: ${error.reason}`;
  return error instanceof Error ? error.message : String(error);
}

/** What became of the bench's stream: said at the end of a failure line and after Ctrl-C. */
interface StreamFate {
  /** `stream X deleted`, `stream X kept`, or `stream X not deleted (CODE: reason; eventbus delete X)`. */
  text: string;
  /** Why the stream could not be deleted, if it could not. */
  failure?: unknown;
}

export async function benchCommand(flags: BenchFlags): Promise<void> {
  const out = new Output(flags);
  const stream = flags.stream ?? `eventbus-bench-${randomBytes(4).toString('hex')}`;
  const seconds = flags.events === undefined ? flags.seconds ?? BENCH_DEFAULTS.seconds : flags.seconds;
  /** The stream's deletion once begun: the run's end and Ctrl-C share it (never two deletes). */
  let removal: Promise<StreamFate> | null = null;
  const removeStream = (client: EventBusClient): Promise<StreamFate> => (removal ??= flags.keep === true
    ? Promise.resolve({ text: `stream ${stream} kept` })
    : client.deleteStream(stream).then(
      () => ({ text: `stream ${stream} deleted` }),
      (failure: unknown) => ({ text: `stream ${stream} not deleted (${errorText(failure)}; eventbus delete ${stream})`, failure }),
    ));
  /** The drain while it runs: Ctrl-C waits for its workers to stop before deleting the stream. */
  let draining: Promise<unknown> | null = null;
  const signal = stopOnSignals();
  try {
    await withClient(flags, async (client, endpoint) => {
      const target = { host: endpoint.host, port: endpoint.port, tls: endpoint.tls !== undefined };
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
          process.stderr.write(`eventbus: interrupted before the server answered create_stream: ${unmeasured()}\n`);
          process.exit(130);
        }
        if (draining !== null) await Promise.race([draining.catch(() => {}), new Promise((resolve) => setTimeout(resolve, DRAIN_STOP_WAIT_MS))]);
        process.stderr.write(`eventbus: interrupted: ${(await removeStream(client)).text}\n`);
        process.exit(130);
      });
      try {
        await client.createStream(stream);
      } catch (error) {
        // The connection lost under the request: the stream may have been made all the same.
        const failure = clientFailure(error, target);
        if (failure.status !== ExitStatus.UNAVAILABLE) throw failure;
        throw new CommandFailure(failure.status, `${failure.message}; ${unmeasured()}`);
      }
      created = true;
      // After Ctrl-C, what the run ends with (a failure of the stream being deleted, a drain cut
      // short) is the interruption: the handler above says so and exits.
      const measured = await measure(client, endpoint).then((phases) => ({ phases }), (error: unknown) => ({ error }));
      if (signal.isStopped()) await interrupted;
      const fate = await removeStream(client);
      if (signal.isStopped()) await interrupted;
      // A run that failed (a connection lost, a server killed) says what became of its stream,
      // which may be left behind (its connection lost too): named, with how to delete it.
      if ('error' in measured) throw withFate(measured.error, fate, target);
      if (fate.failure !== undefined) {
        const failure = clientFailure(fate.failure, target);
        throw new CommandFailure(failure.status, `${failure.message}; stream ${stream} not deleted (eventbus delete ${stream})`);
      }
      await report(measured.phases, endpoint);
    }, { stop: signal, status: ExitStatus.INTERRUPTED });
  } finally {
    signal.dispose();
  }

  /** Said when the run ends before create_stream was answered. */
  function unmeasured(): string {
    return `nothing was measured (if stream ${stream} was made, eventbus delete ${stream})`;
  }

  /** The run's failure as one line ending with what became of the stream (a bug is rethrown as it is). */
  function withFate(error: unknown, fate: StreamFate, target: Target): unknown {
    let failure: CommandFailure;
    try {
      failure = clientFailure(error, target);
    } catch {
      return error;
    }
    return new CommandFailure(failure.status, `${failure.message}; ${fate.text}`);
  }

  /** The write phase, then the drain (unless --no-drain, or a write was refused). */
  async function measure(client: EventBusClient, endpoint: Endpoint): Promise<{ write: RunResult; drain: RunResult | null }> {
    const write = await loadFailures(() => withProgress('writing', seconds === undefined ? 'events' : 'ms', (progress) => writeLoad(endpoint, {
      stream,
      connections: flags.connections,
      depth: flags.depth,
      sizeBytes: flags.size,
      ...(seconds === undefined ? {} : { durationMs: seconds * 1000 }),
      ...(flags.events === undefined ? {} : { events: flags.events }),
      progress,
    })));
    if (!flags.drain || write.errors > 0) return { write, drain: null };
    const { eventCount } = await client.getStreamInfo(stream);
    draining = loadFailures(() => withProgress('draining', 'events', (progress) => drainLoad(endpoint, { stream, consumer: 'eventbus-bench', workers: flags.workers, batch: flags.batch, events: eventCount, progress, stopped: () => signal.isStopped() })));
    return { write, drain: (await draining) as RunResult };
  }

  /** The report of a finished run (the stream already deleted unless --keep); exit 3 if any request was refused. */
  async function report({ write, drain }: { write: RunResult; drain: RunResult | null }, endpoint: Endpoint): Promise<void> {
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
