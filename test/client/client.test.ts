/** The TypeScript client against an in-process server: every method, pipelining, errors. */
import net from 'node:net';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { EventBusError } from '../../src/errors.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { behindBalancer, onJetStream } from '../helpers/backend.js';

t.test('one typed method per operation', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.health();
  const stream = await client.createStream('orders');
  t.equal(stream.name, 'orders');
  t.match(stream.createdAt, /Z$/);
  const written = await client.writeEvent('orders', { total: 12 });
  t.equal(written.offset, 0);
  const raw = await client.writeEventJson('orders', '{"big": 12345678901234567890,\n"f": 1.0}');
  t.equal(raw.offset, 1);
  const info = await client.getStreamInfo('orders');
  t.same({ id: info.id, eventCount: info.eventCount, nextOffset: info.nextOffset }, { id: stream.id, eventCount: 2, nextOffset: 2 });
  const page = await client.getStreamEvents('orders', { fromOffset: 1 });
  t.same(page.events.map((e) => e.offset), [1]);
  t.equal(page.nextOffset, 2);
  t.equal(page.events[0]!.streamId, stream.id);
  const delivery = await client.processEvents<{ total?: number }>('orders', { maxEvents: 1 });
  t.same(delivery.events.map((e) => e.body), [{ total: 12 }]);
  t.equal(delivery.more, true);
  t.equal(delivery.events[0]!.id, written.id);
  t.equal(delivery.events[0]!.deliveryCount, 1);
  await client.markEvent(written.id, 2);
  let retried = await client.retryEvents('orders');
  if (onJetStream) {
    // docs/protocol.md, jetstream backend: retry_events is the consumer's one queue, redeliveries
    // first, once the server has processed the -NAK (its consumer takes it from a queue of its own).
    for (let i = 0; i < 5 && !retried.events.some((e) => e.id === written.id); i++) retried = await client.retryEvents('orders');
    t.ok(retried.events.some((e) => e.id === written.id), 'the retry comes back');
  } else {
    t.same(retried.events.map((e) => e.id), [written.id]);
  }
  await client.markEvent([written.id], 1, { consumer: 'default' });
  const snapshot = await client.snapshot('nightly');
  t.match(snapshot.path, /^nightly\/snapshot-/);
  t.equal(snapshot.events, 2);
  await client.deleteStream('orders');
  await t.rejects(client.getStreamInfo('orders'), { code: 'STREAM_NOT_FOUND', reason: "stream 'orders' not found" });
  await client.exit();
  await t.rejects(client.health(), { code: 'CLOSED' }, 'after exit the client is closed');
});

