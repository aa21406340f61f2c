/**
 * The Prometheus metrics of /metrics, with prom-client. Nothing here runs on the write path:
 * counters the server keeps anyway (request-counts.ts, ServerStats, the engine's commit counts
 * and stream figures) are read when Prometheus scrapes; the storage histograms take one
 * observation per group-commit round and per snapshot from the engine's observer
 * (src/storage/observer.ts), never one per event. Every metric is listed in docs/operations.md
 * ("Metrics").
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Engine } from '../../storage/engine.js';
import type { CommitRound, SnapshotTaken } from '../../storage/index.js';
import type { ServerStats } from '../connection.js';
import { OK, type RequestCounts } from '../request-counts.js';
import type { Bucket } from './bucket-quantile.js';
import { capStreamLabels, type ConsumerSeries, type Labels, type StreamSeries } from './label-cap.js';
import { readStoreFigures } from './store-figures.js';

/** What the metrics read. */
export interface MetricsSource {
  engine: Engine;
  stats: ServerStats;
  counts: RequestCounts;
  connectionCount(): number;
  /** Whether /readyz answers 200 now. */
  ready(): boolean;
}

/** Append-to-durable latency buckets, seconds: 50 µs to 5 s (an fsync is 0.1 to 20 ms on common disks). */
const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const PER_ROUND_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384];
const SNAPSHOT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

