/**
 * A crash-consistency checker for your own workload: it runs the workload against the simulated
 * disk (sim-io.ts), cuts the power at every Nth file-system operation (or at a seeded random
 * sample of them), recovers, and checks an invariant you supply, reporting the first crash point
 * that breaks it with the seed that replays it exactly. The idea of ALICE and of LevelDB's and
 * SQLite's crash tests, packaged for an embedder:
 *
 * ```ts
 * const report = await checkCrashConsistency({
 *   state: () => ({ acknowledged: [] as number[] }),
 *   async workload({ openEngine, state }) {
 *     const engine = await openEngine();
 *     await engine.createStream('orders');
 *     for (let i = 0; i < 20; i++) state.acknowledged.push((await engine.append('orders', Buffer.from(`${i}`))).offset);
 *   },
 *   async invariant({ openEngine, state }) {
 *     const engine = await openEngine();   // recovery runs here, on what the crash left
 *     for (const offset of state.acknowledged) assert.equal(engine.read('orders', offset, { maxEvents: 1 })[0]?.offset, offset);
 *   },
 * }, { every: 1 });
 * if (report.violation !== null) console.log(report.violation); // { seed, crashAtOp, mode, operation, message }
 * ```
 *
 * How a run goes, for each crash point N:
 *
 * 1. A fresh directory; a {@link SimIO} over it that loses power just before its Nth counted
 *    operation (every call that changes files or directories, and the completion of every sync),
 *    in `drop` or `torn` mode (sim-io.ts has the fault model). Its syncs never reach the disk
 *    (sync-free-io.ts), so runs are fast and, for a deterministic workload, identical.
 * 2. `workload` runs with a random source seeded by the run's seed (the same for every point, so
 *    operation N is the same moment in every run). After the power loss every operation fails
 *    with EIO: rejections are expected then, and the workload should stop. If it ends before
 *    operation N, the power goes at its end.
 * 3. Engines the workload opened are closed (they fail: the machine is off), and `invariant`
 *    runs on the real disk, which now holds exactly what a power loss at that moment would have
 *    left. Its `openEngine` recovers the store. It reports a violation by throwing.
 *
 * A violation before the crash (the workload failed on a healthy disk) is reported too. An
 * optional `prepare` builds the starting point of every run on the real disk first (not crashed).
 *
 * Deterministic replay needs a deterministic workload: decisions from `random`, not from
 * `Math.random` or the clock; no timers (use `setImmediate` to yield); the `always` fsync policy
 * (`interval` syncs on a timer). Stream ids and timestamps differ between runs, but not the
 * operations. {@link replayCrashPoint} runs one point again and reports the digest of its
 * operations, so a replay can be compared with the run that found the violation.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkKnownKeys, checkOptionsObject, checkWholeNumber, invalidArgument } from '../api-arguments.js';
import { Engine } from '../engine.js';
import type { EngineOptions } from '../engine-options.js';
import { seededRandom, type Random } from './random.js';
import { SimIO, type CrashMode, type SimIOOptions } from './sim-io.js';
import { syncFreeIO } from './sync-free-io.js';

/** Options of the engines the checker opens for a workload or an invariant. */
export type CheckedEngineOptions = Partial<Omit<EngineOptions, 'dataDir' | 'io'>>;

/** What the workload gets. */
export interface CrashWorkloadContext<S> {
  /** The simulated disk, for a workload that uses a FileIO directly rather than the engine. */
  readonly io: SimIO;
  /** The data directory (does not exist yet; the engine creates it). Everything in it is simulated. */
  readonly dir: string;
  /** Seeded with the run's seed: the same sequence at every crash point. */
  readonly random: Random;
  /** Where the workload records what it was promised (the appends that resolved, …). */
  readonly state: S;
  /** True once the power went: every later operation fails; stop. */
  crashed(): boolean;
  /** Opens an engine on `dir` over the simulated disk (defaults: fsync `always`, no retention timer). */
  openEngine(options?: CheckedEngineOptions): Promise<Engine>;
}

/** What the invariant gets, after the crash. */
export interface CrashCheckContext<S> {
  /** The data directory, on the real disk, as the power loss left it. */
  readonly dir: string;
  readonly state: S;
  /** The crash point being checked. */
  readonly point: CrashPoint;
  /** Opens (and so recovers) the engine on `dir` over the real disk; the checker closes it afterwards. */
  openEngine(options?: CheckedEngineOptions): Promise<Engine>;
}

/** What the preparation gets: the data directory on the real disk, before the simulation starts. */
export interface CrashPrepareContext {
  readonly dir: string;
  /** Opens an engine on `dir` (real files, fsyncs skipped); the checker closes it cleanly afterwards. */
  openEngine(options?: CheckedEngineOptions): Promise<Engine>;
}

