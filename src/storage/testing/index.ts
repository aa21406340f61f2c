/**
 * Research and test tools for the storage engine: `import { SimIO, checkCrashConsistency } from
 * 'eventbus/storage/testing'`. Each is a {@link FileIO} to pass as `EngineOptions.io`, or a
 * harness around one; docs/research.md has the fault model and how to use them.
 *
 * - {@link SimIO}: the simulated disk. Real files, plus a model of what each completed fsync made
 *   durable; a simulated power loss rewrites the files to that (`drop` or seeded `torn`).
 * - {@link checkCrashConsistency}: crash a workload of your own at every Nth operation (or a
 *   sample), recover, check your invariant; {@link replayCrashPoint} replays a failing point.
 * - {@link FaultyIO}: ENOSPC, EIO and other errors at chosen operations.
 * - {@link JournalIO}: journals every operation of a real process, so that a power loss at the
 *   moment of a real SIGKILL can be replayed afterwards ({@link replayJournal}). The modules
 *   `journal-io.js` and `fault-io-module.js` of this folder export `createIO(inner)` for the
 *   EVENTBUS_TEST_IO_MODULE hook of `eventbus serve`.
 * - {@link syncFreeIO}: fsyncs that never reach the disk (fast, deterministic simulations).
 * - {@link seededRandom}: the seeded generator every randomized tool takes.
 *
 * Nothing here is for production data.
 */
export {
  checkCrashConsistency,
  replayCrashPoint,
  type CheckedEngineOptions,
  type CrashCheckContext,
  type CrashCheckOptions,
  type CrashCheckReport,
  type CrashOutcome,
  type CrashPoint,
  type CrashPrepareContext,
  type CrashScenario,
  type CrashWorkloadContext,
} from './crash-checker.js';
export { crashError, DurabilityModel, SimIO, type CrashMode, type DurableImage, type SimIOOptions, type SimRecord } from './sim-io.js';
export { FaultyIO, systemError, type Fault, type FaultErrno, type FaultOp, type FaultSpec } from './faulty-io.js';
export { JournalIO, readJournal, replayJournal, type JournalIOOptions } from './journal-io.js';
export { faultState, setFaults, type FaultJson, type FaultRefusal, type FaultState } from './fault-io-module.js';
export { syncFreeIO } from './sync-free-io.js';
export { seededRandom, type Random, type RandomSource } from './random.js';
export { nodeIO, type FileIO, type FileStat, type OpenMode } from '../fs/io.js';
