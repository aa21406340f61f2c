/**
 * Options of the JetStream backend (`eventbus serve --backend jetstream`, the config file's
 * `backend:` section), their defaults and checks.
 */
import { ErrorCodes, EventBusError } from '../../errors.js';
import { DEFAULT_CONSUMER_LIMITS, type ConsumerLimits } from '../../storage/consumers/consumer-types.js';

export interface JetStreamOptions {
  /** NATS servers, `host:port` each (any of the cluster's nodes; the client finds the rest). */
  servers: string[];
  /** Replicas of each stream, consumer and the catalog: 1, 3 or 5. Default 3. */
  replicas?: number;
  /** NATS user and password. */
  user?: string;
  password?: string;
  /** NATS token. */
  token?: string;
  /** A NATS credentials file (JWT and NKey seed). */
  credsFile?: string;
  /** TLS to NATS: CA to trust, and a client certificate and key for mutual TLS. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** One JetStream API request or publish, before it is retried or fails. Default 5 s. */
  requestTimeoutMs?: number;
  /** How long a write is retried (same msg id) through leader elections before BACKEND_UNAVAILABLE. Default 30 s. */
  writeTimeoutMs?: number;
  /** How long the gateway waits for the cluster at start. Default 30 s. */
  startTimeoutMs?: number;
  /** Duplicate window for msg ids. Default 2 minutes. */
  duplicateWindowMs?: number;
  /** Most streams in the catalog. Default 1,000. */
  maxStreams?: number;
  /** Largest event body accepted by a stream (its max_msg_size, plus header room). Default 1 MiB. */
  maxEventBytes?: number;
  /**
   * NATS connections the gateway publishes over, round robin. Default 1: on the 2-core test
   * machine 4 and 16 were no faster (16 was slower), but a gateway on its own machine in front of
   * a cluster of its own may gain from more.
   */
  publishConnections?: number;
  /** Consumer timings and limits, as the engine's. */
  consumers?: Partial<ConsumerLimits>;
}

export type ResolvedJetStreamOptions = Required<Omit<JetStreamOptions, 'user' | 'password' | 'token' | 'credsFile' | 'tls' | 'consumers'>> &
  Pick<JetStreamOptions, 'user' | 'password' | 'token' | 'credsFile' | 'tls'> & { consumers: ConsumerLimits };

const bad = (message: string) => new EventBusError(ErrorCodes.INVALID_FIELD, `invalid jetstream option: ${message}`);

/** The replica counts a stream, consumer and the catalog may have. */
export const REPLICA_COUNTS: readonly number[] = [1, 3, 5];

/**
 * Why `server` is no NATS server address (`host:port`, `nats://…` or `tls://…`, a port from 1 to
 * 65535 or none), as the end of a sentence; undefined when it is one. It is parsed as a URL
 * (`nats://` put before a bare `host:port`; a bare IPv6 address without brackets bracketed, as
 * nats.js does), so a port followed by a path or query (`nats://h:0/x`) is checked too. A port out
 * of range was taken before and failed only at connect (0 as refused, 70000 as an invalid URL), or
 * never while another server of the list answered.
 */
export function serverAddressProblem(server: unknown): string | undefined {
  const notAddress = `'${String(server)}' is not host:port (nor a nats:// or tls:// URL)`;
  if (typeof server !== 'string' || /\s/.test(server)) return notAddress;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(server)?.[1];
  if (scheme !== undefined && !/^(nats|tls)$/i.test(scheme)) return notAddress;
  const rest = scheme === undefined ? server : server.slice(scheme.length + 3);
  const bracketed = (rest.match(/:/g) ?? []).length > 1 && !rest.includes('[') && !/[/?#@]/.test(rest) ? `[${rest}]` : rest;
  let url: URL;
  try {
    url = new URL(`${scheme ?? 'nats'}://${bracketed}`);
  } catch {
    const port = portText(bracketed);
    return port !== undefined && !validPort(port) ? portProblem(server, port) : notAddress;
  }
  // A bare address is host:port (a bare IPv6 one may go without: nats.js gives it 4222), nothing after.
  const bare = scheme === undefined && ((url.port === '' && bracketed === rest) || url.pathname !== '' || url.search !== '' || url.hash !== '');
  if (url.hostname === '' || bare) return notAddress;
  if (url.port !== '' && !validPort(url.port)) return portProblem(server, url.port);
  return undefined;
}

/** The port as written in the authority of `rest` (after any scheme), or undefined when none is. */
function portText(rest: string): string | undefined {
  const authority = rest.split(/[/?#]/, 1)[0]!.replace(/^.*@/, '');
  return (authority.startsWith('[') ? /^\[[^\]]*\]:(.*)$/ : /^[^:]*:(.*)$/).exec(authority)?.[1];
}

function validPort(port: string): boolean {
  return /^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
}

function portProblem(server: string, port: string): string {
  return `'${server}': the port must be from 1 to 65535, got ${port}`;
}

/** The options with defaults; throws INVALID_FIELD naming a bad value. */
export function resolveJetStreamOptions(options: JetStreamOptions): ResolvedJetStreamOptions {
  if (!Array.isArray(options.servers) || options.servers.length === 0) throw bad('servers must list at least one host:port (--nats-servers h1:p1,h2:p2,h3:p3)');
  for (const server of options.servers) {
    const problem = serverAddressProblem(server);
    if (problem !== undefined) throw bad(`server ${problem}`);
  }
  const resolved = {
    replicas: 3,
    requestTimeoutMs: 5000,
    writeTimeoutMs: 30_000,
    startTimeoutMs: 30_000,
    duplicateWindowMs: 120_000,
    maxStreams: 1000,
    maxEventBytes: 1024 * 1024,
    publishConnections: 1,
    ...options,
    consumers: { ...DEFAULT_CONSUMER_LIMITS, ...options.consumers },
  };
  if (!REPLICA_COUNTS.includes(resolved.replicas)) throw bad(`replicas must be 1, 3 or 5, got ${String(resolved.replicas)}`);
  if (!Number.isSafeInteger(resolved.publishConnections) || resolved.publishConnections < 1 || resolved.publishConnections > 64) throw bad(`publishConnections must be from 1 to 64, got ${String(resolved.publishConnections)}`);
  for (const key of ['requestTimeoutMs', 'writeTimeoutMs', 'startTimeoutMs', 'duplicateWindowMs', 'maxStreams', 'maxEventBytes'] as const) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value < 1) throw bad(`${key} must be a whole number of at least 1, got ${String(value)}`);
  }
  if (resolved.duplicateWindowMs < 100) throw bad('duplicateWindowMs must be at least 100');
  return resolved;
}