t.test('event-sourcing reads and settings have typed methods: keys, backward, by time, types, consumer start and filter, retention, truncation', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('es', onJetStream ? {} : { retention: { maxEvents: 1000 } });
  for (let i = 0; i < 6; i++) await client.writeEvent('es', { i }, { key: i % 2 === 0 ? 'even' : 'odd', type: i < 3 ? 'A' : 'B' });
  const forward = await client.getStreamEvents('es', { maxEvents: 100 });
  t.same([forward.events.length, forward.nextOffset, forward.atEnd], [6, 6, true], 'a page says whether it is at the end');
  const partial = await client.getStreamEvents('es', { maxEvents: 2 });
  t.same([partial.nextOffset, partial.atEnd], [2, false]);
  const backward = await client.getStreamEvents('es', { direction: 'backward', maxEvents: 2 });
  t.same(backward.events.map((e) => e.offset), [5, 4], 'backward from the end by default');
  t.same(backward.nextOffset, 3);
  const byTime = await client.getStreamEvents('es', { fromTime: new Date(Date.parse(forward.events[4]!.createdAt)) });
  t.ok(byTime.events[0]!.offset <= 4 && byTime.events.at(-1)!.offset === 5, 'from a time (a Date)');
  const typed = await client.getStreamEvents('es', { types: ['B'] });
  t.same(typed.events.map((e) => e.offset), [3, 4, 5], 'only those types');
  const even = await client.getKeyEvents<{ i: number }>('es', 'even');
  t.same(even.events.map((e) => [e.version, e.body.i]), [[0, 0], [1, 2], [2, 4]], 'one key in version order');
  t.same([even.nextVersion, even.atEnd], [3, true]);
  const lastOdd = await client.getKeyEvents('es', 'odd', { direction: 'backward', maxEvents: 1 });
  t.same([lastOdd.events.map((e) => e.version), lastOdd.nextVersion, lastOdd.atEnd], [[2], 1, false], 'a key backward');
  const fromVersion = await client.getKeyEvents('es', 'odd', { fromVersion: 1 });
  t.same(fromVersion.events.map((e) => e.offset), [3, 5]);

  const started = await client.processEvents('es', { consumer: 'late', start: { offset: 4 }, maxEvents: 10 });
  t.same(started.events.map((e) => e.offset), [4, 5], 'a new consumer starts where told');
  const filtered = await client.processEvents('es', { consumer: 'odds', key: 'odd', maxEvents: 10 });
  t.same(filtered.events.map((e) => e.offset), [1, 3, 5], 'and takes only its key');
  const consumers = Object.fromEntries((await client.getStreamInfo('es')).consumers.map((c) => [c.name, c]));
  t.same([consumers.late!.start, consumers.late!.filter], [{ offset: 4 }, null], 'getStreamInfo shows start and filter');
  t.same(consumers.odds!.filter, { key: 'odd' });

  if (onJetStream) return; // retention and truncation are refused there (docs/protocol.md)
  t.same((await client.getStreamInfo('es')).retention, { maxAgeMs: 0, maxBytes: 0, maxEvents: 1000 }, 'createStream with its own retention');
  t.same(await client.setStreamRetention('es', { maxBytes: 1 << 20 }), { maxAgeMs: 0, maxBytes: 1 << 20, maxEvents: 0 }, 'setStreamRetention: the limits that now apply');
  t.same(await client.truncateStream('es', 2), { firstOffset: 2, nextOffset: 6 });
  t.equal((await client.getStreamEvents('es')).events[0]!.offset, 2, 'truncated away for every read');
  await client.createStream('es2', { ifNotExists: true, retention: { maxEvents: 5 } });
  t.equal((await client.getStreamInfo('es2')).retention!.maxEvents, 5, 'ensureStream passes retention to the create');
});

t.test('writeEventJson takes one JSON value only (INVALID_JSON); writeEvent of what JSON cannot hold rejects with INVALID_FIELD', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('j');
  await client.createStream('j-other');
  await t.rejects(client.writeEventJson('j', '1,"stream_name":"j-other"'), { code: 'INVALID_JSON' }, 'text that would add fields to the request is refused');
  t.equal((await client.getStreamInfo('j-other')).eventCount, 0, 'nothing written elsewhere');
  await t.rejects(client.writeEvent('j', 10n), { code: 'INVALID_FIELD' }, 'a BigInt: a rejection, not a thrown TypeError');
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  await t.rejects(client.writeEvent('j', circular), { code: 'INVALID_FIELD' });
  t.equal((await client.writeEventJson('j', '{"big": 12345678901234567890}')).offset, 0, 'valid JSON text still goes as written');
  await t.rejects(client.appendEvents('j', [{ body: { n: 1n } }]), { code: 'INVALID_FIELD' }, 'appendEvents of a BigInt: INVALID_FIELD, not a TypeError');
  await t.rejects(client.writeEvent('j', 1, { metadata: { n: 2n } }), { code: 'INVALID_FIELD' }, 'metadata JSON cannot hold: INVALID_FIELD');
  await t.rejects(client.request('write_event', { stream_name: 'j', event: circular }), { code: 'INVALID_FIELD' }, 'request() rejects too, it does not throw');
  t.equal((await client.getStreamInfo('j')).eventCount, 1, 'none of them wrote anything; the connection still works');
});

