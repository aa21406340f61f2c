/**
 * Consumer delivery semantics on the engine: independence of consumers, no duplicates among
 * concurrent workers, what marks 1/2/0 do, ack deadlines, dead letters, limits, long-poll.
 */
import t, { type Test } from 'tap';
import { Engine, type EngineOptions } from '../../src/storage/index.js';
import { decodeEventId } from '../../src/storage/format/event-id.js';
import { tempDir } from '../helpers/temp-dir.js';
import { until } from '../helpers/until.js';

async function openWith(t: Test, options: Partial<EngineOptions> = {}): Promise<Engine> {
  const engine = await Engine.open({ dataDir: tempDir(t, 'consumers'), ...options });
  t.teardown(() => engine.close());
  return engine;
}

async function fill(engine: Engine, stream: string, count: number): Promise<void> {
  await engine.createStream(stream);
  await engine.appendMany(stream, Array.from({ length: count }, (_, i) => Buffer.from(JSON.stringify({ n: i }))));
}

t.test('two consumers of one stream each see every event once, in order', async (t) => {
  const engine = await openWith(t);
  await fill(engine, 's', 250);
  for (const consumer of ['a', 'b']) {
    const seen: number[] = [];
    for (;;) {
      const { events, more } = await engine.consume('s', consumer, { maxEvents: 40, autoAck: false });
      seen.push(...events.map((e) => e.offset));
      await engine.mark('s', consumer, events.map((e) => e.offset), 1);
      if (!more) break;
    }
    t.same(seen, Array.from({ length: 250 }, (_, i) => i), `consumer ${consumer} saw 0..249 once each`);
  }
  const stats = engine.stats('s').consumers;
  t.same(stats.map((c) => [c.name, c.cursor, c.ackFloor, c.pending, c.lag]), [['a', 250, 250, 0, 0], ['b', 250, 250, 0, 0]]);
});

t.test('four concurrent workers on one consumer split the events with no duplicates and no gaps', async (t) => {
  const engine = await openWith(t, { consumers: { maxPending: 100_000 } });
  await engine.createStream('s');
  const total = 2000;
  const writer = (async () => {
    for (let i = 0; i < total; i += 50) {
      await engine.appendMany('s', Array.from({ length: 50 }, (_, j) => Buffer.from(String(i + j))));
    }
  })();
  const received: number[][] = [[], [], [], []];
  const worker = async (id: number) => {
    let idle = 0;
    while (idle < 3) {
      const { events } = await engine.consume('s', 'workers', { maxEvents: 7, waitMs: 50 });
      if (events.length === 0) idle += 1;
      else idle = 0;
      received[id]!.push(...events.map((e) => e.offset));
      if (events.length > 0) await engine.mark('s', 'workers', events.map((e) => e.offset), 1);
    }
  };
  await Promise.all([writer, ...received.map((_, id) => worker(id))]);
  const all = received.flat().sort((a, b) => a - b);
  t.equal(all.length, total, 'every event delivered');
  t.same(all, Array.from({ length: total }, (_, i) => i), 'no duplicates, no gaps');
  t.ok(received.filter((r) => r.length > 0).length >= 2, 'the work was shared');
});

