/**
 * snapshot_db on a gateway (the real `eventbus serve --backend jetstream` process) whose cluster
 * cannot serve it (two of three nodes down: no quorum, no JetStream meta leader) answers
 * BACKEND_UNAVAILABLE, the code of every other operation the cluster cannot answer, within a few
 * request timeouts: not SNAPSHOT_FAILED, and not after the stream snapshot's stall timeout (2 min).
 */
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';
import { startServerProcess } from '../helpers/server-process.js';

t.test('snapshot_db without a quorum is BACKEND_UNAVAILABLE, promptly', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const gateway = await startServerProcess({ args: ['--backend', 'jetstream', '--nats-servers', cluster.servers.join(',')], timeoutMs: 60_000 });
  t.teardown(() => gateway.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: gateway.port, requestTimeoutMs: 300_000 });
  t.teardown(() => client.close());
  await client.createStream('orders');
  await client.writeEvent('orders', { n: 1 });
  t.match(await client.snapshot('before'), { streams: 1 }, 'a snapshot while the cluster is whole');

  await cluster.kill(1);
  await cluster.kill(2);
  const startedMs = Date.now();
  const failure = await client.snapshot('during').then(() => null, (error: unknown) => error);
  const tookMs = Date.now() - startedMs;
  t.match(failure, { code: 'BACKEND_UNAVAILABLE' }, 'BACKEND_UNAVAILABLE', { failure });
  // The gateway's request timeout is 5 s: a few of them, not the snapshot's 2-minute stall timeout.
  t.ok(tookMs < 20_000, `answered in ${tookMs} ms`);

  await cluster.kill(0);
  const startedAllDownMs = Date.now();
  const allDown = await client.snapshot('none').then(() => null, (error: unknown) => error);
  const allDownMs = Date.now() - startedAllDownMs;
  t.match(allDown, { code: 'BACKEND_UNAVAILABLE' }, 'no node reachable: BACKEND_UNAVAILABLE too', { failure: allDown });
  t.ok(allDownMs < 20_000, `answered in ${allDownMs} ms`);
});
