/**
 * What every workload is given: the scale, the running systems, the live display, and where its
 * figures and failure notes go. `repeatAcross` is the one repetition loop of the peer workloads:
 * every repetition measures every system once, in an order rotated per repetition, so that
 * other load on the shared machine spreads over all systems alike instead of landing on one.
 */
import type { BenchOptions, Scale } from '../options.js';
import type { LiveDisplay } from '../report/live.js';
import { figureLine } from '../report/format.js';
import type { SystemDefinition, SystemId, RunningSystem } from '../systems/system.js';
import { throughputFigure, type Figure, type RunResult } from './figures.js';
import { Progress } from '../../src/cli/bench/progress.js';
import { processCpuMs } from './cpu-time.js';

/** When a system was being measured (monotonic clock, µs: the clock of V8's CPU profiles). */
export interface MeasuredWindow {
  system: string;
  workload: string;
  startUs: number;
  endUs: number;
}

/** Now on the monotonic clock, in microseconds (what `node --cpu-prof` timestamps use). */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export class BenchContext {
  readonly figures: Figure[] = [];
  /** The timed repetitions, so a server's CPU profile can be cut to the moments it was measured. */
  readonly windows: MeasuredWindow[] = [];
  /** Failures: a system that failed a workload, a check that did not hold. Any makes the run fail. */
  readonly failures: string[] = [];
  /** `[3/14] write-16x32-100`, for the display. */
  label = '';

  constructor(
    readonly options: BenchOptions,
    readonly display: LiveDisplay,
    readonly running: ReadonlyMap<SystemId, RunningSystem>,
    readonly definitions: ReadonlyMap<SystemId, SystemDefinition>,
  ) {}

  get scale(): Scale {
    return this.options.scale;
  }

  add(figure: Figure): void {
    this.figures.push(figure);
    this.display.line(figureLine(figure, this.definitions));
  }

  fail(text: string): void {
    this.failures.push(text);
    this.display.line(`FAILED: ${text}`, true);
  }

  /** Runs `work` with a progress display for `system` and `phase`. */
  async step<T>(system: string, phase: string, work: (progress: Progress) => Promise<T>): Promise<T> {
    const progress = new Progress();
    this.display.begin({ workload: this.label, system, phase }, progress);
    try {
      return await work(progress);
    } finally {
      this.display.end();
    }
  }
}

export interface RepeatOptions {
  workload: string;
  case: string;
  /** Untimed, once per system before its first repetition. */
  warmup?: (system: RunningSystem, progress: Progress) => Promise<unknown>;
  note?: string;
}

/** `reps` repetitions of `run` on every system (rotated order); one throughput figure per system. */
export async function repeatAcross(ctx: BenchContext, systems: RunningSystem[], options: RepeatOptions, run: (system: RunningSystem, rep: number, progress: Progress) => Promise<RunResult>): Promise<void> {
  const results = new Map<SystemId, RunResult[]>(systems.map((s) => [s.id, []]));
  const failed = new Set<SystemId>();
  const attempt = async (system: RunningSystem, phase: string, work: (progress: Progress) => Promise<unknown>) => {
    try {
      await ctx.step(system.id, phase, work);
    } catch (error) {
      failed.add(system.id);
      ctx.fail(`${system.id} in ${options.workload} (${phase}): ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  if (options.warmup !== undefined) {
    for (const system of systems) await attempt(system, 'warm-up', (progress) => options.warmup!(system, progress));
  }
  for (let rep = 0; rep < ctx.scale.reps; rep++) {
    const order = systems.filter((s) => !failed.has(s.id));
    const rotated = [...order.slice(rep % Math.max(1, order.length)), ...order.slice(0, rep % Math.max(1, order.length))];
    for (const system of rotated) {
      await attempt(system, `rep ${rep + 1}/${ctx.scale.reps}`, async (progress) => {
        const startUs = monotonicUs();
        const cpuBeforeMs = processCpuMs(system.pid);
        const result = await run(system, rep, progress);
        const cpuAfterMs = processCpuMs(system.pid);
        ctx.windows.push({ system: system.id, workload: options.workload, startUs, endUs: monotonicUs() });
        if (result.errors > 0) throw new Error(`${result.errors} failed replies or checks`);
        if (cpuBeforeMs !== null && cpuAfterMs !== null && result.ops > 0) {
          // The server's CPU time per operation (µs), all its threads: see cpu-time.ts.
          result.extra = { ...result.extra, cpuUsPerOp: ((cpuAfterMs - cpuBeforeMs) * 1000) / result.ops };
        }
        results.get(system.id)!.push(result);
      });
    }
  }
  for (const system of systems) {
    if (failed.has(system.id)) continue;
    ctx.add(throughputFigure({ workload: options.workload, case: options.case, system: system.id, ...(options.note === undefined ? {} : { note: options.note }) }, results.get(system.id)!));
  }
}
