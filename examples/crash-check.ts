import assert from 'node:assert/strict';
import { checkCrashConsistency, replayCrashPoint, type CrashScenario } from 'eventbus/storage/testing';

// The workload: two writers append; the state: what each append that resolved was given.
const scenario: CrashScenario<Map<number, string>> = {
  state: () => new Map(),
  async workload({ openEngine, random, state }) {
    const engine = await openEngine({ segmentSizeBytes: 4096 });
    await engine.createStream('orders');
    await Promise.all([1, 2].map(async (writer) => {
      for (let i = 0; i < 10; i++) {
        const payload = `writer ${writer} order ${i} ${'x'.repeat(random.int(0, 300))}`;
        const { offset } = await engine.append('orders', Buffer.from(payload));
        state.set(offset, payload);
      }
    }));
  },
  // After a power loss at any moment, every append that resolved is there, byte for byte.
  async invariant({ openEngine, state }) {
    if (state.size === 0) return;
    const engine = await openEngine({ segmentSizeBytes: 4096 });
    for (const [offset, payload] of state) {
      assert.equal(engine.read('orders', offset, { maxEvents: 1 })[0]?.payload.toString(), payload, `offset ${offset} was acknowledged`);
    }
  },
};

// `--broken`: a disk whose file fsyncs make nothing durable, to watch the check fail.
const simulate = { ignoreFileSync: process.argv.includes('--broken') };
const report = await checkCrashConsistency(scenario, { seed: 42, every: 5, simulate });
console.log(`${report.operations} operations, ${report.checked} crash points checked`);
if (report.violation !== null) {
  const { seed, crashAtOp, mode, operation, violation } = report.violation;
  console.log(`violation at operation ${crashAtOp} (${operation}, ${mode} crash), seed ${seed}: ${violation}`);
  const again = await replayCrashPoint(scenario, report.violation, { simulate });
  console.log(`replayed: ${again.violation === violation && again.digest === report.violation.digest ? 'the same run, the same violation' : 'a different outcome'}`);
  process.exitCode = 1;
}
