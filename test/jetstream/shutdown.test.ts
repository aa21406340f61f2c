/**
 * A gateway stops on SIGTERM also when the NATS cluster is gone: every connection it opened
 * (the main one, the publishing ones, the fetchers) is closed, none left reconnecting. Before, a
 * drain of a connection that had lost its server ended without closing it, and its reconnect loop
 * kept the process alive after "stopped". Requests in flight to an unreachable cluster are waited
 * for 2 s, not shutdown_timeout_ms, and abandoned ones (a write retried for write_timeout_ms) no
 * longer keep the process alive for their 30 s: the store's close ends every retry and its timer
 * (before, serve called process.exit to hide them). A cluster that lost its quorum while the
 * gateway stays connected: retries stop 2 s into the shutdown, the write is answered
 * BACKEND_UNAVAILABLE, and the gateway does not wait shutdown_timeout_ms (10 s).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';
import { startNatsNode } from '../helpers/nats-node.js';
import { startServerProcess, tempDir } from '../helpers/server-process.js';

t.test('SIGTERM stops a gateway whose NATS cluster is gone', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const home = tempDir(t, 'eventbus-jsstop-');
  const config = path.join(home, 'config.yaml');
  writeFileSync(config, `backend:\n  type: jetstream\n  servers: ${cluster.servers.join(',')}\n`);
  const gateway = await startServerProcess({ args: ['--config', config], cwd: home, timeoutMs: 60_000 });
  t.teardown(() => gateway.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: gateway.port, requestTimeoutMs: 30_000 });
  await client.createStream('s');
  await client.writeEvent('s', { n: 1 });
  t.equal((await client.processEvents('s')).events.length, 1, 'a consumer fetched (its connection is open)');
  await client.close();
  for (let i = 0; i < cluster.nodes.length; i++) await cluster.kill(i);
  await new Promise((resolve) => setTimeout(resolve, 500)); // the gateway notices and starts reconnecting
  gateway.child.kill('SIGTERM');
  const outcome = await Promise.race([gateway.exited, new Promise((resolve) => setTimeout(() => resolve('still running 15 s after SIGTERM'), 15_000))]);
  t.equal(outcome, 0, 'exited with status 0', { output: gateway.output().slice(-2000) });
});

t.test('SIGTERM with requests in flight to an unreachable cluster: the gateway exits within a few seconds', natsSkip(), async (t) => {
  const home = tempDir(t, 'eventbus-jsstop-');
  const node = await startNatsNode(t, home);
  const gateway = await startServerProcess({ args: ['--backend', 'jetstream', '--replicas', '1', '--nats-servers', node.url, '--log-level', 'info'], cwd: home, timeoutMs: 60_000 });
  t.teardown(() => gateway.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: gateway.port, requestTimeoutMs: 60_000 });
  t.teardown(() => client.close());
  await client.createStream('s');
  await client.writeEvent('s', { n: 1 });
  await node.kill();
  await new Promise((resolve) => setTimeout(resolve, 500)); // the gateway notices and starts reconnecting
  // In flight when the signal comes: retried through the outage (a write for write_timeout_ms, 30 s).
  const write = client.writeEvent('s', { n: 2 }).then(() => 'answered', (error: { code?: string }) => error.code ?? 'failed');
  const info = client.getStreamInfo('s').then(() => 'answered', (error: { code?: string }) => error.code ?? 'failed');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = Date.now();
  gateway.child.kill('SIGTERM');
  // Before the fix: 10 s waiting for the requests (shutdown_timeout_ms), then the abandoned write
  // kept the process alive until its 30 s were up.
  const outcome = await Promise.race([gateway.exited, new Promise((resolve) => setTimeout(() => resolve('still running 20 s after SIGTERM'), 20_000))]);
  const elapsedMs = Date.now() - started;
  t.equal(outcome, 0, 'exited with status 0', { output: gateway.output().slice(-2000) });
  t.ok(elapsedMs < 6000, `within 2 s for the requests, 2 s for the connections and slack: ${elapsedMs} ms`);
  t.match(gateway.output(), /"msg":"shutdown: the backend cannot be reached: closing connections with requests in flight"/, 'the log says why requests were cut');
  t.match(gateway.output(), /"msg":"stopped"/);
  t.same([await write, await info], ['CONNECTION_ERROR', 'CONNECTION_ERROR'], 'the requests in flight get no answer (their connection closes)');
});

t.test('SIGTERM with a write in flight to a cluster without quorum: answered BACKEND_UNAVAILABLE, the gateway exits within a few seconds', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const home = tempDir(t, 'eventbus-jsstop-');
  const config = path.join(home, 'config.yaml');
  // Connected to the node that stays up: the gateway never counts as disconnected.
  writeFileSync(config, `backend:\n  type: jetstream\n  servers: ${cluster.servers[0]}\n  request_timeout_ms: 1000\n`);
  const gateway = await startServerProcess({ args: ['--config', config, '--log-level', 'info'], cwd: home, timeoutMs: 60_000 });
  t.teardown(() => gateway.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: gateway.port, requestTimeoutMs: 60_000 });
  t.teardown(() => client.close());
  await client.createStream('s');
  await client.writeEvent('s', { n: 1 });
  await cluster.kill(1);
  await cluster.kill(2);
  // Retried for write_timeout_ms (30 s): no quorum stores it.
  const write = client.writeEvent('s', { n: 2 }, { msgId: 'w2' }).then(() => 'answered', (error: { code?: string; context?: { msg_id?: string } }) => `${error.code} ${error.context?.msg_id}`);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const started = Date.now();
  gateway.child.kill('SIGTERM');
  // Before the fix: shutdown_timeout_ms (10 s) waiting for the write, which was then cut off.
  const outcome = await Promise.race([gateway.exited, new Promise((resolve) => setTimeout(() => resolve('still running 20 s after SIGTERM'), 20_000))]);
  const elapsedMs = Date.now() - started;
  t.equal(outcome, 0, 'exited with status 0', { output: gateway.output().slice(-2000) });
  t.ok(elapsedMs < 8000, `2 s of retries, a request_timeout_ms, 2 s for the connections and slack: ${elapsedMs} ms`);
  t.equal(await write, 'BACKEND_UNAVAILABLE w2', 'the write is told its outcome is unknown, with its msg_id to retry with');
  t.match(gateway.output(), /"msg":"stopped"/);
});
