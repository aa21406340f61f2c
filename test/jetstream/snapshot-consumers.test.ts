/**
 * After snapshot_db and `eventbus restore --nats-servers`, every consumer resumes where it was,
 * whatever its start and filter: the events it had not acknowledged are delivered in order (those
 * above its ack floor again, at least once), and get_stream_info shows the start and filter it was
 * created with. Real gateways (`eventbus serve --backend jetstream`) on two real clusters. A
 * consumer created with start new whose first delivery was never acknowledged resumes at its
 * start by sequence, not from its creation time: the clocks that stamped the creation (the meta
 * leader's) and the events (the stream leader's) may differ; the test moves the recorded creation
 * time a minute on, as a fast clock would, which made the restore skip the consumer's events.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import type { ConsumerInfo, ProcessOptions } from '../../src/client/types.js';
import { jsConsumerName } from '../../src/bus/jetstream/names.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';
import { MAIN, startServerProcess } from '../helpers/server-process.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Fetches (acknowledging) until `count` events came or the fetches stay empty; their offsets. */
async function drain(client: EventBusClient, consumer: string, count: number): Promise<number[]> {
  const offsets: number[] = [];
  for (let empty = 0; offsets.length < count && empty < 8; ) {
    const { events } = await client.processEvents('orders', { consumer, maxEvents: 100, waitMs: 500, autoAck: true });
    if (events.length === 0) empty++;
    offsets.push(...events.map((e) => e.offset));
  }
  return offsets;
}

/** The stream's consumers once `count` of them answer (a restored consumer's leader may still be elected). */
async function consumersOf(client: EventBusClient, count: number): Promise<ConsumerInfo[]> {
  let consumers = (await client.getStreamInfo('orders')).consumers;
  for (let i = 0; i < 50 && consumers.length < count; i++) {
    await sleep(200);
    consumers = (await client.getStreamInfo('orders')).consumers;
  }
  return consumers;
}

t.test('restored consumers resume after their ack floor, whatever their start and filter', natsSkip(), async (t) => {
  const one = await startNatsCluster();
  t.teardown(() => one.stop());
  const two = await startNatsCluster();
  t.teardown(() => two.stop());
  const gateway = await startServerProcess({ args: ['--backend', 'jetstream', '--nats-servers', one.servers.join(',')], timeoutMs: 30_000 });
  t.teardown(() => gateway.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: gateway.port });
  t.teardown(() => client.close());

  await client.createStream('orders');
  for (let i = 0; i < 3; i++) await client.writeEvent('orders', { i });
  await sleep(50);
  const afterFirst = new Date().toISOString();
  await sleep(50);
  // Each consumer created before the events 3..9 (those of `from-offset` from offset 1).
  const setups: Record<string, ProcessOptions> = {
    fresh: { start: 'new' },
    partial: { start: 'new' },
    unacked: { start: 'new' },
    keyed: { start: 'new', key: 'k1' },
    typed: { start: 'new', types: ['t1'] },
    'from-offset': { start: { offset: 1 } },
    'from-time': { start: { time: afterFirst } },
  };
  for (const [consumer, setup] of Object.entries(setups)) await client.processEvents('orders', { consumer, ...setup, maxEvents: 1, autoAck: true });
  const fromOffset = await client.processEvents('orders', { consumer: 'from-offset', maxEvents: 1, autoAck: true });
  t.same(fromOffset.events.map((e) => e.offset), [2], 'from-offset had 1 delivered at its creation: 2 next');
  for (let i = 3; i < 10; i++) await client.writeEvent('orders', { i }, { key: i % 2 === 1 ? 'k1' : 'k2', type: i % 2 === 1 ? 't1' : 't2' });
  // partial: 3, 4 and 5 delivered; 3 and 5 processed, 4 not (its ack floor is 4, the sequence of offset 3).
  const partial = await client.processEvents('orders', { consumer: 'partial', maxEvents: 3, autoAck: false });
  t.same(partial.events.map((e) => e.offset), [3, 4, 5]);
  await client.markEvent([partial.events[0]!.id, partial.events[2]!.id], 1, { consumer: 'partial' });
  // unacked: 3 and 4 delivered, neither processed (JetStream then reports no ack floor at all).
  const unacked = await client.processEvents('orders', { consumer: 'unacked', maxEvents: 2, autoAck: false });
  t.same(unacked.events.map((e) => e.offset), [3, 4]);
  const before = await consumersOf(client, 7);
  t.match(before.find((c) => c.name === 'partial'), { ackFloor: 4, start: 'new' });

  const snapshot = await client.snapshot('nightly');
  // As recorded by a meta leader whose clock runs a minute ahead of the stream leader's.
  const manifestFile = path.join(snapshot.absolutePath, 'MANIFEST.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { streams: { consumers?: { durable: string; created: string }[] }[] };
  const recorded = manifest.streams.flatMap((stream) => stream.consumers ?? []).find((c) => c.durable === jsConsumerName('unacked'));
  t.ok(recorded, 'the unacked consumer\'s position is recorded');
  recorded!.created = new Date(Date.parse(recorded!.created) + 60_000).toISOString();
  writeFileSync(manifestFile, JSON.stringify(manifest));
  await run(process.execPath, [MAIN, 'restore', snapshot.absolutePath, '--nats-servers', two.servers.join(',')]);
  const copy = await startServerProcess({ args: ['--backend', 'jetstream', '--nats-servers', two.servers.join(',')], timeoutMs: 30_000 });
  t.teardown(() => copy.stop('SIGKILL'));
  const copyClient = await EventBusClient.connect({ port: copy.port });
  t.teardown(() => copyClient.close());

  const after = await consumersOf(copyClient, 7);
  t.same(
    after.map((c) => ({ name: c.name, start: c.start, filter: c.filter })),
    before.map((c) => ({ name: c.name, start: c.start, filter: c.filter })),
    'each consumer keeps the start and filter it was created with',
  );
  const expected: Record<string, number[]> = {
    fresh: [3, 4, 5, 6, 7, 8, 9],
    // 4 was delivered and not processed; 5 was processed above the ack floor: delivered again (at least once).
    partial: [4, 5, 6, 7, 8, 9],
    unacked: [3, 4, 5, 6, 7, 8, 9],
    keyed: [3, 5, 7, 9],
    typed: [3, 5, 7, 9],
    'from-offset': [3, 4, 5, 6, 7, 8, 9],
    'from-time': [3, 4, 5, 6, 7, 8, 9],
  };
  for (const [consumer, offsets] of Object.entries(expected)) {
    t.same(await drain(copyClient, consumer, offsets.length), offsets, `${consumer}: every event it had not acknowledged, in order`);
  }
  await copyClient.writeEvent('orders', { i: 10 }, { key: 'k1', type: 't1' });
  for (const consumer of Object.keys(expected)) t.same(await drain(copyClient, consumer, 1), [10], `${consumer}: then what is written after the restore`);
});
