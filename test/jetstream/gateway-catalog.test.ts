/**
 * Two gateways (real `eventbus serve --backend jetstream` processes) on one cluster agree on
 * which streams exist as soon as either acknowledges a create or a delete: a gateway that had
 * looked a name up (and found nothing) serves the stream another gateway has just created, not
 * STREAM_NOT_FOUND from its catalog cache; and a stream another gateway has just deleted is not
 * written to, read or consumed from a cached entry.
 */
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';

async function gateway(t: { teardown(fn: () => unknown): void }, servers: string[]): Promise<{ process: ServerProcess; client: EventBusClient }> {
  const process = await startServerProcess({ args: ['--backend', 'jetstream', '--nats-servers', servers.join(',')], timeoutMs: 60_000 });
  t.teardown(() => process.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: process.port, requestTimeoutMs: 60_000 });
  t.teardown(() => client.close());
  return { process, client };
}

t.test('gateways agree on creates and deletes at once (read-your-writes across gateways)', natsSkip(), async (t) => {
  const cluster = await startNatsCluster();
  t.teardown(() => cluster.stop());
  const a = (await gateway(t, cluster.servers)).client;
  const b = (await gateway(t, [...cluster.servers].reverse())).client;

  t.test('a stream created through A is served by B at once, though B had just found no such stream', async (t) => {
    for (let i = 0; i < 5; i++) {
      const name = `fresh-${i}`;
      // B looks the name up first: the answer (no such stream) must not outlive A's create.
      await t.rejects(b.getStreamInfo(name), { code: 'STREAM_NOT_FOUND' }, `${name}: not there yet`);
      await t.rejects(b.writeEvent(name, { before: true }), { code: 'STREAM_NOT_FOUND' });
      await a.createStream(name);
      const written = await b.writeEvent(name, { n: i });
      t.equal(written.offset, 0, `${name}: B writes to it right after A's create`);
      t.equal((await b.getStreamInfo(name)).nextOffset, 1, `${name}: and B's info shows it`);
      await t.rejects(b.createStream(name), { code: 'STREAM_EXISTS' }, `${name}: B sees it exists`);
    }
    await t.rejects(b.getStreamInfo('late-1'), { code: 'STREAM_NOT_FOUND' });
    await a.createStream('late-1');
    t.equal((await b.processEvents('late-1')).events.length, 0, 'process_events on B right after the create: the stream is found');
    await t.rejects(b.getStreamEvents('late-2', { fromOffset: 0 }), { code: 'STREAM_NOT_FOUND' });
    await a.createStream('late-2');
    t.same((await b.getStreamEvents('late-2', { fromOffset: 0 })).events, [], 'get_stream_events on B right after the create');
  });

  t.test('a stream deleted through A is not served by B from its cache', async (t) => {
    await a.createStream('gone');
    await b.writeEvent('gone', { n: 0 }); // B knows the stream now
    t.equal((await b.getStreamInfo('gone')).nextOffset, 1);
    await a.deleteStream('gone');
    await t.rejects(b.writeEvent('gone', { n: 1 }), { code: 'STREAM_NOT_FOUND' }, 'a write through B right after the delete is refused');
    await t.rejects(b.writeEvent('gone', { n: 2 }, { key: 'k', expectedVersion: 'any' }), { code: 'STREAM_NOT_FOUND' }, 'a keyed one too');
    await t.rejects(b.getStreamInfo('gone'), { code: 'STREAM_NOT_FOUND' });
    await t.rejects(b.processEvents('gone'), { code: 'STREAM_NOT_FOUND' });
    await t.rejects(b.getStreamEvents('gone', { fromOffset: 0 }), { code: 'STREAM_NOT_FOUND' });
    // Created again through A: B writes into the new stream, never into the old one.
    await a.createStream('gone');
    t.equal((await b.writeEvent('gone', { n: 3 })).offset, 0, 'B writes to the new stream at once');
    const page = await a.getStreamEvents('gone', { fromOffset: 0 });
    t.same(page.events.map((e) => e.body), [{ n: 3 }], 'which holds only that event');
    // Deleted and created again through A while B holds its entry for the old stream.
    await a.deleteStream('gone');
    await a.createStream('gone');
    t.equal((await b.writeEvent('gone', { n: 4 })).offset, 0, 'B writes to the stream created again, not to the old one');
    t.same((await b.getStreamEvents('gone', { fromOffset: 0 })).events.map((e) => e.body), [{ n: 4 }], 'and reads it');
  });
});
