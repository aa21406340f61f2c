/**
 * The crash-consistency checker (src/storage/testing/crash-checker.ts), imported as an embedder
 * would: it finds a planted bug (a file replaced by rename without the fsync of its new contents,
 * the classic lost-file-contents bug), reports the crash point and seed, and replays that point
 * exactly; the same workload with the fsync passes every crash point; and the engine's own
 * promise (an append that resolved survives) holds at every operation of a small workload, while
 * a disk whose fsyncs do nothing breaks it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { checkCrashConsistency, replayCrashPoint, type CrashScenario, type FileIO } from 'eventbus/storage/testing';

/** Writes `value` to `dir/value` by the write-to-temporary-and-rename idiom; `fsync` false forgets the file's fsync. */
async function replaceFile(io: FileIO, dir: string, value: string, fsync: boolean): Promise<void> {
  const temporary = path.join(dir, 'value.tmp');
  const fd = io.open(temporary, 'wx+');
  try {
    io.writev(fd, [Buffer.from(`${value}\n`)], 0);
    if (fsync) await io.datasync(fd);
  } finally {
    io.close(fd);
  }
  io.rename(temporary, path.join(dir, 'value'));
  await io.syncDir(dir);
}

/** Writes versions 1..5 of a file; the invariant: the file holds a whole version, at least the last acknowledged. */
function replaceScenario(fsync: boolean): CrashScenario<{ acknowledged: number }> {
  return {
    state: () => ({ acknowledged: 0 }),
    async workload({ io, dir, state }) {
      io.mkdir(dir);
      await io.syncDir(path.dirname(dir));
      for (let version = 1; version <= 5; version++) {
        await replaceFile(io, dir, `version ${version}`, fsync);
        state.acknowledged = version;
      }
    },
    invariant({ dir, state }) {
      if (state.acknowledged === 0) return;
      const text = fs.readFileSync(path.join(dir, 'value'), 'utf8');
      const match = /^version (\d)\n$/.exec(text);
      assert.ok(match !== null, `version ${state.acknowledged} was acknowledged, but the file holds ${JSON.stringify(text)}`);
      assert.ok(Number(match[1]) >= state.acknowledged, `version ${state.acknowledged} was acknowledged, but the file holds version ${match[1]}`);
    },
  };
}

t.test('the checker finds a planted missing fsync, reports its seed and replays it exactly', async (t) => {
  const scenario = replaceScenario(false);
  const report = await checkCrashConsistency(scenario, { seed: 1234, every: 1 });
  t.equal(report.seed, 1234);
  t.ok(report.operations > 10, `the workload ran ${report.operations} operations`);
  t.not(report.violation, null, 'a violation was found');
  const found = report.violation!;
  t.comment(`first violation: crash at operation ${found.crashAtOp} (${found.operation}, ${found.mode}): ${found.violation}`);
  t.match(found.violation, /was acknowledged, but the file holds ""/, 'the lost contents are named');
  t.equal(found.seed, 1234, 'the violation carries its seed');
  t.equal(found.mode, 'drop', 'found in drop mode, which is tried first');
  t.equal(report.violations.length, 1, 'stopped at the first');

  for (let replay = 0; replay < 2; replay++) {
    const again = await replayCrashPoint(scenario, { seed: found.seed, crashAtOp: found.crashAtOp, mode: found.mode });
    t.same(
      { violation: again.violation, operation: again.operation, operations: again.operations, digest: again.digest },
      { violation: found.violation, operation: found.operation, operations: found.operations, digest: found.digest },
      `replay ${replay + 1}: the same operations, the same crash, the same violation`,
    );
  }
  const before = await replayCrashPoint(scenario, { seed: found.seed, crashAtOp: found.crashAtOp - 1, mode: found.mode });
  t.equal(before.violation, null, 'one operation earlier the invariant holds: the point is the first');
});

t.test('the same workload with its fsync holds at every crash point, in both modes', async (t) => {
  const report = await checkCrashConsistency(replaceScenario(true), { seed: 99, every: 1 });
  t.equal(report.violation, null, report.violation?.violation ?? 'no violation');
  t.equal(report.checked, 2 * (report.operations + 1), 'every operation and the end, drop and torn');
});

t.test('torn crashes and a random sample find it too', async (t) => {
  const report = await checkCrashConsistency(replaceScenario(false), { seed: 7, modes: ['torn'], sample: 40 });
  t.not(report.violation, null, 'found in torn mode from a sample');
  t.equal(report.violation!.mode, 'torn');
  const again = await replayCrashPoint(replaceScenario(false), report.violation!);
  t.equal(again.violation, report.violation!.violation, 'and replayed');
});

/** Appends from three writers to two streams with rolls; what resolved must be readable. */
function appendScenario(): CrashScenario<{ acknowledged: Map<string, Map<number, string>> }> {
  return {
    state: () => ({ acknowledged: new Map([['a', new Map()], ['b', new Map()]]) }),
    async workload({ openEngine, random, state, crashed }) {
      const engine = await openEngine({ segmentSizeBytes: 1024 });
      await engine.createStream('a');
      await engine.createStream('b');
      await Promise.all([0, 1, 2].map(async (writer) => {
        for (let i = 0; i < 8; i++) {
          const stream = random.pick(['a', 'b']);
          const payloads = Array.from({ length: random.int(1, 3) }, (_, j) => `w${writer}-${i}-${j}-${'x'.repeat(random.int(0, 200))}`);
          const events = await engine.appendMany(stream, payloads.map((p) => Buffer.from(p)));
          if (crashed()) return;
          events.forEach((event, j) => state.acknowledged.get(stream)!.set(event.offset, payloads[j]!));
        }
      }));
    },
    async invariant({ openEngine, state }) {
      if ([...state.acknowledged.values()].every((m) => m.size === 0)) return;
      const engine = await openEngine({ segmentSizeBytes: 1024 });
      for (const [stream, events] of state.acknowledged) {
        for (const [offset, payload] of events) {
          const [event] = engine.read(stream, offset, { maxEvents: 1 });
          assert.equal(event?.payload.toString(), payload, `${stream}@${offset} was acknowledged`);
        }
        assert.equal(engine.stats(stream).damage.length, 0, `${stream} has no damage`);
      }
    },
  };
}

t.test('every acknowledged append survives a power loss at any operation (the engine through the checker)', async (t) => {
  const report = await checkCrashConsistency(appendScenario(), { seed: 2024, every: 3 });
  t.ok(report.operations > 100, `${report.operations} operations, ${report.checked} crash points`);
  t.equal(report.violation, null, report.violation === null ? 'no violation' : `seed ${report.seed}, crash at ${report.violation.crashAtOp} (${report.violation.mode}): ${report.violation.violation}`);
});

t.test('the same check fails on a disk whose file fsyncs do nothing', async (t) => {
  const simulate = { ignoreFileSync: true };
  const report = await checkCrashConsistency(appendScenario(), { seed: 2024, every: 3, modes: ['drop'], simulate });
  t.not(report.violation, null, `caught: ${report.violation?.violation}`);
  // The engine's run replays exactly too: same operations (stream ids and temporary paths differ).
  const again = await replayCrashPoint(appendScenario(), report.violation!, { simulate });
  const withoutPaths = (text: string | null) => text?.replace(/\/\S+/g, '<path>');
  t.same([again.digest, again.operations, withoutPaths(again.violation)], [report.violation!.digest, report.violation!.operations, withoutPaths(report.violation!.violation)], 'replayed exactly');
});