type Series<T> = { labels: Labels; value: T };

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly appendLatency: Histogram;
  private readonly roundFsyncs: Histogram;
  private readonly roundEvents: Histogram;
  private readonly roundSeconds: Histogram;
  private readonly damage: Counter;
  private readonly snapshots: Counter<'code'>;
  private readonly snapshotSeconds: Histogram;
  /** Damaged regions known per stream at the last scrape, to count what is found later. */
  private knownDamage: Map<string, number> | null = null;
  /** HTTP answers by route and status, bumped by the HTTP server. */
  readonly httpRequests: Counter<'route' | 'status'>;
  private streams: StreamSeries[] = [];
  private consumers: ConsumerSeries[] = [];
  private streamCounts = { open: 0, broken: 0 };
  /** Cumulative append-latency buckets, for the admin page's p99 (same observations as the histogram). */
  private readonly latencyCounts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);

  constructor(private readonly source: MetricsSource, private readonly caps: { maxLabelledStreams: number; maxLabelledConsumers: number }) {
    const registers = [this.registry];
    // RSS, open files, event-loop lag, heap, GC: prom-client's standard process and Node.js set.
    collectDefaultMetrics({ register: this.registry });

    this.counterOf('eventbus_requests_total', 'Requests answered, by operation and result code (OK or the error code).', ['operation', 'code'], () => this.requestSeries());
    this.counterOf('eventbus_delivered_events_total', 'Events handed to consumers by process_events and retry_events.', [], () => [{ labels: {}, value: source.counts.eventsDelivered }]);
    this.gaugeOf('eventbus_connections_open', 'Open client connections (TCP or TLS).', [], () => [{ labels: {}, value: source.connectionCount() }]);
    this.counterOf('eventbus_connections_accepted_total', 'Client connections accepted.', [], () => [{ labels: {}, value: source.stats.connectionsAccepted }]);
    this.counterOf('eventbus_connections_refused_total', 'Client connections refused: limit (past max_connections, or during shutdown: answered and closed), flood (past the rejection headroom: closed without a line), tls_handshake (failed or timed out).', ['reason'], () => [
      { labels: { reason: 'limit' }, value: source.stats.connectionsRejected },
      { labels: { reason: 'flood' }, value: source.stats.connectionsDropped },
      { labels: { reason: 'tls_handshake' }, value: source.stats.tlsHandshakeFailures },
    ]);
    this.counterOf('eventbus_connections_closed_total', 'Client connections the server closed: line_too_long, timeout (idle or partial line), slow_reader (did not read its responses).', ['reason'], () => [
      { labels: { reason: 'line_too_long' }, value: source.stats.linesTooLong },
      { labels: { reason: 'timeout' }, value: source.stats.timeouts },
      { labels: { reason: 'slow_reader' }, value: source.stats.slowReadersDisconnected },
    ]);
    this.counterOf('eventbus_auth_failures_total', 'Requests refused for missing or wrong credentials.', [], () => [{ labels: {}, value: source.stats.authFailures }]);

    this.gaugeOf('eventbus_streams', 'Streams in the store: open, or broken (failed to open; every request to them fails).', ['state'], () => [
      { labels: { state: 'open' }, value: this.streamCounts.open },
      { labels: { state: 'broken' }, value: this.streamCounts.broken },
    ]);
    const perStream = (pick: (s: StreamSeries) => number) => () => this.streams.map((s) => ({ labels: s.labels, value: pick(s) }));
    this.counterOf('eventbus_stream_appended_events_total', 'Events ever appended to the stream (its next offset).', ['stream', 'overflow'], perStream((s) => s.appended));
    this.gaugeOf('eventbus_stream_events', 'Events stored in the stream now (retention removes the oldest).', ['stream', 'overflow'], perStream((s) => s.events));
    this.gaugeOf('eventbus_stream_bytes', "Bytes of the stream's segment files (logs and indexes) on disk.", ['stream', 'overflow'], perStream((s) => s.bytes));
    this.gaugeOf('eventbus_stream_segments', 'Segments of the stream.', ['stream', 'overflow'], perStream((s) => s.segments));
    this.gaugeOf('eventbus_stream_damaged_regions', "Damaged regions known in the stream's files (records kept on disk, not returned).", ['stream', 'overflow'], perStream((s) => s.damagedRegions));
    this.gaugeOf('eventbus_stream_damaged_events', 'Offsets of the stream that cannot be read because of damage.', ['stream', 'overflow'], perStream((s) => s.damagedEvents));
    const perConsumer = (pick: (c: ConsumerSeries) => number) => () => this.consumers.map((c) => ({ labels: c.labels, value: pick(c) }));
    this.gaugeOf('eventbus_consumer_lag', 'Events of the stream not yet delivered to the consumer.', ['stream', 'consumer', 'overflow'], perConsumer((c) => c.lag));
    this.gaugeOf('eventbus_consumer_pending', 'Events delivered to the consumer and not yet marked (nor due for retry).', ['stream', 'consumer', 'overflow'], perConsumer((c) => c.pending));
    this.gaugeOf('eventbus_consumer_retry', 'Events of the consumer marked for retry or past their acknowledgement deadline.', ['stream', 'consumer', 'overflow'], perConsumer((c) => c.retry));
    this.counterOf('eventbus_consumer_dead_lettered_events_total', "Events moved to the stream's dead-letter stream for the consumer, ever.", ['stream', 'consumer', 'overflow'], perConsumer((c) => c.deadLettered));

    this.counterOf('eventbus_fsync_rounds_total', 'Group-commit fsync rounds run.', [], () => [{ labels: {}, value: source.engine.commitStats.rounds }]);
    this.counterOf('eventbus_fsyncs_total', 'fsync calls made by group-commit rounds.', [], () => [{ labels: {}, value: source.engine.commitStats.syncs }]);
    this.counterOf('eventbus_fsync_inline_rounds_total', 'Group-commit rounds whose fsyncs ran on the main thread (one writer at a time).', [], () => [{ labels: {}, value: source.engine.commitStats.inlineRounds }]);
    this.counterOf('eventbus_durable_commits_total', 'Durable acknowledgements handed out by group commit (one per batch of appends or consumer changes of a file).', [], () => [{ labels: {}, value: source.engine.commitStats.commits }]);
    this.roundFsyncs = new Histogram({ name: 'eventbus_fsync_round_fsyncs', help: 'fsync calls per group-commit round.', buckets: PER_ROUND_BUCKETS, registers });
    this.roundEvents = new Histogram({ name: 'eventbus_fsync_round_events', help: 'Events made durable per group-commit round.', buckets: PER_ROUND_BUCKETS, registers });
    this.roundSeconds = new Histogram({ name: 'eventbus_fsync_round_duration_seconds', help: 'Duration of a group-commit round (its fsyncs).', buckets: LATENCY_BUCKETS, registers });
    this.appendLatency = new Histogram({ name: 'eventbus_append_durable_seconds', help: "Append-to-durable latency under fsync always: per group-commit round that made appends durable, the wait of its oldest commit (the round's worst, an upper bound for every append in it).", buckets: LATENCY_BUCKETS, registers });
    this.damage = new Counter({ name: 'eventbus_damage_found_total', help: 'Damaged regions found since the process started: by recovery at open, then as streams find more (reads that meet damage).', registers });

    this.snapshots = new Counter({ name: 'eventbus_snapshots_total', help: 'Snapshots the engine took (snapshot_db, the admin page), by result code (OK, SNAPSHOT_FAILED, …).', labelNames: ['code'], registers });
    this.snapshotSeconds = new Histogram({ name: 'eventbus_snapshot_duration_seconds', help: 'Duration of a snapshot, from its start to its durable copy (or its failure).', buckets: SNAPSHOT_BUCKETS, registers });
    const recovery = source.engine.recovery;
    this.gaugeOf('eventbus_recovery_after_crash', '1 when the store was opened after a crash (the last process died with it open), else 0.', [], () => [{ labels: {}, value: recovery.afterCrash ? 1 : 0 }]);
    this.gaugeOf('eventbus_recovery_duration_seconds', 'How long opening and recovering the store took at start.', [], () => [{ labels: {}, value: recovery.durationMs / 1000 }]);
    this.gaugeOf('eventbus_recovery_torn_bytes', 'Bytes of torn records recovery cut off the ends of logs and consumer journals at start.', [], () => [{ labels: {}, value: recovery.totals.tornBytesCut + recovery.totals.journalTornBytesCut }]);
    this.damage.inc(recovery.totals.damage);
    this.gaugeOf('eventbus_ready', '1 while /readyz answers 200 (store open, taking writes), else 0.', [], () => [{ labels: {}, value: source.ready() ? 1 : 0 }]);
    this.httpRequests = new Counter({ name: 'eventbus_http_requests_total', help: 'HTTP requests answered on this port, by route and status.', labelNames: ['route', 'status'], registers });
  }

  /** The text of /metrics: reads the store's figures once, then every metric. */
  async scrape(): Promise<string> {
    this.refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Starts recording the engine's commit rounds and snapshots; returns the function that stops.
   * While recorded, the group commit reads the clock once per round and per commit (observer.ts).
   */
  observe(engine: Engine, onSnapshot: (taken: SnapshotTaken) => void): () => void {
    return engine.observe({
      commit: (round) => this.commitRound(round),
      snapshot: (taken) => {
        this.snapshots.inc({ code: taken.error === null ? OK : taken.error.code });
        this.snapshotSeconds.observe(taken.durationMs / 1000);
        onSnapshot(taken);
      },
    });
  }

  /** One round: its fsyncs, its events and time; its oldest commit's wait as the append latency. */
  private commitRound(round: CommitRound): void {
    this.roundFsyncs.observe(round.files + round.directories);
    this.roundEvents.observe(round.events);
    this.roundSeconds.observe(round.fsyncMs / 1000);
    // Rounds that settled appends (under `always`): the worst wait of the round bounds every append in it.
    if (round.commits === 0 || round.events === 0) return;
    const seconds = round.oldestWaitMs / 1000;
    this.appendLatency.observe(seconds);
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i += 1;
    this.latencyCounts[i]! += 1;
  }

  /** Cumulative append-latency buckets (seconds) so far; the last is +Inf. */
  appendLatencyBuckets(): Bucket[] {
    let sum = 0;
    return this.latencyCounts.map((count, i) => ({ le: i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i]! : Number.POSITIVE_INFINITY, count: (sum += count) }));
  }

  private refresh(): void {
    const figures = readStoreFigures(this.source.engine);
    const damage = new Map(figures.streams.map((s) => [s.name, s.damage.length]));
    if (this.knownDamage !== null) {
      for (const [name, regions] of damage) {
        const before = this.knownDamage.get(name) ?? 0;
        if (regions > before) this.damage.inc(regions - before);
      }
    }
    this.knownDamage = damage;
    const capped = capStreamLabels(figures.streams, this.caps.maxLabelledStreams, this.caps.maxLabelledConsumers);
    this.streams = capped.streams;
    this.consumers = capped.consumers;
    this.streamCounts = { open: figures.streams.length, broken: figures.broken.length };
  }

  private requestSeries(): Series<number>[] {
    const series: Series<number>[] = [];
    for (const [operation, counts] of this.source.counts.entries()) {
      if (counts.ok > 0) series.push({ labels: { operation, code: OK }, value: counts.ok });
      for (const [code, value] of counts.failed) series.push({ labels: { operation, code }, value });
    }
    return series;
  }

  /** A counter whose values are read at scrape time (reset, then set to the source's totals). */
  private counterOf(name: string, help: string, labelNames: string[], read: () => Series<number>[]): void {
    new Counter({
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        for (const { labels, value } of read()) this.inc(labels, value);
      },
    });
  }

  /** A gauge whose values are read at scrape time. */
  private gaugeOf(name: string, help: string, labelNames: string[], read: () => Series<number>[]): void {
    new Gauge({
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        for (const { labels, value } of read()) this.set(labels, value);
      },
    });
  }
}