t.test('mark 1 acknowledges, 2 sends to retry, 0 sends back to process', async (t) => {
  const engine = await openWith(t);
  await fill(engine, 's', 6);
  const first = await engine.consume('s', 'c', { maxEvents: 6 });
  t.same(first.events.map((e) => [e.offset, e.status, e.deliveryCount]), [[0, 0, 1], [1, 0, 1], [2, 0, 1], [3, 0, 1], [4, 0, 1], [5, 0, 1]]);
  t.equal(first.more, false);
  await engine.mark('s', 'c', [0, 1], 1);
  await engine.mark('s', 'c', [2, 3], 2);
  await engine.mark('s', 'c', [4], 0);

  const statuses = engine.eventStatuses('s', 'c', [0, 1, 2, 3, 4, 5]);
  t.same(statuses.map((s) => s.status), [1, 1, 2, 2, 0, 0], 'get_stream_events statuses follow the marks');

  const again = await engine.consume('s', 'c', {});
  t.same(again.events.map((e) => [e.offset, e.deliveryCount]), [[4, 2]], 'process delivers the event marked 0 again, nothing acknowledged');
  const retried = await engine.retry('s', 'c', {});
  t.same(retried.events.map((e) => [e.offset, e.status, e.deliveryCount]), [[2, 2, 2], [3, 2, 2]], 'retry delivers the events marked 2');
  t.same((await engine.retry('s', 'c', {})).events, [], 'a retried event is pending again, not due');

  await engine.mark('s', 'c', [0], 1);
  t.pass('acknowledging twice is harmless');
  await t.rejects(engine.mark('s', 'c', [0], 2), { code: 'EVENT_ACKNOWLEDGED' }, 'a processed event cannot be sent back');
  await engine.createStream('other');
  await t.rejects(engine.mark('s', 'c', [99], 1), { code: 'EVENT_NOT_FOUND' });
  await t.rejects(engine.mark('s', 'nobody', [0], 1), { code: 'EVENT_NOT_DELIVERED' });
  await engine.appendMany('s', [Buffer.from('7')]);
  await t.rejects(engine.mark('s', 'c', [6], 1), { code: 'EVENT_NOT_DELIVERED' }, 'an event not yet delivered cannot be marked');
  await t.rejects(engine.mark('s', 'c', [1], 3 as 0), { code: 'INVALID_STATUS', reason: "status must be one of: 0 - unprocessed', '1 - processed', '2 - retry" });
  await t.rejects(engine.mark('s', 'c', [1, 99], 1), { code: 'EVENT_NOT_FOUND' }, 'one bad id fails the whole batch');
  const ids = (await engine.consume('s', 'c', {})).events;
  t.same(ids.map((e) => e.offset), [6]);
  t.ok(decodeEventId('00000000-0001-8000-8000-000000000006'), 'ids decode');
});

t.test('an event not marked before its deadline comes back through retry', async (t) => {
  // No fsync wait, and a deadline far above the few steps before it, so that a loaded machine
  // cannot make the events due before the test asks.
  const ackWaitMs = 500;
  const engine = await openWith(t, { fsync: 'never', consumers: { ackWaitMs } });
  await fill(engine, 's', 3);
  const deliveredMs = Date.now();
  await engine.consume('s', 'c', {});
  await engine.mark('s', 'c', [1], 1);
  const early = await engine.retry('s', 'c', {});
  const pending = engine.stats('s').consumers[0]!.pending;
  if (Date.now() - deliveredMs < ackWaitMs) {
    t.same(early.events, [], 'nothing due before the deadline');
    t.equal(pending, 2);
  }
  await until(() => engine.stats('s').consumers[0]!.retry === 2, 5_000);
  t.ok(Date.now() - deliveredMs >= ackWaitMs, 'not due before the deadline');
  t.same(engine.stats('s').consumers[0]!.retry, 2, 'stats count them as due');
  const due = await engine.retry('s', 'c', {});
  t.same(due.events.map((e) => [e.offset, e.status, e.deliveryCount]), [[0, 2, 2], [2, 2, 2]]);
});

t.test('an event delivered max_deliveries times goes to the dead-letter stream with its origin', async (t) => {
  const engine = await openWith(t, { consumers: { ackWaitMs: 0, maxDeliveries: 3 } });
  await fill(engine, 'orders', 2);
  await engine.consume('orders', 'c', {});
  await engine.mark('orders', 'c', [0], 1);
  const counts: number[] = [];
  for (let i = 0; i < 4; i++) counts.push(...(await engine.retry('orders', 'c', {})).events.map((e) => e.deliveryCount));
  t.same(counts, [2, 3], 'delivered three times in all, then no more');
  const [dead] = engine.read('$dlq:orders', 0);
  t.ok(dead, 'the dead-letter stream holds it');
  const record = JSON.parse(dead!.payload.toString());
  t.match(record, { stream: 'orders', offset: 1, consumer: 'c', delivery_count: 3, body: { n: 1 } });
  t.same(decodeEventId(record.id), { streamNumber: engine.getStream('orders')!.number, offset: 1, storePart: engine.getStream('orders')!.idEpochs[0]!.storePart }, 'the original id is kept');
  const stats = engine.stats('orders').consumers[0]!;
  t.same([stats.deadLettered, stats.pending, stats.retry, stats.ackFloor], [1, 0, 0, 2]);
  await t.rejects(engine.createStream('$dlq:mine'), { code: 'INVALID_STREAM_NAME' }, 'users cannot take the reserved form');
});

