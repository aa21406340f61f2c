/**
 * The HTTP port of a gateway (`eventbus serve --backend jetstream --http-port`), the real process
 * on a real cluster: /healthz and /readyz for a load balancer in front of several gateways, the
 * server's metrics (no engine metrics), the admin page refused with NOT_SUPPORTED (501), and
 * /readyz 503 once no node of the cluster can be reached.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';
import { startServerProcess, tempDir } from '../helpers/server-process.js';
import { scrape } from '../http/http-helpers.js';

async function getJson(port: number, urlPath: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`, init);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

t.test('a gateway serves probes and metrics on its HTTP port', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  let clusterStopped = false;
  t.teardown(() => (clusterStopped ? undefined : cluster.stop()));
  const portFile = path.join(tempDir(t), 'http-port');
  const gateway = await startServerProcess({ args: ['--backend', 'jetstream', '--nats-servers', cluster.servers.join(','), '--http-port', '0', '--http-port-file', portFile], timeoutMs: 30_000 });
  t.teardown(() => gateway.stop('SIGKILL'));
  const httpPort = Number(readFileSync(portFile, 'utf8').trim());

  t.match(await getJson(httpPort, '/healthz'), { status: 200, body: { status: 'ok' } });
  t.same(await getJson(httpPort, '/readyz'), { status: 200, body: { status: 'ready', problems: [] } }, 'ready; no stream count (that would be a request to the cluster)');

  const client = await EventBusClient.connect({ port: gateway.port });
  t.teardown(() => client.close());
  await client.createStream('orders');
  await client.writeEvent('orders', { n: 1 });
  const metrics = await scrape(httpPort);
  t.equal(metrics.value('eventbus_requests_total', { operation: 'write_event', code: 'OK' }), 1);
  t.equal(metrics.value('eventbus_connections_open'), 1);
  t.equal(metrics.value('eventbus_ready'), 1);
  t.throws(() => metrics.family('eventbus_fsync_rounds_total'), /no metric/, 'no engine metrics on a gateway');
  t.throws(() => metrics.family('eventbus_stream_events'), /no metric/);

  for (const [urlPath, init] of [['/', {}], ['/api/overview', {}], ['/api/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' }]] as const) {
    const refused = await getJson(httpPort, urlPath, init);
    t.equal(refused.status, 501, `${urlPath}: 501`);
    t.match(refused.body, { error: { code: 'NOT_SUPPORTED', reason: /admin page reads the embedded engine/ } });
  }

  await client.close();
  await cluster.stop();
  clusterStopped = true;
  let ready = await getJson(httpPort, '/readyz');
  for (let i = 0; i < 100 && ready.status === 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    ready = await getJson(httpPort, '/readyz');
  }
  t.equal(ready.status, 503, 'not ready once no node can be reached');
  t.match(ready.body, { status: 'not_ready', problems: [{ what: 'nats', code: 'BACKEND_UNAVAILABLE' }] });
  t.equal((await getJson(httpPort, '/healthz')).status, 200, 'still alive: the gateway reconnects by itself');
});
