/** The jetstream backend end to end over the wire: streams, writes, reads, consumers, marks. */
import t from 'tap';
import { startGateway } from '../helpers/jetstream-gateway.js';
import { natsSkip, startNatsCluster, type NatsCluster } from '../helpers/nats-cluster.js';
import { LineSocket } from '../helpers/server-lines.js';

t.test('basic operations through a gateway', natsSkip(), async (t) => {
  const cluster: NatsCluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const gw = await startGateway(cluster.servers);
  t.teardown(() => gw.close());
  const s = await LineSocket.connect(gw.port);
  t.teardown(() => s.close());
  const r = (x: unknown) => s.request(x);
  console.log(await r({ operation: 'create_stream', body: { stream_name: 'orders' } }));
  console.log(await r({ operation: 'create_stream', body: { stream_name: 'orders' } }));
  for (let i = 0; i < 5; i++) console.log(await r({ operation: 'write_event', body: { stream_name: 'orders', event: { i } } }));
  console.log(JSON.stringify(await r({ operation: 'get_stream_events', body: { stream_name: 'orders' } })));
  const p = await r({ operation: 'process_events', body: { stream_name: 'orders', max_events: 3 } });
  console.log(JSON.stringify(p));
  const ids = (p.body as { events: { id: string }[] }).events.map((e) => e.id);
  console.log(await r({ operation: 'mark_event', body: { event_ids: ids.slice(0, 2), status: 1 } }));
  console.log(await r({ operation: 'mark_event', body: { event_id: ids[2], status: 0 } }));
  console.log(JSON.stringify(await r({ operation: 'process_events', body: { stream_name: 'orders' } })));
  console.log(JSON.stringify(await r({ operation: 'get_stream_info', body: { stream_name: 'orders' } })));
  console.log(JSON.stringify(await r({ operation: 'list_streams' })));
  console.log(JSON.stringify(await r({ operation: 'snapshot_db', body: { output: 'b' } })));
  console.log(await r({ operation: 'delete_stream', body: { stream_name: 'orders' } }));
  console.log(await r({ operation: 'get_stream_info', body: { stream_name: 'orders' } }));
  t.pass();
});
