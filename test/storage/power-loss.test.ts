/**
 * Simulated power loss (src/storage/testing/sim-io.ts): under the `always` fsync policy, no event whose
 * append resolved is ever lost, whatever moment the power goes, including during recovery.
 *
 * Each workload runs a few cycles of: open the store through a SimIO that will "lose power" just
 * before a random operation; append from concurrent writers (single events and batches, across
 * several streams, with frequent segment rolls; streams created and deleted as it goes); after
 * the crash, reopen and check. The checks, after every crash:
 *
 * - every acknowledged event is readable at its offset with its exact bytes;
 * - every readable event is the one that was appended at that offset (never garbage, never an
 *   event of an earlier life of the offset that a crash took back);
 * - every stream whose creation resolved exists, none whose deletion resolved does;
 * - new appends continue after the last acknowledged offset.
 *
 * The test proves its own power: the same workloads through a layer that forgets directory
 * fsyncs, or under the `never` policy, must lose acknowledged events, and the checker must see it.
 */
import t from 'tap';
import { EventBusError } from '../../src/errors.js';
import type { Engine } from '../../src/storage/engine.js';
import type { FsyncPolicy } from '../../src/storage/fs/group-commit.js';
import { seededRandom, testSeeds, type Random } from '../helpers/random.js';
import { SimIO, syncFreeIO, type CrashMode } from 'eventbus/storage/testing';
import { openEngine, payload } from '../helpers/store.js';
import { tempDir, type Teardown } from '../helpers/temp-dir.js';
import path from 'node:path';
import fs from 'node:fs';

/** What the workload knows about one stream. */
interface StreamModel {
  name: string;
  /** Resolved createStream: it must exist until a deleteStream resolves. */
  created: boolean;
  deleting: boolean;
  deleted: boolean;
  /** Offset the next append will be given (offsets are assigned in call order). */
  nextOffset: number;
  /** The payload most recently submitted at each offset. */
  submitted: Map<number, Buffer>;
  /** Offsets whose append resolved before the crash. */
  acknowledged: Set<number>;
}

interface Workload {
  random: Random;
  dataDir: string;
  policy: FsyncPolicy;
  streams: Map<string, StreamModel>;
  nextStreamId: number;
  failures: string[];
}

interface RunOptions {
  policy: FsyncPolicy;
  crashMode: CrashMode;
  ignoreDirSync?: boolean;
  cycles: number;
}

/**
 * What {@link verify} found wrong, in two kinds: `broken`, a promise broken (an acknowledged
 * event lost or changed, bytes that were never appended, a created stream gone, a deleted one
 * back); `damage`, reported damage (unreadable offsets below the next offset) made only of
 * events that were never acknowledged, which a power loss during a segment roll can leave.
 */
interface Findings {
  broken: string[];
  damage: string[];
}

const SEGMENT_BYTES = 1024;

/**
 * A power loss must not leave damage for readers either. In the middle of a segment roll it can
 * make the new segment's directory entry (and even its records) durable before the sealed
 * segment's last records: a directory fsync begun for an earlier roll covers the entry, and the
 * fsyncs of one round complete in any order. Recovery (StreamLog.open) must see that as a torn
 * tail, never acknowledged, and cut it, not report it as damage.
 */

const damageAfterPowerLoss: string[] = [];

t.test('no acknowledged event is lost to a power loss under fsync always (drop unsynced)', async (t) => {
  for (const seed of testSeeds(1000, 24)) {
    const findings = await runWorkload(t, seed, { policy: 'always', crashMode: 'drop', cycles: 3 });
    t.same(findings.broken, [], `seed ${seed}: the store kept every promise`);
    damageAfterPowerLoss.push(...findings.damage);
  }
});

t.test('no acknowledged event is lost to a power loss under fsync always (torn unsynced writes)', async (t) => {
  for (const seed of testSeeds(2000, 24)) {
    const findings = await runWorkload(t, seed, { policy: 'always', crashMode: 'torn', cycles: 3 });
    t.same(findings.broken, [], `seed ${seed}: the store kept every promise`);
    damageAfterPowerLoss.push(...findings.damage);
  }
});

