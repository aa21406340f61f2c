/**
 * /metrics, scraped and parsed with a Prometheus text-format parser: every documented family is
 * there with its type, and the values are what the test did over TCP (events written, requests
 * and their result codes, deliveries, marks, lag, pending, retry, connections, snapshots, fsync
 * rounds), with the stream and consumer label caps summing the rest.
 */
import t, { type Test } from 'tap';
import { httpServerFor, scrape, type Metrics } from './http-helpers.js';
import { syncFreeIO } from '../../src/storage/testing/sync-free-io.js';
import { linesFor } from '../helpers/server-lines.js';

const DOCUMENTED: Record<string, string> = {
  eventbus_requests_total: 'COUNTER',
  eventbus_delivered_events_total: 'COUNTER',
  eventbus_connections_open: 'GAUGE',
  eventbus_connections_accepted_total: 'COUNTER',
  eventbus_connections_refused_total: 'COUNTER',
  eventbus_connections_closed_total: 'COUNTER',
  eventbus_auth_failures_total: 'COUNTER',
  eventbus_streams: 'GAUGE',
  eventbus_stream_appended_events_total: 'COUNTER',
  eventbus_stream_events: 'GAUGE',
  eventbus_stream_bytes: 'GAUGE',
  eventbus_stream_segments: 'GAUGE',
  eventbus_stream_damaged_regions: 'GAUGE',
  eventbus_stream_damaged_events: 'GAUGE',
  eventbus_consumer_lag: 'GAUGE',
  eventbus_consumer_pending: 'GAUGE',
  eventbus_consumer_retry: 'GAUGE',
  eventbus_consumer_dead_lettered_events_total: 'COUNTER',
  eventbus_fsync_rounds_total: 'COUNTER',
  eventbus_fsyncs_total: 'COUNTER',
  eventbus_fsync_inline_rounds_total: 'COUNTER',
  eventbus_durable_commits_total: 'COUNTER',
  eventbus_fsync_round_fsyncs: 'HISTOGRAM',
  eventbus_fsync_round_events: 'HISTOGRAM',
  eventbus_fsync_round_duration_seconds: 'HISTOGRAM',
  eventbus_append_durable_seconds: 'HISTOGRAM',
  eventbus_damage_found_total: 'COUNTER',
  eventbus_snapshots_total: 'COUNTER',
  eventbus_snapshot_duration_seconds: 'HISTOGRAM',
  eventbus_ready: 'GAUGE',
  eventbus_http_requests_total: 'COUNTER',
  process_resident_memory_bytes: 'GAUGE',
  process_open_fds: 'GAUGE',
  process_max_fds: 'GAUGE',
  nodejs_eventloop_lag_seconds: 'GAUGE',
  nodejs_eventloop_lag_p99_seconds: 'GAUGE',
};

t.test('every documented metric is exposed with its type', async (t) => {
  const server = await httpServerFor(t);
  const metrics = await scrape(server.httpPort);
  for (const [name, type] of Object.entries(DOCUMENTED)) t.equal(metrics.family(name).type, type, name);
  t.ok(metrics.value('process_resident_memory_bytes')! > 10 * 1024 * 1024, 'RSS is the process RSS');
  t.ok(metrics.value('process_open_fds')! > 3, 'open files counted');
  t.equal(metrics.value('eventbus_ready'), 1);
});

