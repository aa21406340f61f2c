/**
 * The server as a process: restart keeps everything, SIGTERM answers what was received and
 * exits 0, protected defaults, TLS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { LineSocket } from '../helpers/server-lines.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';

t.test('a restart keeps streams, events, ids and consumer positions', async (t) => {
  const dataDir = tempDir(t);
  const first = await startServerProcess({ dataDir });
  const client = await EventBusClient.connect({ port: first.port });
  const stream = await client.createStream('kept');
  const written = await Promise.all(Array.from({ length: 100 }, (_, i) => client.writeEventJson('kept', `{"i":${i},"big":12345678901234567890}`)));
  const delivered = await client.processEvents('kept', { maxEvents: 10 });
  await client.markEvent(delivered.events.map((e) => e.id), 1);
  await client.close();
  t.equal(await first.stop(), 0);

  const second = await startServerProcess({ dataDir });
  t.teardown(() => void second.stop('SIGKILL'));
  const s = await LineSocket.connect(second.port);
  t.teardown(() => s.close());
  const info = await s.request({ operation: 'get_stream_info', body: { stream_name: 'kept' } });
  const infoStream = (info.body as { stream: Record<string, unknown> }).stream;
  t.equal(infoStream.id, stream.id, 'same stream id');
  t.equal(infoStream.event_count, 100);
  s.write('{"operation":"get_stream_events","body":{"stream_name":"kept"}}\n');
  const line = await s.readLine();
  const events = JSON.parse(line).body.events as { id: string; status: number }[];
  t.same(events.map((e) => e.id), written.map((w) => w.id), 'same ids, same order');
  t.ok(line.includes('"body":{"i":99,"big":12345678901234567890}'), 'payload bytes kept');
  t.same(events.slice(0, 10).map((e) => e.status), Array(10).fill(1), 'marks kept');
  const next = await s.request({ operation: 'process_events', body: { stream_name: 'kept', max_events: 1 } });
  t.equal((next.body as { events: { offset: number }[] }).events[0]!.offset, 10, 'the consumer continues where it was');
});

t.test('SIGTERM: requests already received are answered and durable, then exit 0', async (t) => {
  const dataDir = tempDir(t);
  const server = await startServerProcess({ dataDir });
  const s = await LineSocket.connect(server.port);
  t.teardown(() => s.close());
  await s.request({ operation: 'create_stream', body: { stream_name: 'drain' } });
  let batch = '';
  for (let i = 0; i < 300; i++) batch += `{"operation":"write_event","body":{"stream_name":"drain","event":${i}}}\n`;
  s.write(batch);
  await s.readLine(); // the server has read the batch
  server.child.kill('SIGTERM');
  const rest = await s.readLines(299, 10_000);
  t.ok(rest.every((line) => JSON.parse(line).status === true), 'all 300 answered with success');
  t.ok(await s.closesWithin(5000), 'then the connection is closed');
  t.equal(await server.exited, 0, 'exit status 0');

  const again = await startServerProcess({ dataDir });
  t.teardown(() => void again.stop('SIGKILL'));
  const c = await EventBusClient.connect({ port: again.port });
  t.teardown(() => c.close());
  t.equal((await c.getStreamInfo('drain')).eventCount, 300, 'every acknowledged write is there after restart');
});

t.test('SIGTERM: a long-poll already waiting is answered at once, not dropped', async (t) => {
  const server = await startServerProcess();
  const s = await LineSocket.connect(server.port);
  t.teardown(() => s.close());
  await s.request({ operation: 'create_stream', body: { stream_name: 'quiet' } });
  s.write('{"operation":"process_events","body":{"stream_name":"quiet","wait_ms":30000},"request_id":"poll"}\n');
  await new Promise((resolve) => setTimeout(resolve, 200)); // the poll is waiting now
  const started = Date.now();
  server.child.kill('SIGTERM');
  const answer = JSON.parse(await s.readLine(5000)) as Record<string, unknown>;
  t.match(answer, { operation: 'process_events', status: true, body: { events: [], more: false }, request_id: 'poll' }, 'answered, empty');
  t.equal(await server.exited, 0, 'exit status 0');
  const took = Date.now() - started;
  t.ok(took < 15_000, `shutdown did not wait out the 30 s poll (${took} ms)`);
});

t.test('protected default: a non-loopback bind without clients refuses to start', async (t) => {
  const dataDir = path.join(tempDir(t), 'never-created');
  const result = spawnSync(process.execPath, [MAIN, 'serve', '--host', '0.0.0.0', '--port', '0', '--data', dataDir], { encoding: 'utf8', timeout: 10_000 });
  t.equal(result.status, 1);
  t.match(result.stderr, /refusing to listen on 0\.0\.0\.0 without authentication/);
  t.match(result.stderr, /--insecure-no-auth/);
  t.match(result.stderr, /client_id/);
  t.notOk(existsSync(dataDir), 'nothing was created');

  const insecure = await startServerProcess({ args: ['--host', '0.0.0.0', '--insecure-no-auth'] });
  t.equal(await insecure.stop(), 0, '--insecure-no-auth starts');

  const dir = tempDir(t);
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, 'auth:\n  go-client:\n    client_id: "dope_go_client_id"\n    client_secret: "dope_go_client_secret"\n');
  const withAuth = await startServerProcess({ args: ['--host', '0.0.0.0', '--config', config] });
  const client = await EventBusClient.connect({ port: withAuth.port });
  await t.rejects(client.createStream('x'), { code: 'UNAUTHORIZED' });
  await client.close();
  const authed = await EventBusClient.connect({ port: withAuth.port, auth: { clientId: 'dope_go_client_id', clientSecret: 'dope_go_client_secret' } });
  t.equal((await authed.createStream('x')).name, 'x', 'configured clients get in');
  await authed.close();
  t.equal(await withAuth.stop(), 0);
  t.notMatch(withAuth.output(), /dope_go_client_secret/, 'the secret is never logged');
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

t.test('TLS serves the same protocol', { skip: hasOpenssl ? false : 'openssl is needed to make a test certificate' }, async (t) => {
  const dir = tempDir(t);
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const server = await startServerProcess({ args: ['--tls-cert', cert, '--tls-key', key] });
  t.teardown(() => void server.stop('SIGKILL'));
  const { readFileSync } = await import('node:fs');
  const client = await EventBusClient.connect({ port: server.port, tls: { ca: readFileSync(cert) } });
  await client.health();
  await client.createStream('secure');
  const written = await client.writeEvent('secure', { over: 'tls' });
  const page = await client.getStreamEvents('secure');
  t.same(page.events.map((e) => e.body), [{ over: 'tls' }]);
  t.equal(page.events[0]!.id, written.id);
  await client.exit();
  // Without the CA, a verifying TLS client refuses the server's self-signed certificate.
  await t.rejects(
    new Promise((resolve, reject) => {
      const socket = tls.connect({ port: server.port, host: '127.0.0.1', rejectUnauthorized: true });
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    }),
    'an untrusted certificate is refused by a verifying client',
  );
  t.equal(await server.stop(), 0);
});

t.test('a second signal during shutdown exits 1 at once, and its log line says what is durable under the fsync policy', async (t) => {
  for (const [fsync, says] of [['always', /already durable/], ['never', /not synced \(fsync never\): safe across this exit, not a power loss/]] as const) {
    const server = await startServerProcess({ args: ['--fsync', fsync] });
    t.teardown(() => void server.stop('SIGKILL'));
    const setup = await LineSocket.connect(server.port);
    await setup.request({ operation: 'create_stream', body: { stream_name: 'big' } });
    const payload = JSON.stringify('y'.repeat(60_000));
    for (let i = 0; i < 20; i++) await setup.request(`{"operation":"write_event","body":{"stream_name":"big","event":${payload}}}`);
    setup.close();
    // A client that never reads its answers keeps the shutdown waiting (up to shutdown_timeout_ms).
    const stuck = await LineSocket.connect(server.port);
    t.teardown(() => stuck.close());
    stuck.socket.pause();
    stuck.write('{"operation":"get_stream_events","body":{"stream_name":"big"}}\n'.repeat(200));
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    server.child.kill('SIGTERM');
    t.equal(await server.exited, 1, `fsync ${fsync}: exit status 1`);
    t.match(server.output(), /second signal during shutdown: exiting now/);
    t.match(server.output(), says, `fsync ${fsync}: the line says what an acknowledged event has come to`);
    stuck.close();
  }
});