t.test('a server refusing the connection before any request: requests reject with its code', { skip: behindBalancer ? 'behind the test balancer the second connection reaches another gateway, with a slot of its own' : false }, async (t) => {
  const { port } = await serverFor(t, { limits: { maxConnections: 1 } });
  const first = await EventBusClient.connect({ port });
  t.teardown(() => first.close());
  await first.health();
  const second = await EventBusClient.connect({ port });
  t.teardown(() => second.close());
  await new Promise((resolve) => setTimeout(resolve, 300)); // the refusal arrives with no request waiting
  await t.rejects(second.health(), { code: 'TOO_MANY_CONNECTIONS' }, 'the server\'s code, not CONNECTION_ERROR');
});

t.test('pipelined long-polls: each one\'s wait counts from when the one before it was answered', async (t) => {
  const { port } = await serverFor(t);
  // The timeout leaves room for the gateway's slower polls (jetstream); the waits are longer than
  // it, so that counted from when they were sent, the second would time out.
  const client = await EventBusClient.connect({ port, requestTimeoutMs: 2000 });
  t.teardown(() => client.close());
  await client.createStream('lp');
  for (const consumer of ['a', 'b']) await client.processEvents('lp', { consumer });
  const results = await Promise.allSettled([
    client.processEvents('lp', { waitMs: 2500, consumer: 'a' }),
    client.processEvents('lp', { waitMs: 2500, consumer: 'b' }),
    client.health(),
  ]);
  t.same(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled'], 'no TIMEOUT though the second waited behind the first');
});

t.test('failures are EventBusErrors with the server\'s code, reason and context', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  const error = await client.request('create_stream').catch((e: unknown) => e);
  t.ok(error instanceof EventBusError);
  t.same({ code: (error as EventBusError).code, reason: (error as EventBusError).reason, context: (error as EventBusError).context }, {
    code: 'MISSING_FIELDS',
    reason: 'missing required fields',
    context: { body: [{ name: 'stream_name', type: 'string', required: true }] },
  });
  await t.rejects(client.markEvent('nope', 1), { code: 'EVENT_NOT_FOUND' });
  await t.rejects(client.request('fly'), { code: 'UNKNOWN_OPERATION' });
  await t.rejects(client.writeEventJson('x', '{bad'), { code: 'INVALID_JSON' });
  await client.health(); // the connection survives failures
});

t.test('pipelining: many requests in flight, answered in order', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('p');
  const writes = Array.from({ length: 2000 }, (_, i) => client.writeEvent('p', i));
  t.ok(client.inFlight > 1000, 'requests were pipelined');
  const offsets = (await Promise.all(writes)).map((w) => w.offset);
  t.same(offsets, Array.from({ length: 2000 }, (_, i) => i), 'stored in the order sent');
  const bodies: unknown[] = [];
  for (let from = 0; bodies.length < 2000; ) {
    const page = await client.getStreamEvents<number>('p', { fromOffset: from, maxEvents: 1000 });
    if (page.events.length === 0) break;
    bodies.push(...page.events.map((e) => e.body));
    from = page.nextOffset;
  }
  t.same(bodies, Array.from({ length: 2000 }, (_, i) => i), 'read back in the order sent');
});