t.test('a power loss leaves no damage for readers to trip on', async (t) => {
  t.same(damageAfterPowerLoss.slice(0, 5), [], `${damageAfterPowerLoss.length} unreadable offsets or damage reports after power losses (first 5 shown)`);
});

t.test('the checker catches lost events: an I/O layer that forgets directory fsyncs loses acknowledged events', async (t) => {
  const seeds = testSeeds(3000, 8);
  let losing = 0;
  for (const seed of seeds) {
    const findings = await runWorkload(t, seed, { policy: 'always', crashMode: 'drop', ignoreDirSync: true, cycles: 1 });
    if (findings.broken.length > 0) losing += 1;
  }
  t.ok(losing > 0, `${losing} of ${seeds.length} workloads lost acknowledged events or streams`);
});

t.test('the checker catches lost events: fsync never loses acknowledged events', async (t) => {
  const seeds = testSeeds(4000, 8);
  let losing = 0;
  for (const seed of seeds) {
    const findings = await runWorkload(t, seed, { policy: 'never', crashMode: 'drop', cycles: 1 });
    if (findings.broken.length > 0) losing += 1;
  }
  t.ok(losing > 0, `${losing} of ${seeds.length} workloads lost acknowledged events`);
});

/**
 * Runs one seeded workload for `cycles` crash-and-recover cycles and returns what went wrong
 * (lost or wrong events, broken promises about streams). Engine misbehaviour that is not about
 * durability (an append rejected while the disk was healthy) is a finding too.
 */
async function runWorkload(t: Teardown, seed: number, options: RunOptions): Promise<Findings> {
  const root = tempDir(t, `power-loss-${seed}`);
  const workload: Workload = {
    random: seededRandom(seed),
    dataDir: path.join(root, 'data'),
    policy: options.policy,
    streams: new Map(),
    nextStreamId: 0,
    failures: [],
  };
  for (let cycle = 0; cycle < options.cycles; cycle++) {
    const sim = new SimIO({
      root,
      crashAtOp: workload.random.int(1, 700),
      crashMode: options.crashMode,
      random: workload.random.next,
      ignoreDirSync: options.ignoreDirSync ?? false,
      // SimIO models what survives; real fsyncs would only add time, and their varying length
      // would vary which appends share a round, making a failing seed harder to replay.
      inner: syncFreeIO(),
    });
    await runCycle(workload, sim);
    if (workload.failures.length > 0) return { broken: workload.failures.map((f) => `seed ${seed} cycle ${cycle}: ${f}`), damage: [] };
    const findings = await verify(workload, options.policy);
    const label = (f: string) => `seed ${seed} cycle ${cycle}: ${f}`;
    if (findings.broken.length > 0 || findings.damage.length > 0) return { broken: findings.broken.map(label), damage: findings.damage.map(label) };
  }
  return { broken: [], damage: [] };
}

/** Opens the store through `sim` and runs writers until the simulated power loss. */
async function runCycle(workload: Workload, sim: SimIO): Promise<void> {
  const { random } = workload;
  let engine: Engine;
  try {
    engine = await openEngine(workload.dataDir, { io: sim, fsync: workload.policy, segmentSizeBytes: SEGMENT_BYTES, maxOpenSegments: 4 });
  } catch (error) {
    if (sim.crashed) {
      // Power lost during recovery: the next cycle recovers again. (LOCK: see below.)
      fs.rmSync(path.join(workload.dataDir, 'LOCK'), { force: true });
      return;
    }
    throw error;
  }
  // Offsets continue from what the store holds now.
  for (const model of workload.streams.values()) {
    if (engine.getStream(model.name) !== undefined) model.nextOffset = engine.stats(model.name).nextOffset;
  }
  if (workload.streams.size === 0) {
    const model = newStream(workload);
    try {
      await engine.createStream(model.name);
      model.created = true;
    } catch (error) {
      if (!sim.crashed) throw error;
    }
  }

  const tasks: Promise<void>[] = [];
  const writers = random.int(1, 12);
  for (let w = 0; w < writers; w++) tasks.push(writer(workload, engine, sim));
  tasks.push(streamChurn(workload, engine, sim));
  // If the workload ends before the chosen operation, the power goes now.
  await Promise.all(tasks);
  sim.crash();
  // The LOCK file left behind (possibly torn) must not stop the store from opening again.
  await engine.close().catch((error: unknown) => { if (process.env.EVENTBUS_DEBUG) console.error("zombie close:", error); });
}

