/**
 * Damage found by reads, not at open, through the real server (`eventbus serve`): a cleanly
 * stopped store whose batches (of three events) have a damaged last record, one in a sealed
 * segment and one in the active segment. Opening a cleanly stopped store reads neither, so the
 * reads themselves must keep the batch rule (docs/storage-format.md, "Batches"): no reader sees
 * part of a batch. get_stream_events (forward, backward, by key) stops short of the batch or fails
 * with CORRUPT_DATA from inside it, process_events never delivers its events (they are
 * dead-lettered), a subscription's history stops before it, and get_stream_info lists the whole
 * batch. The same after a clean restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { isEventBusError } from '../../src/errors.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { recordPositions, segmentFiles } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const CONFIG = 'storage:\n  segment_size_bytes: 4096\n';
const BATCHES = 24;
/** The batch whose last record is damaged in a sealed segment (the first). */
const SEALED = [9, 10, 11];

function start(t: TapTest, dataDir: string): Promise<FaultServer> {
  return startFaultServer({ dataDir, workDir: tempDir(t, 'batch-read-work'), config: CONFIG }).then((server) => {
    t.teardown(() => server.kill());
    return server;
  });
}

/**
 * Stream `s` of 24 batches of 3 events (batch b keyed `k${b % 3}`) in segments of 4 KiB, stopped
 * cleanly; then the last record of two batches is damaged: 9..11 (in the first segment, sealed)
 * and the second batch of the active segment, whose offsets are returned.
 */
async function damagedStore(t: TapTest): Promise<{ dataDir: string; active: number[] }> {
  const dataDir = tempDir(t, 'batch-read-data');
  const server = await start(t, dataDir);
  const client = await EventBusClient.connect({ port: server.port });
  const stream = await client.createStream('s');
  for (let b = 0; b < BATCHES; b++) {
    await client.appendEvents('s', [0, 1, 2].map((i) => ({ body: { n: b * 3 + i, pad: 'p'.repeat(90) } })), { key: `k${b % 3}` });
  }
  await client.close();
  t.equal(await server.stop(), 0, 'stopped cleanly');
  const segments = segmentFiles(path.join(dataDir, 'streams', stream.id));
  const activeBase = segments.at(-1)!.base;
  t.ok(segments.length >= 3 && segments[1]!.base > 12 && activeBase % 3 === 0 && activeBase + 6 < BATCHES * 3, `segments at ${segments.map((s) => s.base).join(', ')}`);
  const active = [activeBase + 3, activeBase + 4, activeBase + 5];
  for (const [segment, last] of [[segments[0]!, SEALED[2]!], [segments.at(-1)!, active[2]!]] as const) {
    const record = recordPositions(segment.log)[last - segment.base]!;
    const fd = fs.openSync(segment.log, 'r+');
    fs.writeSync(fd, Buffer.from('#'), 0, 1, record.position + record.size - 4);
    fs.closeSync(fd);
  }
  return { dataDir, active };
}

