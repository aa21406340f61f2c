/**
 * process_events, retry_events and mark_event over the wire: the consumer model of
 * docs/protocol.md as a client sees it (the model itself is tested in test/consumers).
 */
import t, { type Test } from 'tap';
import { serverFor } from '../helpers/server-inprocess.js';
import { linesFor, type LineSocket } from '../helpers/server-lines.js';
import { onJetStream } from '../helpers/backend.js';

interface WireEvent { id: string; offset: number; status: number; delivery_count: number; body: unknown }

async function events(s: LineSocket, request: unknown): Promise<{ events: WireEvent[]; more: boolean }> {
  const response = await s.request(request);
  if (response.status !== true) throw new Error(JSON.stringify(response));
  return response.body as { events: WireEvent[]; more: boolean };
}

async function setup(t: Test, count: number, engineOptions = {}) {
  const server = await serverFor(t, { engineOptions });
  const s = await linesFor(t, server.port);
  await s.request({ operation: 'create_stream', body: { stream_name: 'c' } });
  for (let i = 0; i < count; i++) await s.request({ operation: 'write_event', body: { stream_name: 'c', event: { i } } });
  return { ...server, s };
}

t.test('named consumers are independent; a consumer never gets a new event twice', async (t) => {
  const { s } = await setup(t, 5);
  const a1 = await events(s, { operation: 'process_events', body: { stream_name: 'c', max_events: 3 } });
  t.same(a1.events.map((e) => e.offset), [0, 1, 2]);
  t.equal(a1.more, true);
  t.same(a1.events.map((e) => e.delivery_count), [1, 1, 1]);
  const a2 = await events(s, { operation: 'process_events', body: { stream_name: 'c' } });
  t.same(a2.events.map((e) => e.offset), [3, 4]);
  t.equal(a2.more, false);
  const b = await events(s, { operation: 'process_events', body: { stream_name: 'c', consumer: 'audit' } });
  t.same(b.events.map((e) => e.offset), [0, 1, 2, 3, 4], 'another consumer sees everything');
  const info = await s.request({ operation: 'get_stream_info', body: { stream_name: 'c' } });
  const consumers = (info.body as { stream: { consumers: Record<string, unknown>[] } }).stream.consumers;
  t.same(consumers.map((c) => c.name).sort(), ['audit', 'default']);
  t.same(Object.keys(consumers[0]!), ['name', 'cursor', 'ack_floor', 'pending', 'retry', 'dead_lettered', 'lag', 'start', 'filter']);
});

