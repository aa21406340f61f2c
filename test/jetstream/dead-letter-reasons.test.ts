/**
 * A `process_events` whose dead-lettering fails says so in the user's terms: its reason names the
 * stream the caller asked for and "its dead-letter stream", never the internal name (`$dlq:…`)
 * the gateway keeps that stream under. Seen through two real gateways (`eventbus serve --backend
 * jetstream`): gateway B deletes the dead-letter stream while gateway A still holds its catalog
 * entry, and A's next move of an event there fails.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { isEventBusError } from '../../src/errors.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';
import { startServerProcess, tempDir } from '../helpers/server-process.js';

const ACK_WAIT_MS = 1000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

t.test('a failed move to the dead-letter stream is explained without its internal name', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const home = tempDir(t, 'eventbus-jsdlq-');
  const config = path.join(home, 'config.yaml');
  writeFileSync(config, `backend:\n  type: jetstream\n  servers: ${cluster.servers.join(',')}\nconsumers:\n  max_deliveries: 1\n  ack_wait_ms: ${ACK_WAIT_MS}\n`);
  const clients: EventBusClient[] = [];
  for (let i = 0; i < 2; i++) {
    const gateway = await startServerProcess({ args: ['--config', config], cwd: home, timeoutMs: 60_000 });
    t.teardown(() => gateway.stop('SIGKILL'));
    const client = await EventBusClient.connect({ port: gateway.port, requestTimeoutMs: 120_000 });
    t.teardown(() => client.close());
    clients.push(client);
  }
  const [a, b] = clients as [EventBusClient, EventBusClient];

  await a.createStream('orders');
  await a.writeEvent('orders', { n: 0 });
  await a.writeEvent('orders', { n: 1 });
  // Event 0 delivered and left unmarked: past its ack deadline it is dead-lettered, which
  // creates the dead-letter stream.
  t.equal((await a.processEvents('orders', { consumer: 'c', maxEvents: 1 })).events.length, 1);
  await sleep(ACK_WAIT_MS + 300);
  const second = await a.processEvents('orders', { consumer: 'c', maxEvents: 1 });
  t.same(second.events, [], 'event 0 went to the dead-letter stream');
  t.equal((await a.getStreamInfo('orders')).consumers[0]?.deadLettered, 1);
  t.equal((await a.processEvents('orders', { consumer: 'c', maxEvents: 1 })).events[0]?.offset, 1, 'event 1 delivered');
  await sleep(ACK_WAIT_MS + 300);

  // A reads the dead-letter stream's entry (cached); B deletes that stream; A's move of event 1
  // then finds it gone.
  await a.getStreamInfo('$dlq:orders');
  await b.deleteStream('$dlq:orders');
  const failure = await a.processEvents('orders', { consumer: 'c', maxEvents: 1 }).then(() => null, (error: unknown) => error);
  t.ok(isEventBusError(failure), 'the move failed', { failure });
  const reason = (failure as { reason: string }).reason;
  t.notMatch(reason, /\$dlq/, `the reason does not name the internal stream: ${reason}`);
  t.match(reason, /dead-letter stream/, 'it says dead-letter stream');
  t.match(reason, /'orders'/, 'and names the caller\'s stream');
  // The event is due again: the next call moves it to a new dead-letter stream.
  t.same((await a.processEvents('orders', { consumer: 'c', maxEvents: 1 })).events, [], 'moved by the next call');
  t.equal((await a.getStreamEvents('$dlq:orders', { fromOffset: 0 })).events.length, 1, 'into a dead-letter stream created again');
});
