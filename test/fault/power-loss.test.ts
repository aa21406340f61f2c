/**
 * Power loss across a real process kill (issue 6). The server runs with the journaling file
 * layer (src/storage/testing/journal-io.ts, loaded through the EVENTBUS_TEST_IO_MODULE hook): every file
 * operation and every fsync's start and completion goes to a journal. After each SIGKILL the
 * journal is replayed into a durability model of the data directory, and then either
 *
 * - the power fails (chance 1/2): the data directory is rewritten to what the model says was
 *   durable at the kill (every byte and directory entry not yet fsynced dropped; in `torn` mode
 *   an arbitrary prefix of the unsynced operations of each file and directory kept), or
 * - nothing more happens (a plain kill -9: the page cache survives), and the model carries on
 *   through the next process, so a later power loss also takes what that process never synced
 *   of what it found at start-up.
 *
 * Then the server restarts normally and is held to everything the kill loop checks.
 *
 * The suite can fail: with the directory fsync of stream directories (the one that makes a
 * rolled segment's new file durable) ignored on purpose, it finds acknowledged events lost.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import t from 'tap';
import { runKillCycles, type CycleOptions } from '../helpers/fault-cycles.js';
import { describeFigures } from '../helpers/fault-workload.js';
import { replayJournal, DurabilityModel, type CrashMode } from 'eventbus/storage/testing';
import { seededRandom, testSeeds, type Random } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const long = process.env.EVENTBUS_LONG === '1';
const cycles = Number(process.env.EVENTBUS_POWER_CYCLES ?? (long ? 200 : 20));
t.setTimeout((long ? 3 * 3600 : 600) * 1000); // 600 s: room for a loaded machine

/** EVENTBUS_KEEP_TEST_DIRS=1 keeps the journals and each data directory before a power loss. */
const keep = process.env.EVENTBUS_KEEP_TEST_DIRS === '1';
const JOURNAL_MODULE = fileURLToPath(import.meta.resolve('eventbus/storage/testing/journal-io'));

interface PowerLossOptions {
  random: Random;
  dataDir: string;
  workDir: string;
  /** Chance that a kill is followed by a power loss. */
  powerLossChance: number;
  /** Regular expression of directories whose syncs the layer ignores, from this cycle on. */
  ignoreDirSync?: { pattern: string; fromCycle: number };
}

/** The hooks that turn the kill loop into a power-loss loop, and what they counted. */
function powerLossHooks(options: PowerLossOptions) {
  const { random, dataDir, workDir } = options;
  let model: DurabilityModel | null = null;
  const counts = { powerLosses: 0, torn: 0, journalRecords: 0, errors: [] as string[], history: [] as string[] };
  const journal = (cycle: number) => path.join(workDir, `journal-${cycle}`);
  const hooks: Pick<CycleOptions, 'env' | 'beforeStart' | 'afterKill'> = {
    beforeStart(cycle) {
      // The durable state before the server starts: the disk as it is, unless a model already
      // follows it (after a plain kill, what the last process never synced is still unsynced).
      model ??= DurabilityModel.fromDisk(dataDir);
      fs.rmSync(journal(cycle), { force: true });
    },
    env(cycle) {
      const ignore = options.ignoreDirSync !== undefined && cycle >= options.ignoreDirSync.fromCycle ? options.ignoreDirSync.pattern : '';
      return {
        EVENTBUS_TEST_IO_MODULE: JOURNAL_MODULE,
        EVENTBUS_JOURNAL_FILE: journal(cycle),
        EVENTBUS_JOURNAL_ROOT: dataDir,
        EVENTBUS_JOURNAL_IGNORE_DIR_SYNC: ignore,
      };
    },
    afterKill(cycle) {
      const file = journal(cycle);
      try {
        if (fs.existsSync(file)) counts.journalRecords += replayJournal(model!, file);
        if (random.chance(options.powerLossChance)) {
          const mode: CrashMode = random.chance(0.3) ? 'torn' : 'drop';
          // Evidence for a failure report: the directory as the kill left it, and the journals.
          if (keep) fs.cpSync(dataDir, path.join(workDir, `killed-${cycle}`), { recursive: true });
          model!.materialize(model!.durableImage(mode, () => random.next()));
          model = null;
          counts.history.push(`${cycle}:${mode}`);
          counts.powerLosses += 1;
          if (mode === 'torn') counts.torn += 1;
        }
      } catch (error) {
        counts.errors.push(`cycle ${cycle}: ${(error as Error).stack ?? String(error)}`);
        throw error;
      } finally {
        if (!keep) fs.rmSync(file, { force: true });
      }
    },
  };
  return { hooks, counts };
}

