/**
 * The engine's public API refuses what a caller passes wrong (src/storage/api-arguments.ts,
 * engine-options.ts): every bad argument is an EventBusError, INVALID_FIELD (or the documented
 * code) naming it, before anything is written or journaled, so that no argument can produce
 * INTERNAL, CORRUPT_DATA or IO_ERROR, fail another caller's append or damage the store. Also the
 * research tools' arguments (SimIO's random source, the crash checker's options), a datasync
 * fault that fires on the engine's inline fsyncs, calls after close, a failed move to the
 * dead-letter stream shown in the consumer's stats, and appends called before a deleteStream.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Engine, ErrorCodes, type EngineOptions } from 'eventbus/storage';
import { checkCrashConsistency, FaultyIO, seededRandom, SimIO, type CrashCheckOptions, type CrashScenario } from 'eventbus/storage/testing';
import { openStore, refusedWith } from '../helpers/engine-refusal.js';
import { tempDir } from '../helpers/temp-dir.js';

/** What a reopen says of the store: whether it was closed cleanly, and every stream's damage. */
async function reopened(dataDir: string): Promise<{ afterCrash: boolean; damage: number; consumers: string[] }> {
  const engine = await openStore(dataDir);
  try {
    return {
      afterCrash: engine.recovery.afterCrash,
      damage: engine.recovery.totals.damage,
      consumers: engine.listStreams().flatMap((s) => engine.stats(s.name).consumers.map((c) => `${s.name}/${c.name}`)),
    };
  } finally {
    await engine.close();
  }
}

t.test('consume refuses a bad start, filter, count or wait, creating and journaling nothing', async (t) => {
  const dataDir = tempDir(t, 'args-consume');
  const engine = await openStore(dataDir);
  await engine.createStream('s');
  await engine.appendMany('s', [Buffer.from('a'), Buffer.from('b')]);
  const bad: [string, unknown, string][] = [
    ['start kind bogus', { start: { kind: 'bogus' } }, 'options.start.kind'],
    ['start time NaN', { start: { kind: 'time', timeMs: NaN } }, 'options.start.timeMs'],
    ['start offset -1', { start: { kind: 'offset', offset: -1 } }, 'options.start.offset'],
    ['start offset 1.5', { start: { kind: 'offset', offset: 1.5 } }, 'options.start.offset'],
    ['start null', { start: null }, 'options.start'],
    ['filter types a string', { filter: { types: 'abc' } }, 'options.filter.types'],
    ['filter key a number', { filter: { key: 5 } }, 'options.filter.key'],
    ['maxEvents 0', { maxEvents: 0 }, 'options.maxEvents'],
    ['maxEvents -5', { maxEvents: -5 }, 'options.maxEvents'],
    ['waitMs -1', { waitMs: -1 }, 'options.waitMs'],
    ['waitMs NaN', { waitMs: NaN }, 'options.waitMs'],
    ['autoAck a string', { autoAck: 'yes' }, 'options.autoAck'],
  ];
  for (const [label, options, field] of bad) {
    await refusedWith(t, () => engine.consume('s', `c-${label.replaceAll(' ', '-')}`, options as never), ErrorCodes.INVALID_FIELD, field, label);
  }
  await refusedWith(t, () => engine.retry('s', 'c', { maxEvents: 0 }), ErrorCodes.INVALID_FIELD, 'options.maxEvents', 'retry maxEvents 0');
  await refusedWith(t, () => engine.consume('s', 42 as never), ErrorCodes.INVALID_FIELD, 'consumer', 'a consumer name that is not a string');
  t.same(engine.stats('s').consumers, [], 'no consumer was created');
  t.same((await engine.consume('s', 'good', { start: { kind: 'offset', offset: 1 } })).events.map((e) => e.offset), [1], 'a good start still works');
  await engine.close();
  t.same(await reopened(dataDir), { afterCrash: false, damage: 0, consumers: ['s/good'] }, 'reopened: clean, no journal damage, only the good consumer');
});