t.test('values follow what the test did: writes, deliveries, marks, lag, pending, retry', async (t) => {
  // Fsyncs that cost nothing, so that the lone writer's rounds below run inline every time: one
  // fsync over INLINE_SLOW_MS (a slow disk's tail) would rightly send rounds to the thread pool.
  const server = await httpServerFor(t, { engineOptions: { io: syncFreeIO() } });
  const client = await server.client();
  await client.createStream('orders');
  await client.createStream('empty');
  const written = 25;
  await Promise.all(Array.from({ length: written }, (_, i) => client.writeEvent('orders', { i })));
  const before = await scrape(server.httpPort);
  t.equal(before.value('eventbus_stream_appended_events_total', { stream: 'orders' }), written, 'events appended to orders');
  t.equal(before.value('eventbus_stream_events', { stream: 'orders' }), written);
  t.equal(before.value('eventbus_stream_appended_events_total', { stream: 'empty' }), 0);
  t.ok(before.value('eventbus_stream_bytes', { stream: 'orders' })! > before.value('eventbus_stream_bytes', { stream: 'empty' })!, 'bytes grow with events');
  t.equal(before.value('eventbus_requests_total', { operation: 'write_event', code: 'OK' }), written);
  t.equal(before.value('eventbus_requests_total', { operation: 'create_stream', code: 'OK' }), 2);
  t.equal(before.value('eventbus_streams', { state: 'open' }), 2);
  t.equal(before.value('eventbus_connections_open'), 1);
  t.ok(before.value('eventbus_fsync_rounds_total')! >= 1, 'writes under fsync always ran fsync rounds');
  t.ok(before.value('eventbus_fsyncs_total')! >= before.value('eventbus_fsync_rounds_total')!);
  // One writer at a time: its rounds fsync on the main thread (storage/fs/group-commit.ts).
  const lone = 5;
  await client.createStream('lone');
  for (let i = 0; i < lone; i++) await client.writeEvent('lone', { i });
  const alone = await scrape(server.httpPort);
  t.ok(alone.value('eventbus_fsync_inline_rounds_total')! - (before.value('eventbus_fsync_inline_rounds_total') ?? 0) >= 4, 'a lone writer\'s rounds ran inline');

  // A consumer takes 10, acknowledges 4, asks for 3 to be retried.
  const delivery = await client.processEvents('orders', { consumer: 'billing', maxEvents: 10 });
  t.equal(delivery.events.length, 10);
  await client.markEvent(delivery.events.slice(0, 4).map((e) => e.id), 1, { consumer: 'billing' });
  await client.markEvent(delivery.events.slice(4, 7).map((e) => e.id), 2, { consumer: 'billing' });
  await t.rejects(client.writeEvent('nowhere', { x: 1 }), { code: 'STREAM_NOT_FOUND' });
  await t.rejects(client.markEvent(delivery.events[0]!.id, 0, { consumer: 'billing' }), { code: 'EVENT_ACKNOWLEDGED' });

  const after = await scrape(server.httpPort);
  const billing = { stream: 'orders', consumer: 'billing' };
  t.equal(after.value('eventbus_consumer_lag', billing), written - 10, 'lag: events never delivered');
  t.equal(after.value('eventbus_consumer_pending', billing), 3, 'pending: delivered, not marked');
  t.equal(after.value('eventbus_consumer_retry', billing), 3, 'retry: marked 2');
  t.equal(after.value('eventbus_consumer_dead_lettered_events_total', billing), 0);
  t.equal(after.value('eventbus_delivered_events_total'), 10);
  t.equal(after.value('eventbus_requests_total', { operation: 'process_events', code: 'OK' }), 1);
  t.equal(after.value('eventbus_requests_total', { operation: 'mark_event', code: 'OK' }), 2, 'marks counted');
  t.equal(after.value('eventbus_requests_total', { operation: 'mark_event', code: 'EVENT_ACKNOWLEDGED' }), 1, 'a refused mark is counted under its code');
  t.equal(after.value('eventbus_requests_total', { operation: 'write_event', code: 'STREAM_NOT_FOUND' }), 1);
  t.equal(after.value('eventbus_requests_total', { operation: 'write_event', code: 'OK' }), written + lone, 'failures are not successes');
});

t.test('answers refused before reaching the bus are counted: bad JSON, unknown operations, credentials', async (t) => {
  const server = await httpServerFor(t, { clients: { app: { client_id: 'app', client_secret: 's3cret' } } });
  const anonymous = await server.client();
  await t.rejects(anonymous.createStream('x'), { code: 'UNAUTHORIZED' });
  await t.rejects(anonymous.requestRaw('no_such_operation', {}), { code: 'UNKNOWN_OPERATION' });
  await anonymous.health();
  const metrics = await scrape(server.httpPort);
  t.equal(metrics.value('eventbus_requests_total', { operation: 'create_stream', code: 'UNAUTHORIZED' }), 1);
  t.equal(metrics.value('eventbus_auth_failures_total'), 1);
  t.equal(metrics.value('eventbus_requests_total', { operation: 'decode_request', code: 'UNKNOWN_OPERATION' }), 1, 'an unknown operation never becomes a label');
  t.equal(metrics.value('eventbus_requests_total', { operation: 'health', code: 'OK' }), 1);
  const operations = new Set(metrics.family('eventbus_requests_total').metrics.map((m) => m.labels!.operation));
  t.notOk(operations.has('no_such_operation'));
});

