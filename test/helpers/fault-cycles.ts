/**
 * The kill loop of the crash suites: start the real server on a data directory, check everything
 * the ledger holds it to (fault-workload.ts), run writers and consumers, SIGKILL it at a random
 * moment, and again, on the same data directory, so that state accumulates. Hooks let the
 * power-loss suite turn a kill into a power loss (journal-io.ts).
 *
 * Some kills are early (chance `earlyKillChance`): at a random moment after the spawn, which
 * may fall in start-up (recovery), in the verification, or in the workload.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { startFaultServer, type FaultServer } from './fault-server.js';
import { createStreams, DEFAULT_TOPOLOGY, Ledger, startWorkload, verifyAfterRestart, type Topology } from './fault-workload.js';
import { seededRandom, type Random } from './random.js';
import { MAIN } from './server-process.js';

export interface CycleOptions {
  random: Random;
  cycles: number;
  dataDir: string;
  workDir: string;
  /** Segment size of each start, picked at random: tiny ones force rolls. */
  segmentSizes: readonly number[];
  /** How long the workload runs before the kill, ms (uniform). */
  workloadMs: readonly [number, number];
  /** Chance that a cycle's kill comes at a random moment after the spawn instead. */
  earlyKillChance: number;
  /** Read every stream from offset 0 every this many cycles (and at the end); otherwise only what is new. */
  fullCheckEvery: number;
  topology?: Topology;
  /** Writes a writer keeps in flight at most (each writer picks 1 to this). Default 16. */
  maxDepth?: number;
  /** Environment of each start (the power-loss suite loads its journaling layer here). */
  env?(cycle: number): NodeJS.ProcessEnv;
  /** Called before each start and after each kill (the server process is gone). */
  beforeStart?(cycle: number): void;
  afterKill?(cycle: number): void;
  /** Progress lines (every `progressEvery` cycles). */
  log?(line: string): void;
  progressEvery?: number;
}

export interface CycleResult {
  ledger: Ledger;
  ms: number;
  /** The output of the last server processes, for a failure report. */
  outputs: string[];
  /** The final clean start: its exit code after SIGTERM, and `eventbus verify`'s exit code and report. */
  finalStopCode: number | string | null;
  verifyCode: number | null;
  verifyReport: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function configFor(segmentSizeBytes: number): string {
  return `storage:\n  segment_size_bytes: ${segmentSizeBytes}\nconsumers:\n  max_deliveries: 0\n`;
}

/**
 * Runs the cycles, stopping early at the first cycle that finds a violation. Finishes with a
 * clean start (no test hooks), a full verification, a clean stop and `eventbus verify`.
 */
export async function runKillCycles(options: CycleOptions): Promise<CycleResult> {
  const { random, dataDir, workDir } = options;
  const ledger = new Ledger(options.topology ?? DEFAULT_TOPOLOGY);
  const figures = ledger.figures;
  const outputs: string[] = [];
  const keep = (server: { output(): string } | string) => {
    outputs.push(typeof server === 'string' ? server : server.output());
    if (outputs.length > 3) outputs.shift();
  };
  const afterKill = (cycle: number): boolean => {
    try {
      options.afterKill?.(cycle);
      return true;
    } catch (error) {
      ledger.violation('harness failed after the kill', (error as Error).stack ?? String(error));
      return false;
    }
  };
  const started = Date.now();
  for (let cycle = 0; cycle < options.cycles; cycle++) {
    const segmentSize = random.pick(options.segmentSizes);
    const early = cycle > 0 && random.chance(options.earlyKillChance);
    const earlyDelay = random.int(0, 600);
    const workloadMs = random.int(options.workloadMs[0], options.workloadMs[1]);
    const workloadSeed = random.int(0, 2 ** 31);
    options.beforeStart?.(cycle);
    let child: ChildProcess | null = null;
    let timer: NodeJS.Timeout | null = null;
    let server: FaultServer;
    const spawned = Date.now();
    try {
      server = await startFaultServer({
        dataDir,
        workDir,
        config: configFor(segmentSize),
        env: options.env?.(cycle) ?? {},
        onSpawn: (spawned) => {
          child = spawned;
          if (early) timer = setTimeout(() => spawned.kill('SIGKILL'), earlyDelay);
        },
      });
    } catch (error) {
      if (timer !== null) clearTimeout(timer);
      const killed = (child as ChildProcess | null)?.signalCode === 'SIGKILL';
      keep((error as Error).message);
      if (!(early && killed)) {
        ledger.violation('server did not start', (error as Error).message.slice(-4000));
        break;
      }
      figures.earlyKills += 1;
      figures.cycles += 1;
      if (!afterKill(cycle)) break;
      continue;
    }
    figures.startMs += Date.now() - spawned;
    let completed = true;
    const verifying = Date.now();
    if (cycle === 0) await createStreams(server.port, ledger);
    else completed = await verifyAfterRestart(server.port, ledger, cycle % options.fullCheckEvery === 0);
    figures.verifyMs += Date.now() - verifying;
    let workload = null;
    if (completed && server.child.exitCode === null && server.child.signalCode === null) {
      workload = startWorkload({ port: server.port, ledger, random: seededRandom(workloadSeed), cycle, maxDepth: options.maxDepth ?? 16 });
      const working = Date.now();
      await Promise.race([sleep(workloadMs), server.exited]);
      figures.workloadMs += Date.now() - working;
    } else {
      figures.earlyKills += 1;
    }
    await server.kill();
    if (timer !== null) clearTimeout(timer);
    if (workload !== null) await workload.finished;
    keep(server);
    figures.cycles += 1;
    if (!afterKill(cycle)) break;
    if (options.log !== undefined && options.progressEvery !== undefined && (cycle + 1) % options.progressEvery === 0) {
      options.log(`cycle ${cycle + 1}: ${figures.writesAcknowledged} writes acknowledged, ${figures.marksAcknowledged} marks, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
    if (ledger.violationCount > 0) break;
  }

  // The end: a clean start with no test hooks, everything checked from offset 0, a clean stop.
  let finalStopCode: number | string | null = null;
  if (ledger.violationCount === 0) {
    options.beforeStart?.(options.cycles);
    try {
      const server = await startFaultServer({ dataDir, workDir, config: configFor(random.pick(options.segmentSizes)) });
      await verifyAfterRestart(server.port, ledger, true);
      finalStopCode = await server.stop();
      keep(server);
    } catch (error) {
      ledger.violation('server did not start', (error as Error).message.slice(-4000));
    }
  }
  for (const s of ledger.streams.values()) figures.eventsStored += s.visible.size;
  const verify = spawnSync(process.execPath, [MAIN, 'verify', dataDir], { encoding: 'utf8' });
  return { ledger, ms: Date.now() - started, outputs, finalStopCode, verifyCode: verify.status, verifyReport: `${verify.stdout}${verify.stderr}` };
}
