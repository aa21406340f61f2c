/**
 * Moves to the dead-letter stream: every event can be moved (one as large as the store takes
 * included), a move that fails holds up neither the consumer's other due events nor a client
 * looping on `more`, and a move made again after a crash stores its record once.
 */
import t, { type Test } from 'tap';
import { Engine, type EngineOptions } from '../../src/storage/index.js';
import { FaultyIO } from 'eventbus/storage/testing';
import { tempDir } from '../helpers/temp-dir.js';

async function openWith(t: Test, options: Partial<EngineOptions> = {}): Promise<Engine> {
  const engine = await Engine.open({ dataDir: tempDir(t, 'dead-letters'), retentionIntervalMs: 0, ...options });
  t.teardown(() => engine.close().catch(() => {}));
  return engine;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The dead-letter records of `stream`, parsed. */
function deadLetters(engine: Engine, stream: string): Record<string, unknown>[] {
  if (engine.getStream(`$dlq:${stream}`) === undefined) return [];
  return engine.read(`$dlq:${stream}`, 0, { maxEvents: 10_000, maxBytes: 64 * 1024 * 1024 }).map((e) => JSON.parse(e.payload.toString()) as Record<string, unknown>);
}

t.test('an event as large as the store takes is dead-lettered without its body; the events due with it too', async (t) => {
  const engine = await openWith(t, { consumers: { ackWaitMs: 50, maxDeliveries: 1 } });
  await engine.createStream('s');
  // A JSON string of 1,048,566 bytes: under the 1 MiB limit, but not once wrapped in a record.
  const big = Buffer.from(`"${'x'.repeat(1_048_564)}"`);
  await engine.append('s', big);
  t.same((await engine.consume('s', 'c', {})).events.map((e) => e.offset), [0]);
  await sleep(80);
  const first = await engine.retry('s', 'c', {});
  t.same([first.events, first.more], [[], false], 'moved, nothing left due');
  await engine.appendMany('s', [Buffer.from('1'), Buffer.from('2'), Buffer.from('3')]);
  t.same((await engine.consume('s', 'c', {})).events.map((e) => e.offset), [1, 2, 3]);
  await sleep(80);
  t.same(await engine.retry('s', 'c', {}), { events: [], more: false });
  const stats = engine.stats('s').consumers[0]!;
  t.same([stats.deadLettered, stats.pending, stats.retry, stats.deadLetterFailure], [4, 0, 0, null]);
  const records = deadLetters(engine, 's');
  t.same(records.map((r) => r.offset), [0, 1, 2, 3], 'every one moved, once');
  t.match(records[0], { stream: 's', offset: 0, consumer: 'c', delivery_count: 1, body_omitted: true, body_bytes: big.length });
  t.notOk('body' in records[0]!, 'no body');
  t.same(records.slice(1).map((r) => r.body), [1, 2, 3], 'small events keep their bodies');
  t.ok(engine.read('$dlq:s', 0, { maxEvents: 1 })[0]!.payload.length <= 1024 * 1024, 'the record is within max_event_bytes');
  t.same(engine.read('s', 0, { maxEvents: 1, maxBytes: 1 })[0]!.payload, big, 'the original stays readable by offset');
});

t.test('a body that fits as JSON but not as base64 is left out; a record that fits keeps its body', async (t) => {
  const engine = await openWith(t, { maxEventBytes: 4096, consumers: { ackWaitMs: 0, maxDeliveries: 1 } });
  await engine.createStream('s');
  await engine.appendMany('s', [Buffer.alloc(3500, 0xff), Buffer.alloc(100, 0xfe), Buffer.from(`"${'y'.repeat(3000)}"`)]);
  await engine.consume('s', 'c', {});
  await engine.retry('s', 'c', {});
  const records = deadLetters(engine, 's');
  t.match(records, [
    { offset: 0, body_omitted: true, body_bytes: 3500 },
    { offset: 1, body_base64: Buffer.alloc(100, 0xfe).toString('base64') },
    { offset: 2, body: 'y'.repeat(3000) },
  ]);
});

t.test('with a tiny max_event_bytes, even a record without its body is written', async (t) => {
  const engine = await openWith(t, { maxEventBytes: 16, consumers: { ackWaitMs: 0, maxDeliveries: 1 } });
  await engine.createStream('s');
  await engine.append('s', Buffer.from('"sixteen bytes!"'));
  await engine.consume('s', 'c', {});
  t.same(await engine.retry('s', 'c', {}), { events: [], more: false });
  t.match(deadLetters(engine, 's'), [{ offset: 0, body_omitted: true, body_bytes: 16 }]);
  t.equal(engine.stats('s').consumers[0]!.deadLettered, 1);
});

t.test('while moves fail, the other due events are delivered and more is false once nothing can be', async (t) => {
  // No room for the $dlq: stream: every move fails with TOO_MANY_STREAMS.
  const engine = await openWith(t, { maxStreams: 1, consumers: { ackWaitMs: 50, maxDeliveries: 2 } });
  await engine.createStream('s');
  await engine.appendMany('s', [0, 1, 2, 3].map((i) => Buffer.from(String(i))));
  t.same((await engine.consume('s', 'c', { maxEvents: 2 })).events.map((e) => e.offset), [0, 1]);
  await sleep(80);
  t.same((await engine.retry('s', 'c', {})).events.map((e) => [e.offset, e.deliveryCount]), [[0, 2], [1, 2]], 'second deliveries');
  t.same((await engine.consume('s', 'c', { maxEvents: 2 })).events.map((e) => e.offset), [2, 3]);
  await sleep(80);
  // 0 and 1 are due first, and their moves fail: 2 and 3 are still delivered.
  const due = await engine.retry('s', 'c', { maxEvents: 2 });
  t.same(due.events.map((e) => [e.offset, e.deliveryCount]), [[2, 2], [3, 2]], 'the events behind the failed moves');
  t.match(engine.stats('s').consumers[0]!.deadLetterFailure, { code: 'TOO_MANY_STREAMS' });
  await engine.mark('s', 'c', [2, 3], 1);
  for (let i = 0; i < 3; i++) t.same(await engine.retry('s', 'c', {}), { events: [], more: false }, 'nothing can be delivered: more is false');
  // A redelivery (mark 0) whose move fails: process_events does not claim more either.
  await engine.append('s', Buffer.from('4'));
  t.same((await engine.consume('s', 'c', {})).events.map((e) => e.offset), [4]);
  await sleep(80);
  t.same((await engine.retry('s', 'c', {})).events.map((e) => e.offset), [4]);
  await engine.mark('s', 'c', [4], 0);
  t.same(await engine.consume('s', 'c', {}), { events: [], more: false });
  const stats = engine.stats('s').consumers[0]!;
  t.same([stats.deadLettered, stats.retry + stats.pending], [0, 3], '0, 1 and 4 stay outstanding');
});

t.test('a move made again after the journal lost its record stores each record once', async (t) => {
  const dataDir = tempDir(t, 'dead-letter-again');
  const io = new FaultyIO();
  const options = { dataDir, retentionIntervalMs: 0, consumers: { ackWaitMs: 0, maxDeliveries: 1 } };
  let engine = await Engine.open({ ...options, io });
  await engine.createStream('s');
  await engine.appendMany('s', [0, 1, 2].map((i) => Buffer.from(String(i))));
  t.same((await engine.consume('s', 'c', {})).events.map((e) => e.offset), [0, 1, 2]);
  // The record of offset 0 is written, the consumer's journal entry of the move never is (as when
  // a kill -9 comes between them).
  io.inject({ op: 'writev', errno: 'EIO', path: /consumers$/, persistent: true });
  await t.rejects(engine.retry('s', 'c', { maxEvents: 1 }), { code: 'IO_ERROR' });
  t.same(deadLetters(engine, 's').map((r) => r.offset), [0], 'the record is stored');
  await engine.close().catch(() => {});
  engine = await Engine.open(options);
  t.teardown(() => engine.close());
  t.same(engine.stats('s').consumers[0]!.deadLettered, 0, 'the journal does not know of the move');
  // The move of 0 is made again, together with the first moves of 1 and 2.
  t.same(await engine.retry('s', 'c', {}), { events: [], more: false });
  t.same(deadLetters(engine, 's').map((r) => r.offset), [0, 1, 2], 'each offset once');
  t.equal(engine.stats('s').consumers[0]!.deadLettered, 3, 'dead_lettered agrees with the records');
  t.match(engine.read('$dlq:s', 0).map((e) => e.attributes?.msgId), [/^dlq:/, /^dlq:/, /^dlq:/]);
});

t.test('the moves of two streams of the same name (one deleted) do not collide', async (t) => {
  const engine = await openWith(t, { consumers: { ackWaitMs: 0, maxDeliveries: 1 } });
  for (let round = 0; round < 2; round++) {
    if (round === 1) await engine.deleteStream('s');
    await engine.createStream('s');
    await engine.append('s', Buffer.from(String(round)));
    await engine.consume('s', 'c', {});
    await engine.retry('s', 'c', {});
  }
  t.same(deadLetters(engine, 's').map((r) => [r.offset, r.body]), [[0, 0], [0, 1]], 'one record per stream');
});
