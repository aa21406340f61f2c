/**
 * The TCP (or TLS) server: accepts connections up to the limit, hands each to a
 * {@link Connection}, enforces timeouts with one sweep timer, and shuts down gracefully.
 *
 * ```ts
 * const engine = await Engine.open({ dataDir: './data' });
 * const server = await EventBusServer.start({ engine, port: 8080 });
 * // …
 * await server.close();   // stops accepting, answers what was received
 * await engine.close();   // makes everything durable
 * ```
 */
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { ErrorCodes, EventBusError } from '../errors.js';
import { EventBus, type BusOptions } from '../bus/bus.js';
import type { EventStore } from '../bus/event-store.js';
import { DECODE_REQUEST } from '../protocol/operations.js';
import { encodeFailure } from '../protocol/response.js';
import { Engine } from '../storage/engine.js';
import { silentLogger, type Logger } from '../storage/logger.js';
import { Authenticator, type ClientCredentials } from './auth.js';
import { Connection, type ConnectionHost, type ServerStats } from './connection.js';
import { Executor } from './execute.js';
import { resolveLimits, type ServerLimits } from './limits.js';
import { checkServerOptions } from './server-options.js';
import { listenAddress, listenError } from './listen-check.js';
import { isLoopbackHost } from './loopback.js';
import { HttpServer, type HttpHost } from './http/http-server.js';
import { resolveHttpOptions, type HttpOptions } from './http/http-options.js';
import { RequestCounts } from './request-counts.js';

/** Options of {@link EventBusServer.start}. */
export interface ServerOptions {
  /** The open store to serve (the embedded engine, or another {@link EventStore} such as JetStream). The server never closes it. */
  engine: Engine | EventStore;
  /** Address to bind. Default 127.0.0.1 (reachable from this machine only). */
  host?: string;
  /** Port to bind; 0 picks a free one (see {@link EventBusServer.port}). Default 8080. */
  port?: number;
  /** Named clients (the original's `auth` map). None: no credentials are needed. */
  clients?: Readonly<Record<string, ClientCredentials>>;
  /** Allow a non-loopback bind with no clients configured: anyone who can connect can do anything. */
  insecureNoAuth?: boolean;
  /** PEM certificate and key: serve the same protocol over TLS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Limits; see {@link ServerLimits} for the defaults. */
  limits?: Partial<ServerLimits>;
  /** Page sizes of get_stream_events; the snapshots root (default: `snapshots` beside the data directory). */
  bus?: BusOptions;
  /** Where connection-level events and failures are logged (a pino logger fits). Default: silent. */
  logger?: Logger;
  /** Serve /metrics, /healthz, /readyz and the admin page on this HTTP port too (src/server/http/). Default: off. */
  http?: HttpOptions;
  /** The version /healthz reports. */
  version?: string;
}

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 8080;
/** Warnings about limits being hit are logged at most this often. */
const LIMIT_WARNING_INTERVAL_MS = 10_000;
/**
 * At shutdown, requests in flight are waited for at most this long while the store cannot reach
 * its backend (BACKEND_UNAVAILABLE among its write refusals), instead of shutdown_timeout_ms:
 * they are answered only once it is back, and a jetstream write retries for write_timeout_ms.
 */
const UNREACHABLE_BACKEND_WAIT_MS = 2000;

/**
 * Sockets beyond max_connections that are still accepted, to be told TOO_MANY_CONNECTIONS (they
 * linger up to close_linger_ms), and TLS connections still in their handshake: at most this many
 * more than max_connections. Past that, connections are closed at once without a line, so a
 * flood of connections can never take more file descriptors than max_connections plus this.
 */
export function rejectionHeadroom(maxConnections: number): number {
  return Math.max(16, Math.ceil(maxConnections / 10));
}

/** File descriptors kept free for the store, at least (see Engine.fileDescriptorBudget). */
const STORE_FD_RESERVE = 1024;