t.test(`power loss after kill -9: ${cycles} cycles on one data directory`, async (t) => {
  const seed = testSeeds(Date.now() % 1_000_000, 1)[0]!;
  t.comment(`seed ${seed} (replay its choices with EVENTBUS_TEST_SEED=${seed})`);
  const random = seededRandom(seed);
  const dataDir = tempDir(t, 'power-data');
  const workDir = tempDir(t, 'power-work');
  const { hooks, counts } = powerLossHooks({ random, dataDir, workDir, powerLossChance: 0.5 });
  const result = await runKillCycles({
    random,
    cycles,
    dataDir,
    workDir,
    segmentSizes: [4096, 4096, 16_384],
    workloadMs: [30, 300],
    earlyKillChance: 0.1,
    fullCheckEvery: long ? 25 : 5,
    maxDepth: 8,
    ...hooks,
    log: (line) => t.comment(line),
    progressEvery: long ? 25 : 10,
  });
  const { ledger, ms } = result;
  t.comment(`${counts.powerLosses} power losses (${counts.torn} torn), ${cycles - counts.powerLosses} plain kills; ${counts.journalRecords} journal records replayed`);
  t.comment(describeFigures(ledger.figures, ms));
  for (const [kind, n] of ledger.counts) t.comment(`violation ${kind}: ${n}`);
  if (ledger.violationCount > 0) t.comment(`power losses after cycles ${counts.history.join(' ')}`);
  if (ledger.violationCount > 0) t.comment(`last server output:\n${result.outputs.join('\n----\n').slice(-6000)}`);
  t.same(counts.errors, [], 'the journals replay');
  t.same(ledger.violations, [], `no violation (seed ${seed})`);
  t.equal(ledger.figures.cycles, cycles, 'every cycle ran');
  t.ok(counts.powerLosses > 0 && counts.powerLosses < cycles, 'both power losses and plain kills happened');
  t.ok(ledger.figures.writesAcknowledged > cycles * 5, 'the writers got acknowledgements');
  t.ok(ledger.figures.marksAcknowledged > cycles, 'the consumers got marks acknowledged');
  t.equal(result.finalStopCode, 0, 'a clean stop at the end exits 0');
  t.equal(result.verifyCode, 0, `eventbus verify finds the data sound:\n${result.verifyReport}`);
});

t.test('the suite can fail: without the directory fsync after a segment roll, acknowledged events are lost', async (t) => {
  const seed = testSeeds(4242, 1)[0]!;
  t.comment(`seed ${seed}`);
  const random = seededRandom(seed);
  const dataDir = tempDir(t, 'power-broken-data');
  const workDir = tempDir(t, 'power-broken-work');
  // The streams are created (and their first segments made durable) in cycle 0 with a sound
  // layer; from cycle 1 on, syncs of stream directories never count, and every kill is a power loss.
  const pattern = `^${escapeRegExp(path.join(dataDir, 'streams'))}/[^/]+$`;
  const { hooks, counts } = powerLossHooks({ random, dataDir, workDir, powerLossChance: 1, ignoreDirSync: { pattern, fromCycle: 1 } });
  const result = await runKillCycles({
    random,
    cycles: 6,
    dataDir,
    workDir,
    segmentSizes: [4096],
    workloadMs: [400, 600],
    earlyKillChance: 0,
    fullCheckEvery: 1,
    maxDepth: 8,
    ...hooks,
  });
  const { ledger } = result;
  t.comment(`${ledger.figures.cycles} cycles, ${counts.powerLosses} power losses`);
  for (const [kind, n] of ledger.counts) t.comment(`violation ${kind}: ${n}`);
  t.ok((ledger.counts.get('acknowledged event lost') ?? 0) > 0, 'the suite finds acknowledged events lost');
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