t.test('storage metrics come from the engine observer: fsync rounds, events per round, append latency, snapshots', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  await client.createStream('s');
  const written = 40;
  await Promise.all(Array.from({ length: written }, (_, i) => client.writeEvent('s', { i })));
  await client.snapshot('backups');
  await t.rejects(client.snapshot('../outside'), { code: 'INVALID_PATH' });
  const metrics = await scrape(server.httpPort);
  const rounds = metrics.value('eventbus_fsync_rounds_total')!;
  t.ok(rounds >= 1);
  t.equal(metrics.histogramCount('eventbus_fsync_round_fsyncs'), rounds, 'one observation per round');
  t.equal(metrics.histogramCount('eventbus_fsync_round_events'), rounds);
  t.ok(Number(metrics.family('eventbus_fsync_round_events').metrics[0]!.sum) >= written, 'every event written was made durable by some round');
  const latency = metrics.histogramCount('eventbus_append_durable_seconds');
  t.ok(latency >= 1 && latency <= rounds, `append latency observed per round that settled appends (${latency} of ${rounds})`);
  t.ok(Number(metrics.family('eventbus_append_durable_seconds').metrics[0]!.sum) > 0, 'latencies are positive');
  t.equal(metrics.value('eventbus_snapshots_total', { code: 'OK' }), 1);
  t.equal(metrics.histogramCount('eventbus_snapshot_duration_seconds'), 1, 'a refused output never reaches the engine');
  t.equal(metrics.value('eventbus_requests_total', { operation: 'snapshot_db', code: 'INVALID_PATH' }), 1, 'it is a refused request');
  t.equal(metrics.value('eventbus_recovery_after_crash'), 0);
  t.equal(metrics.value('eventbus_damage_found_total'), 0);
});

t.test('label cardinality is capped: the oldest streams are labelled, the rest summed under overflow="true"', async (t) => {
  const server = await httpServerFor(t, { httpOptions: { maxLabelledStreams: 2, maxLabelledConsumers: 3 } });
  const client = await server.client();
  const names = ['s1', 's2', 's3', 's4', 's5'];
  for (const name of names) await client.createStream(name);
  for (const [i, name] of names.entries()) {
    for (let n = 0; n <= i; n++) await client.writeEvent(name, { n });
  }
  for (const consumer of ['a', 'b', 'c', 'd']) await client.processEvents('s2', { consumer, maxEvents: 1 });
  await client.processEvents('s5', { consumer: 'late', maxEvents: 2 });

  const metrics = await scrape(server.httpPort);
  const appended = metrics.family('eventbus_stream_appended_events_total').metrics;
  t.equal(appended.length, 3, 'two streams of their own and one overflow series');
  t.equal(metrics.value('eventbus_stream_appended_events_total', { stream: 's1' }), 1);
  t.equal(metrics.value('eventbus_stream_appended_events_total', { stream: 's2' }), 2);
  t.equal(metrics.value('eventbus_stream_appended_events_total', { overflow: 'true' }), 3 + 4 + 5, 's3, s4 and s5 summed');
  t.equal(metrics.sum('eventbus_stream_appended_events_total'), 15, 'the family still sums to the store');
  t.equal(metrics.value('eventbus_consumer_lag', { stream: 's2', consumer: 'a' }), 1);
  t.equal(metrics.value('eventbus_consumer_pending', { stream: 's2', consumer: 'c' }), 1);
  t.equal(metrics.value('eventbus_consumer_pending', { stream: 's2', overflow: 'true' }), 1, 'past the consumer cap: summed per stream');
  t.equal(metrics.value('eventbus_consumer_pending', { overflow: 'true' }), 2, 'consumers of unlabelled streams summed');
  t.equal(metrics.family('eventbus_consumer_pending').metrics.length, 5);
});

