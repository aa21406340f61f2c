/**
 * `consumers.max_batch_bytes` on a gateway (the real `eventbus serve --backend jetstream`
 * process): a `process_events` page holds at most that many bytes of event bodies, and at least
 * one event (a bigger one goes alone), as on the engine; the events left out are delivered by the
 * next calls as new (status 0, delivery count 1), not held back until their ack deadline.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';
import { startServerProcess, tempDir } from '../helpers/server-process.js';

/** A JSON string body of exactly `bytes` bytes as stored (its quotes included). */
const bodyOf = (bytes: number, tag: string) => `${tag}${'x'.repeat(bytes - 2 - tag.length)}`;

t.test('process_events on a gateway honours max_batch_bytes', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const home = tempDir(t, 'eventbus-jsbytes-');
  const config = path.join(home, 'config.yaml');
  writeFileSync(config, `backend:\n  type: jetstream\n  servers: ${cluster.servers.join(',')}\nconsumers:\n  max_batch_bytes: 1000\n`);
  const gateway = await startServerProcess({ args: ['--config', config], cwd: home, timeoutMs: 60_000 });
  t.teardown(() => gateway.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: gateway.port, requestTimeoutMs: 60_000 });
  t.teardown(() => client.close());

  await client.createStream('s');
  // 300-byte bodies: three fit in 1,000 bytes, four do not; the 2,000-byte one alone is over.
  const sizes = [300, 300, 300, 300, 300, 2000, 300, 300];
  for (const [i, size] of sizes.entries()) await client.writeEvent('s', bodyOf(size, `${i}:`));
  const pages: number[][] = [];
  for (let calls = 0; calls < 10 && pages.flat().length < sizes.length; calls++) {
    const page = await client.processEvents<string>('s', { consumer: 'c', maxEvents: 100 });
    t.ok(page.events.length >= 1, 'every page has an event while some are due');
    const bytes = page.events.reduce((sum, e) => sum + JSON.stringify(e.body).length, 0);
    t.ok(page.events.length === 1 || bytes <= 1000, `a page of several events holds at most 1,000 bytes of bodies (${bytes})`);
    t.same(page.events.map((e) => [e.status, e.deliveryCount]), page.events.map(() => [0, 1]), 'delivered as new');
    pages.push(page.events.map((e) => e.offset));
    if (pages.flat().length < sizes.length) t.equal(page.more, true, 'more is true while events are left');
  }
  t.same(pages.flat(), sizes.map((_, i) => i), 'every event delivered once, in order');
  t.ok(pages.some((p) => p.length === 1 && p[0] === 5), 'the event over the limit came alone');
  t.ok(pages.every((p) => p.length <= 3), `no page held four 300-byte events: ${JSON.stringify(pages)}`);

  // auto_ack pages are bounded the same way.
  await client.createStream('auto');
  for (let i = 0; i < 6; i++) await client.writeEvent('auto', bodyOf(300, `${i}:`));
  const auto = await client.processEvents('auto', { consumer: 'c', maxEvents: 100, autoAck: true });
  t.ok(auto.events.length >= 1 && auto.events.length <= 3, `an auto_ack page too (${auto.events.length} events)`);
  t.equal(auto.more, true);

  // A long-poll's page: its first event, then what else fits.
  await client.createStream('polled');
  const polled = client.processEvents('polled', { consumer: 'c', maxEvents: 100, waitMs: 5000 });
  await new Promise((resolve) => setTimeout(resolve, 300));
  // From another connection: this one answers in order, after the long-poll.
  const writer = await EventBusClient.connect({ port: gateway.port, requestTimeoutMs: 60_000 });
  t.teardown(() => writer.close());
  await Promise.all([0, 1, 2, 3, 4].map((i) => writer.writeEvent('polled', bodyOf(300, `${i}:`))));
  const page = await polled;
  t.ok(page.events.length >= 1 && page.events.length <= 3, `a long-poll's page too (${page.events.length} events)`);
});