t.test('an append of something other than bytes is refused up front and fails nobody else', async (t) => {
  const dataDir = tempDir(t, 'args-append');
  const engine = await openStore(dataDir);
  await engine.createStream('s');
  await engine.createStream('other');
  await engine.append('s', Buffer.from('good0'));
  const settled = await Promise.allSettled([
    engine.append('s', Buffer.from('good1')),
    engine.append('s', 'bad' as never),
    engine.append('other', Buffer.from('o1')),
  ]);
  t.same(settled.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'only the bad append fails');
  const reason = (settled[1] as PromiseRejectedResult).reason as { code: string; context: { field: string } };
  t.equal(reason.code, ErrorCodes.INVALID_FIELD, 'INVALID_FIELD');
  t.equal(reason.context.field, 'payload', 'naming the payload');
  await refusedWith(t, () => engine.append('s', undefined as never), ErrorCodes.INVALID_FIELD, 'payload', 'append without a payload');
  await refusedWith(t, () => engine.appendMany('s', [Buffer.from('x'), 5] as never), ErrorCodes.INVALID_FIELD, 'payloads[1]', 'appendMany with a number');
  await refusedWith(t, () => engine.appendMany('s', 'xyz' as never), ErrorCodes.INVALID_FIELD, 'payloads', 'appendMany of a string');
  const events: [string, unknown, unknown, string][] = [
    ['a string payload', [{ payload: 'x' }], {}, 'events[0].payload'],
    ['a number type', [{ payload: Buffer.from('x'), type: 5 }], {}, 'events[0].type'],
    ['a string metadata', [{ payload: Buffer.from('x') }, { payload: Buffer.from('y'), metadata: '{}' }], {}, 'events[1].metadata'],
    ['a number msgId', [{ payload: Buffer.from('x'), msgId: 7 }], {}, 'events[0].msgId'],
    ['a null event', [null], {}, 'events[0]'],
    ['a number key', [{ payload: Buffer.from('x') }], { key: 5 }, 'options.key'],
    ['events not an array', { payload: Buffer.from('x') }, {}, 'events'],
  ];
  for (const [label, batch, options, field] of events) {
    await refusedWith(t, () => engine.appendEvents('s', batch as never, options as never), ErrorCodes.INVALID_FIELD, field, `appendEvents with ${label}`);
  }
  t.same((await engine.append('s', Buffer.from('good2'))).offset, 2, 'the stream still takes appends');
  await engine.close();
  const again = await openStore(dataDir);
  t.equal(again.recovery.afterCrash, false, 'the close was clean');
  t.same(again.read('s', 0).map((e) => e.payload.toString()), ['good0', 'good1', 'good2'], 'every good append is stored');
  await again.close();
});

t.test('reads, key reads, truncate, mark and eventStatuses refuse bad offsets, limits and options', async (t) => {
  const dataDir = tempDir(t, 'args-read');
  const engine = await openStore(dataDir);
  await engine.createStream('s');
  await engine.appendEvents('s', [{ payload: Buffer.from('a') }, { payload: Buffer.from('b') }], { key: 'k' });
  await engine.consume('s', 'c');
  const F = ErrorCodes.INVALID_FIELD;
  await refusedWith(t, () => engine.read('s', 1.5), F, 'fromOffset', 'read from 1.5');
  await refusedWith(t, () => engine.read('s', NaN), F, 'fromOffset', 'read from NaN');
  await refusedWith(t, () => engine.read('s', 0, { maxEvents: 0 }), F, 'limits.maxEvents', 'read maxEvents 0');
  await refusedWith(t, () => engine.read('s', 0, { maxBytes: -1 }), F, 'limits.maxBytes', 'read maxBytes -1');
  await refusedWith(t, () => engine.readBackward('s', 0.5), F, 'fromOffset', 'readBackward from 0.5');
  await refusedWith(t, () => engine.offsetAtTime('s', NaN), F, 'timeMs', 'offsetAtTime NaN');
  await refusedWith(t, () => engine.keyOffsets('s', 'k', 0, { direction: 'sideways' as never }), F, 'options.direction', 'keyOffsets sideways');
  await refusedWith(t, () => engine.keyEvents('s', 'k', 0, { limit: 0 }), F, 'options.limit', 'keyEvents limit 0');
  await refusedWith(t, () => engine.keyOffsets('s', 'k', 0.5), F, 'fromVersion', 'keyOffsets from 0.5');
  await refusedWith(t, () => engine.keyVersion('s', 5 as never), F, 'key', 'keyVersion of a number');
  await refusedWith(t, () => engine.truncate('s', 1.5), F, 'beforeOffset', 'truncate 1.5');
  await refusedWith(t, () => engine.mark('s', 'c', 0 as never, 1), F, 'offsets', 'mark of an offset not in an array');
  await refusedWith(t, () => engine.mark('s', 'c', [1.5], 1), F, 'offsets[0]', 'mark of 1.5');
  await refusedWith(t, () => engine.eventStatuses('s', 'c', ['0'] as never), F, 'offsets[0]', 'eventStatuses of a string');
  await refusedWith(t, () => engine.waitForEvents('s', 0, -1), F, 'timeoutMs', 'waitForEvents for -1 ms');
  await refusedWith(t, () => engine.snapshot(42 as never), F, 'parentDir', 'snapshot into a number');
  t.same(engine.stats('s').damage, [], 'no damage reported');
  t.same(engine.read('s', 0).map((e) => e.offset), [0, 1], 'the stream reads whole');
  t.same(engine.read('s', -1).map((e) => e.offset), [0, 1], 'an offset below the oldest is clamped, as documented');
  await engine.close();
  t.same(await reopened(dataDir), { afterCrash: false, damage: 0, consumers: ['s/c'] }, 'reopened: clean, no damage');
});

