/**
 * NATS JetStream under test: Debian's `nats-server -js` with file storage in a temporary
 * directory, driven with the official `nats` client: JetStream publish awaiting each PubAck
 * (`depth` publishes outstanding per connection); a durable pull consumer fetched in batches,
 * every message acknowledged. JetStream 2.9 never fsyncs per acknowledgement (it syncs its
 * files every two minutes and has no setting to sync on every write): every figure says so.
 * Acknowledgements are sent as its clients send them, without waiting for a reply; a drain's
 * clock stops once the server has received all of them (a flush on every connection), and the
 * consumer must then show nothing pending.
 */
import { execFileSync } from 'node:child_process';
import { AckPolicy, DeliverPolicy, StorageType, connect, type ConsumerMessages, type JetStreamClient, type JsMsg, type NatsConnection } from 'nats';
import type { RunResult } from '../core/figures.js';
import { newHistogram, recordMs, summarize, type Histogram } from '../../src/cli/bench/histogram.js';
import { MixedRun } from '../core/mixed-run.js';
import { NATS_CLIENT_OPTIONS } from '../core/nats-client.js';
import { payload, timedPayload } from '../../src/cli/bench/payload.js';
import { freePort, makeTempDir, removeTempDir, spawnTracked, waitUntil, which } from '../core/processes.js';
import { Progress } from '../../src/cli/bench/progress.js';
import type { DrainSpec, MixedSpec, RunningSystem, SystemDefinition, WriteSpec } from './system.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function connectAll(port: number, count: number): Promise<NatsConnection[]> {
  return Promise.all(Array.from({ length: count }, () => connect({ ...NATS_CLIENT_OPTIONS, servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 })));
}

async function closeAll(connections: NatsConnection[]): Promise<void> {
  await Promise.all(connections.map((connection) => connection.close().catch(() => {})));
}

interface PublishLoad {
  histogram: Histogram;
  ops: number;
  errors: number;
  lastReplyAt: number;
}

/**
 * `depth` publishers per connection, each awaiting its PubAck before the next publish, until
 * `deadline` or `total` publishes.
 */
async function publishLoad(clients: JetStreamClient[], subject: string, depth: number, make: () => Uint8Array, limits: { deadline: number; total: number }, progress: Progress, started: number, timed: boolean, onPublished?: () => void): Promise<PublishLoad> {
  const load: PublishLoad = { histogram: newHistogram(), ops: 0, errors: 0, lastReplyAt: started };
  let issued = 0;
  const publisher = async (client: JetStreamClient) => {
    while (issued < limits.total && performance.now() < limits.deadline) {
      issued += 1;
      const sent = performance.now();
      try {
        await client.publish(subject, make());
        onPublished?.();
      } catch {
        load.errors += 1;
      }
      const now = performance.now();
      recordMs(load.histogram, now - sent);
      load.ops += 1;
      load.lastReplyAt = now;
      progress.done = timed ? Math.min(now - started, progress.total) : load.ops;
    }
  };
  await Promise.all(clients.flatMap((client) => Array.from({ length: depth }, () => publisher(client))));
  return load;
}

class NatsUnderTest implements RunningSystem {
  readonly id = 'nats' as const;

  constructor(
    readonly version: string,
    readonly pid: number,
    readonly port: number,
    private readonly stopServer: () => Promise<void>,
  ) {}

  private async createStream(key: string): Promise<void> {
    const [connection] = await connectAll(this.port, 1);
    try {
      const manager = await connection!.jetstreamManager();
      await manager.streams.add({ name: key, subjects: [key], storage: StorageType.File });
    } finally {
      await closeAll([connection!]);
    }
  }

  async drop(key: string): Promise<void> {
    const [connection] = await connectAll(this.port, 1);
    try {
      const manager = await connection!.jetstreamManager();
      await manager.streams.delete(key).catch(() => false);
    } finally {
      await closeAll([connection!]);
    }
  }