/** A workload and the invariant that must hold after a crash at any moment of it. */
export interface CrashScenario<S> {
  /** A fresh state for each run (what the workload records as promised). */
  state(): S;
  /**
   * Optional: builds the starting point of every run (a store with streams, say) before the
   * simulated disk starts; what it leaves counts as durable, and its operations are no crash points.
   */
  prepare?(ctx: CrashPrepareContext): Promise<void>;
  workload(ctx: CrashWorkloadContext<S>): Promise<void>;
  /** Throws (node:assert, or any error) when the invariant does not hold. */
  invariant(ctx: CrashCheckContext<S>): Promise<void> | void;
}

/** One crash point: what replays it. */
export interface CrashPoint {
  /** The run's seed: the workload's random source, the torn crash's, the sample's. */
  seed: number;
  /** The power goes just before this counted operation (1-based). */
  crashAtOp: number;
  mode: CrashMode;
}

/** How one crash point went. */
export interface CrashOutcome extends CrashPoint {
  /** The operation the power loss cut (`fdatasync`, `write`, …), or `end` when the workload finished first. */
  operation: string;
  /** Counted operations performed before the power went. */
  operations: number;
  /** FNV-1a of the names of those operations, in order: equal digests, same run. */
  digest: number;
  /** Why the invariant (or the workload, on a healthy disk) failed, the data directory written `<dir>`; null when it held. */
  violation: string | null;
  /** The error thrown, for its stack. */
  error: unknown;
}

/** Options of {@link checkCrashConsistency}. */
export interface CrashCheckOptions {
  /** The run's seed. Default: a random one (reported, so a failure can be replayed). */
  seed?: number;
  /** Crash modes to try at each point. Default both, `drop` then `torn`. */
  modes?: readonly CrashMode[];
  /** Crash at operations 1, 1 + every, 1 + 2 × every, … and at the end. Default 1 (every operation). */
  every?: number;
  /** Instead of `every`: this many crash points drawn at random (seeded) from the whole run. */
  sample?: number;
  /** At most this many crash points (per mode). Default 2,000. */
  maxPoints?: number;
  /** Go on after the first violation, to list them all. Default false. */
  all?: boolean;
  /** Where the run directories are made. Default: the operating system's temp directory. */
  tmpDir?: string;
  /** Keep the directory of the first violating point (its path is in the report). Default false. */
  keep?: boolean;
  /**
   * A deliberately broken disk, to prove that a check can fail: file or directory syncs that
   * make nothing durable (sim-io.ts).
   */
  simulate?: Pick<SimIOOptions, 'ignoreFileSync' | 'ignoreDirSync'>;
}

/** What {@link checkCrashConsistency} found. */
export interface CrashCheckReport {
  seed: number;
  /** Counted operations of the workload run without a crash. */
  operations: number;
  /** Crash points checked (over every mode). */
  checked: number;
  /** The first crash point whose invariant failed, or null: replay it with {@link replayCrashPoint}. */
  violation: CrashOutcome | null;
  /** Every violating point (only the first unless `all`). */
  violations: CrashOutcome[];
  /** The kept directory of the first violation (with `keep`). */
  keptDir: string | null;
}

const DEFAULT_MAX_POINTS = 2000;
/** The `crashAtOp` of the run without a crash: the workload's engines are closed cleanly before the invariant runs. */
const NO_CRASH = Number.POSITIVE_INFINITY;

/**
 * Runs `scenario` once without a crash, then once per crash point (see the module comment), and
 * reports the first point where the invariant fails.
 */
export async function checkCrashConsistency<S>(scenario: CrashScenario<S>, options: CrashCheckOptions = {}): Promise<CrashCheckReport> {
  checkScenario(scenario);
  checkCheckOptions(options, CHECK_OPTION_KEYS);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const clean = await runPoint(scenario, { seed, crashAtOp: NO_CRASH, mode: 'drop' }, options);
  const report: CrashCheckReport = { seed, operations: clean.outcome.operations, checked: 0, violation: null, violations: [], keptDir: null };
  if (clean.outcome.violation !== null) {
    // Broken without any crash (after a clean close): the workload or the invariant is wrong, or the engine is.
    report.violation = clean.outcome;
    report.violations.push(clean.outcome);
    return report;
  }
  const points = crashPoints(report.operations, seed, options);
  for (const mode of options.modes ?? ['drop', 'torn']) {
    for (const crashAtOp of points) {
      const { outcome, dir } = await runPoint(scenario, { seed, crashAtOp, mode }, options, options.keep === true && report.violation === null);
      report.checked += 1;
      if (outcome.violation === null) continue;
      report.violations.push(outcome);
      if (report.violation === null) {
        report.violation = outcome;
        report.keptDir = dir;
      }
      if (options.all !== true) return report;
    }
  }
  return report;
}