t.test('streams deleted disappear from the metrics', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  await client.createStream('gone');
  await client.writeEvent('gone', { a: 1 });
  t.equal((await scrape(server.httpPort)).value('eventbus_stream_events', { stream: 'gone' }), 1);
  await client.deleteStream('gone');
  const metrics = await scrape(server.httpPort);
  t.equal(metrics.value('eventbus_stream_events', { stream: 'gone' }), undefined);
  t.equal(metrics.value('eventbus_streams', { state: 'open' }), 0);
});

/** Every counter series of `before` is in `after` with a value at least as large, except those of `ended` (a deleted labelled stream's own). */
function countersNeverGoDown(t: Test, before: Metrics, after: Metrics, label: string, ended: (labels: Record<string, string>) => boolean = () => false): void {
  for (const family of before.families) {
    if (family.type !== 'COUNTER' || !family.name.startsWith('eventbus_')) continue;
    for (const sample of family.metrics) {
      const labels = sample.labels ?? {};
      if (ended(labels)) continue;
      const now = after.value(family.name, labels);
      t.ok(now !== undefined && now >= Number(sample.value), `${label}: ${family.name}${JSON.stringify(labels)} ${String(sample.value)} → ${String(now)}`);
    }
  }
}

t.test('counters never go down: a stream keeps its series for its life, and a deleted one leaves its counts in the overflow sum', async (t) => {
  const server = await httpServerFor(t, { httpOptions: { maxLabelledStreams: 3, maxLabelledConsumers: 4 } });
  const client = await server.client();
  const names = ['zeta', 'alpha', 'mid', 'beta', 'gamma', 'omega'];
  for (const [i, name] of names.entries()) {
    await client.createStream(name);
    for (let n = 0; n <= i; n++) await client.writeEvent(name, { n });
  }
  const appended = (m: Metrics, labels: Record<string, string>) => m.value('eventbus_stream_appended_events_total', labels);
  const first = await scrape(server.httpPort);
  t.same(['zeta', 'alpha', 'mid'].map((stream) => appended(first, { stream })), [1, 2, 3], 'the three oldest are labelled');
  t.equal(appended(first, { overflow: 'true' }), 4 + 5 + 6, 'beta, gamma and omega summed');

  await client.deleteStream('omega');
  const second = await scrape(server.httpPort);
  t.equal(appended(second, { overflow: 'true' }), 15, 'an overflow stream deleted: what it counted stays in the sum');
  countersNeverGoDown(t, first, second, 'omega deleted');

  await client.deleteStream('alpha');
  const third = await scrape(server.httpPort);
  t.equal(appended(third, { stream: 'alpha' }), undefined, "a labelled stream deleted: its own series ends");
  t.equal(appended(third, { stream: 'beta' }), undefined, 'beta stays in the overflow sum (its label would restart it from 4)');
  t.equal(appended(third, { overflow: 'true' }), 15);
  countersNeverGoDown(t, second, third, 'alpha deleted', (labels) => labels.stream === 'alpha');

  await client.createStream('late');
  for (let n = 0; n < 7; n++) await client.writeEvent('late', { n });
  await client.createStream('later');
  await client.writeEvent('later', { n: 0 });
  await client.writeEvent('gamma', { n: 5 });
  const fourth = await scrape(server.httpPort);
  t.equal(appended(fourth, { stream: 'late' }), 7, "alpha's freed label goes to a stream created later");
  t.equal(appended(fourth, { overflow: 'true' }), 15 + 1 + 1, 'later (past the cap again) and the write to gamma add to the sum');
  t.equal(fourth.family('eventbus_stream_appended_events_total').metrics.length, 4, 'still at most max_labelled_streams + 1 series');
  t.equal(fourth.sum('eventbus_stream_events'), 1 + 3 + 4 + 6 + 7 + 1, 'gauges still sum to the store now');
  countersNeverGoDown(t, third, fourth, 'streams created');
});

