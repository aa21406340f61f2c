/**
 * The metrics only the embedded engine has: its streams and consumers (read from the engine at
 * each scrape, labels capped: label-cap.ts), damage, group-commit rounds and append latency,
 * snapshots, and what recovery found at open. The histograms take one observation per
 * group-commit round and per snapshot from the engine's observer (src/storage/observer.ts),
 * never one per event. A gateway on the jetstream backend has no engine, and none of these.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Engine } from '../../storage/engine.js';
import type { CommitRound, SnapshotTaken } from '../../storage/index.js';
import { OK } from '../request-counts.js';
import type { Bucket } from './bucket-quantile.js';
import { LabelCap, type ConsumerSeries, type StreamSeries } from './label-cap.js';
import { LATENCY_BUCKETS, counterOf, gaugeOf } from './metric-series.js';
import { readStoreFigures } from './store-figures.js';

const PER_ROUND_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384];
const SNAPSHOT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class EngineMetrics {
  private readonly appendLatency: Histogram;
  private readonly roundFsyncs: Histogram;
  private readonly roundEvents: Histogram;
  private readonly roundSeconds: Histogram;
  private readonly damage: Counter;
  private readonly snapshots: Counter<'code'>;
  private readonly snapshotSeconds: Histogram;
  /** Damaged regions known per stream at the last scrape, to count what is found later. */
  private knownDamage: Map<string, number> | null = null;
  /** Which series each stream and consumer is in, for the life of the process. */
  private readonly labels: LabelCap;
  private streams: StreamSeries[] = [];
  private consumers: ConsumerSeries[] = [];
  private streamCounts = { open: 0, broken: 0 };
  /** Cumulative append-latency buckets, for the admin page's p99 (same observations as the histogram). */
  private readonly latencyCounts = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);

  constructor(registry: Registry, private readonly engine: Engine, caps: { maxLabelledStreams: number; maxLabelledConsumers: number }) {
    const registers = [registry];
    this.labels = new LabelCap(caps.maxLabelledStreams, caps.maxLabelledConsumers);
    gaugeOf(registry, 'eventbus_streams', 'Streams in the store: open, or broken (failed to open; every request to them fails).', ['state'], () => [
      { labels: { state: 'open' }, value: this.streamCounts.open },
      { labels: { state: 'broken' }, value: this.streamCounts.broken },
    ]);
    const perStream = (pick: (s: StreamSeries) => number) => () => this.streams.map((s) => ({ labels: s.labels, value: pick(s) }));
    counterOf(registry, 'eventbus_stream_appended_events_total', 'Events ever appended to the stream (its next offset).', ['stream', 'overflow'], perStream((s) => s.appended));
    gaugeOf(registry, 'eventbus_stream_events', 'Events stored in the stream now (retention removes the oldest).', ['stream', 'overflow'], perStream((s) => s.events));
    gaugeOf(registry, 'eventbus_stream_bytes', "Bytes of the stream's segment files (logs and indexes) on disk.", ['stream', 'overflow'], perStream((s) => s.bytes));
    gaugeOf(registry, 'eventbus_stream_segments', 'Segments of the stream.', ['stream', 'overflow'], perStream((s) => s.segments));
    gaugeOf(registry, 'eventbus_stream_damaged_regions', "Damaged regions known in the stream's files (records kept on disk, not returned).", ['stream', 'overflow'], perStream((s) => s.damagedRegions));
    gaugeOf(registry, 'eventbus_stream_damaged_events', 'Offsets of the stream that cannot be read because of damage.', ['stream', 'overflow'], perStream((s) => s.damagedEvents));
    const perConsumer = (pick: (c: ConsumerSeries) => number) => () => this.consumers.map((c) => ({ labels: c.labels, value: pick(c) }));
    gaugeOf(registry, 'eventbus_consumer_lag', 'Events of the stream not yet delivered to the consumer.', ['stream', 'consumer', 'overflow'], perConsumer((c) => c.lag));
    gaugeOf(registry, 'eventbus_consumer_pending', 'Events delivered to the consumer and not yet marked (nor due for retry).', ['stream', 'consumer', 'overflow'], perConsumer((c) => c.pending));
    gaugeOf(registry, 'eventbus_consumer_retry', 'Events of the consumer marked for retry or past their acknowledgement deadline.', ['stream', 'consumer', 'overflow'], perConsumer((c) => c.retry));
    counterOf(registry, 'eventbus_consumer_dead_lettered_events_total', "Events moved to the stream's dead-letter stream for the consumer, ever.", ['stream', 'consumer', 'overflow'], perConsumer((c) => c.deadLettered));

    counterOf(registry, 'eventbus_fsync_rounds_total', 'Group-commit fsync rounds run.', [], () => [{ labels: {}, value: engine.commitStats.rounds }]);
    counterOf(registry, 'eventbus_fsyncs_total', 'fsync calls made by group-commit rounds.', [], () => [{ labels: {}, value: engine.commitStats.syncs }]);
    counterOf(registry, 'eventbus_fsync_inline_rounds_total', 'Group-commit rounds whose fsyncs ran on the main thread (one writer at a time).', [], () => [{ labels: {}, value: engine.commitStats.inlineRounds }]);
    counterOf(registry, 'eventbus_durable_commits_total', 'Durable acknowledgements handed out by group commit (one per batch of appends or consumer changes of a file).', [], () => [{ labels: {}, value: engine.commitStats.commits }]);
    this.roundFsyncs = new Histogram({ name: 'eventbus_fsync_round_fsyncs', help: 'fsync calls per group-commit round.', buckets: PER_ROUND_BUCKETS, registers });
    this.roundEvents = new Histogram({ name: 'eventbus_fsync_round_events', help: 'Events made durable per group-commit round.', buckets: PER_ROUND_BUCKETS, registers });
    this.roundSeconds = new Histogram({ name: 'eventbus_fsync_round_duration_seconds', help: 'Duration of a group-commit round (its fsyncs).', buckets: LATENCY_BUCKETS, registers });
    this.appendLatency = new Histogram({ name: 'eventbus_append_durable_seconds', help: "Append-to-durable latency under fsync always: per group-commit round that made appends durable, the wait of its oldest commit (the round's worst, an upper bound for every append in it).", buckets: LATENCY_BUCKETS, registers });
    this.damage = new Counter({ name: 'eventbus_damage_found_total', help: 'Damaged regions found since the process started: by recovery at open, then as streams find more (reads that meet damage).', registers });

    this.snapshots = new Counter({ name: 'eventbus_snapshots_total', help: 'Snapshots the engine took (snapshot_db, the admin page), by result code (OK, SNAPSHOT_FAILED, …).', labelNames: ['code'], registers });
    this.snapshotSeconds = new Histogram({ name: 'eventbus_snapshot_duration_seconds', help: 'Duration of a snapshot, from its start to its durable copy (or its failure).', buckets: SNAPSHOT_BUCKETS, registers });
    const recovery = engine.recovery;
    gaugeOf(registry, 'eventbus_recovery_after_crash', '1 when the store was opened after a crash (the last process died with it open), else 0.', [], () => [{ labels: {}, value: recovery.afterCrash ? 1 : 0 }]);
    gaugeOf(registry, 'eventbus_recovery_duration_seconds', 'How long opening and recovering the store took at start.', [], () => [{ labels: {}, value: recovery.durationMs / 1000 }]);
    gaugeOf(registry, 'eventbus_recovery_torn_bytes', 'Bytes of torn records recovery cut off the ends of logs and consumer journals at start.', [], () => [{ labels: {}, value: recovery.totals.tornBytesCut + recovery.totals.journalTornBytesCut }]);
    this.damage.inc(recovery.totals.damage);
  }

  /** Reads the store's figures once, for the scrape that follows. */
  refresh(): void {
    const figures = readStoreFigures(this.engine);
    const damage = new Map(figures.streams.map((s) => [s.name, s.damage.length]));
    if (this.knownDamage !== null) {
      for (const [name, regions] of damage) {
        const before = this.knownDamage.get(name) ?? 0;
        if (regions > before) this.damage.inc(regions - before);
      }
    }
    this.knownDamage = damage;
    const capped = this.labels.series(figures.streams);
    this.streams = capped.streams;
    this.consumers = capped.consumers;
    this.streamCounts = { open: figures.streams.length, broken: figures.broken.length };
  }

  /** Cumulative append-latency buckets (seconds) so far; the last is +Inf. */
  appendLatencyBuckets(): Bucket[] {
    let sum = 0;
    return this.latencyCounts.map((count, i) => ({ le: i < LATENCY_BUCKETS.length ? LATENCY_BUCKETS[i]! : Number.POSITIVE_INFINITY, count: (sum += count) }));
  }

  /**
   * Starts recording the engine's commit rounds and snapshots; returns the function that stops.
   * While recorded, the group commit reads the clock once per round and per commit (observer.ts).
   */
  observe(onSnapshot: (taken: SnapshotTaken) => void): () => void {
    return this.engine.observe({
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
}