t.test('open refuses missing, empty, mistyped and out-of-range options with INVALID_FIELD naming them', async (t) => {
  const base = tempDir(t, 'args-open');
  const F = ErrorCodes.INVALID_FIELD;
  await refusedWith(t, () => (Engine.open as (o?: unknown) => Promise<Engine>)(), F, 'options', 'no options');
  await refusedWith(t, () => Engine.open({ dataDir: 42 as never }), F, 'dataDir', 'a number as dataDir');
  await refusedWith(t, () => Engine.open({ dataDir: '' }), F, 'dataDir', 'an empty dataDir (the working directory)');
  const bad: [Partial<EngineOptions> & Record<string, unknown>, string][] = [
    [{ retentionIntervalMs: -5 }, 'retentionIntervalMs'],
    [{ retentionIntervalMs: 2 ** 31 }, 'retentionIntervalMs'],
    [{ fsyncIntervalMs: 1.5 }, 'fsyncIntervalMs'],
    [{ maxStreams: Infinity }, 'maxStreams'],
    [{ maxOpenSegments: 2.5 }, 'maxOpenSegments'],
    [{ segmentSizeBytes: 4096.5 }, 'segmentSizeBytes'],
    [{ retention: { maxEvents: '5' as never } }, 'retention.maxEvents'],
    [{ consumers: { maxWaitMs: 2 ** 31 } }, 'consumers.maxWaitMs'],
    [{ consumers: { ackWaitMs: 0.5 } }, 'consumers.ackWaitMs'],
    [{ keyIndex: { idleFlushMs: -1 } }, 'keyIndex.idleFlushMs'],
    [{ create: 'yes' as never }, 'create'],
    [{ segmentSize: 4096 }, 'options.segmentSize'],
    [{ consumers: { ackWait: 5 } as never }, 'consumers.ackWait'],
    [{ io: {} as never }, 'io'],
    [{ logger: console.log as never }, 'logger'],
  ];
  for (const [options, field] of bad) {
    const dataDir = path.join(base, field.replace(/\W/g, '_'));
    await refusedWith(t, () => openStore(dataDir, options), F, field, `open with ${JSON.stringify(options)}`);
    t.notOk(fs.existsSync(dataDir), `${field}: nothing was created`);
  }
  fs.writeFileSync(path.join(base, 'a-file'), 'x');
  await refusedWith(t, () => openStore(path.join(base, 'a-file', 'sub')), ErrorCodes.NOT_A_STORE, null, 'a data directory under a file');
});

t.test('stream names that are not strings are INVALID_STREAM_NAME', async (t) => {
  const engine = await openStore(tempDir(t, 'args-names'));
  await refusedWith(t, () => engine.createStream(123 as never), ErrorCodes.INVALID_STREAM_NAME, null, 'createStream(123)');
  await refusedWith(t, () => engine.createStream(null as never), ErrorCodes.INVALID_STREAM_NAME, null, 'createStream(null)');
  await refusedWith(t, () => engine.append(7 as never, Buffer.from('x')), ErrorCodes.INVALID_STREAM_NAME, 'name', 'append to 7');
  await refusedWith(t, () => engine.stats({} as never), ErrorCodes.INVALID_STREAM_NAME, 'name', 'stats of an object');
  await engine.close();
});

t.test('every call after close is CLOSED', async (t) => {
  const engine = await openStore(tempDir(t, 'args-closed'));
  await engine.createStream('s');
  await engine.close();
  const calls: [string, () => unknown][] = [
    ['stats', () => engine.stats('s')],
    ['getStream', () => engine.getStream('s')],
    ['getStreamByNumber', () => engine.getStreamByNumber(1)],
    ['listStreams', () => engine.listStreams()],
    ['bounds', () => engine.bounds('s')],
    ['eventStatuses', () => engine.eventStatuses('s', 'c', [0])],
    ['keyIndexStats', () => engine.keyIndexStats('s')],
    ['waitForEvents', () => engine.waitForEvents('s', 0, 10)],
    ['applyRetention', () => engine.applyRetention()],
  ];
  for (const [label, call] of calls) await refusedWith(t, call, ErrorCodes.CLOSED, null, label);
  t.same(engine.writeRefusals().map((r) => r.code), [ErrorCodes.CLOSED], 'writeRefusals says the store is closed');
});

