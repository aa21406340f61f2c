/**
 * The harness's command line (`npm run bench -- [options]`), with commander, and the scale of a
 * run: how long and how big each measurement is for a full run and for `--quick`.
 */
import { Command, InvalidArgumentError } from 'commander';

export interface Scale {
  quick: boolean;
  /** Repetitions of every figure (the median is reported with min and max). */
  reps: number;
  /** Timed part of each write (and mixed) repetition, and the untimed warm-up before a system's first. */
  writeMs: number;
  warmupMs: number;
  /** Events prefilled and drained (each repetition a new consumer over the same events). */
  drainEvents: number;
  drainWorkers: number;
  drainBatch: number;
  /** The disk's fsync rate: each repetition's length. */
  diskMs: number;
  /** In-process engine cases: seconds per append case, events in the big store. */
  engineSecondsPerCase: number;
  engineBigEvents: number;
  /** Snapshot sizes (MiB, across `snapshotStreams` streams). */
  snapshotSizesMib: number[];
  snapshotStreams: number;
  idleConnections: number;
  idleWrites: number;
  /** mark_event cost: single-id marks per stream, and events in the long stream. */
  markProbes: number;
  markLongEvents: number;
}

export interface BenchOptions {
  scale: Scale;
  /** Workload names or groups (`write` = every write-*); empty = all. */
  only: string[];
  /** System ids or prefixes (`redis` = both Redis configurations); empty = all. */
  systems: string[];
  outDir: string;
  /** Rewrite docs/benchmarks.md and the SVGs under docs/benchmarks/ from this run. */
  docs: boolean;
  /** Run eventbus servers under `node --cpu-prof` and summarise where their time went. */
  profile: boolean;
  /** On stderr: a live table and progress bar on a terminal, plain lines elsewhere, nothing with --no-progress. */
  display: 'live' | 'lines' | 'off';
  list: boolean;
}

const FULL: Scale = {
  quick: false,
  reps: 3,
  writeMs: 1000,
  warmupMs: 400,
  drainEvents: 1_000_000,
  drainWorkers: 4,
  drainBatch: 100,
  diskMs: 2000,
  engineSecondsPerCase: 0.7,
  engineBigEvents: 1_000_000,
  snapshotSizesMib: [100, 1024],
  snapshotStreams: 100,
  idleConnections: 10_000,
  idleWrites: 2000,
  markProbes: 1000,
  markLongEvents: 500_000,
};

const QUICK: Scale = {
  ...FULL,
  quick: true,
  writeMs: 250,
  warmupMs: 100,
  drainEvents: 20_000,
  diskMs: 300,
  engineSecondsPerCase: 0.1,
  engineBigEvents: 50_000,
  snapshotSizesMib: [8, 64],
  snapshotStreams: 20,
  idleConnections: 500,
  idleWrites: 200,
  markProbes: 200,
  markLongEvents: 20_000,
};

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1.');
  return n;
}

function list(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function parseOptions(argv: string[]): BenchOptions {
  const program = new Command('npm run bench --')
    .description('Benchmarks eventbus against Redis Streams and NATS JetStream in one run, with one load generator, and checks the targets.')
    .option('--quick', 'short runs and small counts (finishes in under 2 minutes)')
    .option('--only <workloads>', 'comma-separated workloads or groups to run (see --list); default all', list)
    .option('--systems <systems>', 'comma-separated systems or prefixes (eventbus, redis, nats, echo); default all', list)
    .option('--reps <n>', 'repetitions per figure (median with min and max; at least 3 unless you only check the harness)', positiveInteger)
    .option('--duration-ms <ms>', 'timed length of each write, mixed and fsync-rate repetition', positiveInteger)
    .option('--drain-events <n>', 'events prefilled and drained', positiveInteger)
    .option('--out <dir>', 'where JSON, markdown and SVG results go', 'bench/results')
    .option('--docs', 'rewrite docs/benchmarks.md (its generated part) and docs/benchmarks/*.svg from this run')
    .option('--profile', 'run eventbus under node --cpu-prof and summarise the profiles (top self time, idle share)')
    .option('--no-progress', 'nothing on stderr while it runs (by default a live table and progress bar on a terminal, plain lines otherwise)')
    .option('--list', 'list the workloads and systems, then exit')
    .showHelpAfterError()
    .parse(argv, { from: 'user' });
  const o = program.opts<{ quick?: boolean; only?: string[]; systems?: string[]; reps?: number; durationMs?: number; drainEvents?: number; out: string; docs?: boolean; profile?: boolean; progress: boolean; list?: boolean }>();
  const base = o.quick === true ? QUICK : FULL;
  const scale: Scale = {
    ...base,
    ...(o.reps === undefined ? {} : { reps: o.reps }),
    ...(o.durationMs === undefined ? {} : { writeMs: o.durationMs, diskMs: o.durationMs, warmupMs: Math.min(base.warmupMs, o.durationMs) }),
    ...(o.drainEvents === undefined ? {} : { drainEvents: o.drainEvents, markLongEvents: Math.min(base.markLongEvents, o.drainEvents) }),
  };
  return {
    scale,
    only: o.only ?? [],
    systems: o.systems ?? [],
    outDir: o.out,
    docs: o.docs === true,
    profile: o.profile === true,
    display: !o.progress ? 'off' : process.stderr.isTTY === true ? 'live' : 'lines',
    list: o.list === true,
  };
}
