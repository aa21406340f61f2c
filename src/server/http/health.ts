/**
 * /healthz and /readyz: liveness (the process answers) and readiness (the store takes writes:
 * with the engine, no stream, consumers file or catalog refusing them after a disk failure; on
 * the jetstream backend, connected to the cluster; and the server is not shutting down).
 * Kubernetes restarts on a failed liveness probe, and it and load balancers stop routing on a
 * failed readiness probe, so liveness never depends on the disk or the cluster.
 */
import type { WriteRefusal } from '../../bus/event-store.js';

export interface HealthBody {
  status: 'ok' | 'unavailable';
  /** Seconds since the process started. */
  uptime_seconds: number;
  version?: string;
}

export interface ReadinessBody {
  status: 'ready' | 'not_ready';
  /** Why not, one entry per thing refusing writes. */
  problems: WriteRefusal[];
  /** Streams in the store (the engine's; absent on the jetstream backend, where counting them is a request to the cluster). */
  streams?: number;
}

export function liveness(version: string | undefined): { statusCode: number; body: HealthBody } {
  return { statusCode: 200, body: { status: 'ok', uptime_seconds: Math.round(process.uptime()), ...(version === undefined ? {} : { version }) } };
}

/** Readiness from what refuses writes now (the store's `writeRefusals`) and the server's state. */
export function readiness(refusals: readonly WriteRefusal[], shuttingDown: boolean, streams: number | undefined): { statusCode: number; body: ReadinessBody } {
  const problems = [...refusals];
  if (shuttingDown) problems.unshift({ what: 'server', code: 'SHUTTING_DOWN', reason: 'the server is shutting down' });
  const ready = problems.length === 0;
  return { statusCode: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not_ready', problems, ...(streams === undefined ? {} : { streams }) } };
}
