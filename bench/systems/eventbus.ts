/**
 * eventbus under test: the built server process (`dist/src/cli/main.js serve`) with a fresh data
 * directory, `--fsync always` or `--fsync interval`, driven with raw JSON lines over sockets
 * (faster than the TypeScript client for the generator: the `client-vs-raw` workload measures
 * both in the same run).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { localEndpoint, type Endpoint } from '../../src/cli/bench/endpoint.js';
import { call, drainLoad, parseReply, prefill, requestLine, writeLine, writeLoad } from '../../src/cli/bench/eventbus-load.js';
import { recordMs } from '../../src/cli/bench/histogram.js';
import { timedPayload } from '../../src/cli/bench/payload.js';
import { openLines, type PipelinedConnection } from '../../src/cli/bench/pipelined-connection.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import type { RunResult } from '../../src/cli/bench/run-result.js';
import { MixedRun } from '../core/mixed-run.js';
import { makeTempDir, removeTempDir, spawnTracked, waitUntil } from '../core/processes.js';
import type { DrainSpec, MixedSpec, RunningSystem, StartOptions, SystemDefinition, WriteSpec } from './system.js';

/** dist/src/cli/main.js, seen from dist/bench/systems. */
export const SERVER_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The package version and the commit it was built from. */
export function eventbusVersion(): string {
  const { version } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${version} (${commit})`;
  } catch {
    return version;
  }
}

class EventBusUnderTest implements RunningSystem {
  constructor(
    readonly id: 'eventbus-always' | 'eventbus-interval',
    readonly version: string,
    readonly pid: number,
    readonly port: number,
    private readonly stopServer: () => Promise<void>,
  ) {
    this.endpoint = localEndpoint(port);
  }

  private readonly endpoint: Endpoint;

  async write(spec: WriteSpec): Promise<RunResult> {
    await call(this.endpoint, 'create_stream', { stream_name: spec.key });
    try {
      return await writeLoad(this.endpoint, { stream: spec.key, connections: spec.connections, depth: spec.depth, sizeBytes: spec.sizeBytes, durationMs: spec.durationMs, progress: spec.progress });
    } finally {
      await this.drop(spec.key);
    }
  }

  async prefill(key: string, events: number, sizeBytes: number, progress: Progress): Promise<void> {
    await call(this.endpoint, 'create_stream', { stream_name: key });
    await prefill(this.endpoint, key, events, sizeBytes, progress);
  }

  async drop(key: string): Promise<void> {
    await call(this.endpoint, 'delete_stream', { stream_name: key }, 'STREAM_NOT_FOUND');
  }

  /** Workers loop: process_events (batch) → mark_event of those ids, the next process_events pipelined behind the mark. */
  drain(spec: DrainSpec): Promise<RunResult> {
    return drainLoad(this.endpoint, { stream: spec.key, consumer: spec.group, workers: spec.workers, batch: spec.batch, events: spec.events, progress: spec.progress });
  }

  async mixed(spec: MixedSpec): Promise<RunResult> {
    await call(this.endpoint, 'create_stream', { stream_name: spec.key });
    const writers = await openLines(this.endpoint, spec.writers);
    const consumers = await openLines(this.endpoint, spec.consumers);
    const fetchLine = requestLine('process_events', { stream_name: spec.key, consumer: spec.group, max_events: spec.batch, wait_ms: 500 });
    const run = new MixedRun(spec.durationMs, spec.progress);
    // The end closes the consumers' outstanding long-polls.
    run.whenEnded(() => consumers.forEach((connection) => connection.close()));
    const writeLoop = async (connection: PipelinedConnection<string>) => {
      while (run.writing) {
        parseReply(await connection.send(writeLine(spec.key, timedPayload(spec.sizeBytes, performance.now()))), 'write_event');
        run.wrote();
      }
    };
    const consumeLoop = async (connection: PipelinedConnection<string>) => {
      while (!run.stopping) {
        const events = parseReply(await connection.send(fetchLine), 'process_events').body?.events ?? [];
        if (events.length === 0) continue;
        const now = performance.now();
        for (const event of events) recordMs(run.deliveries, now - event.body.t!);
        parseReply(await connection.send(requestLine('mark_event', { event_ids: events.map((e) => e.id), status: 1, consumer: spec.group })), 'mark_event');
        run.acked(events.length);
      }
    };
    try {
      await run.drive(writers, spec.writerDepth, writeLoop, consumers, consumeLoop);
    } finally {
      for (const connection of [...writers, ...consumers]) connection.close();
      await this.drop(spec.key);
    }
    return run.result(0);
  }

  stop(): Promise<void> {
    return this.stopServer();
  }
}

function definition(fsync: 'always' | 'interval'): SystemDefinition {
  const id = fsync === 'always' ? 'eventbus-always' : 'eventbus-interval';
  return {
    id,
    label: `eventbus, fsync ${fsync}`,
    durability: fsync === 'always' ? 'fsync' : 'interval',
    durabilityNote: fsync === 'always' ? 'every acknowledgement fsynced' : 'fsync every 100 ms (fsync_interval_ms)',
    durabilityShort: fsync === 'always' ? 'fsync before ack' : 'fsync every 100 ms',
    missing: () => (existsSync(SERVER_MAIN) ? null : `the server is not built: run \`npm run build\` (${SERVER_MAIN} is missing)`),
    start: (options: StartOptions) => startEventbus(fsync, options),
  };
}