  async write(spec: WriteSpec): Promise<RunResult> {
    await this.createStream(spec.key);
    const connections = await connectAll(this.port, spec.connections);
    try {
      const data = encoder.encode(payload(spec.sizeBytes));
      spec.progress.total = spec.durationMs;
      spec.progress.unit = 'ms';
      const started = performance.now();
      const load = await publishLoad(connections.map((c) => c.jetstream()), spec.key, spec.depth, () => data, { deadline: started + spec.durationMs, total: Number.POSITIVE_INFINITY }, spec.progress, started, true);
      const elapsedMs = load.lastReplyAt - started;
      return { ops: load.ops, elapsedMs, opsPerSecond: (load.ops / elapsedMs) * 1000, latency: summarize(load.histogram), errors: load.errors };
    } finally {
      await closeAll(connections);
      await this.drop(spec.key);
    }
  }

  /**
   * Untimed setup, so the quickest way in: core NATS publishes into the stream's subject (no
   * PubAck round trip; a flush every 10,000 bounds the client's buffer), then wait until the
   * stream holds every message.
   */
  async prefill(key: string, events: number, sizeBytes: number, progress: Progress): Promise<void> {
    await this.createStream(key);
    const [connection] = await connectAll(this.port, 1);
    try {
      const data = encoder.encode(payload(sizeBytes));
      progress.total = events;
      for (let i = 0; i < events; i++) {
        connection!.publish(key, data);
        if (i % 10_000 === 9_999) {
          await connection!.flush();
          progress.done = i + 1;
        }
      }
      await connection!.flush();
      const manager = await connection!.jetstreamManager();
      await waitUntil(async () => (await manager.streams.info(key)).state.messages >= events, 120_000, () => new Error(`the stream did not reach ${events} messages`));
      const stored = (await manager.streams.info(key)).state.messages;
      if (stored !== events) throw new Error(`prefill stored ${stored} of ${events} messages`);
      progress.done = events;
    } finally {
      await closeAll([connection!]);
    }
  }

