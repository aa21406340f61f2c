/**
 * A damaged batch at the end of the active segment after a CLEAN stop, through the real server
 * (`eventbus serve`) and `eventbus verify`. After a crash a torn batch is cut off whole (it was
 * never acknowledged); after a clean stop nothing can be torn, so it is damage to acknowledged
 * events (docs/storage-format.md, "Batches"):
 *
 * - no offset of the batch is ever returned, not even those whose records pass their own checks
 *   (no reader sees part of a batch), and `get_stream_info` lists the whole batch as damage;
 * - `eventbus verify` and the server's recovery say the same offsets are damaged;
 * - a later write never reuses an offset (or an event id) the store had acknowledged, even when
 *   the batch's last record is gone from the log;
 * - the damage stays damage across clean restarts and later writes: a new record's batch end
 *   never turns the damaged records back into a readable batch.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { isEventBusError } from '../../src/errors.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { MAIN } from '../helpers/server-process.js';
import { recordPositions, segmentFiles } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

interface Store {
  dataDir: string;
  streamDir: string;
  /** The ids the store acknowledged, by offset. */
  ids: string[];
}

function start(t: TapTest, dataDir: string): Promise<FaultServer> {
  return startFaultServer({ dataDir, workDir: tempDir(t, 'batch-damage-work') }).then((server) => {
    t.teardown(() => server.kill());
    return server;
  });
}

/** A stream `s` of one event (offset 0), then a batch of three (offsets 1 to 3); stopped cleanly. */
async function buildStore(t: TapTest): Promise<Store> {
  const dataDir = tempDir(t, 'batch-damage-data');
  const server = await start(t, dataDir);
  const client = await EventBusClient.connect({ port: server.port });
  const stream = await client.createStream('s');
  const first = await client.writeEvent('s', 'e0');
  const batch = await client.appendEvents('s', [{ body: 'b1' }, { body: 'b2' }, { body: 'b3' }]);
  t.same(batch.events.map((e) => e.offset), [1, 2, 3]);
  await client.close();
  t.equal(await server.stop(), 0, 'stopped cleanly');
  return { dataDir, streamDir: path.join(dataDir, 'streams', stream.id), ids: [first.id, ...batch.events.map((e) => e.id)] };
}

function verify(dir: string): { code: number | null; report: string } {
  const run = spawnSync(process.execPath, [MAIN, 'verify', dir], { encoding: 'utf8' });
  return { code: run.status, report: `${run.stdout}${run.stderr}` };
}

/** For each offset below the stream's end: its body, or 'CORRUPT_DATA'. */
async function readEach(client: EventBusClient): Promise<unknown[]> {
  const { nextOffset } = await client.getStreamInfo('s');
  const out: unknown[] = [];
  for (let offset = 0; offset < nextOffset; offset++) {
    try {
      const page = await client.getStreamEvents('s', { fromOffset: offset, maxEvents: 1 });
      out.push(page.events[0]?.offset === offset ? page.events[0].body : `missing ${offset}`);
    } catch (error) {
      if (!isEventBusError(error, 'CORRUPT_DATA')) throw error;
      out.push('CORRUPT_DATA');
    }
  }
  return out;
}

/**
 * The checks of one damaged store, through two clean restarts with a write between them: offsets
 * 1 to 3 stay unreadable and listed as damage, a page from 0 returns only offset 0, and the new
 * event gets offset 4 and an id the store never gave before.
 */
async function expectBatchDamage(t: TapTest, store: Store): Promise<void> {
  const before = verify(store.dataDir);
  t.equal(before.code, 2, 'verify exits 2');
  t.match(before.report, /offsets 1 to 3 are damaged/, `verify names the whole batch: ${before.report}`);

  let server = await start(t, store.dataDir);
  let client = await EventBusClient.connect({ port: server.port });
  t.same((await client.getStreamEvents('s', { fromOffset: 0 })).events.map((e) => e.body), ['e0'], 'a page from offset 0 stops before the batch');
  t.same(await readEach(client), ['e0', 'CORRUPT_DATA', 'CORRUPT_DATA', 'CORRUPT_DATA'], 'no offset of the batch is returned');
  t.match((await client.getStreamInfo('s')).damage, [{ firstOffset: 1, lastOffset: 3 }], 'get_stream_info lists the whole batch');
  const written = await client.writeEvent('s', 'new');
  t.equal(written.offset, 4, 'the new event gets an offset the store never gave');
  t.notOk(store.ids.includes(written.id), 'and an id it never gave');
  t.same((await client.getStreamEvents('s', { fromOffset: 4 })).events.map((e) => e.body), ['new']);
  await client.close();
  t.equal(await server.stop(), 0);

  const after = verify(store.dataDir);
  t.equal(after.code, 2, 'verify still exits 2 after the write');
  t.match(after.report, /offsets 1 to 3 are damaged/);

  server = await start(t, store.dataDir);
  client = await EventBusClient.connect({ port: server.port });
  t.same(await readEach(client), ['e0', 'CORRUPT_DATA', 'CORRUPT_DATA', 'CORRUPT_DATA', 'new'], 'after a clean restart the batch is still damage; the new event reads');
  const info = await client.getStreamInfo('s');
  t.match(info.damage, [{ firstOffset: 1, lastOffset: 3 }], 'and still listed');
  t.equal(info.nextOffset, 5);
  t.equal((await client.writeEvent('s', 'later')).offset, 5);
  await client.close();
  t.equal(await server.stop(), 0);
}

t.test('the batch-end record fails its CRC after a clean stop: the whole batch is damage, for good', async (t) => {
  const store = await buildStore(t);
  const log = segmentFiles(store.streamDir)[0]!.log;
  const last = recordPositions(log).at(-1)!;
  // One byte of the last record's payload: every record of the batch but this one checks.
  const fd = fs.openSync(log, 'r+');
  fs.writeSync(fd, Buffer.from('X'), 0, 1, last.position + last.size - 2);
  fs.closeSync(fd);
  await expectBatchDamage(t, store);
});

t.test('the batch-end record is cut off after a clean stop: its offset is never given again, the batch stays damage', async (t) => {
  const store = await buildStore(t);
  const log = segmentFiles(store.streamDir)[0]!.log;
  fs.truncateSync(log, recordPositions(log).at(-1)!.position);
  await expectBatchDamage(t, store);
});