t.test('auth is sent with every request', async (t) => {
  const started = await serverFor(t, { clients: { app: { client_id: 'id', client_secret: 's3cret' } } });
  const { port } = started;
  const good = await EventBusClient.connect({ port, auth: { clientId: 'id', clientSecret: 's3cret' } });
  t.teardown(() => good.close());
  await good.createStream('a');
  const bad = await EventBusClient.connect({ port, auth: { clientId: 'id', clientSecret: 'nope' } });
  t.teardown(() => bad.close());
  await bad.health();
  await t.rejects(bad.createStream('b'), { code: 'UNAUTHORIZED', reason: 'unauthorized to make request' });
  // The wire's snake_case keys (which the typings reject) from a caller without types: refused at
  // connect, naming the keys expected; they used to put "client_id":undefined (not JSON) on every line.
  for (const wrong of [{ client_id: 'id', client_secret: 's3cret' }, { clientId: 'id' }, null]) {
    await t.rejects(EventBusClient.connect({ port, auth: wrong as unknown as { clientId: string; clientSecret: string } }), { code: 'INVALID_FIELD', reason: /clientId, clientSecret/ }, `auth ${JSON.stringify(wrong)}: INVALID_FIELD at connect`);
  }

  const { server } = started;
  const failuresBefore = server.stats.authFailures;
  const subscription = await good.subscribe('a');
  await subscription.caughtUp;
  await subscription.unsubscribe();
  t.equal(server.stats.authFailures, failuresBefore, 'a subscription\'s unsubscribe carries the credentials too (no failed login)');
  await t.rejects(good.subscribe('a', { fromTime: new Date('not a time') }), { code: 'INVALID_FIELD' }, 'an invalid Date: INVALID_FIELD, and no connection opened');
  await t.rejects(good.getStreamEvents('a', { fromTime: new Date('not a time') }), { code: 'INVALID_FIELD' });
});

t.test('transport failures: refused, closed mid-request, timeout', { skip: behindBalancer ? 'behind the test balancer the port stays open when one gateway closes' : false }, async (t) => {
  const { port, server } = await serverFor(t);
  await server.close();
  await t.rejects(EventBusClient.connect({ port, connectTimeoutMs: 2000 }), { code: 'CONNECTION_ERROR' });

  // A server that accepts and never answers, then hangs up.
  const silent = net.createServer((socket) => {
    socket.on('data', () => {});
    setTimeout(() => socket.destroy(), 100);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const silentPort = (silent.address() as net.AddressInfo).port;
  const hungUp = await EventBusClient.connect({ port: silentPort });
  await t.rejects(hungUp.health(), { code: 'CONNECTION_ERROR' });
  await t.rejects(hungUp.health(), { code: 'CONNECTION_ERROR' }, 'later requests fail at once');

  const slow = net.createServer((socket) => socket.on('data', () => {}));
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  t.teardown(() => slow.close());
  const timed = await EventBusClient.connect({ port: (slow.address() as net.AddressInfo).port, requestTimeoutMs: 150 });
  await t.rejects(timed.health(), { code: 'TIMEOUT' });
});

t.test('errors from the original Go server (no code) are mapped from its reasons', async (t) => {
  const { responseError } = await import('../../src/client/response-errors.js');
  t.equal(responseError({ operation: 'x', status: false, reason: "stream: 'a' already exists" }).code, 'STREAM_EXISTS');
  t.equal(responseError({ operation: 'x', status: false, reason: 'unauthorized to make request' }).code, 'UNAUTHORIZED');
  t.equal(responseError({ operation: 'x', status: false, reason: 'something else' }).code, 'INTERNAL');
});

t.test('ensureStream and createStream(name, { ifNotExists: true }) are idempotent', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  const first = await client.ensureStream('orders');
  t.equal(first.name, 'orders');
  t.same(await client.ensureStream('orders'), first, 'the second call returns the same stream');
  t.same(await client.createStream('orders', { ifNotExists: true }), first, 'as does createStream with ifNotExists');
  await t.rejects(client.createStream('orders'), { code: 'STREAM_EXISTS' }, 'plain createStream still refuses an existing name');
  const racing = await Promise.all(Array.from({ length: 10 }, () => client.ensureStream('busy')));
  t.equal(new Set(racing.map((s) => s.id)).size, 1, 'ten pipelined ensures agree on one stream');
  await t.rejects(client.ensureStream(''), { code: 'INVALID_STREAM_NAME' }, 'other failures pass through');
});