/** The page's offsets, or its error code. */
async function offsetsOf(read: Promise<{ events: { offset: number }[] }>): Promise<number[] | string> {
  try {
    return (await read).events.map((e) => e.offset);
  } catch (error) {
    if (isEventBusError(error)) return error.code;
    throw error;
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

t.test('reads, consumers and subscriptions never return part of a batch whose end is damaged', async (t) => {
  const { dataDir, active } = await damagedStore(t);
  const [a0, a1, a2] = active as [number, number, number];
  const server = await start(t, dataDir);
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());

  // First (nothing has read the damage yet), a consumer gets every event but the two batches,
  // which are dead-lettered.
  const delivered: number[] = [];
  for (;;) {
    const { events } = await client.processEvents('s', { consumer: 'c', maxEvents: 5, autoAck: true });
    if (events.length === 0) break;
    delivered.push(...events.map((e) => e.offset));
  }
  t.same(delivered, range(0, BATCHES * 3 - 1).filter((o) => !SEALED.includes(o) && !active.includes(o)), 'process_events delivers neither batch, in part or whole');
  const dead = (await client.getStreamEvents('$dlq:s', { maxEvents: 100 })).events.map((e) => (e.body as { offset: number }).offset);
  t.same(dead, [...SEALED, ...active], 'both batches are dead-lettered whole');

  // Forward pages stop short of a damaged batch; a read from inside it fails.
  const page = await client.getStreamEvents('s', { fromOffset: a0 - 3, maxEvents: 10 });
  t.same(page.events.map((e) => e.offset), [a0 - 3, a0 - 2, a0 - 1], `a page from ${a0 - 3} stops before the batch ${a0}..${a2}`);
  t.equal(page.nextOffset, a0);
  t.equal(await offsetsOf(client.getStreamEvents('s', { fromOffset: a0, maxEvents: 1 })), 'CORRUPT_DATA', `a read of ${a0} fails (its record checks, its batch does not)`);
  t.equal(await offsetsOf(client.getStreamEvents('s', { fromOffset: a1, maxEvents: 1 })), 'CORRUPT_DATA', `so does one of ${a1}`);
  t.same(await offsetsOf(client.getStreamEvents('s', { fromOffset: 6, maxEvents: 5 })), [6, 7, 8], 'in the sealed segment too');
  t.equal(await offsetsOf(client.getStreamEvents('s', { fromOffset: 10, maxEvents: 1 })), 'CORRUPT_DATA');

  // Backward: from inside fails; from above stops above the batch.
  t.equal(await offsetsOf(client.getStreamEvents('s', { fromOffset: 10, direction: 'backward', maxEvents: 5 })), 'CORRUPT_DATA', 'backward from inside the batch');
  t.same(await offsetsOf(client.getStreamEvents('s', { fromOffset: a2 + 3, direction: 'backward', maxEvents: 10 })), [a2 + 3, a2 + 2, a2 + 1], 'backward from above it');

  // By key: the batch is one key's three versions.
  const batch = a0 / 3;
  const key = `k${batch % 3}`;
  const version = Math.floor(batch / 3) * 3;
  t.equal(await offsetsOf(client.getKeyEvents('s', key, { fromVersion: version, maxEvents: 2 })), 'CORRUPT_DATA', 'a key read of versions in the batch');
  t.same(await offsetsOf(client.getKeyEvents('s', key, { fromVersion: version - 2, maxEvents: 2 })), [a0 - 8, a0 - 7], 'the versions before it read');

  t.match((await client.getStreamInfo('s')).damage, [{ firstOffset: 9, lastOffset: 11 }, { firstOffset: a0, lastOffset: a2 }], 'get_stream_info lists both whole batches');

  // After a clean restart, still none of it.
  await client.close();
  t.equal(await server.stop(), 0);
  const again = await start(t, dataDir);
  const second = await EventBusClient.connect({ port: again.port });
  t.teardown(() => second.close());
  // Found afresh after the restart (the damage reads found is known no more): a subscription's
  // history stops before the batch, and the subscription ends there.
  const subscription = await second.subscribe('s', { fromOffset: 6 });
  const emitted: number[] = [];
  let ended: unknown = null;
  try {
    for await (const item of subscription) {
      if (item.kind === 'event') emitted.push(item.event.offset);
      else break;
    }
  } catch (error) {
    ended = error;
  }
  t.same(emitted, [6, 7, 8], 'subscribe from 6 emits 6, 7, 8 and nothing of the batch');
  t.match(ended, { code: 'CORRUPT_DATA' }, 'then ends with CORRUPT_DATA');

  t.equal(await offsetsOf(second.getStreamEvents('s', { fromOffset: a0, maxEvents: 1 })), 'CORRUPT_DATA', `after a restart ${a0} is not readable again`);
  t.same(await offsetsOf(second.getStreamEvents('s', { fromOffset: 3, maxEvents: 10 })), range(3, 8), 'a page from 3 stops before 9');
  await second.close();
  t.equal(await again.stop(), 0);
});
