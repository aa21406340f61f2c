/**
 * A gateway stops on SIGTERM also when the NATS cluster is gone: every connection it opened
 * (the main one, the publishing ones, the fetchers) is closed, none left reconnecting. Before, a
 * drain of a connection that had lost its server ended without closing it, and its reconnect loop
 * kept the process alive after "stopped".
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';
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
