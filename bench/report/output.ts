/**
 * A run's outputs: the JSON (everything, for machines), the markdown report, the SVG charts,
 * and, with --docs, docs/benchmarks.md's generated part with the charts under docs/benchmarks/.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MeasuredWindow } from '../core/context.js';
import type { Figure } from '../core/figures.js';
import type { TargetResult } from '../targets.js';
import { latencyChart, throughputChart } from './charts.js';
import type { ProfileSummary } from './profile.js';
import { markdownTables } from './render.js';
import type { Section } from './sections.js';

export interface RunInfo {
  startedAt: string;
  finishedAt: string;
  durationS: number;
  command: string;
  quick: boolean;
  reps: number;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; kernel: string; loadBefore: number[]; loadAfter: number[] };
  versions: Record<string, string>;
  /** Every system the selected workloads wanted, with whether it ran (and its process id, which is gone by the end). */
  systems: { id: string; label: string; durability: string; status: string; pid?: number }[];
  /** Wall-clock time each workload took. */
  workloadSeconds: Record<string, number>;
}

export interface RunReport {
  info: RunInfo;
  figures: Figure[];
  targets: TargetResult[];
  failures: string[];
  profiles: ProfileSummary[];
  /** The timed repetitions (monotonic µs), to cut the kept CPU profiles again later. */
  windows: MeasuredWindow[];
}

function systemsTable(info: RunInfo): string {
  return [
    '| system | version | durability | in this run |',
    '|---|---|---|---|',
    ...info.systems.map((s) => `| ${s.label} | ${info.versions[s.id] ?? ''} | ${s.durability} | ${s.status} |`),
  ].join('\n');
}

function profileMarkdown(profiles: readonly ProfileSummary[]): string {
  if (profiles.length === 0) return '';
  return profiles.map((p) => [
    `#### CPU profile of ${path.basename(p.file).replace(/-\d+\.cpuprofile$/, '')}: ${p.scope}`,
    '',
    `${(p.totalMs / 1000).toFixed(1)} s sampled: idle ${p.idlePercent.toFixed(1)}%, garbage collection ${p.gcPercent.toFixed(1)}%, V8 (program) ${p.programPercent.toFixed(1)}%.`,
    '',
    `By area: ${p.byArea.slice(0, 12).map((a) => `${a.area} ${a.percent.toFixed(1)}%`).join(', ')}.`,
    '',
    '| self % | self ms | function | where |',
    '|---|---|---|---|',
    ...p.top.map((e) => `| ${e.percent.toFixed(1)} | ${e.selfMs.toFixed(0)} | \`${e.function}\` | ${e.where} |`),
    '',
  ].join('\n')).join('\n');
}

/** The report's body: run facts, systems, charts (when given), tables, failures. */
export function reportMarkdown(report: RunReport, sections: readonly Section[], charts: { throughput?: string; latency?: string }, headingLevel: number): string {
  const { info } = report;
  const h = '#'.repeat(headingLevel);
  return [
    `Measured ${info.finishedAt.slice(0, 16).replace('T', ' ')} UTC with \`${info.command}\` (${info.durationS.toFixed(0)} s${info.quick ? ', quick: short runs, small counts' : ''}), every figure the median of ${info.reps} repetitions with min–max.`,
    `Machine: ${info.machine.cpus} × ${info.machine.cpuModel}, ${info.machine.memoryGiB} GiB, Linux ${info.machine.kernel}; load average ${info.machine.loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${info.machine.loadAfter.map((l) => l.toFixed(2)).join(' ')} after. The machine is shared and its disk virtual: figures are noisy; read them as ratios against the peers of the same run.`,
    `Node ${info.versions.node}, nats client ${info.versions['nats client'] ?? '-'}.`,
    '',
    systemsTable(info),
    '',
    ...(charts.throughput === undefined ? [] : [`![Throughput per system and workload](${charts.throughput})`, '']),
    ...(charts.latency === undefined ? [] : [`![p50 and p99 latency per system and workload](${charts.latency})`, '']),
    markdownTables(sections, headingLevel),
    ...(report.failures.length === 0 ? [] : [`${h} Failures in this run`, '', ...report.failures.map((f) => `- ${f}`), '']),
    ...(report.profiles.length === 0 ? [] : [`${h} CPU profiles of the eventbus server`, '', profileMarkdown(report.profiles)]),
  ].join('\n');
}

export function chartSubtitle(info: RunInfo): string {
  return `${info.finishedAt.slice(0, 10)}, ${info.machine.cpus} cores, shared machine; median of ${info.reps}; † = no fsync per acknowledgement`;
}

/** Writes results.json, results.md and the SVGs into `dir`; returns the files written. */
export function writeResults(dir: string, report: RunReport, sections: readonly Section[]): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    files.push(path.join(dir, name));
  };
  write('results.json', `${JSON.stringify(report, null, 2)}\n`);
  const throughput = throughputChart(report.figures, chartSubtitle(report.info));
  const latency = latencyChart(report.figures, chartSubtitle(report.info));
  if (throughput !== null) write('throughput.svg', throughput);
  if (latency !== null) write('latency.svg', latency);
  write('results.md', `# eventbus benchmark\n\n${reportMarkdown(report, sections, { ...(throughput === null ? {} : { throughput: 'throughput.svg' }), ...(latency === null ? {} : { latency: 'latency.svg' }) }, 2)}\n`);
  return files;
}

const BEGIN = '<!-- generated by `npm run bench -- --docs`: everything up to the end marker is rewritten -->';
const END = '<!-- end of generated part -->';

const SKELETON = `# Benchmarks

eventbus against Redis Streams and NATS JetStream on the same machine, in the same run, driven by
one load generator (\`npm run bench\`, bench/main.ts). See the README's Benchmarks section for the
options.

${BEGIN}
${END}
`;

/** Rewrites the generated part of docs/benchmarks.md (the text around it is kept) and its charts. */
export function writeDocs(repoRoot: string, report: RunReport, sections: readonly Section[]): string[] {
  const docsDir = path.join(repoRoot, 'docs');
  const chartsDir = path.join(docsDir, 'benchmarks');
  mkdirSync(chartsDir, { recursive: true });
  const files: string[] = [];
  const charts: { throughput?: string; latency?: string } = {};
  const throughput = throughputChart(report.figures, chartSubtitle(report.info));
  const latency = latencyChart(report.figures, chartSubtitle(report.info));
  if (throughput !== null) {
    writeFileSync(path.join(chartsDir, 'throughput.svg'), throughput);
    charts.throughput = 'benchmarks/throughput.svg';
    files.push(path.join(chartsDir, 'throughput.svg'));
  }
  if (latency !== null) {
    writeFileSync(path.join(chartsDir, 'latency.svg'), latency);
    charts.latency = 'benchmarks/latency.svg';
    files.push(path.join(chartsDir, 'latency.svg'));
  }
  const file = path.join(docsDir, 'benchmarks.md');
  const current = existsSync(file) ? readFileSync(file, 'utf8') : SKELETON;
  const begin = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  if (begin === -1 || end === -1 || end < begin) throw new Error(`${file} has lost its generated-part markers; restore them (${BEGIN} … ${END})`);
  const generated = `${BEGIN}\n\n${reportMarkdown(report, sections, charts, 3)}\n${END}`;
  writeFileSync(file, current.slice(0, begin) + generated + current.slice(end + END.length));
  files.push(file);
  return files;
}