t.test('a datasync fault fires on the engine\'s inline fsyncs too, and fails the append and the stream', async (t) => {
  const io = new FaultyIO();
  const engine = await openStore(tempDir(t, 'args-datasync'), { io });
  await engine.createStream('s');
  await engine.append('s', Buffer.from('before'));
  const fault = io.inject({ op: 'datasync', errno: 'EIO', path: /\.log$/ });
  await refusedWith(t, () => engine.append('s', Buffer.from('t1')), ErrorCodes.IO_ERROR, null, 'the append whose fsync failed');
  t.equal(fault.fired, 1, 'the fault fired');
  await refusedWith(t, () => engine.append('s', Buffer.from('t2')), ErrorCodes.STREAM_FAILED, null, 'the next append');
  await engine.close().catch(() => {});
});

t.test('SimIO takes seededRandom as the other randomized tools do, and refuses anything else at once', async (t) => {
  const root = tempDir(t, 'args-sim');
  const sim = new SimIO({ root, random: seededRandom(7) });
  const engine = await openStore(path.join(root, 'data'), { io: sim });
  await engine.createStream('s');
  await engine.append('s', Buffer.from('x'));
  t.doesNotThrow(() => sim.crash('torn'), 'a torn crash with seededRandom(7)');
  await engine.close().catch(() => {});
  await refusedWith(t, () => new SimIO({ root, random: 5 as never }), ErrorCodes.INVALID_FIELD, 'options.random', 'a number as random source');
});

t.test('the crash checker refuses options that would check nothing or something else', async (t) => {
  let ran = 0;
  const scenario: CrashScenario<null> = { state: () => null, workload: async () => { ran += 1; }, invariant: () => {} };
  const bad: [CrashCheckOptions, string][] = [
    [{ sample: 0 }, 'options.sample'],
    [{ modes: ['bogus' as never] }, 'options.modes[0]'],
    [{ modes: [] }, 'options.modes'],
    [{ every: 0 }, 'options.every'],
    [{ maxPoints: 0 }, 'options.maxPoints'],
    [{ every: 2, sample: 5 }, 'options.sample'],
  ];
  for (const [options, field] of bad) {
    await refusedWith(t, () => checkCrashConsistency(scenario, { seed: 1, ...options }), ErrorCodes.INVALID_FIELD, field, JSON.stringify(options));
  }
  t.equal(ran, 0, 'no workload ran');
});

t.test('a move to the dead-letter stream that fails is shown in the consumer\'s stats', async (t) => {
  const engine = await openStore(tempDir(t, 'args-dlq'), { maxStreams: 2, consumers: { maxDeliveries: 1, ackWaitMs: 10 } });
  await engine.createStream('a');
  await engine.createStream('b');
  await engine.append('a', Buffer.from('x'));
  await engine.consume('a', 'w');
  await engine.mark('a', 'w', [0], 2);
  t.same((await engine.retry('a', 'w')).events, [], 'nothing is retried: the event is due for the dead-letter stream');
  const [consumer] = engine.stats('a').consumers;
  t.equal(consumer!.deadLetterFailure?.code, ErrorCodes.TOO_MANY_STREAMS, 'the stats say why it stays (maxStreams reached)');
  t.equal(consumer!.retry, 1, 'the event stays due');
  await engine.deleteStream('b');
  await engine.retry('a', 'w');
  t.equal(engine.stats('a').consumers[0]!.deadLetterFailure, null, 'cleared once a move succeeds');
  t.equal(engine.stats('a').consumers[0]!.deadLettered, 1, 'the event was dead-lettered');
  await engine.close();
});

t.test('an append called before deleteStream (in the same turn or a microtask later) is stored, then deleted', async (t) => {
  const engine = await openStore(tempDir(t, 'args-delete'));
  for (const gap of ['sync', 'microtask']) {
    await engine.createStream('del');
    await engine.append('del', Buffer.from('first'));
    const appended = engine.append('del', Buffer.from('x'));
    if (gap === 'microtask') await Promise.resolve();
    const deleted = engine.deleteStream('del');
    t.equal((await appended).offset, 1, `${gap}: the append resolves`);
    await deleted;
    t.equal(engine.getStream('del'), undefined, `${gap}: the stream is deleted`);
  }
  await engine.createStream('del');
  const deleted = engine.deleteStream('del');
  const late = engine.append('del', Buffer.from('late')).then(() => 'stored', (error: { code: string }) => error.code);
  await deleted;
  t.equal(await late, ErrorCodes.STREAM_NOT_FOUND, 'an append called after deleteStream finds no stream');
  await engine.close();
});