t.test('max_pending bounds what one consumer holds unacknowledged', async (t) => {
  const engine = await openWith(t, { consumers: { maxPending: 5 } });
  await fill(engine, 's', 20);
  const first = await engine.consume('s', 'c', { maxEvents: 100 });
  t.equal(first.events.length, 5);
  t.same((await engine.consume('s', 'c', {})).events, [], 'nothing new at the bound');
  await engine.mark('s', 'c', [0, 1], 1);
  t.same((await engine.consume('s', 'c', {})).events.map((e) => e.offset), [5, 6], 'room freed by marks');
  const autoAcked = await engine.consume('s', 'other', { maxEvents: 100, autoAck: true });
  t.equal(autoAcked.events.length, 20, 'auto_ack holds nothing, so the bound does not apply');
  t.same(autoAcked.events[0]!.status, 1);
  t.same(engine.stats('s').consumers.find((c) => c.name === 'other'), { name: 'other', cursor: 20, ackFloor: 20, pending: 0, retry: 0, deadLettered: 0, deadLetterFailure: null, lag: 0, start: { kind: 'all' }, filter: null });
});

t.test('long-poll returns as soon as an event is written, and empty after wait_ms', async (t) => {
  const engine = await openWith(t);
  await engine.createStream('s');
  let started = Date.now();
  const empty = await engine.consume('s', 'c', { waitMs: 150 });
  const waited = Date.now() - started;
  t.same(empty.events, []);
  // The upper bound leaves room for a loaded machine's stalls; far below it means wait_ms was honoured.
  t.ok(waited >= 140 && waited < 3000, `waited about wait_ms (${waited} ms)`);

  started = Date.now();
  const polling = engine.consume('s', 'c', { waitMs: 5000 });
  setTimeout(() => void engine.append('s', Buffer.from('"hello"')), 50);
  const got = await polling;
  const latency = Date.now() - started;
  t.same(got.events.map((e) => e.payload.toString()), ['"hello"']);
  t.ok(latency < 4000, `returned on the write, not at the 5 s deadline (${latency} ms)`);

  const other = engine.consume('s', 'c', { waitMs: 100 });
  const write = engine.append('s', Buffer.from('1'));
  t.same((await other).events.length, 1, 'a waiting consumer does not block writes');
  await write;
});

t.test('an aborted signal ends a long-poll at once, delivering nothing; the next event goes to the next caller', async (t) => {
  const engine = await openWith(t);
  await engine.createStream('s');
  const controller = new AbortController();
  const started = Date.now();
  const polling = engine.consume('s', 'c', { waitMs: 20_000, signal: controller.signal });
  setTimeout(() => controller.abort(), 50);
  const ended = await polling;
  t.same(ended.events, [], 'nothing delivered');
  t.ok(Date.now() - started < 10_000, 'ended on the abort, not at wait_ms (20 s)');
  await engine.append('s', Buffer.from('"next"'));
  const next = await engine.consume('s', 'c', {});
  t.same(next.events.map((e) => [e.payload.toString(), e.deliveryCount]), [['"next"', 1]], 'delivered once, to the caller still there');
  // Already aborted: what is due is still delivered, and the call does not wait.
  await engine.append('s', Buffer.from('"due"'));
  const due = await engine.consume('s', 'c', { waitMs: 20_000, signal: controller.signal });
  t.same(due.events.map((e) => e.payload.toString()), ['"due"']);
  t.same((await engine.consume('s', 'c', { waitMs: 20_000, signal: controller.signal })).events, [], 'nothing due: no wait');
  await t.rejects(engine.consume('s', 'c', { signal: 'stop' as unknown as AbortSignal }), { code: 'INVALID_FIELD' });
});

t.test('deleting a stream deletes its consumers', async (t) => {
  const engine = await openWith(t);
  await fill(engine, 's', 3);
  await engine.consume('s', 'c', {});
  await engine.deleteStream('s');
  await fill(engine, 's', 3);
  t.same(engine.stats('s').consumers, [], 'a new stream of the same name starts without consumers');
  t.same((await engine.consume('s', 'c', {})).events.map((e) => e.offset), [0, 1, 2]);
});

t.test('retry of a consumer that does not exist answers nothing due and does not create it', async (t) => {
  const engine = await openWith(t, { consumers: { maxConsumersPerStream: 1 } });
  await fill(engine, 's', 3);
  t.same(await engine.retry('s', 'b', {}), { events: [], more: false });
  t.same(engine.stats('s').consumers, [], 'no consumer made');
  await t.rejects(engine.retry('s', '', {}), { code: 'INVALID_FIELD' }, 'the name is still checked');
  // The consumer is made by its first process_events, with the start that gives.
  await engine.append('s', Buffer.from('"after"'));
  t.same((await engine.consume('s', 'b', { start: { kind: 'new' } })).events, [], 'start "new" holds');
  t.same(engine.stats('s').consumers.map((c) => [c.name, c.cursor, c.start]), [['b', 4, { kind: 'new' }]]);
});