t.test('dead-lettered counters never go down: consumers keep their series, and a deleted stream leaves its counts in the sum', async (t) => {
  const server = await httpServerFor(t, { engineOptions: { consumers: { ackWaitMs: 0, maxDeliveries: 1 } }, httpOptions: { maxLabelledStreams: 2, maxLabelledConsumers: 1 } });
  const client = await server.client();
  const deadLetter = async (stream: string, consumer: string) => {
    await client.processEvents(stream, { consumer });
    await client.retryEvents(stream, { consumer });
  };
  for (const name of ['a', 'b', 'c']) {
    await client.createStream(name);
    await client.writeEvent(name, { name });
  }
  await deadLetter('a', 'a1');
  await deadLetter('b', 'b1');
  await deadLetter('c', 'c1');
  const dead = (m: Metrics, labels: Record<string, string>) => m.value('eventbus_consumer_dead_lettered_events_total', labels);
  const first = await scrape(server.httpPort);
  t.equal(dead(first, { stream: 'a', consumer: 'a1' }), 1, 'the one consumer label');
  t.equal(dead(first, { stream: 'b', overflow: 'true' }), 1, "past the consumer cap: b's consumers summed");
  t.equal(dead(first, { overflow: 'true' }), 1, 'consumers of an unlabelled stream summed');

  await client.deleteStream('a');
  await client.deleteStream('c');
  const second = await scrape(server.httpPort);
  t.equal(dead(second, { stream: 'a', consumer: 'a1' }), undefined, "a's own series end with it");
  t.equal(dead(second, { stream: 'b', overflow: 'true' }), 1, "b1 keeps its series: the freed label goes to a consumer seen later");
  t.equal(dead(second, { stream: 'b', consumer: 'b1' }), undefined);
  t.equal(dead(second, { overflow: 'true' }), 1, "c deleted: c1's dead letters stay in the sum");
  countersNeverGoDown(t, first, second, 'a and c deleted', (labels) => labels.stream === 'a');

  await deadLetter('b', 'b2');
  const third = await scrape(server.httpPort);
  t.equal(dead(third, { stream: 'b', consumer: 'b2' }), 1, "a consumer seen later takes a1's freed label");
  countersNeverGoDown(t, second, third, 'a new consumer');
});

t.test('subscribe and unsubscribe are counted when answered, like every request', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  await client.createStream('s');
  await client.writeEvent('s', { i: 0 });
  const requests = (m: Metrics, operation: string, code: string) => m.value('eventbus_requests_total', { operation, code });

  const socket = await linesFor(t, server.port);
  socket.write(`${JSON.stringify({ operation: 'subscribe', body: { stream_name: 's' } })}\n`);
  await socket.readLine(); // the history
  t.match(JSON.parse(await socket.readLine()), { body: { caught_up: true } });
  t.equal(requests(await scrape(server.httpPort), 'subscribe', 'OK'), 1, 'a subscribe is counted once caught up');
  socket.write(`${JSON.stringify({ operation: 'get_stream_info', body: { stream_name: 's' } })}\nnot json\n`);
  t.match(JSON.parse(await socket.readLine()), { code: 'SUBSCRIPTION_ACTIVE' });
  t.match(JSON.parse(await socket.readLine()), { code: 'INVALID_JSON' });
  socket.write(`${JSON.stringify({ operation: 'unsubscribe' })}\n`);
  t.match(JSON.parse(await socket.readLine()), { operation: 'unsubscribe', status: true });
  socket.write(`${JSON.stringify({ operation: 'unsubscribe' })}\n`);
  t.match(JSON.parse(await socket.readLine()), { code: 'NOT_SUBSCRIBED' });

  await t.rejects(client.subscribe('nowhere'), { code: 'STREAM_NOT_FOUND' });
  const subscription = await client.subscribe('s', { fromOffset: 0 });
  await subscription.caughtUp;
  await subscription.unsubscribe();

  const metrics = await scrape(server.httpPort);
  t.equal(requests(metrics, 'subscribe', 'OK'), 2, 'each subscribe once, not once per line it sent');
  t.equal(requests(metrics, 'subscribe', 'STREAM_NOT_FOUND'), 1, 'a refused subscribe under its code');
  t.equal(requests(metrics, 'unsubscribe', 'OK'), 2, 'a successful unsubscribe');
  t.equal(requests(metrics, 'unsubscribe', 'NOT_SUBSCRIBED'), 1);
  t.equal(requests(metrics, 'get_stream_info', 'SUBSCRIPTION_ACTIVE'), 1, 'a request refused while subscribed');
  t.equal(requests(metrics, 'decode_request', 'INVALID_JSON'), 1, 'a line that is no request, while subscribed');
});
