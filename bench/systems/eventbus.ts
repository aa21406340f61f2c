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
import { closedLoop } from '../core/closed-loop.js';
import type { RunResult } from '../core/figures.js';
import { lineFramer } from '../core/framers.js';
import { drainLoop } from '../core/drain-loop.js';
import { recordMs } from '../core/histogram.js';
import { MixedRun } from '../core/mixed-run.js';
import { payload, timedPayload } from '../core/payload.js';
import { openLines, type PipelinedConnection } from '../core/pipelined-connection.js';
import { makeTempDir, removeTempDir, spawnTracked, waitUntil } from '../core/processes.js';
import type { Progress } from '../core/progress.js';
import type { DrainSpec, MixedSpec, RunningSystem, StartOptions, SystemDefinition, WriteSpec } from './system.js';

/** dist/src/cli/main.js, seen from dist/bench/systems. */
export const SERVER_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const WRITE_OK = '{"operation":"write_event","status":true';

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

export function writeLine(stream: string, event: string): string {
  return `{"operation":"write_event","body":{"stream_name":${JSON.stringify(stream)},"event":${event}}}\n`;
}

function request(operation: string, body: Record<string, unknown>): string {
  return `${JSON.stringify({ operation, body })}\n`;
}

interface Reply {
  operation: string;
  status: boolean;
  body?: { events?: { id: string; body: { t?: number } }[] };
  reason?: string;
  code?: string;
}

function parseReply(line: string, operation: string): Reply {
  const reply = JSON.parse(line) as Reply;
  if (reply.status !== true || reply.operation !== operation) throw new Error(`${operation} failed: ${line.slice(0, 300)}`);
  return reply;
}

/** One request on a fresh connection (setup steps, not timed). */
async function call(port: number, operation: string, body: Record<string, unknown>, allow?: string): Promise<void> {
  const [connection] = await openLines(port);
  try {
    const line = await connection!.send(request(operation, body));
    const reply = JSON.parse(line) as Reply;
    if (reply.status !== true && reply.code !== allow) throw new Error(`${operation} failed: ${line}`);
  } finally {
    connection!.close();
  }
}

class EventBusUnderTest implements RunningSystem {
  constructor(
    readonly id: 'eventbus-always' | 'eventbus-interval',
    readonly version: string,
    readonly pid: number,
    readonly port: number,
    private readonly stopServer: () => Promise<void>,
  ) {}

  async write(spec: WriteSpec): Promise<RunResult> {
    await call(this.port, 'create_stream', { stream_name: spec.key });
    try {
      return await closedLoop({
        port: this.port,
        connections: spec.connections,
        depth: spec.depth,
        request: Buffer.from(writeLine(spec.key, payload(spec.sizeBytes))),
        framer: () => lineFramer(WRITE_OK),
        durationMs: spec.durationMs,
        progress: spec.progress,
      });
    } finally {
      await this.drop(spec.key);
    }
  }

  async prefill(key: string, events: number, sizeBytes: number, progress: Progress): Promise<void> {
    await call(this.port, 'create_stream', { stream_name: key });
    const result = await closedLoop({ port: this.port, connections: 16, depth: 32, request: Buffer.from(writeLine(key, payload(sizeBytes))), framer: () => lineFramer(WRITE_OK), totalOps: events, progress });
    if (result.errors > 0 || result.ops !== events) throw new Error(`prefill wrote ${result.ops} of ${events} events with ${result.errors} errors`);
  }

  async drop(key: string): Promise<void> {
    await call(this.port, 'delete_stream', { stream_name: key }, 'STREAM_NOT_FOUND');
  }

  /** Workers loop: process_events (batch) → mark_event of those ids, the next process_events pipelined behind the mark. */
  async drain(spec: DrainSpec): Promise<RunResult> {
    const connections = await openLines(this.port, spec.workers);
    const fetchLine = request('process_events', { stream_name: spec.key, consumer: spec.group, max_events: spec.batch });
    try {
      return await drainLoop({
        connections,
        events: spec.events,
        progress: spec.progress,
        fetch: async (connection) => (parseReply(await connection.send(fetchLine), 'process_events').body?.events ?? []).map((e) => e.id),
        ack: async (connection, ids) => {
          parseReply(await connection.send(request('mark_event', { event_ids: ids, status: 1, consumer: spec.group })), 'mark_event');
        },
      });
    } finally {
      for (const connection of connections) connection.close();
    }
  }

  async mixed(spec: MixedSpec): Promise<RunResult> {
    await call(this.port, 'create_stream', { stream_name: spec.key });
    const writers = await openLines(this.port, spec.writers);
    const consumers = await openLines(this.port, spec.consumers);
    const fetchLine = request('process_events', { stream_name: spec.key, consumer: spec.group, max_events: spec.batch, wait_ms: 500 });
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
        parseReply(await connection.send(request('mark_event', { event_ids: events.map((e) => e.id), status: 1, consumer: spec.group })), 'mark_event');
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
    async start(options: StartOptions): Promise<RunningSystem> {
      const dir = makeTempDir(`eventbus-bench-${fsync}-`);
      const portFile = path.join(dir, 'port');
      const profile = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir, '--cpu-prof-name', `${id}-${Date.now()}.cpuprofile`];
      const server = spawnTracked(process.execPath, [...profile, SERVER_MAIN, 'serve', '--port', '0', '--port-file', portFile, '--data', path.join(dir, 'data'), '--fsync', fsync, '--log-level', 'warn'], { cwd: dir });
      try {
        await waitUntil(() => existsSync(portFile) && readFileSync(portFile, 'utf8').trim() !== '' || server.child.exitCode !== null, 15_000, () => new Error(`eventbus did not start:\n${server.output()}`));
        if (server.child.exitCode !== null) throw new Error(`eventbus exited at start:\n${server.output()}`);
      } catch (error) {
        await server.stop('SIGKILL');
        removeTempDir(dir);
        throw error;
      }
      const port = Number(readFileSync(portFile, 'utf8'));
      return new EventBusUnderTest(id, eventbusVersion(), server.child.pid!, port, async () => {
        const status = await server.stop('SIGTERM');
        removeTempDir(dir);
        if (status !== 0) throw new Error(`eventbus (${id}) exited with ${status}:\n${server.output()}`);
      });
    },
  };
}

export const eventbusAlways = definition('always');
export const eventbusInterval = definition('interval');
