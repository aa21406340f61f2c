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
  const { port } = await serverFor(t, { clients: { app: { client_id: 'id', client_secret: 's3cret' } } });
  const good = await EventBusClient.connect({ port, auth: { clientId: 'id', clientSecret: 's3cret' } });
  t.teardown(() => good.close());
  await good.createStream('a');
  const bad = await EventBusClient.connect({ port, auth: { clientId: 'id', clientSecret: 'nope' } });
  t.teardown(() => bad.close());
  await bad.health();
  await t.rejects(bad.createStream('b'), { code: 'UNAUTHORIZED', reason: 'unauthorized to make request' });
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