t.test('mark 1, 2 and 0 over the wire, by event_id and event_ids', async (t) => {
  const { s } = await setup(t, 4);
  const first = await events(s, { operation: 'process_events', body: { stream_name: 'c' } });
  const [e0, e1, e2, e3] = first.events;
  t.same(await s.request({ operation: 'mark_event', body: { event_ids: [e0!.id, e1!.id], status: 1 } }), { operation: 'mark_event', status: true });
  t.same(await s.request({ operation: 'mark_event', body: { event_id: e2!.id, status: 2 } }), { operation: 'mark_event', status: true });
  t.same(await s.request({ operation: 'mark_event', body: { event_id: e3!.id, status: 0 } }), { operation: 'mark_event', status: true });

  if (onJetStream) {
    // docs/protocol.md, jetstream backend: one delivery queue per consumer, redeliveries first;
    // retry_events takes from the same queue; statuses are 1 at or below the ack floor, else 0.
    const again = await events(s, { operation: 'process_events', body: { stream_name: 'c' } });
    t.same(again.events.map((e) => [e.offset, e.status, e.delivery_count]), [[2, 2, 2], [3, 2, 2]], 'status 2 and 0: delivered again, redeliveries first');
    const retry = await events(s, { operation: 'retry_events', body: { stream_name: 'c' } });
    t.same(retry.events, [], 'nothing else is due');
    const listed = await s.request({ operation: 'get_stream_events', body: { stream_name: 'c' } });
    t.same((listed.body as { events: WireEvent[] }).events.map((e) => e.status), [1, 1, 0, 0], 'statuses from the ack floor');
  } else {
    const again = await events(s, { operation: 'process_events', body: { stream_name: 'c' } });
    t.same(again.events.map((e) => [e.offset, e.delivery_count]), [[3, 2]], 'status 0: delivered again by process_events');
    const retry = await events(s, { operation: 'retry_events', body: { stream_name: 'c' } });
    t.same(retry.events.map((e) => [e.offset, e.status, e.delivery_count]), [[2, 2, 2]], 'status 2: delivered by retry_events');

    const listed = await s.request({ operation: 'get_stream_events', body: { stream_name: 'c' } });
    // Offset 3 was delivered again by process_events and is pending (0) until marked; offset 2,
    // delivered again by retry_events, keeps status 2 until marked, as in the original.
    t.same((listed.body as { events: WireEvent[] }).events.map((e) => e.status), [1, 1, 2, 0], 'get_stream_events shows the default consumer\'s statuses');
    // Delivery counts are kept for events not yet acknowledged (memory bounded by the pending set).
    t.same((listed.body as { events: WireEvent[] }).events.slice(2).map((e) => e.delivery_count), [2, 2], 'and delivery counts of pending events');
  }
  const other = await s.request({ operation: 'get_stream_events', body: { stream_name: 'c', consumer: 'never-used' } });
  t.same((other.body as { events: WireEvent[] }).events.map((e) => e.status), [0, 0, 0, 0], 'and an unknown consumer\'s (all 0), without creating it');
  const info = await s.request({ operation: 'get_stream_info', body: { stream_name: 'c' } });
  t.same((info.body as { stream: { consumers: { name: string }[] } }).stream.consumers.map((c) => c.name), ['default']);

  const acked = await s.request({ operation: 'mark_event', body: { event_id: e0!.id, status: 2 } });
  t.equal(acked.code, 'EVENT_ACKNOWLEDGED', 'a processed event cannot be sent back to retry');
  const notDelivered = await s.request({ operation: 'mark_event', body: { event_id: e0!.id, status: 1, consumer: 'audit' } });
  t.equal(notDelivered.code, 'EVENT_NOT_DELIVERED');
});

t.test('auto_ack delivers at most once', async (t) => {
  const { s } = await setup(t, 2);
  const delivered = await events(s, { operation: 'process_events', body: { stream_name: 'c', auto_ack: true } });
  t.same(delivered.events.map((e) => e.status), [1, 1]);
  const info = await s.request({ operation: 'get_stream_info', body: { stream_name: 'c' } });
  t.equal((info.body as { stream: { consumers: { pending: number }[] } }).stream.consumers[0]!.pending, 0);
});

t.test('a long-poll returns when an event arrives, without holding up other connections', async (t) => {
  const { s, port } = await setup(t, 0);
  const writer = await linesFor(t, port);
  const started = Date.now();
  const polled = events(s, { operation: 'process_events', body: { stream_name: 'c', wait_ms: 5000 } });
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await writer.request({ operation: 'health' })).status, true, 'another connection is served meanwhile');
  await writer.request({ operation: 'write_event', body: { stream_name: 'c', event: 'wake' } });
  const result = await polled;
  t.same(result.events.map((e) => e.body), ['wake']);
  t.ok(Date.now() - started < 4500, 'returned when the event was written, not at wait_ms (5 s)');
  const empty = await events(s, { operation: 'process_events', body: { stream_name: 'c', wait_ms: 150 } });
  t.same(empty.events, [], 'empty after wait_ms');
});

