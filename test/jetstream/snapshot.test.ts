/**
 * snapshot_db on the jetstream backend and `eventbus restore --nats-servers` into a new cluster:
 * streams, events, ids and consumer positions come back; restoring over existing data is refused.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { connect } from 'nats';
import t from 'tap';
import { EventBus } from '../../src/bus/bus.js';
import { JetStreamStore } from '../../src/bus/jetstream/jetstream-store.js';
import { NATS_SERVER_BIN, freePort, natsSkip, startNatsCluster } from '../helpers/nats-cluster.js';
import { MAIN } from '../helpers/server-process.js';
import { tempDir } from '../helpers/temp-dir.js';

const run = promisify(execFile);

/** A nats-server with JetStream and no cluster, stopped (by its pid) when the test ends. */
async function startSingleNode(t: { teardown(fn: () => void | Promise<void>): void }): Promise<{ servers: string[] }> {
  const port = await freePort();
  const child = spawn(NATS_SERVER_BIN, ['-js', '-sd', tempDir(t, 'eventbus-js-single-'), '-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  for (let i = 0; i < 100; i++) {
    const nc = await connect({ servers: [`127.0.0.1:${port}`], timeout: 500 }).catch(() => null);
    if (nc !== null) {
      await nc.close();
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { servers: [`127.0.0.1:${port}`] };
}

t.test('snapshot into the snapshots root, restore into another cluster', natsSkip(), async (t) => {
  const root = tempDir(t, 'eventbus-js-snap-');
  // One after the other, each stopped by its own teardown: a cluster that failed to start must not
  // leave the other running (its processes would hold the test open until tap's timeout).
  const one = await startNatsCluster();
  t.teardown(() => one.stop());
  const two = await startNatsCluster();
  t.teardown(() => two.stop());
  const store = await JetStreamStore.open({ servers: one.servers });
  t.teardown(() => store.close());
  const bus = new EventBus(store, { snapshotsRoot: root });
  await bus.createStream('orders');
  const ids: string[] = [];
  for (let i = 0; i < 50; i++) ids.push((await bus.writeEvent('orders', Buffer.from(JSON.stringify({ i })))).id);
  const delivered = await bus.process({ streamName: 'orders', consumer: 'billing', maxEvents: 20, waitMs: undefined, autoAck: false });
  await bus.mark({ eventIds: delivered.events.slice(0, 10).map((e) => e.id), status: 1, consumer: 'billing' });
  const snapshot = await bus.snapshot('nightly');
  t.equal(snapshot.streams, 1);
  t.equal(snapshot.events, 50);
  t.match(snapshot.path, /^nightly\/snapshot-/);
  const manifest = JSON.parse(readFileSync(path.join(snapshot.absolutePath, 'MANIFEST.json'), 'utf8')) as { catalog_messages: number };
  t.ok(manifest.catalog_messages >= 1, 'the manifest counts the catalog\'s messages (restore waits for them)');

  const restored = await run(process.execPath, [MAIN, 'restore', snapshot.absolutePath, '--nats-servers', two.servers.join(','), '--json']);
  t.match(JSON.parse(restored.stdout), { streams: 1, events: 50 });
  const copy = await JetStreamStore.open({ servers: two.servers });
  t.teardown(() => copy.close());
  const copyBus = new EventBus(copy, { snapshotsRoot: root });
  const page = await copyBus.readEvents({ streamName: 'orders', fromOffset: 0, maxEvents: 100, consumer: 'billing' });
  t.same(page.events.map((e) => e.id), ids, 'the same events under the same ids');
  t.same(page.events.slice(0, 12).map((e) => e.status), [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0], 'the consumer\'s acknowledgements came back');
  // The consumer's leader may still be electing right after a restore: ask until it answers.
  let info = await copyBus.streamInfo('orders');
  for (let i = 0; i < 50 && info.consumers.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
    info = await copyBus.streamInfo('orders');
  }
  t.match(info.consumers, [{ name: 'billing', cursor: 20, ackFloor: 10 }]);
  t.equal((await copyBus.writeEvent('orders', Buffer.from('"after"'))).offset, 50, 'numbering continues');

  const again = await run(process.execPath, [MAIN, 'restore', snapshot.absolutePath, '--nats-servers', two.servers.join(',')]).catch((error: { code: number; stderr: string }) => error);
  t.not((again as { code: number }).code, 0, 'restoring over existing data is refused');
  t.match((again as { stderr: string }).stderr, /already has stream/);
  t.ok(path.isAbsolute(snapshot.absolutePath));

  // Into one node, where streams of 3 replicas cannot be placed: the restore fails half way and
  // removes what it restored, so the retry fails for the same reason, not as "already has".
  const single = await startSingleNode(t);
  for (const attempt of ['first', 'retry']) {
    const failed = await run(process.execPath, [MAIN, 'restore', snapshot.absolutePath, '--nats-servers', single.servers.join(',')]).catch((error: { code: number; stderr: string }) => error);
    t.not((failed as { code: number }).code, 0, `${attempt}: the restore fails`);
    t.notMatch((failed as { stderr: string }).stderr, /already has stream/, `${attempt}: not refused as over existing data`);
    t.match((failed as { stderr: string }).stderr, /nothing was restored/, `${attempt}: and says nothing is left`, { stderr: (failed as { stderr: string }).stderr });
  }
  const nc = await connect({ servers: single.servers });
  t.teardown(() => nc.close());
  const left: string[] = [];
  for await (const name of (await nc.jetstreamManager()).streams.names()) left.push(name);
  t.same(left, [], 'no stream is left behind');
});

t.test('a MANIFEST.json naming a stream no snapshot writes (a path out of the snapshot), or malformed consumer positions, is refused before anything is read or sent', async (t) => {
  const { restoreJetStreamSnapshot } = await import('../../src/bus/jetstream/restore.js');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const dir = path.join(tempDir(t), 'snap');
  mkdirSync(dir);
  for (const evil of ['../../outside', 'EB_0000000g', 'KV_a/../../b']) {
    writeFileSync(path.join(dir, 'MANIFEST.json'), JSON.stringify({ backend: 'jetstream', created_at: 'x', catalog: 'KV_eventbus_catalog', catalog_messages: 1, streams: [{ js_name: evil, messages: 1 }] }));
    await t.rejects(restoreJetStreamSnapshot(dir, { servers: ['127.0.0.1:1'] }), { code: 'SNAPSHOT_FAILED', message: /names a stream .* no snapshot writes/ }, `${evil}: refused`);
  }
  for (const name of ['KV_eventbus_catalog', 'EB_00000001']) writeFileSync(path.join(dir, `${name}.snap`), '');
  const position = { durable: 'C_x', deliver_policy: 'new', created: '2026-01-01T00:00:00Z', ack_floor: { stream_seq: 1, consumer_seq: 1 }, delivered: { stream_seq: 2, consumer_seq: 2 } };
  for (const consumers of [{}, [null], [{ ...position, ack_floor: { stream_seq: -1, consumer_seq: 0 } }], [{ ...position, created: undefined }]]) {
    writeFileSync(path.join(dir, 'MANIFEST.json'), JSON.stringify({ backend: 'jetstream', created_at: 'x', catalog: 'KV_eventbus_catalog', catalog_messages: 1, streams: [{ js_name: 'EB_00000001', messages: 1, consumers }] }));
    await t.rejects(restoreJetStreamSnapshot(dir, { servers: ['127.0.0.1:1'] }), { code: 'SNAPSHOT_FAILED', message: /consumer positions for EB_00000001 no snapshot writes/ }, `${JSON.stringify(consumers)}: refused`);
  }
});
