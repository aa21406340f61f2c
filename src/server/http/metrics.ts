/**
 * The Prometheus metrics of /metrics, with prom-client. Nothing here runs on the write path:
 * counters the server keeps anyway (request-counts.ts, ServerStats) are read when Prometheus
 * scrapes. With the embedded engine, its own metrics join them (engine-metrics.ts); a gateway on
 * the jetstream backend has the server's only. Every metric is listed in docs/operations.md
 * ("Metrics").
 */
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../../storage/engine.js';
import type { SnapshotTaken } from '../../storage/index.js';
import type { ServerStats } from '../connection.js';
import { OK, type RequestCounts } from '../request-counts.js';
import type { Bucket } from './bucket-quantile.js';
import { EngineMetrics } from './engine-metrics.js';
import { LATENCY_BUCKETS, counterOf, gaugeOf, type Series } from './metric-series.js';

/** What the metrics read. */
export interface MetricsSource {
  /** The embedded engine, or null (a gateway: no engine metrics). */
  engine: Engine | null;
  stats: ServerStats;
  counts: RequestCounts;
  connectionCount(): number;
  /** Whether /readyz answers 200 now. */
  ready(): boolean;
}

export class ServerMetrics {
  readonly registry = new Registry();
  /** HTTP answers by route and status, bumped by the HTTP server. */
  readonly httpRequests: Counter<'route' | 'status'>;
  /** The engine's own metrics; null without an engine. */
  private readonly engine: EngineMetrics | null;

  constructor(private readonly source: MetricsSource, caps: { maxLabelledStreams: number; maxLabelledConsumers: number }) {
    const registers = [this.registry];
    // RSS, open files, event-loop lag, heap, GC: prom-client's standard process and Node.js set.
    // The event-loop delay histogram's timer stays at prom-client's 10 ms: at 1 ms it would cost
    // about 2% of a core on an idle server (operations.md says what the lag series then mean).
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });

    counterOf(this.registry, 'eventbus_requests_total', 'Requests answered, by operation and result code (OK or the error code).', ['operation', 'code'], () => this.requestSeries());
    counterOf(this.registry, 'eventbus_delivered_events_total', 'Events handed to consumers by process_events and retry_events.', [], () => [{ labels: {}, value: source.counts.eventsDelivered }]);
    gaugeOf(this.registry, 'eventbus_connections_open', 'Open client connections (TCP or TLS).', [], () => [{ labels: {}, value: source.connectionCount() }]);
    counterOf(this.registry, 'eventbus_connections_accepted_total', 'Client connections accepted.', [], () => [{ labels: {}, value: source.stats.connectionsAccepted }]);
    counterOf(this.registry, 'eventbus_connections_refused_total', 'Client connections refused: limit (past max_connections, or a TLS handshake completed during shutdown: answered and closed), flood (past the rejection headroom: closed without a line), tls_handshake (failed or timed out).', ['reason'], () => [
      { labels: { reason: 'limit' }, value: source.stats.connectionsRejected },
      { labels: { reason: 'flood' }, value: source.stats.connectionsDropped },
      { labels: { reason: 'tls_handshake' }, value: source.stats.tlsHandshakeFailures },
    ]);
    counterOf(this.registry, 'eventbus_connections_closed_total', 'Client connections the server closed: line_too_long, timeout (idle or partial line), slow_reader (did not read its responses).', ['reason'], () => [
      { labels: { reason: 'line_too_long' }, value: source.stats.linesTooLong },
      { labels: { reason: 'timeout' }, value: source.stats.timeouts },
      { labels: { reason: 'slow_reader' }, value: source.stats.slowReadersDisconnected },
    ]);
    counterOf(this.registry, 'eventbus_auth_failures_total', 'Requests refused for missing or wrong credentials.', [], () => [{ labels: {}, value: source.stats.authFailures }]);

    gaugeOf(this.registry, 'eventbus_ready', '1 while /readyz answers 200 (store open, taking writes), else 0.', [], () => [{ labels: {}, value: source.ready() ? 1 : 0 }]);
    this.httpRequests = new Counter({ name: 'eventbus_http_requests_total', help: 'HTTP requests answered on this port, by route and status.', labelNames: ['route', 'status'], registers });
    this.engine = source.engine === null ? null : new EngineMetrics(this.registry, source.engine, caps);
  }

  /** The text of /metrics: reads the store's figures once (with an engine), then every metric. */
  async scrape(): Promise<string> {
    this.engine?.refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Starts recording the engine's commit rounds and snapshots (nothing without one); returns the function that stops. */
  observe(onSnapshot: (taken: SnapshotTaken) => void): () => void {
    return this.engine?.observe(onSnapshot) ?? (() => {});
  }

  /** Cumulative append-latency buckets (seconds) so far, the last +Inf; all zero without an engine. */
  appendLatencyBuckets(): Bucket[] {
    return this.engine?.appendLatencyBuckets() ?? [...LATENCY_BUCKETS, Number.POSITIVE_INFINITY].map((le) => ({ le, count: 0 }));
  }

  private requestSeries(): Series<number>[] {
    const series: Series<number>[] = [];
    for (const [operation, counts] of this.source.counts.entries()) {
      if (counts.ok > 0) series.push({ labels: { operation, code: OK }, value: counts.ok });
      for (const [code, value] of counts.failed) series.push({ labels: { operation, code }, value });
    }
    return series;
  }
}
