/**
 * The HTTP side port of `eventbus serve --http-port N`: /metrics (Prometheus), /healthz and
 * /readyz (probes), / (the admin page, its files under /assets/) and /api/ (the page's data and
 * actions). It reads the bus and engine beside the TCP server and never sits on its path: a
 * flood or garbage here costs the TCP side only the CPU of answering it. A gateway on the
 * jetstream backend has no engine: it serves the probes and the server's metrics, and refuses
 * the admin page and its API with NOT_SUPPORTED (501).
 *
 * Hostile input gets a clear 4xx, and bounded resources: heads over max_header_bytes 431, heads
 * or requests that arrive too slowly 408 (checked every second), bodies over max_body_bytes 413,
 * unknown paths 404, wrong methods 405 with `Allow`, malformed requests 400 (an HTTP/1.1 request
 * without Host, or any with two: RFC 9112), an Expect other than 100-continue 417, each with a
 * JSON body (Node's own bare answers are replaced); at most max_connections sockets (Node closes
 * the rest at once). Actions need the TCP protocol's credentials (http-auth.ts), a JSON body in
 * UTF-8 when they have one (so a cross-site form cannot post one) and, when the browser names an
 * Origin, the same origin (`Origin: null`, a sandboxed or opaque origin, is refused); once the
 * server is shutting down they are refused (503 SHUTTING_DOWN) while reads and probes still
 * answer. A port bound to a loopback address answers only requests addressed to a loopback name
 * (request-target.ts; an absolute-form target's authority in place of Host): a web page cannot
 * reach it through DNS rebinding.
 *
 * Paths are routed as sent (request-target.ts): `.` and `..` are stream names, not dot segments.
 */
import { isUtf8 } from 'node:buffer';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type net from 'node:net';
import type { EventBus } from '../../bus/bus.js';
import { ErrorCodes, EventBusError, isEventBusError } from '../../errors.js';
import type { Logger } from '../../storage/logger.js';
import type { Authenticator } from '../auth.js';
import type { ServerStats } from '../connection.js';
import { listenError } from '../listen-check.js';
import type { RequestCounts } from '../request-counts.js';
import { createStream, deleteStream, overview, takeSnapshot, type AdminContext, type JsonAnswer, type JsonBody } from './admin-api.js';
import { liveness, readiness } from './health.js';
import { authorized, challengeHeaders } from './http-auth.js';
import type { ResolvedHttpOptions } from './http-options.js';
import { httpStatusOf } from './http-status.js';
import { ServerMetrics } from './metrics.js';
import { PAGE_FILES, isPageFile, type PageFile } from './page-assets.js';
import { RateHistory } from './rate-history.js';
import { RecentSnapshots } from './recent-snapshots.js';
import { readStreamMarks } from './store-figures.js';
import { authorityOf, decodeSegment, loopbackHostAccepted, parseTarget, type RequestTarget } from './request-target.js';
import { isLoopbackHost } from '../loopback.js';

/** What the HTTP side reads from the TCP server beside it. */
export interface HttpHost {
  readonly bus: EventBus;
  readonly stats: ServerStats;
  readonly counts: RequestCounts;
  readonly authenticator: Authenticator;
  readonly connectionCount: number;
  readonly shuttingDown: boolean;
  readonly logger: Logger;
}

type Route = 'metrics' | 'healthz' | 'readyz' | 'page' | 'assets' | 'api' | 'other';
type Handler = (request: IncomingMessage, response: ServerResponse, target: RequestTarget) => void | Promise<void>;