/** What {@link startEventbus} adds to a plain server. */
export interface EventbusVariant {
  /** Also serve the HTTP port (/metrics, the admin page) on a free port. */
  http?: boolean;
  /** More `serve` options (e.g. `--backend jetstream --nats-servers …`). */
  args?: string[];
}

/** An eventbus server under test, and its HTTP port when asked for. */
export interface StartedEventbus extends RunningSystem {
  readonly httpPort: number | undefined;
}

/** Starts `eventbus serve` (fsync `fsync`) on free ports with a fresh data directory. */
export async function startEventbus(fsync: 'always' | 'interval', options: StartOptions, variant: EventbusVariant = {}): Promise<StartedEventbus> {
  const id = fsync === 'always' ? 'eventbus-always' : 'eventbus-interval';
  const dir = makeTempDir(`eventbus-bench-${fsync}-`);
  const portFile = path.join(dir, 'port');
  const httpPortFile = path.join(dir, 'http-port');
  const profile = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir, '--cpu-prof-name', `${id}-${Date.now()}.cpuprofile`];
  const http = variant.http === true ? ['--http-port', '0', '--http-port-file', httpPortFile] : [];
  const server = spawnTracked(process.execPath, [...profile, SERVER_MAIN, 'serve', '--port', '0', '--port-file', portFile, ...http, '--data', path.join(dir, 'data'), '--fsync', fsync, '--log-level', 'warn', ...(variant.args ?? [])], { cwd: dir });
  try {
    await waitUntil(() => existsSync(portFile) && readFileSync(portFile, 'utf8').trim() !== '' || server.child.exitCode !== null, 60_000, () => new Error(`eventbus did not start:\n${server.output()}`));
    if (server.child.exitCode !== null) throw new Error(`eventbus exited at start:\n${server.output()}`);
  } catch (error) {
    await server.stop('SIGKILL');
    removeTempDir(dir);
    throw error;
  }
  const port = Number(readFileSync(portFile, 'utf8'));
  // The server writes the HTTP port's file before the TCP one's.
  const httpPort = variant.http === true ? Number(readFileSync(httpPortFile, 'utf8')) : undefined;
  return Object.assign(new EventBusUnderTest(id, eventbusVersion(), server.child.pid!, port, async () => {
    const status = await server.stop('SIGTERM');
    removeTempDir(dir);
    if (status !== 0) throw new Error(`eventbus (${id}) exited with ${status}:\n${server.output()}`);
  }), { httpPort });
}

export const eventbusAlways = definition('always');
export const eventbusInterval = definition('interval');
