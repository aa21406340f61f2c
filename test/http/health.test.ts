/**
 * /healthz and /readyz: JSON bodies and the status codes probes act on. Liveness is 200 while
 * the process answers, whatever the disk; readiness is 200 while the store takes writes, 503 once
 * a disk failure makes a stream refuse them (naming it and the error code; 200 again once that
 * stream is deleted), and 503 while the server shuts down; then the API refuses changes too,
 * while reads, metrics and probes answer.
 */
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import net from 'node:net';
import t from 'tap';
import { FaultyIO } from 'eventbus/storage/testing';
import { httpServerFor, scrape, storeWithBrokenStream } from './http-helpers.js';

async function getJson(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string | null; body: unknown }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type'), body: text === '' ? undefined : JSON.parse(text) };
}

t.test('a healthy server: /healthz and /readyz answer 200 with JSON', async (t) => {
  const server = await httpServerFor(t, { version: '9.9.9' });
  const health = await getJson(server.httpPort, '/healthz');
  t.equal(health.status, 200);
  t.match(health.type, /^application\/json/);
  t.match(health.body, { status: 'ok', version: '9.9.9', uptime_seconds: Number });
  const ready = await getJson(server.httpPort, '/readyz');
  t.equal(ready.status, 200);
  t.same(ready.body, { status: 'ready', problems: [], streams: 0 });
  const head = await getJson(server.httpPort, '/readyz', 'HEAD');
  t.equal(head.status, 200, 'HEAD works for probes too');
  t.equal(head.body, undefined);
});

t.test('after a disk failure a stream refuses writes: /readyz 503 names it, /healthz stays 200', async (t) => {
  const io = new FaultyIO();
  const server = await httpServerFor(t, { engineOptions: { io } });
  const client = await server.client();
  await client.createStream('orders');
  await client.writeEvent('orders', { ok: true });
  io.inject({ op: ['datasync', 'datasyncNow'], errno: 'EIO', path: /\.log$/, persistent: true });
  await t.rejects(client.writeEvent('orders', { lost: true }), { code: 'IO_ERROR' });
  io.clearFaults();
  await t.rejects(client.writeEvent('orders', { after: true }), { code: 'STREAM_FAILED' }, 'the stream refuses until reopened');

  const ready = await getJson(server.httpPort, '/readyz');
  t.equal(ready.status, 503);
  t.match(ready.body, { status: 'not_ready', problems: [{ what: 'stream orders', code: 'IO_ERROR', reason: /fsync/ }] });
  const health = await getJson(server.httpPort, '/healthz');
  t.equal(health.status, 200, 'the process is alive: restarting it is the operator\'s call, not the probe\'s');
  const metrics = await scrape(server.httpPort);
  t.equal(metrics.value('eventbus_ready'), 0);
  t.equal(metrics.value('eventbus_requests_total', { operation: 'write_event', code: 'IO_ERROR' }), 1);
  t.equal(metrics.value('eventbus_requests_total', { operation: 'write_event', code: 'STREAM_FAILED' }), 1);

  // Deleting the failed stream ends the problem without a restart (as operations.md says).
  await client.deleteStream('orders');
  const after = await getJson(server.httpPort, '/readyz');
  t.same([after.status, after.body], [200, { status: 'ready', problems: [], streams: 0 }], 'the failed stream deleted: ready again');
  t.equal((await scrape(server.httpPort)).value('eventbus_ready'), 1);
});

t.test('while the server shuts down /readyz answers 503', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  await client.createStream('s');
  let closing: Promise<void> | undefined;
  const response = await new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    // Asked as close() begins: the TCP side drains its connections first; HTTP closes last.
    closing = server.server.close();
    getJson(server.httpPort, '/readyz').then(resolve, reject);
  });
  t.equal(response.status, 503);
  t.match(response.body, { status: 'not_ready', problems: [{ what: 'server', code: 'SHUTTING_DOWN' }] });
  await closing;
  await t.rejects(fetch(`http://127.0.0.1:${server.httpPort}/healthz`), 'the HTTP port is closed with the server');
});

t.test('while the server shuts down the API refuses every change (503 SHUTTING_DOWN); reads, metrics and probes still answer', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  await client.createStream('s');
  // A TCP client that never closes its side keeps the shutdown draining (up to close_linger_ms).
  const idle = net.connect({ host: '127.0.0.1', port: server.port, allowHalfOpen: true });
  idle.on('error', () => {});
  t.teardown(() => idle.destroy());
  await once(idle, 'connect');
  while (server.server.connectionCount < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  await client.close();
  const closing = server.server.close();
  t.ok(server.server.shuttingDown, 'shutdown has begun');

  const post = (path: string, body: string) => fetch(`http://127.0.0.1:${server.httpPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const created = await post('/api/streams', '{"name":"late"}');
  t.equal(created.status, 503, 'POST /api/streams: 503');
  t.match(await created.json(), { error: { status: 503, code: 'SHUTTING_DOWN' } });
  const snapshot = await post('/api/snapshots', '{}');
  t.equal(snapshot.status, 503, 'POST /api/snapshots: 503');
  t.match(await snapshot.json(), { error: { code: 'SHUTTING_DOWN' } });
  const deleted = await fetch(`http://127.0.0.1:${server.httpPort}/api/streams/s`, { method: 'DELETE' });
  t.equal(deleted.status, 503, 'DELETE /api/streams/s: 503');
  t.same(server.engine.listStreams().map((s) => s.name), ['s'], 'nothing created or deleted');
  const root = server.server.bus.snapshotsRoot;
  t.same(existsSync(root) ? readdirSync(root) : [], [], 'no snapshot taken');

  t.equal((await getJson(server.httpPort, '/readyz')).status, 503, '/readyz says it is shutting down');
  t.equal((await getJson(server.httpPort, '/healthz')).status, 200, 'the process is alive');
  const overview = await getJson(server.httpPort, '/api/overview');
  t.equal(overview.status, 200, 'the page still reads');
  t.match(overview.body, { ready: false, streams: [{ name: 's' }], snapshots: [] });
  t.equal((await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).status, 200, 'and Prometheus still scrapes');
  idle.destroy();
  await closing;
});

t.test('a stream that failed to open: /readyz, /api/overview and /metrics count the same streams', async (t) => {
  const dataDir = await storeWithBrokenStream();
  const server = await httpServerFor(t, { engineOptions: { dataDir } });
  const ready = await getJson(server.httpPort, '/readyz');
  t.match(ready, { status: 200, body: { status: 'ready', streams: 2 } }, 'every stream in the store, the broken one too');
  const overview = await getJson(server.httpPort, '/api/overview');
  t.match(overview.body, { totals: { streams: 2, broken_streams: 1, events: 3 }, broken: [{ name: 'bad' }] }, 'the overview counts the same, and says how many failed to open');
  t.same((overview.body as { streams: { name: string }[] }).streams.map((s) => s.name), ['good'], 'only the open one is listed as a stream');
  const metrics = await scrape(server.httpPort);
  t.equal(metrics.value('eventbus_streams', { state: 'open' })! + metrics.value('eventbus_streams', { state: 'broken' })!, 2, 'as eventbus_streams does, by state');
  t.equal(metrics.value('eventbus_streams', { state: 'broken' }), 1);
});