const JSON_TYPE = 'application/json; charset=utf-8';
/** The page loads only from this server (uPlot sets inline styles, hence 'unsafe-inline' for styles). */
const PAGE_SECURITY = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export class HttpServer {
  readonly metrics: ServerMetrics;
  readonly history: RateHistory;
  private readonly server: http.Server;
  private readonly admin: AdminContext;
  private readonly assetCache = new Map<PageFile, Buffer>();
  private readonly sockets = new Set<net.Socket>();
  /** Bound to a loopback address: only requests addressed to a loopback name are answered. */
  private readonly loopbackOnly: boolean;
  private dropped = 0;
  /** Stops the engine observer. */
  private unobserve: (() => void) | null = null;

  private constructor(private readonly host: HttpHost, private readonly options: ResolvedHttpOptions, private readonly version: string | undefined) {
    this.loopbackOnly = isLoopbackHost(options.host);
    const ready = () => this.readiness().statusCode === 200;
    this.metrics = new ServerMetrics(
      { engine: host.bus.embeddedEngine, stats: host.stats, counts: host.counts, connectionCount: () => host.connectionCount, ready },
      options,
    );
    const snapshots = new RecentSnapshots(host.bus.snapshotsRoot);
    this.unobserve = this.metrics.observe((taken) => snapshots.record(taken));
    const engine = host.bus.embeddedEngine;
    this.history = new RateHistory(
      () => ({ writes: host.counts.writesOk, delivered: host.counts.eventsDelivered, latency: this.metrics.appendLatencyBuckets() }),
      1000,
      () => (engine === null ? new Map() : readStreamMarks(engine)),
    );
    this.admin = {
      bus: host.bus, stats: host.stats, counts: host.counts, snapshots, history: this.history,
      authRequired: host.authenticator.required, connectionCount: () => host.connectionCount, ready,
    };
    this.server = http.createServer({
      maxHeaderSize: options.maxHeaderBytes,
      headersTimeout: options.headersTimeoutMs,
      requestTimeout: options.requestTimeoutMs,
      keepAliveTimeout: 5_000,
      // How often slow heads and requests are looked for (Node's default is 30 s).
      connectionsCheckingInterval: 1_000,
      // Node would answer a missing Host with a bare 400 and no body: checked in handle(), answered in JSON.
      requireHostHeader: false,
    }, (request, response) => void this.handle(request, response));
    // An Expect other than 100-continue: Node would answer a bare 417; answered in JSON.
    this.server.on('checkExpectation', (request: IncomingMessage, response: ServerResponse) => {
      this.fail(request, response, 'other', 417, `Expect: ${JSON.stringify(String(request.headers.expect).slice(0, 100))} is not supported (only 100-continue is)`, { connection: 'close' });
    });
    this.server.maxConnections = options.maxConnections;
    this.server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('drop', () => {
      this.dropped += 1;
    });
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: net.Socket) => this.clientError(error, socket));
  }

  /** Binds and starts serving. Throws IO_ERROR (listen-check.ts) when the port cannot be had. */
  static async start(host: HttpHost, options: ResolvedHttpOptions, version?: string): Promise<HttpServer> {
    if (options.headersTimeoutMs > options.requestTimeoutMs) {
      throw new EventBusError(ErrorCodes.INVALID_FIELD, `invalid http option: headersTimeoutMs (${options.headersTimeoutMs}) must not be larger than requestTimeoutMs (${options.requestTimeoutMs})`);
    }
    const server = new HttpServer(host, options, version);
    server.server.listen({ host: options.host, port: options.port });
    try {
      await Promise.race([
        once(server.server, 'listening'),
        once(server.server, 'error').then(([error]) => {
          throw listenError(options.host, options.port, error, '--http-port');
        }),
      ]);
    } catch (error) {
      await server.close();
      throw error;
    }
    server.server.on('error', (error) => host.logger.error({ err: error }, 'http listener error'));
    server.history.start();
    host.logger.info({ host: options.host, port: server.port }, 'http listening (/metrics, /healthz, /readyz, admin page at /)');
    return server;
  }

  /** The bound port (useful with port 0). */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** HTTP connections closed at once for being past max_connections. */
  get droppedConnections(): number {
    return this.dropped;
  }

  /** Stops listening and closes every HTTP connection (nothing here holds data). */
  async close(): Promise<void> {
    this.history.stop();
    this.unobserve?.();
    this.unobserve = null;
    const closed = new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  // ------------------------------------------------------------------ routing

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any with more than one
    // (Node keeps the first of several: the one checked below need not be the one a proxy used).
    const hostLines = countHostLines(request.rawHeaders);
    if (hostLines > 1 || (hostLines === 0 && request.httpVersionMajor === 1 && request.httpVersionMinor >= 1)) {
      this.fail(request, response, 'other', 400, hostLines > 1 ? `the request has ${hostLines} Host headers: it must have one` : 'an HTTP/1.1 request must have a Host header', { connection: 'close' });
      return;
    }
    // Routed on the path as sent, never normalised (`.` and `..` are stream names).
    const target = parseTarget(request.url ?? '/');
    if (target === null) {
      this.fail(request, response, 'other', 400, `malformed request target: ${JSON.stringify((request.url ?? '').slice(0, 100))}`, request.complete ? {} : { connection: 'close' });
      return;
    }
    // Whom it is addressed to: an absolute-form target's authority, else Host.
    const authority = authorityOf(target, request.headers.host);
    if (this.loopbackOnly && !loopbackHostAccepted(authority)) {
      // Before anything is read or routed: a page of another site (DNS rebinding) learns nothing.
      this.fail(request, response, 'other', 403,
        `request for host ${JSON.stringify((authority ?? '').slice(0, 100))} refused: this port is bound to the loopback address ${this.options.host} and answers only requests addressed to localhost, 127.x.x.x or [::1] (a guard against DNS rebinding); to be reached by another name, bind it to another address (--http-host)`,
        request.complete ? {} : { connection: 'close' });
      return;
    }
    const [route, handlers] = this.routeOf(target);
    const handler = handlers?.[request.method ?? ''] ?? (request.method === 'HEAD' ? handlers?.GET : undefined);
    if (handlers === undefined) {
      this.fail(request, response, route, 404, `no such path: ${target.path.slice(0, 200)} (this port serves /, /metrics, /healthz, /readyz and /api/)`);
      return;
    }
    if (handler === undefined) {
      const allowed = Object.keys(handlers);
      if (allowed.includes('GET')) allowed.push('HEAD');
      this.fail(request, response, route, 405, `${request.method ?? '?'} is not allowed on ${target.path.slice(0, 200)}; allowed: ${allowed.join(', ')}`, { allow: allowed.join(', ') });
      return;
    }
    try {
      await handler(request, response, target);
    } catch (error) {
      if (isEventBusError(error)) {
        const status = httpStatusOf(error.code);
        this.send(request, response, route, status, JSON_TYPE, JSON.stringify({ error: { status, code: error.code, reason: error.reason } }));
      } else if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || request.destroyed) {
        // The client went away mid-request (its body never came whole): nobody to answer, nothing wrong here.
        this.host.logger.debug({ path: target.path }, 'an http client closed its connection mid-request');
      } else {
        this.host.logger.error({ err: error, path: target.path }, 'unexpected error on the http port');
        this.fail(request, response, route, 500, 'internal error');
      }
    }
  }

  private routeOf(target: RequestTarget): [Route, Record<string, Handler> | undefined] {
    const [route, handlers] = this.serverRouteOf(target);
    if (this.host.bus.embeddedEngine !== null || handlers === undefined || (route !== 'page' && route !== 'assets' && route !== 'api')) return [route, handlers];
    // The admin page reads the engine's figures: a gateway (jetstream backend) has none to show.
    const refuse: Handler = () => {
      throw new EventBusError(ErrorCodes.NOT_SUPPORTED, `the admin page reads the embedded engine; with the ${this.host.bus.store.backend} backend this port serves /metrics, /healthz and /readyz`);
    };
    return [route, Object.fromEntries(Object.keys(handlers).map((method) => [method, refuse]))];
  }

  private serverRouteOf(target: RequestTarget): [Route, Record<string, Handler> | undefined] {
    switch (target.path) {
      case '/metrics':
        return ['metrics', { GET: (q, r) => this.scrape(q, r) }];
      case '/healthz':
        return ['healthz', { GET: (q, r) => this.probe(q, r, 'healthz', liveness(this.version)) }];
      case '/readyz':
        return ['readyz', { GET: (q, r) => this.probe(q, r, 'readyz', this.readiness()) }];
      case '/':
      case '/index.html':
        return ['page', { GET: (q, r) => this.asset(q, r, 'index.html') }];
      case '/api/overview':
        return ['api', { GET: (q, r, t) => this.answer(q, r, overview(this.admin, sinceOf(t.query.getAll('since')))) }];
      case '/api/streams':
        // DELETE ?name=NAME: the form a browser can send for every name (it resolves `.` and `..` segments in a path, even percent-encoded).
        return ['api', {
          POST: (q, r, t) => this.action(q, r, t, async (body) => createStream(this.admin, body)),
          DELETE: (q, r, t) => this.action(q, r, t, async (body) => deleteStream(this.admin, body, nameToDelete(t.query.getAll('name')))),
        }];
      case '/api/snapshots':
        return ['api', { POST: (q, r, t) => this.action(q, r, t, async (body) => takeSnapshot(this.admin, body)) }];
    }
    const segments = target.rawSegments;
    if (segments.length === 3 && segments[1] === 'assets') {
      const name = segments[2]!;
      return ['assets', isPageFile(name) && name !== 'index.html' ? { GET: (q, r) => this.asset(q, r, name) } : undefined];
    }
    if (segments.length === 4 && segments[1] === 'api' && segments[2] === 'streams') {
      const segment = segments[3]!;
      return ['api', { DELETE: (q, r, t) => this.action(q, r, t, async (body) => deleteStream(this.admin, body, nameInPath(segment, t))) }];
    }
    return ['other', undefined];
  }

  // ------------------------------------------------------------------ handlers

  private async scrape(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.send(request, response, 'metrics', 200, this.metrics.contentType, await this.metrics.scrape());
  }

  /** /readyz: what the store refuses writes for, and whether the server is shutting down. */
  private readiness(): ReturnType<typeof readiness> {
    const engine = this.host.bus.embeddedEngine;
    return readiness(this.host.bus.writeRefusals(), this.host.shuttingDown, engine === null ? undefined : engine.listStreams().length);
  }

  private probe(request: IncomingMessage, response: ServerResponse, route: Route, result: { statusCode: number; body: object }): void {
    this.send(request, response, route, result.statusCode, JSON_TYPE, JSON.stringify(result.body), { 'cache-control': 'no-store' });
  }

  private asset(request: IncomingMessage, response: ServerResponse, name: PageFile): void {
    const read = this.options.assets;
    if (read === undefined) {
      this.fail(request, response, name === 'index.html' ? 'page' : 'assets', 404, 'the admin page is not part of this build (no page assets were given to the server)');
      return;
    }
    let bytes = this.assetCache.get(name);
    if (bytes === undefined) this.assetCache.set(name, (bytes = read(name)));
    this.send(request, response, name === 'index.html' ? 'page' : 'assets', 200, PAGE_FILES[name], bytes, { ...PAGE_SECURITY, 'cache-control': 'no-cache' });
  }

  private answer(request: IncomingMessage, response: ServerResponse, answer: JsonAnswer): void {
    this.send(request, response, 'api', answer.status, JSON_TYPE, answer.body, { 'cache-control': 'no-store' });
  }

  /** A change to the store: same origin, credentials, a JSON body within the limit, not shutting down; then `run`. */
  private async action(request: IncomingMessage, response: ServerResponse, target: RequestTarget, run: (body: JsonBody) => Promise<JsonAnswer>): Promise<void> {
    const origin = request.headers.origin;
    // Refused before its body is read: a body still on its way would be read as the next request
    // (or time out into a second answer), so the connection closes after the answer.
    const unread: Record<string, string> = request.complete ? {} : { connection: 'close' };
    // `Origin: null` (a sandboxed frame, a data: URL, a redirect across sites) names no origin that could be this one.
    if (origin !== undefined && (origin === 'null' || hostOf(origin) !== normalisedHost(authorityOf(target, request.headers.host)))) {
      this.fail(request, response, 'api', 403, `cross-origin request refused (Origin ${origin.slice(0, 100)} is not this server)`, unread);
      return;
    }
    if (!authorized(this.host.authenticator, request)) {
      this.host.stats.authFailures += 1;
      const status = 401;
      this.send(request, response, 'api', status, JSON_TYPE, JSON.stringify({ error: { status, code: ErrorCodes.UNAUTHORIZED, reason: 'this action needs the client_id and client_secret of a configured client (HTTP Basic authentication)' } }), { ...challengeHeaders(request), ...unread });
      return;
    }
    const body = await this.readBody(request, response);
    if (body === undefined) return;
    // Checked last, just before the change: a body that was still arriving when shutdown began
    // is refused too. Reads, metrics and probes keep answering while the TCP side drains.
    if (this.host.shuttingDown) throw new EventBusError(ErrorCodes.SHUTTING_DOWN, 'the server is shutting down: it takes no more changes');
    this.answer(request, response, await run(body));
  }

  /** The JSON body of an action, or undefined after answering why not (413, 415, 400). */
  private async readBody(request: IncomingMessage, response: ServerResponse): Promise<JsonBody | undefined> {
    const length = Number(request.headers['content-length'] ?? 0);
    if (length > this.options.maxBodyBytes) {
      this.fail(request, response, 'api', 413, `request body of ${length} bytes is over the limit of ${this.options.maxBodyBytes}`, { connection: 'close' });
      return undefined;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > this.options.maxBodyBytes) {
        this.fail(request, response, 'api', 413, `request body over the limit of ${this.options.maxBodyBytes} bytes`, { connection: 'close' });
        return undefined;
      }
      chunks.push(chunk);
    }
    if (size === 0 && request.method === 'DELETE') return { value: {}, bytes: Buffer.from('{}') };
    const type = request.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      this.fail(request, response, 'api', 415, `the body must be JSON (Content-Type: application/json), got ${JSON.stringify(type.slice(0, 100))}`);
      return undefined;
    }
    const bytes = Buffer.concat(chunks);
    // As a request line on the TCP side: never decoded with U+FFFD in place of bad bytes.
    if (!isUtf8(bytes)) throw new EventBusError(ErrorCodes.INVALID_UTF8, 'the request body is not valid UTF-8');
    try {
      return { value: JSON.parse(bytes.toString('utf8')) as unknown, bytes };
    } catch (error) {
      throw new EventBusError(ErrorCodes.INVALID_JSON, `the request body is not JSON: ${(error as Error).message}`);
    }
  }

  // ------------------------------------------------------------------ answers

  private fail(request: IncomingMessage, response: ServerResponse, route: Route, status: number, reason: string, headers: Record<string, string> = {}): void {
    this.send(request, response, route, status, JSON_TYPE, JSON.stringify({ error: { status, reason } }), headers);
  }

  private send(request: IncomingMessage, response: ServerResponse, route: Route, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
    this.metrics.httpRequests.inc({ route, status: String(status) });
    if (response.headersSent) {
      response.destroy();
      return;
    }
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    response.writeHead(status, { 'content-type': type, 'content-length': bytes.length, ...headers });
    // An unread request body (a wrong method, a refusal) is drained by Node, or the socket closed.
    response.end(request.method === 'HEAD' ? undefined : bytes);
  }

  /** Requests Node's parser refused before they reached us: malformed, heads too large, too slow. */
  private clientError(error: NodeJS.ErrnoException, socket: net.Socket): void {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, text, reason] =
      error.code === 'HPE_HEADER_OVERFLOW' ? [431, 'Request Header Fields Too Large', `request head too large: its target, header names and header values come to ${this.options.maxHeaderBytes} bytes or more (max_header_bytes)`]
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'Request Timeout', `request not received within ${this.options.requestTimeoutMs} ms (head within ${this.options.headersTimeoutMs} ms)`]
          : [400, 'Bad Request', `malformed HTTP request (${error.code ?? 'parse error'})`];
    this.metrics.httpRequests.inc({ route: 'other', status: String(status) });
    const body = JSON.stringify({ error: { status, reason } });
    socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    socket.destroySoon();
  }
}

