/**
 * kill -9 loop (issue 6, and issue 4's crash guarantee at the server level): the real server
 * process, writers and consumers recording every acknowledgement, SIGKILL at a random moment,
 * restart on the same data directory, everything read back and checked (fault-workload.ts has
 * the list). Segment sizes vary per start, tiny ones forcing rolls; fsync `always`.
 *
 * `npm test` runs 50 cycles; `npm run test:long` (EVENTBUS_LONG=1) runs 1,000, or
 * EVENTBUS_KILL_CYCLES. Replay a run's choices with EVENTBUS_TEST_SEED (printed).
 */
import t from 'tap';
import { runKillCycles } from '../helpers/fault-cycles.js';
import { describeFigures } from '../helpers/fault-workload.js';
import { seededRandom, testSeeds } from '../helpers/random.js';
import { tempDir } from '../helpers/temp-dir.js';

const long = process.env.EVENTBUS_LONG === '1';
const cycles = Number(process.env.EVENTBUS_KILL_CYCLES ?? (long ? 1000 : 50));
t.setTimeout((long ? 3 * 3600 : 600) * 1000); // 600 s: room for a loaded machine

t.test(`kill -9 loop: ${cycles} cycles on one data directory`, async (t) => {
  const seed = testSeeds(Date.now() % 1_000_000, 1)[0]!;
  t.comment(`seed ${seed} (replay its choices with EVENTBUS_TEST_SEED=${seed})`);
  const result = await runKillCycles({
    random: seededRandom(seed),
    cycles,
    dataDir: tempDir(t, 'kill9-data'),
    workDir: tempDir(t, 'kill9-work'),
    // Tiny segments force rolls (several per second of load); the long run mixes in larger ones
    // and writes less per cycle, so that a thousand cycles of state stay quick to start on.
    segmentSizes: long ? [4096, 16_384, 65_536, 1024 * 1024] : [4096, 4096, 16_384, 1024 * 1024],
    maxDepth: long ? 3 : 16,
    workloadMs: long ? [30, 600] : [30, 350],
    earlyKillChance: 0.1,
    fullCheckEvery: long ? 50 : 10,
    log: (line) => t.comment(line),
    progressEvery: long ? 50 : 10,
  });
  const { ledger, ms } = result;
  t.comment(describeFigures(ledger.figures, ms));
  for (const [kind, n] of ledger.counts) t.comment(`violation ${kind}: ${n}`);
  if (ledger.violationCount > 0) t.comment(`last server output:\n${result.outputs.join('\n----\n').slice(-6000)}`);
  t.same(ledger.violations, [], `no violation (seed ${seed})`);
  t.equal(ledger.figures.cycles, cycles, 'every cycle ran');
  t.ok(ledger.figures.writesAcknowledged > cycles * 5, 'the writers got acknowledgements');
  t.ok(ledger.figures.marksAcknowledged > cycles, 'the consumers got marks acknowledged');
  t.ok(ledger.figures.redeliveredAfterRestart > 0, 'some deliveries were outstanding at a kill and came back');
  t.equal(result.finalStopCode, 0, 'a clean stop at the end exits 0');
  t.equal(result.verifyCode, 0, `eventbus verify finds the data sound:\n${result.verifyReport}`);
});