t.test('a long-poll whose client disconnected delivers nothing: the next event goes to the next caller at once, not after ack_wait', async (t) => {
  const { s, port } = await setup(t, 0);
  const gone = await linesFor(t, port);
  gone.write(`${JSON.stringify({ operation: 'process_events', body: { stream_name: 'c', consumer: 'w', wait_ms: 20_000 } })}\n`);
  await new Promise((r) => setTimeout(r, 300)); // the poll is waiting
  gone.close();
  await gone.closed;
  await new Promise((r) => setTimeout(r, 100)); // the server has seen the close
  await s.request({ operation: 'write_event', body: { stream_name: 'c', event: 'after' } });
  const started = Date.now();
  const next = await events(s, { operation: 'process_events', body: { stream_name: 'c', consumer: 'w', wait_ms: 3000 } });
  t.same(next.events.map((e) => e.body), ['after'], 'delivered to the caller still there (ack_wait is 30 s)');
  t.ok(Date.now() - started < 2500, 'at once, not at the end of wait_ms');
  // The engine never handed the event to the gone poll; JetStream's poll got it and gave it back.
  if (!onJetStream) t.equal(next.events[0]!.delivery_count, 1, 'the gone poll was never handed it');
  const info = await s.request({ operation: 'get_stream_info', body: { stream_name: 'c' } });
  const w = (info.body as { stream: { consumers: { name: string; pending: number; retry: number }[] } }).stream.consumers.find((c) => c.name === 'w');
  // JetStream counts the given-back message among its redelivered ones (docs/protocol.md: `retry`).
  t.equal(onJetStream ? w!.pending + w!.retry : w!.pending, 1, 'one delivery outstanding: the one made now');
});

// The engine's fsync rounds are what this counts; a JetStream mark is an acknowledgement to the cluster.
t.test('a mark and the fetch pipelined behind it: the fetch sees the mark, answers come in order, one fsync round serves both', { skip: onJetStream ? 'engine only: counts the engine\'s fsync rounds' : false }, async (t) => {
  const { s, engine } = await setup(t, 6, { fsync: 'always' });
  const first = await events(s, { operation: 'process_events', body: { stream_name: 'c', max_events: 3 } });
  const ids = first.events.map((e) => e.id);
  const roundsBefore = engine.commitStats.rounds;
  // Nack the first (due for retry at once), then ask for retries and the next batch, all in one write.
  s.write(`${JSON.stringify({ operation: 'mark_event', body: { event_ids: ids.slice(0, 1), status: 2 } })}\n`
    + `${JSON.stringify({ operation: 'mark_event', body: { event_ids: ids.slice(1), status: 1 } })}\n`
    + `${JSON.stringify({ operation: 'retry_events', body: { stream_name: 'c' } })}\n`
    + `${JSON.stringify({ operation: 'process_events', body: { stream_name: 'c', max_events: 3 } })}\n`);
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(JSON.parse(await s.readLine()) as { operation: string; status: boolean; body?: { events: WireEvent[] } });
  t.same(answers.map((a) => [a.operation, a.status]), [['mark_event', true], ['mark_event', true], ['retry_events', true], ['process_events', true]], 'answered in request order');
  t.same(answers[2]!.body!.events.map((e) => [e.offset, e.delivery_count]), [[0, 2]], 'the retry saw the nack before it');
  t.same(answers[3]!.body!.events.map((e) => e.offset), [3, 4, 5], 'the fetch went on after the acknowledged ones');
  t.ok(engine.commitStats.rounds - roundsBefore <= 2, `the four journal changes shared fsync rounds (${engine.commitStats.rounds - roundsBefore} rounds, not one each)`);
  const info = await s.request({ operation: 'get_stream_info', body: { stream_name: 'c' } });
  const consumer = (info.body as { stream: { consumers: { name: string; ack_floor: number; pending: number; retry: number }[] } }).stream.consumers[0]!;
  t.same([consumer.ack_floor, consumer.pending + consumer.retry], [0, 4], 'offsets 1 and 2 acknowledged; 0 and 3–5 outstanding');
});