/** Host header lines of a request (Node's `headers.host` keeps only the first). */
function countHostLines(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') count += 1;
  return count;
}

/** The `host[:port]` of an Origin header, or null. */
function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

/** A Host header as an Origin's host reads (lower case, no default port); undefined when absent or malformed. */
function normalisedHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  try {
    return new URL(`http://${host}`).host;
  } catch {
    return undefined;
  }
}

const NAME_FORMS = 'DELETE /api/streams/NAME (NAME percent-encoded) or DELETE /api/streams?name=NAME';

/** The stream of DELETE /api/streams/NAME. Throws INVALID_STREAM_NAME (empty, bad escapes) or INVALID_FIELD (a name in the query too). */
function nameInPath(segment: string, target: RequestTarget): string {
  if (segment === '') throw new EventBusError(ErrorCodes.INVALID_STREAM_NAME, `the path names no stream (it ends in /api/streams/): use ${NAME_FORMS}`);
  if (target.query.has('name')) throw new EventBusError(ErrorCodes.INVALID_FIELD, `the stream is named twice, in the path and in ?name=: use one of ${NAME_FORMS}`, { context: { field: 'name' } });
  return decodeSegment(segment);
}

/** The stream of DELETE /api/streams?name=NAME. Throws MISSING_FIELDS, INVALID_FIELD (twice) or INVALID_STREAM_NAME (empty). */
function nameToDelete(names: string[]): string {
  if (names.length === 0) throw new EventBusError(ErrorCodes.MISSING_FIELDS, `no stream named: use ${NAME_FORMS}`, { context: { field: 'name' } });
  if (names.length > 1) throw new EventBusError(ErrorCodes.INVALID_FIELD, `?name= is given ${names.length} times: name one stream`, { context: { field: 'name' } });
  if (names[0] === '') throw new EventBusError(ErrorCodes.INVALID_STREAM_NAME, `the stream name is empty: use ${NAME_FORMS}`);
  return names[0]!;
}

/**
 * `?since=MS` of /api/overview: absent is 0; given, it is one whole number of ms. Empty, given
 * twice or anything else is INVALID_FIELD (400): never ignored, or the caller would get every
 * sample while believing it asked for some.
 */
function sinceOf(values: string[]): number {
  if (values.length === 0) return 0;
  const refuse = (why: string) => new EventBusError(ErrorCodes.INVALID_FIELD, `since must be one whole number of milliseconds since the epoch, ${why}`, { context: { field: 'since' } });
  if (values.length > 1) throw refuse(`got it ${values.length} times`);
  const value = values[0]!;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(ms)) throw refuse(`got '${value.slice(0, 40)}'`);
  return ms;
}
