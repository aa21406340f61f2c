/**
 * The run's figures as table sections (title, header, rows, notes), built once and rendered
 * both to the terminal and to markdown: the physical limits, writes, drain, mixed, the
 * generator checks, eventbus alone, and the targets with PASS/MISS. Every eventbus throughput
 * row carries its ratio to each peer of the same workload in the same run.
 */
import type { Figure } from '../core/figures.js';
import { COMPARISONS, SYSTEMS } from '../systems/index.js';
import type { TargetResult } from '../targets.js';
import { durabilityMark, formatNumber, formatRatio, formatStat, systemLabel } from './format.js';

export interface Section {
  title: string;
  headers: string[];
  rows: string[][];
  notes: string[];
}

const SHORT: Record<string, string> = { 'redis-always': 'Redis always', 'redis-everysec': 'Redis everysec', nats: 'NATS†', echo: 'echo' };

function ratios(figure: Figure, figures: readonly Figure[]): string {
  const peers = COMPARISONS[figure.system];
  if (peers === undefined) return '';
  return peers.flatMap((peer) => {
    const other = figures.find((f) => f.workload === figure.workload && f.case === figure.case && f.system === peer);
    if (other === undefined) return [];
    // Latency too, as eventbus's p99 over the peer's (lower is better), where both were measured.
    const p99 = figure.latency === undefined || other.latency === undefined || other.latency.p99Ms.median <= 0
      ? ''
      : ` (p99 ${formatRatio(figure.latency.p99Ms.median / other.latency.p99Ms.median)})`;
    return [`${formatRatio(figure.value.median / other.value.median)} ${SHORT[peer]}${p99}`];
  }).join(', ');
}

const NAT_NOTE = '† NATS JetStream 2.9 does not fsync per acknowledgement (its file store syncs every two minutes; there is no setting to sync every write): its acknowledged writes and acks do not survive a power loss. Compare it with eventbus `interval` for like-for-like durability.';

function throughputSection(title: string, figures: readonly Figure[], latencyMeaning: string, all: readonly Figure[]): Section {
  const rows = figures.map((f) => [
    f.case,
    `${systemLabel(f.system, SYSTEMS)}${durabilityMark(f.system, SYSTEMS)}`,
    SYSTEMS.get(f.system as never)?.durabilityShort ?? '',
    formatStat(f.value),
    f.latency === undefined ? '' : formatNumber(f.latency.p50Ms.median),
    f.latency === undefined ? '' : formatNumber(f.latency.p99Ms.median),
    ratios(f, all),
  ]);
  return {
    title,
    headers: ['workload', 'system', 'durability', `${figures[0]?.unit ?? 'events/s'}: median (min–max)`, 'p50 ms', 'p99 ms', 'eventbus ÷ peer'],
    rows,
    notes: [`Latency: ${latencyMeaning}. eventbus ÷ peer: throughput, then (p99 …) eventbus's p99 over the peer's (below 1× is better).`, ...(figures.some((f) => f.system === 'nats') ? [NAT_NOTE] : [])],
  };
}

function valueSection(title: string, figures: readonly Figure[], notes: string[] = []): Section {
  return {
    title,
    headers: ['what', 'median (min–max)', 'unit', 'p50 / p99 ms'],
    rows: figures.map((f) => [f.case + (f.system.startsWith('eventbus') ? ` (${systemLabel(f.system, SYSTEMS)})` : ''), formatStat(f.value), f.unit, f.latency === undefined ? '' : `${formatNumber(f.latency.p50Ms.median)} / ${formatNumber(f.latency.p99Ms.median)}`]),
    notes,
  };
}

/** The engine experiments: each figure with the medians of its extra measures (events per round, fsync time, …). */
function experimentSection(title: string, figures: readonly Figure[]): Section {
  const section = valueSection(title, figures);
  section.headers.push('also measured (medians)');
  section.rows.forEach((row, i) => row.push(Object.entries(figures[i]!.extra ?? {}).map(([key, value]) => `${key} ${formatNumber(value.median)}`).join(', ')));
  return section;
}

export function buildSections(figures: readonly Figure[], targets: readonly TargetResult[], reps: number): Section[] {
  const of = (test: (f: Figure) => boolean) => figures.filter(test);
  const sections: Section[] = [];
  const add = (section: Section) => {
    if (section.rows.length > 0) sections.push(section);
  };
  add(valueSection('Physical limits of this machine (same run)', of((f) => f.workload === 'disk'), ['The echo server (a minimal Node JSON-lines server, no storage) is in the write table: the ceiling of Node + TCP.']));
  add(throughputSection('Writes (connections, requests in flight per connection)', of((f) => f.workload.startsWith('write-')), 'send to reply, per write', figures));
  add(throughputSection('Drain and acknowledge', of((f) => f.workload.startsWith('drain')), 'per batch, fetch sent to batch received', figures));
  add(throughputSection('Writers and consumers at once', of((f) => f.workload === 'mixed'), 'write sent to delivery at a consumer (events consumed per second)', figures));
  add(valueSection('Generator checks', of((f) => f.workload === 'client-vs-raw' || f.workload === 'ebload'), ['eventbus is driven with raw JSON lines in every workload: the faster of the two for the generator.']));
  add(valueSection('eventbus alone: consumers, engine, snapshots, idle connections, the cost of metrics', of((f) => ['mark-cost', 'engine', 'snapshot', 'idle', 'metrics-cost'].includes(f.workload))));
  add(experimentSection('Engine experiments (opt-in workloads, docs/research.md)', of((f) => f.workload.startsWith('engine-'))));
  const measured = targets.filter((t) => t.verdict !== 'n/a');
  const unmeasured = targets.length - measured.length;
  // No target among the workloads run (`--only disk`): no empty table; the summary line says so.
  if (measured.length === 0) return sections;
  sections.push({
    title: 'Targets',
    headers: ['', 'source', 'target', 'measured (medians)'],
    rows: measured.map((t) => [t.verdict, t.source, t.target, t.measured]),
    notes: [
      `Every figure is the median of ${reps} repetitions; ranges are min–max.`,
      ...(unmeasured === 0 ? [] : [`${unmeasured} more target${unmeasured > 1 ? 's were' : ' was'} not measured in this run (workload or peer not run); see results.json.`]),
    ],
  });
  return sections;
}
