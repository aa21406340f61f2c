/**
 * Redis Streams under test: Debian's `redis-server` with an append-only file in a temporary
 * directory, `appendfsync always` (every write fsynced before its reply, like eventbus
 * `always`) or `everysec` (like eventbus `interval`), no RDB snapshots and no automatic AOF
 * rewrite (every repetition removes its stream, so there is nothing to compact). Driven with raw
 * RESP over sockets, pipelined to the same depth as eventbus: XADD for writes; XREADGROUP COUNT and
 * XACK for consumers.
 */
import { execFileSync } from 'node:child_process';
import { closedLoop } from '../../src/cli/bench/closed-loop.js';
import type { RunResult } from '../core/figures.js';
import { respFramer } from '../core/framers.js';
import { drainLoop } from '../../src/cli/bench/drain-loop.js';
import { recordMs } from '../../src/cli/bench/histogram.js';
import { MixedRun } from '../core/mixed-run.js';
import { payload, sentAt, timedPayload } from '../../src/cli/bench/payload.js';
import { localEndpoint } from '../../src/cli/bench/endpoint.js';
import type { PipelinedConnection } from '../../src/cli/bench/pipelined-connection.js';
import { freePort, makeTempDir, removeTempDir, spawnTracked, waitUntil, which } from '../core/processes.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import { openResp, respCommand, type RespValue } from '../core/resp.js';
import type { DrainSpec, MixedSpec, RunningSystem, SystemDefinition, WriteSpec } from './system.js';

type Connection = PipelinedConnection<RespValue>;

const FIELD = 'e';

function xadd(key: string, event: string): Buffer {
  return respCommand(['XADD', key, '*', FIELD, event]);
}

function expectOk(value: RespValue, what: string): RespValue {
  if (value instanceof Error) throw new Error(`${what}: ${value.message}`);
  return value;
}

/** Entries of an XREADGROUP reply for one stream: [id, field value] pairs (none for a nil reply). */
function entries(reply: RespValue): { id: string; value: string }[] {
  expectOk(reply, 'XREADGROUP');
  if (reply === null) return [];
  const stream = (reply as RespValue[])[0] as RespValue[];
  return (stream[1] as RespValue[]).map((entry) => {
    const [id, fields] = entry as [string, string[]];
    return { id, value: fields[1]! };
  });
}

async function command(port: number, args: (string | number)[]): Promise<RespValue> {
  const [connection] = await openResp(port);
  try {
    return expectOk(await connection!.send(respCommand(args)), args[0] as string);
  } finally {
    connection!.close();
  }
}

class RedisUnderTest implements RunningSystem {
  constructor(
    readonly id: 'redis-always' | 'redis-everysec',
    readonly version: string,
    readonly pid: number,
    readonly port: number,
    private readonly stopServer: () => Promise<void>,
  ) {}

  async write(spec: WriteSpec): Promise<RunResult> {
    try {
      return await closedLoop({ endpoint: localEndpoint(this.port), connections: spec.connections, depth: spec.depth, request: xadd(spec.key, payload(spec.sizeBytes)), framer: respFramer, durationMs: spec.durationMs, progress: spec.progress });
    } finally {
      await this.drop(spec.key);
    }
  }

  async prefill(key: string, events: number, sizeBytes: number, progress: Progress): Promise<void> {
    const result = await closedLoop({ endpoint: localEndpoint(this.port), connections: 16, depth: 32, request: xadd(key, payload(sizeBytes)), framer: respFramer, totalOps: events, progress });
    if (result.errors > 0 || result.ops !== events) throw new Error(`prefill wrote ${result.ops} of ${events} entries with ${result.errors} errors`);
  }

  async drop(key: string): Promise<void> {
    await command(this.port, ['DEL', key]);
  }

