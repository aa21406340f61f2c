/**
 * Event sourcing in the engine (Engine.appendEvents, issue 12): writers racing on one key, the
 * duplicate window (across a restart, its bounds), the exact rule with an integer expected
 * version, and the key index (runs, merges, reopen, a damaged run rebuilt, bounded memory).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ErrorCodes, isEventBusError, nodeIO, verifyDirectory, type Engine } from '../../src/storage/index.js';
import { openEngine, readAll, recordPositions, segmentFiles, simulateCrash, sleep, streamDir } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

const body = (text: string) => Buffer.from(JSON.stringify(text));

t.test('8 writers race on one key with the same expected version: exactly one wins each version, gap-free', async (t) => {
  const engine = await openEngine(tempDir(t, 'race'), { fsync: 'always' });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const wins = new Map<number, number>();
  let refused = 0;
  const writer = async (w: number) => {
    let appended = 0;
    while (appended < 25) {
      const { version } = engine.keyVersion('s', 'order-1');
      // Everyone yields first, so the writers meet at the same expected version.
      await new Promise((resolve) => setImmediate(resolve));
      try {
        const r = await engine.appendEvents('s', [{ payload: body(`w${w}-${appended}`) }, { payload: body(`w${w}-${appended}b`) }], { key: 'order-1', expectedVersion: version });
        wins.set(version, (wins.get(version) ?? 0) + 1);
        appended += 1;
        if (r.events[0]!.version !== version + 1) throw new Error(`won at ${version} but got version ${r.events[0]!.version}`);
      } catch (error) {
        if (!isEventBusError(error, ErrorCodes.WRONG_EXPECTED_VERSION)) throw error;
        refused += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, w) => writer(w)));
  t.ok([...wins.values()].every((n) => n === 1), 'never two winners at one version');
  t.ok(refused > 100, `the writers met: ${refused} appends refused with WRONG_EXPECTED_VERSION`);
  const events = readAll(engine, 's');
  t.equal(events.length, 8 * 25 * 2);
  t.same(events.map((e) => e.attributes!.version), events.map((_, i) => i), 'versions 0, 1, 2, … in offset order');
  // A batch stays together: the second event of each follows its first.
  for (let i = 0; i < events.length; i += 2) t.equal(events[i + 1]!.payload.toString(), events[i]!.payload.toString().replace(/"$/, 'b"'));
});

t.test('duplicates are recognised across a restart and a crash, answered with the original events', async (t) => {
  const dataDir = tempDir(t, 'dups');
  let engine = await openEngine(dataDir, { fsync: 'always' });
  await engine.createStream('s');
  const batch = [{ payload: body('a'), msgId: 'm1' }, { payload: body('b'), msgId: 'm2', type: 'T' }];
  const first = await engine.appendEvents('s', batch, { key: 'k' });
  await engine.appendEvents('s', [{ payload: body('c'), msgId: 'other' }]);
  await engine.close();
  engine = await openEngine(dataDir, { fsync: 'always' });
  let again = await engine.appendEvents('s', batch, { key: 'k' });
  t.same([again.duplicate, again.events, again.nextExpectedVersion], [true, first.events, 1], 'after a clean restart');
  simulateCrash(dataDir);
  await engine.close();
  simulateCrash(dataDir);
  engine = await openEngine(dataDir, { fsync: 'always' });
  t.teardown(() => engine.close());
  again = await engine.appendEvents('s', batch, { key: 'k' });
  t.same([again.duplicate, again.events], [true, first.events], 'after a crash');
  // The same ids with another key are not a repeat of that batch.
  await t.rejects(engine.appendEvents('s', batch, { key: 'other' }), { code: 'IDEMPOTENCY_CONFLICT' });
  // Some seen, some not: a conflict, nothing appended.
  await t.rejects(engine.appendEvents('s', [{ payload: body('x'), msgId: 'm1' }, { payload: body('y'), msgId: 'new' }], { key: 'k' }), { code: 'IDEMPOTENCY_CONFLICT' });
  t.equal(engine.stats('s').nextOffset, 3, 'nothing was appended twice');
});

t.test('the duplicate window is bounded by count and by time; past it an id is appended again', async (t) => {
  const engine = await openEngine(tempDir(t, 'window'), { fsync: 'never', duplicateWindowEvents: 3, maxBatchEvents: 3, duplicateWindowMs: 1_000 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  for (const id of ['a', 'b', 'c', 'd']) await engine.appendEvents('s', [{ payload: body(id), msgId: id }]);
  t.equal((await engine.appendEvents('s', [{ payload: body('d'), msgId: 'd' }])).duplicate, true, 'a recent id is a duplicate');
  t.equal((await engine.appendEvents('s', [{ payload: body('a'), msgId: 'a' }])).duplicate, false, 'the oldest id left the window (count bound)');
  await sleep(1_100);
  t.equal((await engine.appendEvents('s', [{ payload: body('d'), msgId: 'd' }])).duplicate, false, 'an id older than the window is appended again (time bound)');
});

t.test('a window of exactly max_batch_events ids recognises a full batch sent again (a smaller one is refused at open)', async (t) => {
  const engine = await openEngine(tempDir(t, 'window-batch'), { fsync: 'never', duplicateWindowEvents: 8, maxBatchEvents: 8 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const batch = Array.from({ length: 8 }, (_, i) => ({ payload: body(String(i)), msgId: `b${i}` }));
  const first = await engine.appendEvents('s', batch);
  const again = await engine.appendEvents('s', batch);
  t.same([again.duplicate, again.events], [true, first.events]);
});

t.test('the exact rule with an integer expected version: no window needed', async (t) => {
  const engine = await openEngine(tempDir(t, 'exact'), { fsync: 'never', duplicateWindowMs: 0 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  await engine.appendEvents('s', [{ payload: body('0') }, { payload: body('1') }], { key: 'k', expectedVersion: 'no_stream' });
  const batch = [{ payload: body('2'), msgId: 'x2' }, { payload: body('3'), msgId: 'x3' }];
  const first = await engine.appendEvents('s', batch, { key: 'k', expectedVersion: 1 });
  t.same(first.events.map((e) => e.version), [2, 3]);
  const again = await engine.appendEvents('s', batch, { key: 'k', expectedVersion: 1 });
  t.same([again.duplicate, again.events], [true, first.events], 'the same batch at the same expected version is a duplicate, with the window off');
  // Only the first of the batch was appended after version 1: a prefix is a repeat of a smaller batch.
  const prefix = await engine.appendEvents('s', [batch[0]!], { key: 'k', expectedVersion: 1 });
  t.same([prefix.duplicate, prefix.events], [true, [first.events[0]]]);
  await t.rejects(engine.appendEvents('s', [batch[0]!, { payload: body('z'), msgId: 'z' }], { key: 'k', expectedVersion: 1 }), { code: 'IDEMPOTENCY_CONFLICT' });
  await t.rejects(engine.appendEvents('s', [{ payload: body('n'), msgId: 'n' }], { key: 'k', expectedVersion: 1 }), { code: 'WRONG_EXPECTED_VERSION', context: { expected: 1, actual: 3 } });
  await t.rejects(engine.appendEvents('s', [{ payload: body('n') }], { key: 'k', expectedVersion: 1 }), { code: 'WRONG_EXPECTED_VERSION' }, 'without msg_ids a mismatch is a mismatch');
  await t.rejects(engine.appendEvents('s', [{ payload: body('n'), msgId: 'n' }], { key: 'k', expectedVersion: 9 }), { code: 'WRONG_EXPECTED_VERSION', context: { expected: 9, actual: 3 } });
  // Without a key: the events after offset N.
  const keyless = await engine.appendEvents('s', [{ payload: body('4'), msgId: 'y4' }], { expectedVersion: 3 });
  t.equal(keyless.events[0]!.offset, 4);
  t.same((await engine.appendEvents('s', [{ payload: body('4'), msgId: 'y4' }], { expectedVersion: 3 })).duplicate, true);
  t.equal(engine.stats('s').nextOffset, 5);
});

t.test('the key index: runs and merges, reopen and crash, a damaged run rebuilt, every key right', async (t) => {
  const dataDir = tempDir(t, 'keys');
  const options = { fsync: 'never' as const, segmentSizeBytes: 64 * 1024, keyIndex: { flushEvents: 64, memtableEvents: 256 } };
  let engine: Engine = await openEngine(dataDir, options);
  await engine.createStream('s');
  const model = new Map<string, number[]>();
  let offset = 0;
  for (let round = 0; round < 60; round++) {
    const key = `key-${(round * 7919) % 97}`;
    const n = 1 + (round % 9);
    const r = await engine.appendEvents('s', Array.from({ length: n }, (_, i) => ({ payload: body(`${round}.${i}`) })), { key });
    const offsets = model.get(key) ?? [];
    t.equal(r.events[0]!.version, offsets.length, `${key} continues at its next version`);
    for (const e of r.events) offsets.push(e.offset);
    model.set(key, offsets);
    offset += n;
    if (round % 10 === 0) for (let i = 0; i < 100; i++) await engine.append('s', body('keyless'));
  }
  await engine.keyIndexIdle();
  const stats = engine.keyIndexStats('s');
  t.ok(stats.runs >= 1 && stats.runEntries > 0, `runs written (${JSON.stringify(stats)})`);
  const checkAll = (label: string) => {
    for (const [key, offsets] of model) {
      const { version, offset: last } = engine.keyVersion('s', key);
      if (version !== offsets.length - 1 || last !== offsets[offsets.length - 1]) t.fail(`${label}: ${key} at ${version}/${last}, expected ${offsets.length - 1}/${offsets.at(-1)}`);
    }
    t.same(engine.keyVersion('s', 'never-written'), { version: -1, offset: -1 }, `${label}: an unknown key has no version`);
    // Offsets of a key from a version, forwards and backwards (what reads by key build on).
    const [someKey, someOffsets] = [...model].find(([, offsets]) => offsets.length >= 8)!;
    t.same(engine.keyOffsets('s', someKey, 2, { limit: 5 }), someOffsets.slice(2, 7).map((offset, i) => ({ version: 2 + i, offset })), `${label}: offsets forwards`);
    t.same(engine.keyOffsets('s', someKey, 7, { direction: 'backward', limit: 4 }), someOffsets.slice(4, 8).map((offset, i) => ({ version: 4 + i, offset })).reverse(), `${label}: offsets backwards`);
    t.same(engine.keyOffsets('s', someKey, 0, { limit: 100_000 }).map((e) => e.offset), someOffsets, `${label}: every offset of a key`);
    t.same(engine.keyOffsets('s', 'never-written', 0), [], `${label}: none for an unknown key`);
    t.pass(`${label}: every key's newest version and offset right`);
  };
  checkAll('live');
  await engine.close();
  engine = await openEngine(dataDir, options);
  checkAll('after a clean reopen');
  await engine.close();
  // Damage a run: it is removed and rebuilt from the log.
  const dir = path.join(dataDir, 'streams', fs.readdirSync(path.join(dataDir, 'streams'))[0]!);
  const run = fs.readdirSync(dir).filter((f) => f.endsWith('.run')).sort()[0]!;
  const bytes = fs.readFileSync(path.join(dir, run));
  t.same(verifyDirectory(nodeIO, dataDir).problems, [], 'verify checks the runs and finds them sound');
  bytes[100] ^= 0xff;
  fs.writeFileSync(path.join(dir, run), bytes);
  const report = verifyDirectory(nodeIO, dataDir);
  t.match(report.problems, [{ file: path.join(dir, run), message: /key index run block 0 fails its checksum/ }], 'verify finds the damaged run');
  simulateCrash(dataDir);
  engine = await openEngine(dataDir, options);
  t.teardown(() => engine.close());
  checkAll('after a crash, with a damaged run');
  t.equal(streamDir(engine, 's'), dir);
  // Expected versions continue from the index.
  const [key, offsets] = [...model][0]!;
  await engine.appendEvents('s', [{ payload: body('next') }], { key, expectedVersion: offsets.length - 1 });
  t.equal(engine.keyVersion('s', key).version, offsets.length);
});

t.test('the key index stays within its memory bound with many keys', async (t) => {
  const cacheBytes = 256 * 1024;
  const engine = await openEngine(tempDir(t, 'bound'), { fsync: 'never', segmentSizeBytes: 4 * 1024 * 1024, keyIndex: { cacheBytes, flushEvents: 1024, memtableEvents: 4096 } });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const keys = 20_000;
  for (let k = 0; k < keys; k += 100) {
    await Promise.all(Array.from({ length: 100 }, (_, i) => engine.appendEvents('s', [{ payload: body('e') }], { key: `customer-${k + i}` })));
  }
  await engine.keyIndexIdle();
  const stats = engine.keyIndexStats('s');
  t.ok(stats.cacheBytes <= cacheBytes, `the cache holds ${stats.cacheBytes} bytes, at most ${cacheBytes}`);
  t.ok(stats.cachedKeys < keys, `${stats.cachedKeys} of ${keys} keys cached`);
  t.ok(stats.memtableEntries <= 4096, `${stats.memtableEntries} entries in the memtable`);
  t.ok(stats.storeMemoryBytes < cacheBytes + 1024 * 1024, `the index holds ${stats.storeMemoryBytes} bytes in memory for ${keys} keys`);
  // Every key still answers (from runs, past the cache).
  t.same(engine.keyVersion('s', 'customer-0'), { version: 0, offset: engine.keyVersion('s', 'customer-0').offset });
  t.equal(engine.keyVersion('s', 'customer-12345').version, 0);
  await engine.appendEvents('s', [{ payload: body('e') }], { key: 'customer-7', expectedVersion: 0 });
  t.equal(engine.keyVersion('s', 'customer-7').version, 1);
});

t.test('an integer expected version the key is at still meets the window: a msg_id in it is never stored twice', async (t) => {
  const engine = await openEngine(tempDir(t, 'at-n'), { fsync: 'never' });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  // A client lost the reply to [f], read the aggregate (version 0) and retried expecting it.
  const first = await engine.appendEvents('s', [{ payload: body('F'), msgId: 'f' }], { key: 'K' });
  const retried = await engine.appendEvents('s', [{ payload: body('G'), msgId: 'f' }], { key: 'K', expectedVersion: 0 });
  t.same([retried.duplicate, retried.events, retried.nextExpectedVersion], [true, first.events, 0], 'a duplicate, answered with the original');
  await t.rejects(engine.appendEvents('s', [{ payload: body('G'), msgId: 'f' }, { payload: body('H'), msgId: 'h' }], { key: 'K', expectedVersion: 0 }), {
    code: 'IDEMPOTENCY_CONFLICT', context: { msg_ids: ['f'] },
  });
  // Without a key: the stream's last offset.
  await engine.createStream('keyless');
  const plain = await engine.appendEvents('keyless', [{ payload: body('F'), msgId: 'f' }]);
  const again = await engine.appendEvents('keyless', [{ payload: body('G'), msgId: 'f' }], { expectedVersion: 0 });
  t.same([again.duplicate, again.events], [true, plain.events]);
  t.same([engine.stats('s').nextOffset, engine.stats('keyless').nextOffset], [1, 1], 'nothing stored twice');
});

t.test('-1 and no_stream get the exact rule from the first version, without the window', async (t) => {
  const engine = await openEngine(tempDir(t, 'exact-none'), { fsync: 'never', duplicateWindowMs: 0 });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const batch = [{ payload: body('a'), msgId: 'a' }, { payload: body('b'), msgId: 'b' }];
  const first = await engine.appendEvents('s', batch, { key: 'K', expectedVersion: -1 });
  for (const expectedVersion of [-1, 'no_stream'] as const) {
    const again = await engine.appendEvents('s', batch, { key: 'K', expectedVersion });
    t.same([again.duplicate, again.events, again.nextExpectedVersion], [true, first.events, 1], `keyed, expected ${expectedVersion}`);
  }
  await t.rejects(engine.appendEvents('s', [{ payload: body('x'), msgId: 'x' }], { key: 'K', expectedVersion: 'no_stream' }), { code: 'WRONG_EXPECTED_VERSION', context: { expected: 'no_stream', actual: 1 } });
  await t.rejects(engine.appendEvents('s', [{ payload: body('x'), msgId: 'x' }], { key: 'K', expectedVersion: -1 }), { code: 'WRONG_EXPECTED_VERSION', context: { expected: -1, actual: 1 } });
  await engine.createStream('keyless');
  const plain = await engine.appendEvents('keyless', batch, { expectedVersion: 'no_stream' });
  const again = await engine.appendEvents('keyless', batch, { expectedVersion: -1 });
  t.same([again.duplicate, again.events, again.nextExpectedVersion], [true, plain.events, 1], 'keyless');
  t.same([engine.stats('s').nextOffset, engine.stats('keyless').nextOffset], [2, 2], 'nothing stored twice');
});

t.test('the exact rule without a key: events of another key are not a repeat', async (t) => {
  const engine = await openEngine(tempDir(t, 'exact-key'), { fsync: 'never' });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  await engine.appendEvents('s', [{ payload: body('0') }]);
  await engine.appendEvents('s', [{ payload: body('c'), msgId: 'c' }], { key: 'other' });
  await t.rejects(engine.appendEvents('s', [{ payload: body('c'), msgId: 'c' }], { expectedVersion: 0 }), {
    code: 'IDEMPOTENCY_CONFLICT', reason: /another key/, context: { msg_ids: ['c'] },
  });
  t.equal(engine.stats('s').nextOffset, 2);
});

t.test('a duplicate is the same batch in the same order; a conflict lists only the ids seen', async (t) => {
  const engine = await openEngine(tempDir(t, 'order'), { fsync: 'never' });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const ab = await engine.appendEvents('s', [{ payload: body('a'), msgId: 'a' }, { payload: body('b'), msgId: 'b' }], { key: 'X' });
  await engine.appendEvents('s', [{ payload: body('c'), msgId: 'c' }], { key: 'X' });
  await t.rejects(engine.appendEvents('s', [{ payload: body('b'), msgId: 'b' }, { payload: body('a'), msgId: 'a' }], { key: 'X' }), {
    code: 'IDEMPOTENCY_CONFLICT', reason: /in another order/, context: { msg_ids: ['b', 'a'] },
  });
  await t.rejects(engine.appendEvents('s', [{ payload: body('a'), msgId: 'a' }, { payload: body('c'), msgId: 'c' }], { key: 'X' }), { code: 'IDEMPOTENCY_CONFLICT', reason: /not as one batch/ });
  const again = await engine.appendEvents('s', [{ payload: body('a'), msgId: 'a' }, { payload: body('b'), msgId: 'b' }], { key: 'X' });
  t.same([again.duplicate, again.events.map((e) => [e.offset, e.version]), again.nextExpectedVersion], [true, [[0, 0], [1, 1]], 1],
    'the original batch, its last version as the next expected one');
  t.same(again.events, ab.events);
  // The exact rule: after version 0 come b and c; z was never appended.
  await t.rejects(engine.appendEvents('s', [{ payload: body('b'), msgId: 'b' }, { payload: body('z'), msgId: 'z' }], { key: 'X', expectedVersion: 0 }), {
    code: 'IDEMPOTENCY_CONFLICT', context: { msg_ids: ['b'] },
  });
  t.equal(engine.stats('s').nextOffset, 3, 'nothing appended');
});

t.test('a batch with some events without a msg_id is never a duplicate, and the conflict says why', async (t) => {
  const engine = await openEngine(tempDir(t, 'no-id'), { fsync: 'never' });
  t.teardown(() => engine.close());
  await engine.createStream('s');
  const batch = [{ payload: body('1'), msgId: 'a' }, { payload: body('2') }];
  await engine.appendEvents('s', batch);
  await t.rejects(engine.appendEvents('s', batch), {
    code: 'IDEMPOTENCY_CONFLICT',
    reason: "1 of the batch's 2 events was appended before (by msg_id); 1 event without a msg_id cannot be recognised as appended before",
    context: { msg_ids: ['a'] },
  });
  await t.rejects(engine.appendEvents('s', batch, { expectedVersion: -1 }), { code: 'IDEMPOTENCY_CONFLICT', reason: /without a msg_id/, context: { msg_ids: ['a'] } });
  t.equal(engine.stats('s').nextOffset, 2);
});

t.test('a batch without its last record after a clean stop is damage that no read returns part of', async (t) => {
  const dataDir = tempDir(t, 'cut-batch');
  let engine = await openEngine(dataDir, { fsync: 'always', segmentSizeBytes: 1024 * 1024 });
  await engine.createStream('s');
  await engine.appendEvents('s', [{ payload: body('first') }]);
  await engine.appendEvents('s', [{ payload: body('a') }, { payload: body('b') }, { payload: body('c') }], { key: 'K' });
  const dir = streamDir(engine, 's');
  await engine.close();
  // Cut the batch's last record (the one ending it) off the log: the store was closed cleanly.
  const log = segmentFiles(dir)[0]!.log;
  const records = recordPositions(log);
  t.equal(records.length, 4);
  fs.truncateSync(log, records[3]!.position);
  const report = await verifyDirectory(nodeIO, dataDir);
  t.ok(report.problems.some((p) => /offsets 1 to 3 are damaged: records missing after a clean stop \(its index lists 4 records, the log holds 3\), at offset 3 of a batch from offset 1/.test(p.message)), JSON.stringify(report.problems));
  engine = await openEngine(dataDir, { fsync: 'always', segmentSizeBytes: 1024 * 1024 });
  t.teardown(() => engine.close());
  t.match(engine.stats('s').damage, [{ firstOffset: 1, lastOffset: 3 }], 'the whole batch is damage, its lost end included');
  t.same(engine.read('s', 0, { maxEvents: 10 }).map((e) => e.offset), [0], 'a read from before it stops short of it');
  for (const offset of [1, 2, 3]) t.throws(() => engine.read('s', offset, { maxEvents: 10 }), { code: 'CORRUPT_DATA' }, `offset ${offset} is not returned`);
  t.throws(() => engine.readBackward('s', 3, { maxEvents: 10 }), { code: 'CORRUPT_DATA' }, 'nor read backward');
  // A consumer is delivered the events around it; the damaged ones go to its dead letters.
  const delivered = await engine.consume('s', 'c', { maxEvents: 10, autoAck: true });
  const more = await engine.consume('s', 'c', { maxEvents: 10, autoAck: true });
  t.same([...delivered.events, ...more.events].map((e) => e.offset), [0], 'never part of the batch');
  t.match(engine.stats('s').consumers, [{ name: 'c', deadLettered: 3 }], 'the damaged offsets were dead-lettered');
  // Appends go on after every offset the store had given, in a new segment: none is given twice.
  const next = await engine.appendEvents('s', [{ payload: body('d') }]);
  t.equal(next.events[0]!.offset, 4);
  t.same(engine.read('s', 4, { maxEvents: 10 }).map((e) => e.offset), [4]);
  t.equal(segmentFiles(dir).length, 2, 'the damaged segment is kept as it is; the append went to a new one');
});