/** Runs one crash point again (from a report's violation) and says how it went. */
export async function replayCrashPoint<S>(scenario: CrashScenario<S>, point: CrashPoint, options: Pick<CrashCheckOptions, 'tmpDir' | 'simulate' | 'keep'> = {}): Promise<CrashOutcome> {
  checkScenario(scenario);
  checkCheckOptions(options, REPLAY_OPTION_KEYS);
  checkOptionsObject(point, 'point');
  if (point === undefined) throw invalidArgument('point', 'a crash point ({ seed, crashAtOp, mode })', point);
  checkWholeNumber(point.seed, 'point.seed', 0, 2 ** 32 - 1);
  checkWholeNumber(point.crashAtOp, 'point.crashAtOp', 1);
  checkMode(point.mode, 'point.mode');
  return (await runPoint(scenario, point, options, options.keep === true)).outcome;
}

const CRASH_MODES: readonly CrashMode[] = ['drop', 'torn'];

function checkMode(mode: unknown, field: string): void {
  if (!CRASH_MODES.includes(mode as CrashMode)) throw invalidArgument(field, '"drop" or "torn"', mode);
}

const CHECK_OPTION_KEYS: readonly (keyof CrashCheckOptions)[] = ['seed', 'modes', 'every', 'sample', 'maxPoints', 'all', 'tmpDir', 'keep', 'simulate'];
const REPLAY_OPTION_KEYS: readonly (keyof CrashCheckOptions)[] = ['tmpDir', 'simulate', 'keep'];
const SIMULATE_KEYS: readonly (keyof NonNullable<CrashCheckOptions['simulate']>)[] = ['ignoreFileSync', 'ignoreDirSync'];

/**
 * INVALID_FIELD for options that would check nothing or something else than asked (a sample of
 * 0 points reads as a pass; an unknown mode as a crash mode; a misspelt option, ignored, as its
 * default: `evry` would check every operation, a misspelt `simulate` flag a sound disk), before
 * any run.
 */
function checkCheckOptions(options: unknown, keys: readonly string[]): asserts options is CrashCheckOptions {
  checkOptionsObject(options, 'options');
  if (options === undefined) return;
  checkKnownKeys(options, 'options', keys);
  const { seed, modes, every, sample, maxPoints, all, keep, tmpDir, simulate } = options as CrashCheckOptions;
  if (seed !== undefined) checkWholeNumber(seed, 'options.seed', 0, 2 ** 32 - 1);
  if (modes !== undefined) {
    if (!Array.isArray(modes) || modes.length === 0) throw invalidArgument('options.modes', 'a non-empty array of "drop" and "torn"', modes);
    modes.forEach((mode, i) => checkMode(mode, `options.modes[${i}]`));
  }
  if (every !== undefined) checkWholeNumber(every, 'options.every', 1);
  if (sample !== undefined) {
    checkWholeNumber(sample, 'options.sample', 1);
    if (every !== undefined) throw invalidArgument('options.sample', 'left out when options.every is given (one or the other)', sample);
  }
  if (maxPoints !== undefined) checkWholeNumber(maxPoints, 'options.maxPoints', 1);
  for (const [field, value] of [['options.all', all], ['options.keep', keep]] as const) {
    if (value !== undefined && typeof value !== 'boolean') throw invalidArgument(field, 'a boolean', value);
  }
  if (tmpDir !== undefined && (typeof tmpDir !== 'string' || tmpDir.length === 0)) throw invalidArgument('options.tmpDir', 'a non-empty path', tmpDir);
  checkOptionsObject(simulate, 'options.simulate');
  if (simulate !== undefined) {
    checkKnownKeys(simulate, 'options.simulate', SIMULATE_KEYS);
    for (const key of SIMULATE_KEYS) {
      if (simulate[key] !== undefined && typeof simulate[key] !== 'boolean') throw invalidArgument(`options.simulate.${key}`, 'a boolean', simulate[key]);
    }
  }
}

function checkScenario(scenario: unknown): void {
  const ok = typeof scenario === 'object' && scenario !== null
    && ['state', 'workload', 'invariant'].every((name) => typeof (scenario as Record<string, unknown>)[name] === 'function');
  if (!ok) throw invalidArgument('scenario', 'an object with state, workload and invariant functions', scenario);
}

