/**
 * /healthz and /readyz: liveness (the process answers) and readiness (the store is open and
 * takes writes: no stream, consumers file or catalog refusing them after a disk failure, and the
 * server is not shutting down). Kubernetes restarts on a failed liveness probe and stops routing
 * on a failed readiness probe, so liveness never depends on the disk.
 */
import type { Engine } from '../../storage/engine.js';

export interface HealthBody {
  status: 'ok' | 'unavailable';
  /** Seconds since the process started. */
  uptime_seconds: number;
  version?: string;
}

export interface ReadinessBody {
  status: 'ready' | 'not_ready';
  /** Why not, one entry per thing refusing writes. */
  problems: { what: string; code: string; reason: string }[];
  streams: number;
}

export function liveness(version: string | undefined): { statusCode: number; body: HealthBody } {
  return { statusCode: 200, body: { status: 'ok', uptime_seconds: Math.round(process.uptime()), ...(version === undefined ? {} : { version }) } };
}

export function readiness(engine: Engine, shuttingDown: boolean): { statusCode: number; body: ReadinessBody } {
  const problems = engine.writeRefusals();
  if (shuttingDown) problems.unshift({ what: 'server', code: 'SHUTTING_DOWN', reason: 'the server is shutting down' });
  const ready = problems.length === 0;
  return { statusCode: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not_ready', problems, streams: engine.listStreams().length } };
}
