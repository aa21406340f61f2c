/**
 * What the harness needs of a system under test: start it on 127.0.0.1 with its data in a
 * temporary directory, drive the workloads it supports with the same shapes as every other
 * system, and stop it leaving nothing behind.
 */
import type { RunResult } from '../core/figures.js';
import type { Progress } from '../../src/cli/bench/progress.js';

export const SYSTEM_IDS = ['eventbus-always', 'eventbus-interval', 'redis-always', 'redis-everysec', 'nats', 'echo'] as const;
export type SystemId = (typeof SYSTEM_IDS)[number];

/**
 * How durable an acknowledgement is, for like-for-like ratios: `fsync` = on disk before the
 * reply; `interval` = fsynced within about a second; `no-fsync` = never fsynced per
 * acknowledgement (NATS JetStream 2.9); `none` = no storage at all (the echo server).
 */
export type Durability = 'fsync' | 'interval' | 'no-fsync' | 'none';

/** Closed-loop writes: `connections` × `depth` requests in flight, for `durationMs`. */
export interface WriteSpec {
  /** A stream (key, subject) name of its own, created before and removed after. */
  key: string;
  connections: number;
  depth: number;
  sizeBytes: number;
  durationMs: number;
  progress: Progress;
}

/** Drain-and-acknowledge of a prefilled stream by a new consumer (group, durable). */
export interface DrainSpec {
  key: string;
  group: string;
  workers: number;
  batch: number;
  /** Events in the stream: the run ends when every one is acknowledged. */
  events: number;
  progress: Progress;
}

/**
 * Writers and consumers at once: `writers` × `writerDepth` writes in flight for `durationMs`;
 * the run ends when the consumers have acknowledged every event written.
 */
export interface MixedSpec {
  key: string;
  group: string;
  writers: number;
  writerDepth: number;
  consumers: number;
  batch: number;
  durationMs: number;
  sizeBytes: number;
  progress: Progress;
}

export interface RunningSystem {
  readonly id: SystemId;
  /** The server's version, as it reports it. */
  readonly version: string;
  readonly pid: number;
  readonly port: number;
  write(spec: WriteSpec): Promise<RunResult>;
  /** Writes `events` events into `key` (16 connections, 32 deep), not timed. */
  prefill?(key: string, events: number, sizeBytes: number, progress: Progress): Promise<void>;
  drain?(spec: DrainSpec): Promise<RunResult>;
  mixed?(spec: MixedSpec): Promise<RunResult>;
  /** Removes a stream made by prefill. */
  drop?(key: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Run the server under `node --cpu-prof` and write its profile here (eventbus only). */
  cpuProfileDir?: string;
}

export interface SystemDefinition {
  id: SystemId;
  /** e.g. `eventbus, fsync always`. */
  label: string;
  durability: Durability;
  /** What to print beside every figure of this system, e.g. that it does not fsync per acknowledgement. */
  durabilityNote: string;
  /** The same for a table column: `fsync before ack`, `fsync every 1 s`, … */
  durabilityShort: string;
  /** null when the system can run here; otherwise how to install what it needs. */
  missing(): string | null;
  start(options: StartOptions): Promise<RunningSystem>;
}