  private async addConsumer(key: string, group: string): Promise<void> {
    const [connection] = await connectAll(this.port, 1);
    try {
      const manager = await connection!.jetstreamManager();
      await manager.consumers.add(key, { durable_name: group, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
    } finally {
      await closeAll([connection!]);
    }
  }

  /** Once every acknowledgement is in, the consumer must have nothing pending and nothing left. */
  private async settled(key: string, group: string): Promise<boolean> {
    const [connection] = await connectAll(this.port, 1);
    try {
      const manager = await connection!.jetstreamManager();
      for (let i = 0; i < 100; i++) {
        const info = await manager.consumers.info(key, group);
        if (info.num_ack_pending === 0 && info.num_pending === 0) return true;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return false;
    } finally {
      await closeAll([connection!]);
    }
  }

  /**
   * Workers (one connection each) fetch batches from the durable consumer and hand every message
   * to `handle` (which acknowledges it) until `stop()`; stopping ends the fetches in progress.
   */
  private consumers(connections: NatsConnection[], key: string, group: string, batch: number, expiresMs: number, handle: (message: JsMsg, now: number) => void, onRound?: (ms: number) => void): { stop(): void; finished: Promise<void> } {
    const active = new Set<ConsumerMessages>();
    let stopped = false;
    const worker = async (connection: NatsConnection) => {
      const consumer = await connection.jetstream().consumers.get(key, group);
      while (!stopped) {
        const sent = performance.now();
        const messages = await consumer.fetch({ max_messages: batch, expires: expiresMs });
        active.add(messages);
        let received = 0;
        for await (const message of messages) {
          handle(message, performance.now());
          received += 1;
        }
        active.delete(messages);
        if (received > 0) onRound?.(performance.now() - sent);
      }
    };
    return {
      stop() {
        stopped = true;
        for (const messages of active) messages.stop();
      },
      finished: Promise.all(connections.map(worker)).then(() => undefined),
    };
  }

  async drain(spec: DrainSpec): Promise<RunResult> {
    await this.addConsumer(spec.key, spec.group);
    const connections = await connectAll(this.port, spec.workers);
    const rounds = newHistogram();
    spec.progress.total = spec.events;
    let acknowledged = 0;
    let ending: Promise<number> | null = null;
    try {
      const started = performance.now();
      const workers = this.consumers(connections, spec.key, spec.group, spec.batch, 2000, (message) => {
        message.ack();
        acknowledged += 1;
        spec.progress.done = acknowledged;
        if (acknowledged >= spec.events && ending === null) {
          workers.stop();
          // The clock stops once the server has every acknowledgement.
          ending = Promise.all(connections.map((c) => c.flush())).then(() => performance.now());
        }
      }, (ms) => recordMs(rounds, ms));
      await workers.finished;
      const endedAt = ending === null ? performance.now() : await ending;
      const elapsedMs = endedAt - started;
      const errors = acknowledged === spec.events && (await this.settled(spec.key, spec.group)) ? 0 : 1;
      return { ops: acknowledged, elapsedMs, opsPerSecond: (acknowledged / elapsedMs) * 1000, latency: summarize(rounds), errors };
    } finally {
      await closeAll(connections);
    }
  }

  async mixed(spec: MixedSpec): Promise<RunResult> {
    await this.createStream(spec.key);
    await this.addConsumer(spec.key, spec.group);
    const writers = await connectAll(this.port, spec.writers);
    const consumers = await connectAll(this.port, spec.consumers);
    try {
      const run = new MixedRun(spec.durationMs, spec.progress);
      const workers = this.consumers(consumers, spec.key, spec.group, spec.batch, 1000, (message, now) => {
        recordMs(run.deliveries, now - (JSON.parse(decoder.decode(message.data)) as { t: number }).t);
        message.ack();
        run.acked(1);
      });
      run.whenEnded(() => workers.stop());
      const writing = publishLoad(writers.map((c) => c.jetstream()), spec.key, spec.writerDepth, () => encoder.encode(timedPayload(spec.sizeBytes, performance.now())), { deadline: run.deadline, total: Number.POSITIVE_INFINITY }, new Progress(), run.startedAt, true, () => run.wrote()).then((load) => {
        run.writersFinished();
        return load;
      });
      const [load] = await Promise.all([writing, workers.finished]);
      return run.result(load.errors);
    } finally {
      await closeAll([...writers, ...consumers]);
      await this.drop(spec.key);
    }
  }

  stop(): Promise<void> {
    return this.stopServer();
  }
}

export const nats: SystemDefinition = {
  id: 'nats',
  label: 'NATS JetStream',
  durability: 'no-fsync',
  durabilityNote: 'does NOT fsync per acknowledgement (JetStream 2.9 file store syncs every 2 min)',
  durabilityShort: 'no fsync per ack †',
  missing: () => (which('nats-server') === null ? 'nats-server is not installed: `apt-get install nats-server` (Debian), then run again' : null),
  async start(): Promise<RunningSystem> {
    const binary = which('nats-server')!;
    const dir = makeTempDir('nats-bench-');
    const port = await freePort();
    const server = spawnTracked(binary, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], { cwd: dir });
    try {
      await waitUntil(async () => {
        if (server.child.exitCode !== null) throw new Error(`nats-server exited at start:\n${server.output()}`);
        try {
          const [connection] = await connectAll(port, 1);
          try {
            await (await connection!.jetstreamManager()).getAccountInfo();
            return true;
          } finally {
            await closeAll([connection!]);
          }
        } catch {
          return false;
        }
      }, 15_000, () => new Error(`nats-server did not start:\n${server.output()}`));
    } catch (error) {
      await server.stop('SIGKILL');
      removeTempDir(dir);
      throw error;
    }
    const version = /v(\d[\d.]*)/.exec(execFileSync(binary, ['--version'], { encoding: 'utf8' }))?.[1] ?? 'unknown';
    return new NatsUnderTest(version, server.child.pid!, port, async () => {
      await server.stop('SIGTERM');
      removeTempDir(dir);
    });
  },
};
