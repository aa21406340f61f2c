/**
 * What an embedder passes by mistake is refused, not ignored (src/storage/api-arguments.ts): a
 * misspelt option or event field of any public call (a misspelt `expectedVersion` would append
 * without a version check), of the research tools (a misspelt `every` or `simulate` flag would
 * check something else than asked), an observer without its functions, a file layer that is not
 * one (`syncFreeIO` uncalled), an empty appendMany, limits that contradict each other, and a
 * reserved stream name. Every refusal is INVALID_FIELD naming the argument as the library call
 * has it (`options.expectedVersion`, `beforeOffset`, `name`), changing nothing. Also: a snapshot
 * called in the same turn as close is taken, not refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ErrorCodes, nodeIO, restoreSnapshot } from 'eventbus/storage';
import { checkCrashConsistency, FaultyIO, JournalIO, SimIO, syncFreeIO, type CrashScenario } from 'eventbus/storage/testing';
import { openStore, refusedWith } from '../helpers/engine-refusal.js';
import { tempDir } from '../helpers/temp-dir.js';

const F = ErrorCodes.INVALID_FIELD;
const x = Buffer.from('x');

t.test('a misspelt option or event field of any call is INVALID_FIELD naming it, and nothing is appended or created', async (t) => {
  const engine = await openStore(tempDir(t, 'keys-calls'));
  await engine.createStream('s');
  await engine.appendEvents('s', [{ payload: x }], { key: 'k' });
  const calls: [string, () => unknown, string][] = [
    ['appendEvents expectedVerison', () => engine.appendEvents('s', [{ payload: x }], { expectedVerison: 99 } as never), 'options.expectedVerison'],
    ['appendEvents an event with typ', () => engine.appendEvents('s', [{ payload: x }, { payload: x, typ: 'x' } as never]), 'events[1].typ'],
    ['appendEvents msg_id for msgId', () => engine.appendEvents('s', [{ payload: x, msg_id: 'm' } as never]), 'events[0].msg_id'],
    ['read max', () => engine.read('s', 0, { max: 1 } as never), 'limits.max'],
    ['readBackward maxEvent', () => engine.readBackward('s', 0, { maxEvent: 1 } as never), 'limits.maxEvent'],
    ['consume maxEvent', () => engine.consume('s', 'c', { maxEvent: 1 } as never), 'options.maxEvent'],
    ['consume a start with an offset it ignores', () => engine.consume('s', 'c', { start: { kind: 'all', offset: 3 } } as never), 'options.start.offset'],
    ['consume a filter with type for types', () => engine.consume('s', 'c', { filter: { type: 'x' } } as never), 'options.filter.type'],
    ['retry max', () => engine.retry('s', 'c', { max: 1 } as never), 'options.max'],
    ['keyOffsets limits', () => engine.keyOffsets('s', 'k', 0, { limits: 1 } as never), 'options.limits'],
    ['keyEvents dir', () => engine.keyEvents('s', 'k', 0, { dir: 'backward' } as never), 'options.dir'],
    ['createStream retension', () => engine.createStream('r2', { retension: {} } as never), 'options.retension'],
    ['createStream retention.maxEvent', () => engine.createStream('r3', { retention: { maxEvent: 5 } } as never), 'options.retention.maxEvent'],
    ['createStream allowReserved (internal only)', () => engine.createStream('$dlq:zz', { allowReserved: true } as never), 'options.allowReserved'],
    ['setRetention maxAge', () => engine.setRetention('s', { maxAge: 5 } as never), 'retention.maxAge'],
    ['observe comit', () => engine.observe({ comit: () => {} } as never), 'observer.comit'],
  ];
  for (const [label, call, field] of calls) await refusedWith(t, call, F, field, label);
  t.equal(engine.bounds('s').nextOffset, 1, 'nothing was appended');
  t.same(engine.listStreams().map((s) => s.name), ['s'], 'no stream was created');
  t.same(engine.stats('s').consumers, [], 'no consumer was created');
  t.same(engine.stats('s').retention.own, {}, 'no retention was set');
  // The same calls, spelt right, work.
  await t.rejects(engine.appendEvents('s', [{ payload: x }], { expectedVersion: 99 }), { code: ErrorCodes.WRONG_EXPECTED_VERSION }, 'expectedVersion spelt right is checked');
  t.equal((await engine.appendEvents('s', [{ payload: x, type: 't', msgId: 'm1' }], { key: 'k', expectedVersion: 0 })).nextExpectedVersion, 1, 'a good append');
  t.equal(engine.read('s', 0, { maxEvents: 1 }).length, 1, 'a good read');
  await engine.close();
});

t.test('an observer without its functions is refused at open and by observe', async (t) => {
  const base = tempDir(t, 'keys-observer');
  await refusedWith(t, () => openStore(path.join(base, 'a'), { observer: { commit: 5 } as never }), F, 'observer.commit', 'open with commit: 5');
  await refusedWith(t, () => openStore(path.join(base, 'b'), { observer: { comit: () => {} } as never }), F, 'observer.comit', 'open with a misspelt callback');
  t.notOk(fs.existsSync(path.join(base, 'a')), 'nothing was created');
  const engine = await openStore(path.join(base, 'c'));
  await refusedWith(t, () => engine.observe({ commit: 5 } as never), F, 'observer.commit', 'observe with commit: 5');
  await refusedWith(t, () => engine.observe(null as never), F, 'observer', 'observe(null)');
  const rounds: number[] = [];
  const stop = engine.observe({ commit: (round) => rounds.push(round.events), seal: undefined });
  await engine.createStream('s');
  await engine.append('s', x);
  stop();
  t.ok(rounds.length > 0, 'a good observer is told of rounds');
  await engine.close();
});

t.test('open refuses a consumer default batch above its cap, and a file layer that is not one', async (t) => {
  const base = tempDir(t, 'keys-open');
  await refusedWith(t, () => openStore(path.join(base, 'a'), { consumers: { defaultBatchEvents: 2000, maxBatchEvents: 1000 } }), F, 'consumers.defaultBatchEvents', 'defaultBatchEvents 2000 over maxBatchEvents 1000');
  await refusedWith(t, () => openStore(path.join(base, 'b'), { io: syncFreeIO as never }), F, 'io', 'io: syncFreeIO (uncalled)');
  // The layers that wrap another refuse a factory, or anything else, as their inner layer: before, open failed later with IO_ERROR.
  await refusedWith(t, () => new SimIO({ root: base, inner: syncFreeIO as never }), F, 'options.inner', 'SimIO over syncFreeIO uncalled');
  await refusedWith(t, () => new FaultyIO(syncFreeIO as never), F, 'inner', 'FaultyIO over syncFreeIO uncalled');
  await refusedWith(t, () => syncFreeIO({} as never), F, 'inner', 'syncFreeIO over {}');
  await refusedWith(t, () => new JournalIO({ root: base, journalFile: path.join(base, '..', 'j'), inner: {} as never }), F, 'options.inner', 'JournalIO over {}');
  t.same(fs.readdirSync(base), [], 'nothing was created');
  const engine = await openStore(path.join(base, 'c'), { io: syncFreeIO(), consumers: { defaultBatchEvents: 1000, maxBatchEvents: 1000 } });
  await engine.close();
});

t.test('SimIO refuses options that would simulate something else, with EventBusErrors', async (t) => {
  const root = tempDir(t, 'keys-sim');
  const bad: [string, () => unknown, string][] = [
    ['no root', () => new SimIO({} as never), 'options.root'],
    ['no options', () => new SimIO(undefined as never), 'options'],
    ['a missing root', () => new SimIO({ root: path.join(root, 'missing') }), 'options.root'],
    ['crashAtOp 0', () => new SimIO({ root, crashAtOp: 0 }), 'options.crashAtOp'],
    ['crashAtOp -1', () => new SimIO({ root, crashAtOp: -1 }), 'options.crashAtOp'],
    ['crashAtOp 1.5', () => new SimIO({ root, crashAtOp: 1.5 }), 'options.crashAtOp'],
    ['crashMode x', () => new SimIO({ root, crashMode: 'x' as never }), 'options.crashMode'],
    ['inner {}', () => new SimIO({ root, inner: {} as never }), 'options.inner'],
    ['ignoreFileSyncs (misspelt)', () => new SimIO({ root, ignoreFileSyncs: true } as never), 'options.ignoreFileSyncs'],
    ['crash sideways', () => new SimIO({ root }).crash('sideways' as never), 'mode'],
  ];
  for (const [label, call, field] of bad) await refusedWith(t, call, F, field, label);
  fs.symlinkSync('/tmp', path.join(root, 'link'));
  await refusedWith(t, () => new SimIO({ root }), F, 'options.root', 'a root holding a symbolic link');
  fs.unlinkSync(path.join(root, 'link'));
  const sim = new SimIO({ root, crashAtOp: 5, crashMode: 'torn' });
  t.equal(sim.crashAtOp, 5, 'good options are taken');
});

t.test('the crash checker refuses misspelt options instead of running with their defaults', async (t) => {
  let ran = 0;
  const scenario: CrashScenario<null> = { state: () => null, workload: async () => { ran += 1; }, invariant: () => {} };
  await refusedWith(t, () => checkCrashConsistency(scenario, { evry: 2 } as never), F, 'options.evry', 'evry for every');
  await refusedWith(t, () => checkCrashConsistency(scenario, { simulate: { ignoreFileSyncs: true } } as never), F, 'options.simulate.ignoreFileSyncs', 'a misspelt simulate flag');
  await refusedWith(t, () => checkCrashConsistency(scenario, { simulate: { ignoreFileSync: 'yes' } } as never), F, 'options.simulate.ignoreFileSync', 'a simulate flag that is not a boolean');
  t.equal(ran, 0, 'no workload ran');
});

t.test('FaultyIO refuses a fault spec it would not fire as asked', async (t) => {
  const io = new FaultyIO();
  await refusedWith(t, () => io.inject({ op: 'datasync', errno: 'EIO', persistant: true } as never), F, 'spec.persistant', 'a misspelt persistent');
  await refusedWith(t, () => io.inject({ op: 'fsync' as never, errno: 'EIO' }), F, 'spec.op', 'an operation FileIO does not have');
  await refusedWith(t, () => io.inject({ op: 'datasync', errno: 'EBADF' as never }), F, 'spec.errno', 'an errno it cannot give');
  await refusedWith(t, () => io.inject({ op: 'datasync', errno: 'EIO', nth: 0 }), F, 'spec.nth', 'nth 0');
});

t.test('appendMany of no payloads is INVALID_FIELD, as appendEvents of no events is', async (t) => {
  const engine = await openStore(tempDir(t, 'keys-empty'));
  await engine.createStream('s');
  await refusedWith(t, () => engine.appendMany('s', []), F, 'payloads', 'appendMany([])');
  await refusedWith(t, () => engine.appendEvents('s', []), F, 'events', 'appendEvents([])');
  await engine.close();
});

t.test('context.field names the library argument: one style per call', async (t) => {
  const engine = await openStore(tempDir(t, 'keys-names'));
  await engine.createStream('s');
  await engine.append('s', x);
  await refusedWith(t, () => engine.truncate('s', -1), F, 'beforeOffset', 'truncate below 0');
  await refusedWith(t, () => engine.truncate('s', 1000), F, 'beforeOffset', 'truncate past the end');
  await refusedWith(t, () => engine.createStream(''), ErrorCodes.INVALID_STREAM_NAME, 'name', 'createStream of an empty name');
  await refusedWith(t, () => engine.createStream('$dlq:zz'), ErrorCodes.INVALID_STREAM_NAME, 'name', 'createStream of a reserved name');
  await refusedWith(t, () => engine.append(7 as never, x), ErrorCodes.INVALID_STREAM_NAME, 'name', 'append to a number');
  await refusedWith(t, () => engine.appendEvents('s', [{ payload: x }], { expectedVersion: -2 }), F, 'options.expectedVersion', 'expectedVersion -2');
  await refusedWith(t, () => engine.createStream('r', { retention: { maxEvents: -1 } }), F, 'options.retention.maxEvents', 'createStream with maxEvents -1');
  await refusedWith(t, () => engine.setRetention('s', { maxAgeMs: 1.5 }), F, 'retention.maxAgeMs', 'setRetention with maxAgeMs 1.5');
  await engine.close();
});

t.test('a snapshot called in the same turn as close is taken before the store closes', async (t) => {
  const base = tempDir(t, 'keys-snapshot');
  const engine = await openStore(path.join(base, 'data'));
  await engine.createStream('s');
  await engine.append('s', x);
  const snapshot = engine.snapshot(path.join(base, 'snapshots'));
  const closed = engine.close();
  const result = await snapshot;
  await closed;
  t.equal(result.events, 1, 'the snapshot holds the event');
  await t.rejects(engine.snapshot(path.join(base, 'snapshots')), { code: ErrorCodes.CLOSED }, 'a snapshot called after close is CLOSED');
});

t.test('the error table as documented: an empty name is not found, appendMany is not bounded by maxBatchBytes, a missing snapshot is NOT_A_STORE', async (t) => {
  const base = tempDir(t, 'keys-table');
  const engine = await openStore(path.join(base, 'data'), { maxBatchBytes: 8192 });
  await engine.createStream('s');
  await t.rejects(engine.append('', x), { code: ErrorCodes.STREAM_NOT_FOUND }, 'append to "" finds no stream (as write_event answers)');
  const big = Array.from({ length: 3 }, () => Buffer.alloc(4000, 0x31));
  t.equal((await engine.appendMany('s', big)).length, 3, 'appendMany of 12,000 bytes with maxBatchBytes 8,192: taken');
  await t.rejects(engine.appendEvents('s', big.map((payload) => ({ payload }))), { code: ErrorCodes.BATCH_TOO_LARGE }, 'appendEvents of the same: BATCH_TOO_LARGE');
  await engine.close();
  t.throws(() => restoreSnapshot(nodeIO, path.join(base, 'missing'), path.join(base, 'out')), { code: ErrorCodes.NOT_A_STORE }, 'restoring a missing snapshot: NOT_A_STORE');
  t.throws(() => restoreSnapshot(nodeIO, path.join(base, 'data'), path.join(base, 'out')), { code: ErrorCodes.SNAPSHOT_FAILED }, 'restoring a data directory: SNAPSHOT_FAILED');
});

t.test('appendMany past 1 GiB is BATCH_TOO_LARGE before anything is written (one segment holds a batch; its index positions are 32-bit)', async (t) => {
  const engine = await openStore(tempDir(t, 'keys-huge'), { maxEventBytes: 64 * 1024 * 1024 });
  await engine.createStream('s');
  const event = Buffer.alloc(64 * 1024 * 1024); // one buffer, 17 times: 1,088 MiB asked, 64 MiB held
  await t.rejects(engine.appendMany('s', Array.from({ length: 17 }, () => event)), { code: ErrorCodes.BATCH_TOO_LARGE });
  t.equal(engine.stats('s').nextOffset, 0, 'nothing appended');
  await engine.close();
});

t.test('a consumer cap below the default batch lowers the default instead of being refused', async (t) => {
  const engine = await openStore(tempDir(t, 'keys-cap'), { consumers: { maxBatchEvents: 2 } });
  await engine.createStream('s');
  await engine.appendMany('s', [x, x, x]);
  t.equal((await engine.consume('s', 'c')).events.length, 2, 'a consume without maxEvents gets the cap');
  await engine.close();
});