/** The soft limit on open files of this process, where the platform says (Linux), else undefined. */
function openFileLimit(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (match === null || match[1] === 'unlimited') return undefined;
    return Number(match[1]);
  } catch {
    return undefined;
  }
}

function openFileCount(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/**
 * Protected store: client sockets must never take the file descriptors the store needs (a
 * segment it cannot create fails its stream until a restart). Returns `maxConnections`, or
 * fewer when the process's open-file limit cannot hold that many sockets (with their rejection
 * headroom) on top of the descriptors in use and `storeReserve` (at most a quarter of the
 * limit) kept for the store. Undefined limits (other platforms) change nothing.
 */
export function connectionsWithinFdLimit(maxConnections: number, fdLimit: number | undefined, fdsInUse: number, storeReserve = STORE_FD_RESERVE): number {
  if (fdLimit === undefined) return maxConnections;
  const budget = fdLimit - fdsInUse - Math.min(storeReserve, Math.floor(fdLimit / 4));
  if (maxConnections + rejectionHeadroom(maxConnections) <= budget) return maxConnections;
  let fitting = Math.max(1, Math.floor(budget / 1.1));
  while (fitting > 1 && fitting + rejectionHeadroom(fitting) > budget) fitting -= 1;
  return Math.min(maxConnections, fitting);
}

/**
 * Protected default: throws INVALID_FIELD, explaining the ways out, when `host` is reachable
 * from other machines and no client is configured (unless `insecureNoAuth`). `hostOption` is
 * the option that set the host (`--host` for the TCP port, `--http-host` for the HTTP port).
 */
export function checkExposure(host: string, clientCount: number, insecureNoAuth: boolean, hostOption = '--host'): void {
  if (isLoopbackHost(host) || clientCount > 0 || insecureNoAuth) return;
  throw new EventBusError(
    ErrorCodes.INVALID_FIELD,
    `refusing to listen on ${host} without authentication: anyone who can reach it could read, write and delete every stream. ` +
      'Configure clients in the config file (auth: <name>: {client_id: ..., client_secret: ...}), ' +
      `bind a loopback address (${hostOption} 127.0.0.1), or pass --insecure-no-auth to accept the risk.`,
  );
}

export class EventBusServer implements ConnectionHost, HttpHost {
  readonly limits: ServerLimits;
  readonly parseLimits: { maxMarkEventIds: number };
  readonly executor: Executor;
  readonly authenticator: Authenticator;
  readonly logger: Logger;
  readonly stats: ServerStats = {
    connectionsAccepted: 0,
    connectionsRejected: 0,
    connectionsDropped: 0,
    tlsHandshakeFailures: 0,
    requests: 0,
    authFailures: 0,
    linesTooLong: 0,
    timeouts: 0,
    slowReadersDisconnected: 0,
  };
  readonly bus: EventBus;
  /** Answers by operation and result code (read by /metrics). */
  readonly counts = new RequestCounts();
  /** The HTTP side port, when `http` was given. */
  http: HttpServer | null = null;
  private readonly connections = new Set<Connection>();
  private readonly rejected = new Set<net.Socket>();
  private readonly listener: net.Server;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private lastRejectWarningMs = 0;
  private lastDropWarningMs = 0;

  private constructor(options: ServerOptions, limits: ServerLimits) {
    this.limits = limits;
    this.parseLimits = { maxMarkEventIds: limits.maxMarkEventIds };
    this.logger = options.logger ?? silentLogger;
    this.bus = new EventBus(options.engine, options.bus);
    this.executor = new Executor(this.bus, this.logger, this.counts);
    this.authenticator = new Authenticator(options.clients);
    const onSocket = (socket: net.Socket) => this.accept(socket);
    this.listener =
      options.tls === undefined
        ? net.createServer({ allowHalfOpen: true, noDelay: true }, onSocket)
        : tls.createServer(
            // A handshake is the start of a request: it gets the partial-line timeout (Node's default is 120 s).
            { allowHalfOpen: true, noDelay: true, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: limits.partialLineTimeoutMs },
            onSocket,
          );
    if (options.tls !== undefined) {
      this.listener.on('tlsClientError', (error: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
        this.stats.tlsHandshakeFailures += 1;
        this.logger.debug({ code: error.code, reason: error.message }, 'TLS handshake failed');
        socket.destroy(); // Node leaves it open (a failed or timed-out handshake held its descriptor forever)
      });
    }
    // Every socket counts, accepted, being refused or still in its TLS handshake.
    this.listener.maxConnections = limits.maxConnections + rejectionHeadroom(limits.maxConnections);
    this.listener.on('drop', () => this.dropped());
  }

  /**
   * Validates the options, binds and starts serving. Refuses (INVALID_FIELD) to bind a
   * non-loopback address with no clients configured unless `insecureNoAuth` is set.
   */
  static async start(options: ServerOptions): Promise<EventBusServer> {
    checkServerOptions(options);
    const limits = resolveLimits(options.limits);
    const host = options.host ?? DEFAULT_HOST;
    const port = options.port ?? DEFAULT_PORT;
    const clients = Object.keys(options.clients ?? {}).length;
    checkExposure(host, clients, options.insecureNoAuth === true);
    const http = options.http === undefined ? undefined : resolveHttpOptions(options.http, host);
    if (http !== undefined) checkExposure(http.host, clients, options.insecureNoAuth === true, '--http-host');
    const fdLimit = openFileLimit();
    const fitting = connectionsWithinFdLimit(limits.maxConnections, fdLimit, openFileCount(), Math.max(STORE_FD_RESERVE, options.engine instanceof Engine ? options.engine.fileDescriptorBudget : 0));
    const logger = options.logger ?? silentLogger;
    if (fitting < limits.maxConnections) {
      logger.warn(
        { maxConnections: limits.maxConnections, openFileLimit: fdLimit, acceptedConnections: fitting },
        `the open-file limit (${fdLimit}) cannot hold max_connections (${limits.maxConnections}) besides the files of the store: ` +
          `accepting at most ${fitting} connections; raise the limit (ulimit -n) to allow more`,
      );
      limits.maxConnections = fitting;
    }
    const server = new EventBusServer(options, limits);
    server.listener.listen({ host, port });
    await Promise.race([
      once(server.listener, 'listening'),
      once(server.listener, 'error').then(([error]) => {
        throw listenError(host, port, error);
      }),
    ]);
    server.listener.on('error', (error) => server.logger.error({ err: error }, 'listener error'));
    if (http !== undefined) {
      try {
        server.http = await HttpServer.start(server, http, options.version);
      } catch (error) {
        await server.close();
        throw error;
      }
    }
    const timeouts = [limits.idleTimeoutMs, limits.partialLineTimeoutMs, limits.outputStallTimeoutMs, limits.closeLingerMs].filter((t) => t > 0);
    const sweepMs = Math.max(10, Math.min(1000, Math.floor(Math.min(...timeouts) / 4)));
    server.sweepTimer = setInterval(() => server.sweep(), sweepMs);
    server.sweepTimer.unref();
    server.logger.info(
      { host, port: server.port, tls: options.tls !== undefined, authClients: clients, maxConnections: limits.maxConnections, snapshotsRoot: server.bus.snapshotsRoot },
      'listening',
    );
    if (!isLoopbackHost(host) && clients === 0) {
      // Allowed only with insecureNoAuth (checkExposure above): said at every start, not only once.
      server.logger.warn(
        { host, port: server.port, insecureNoAuth: true },
        `listening on ${listenAddress(host, server.port)} without authentication (--insecure-no-auth): anyone who can reach this port can read, write and delete every stream`,
      );
    }
    return server;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return (this.listener.address() as net.AddressInfo).port;
  }

  /** The bound address. */
  get address(): net.AddressInfo {
    return this.listener.address() as net.AddressInfo;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** True once close() was called. */
  get shuttingDown(): boolean {
    return this.closing !== null;
  }

  connectionClosed(connection: Connection): void {
    this.connections.delete(connection);
  }

  private accept(socket: net.Socket): void {
    if (this.closing !== null || this.connections.size >= this.limits.maxConnections) {
      this.reject(socket);
      return;
    }
    this.stats.connectionsAccepted += 1;
    const connection = new Connection(socket, this);
    this.connections.add(connection);
    this.logger.debug({ remote: connection.remote, connections: this.connections.size }, 'connection opened');
  }

  /** The connection past the limit (or, with TLS, one whose handshake completed once shutdown began): one error line, then closed. */
  private reject(socket: net.Socket): void {
    this.stats.connectionsRejected += 1;
    const shuttingDown = this.closing !== null;
    const error = shuttingDown
      ? new EventBusError(ErrorCodes.SHUTTING_DOWN, 'the server is shutting down')
      : new EventBusError(ErrorCodes.TOO_MANY_CONNECTIONS, `too many connections (the limit is ${this.limits.maxConnections})`);
    const now = Date.now();
    if (!shuttingDown && now - this.lastRejectWarningMs > LIMIT_WARNING_INTERVAL_MS) {
      this.lastRejectWarningMs = now;
      this.logger.warn({ maxConnections: this.limits.maxConnections, rejected: this.stats.connectionsRejected }, 'connection limit reached: refusing connections');
    }
    this.rejected.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => this.rejected.delete(socket));
    socket.on('data', () => {}); // read and drop, so that closing does not reset the connection
    socket.on('end', () => socket.destroySoon());
    socket.end(encodeFailure(DECODE_REQUEST, error, undefined));
    setTimeout(() => socket.destroy(), this.limits.closeLingerMs).unref();
  }

  /** A connection past max_connections plus the headroom: closed by Node before we see it. */
  private dropped(): void {
    this.stats.connectionsDropped += 1;
    const now = Date.now();
    if (now - this.lastDropWarningMs > LIMIT_WARNING_INTERVAL_MS) {
      this.lastDropWarningMs = now;
      this.logger.warn({ maxConnections: this.limits.maxConnections, dropped: this.stats.connectionsDropped }, 'connection flood: closing connections without a line');
    }
  }

  /** Whether the store cannot reach its backend now (the jetstream backend connected to no NATS node). */
  private backendUnreachable(): boolean {
    return this.bus.writeRefusals().some((refusal) => refusal.code === ErrorCodes.BACKEND_UNAVAILABLE);
  }

  private sweep(): void {
    const now = Date.now();
    for (const connection of this.connections) connection.checkTimers(now);
  }

  /**
   * Stops accepting, answers every request already received (waiting up to
   * `shutdownTimeoutMs` for those in flight, UNREACHABLE_BACKEND_WAIT_MS while the backend cannot
   * be reached), then closes every connection. Does not close the engine: the caller does that
   * after, to make everything durable.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    const started = Date.now();
    // Long-polls already waiting answer now (with what is due), so shutdown never drops them.
    this.bus.endWaits();
    for (const connection of this.connections) connection.shutdown();
    let unreachableSinceMs: number | null = null;
    while (this.connections.size > 0 && Date.now() - started < this.limits.shutdownTimeoutMs) {
      unreachableSinceMs = this.backendUnreachable() ? unreachableSinceMs ?? Date.now() : null;
      if (unreachableSinceMs !== null && Date.now() - unreachableSinceMs >= UNREACHABLE_BACKEND_WAIT_MS) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (this.connections.size > 0) {
      const why = unreachableSinceMs === null ? 'shutdown timeout' : 'shutdown: the backend cannot be reached';
      this.logger.warn({ connections: this.connections.size }, `${why}: closing connections with requests in flight`);
    }
    for (const connection of this.connections) connection.destroy();
    for (const socket of this.rejected) socket.destroy();
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    await closed;
    // Last: /readyz says 503 while the TCP side drains.
    await this.http?.close();
    this.logger.info({ ...this.stats }, 'server closed');
  }
}