  /** Workers loop: XREADGROUP COUNT batch → XACK of those ids, the next XREADGROUP pipelined behind the XACK. */
  async drain(spec: DrainSpec): Promise<RunResult> {
    await command(this.port, ['XGROUP', 'CREATE', spec.key, spec.group, '0']);
    const connections = await openResp(this.port, spec.workers);
    const fetches = connections.map((_, i) => respCommand(['XREADGROUP', 'GROUP', spec.group, `w${i}`, 'COUNT', spec.batch, 'STREAMS', spec.key, '>']));
    try {
      return await drainLoop({
        connections,
        events: spec.events,
        progress: spec.progress,
        fetch: async (connection, worker) => entries(await connection.send(fetches[worker]!)).map((e) => e.id),
        ack: async (connection, ids) => {
          const reply = expectOk(await connection.send(respCommand(['XACK', spec.key, spec.group, ...ids])), 'XACK');
          if (reply !== ids.length) throw new Error(`XACK acknowledged ${String(reply)} of ${ids.length}`);
        },
      });
    } finally {
      for (const connection of connections) connection.close();
    }
  }

  async mixed(spec: MixedSpec): Promise<RunResult> {
    await command(this.port, ['XGROUP', 'CREATE', spec.key, spec.group, '$', 'MKSTREAM']);
    const writers = await openResp(this.port, spec.writers);
    const consumers = await openResp(this.port, spec.consumers);
    const run = new MixedRun(spec.durationMs, spec.progress);
    // The end closes the consumers' outstanding blocking reads.
    run.whenEnded(() => consumers.forEach((connection) => connection.close()));
    const writeLoop = async (connection: Connection) => {
      while (run.writing) {
        expectOk(await connection.send(xadd(spec.key, timedPayload(spec.sizeBytes, performance.now()))), 'XADD');
        run.wrote();
      }
    };
    const consumeLoop = async (connection: Connection, index: number) => {
      const fetch = respCommand(['XREADGROUP', 'GROUP', spec.group, `c${index}`, 'COUNT', spec.batch, 'BLOCK', 500, 'STREAMS', spec.key, '>']);
      while (!run.stopping) {
        const batch = entries(await connection.send(fetch));
        if (batch.length === 0) continue;
        const now = performance.now();
        for (const entry of batch) recordMs(run.deliveries, now - sentAt(entry.value));
        expectOk(await connection.send(respCommand(['XACK', spec.key, spec.group, ...batch.map((e) => e.id)])), 'XACK');
        run.acked(batch.length);
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

function definition(appendfsync: 'always' | 'everysec'): SystemDefinition {
  const id = appendfsync === 'always' ? 'redis-always' : 'redis-everysec';
  return {
    id,
    label: `Redis, appendfsync ${appendfsync}`,
    durability: appendfsync === 'always' ? 'fsync' : 'interval',
    durabilityNote: appendfsync === 'always' ? 'every write fsynced (AOF, appendfsync always)' : 'fsync every second (AOF, appendfsync everysec)',
    durabilityShort: appendfsync === 'always' ? 'fsync before ack' : 'fsync every 1 s',
    missing: () => (which('redis-server') === null ? 'redis-server is not installed: `apt-get install redis-server` (Debian), then run again' : null),
    async start(): Promise<RunningSystem> {
      const binary = which('redis-server')!;
      const dir = makeTempDir(`redis-bench-${appendfsync}-`);
      const port = await freePort();
      const server = spawnTracked(binary, [
        '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--logfile', '',
        '--appendonly', 'yes', '--appendfsync', appendfsync, '--save', '',
        // No background AOF rewrite: its fork and rewrite would land on whichever system is measured next.
        '--auto-aof-rewrite-percentage', '0',
      ], { cwd: dir });
      try {
        await waitUntil(async () => {
          if (server.child.exitCode !== null) throw new Error(`redis-server exited at start:\n${server.output()}`);
          try {
            return (await command(port, ['PING'])) === 'PONG';
          } catch {
            return false;
          }
        }, 15_000, () => new Error(`redis-server did not start:\n${server.output()}`));
      } catch (error) {
        await server.stop('SIGKILL');
        removeTempDir(dir);
        throw error;
      }
      const version = /v=(\S+)/.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
      return new RedisUnderTest(id, version, server.child.pid!, port, async () => {
        await server.stop('SIGTERM');
        removeTempDir(dir);
      });
    },
  };
}

export const redisAlways = definition('always');
export const redisEverysec = definition('everysec');