t.test('a dead-letter move that cannot be made (max_streams reached) shows in get_stream_info until it succeeds', { skip: onJetStream ? 'engine only: the gateway has no max_streams' : false }, async (t) => {
  const { s } = await setup(t, 1, { maxStreams: 1, consumers: { ackWaitMs: 0, maxDeliveries: 1 } });
  await events(s, { operation: 'process_events', body: { stream_name: 'c' } });
  await events(s, { operation: 'retry_events', body: { stream_name: 'c' } });
  const consumerOf = async () => ((await s.request({ operation: 'get_stream_info', body: { stream_name: 'c' } })).body as { stream: { consumers: Record<string, unknown>[] } }).stream.consumers[0]!;
  const stuck = await consumerOf();
  t.equal((stuck.dead_letter_failure as { code?: string } | undefined)?.code, 'TOO_MANY_STREAMS', 'the reason the event stays due');
  t.equal(stuck.dead_lettered, 0);
});

t.test('a dead-letter record reads as on the engine: valid JSON, no key, the original event inside', async (t) => {
  const { s } = await setup(t, 0, { consumers: { ackWaitMs: 3000, maxDeliveries: 2 } });
  await s.request({ operation: 'write_event', body: { stream_name: 'c', event: 'a' } });
  let delivered = await events(s, { operation: 'process_events', body: { stream_name: 'c' } });
  // Failed on every delivery until the deliveries run out (two here): then it is dead-lettered.
  let dead: WireEvent[] = [];
  for (let round = 0; round < 10 && dead.length === 0; round++) {
    for (const e of delivered.events) t.same(await s.request({ operation: 'mark_event', body: { event_id: e.id, status: 2 } }), { operation: 'mark_event', status: true });
    delivered = await events(s, { operation: 'retry_events', body: { stream_name: 'c' } });
    const read = await s.request({ operation: 'get_stream_events', body: { stream_name: '$dlq:c' } });
    if (read.status === true) dead = (read.body as { events: WireEvent[] }).events;
  }
  t.equal(dead.length, 1, 'one dead-letter record');
  const record = dead[0] as WireEvent & Record<string, unknown>;
  t.notOk('key' in record, 'no key');
  t.notOk('version' in record, 'no version');
  t.match(record.body, { stream: 'c', offset: 0, consumer: 'default', body: 'a' });
  const byKey = await s.request({ operation: 'get_stream_events', body: { stream_name: '$dlq:c', key: 'default' } });
  t.same((byKey.body as { events: WireEvent[] }).events, [], 'the consumer\'s name is no key of the record');
  // No wait: a consumer created by this call gets the record at once, on the jetstream gateway too
  // (it waits for what the stream held when it was created, as for a write through it).
  const consumed = await events(s, { operation: 'process_events', body: { stream_name: '$dlq:c', consumer: 'ops' } });
  t.same(consumed.events.map((e) => [e.offset, 'key' in e]), [[0, false]], 'process_events on the dead-letter stream: the same record');
  const info = await s.request({ operation: 'get_stream_info', body: { stream_name: 'c' } });
  const consumer = (info.body as { stream: { consumers: { name: string; dead_lettered: number }[] } }).stream.consumers.find((c) => c.name === 'default');
  t.equal(consumer?.dead_lettered, 1, 'counted as the consumer\'s dead letter');
});

t.test('retry_events on a consumer that does not exist: nothing due, and no consumer made', async (t) => {
  const { s } = await setup(t, 6);
  t.same(await s.request({ operation: 'retry_events', body: { stream_name: 'c', consumer: 'b' } }), { operation: 'retry_events', status: true, body: { events: [], more: false } });
  const info = await s.request({ operation: 'get_stream_info', body: { stream_name: 'c' } });
  t.same((info.body as { stream: { consumers: unknown[] } }).stream.consumers, [], 'the consumer is not created');
  await s.request({ operation: 'write_event', body: { stream_name: 'c', event: 'new one' } });
  const first = await events(s, { operation: 'process_events', body: { stream_name: 'c', consumer: 'b', start: 'new' } });
  t.same(first.events, [], 'process_events creates it, with its start');
});
