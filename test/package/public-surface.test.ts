/**
 * The public surface is what package.json `exports` names, and nothing else: this test imports
 * only through the package's own name (Node resolves `eventbus/...` to this package through its
 * `exports` map), checks what each entry point exports (so that adding or removing a public name
 * is a deliberate change, made here too), that an internal file cannot be imported, and that the
 * engine can be used end to end, types included, through the public names alone.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import t from 'tap';
import * as root from 'eventbus';
import * as client from 'eventbus/client';
import * as storage from 'eventbus/storage';
import type { CommitRound, EngineOptions, RecoveryReport, StoredEvent } from 'eventbus/storage';
import * as testing from 'eventbus/storage/testing';
import type { CrashScenario } from 'eventbus/storage/testing';

const PACKAGE = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name: string; exports: Record<string, string> };

t.test('package.json exports exactly the public entry points', async (t) => {
  t.equal(PACKAGE.name, 'eventbus');
  t.same(Object.keys(PACKAGE.exports).sort(), [
    '.',
    './client',
    './package.json',
    './storage',
    './storage/testing',
    './storage/testing/fault-io-module',
    './storage/testing/journal-io',
  ]);
});

t.test('each entry point exports its documented names', async (t) => {
  const names = (module: object) => Object.keys(module).sort();
  t.same(names(root), ['DEFAULT_LIMITS', 'Engine', 'ErrorCodes', 'EventBus', 'EventBusClient', 'EventBusError', 'EventBusServer', 'isEventBusError']);
  t.same(names(storage), [
    'DEFAULT_CONSUMER', 'DEFAULT_CONSUMER_LIMITS', 'Engine', 'ErrorCodes', 'EventBusError', 'EventStatuses', 'FSYNC_POLICIES', 'MAX_FILTER_TYPES', 'MAX_STREAM_NAME_BYTES',
    'RESERVED_PREFIX', 'checkFilter', 'deadLetterStreamName', 'decodeEventId', 'eventIdOf', 'inspectStoreDirectory', 'isEventBusError', 'isIdOf', 'matchesFilter', 'nodeIO',
    'restoreSnapshot', 'validateStreamName', 'verifyDirectory',
  ]);
  t.same(names(testing), [
    'DurabilityModel', 'FaultyIO', 'JournalIO', 'SimIO', 'checkCrashConsistency', 'crashError', 'faultState', 'nodeIO', 'readJournal',
    'replayCrashPoint', 'replayJournal', 'seededRandom', 'setFaults', 'syncFreeIO', 'systemError',
  ]);
  t.same(names(client), ['ErrorCodes', 'EventBusClient', 'EventBusError', 'Subscription', 'isEventBusError', 'responseError']);
  t.equal(storage.Engine, root.Engine, 'one Engine class, whichever entry point');
  t.equal(storage.EventBusError, client.EventBusError, 'one error class');
  const hooks = await Promise.all([import('eventbus/storage/testing/journal-io'), import('eventbus/storage/testing/fault-io-module')]);
  for (const hook of hooks) t.type(hook.createIO, 'function', 'the EVENTBUS_TEST_IO_MODULE modules export createIO');
});

t.test('internal files cannot be imported', async (t) => {
  for (const internal of ['eventbus/dist/src/storage/engine.js', 'eventbus/src/storage/engine.ts', 'eventbus/storage/engine']) {
    await t.rejects(import(internal), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }, internal);
  }
});

t.test('the engine works end to end through the public names, types included', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'eventbus-public-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rounds: CommitRound[] = [];
  let recovery: RecoveryReport | null = null;
  const options: EngineOptions = { dataDir: path.join(dir, 'data'), observer: { commit: (r) => rounds.push(r), recovery: (r) => { recovery = r; } } };
  const engine = await storage.Engine.open(options);
  await engine.createStream('s');
  await engine.appendMany('s', [Buffer.from('a'), Buffer.from('b')]);
  const events: StoredEvent[] = engine.read('s', 0);
  t.same(events.map((e) => e.payload.toString()), ['a', 'b']);
  await t.rejects(engine.append('missing', Buffer.from('x')), { code: storage.ErrorCodes.STREAM_NOT_FOUND });
  await engine.close();
  t.ok(rounds.length > 0 && recovery !== null, 'observed');

  const scenario: CrashScenario<{ done: boolean }> = {
    state: () => ({ done: false }),
    async workload({ openEngine, state }) {
      const e = await openEngine();
      await e.createStream('s');
      state.done = true;
    },
    async invariant({ openEngine, state }) {
      const e = await openEngine();
      if (state.done && e.getStream('s') === undefined) throw new Error('a created stream is gone');
    },
  };
  const report = await testing.checkCrashConsistency(scenario, { seed: 1, every: 4, tmpDir: dir });
  t.equal(report.violation, null, `the checker through the public name: ${report.checked} points`);
});