/** The crash points of a run of `operations` operations: every Nth, or a seeded sample, and the end. */
function crashPoints(operations: number, seed: number, options: CrashCheckOptions): number[] {
  const maxPoints = options.maxPoints ?? DEFAULT_MAX_POINTS;
  const end = operations + 1; // the power goes after the last operation
  if (options.sample !== undefined) {
    const random = seededRandom(mix(seed, 0x5a4d));
    const chosen = new Set<number>();
    const want = Math.min(options.sample, end, maxPoints);
    while (chosen.size < want) chosen.add(random.int(1, end));
    return [...chosen].sort((a, b) => a - b);
  }
  const every = options.every ?? 1;
  const points: number[] = [];
  for (let op = 1; op < end && points.length < maxPoints - 1; op += every) points.push(op);
  points.push(end);
  return points;
}

/** Runs the workload to crash point `point`, then the invariant on what the crash left. */
async function runPoint<S>(scenario: CrashScenario<S>, point: CrashPoint, options: Pick<CrashCheckOptions, 'tmpDir' | 'simulate'>, keep = false): Promise<{ outcome: CrashOutcome; dir: string }> {
  const root = fs.mkdtempSync(path.join(options.tmpDir ?? os.tmpdir(), 'eventbus-crash-'));
  const dir = path.join(root, 'data');
  let violation: CrashOutcome | null = null;
  try {
    if (scenario.prepare !== undefined) {
      const prepared: Engine[] = [];
      try {
        await scenario.prepare({ dir, openEngine: (engineOptions = {}) => opened(prepared, { retentionIntervalMs: 0, ...engineOptions, dataDir: dir, io: syncFreeIO() }) });
      } finally {
        for (const engine of prepared) await engine.close();
      }
    }
    const sim = new SimIO({
      root,
      inner: syncFreeIO(),
      crashAtOp: point.crashAtOp,
      crashMode: point.mode,
      random: seededRandom(mix(point.seed, point.crashAtOp)).next,
      ...options.simulate,
    });
    const state = scenario.state();
    const engines: Engine[] = [];
    const workload: CrashWorkloadContext<S> = {
      io: sim,
      dir,
      random: seededRandom(point.seed),
      state,
      crashed: () => sim.crashed,
      openEngine: (engineOptions = {}) => opened(engines, { retentionIntervalMs: 0, ...engineOptions, dataDir: dir, io: sim }),
    };
    let failure: unknown = null;
    try {
      await scenario.workload(workload);
    } catch (error) {
      if (!sim.crashed) failure = error;
    }
    const clean = point.crashAtOp === NO_CRASH && failure === null;
    const operation = sim.crashedAt ?? (clean ? 'none' : 'end');
    const operations = sim.crashedAt === null ? sim.ops : sim.ops - 1;
    if (clean) {
      // The run without a crash ends with a clean close (not a crash point: crash runs never reach it).
      for (const engine of engines) await engine.close().catch((error: unknown) => { failure ??= error; });
    } else {
      sim.crash();
      // Engines of the dead machine: their close fails, and releases them in this process.
      for (const engine of engines) await engine.close().catch(() => {});
    }
    // Messages name the run's directory as <dir>, so that a replay's message is the same.
    const outcome = (message: string | null, error: unknown): CrashOutcome => ({ ...point, operation, operations, digest: sim.digest, violation: message?.replaceAll(dir, '<dir>') ?? null, error });
    if (failure !== null) {
      violation = outcome(`the workload failed before the power loss: ${describe(failure)}`, failure);
      return { outcome: violation, dir: root };
    }
    const checkEngines: Engine[] = [];
    try {
      await scenario.invariant({
        dir,
        state,
        point: { ...point },
        // Real files; fsyncs skipped, as nothing of a checked directory is kept.
        openEngine: (engineOptions = {}) => opened(checkEngines, { retentionIntervalMs: 0, ...engineOptions, dataDir: dir, io: syncFreeIO() }),
      });
    } catch (error) {
      violation = outcome(describe(error), error);
      return { outcome: violation, dir: root };
    } finally {
      for (const engine of checkEngines) await engine.close().catch(() => {});
    }
    return { outcome: outcome(null, null), dir: root };
  } finally {
    if (!(keep && violation !== null)) fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Opens an engine and keeps it in `list` (to close it when the phase ends). */
async function opened(list: Engine[], options: EngineOptions): Promise<Engine> {
  const engine = await Engine.open(options);
  list.push(engine);
  return engine;
}

/** A seed for a derived random source (the crash's tear, the sample) from the run's seed. */
function mix(seed: number, salt: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt, 0xc2b2ae35)) >>> 0;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && !error.message.startsWith(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