/** One concurrent writer: appends single events and batches to random live streams. */
async function writer(workload: Workload, engine: Engine, sim: SimIO): Promise<void> {
  const { random } = workload;
  const steps = random.int(5, 40);
  for (let step = 0; step < steps && !sim.crashed; step++) {
    const live = [...workload.streams.values()].filter((s) => s.created && !s.deleting && !s.deleted);
    if (live.length === 0) return;
    const model = random.pick(live);
    const count = random.chance(0.3) ? random.int(2, 12) : 1;
    const first = model.nextOffset;
    model.nextOffset += count;
    const payloads: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const bytes = payload(`${model.name}@${first + i}#${random.int(0, 1e9)}`, random.chance(0.05) ? random.int(300, 900) : random.int(0, 120));
      model.submitted.set(first + i, bytes);
      payloads.push(bytes);
    }
    const pending = count === 1 ? engine.append(model.name, payloads[0]!).then((e) => [e]) : engine.appendMany(model.name, payloads);
    const settle = pending.then(
      (events) => {
        if (sim.crashed) return;
        for (let i = 0; i < events.length; i++) {
          if (events[i]!.offset !== first + i) workload.failures.push(`${model.name}: append given offset ${events[i]!.offset}, expected ${first + i}`);
          model.acknowledged.add(first + i);
        }
      },
      (error: unknown) => {
        if (!sim.crashed && !model.deleting) workload.failures.push(`${model.name}: append rejected on a healthy disk: ${describe(error)}`);
      },
    );
    // Sometimes wait for the append, sometimes pile more on (group commit).
    if (random.chance(0.5)) await settle;
    else if (random.chance(0.5)) await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Creates and deletes streams now and then while the writers run. */
async function streamChurn(workload: Workload, engine: Engine, sim: SimIO): Promise<void> {
  const { random } = workload;
  const steps = random.int(0, 4);
  for (let step = 0; step < steps && !sim.crashed; step++) {
    // Event-loop turns, not milliseconds: with fsyncs that complete a turn later, a seed churns
    // at much the same operations on every run.
    for (let turns = random.int(0, 40); turns > 0; turns--) await new Promise((resolve) => setImmediate(resolve));
    if (sim.crashed) return;
    const live = [...workload.streams.values()].filter((s) => s.created && !s.deleting && !s.deleted);
    if (random.chance(0.25) && live.length > 1) {
      const model = random.pick(live);
      model.deleting = true;
      try {
        await engine.deleteStream(model.name);
        if (!sim.crashed) model.deleted = true;
      } catch (error) {
        if (!sim.crashed) workload.failures.push(`deleteStream(${model.name}) failed on a healthy disk: ${describe(error)}`);
      }
    } else {
      const model = newStream(workload);
      try {
        await engine.createStream(model.name);
        if (!sim.crashed) model.created = true;
      } catch (error) {
        if (!sim.crashed) workload.failures.push(`createStream(${model.name}) failed on a healthy disk: ${describe(error)}`);
      }
    }
  }
}

function newStream(workload: Workload): StreamModel {
  const model: StreamModel = {
    name: `stream-${workload.nextStreamId++}`,
    created: false,
    deleting: false,
    deleted: false,
    nextOffset: 0,
    submitted: new Map(),
    acknowledged: new Set(),
  };
  workload.streams.set(model.name, model);
  return model;
}

/**
 * Reopens the recovered store (through a SimIO that does not crash, so that recovery's own writes
 * are checked for fsync discipline by the next cycle) and compares it with the model.
 */
async function verify(workload: Workload, policy: FsyncPolicy): Promise<Findings> {
  const findings: Findings = { broken: [], damage: [] };
  if (!fs.existsSync(workload.dataDir)) {
    const promised = [...workload.streams.values()].filter((s) => s.created && !s.deleted);
    if (promised.length > 0) findings.broken.push(`the data directory is gone, with ${promised.length} created streams`);
    return findings;
  }
  let engine: Engine;
  try {
    engine = await openEngine(workload.dataDir, { fsync: policy, segmentSizeBytes: SEGMENT_BYTES });
  } catch (error) {
    findings.broken.push(`the store does not open after the crash: ${describe(error)}`);
    return findings;
  }
  try {
    for (const model of workload.streams.values()) {
      const exists = engine.getStream(model.name) !== undefined;
      if (model.deleted) {
        if (exists) findings.broken.push(`${model.name} was deleted but came back`);
        continue;
      }
      if (!exists) {
        if (model.created && !model.deleting) {
          findings.broken.push(`${model.name} was created but is gone, with ${model.acknowledged.size} acknowledged events`);
        }
        // Never created, its creation did not survive, or its deletion did: forget it, as the store did.
        model.deleted = true;
        continue;
      }
      // It exists: created (whether or not the call resolved), and not deleted (if a deletion was in flight).
      model.created = true;
      model.deleting = false;
      let stats;
      try {
        stats = engine.stats(model.name);
      } catch (error) {
        findings.broken.push(`${model.name}: stats failed: ${describe(error)}`);
        continue;
      }
      const acknowledged = [...model.acknowledged].sort((a, b) => a - b);
      const lastAcknowledged = acknowledged.length > 0 ? acknowledged[acknowledged.length - 1]! : -1;
      if (stats.nextOffset <= lastAcknowledged) {
        findings.broken.push(`${model.name}: next offset ${stats.nextOffset} but offset ${lastAcknowledged} was acknowledged`);
      }
      for (const offset of acknowledged) {
        const got = readOne(engine, model.name, offset);
        if (typeof got === 'string') findings.broken.push(`${model.name}: acknowledged offset ${offset} ${got}`);
        else if (!got.equals(model.submitted.get(offset)!)) findings.broken.push(`${model.name}: acknowledged offset ${offset} has other bytes`);
      }
      // Everything readable is what was appended at that offset.
      for (let offset = stats.firstOffset; offset < stats.nextOffset; offset++) {
        if (model.acknowledged.has(offset)) continue;
        const got = readOne(engine, model.name, offset);
        const expected = model.submitted.get(offset);
        if (typeof got === 'string') {
          const list = got.includes('CORRUPT_DATA') ? findings.damage : findings.broken;
          list.push(`${model.name}: unacknowledged offset ${offset} below the next offset ${stats.nextOffset} ${got}`);
        } else if (expected === undefined || !got.equals(expected)) {
          findings.broken.push(`${model.name}: offset ${offset} holds bytes that were never appended there`);
        }
      }
      if (stats.damage.length > 0) {
        findings.damage.push(`${model.name}: damage reported after a power loss: ${JSON.stringify(stats.damage)}`);
      }
      // What survived unacknowledged is now the truth; the rest is forgotten.
      for (const offset of [...model.submitted.keys()]) if (offset >= stats.nextOffset) model.submitted.delete(offset);
      for (let offset = lastAcknowledged + 1; offset < stats.nextOffset; offset++) model.acknowledged.add(offset);
      model.nextOffset = stats.nextOffset;
      // Appends continue right after.
      try {
        const appended = await engine.append(model.name, payload(`${model.name}@${stats.nextOffset}#check`, 10));
        if (appended.offset !== stats.nextOffset) findings.broken.push(`${model.name}: append after recovery got offset ${appended.offset}, expected ${stats.nextOffset}`);
        model.submitted.set(appended.offset, payload(`${model.name}@${stats.nextOffset}#check`, 10));
        model.acknowledged.add(appended.offset);
        model.nextOffset = appended.offset + 1;
      } catch (error) {
        findings.broken.push(`${model.name}: append after recovery failed: ${describe(error)}`);
      }
    }
  } finally {
    await engine.close();
  }
  return findings;
}

/** The payload at `offset`, or a description of why it cannot be read. */
function readOne(engine: Engine, name: string, offset: number): Buffer | string {
  try {
    const events = engine.read(name, offset, { maxEvents: 1 });
    if (events.length === 0) return 'is missing';
    if (events[0]!.offset !== offset) return `reads as offset ${events[0]!.offset}`;
    return Buffer.from(events[0]!.payload);
  } catch (error) {
    return `cannot be read: ${describe(error)}`;
  }
}

function describe(error: unknown): string {
  if (error instanceof EventBusError) return `${error.code} ${error.reason}`;
  return error instanceof Error ? error.message : String(error);
}
