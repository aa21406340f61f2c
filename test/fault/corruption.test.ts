/**
 * Corruption at the server level (issue 6): bits flipped in a stopped server's data directory (a
 * record of a sealed segment and of the active one, an index entry, a seal trailer, the consumer
 * journal, the catalog), then the real server restarted on it. Checked each time:
 *
 * - `eventbus verify <dir>` exits non-zero with a report naming the file and byte position;
 * - the server never returns wrong data: every event it returns is byte for byte what was written
 *   at that offset; reading a damaged record fails with CORRUPT_DATA naming the file and position,
 *   and every other event reads fine;
 * - the damage is reported where an operator looks: the server's log (file and position);
 * - a damaged catalog stops the server from starting, with a message saying what to do.
 *
 * Bit positions are random (seeded: EVENTBUS_TEST_SEED replays them).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { isEventBusError } from '../../src/errors.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { seededRandom, testSeeds } from '../helpers/random.js';
import { MAIN } from '../helpers/server-process.js';
import { flipBit, recordPositions, segmentFiles } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const seed = testSeeds(Date.now() % 1_000_000, 1)[0]!;
const random = seededRandom(seed);
t.comment(`seed ${seed} (replay with EVENTBUS_TEST_SEED=${seed})`);

const CONFIG = 'storage:\n  segment_size_bytes: 4096\n';
const EVENTS = 300;

interface Store {
  dataDir: string;
  streamDir: string;
  payloads: string[];
  /** Offsets the consumer `c` acknowledged (mark 1). */
  acked: Set<number>;
}

/** The pristine store: one stream of 300 events in 4 KiB segments, a consumer with marks; stopped cleanly. */
async function buildStore(t: TapTest): Promise<Store> {
  const dataDir = tempDir(t, 'corruption-pristine');
  const workDir = tempDir(t, 'corruption-work');
  const server = await startFaultServer({ dataDir, workDir, config: CONFIG });
  const client = await EventBusClient.connect({ port: server.port });
  const stream = await client.createStream('s');
  const payloads = Array.from({ length: EVENTS }, (_, i) => JSON.stringify({ i, pad: 'z'.repeat(40 + ((i * 37) % 90)) }));
  for (const p of payloads) await client.writeEventJson('s', p);
  const { events } = await client.processEvents('s', { consumer: 'c', maxEvents: 100 });
  const acked = new Set(events.slice(0, 60).map((e) => e.offset));
  await client.markEvent(events.slice(0, 60).map((e) => e.id), 1, { consumer: 'c' });
  for (const e of events.slice(60, 80)) await client.markEvent(e.id, 2, { consumer: 'c' });
  // Enough journal records (one mark each) that a flip can land in the middle of the journal.
  await client.close();
  t.equal(await server.stop(), 0, 'the pristine store was closed cleanly');
  return { dataDir, streamDir: path.join(dataDir, 'streams', stream.id), payloads, acked };
}

/** A copy of the pristine store to damage. */
function copy(t: TapTest, store: Store): Store {
  const dataDir = tempDir(t, 'corruption-data');
  fs.cpSync(store.dataDir, dataDir, { recursive: true });
  return { ...store, dataDir, streamDir: path.join(dataDir, path.relative(store.dataDir, store.streamDir)) };
}

function verify(dir: string): { code: number | null; report: string } {
  const run = spawnSync(process.execPath, [MAIN, 'verify', dir], { encoding: 'utf8' });
  return { code: run.status, report: `${run.stdout}${run.stderr}` };
}

/** Every event of the stream, paging past damaged ones: what was returned, and what failed how. */
async function readBack(client: EventBusClient): Promise<{ events: Map<number, string>; corrupt: Map<number, { reason: string; context: unknown }> }> {
  const events = new Map<number, string>();
  const corrupt = new Map<number, { reason: string; context: unknown }>();
  const { nextOffset } = await client.getStreamInfo('s');
  for (let from = 0; from < nextOffset;) {
    try {
      const page = await client.getStreamEvents('s', { fromOffset: from, maxEvents: 50 });
      if (page.events.length === 0) break;
      for (const e of page.events) events.set(e.offset, JSON.stringify(e.body));
      from = page.nextOffset;
    } catch (error) {
      if (!isEventBusError(error, 'CORRUPT_DATA')) throw error;
      corrupt.set(from, { reason: error.reason, context: error.context });
      from += 1;
    }
  }
  return { events, corrupt };
}

/** The checks of a damaged record: only it is unreadable, named by file and position; the rest is intact. */
async function expectDamagedRecord(t: TapTest, store: Store, server: FaultServer, file: string, position: number, offset: number): Promise<void> {
  const client = await EventBusClient.connect({ port: server.port });
  try {
    const { events, corrupt } = await readBack(client);
    const wrong = [...events].filter(([o, text]) => store.payloads[o] !== text).map(([o]) => o);
    t.same(wrong, [], 'the server never returns wrong data');
    t.same([...corrupt.keys()], [offset], `only offset ${offset} is unreadable`);
    t.equal(events.size, EVENTS - 1, 'every other event reads fine');
    const failure = corrupt.get(offset);
    t.match(failure?.reason ?? '', `${file} at byte ${position}`, 'CORRUPT_DATA names the file and byte position');
    t.match(failure?.context, { file, position, offset }, 'and so does its context');
    await expectLogged(t, server, file, position);
    const info = (await client.request('get_stream_info', { stream_name: 's' })).body as { stream: Record<string, unknown> };
    t.match(info.stream.damage, [{ file, position, first_offset: offset, last_offset: offset }], 'get_stream_info reports the damage');
  } finally {
    await client.close();
  }
}

async function expectLogged(t: TapTest, server: FaultServer, file: string, position: number): Promise<void> {
  const found = () => server.output().split('\n').filter((line) => line.includes(file)).map((line) => JSON.parse(line) as Record<string, unknown>)
    .some((line) => line.position === position && (line.level as number) >= 40);
  t.ok(await eventually(found), `the log names ${path.basename(file)} and byte ${position}`);
}

/** Polls `check` for up to a second (the server's output arrives through a pipe). */
async function eventually(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return check();
}

function startOn(t: TapTest, store: Store): Promise<FaultServer> {
  const workDir = tempDir(t, 'corruption-work');
  return startFaultServer({ dataDir: store.dataDir, workDir, config: CONFIG }).then((server) => {
    t.teardown(() => server.kill());
    return server;
  });
}

t.test('corruption', async (t) => {
  const original = await buildStore(t);
  t.equal(verify(original.dataDir).code, 0, 'verify finds the pristine store sound');
  const segments = segmentFiles(original.streamDir);
  t.ok(segments.length >= 5, `${segments.length} segments`);

  t.test('a bit flip in a record of a sealed segment', async (t) => {
    const store = copy(t, original);
    const segment = segmentFiles(store.streamDir)[random.int(0, segments.length - 2)]!;
    const records = recordPositions(segment.log);
    const k = random.int(0, records.length - 1);
    const record = records[k]!;
    flipBit(segment.log, record.position + 24 + random.int(0, record.size - 25), random.int(0, 7));
    const offline = verify(store.dataDir);
    t.equal(offline.code, 2, 'verify exits 2');
    t.match(offline.report, `${segment.log} at byte ${record.position}`, 'its report names the file and byte position');
    const server = await startOn(t, store);
    await expectDamagedRecord(t, store, server, segment.log, record.position, segment.base + k);
  });

  t.test('a bit flip in a record of the active segment (valid records after it)', async (t) => {
    const store = copy(t, original);
    const segment = segmentFiles(store.streamDir).at(-1)!;
    const records = recordPositions(segment.log);
    t.ok(records.length >= 3, `the active segment holds ${records.length} records`);
    const k = random.int(0, records.length - 2);
    const record = records[k]!;
    flipBit(segment.log, record.position + random.int(0, 3), random.int(0, 7)); // its CRC
    const offline = verify(store.dataDir);
    t.equal(offline.code, 2, 'verify exits 2');
    t.match(offline.report, `${segment.log} at byte ${record.position}`, 'its report names the file and byte position');
    const server = await startOn(t, store);
    await expectDamagedRecord(t, store, server, segment.log, record.position, segment.base + k);
  });

  t.test('a damaged first record of a segment: pages that reach it return the events before it', async (t) => {
    const store = copy(t, original);
    const all = segmentFiles(store.streamDir);
    const segment = all[random.int(1, all.length - 1)]!; // sealed or active, not the first
    flipBit(segment.log, 32 + random.int(0, 3), random.int(0, 7)); // the first record's CRC
    t.equal(verify(store.dataDir).code, 2, 'verify exits 2');
    const server = await startOn(t, store);
    const client = await EventBusClient.connect({ port: server.port });
    const page = await client.getStreamEvents('s', { fromOffset: segment.base - 5, maxEvents: 20 });
    t.same(page.events.map((e) => e.offset), [0, 1, 2, 3, 4].map((i) => segment.base - 5 + i), 'a page from before the damage stops just before it');
    t.equal(page.nextOffset, segment.base, 'and says to go on from the damaged offset');
    const delivery = await client.processEvents('s', { consumer: 'fresh', maxEvents: 1000 });
    t.equal(delivery.events.length, segment.base, 'a consumer is delivered every event up to the damage');
    await client.close();
    await expectDamagedRecord(t, store, server, segment.log, 32, segment.base);
  });

  t.test('a bit flip in the last record of the active segment (nothing valid after it)', async (t) => {
    const store = copy(t, original);
    const segment = segmentFiles(store.streamDir).at(-1)!;
    const record = recordPositions(segment.log).at(-1)!;
    flipBit(segment.log, record.position + 24 + random.int(0, record.size - 25), random.int(0, 7));
    const offline = verify(store.dataDir);
    t.equal(offline.code, 2, 'verify exits 2');
    t.match(offline.report, `${segment.log} at byte ${record.position}`, 'its report names the file and byte position');
    const server = await startOn(t, store);
    const client = await EventBusClient.connect({ port: server.port });
    const { events, corrupt } = await readBack(client);
    t.same([...events].filter(([o, text]) => store.payloads[o] !== text).map(([o]) => o), [], 'the server never returns wrong data');
    t.equal(events.size, EVENTS - 1, 'every other event reads fine');
    t.ok(await eventually(() => server.output().includes(segment.log)), 'the log names the file');
    // After a crash this could be a torn write, cut off (never acknowledged). But the store was
    // closed cleanly: nothing can be torn, so it is damage to an acknowledged event.
    t.same([...corrupt.keys()], [EVENTS - 1], 'the damaged event is reported (CORRUPT_DATA), not cut away');
    const next = await client.writeEvent('s', { after: 'damage' });
    t.equal(next.offset, EVENTS, 'its offset is not given to a new event');
    await client.close();
  });

  t.test('a bit flip in an index entry of a sealed segment', async (t) => {
    const store = copy(t, original);
    const segment = segmentFiles(store.streamDir)[random.int(0, segments.length - 2)]!;
    const entries = (fs.statSync(segment.index).size - 32 - 48) / 12;
    const entry = random.int(0, entries - 1);
    flipBit(segment.index, 32 + entry * 12 + random.int(0, 11), random.int(0, 7));
    const offline = verify(store.dataDir);
    t.equal(offline.code, 2, 'verify exits 2');
    t.match(offline.report, segment.index, 'its report names the index');
    const server = await startOn(t, store);
    const client = await EventBusClient.connect({ port: server.port });
    // A read starting at the damaged entry's offset uses it (a page reads on from its first record).
    const [first] = (await client.getStreamEvents('s', { fromOffset: segment.base + entry, maxEvents: 1 })).events;
    t.equal(JSON.stringify(first?.body), store.payloads[segment.base + entry], 'the event of the damaged entry is returned intact');
    const { events, corrupt } = await readBack(client);
    await client.close();
    t.same([...corrupt.keys()], [], 'nothing is unreadable: the index is rebuilt from its log');
    t.same([...events].filter(([o, text]) => store.payloads[o] !== text), [], 'every event is returned intact');
    t.equal(events.size, EVENTS, 'every event is returned');
    t.ok(await eventually(() => server.output().split('\n').some((line) => line.includes('index rebuilt from its segment') && line.includes(segment.index))),
      'the rebuild is logged, naming the index');
  });

  t.test('a bit flip in the seal trailer of a sealed segment', async (t) => {
    const store = copy(t, original);
    const segment = segmentFiles(store.streamDir)[random.int(0, segments.length - 2)]!;
    const size = fs.statSync(segment.index).size;
    flipBit(segment.index, size - 48 + random.int(0, 47), random.int(0, 7));
    t.equal(verify(store.dataDir).code, 2, 'verify exits 2');
    const server = await startOn(t, store);
    const client = await EventBusClient.connect({ port: server.port });
    const { events, corrupt } = await readBack(client);
    await client.close();
    t.same([...corrupt.keys()], [], 'nothing is unreadable');
    t.equal([...events].filter(([o, text]) => store.payloads[o] === text).length, EVENTS, 'every event is returned intact');
    t.ok(await eventually(() => server.output().split('\n').some((line) => line.includes('index rebuilt from its segment') && line.includes(segment.index))),
      'the rebuild at start-up is logged, naming the index');
  });

  t.test('a bit flip in the consumer journal', async (t) => {
    const store = copy(t, original);
    const journal = path.join(store.streamDir, 'consumers');
    const bytes = fs.readFileSync(journal);
    // A record in the middle (records are found by their length fields).
    const starts: number[] = [];
    for (let at = 32; at + 8 <= bytes.length; at += 8 + bytes.readUInt32LE(at + 4)) starts.push(at);
    const record = starts[random.int(1, starts.length - 2)]!;
    flipBit(journal, record + random.int(0, 3), random.int(0, 7)); // its CRC
    const offline = verify(store.dataDir);
    t.equal(offline.code, 2, 'verify exits 2');
    t.match(offline.report, `${journal} at byte ${record}`, 'its report names the journal and byte position');
    const server = await startOn(t, store);
    await expectLogged(t, server, journal, record);
    const client = await EventBusClient.connect({ port: server.port });
    const { events, corrupt } = await readBack(client);
    t.same([...corrupt.keys()], [], 'the events themselves read fine');
    t.equal([...events].filter(([o, text]) => store.payloads[o] === text).length, EVENTS, 'all of them, intact');
    // The changes in the damaged record are lost in the safe direction: every event is either
    // still acknowledged or delivered again; none is skipped.
    const page = await client.getStreamEvents('s', { consumer: 'c', maxEvents: 1000 });
    const processed = new Set(page.events.filter((e) => e.status === 1).map((e) => e.offset));
    t.same([...processed].filter((o) => !store.acked.has(o)), [], 'no event reads as processed that was not acknowledged');
    const delivered = new Set<number>();
    for (;;) {
      const retry = await client.retryEvents('s', { consumer: 'c', maxEvents: 1000 });
      const fresh = await client.processEvents('s', { consumer: 'c', maxEvents: 1000 });
      const all = [...retry.events, ...fresh.events];
      if (all.length === 0) break;
      for (const e of all) delivered.add(e.offset);
      await client.markEvent(all.map((e) => e.id), 1, { consumer: 'c' });
    }
    const missing = Array.from({ length: EVENTS }, (_, i) => i).filter((o) => !processed.has(o) && !delivered.has(o));
    t.same(missing, [], 'every event not still acknowledged is delivered again');
    await client.close();
  });

  t.test('a bit flip in the catalog: the server refuses to start, saying why', async (t) => {
    const store = copy(t, original);
    const catalog = path.join(store.dataDir, 'catalog');
    flipBit(catalog, random.int(16, fs.statSync(catalog).size - 1), random.int(0, 7));
    const offline = verify(store.dataDir);
    t.equal(offline.code, 2, 'verify exits 2');
    t.match(offline.report, catalog, 'its report names the catalog');
    const workDir = tempDir(t, 'corruption-work');
    const started = await startFaultServer({ dataDir: store.dataDir, workDir, config: CONFIG }).then(
      (server) => {
        void server.kill();
        return 'started';
      },
      (error: unknown) => (error as Error).message,
    );
    t.match(started, /exited with 1 before listening/, 'the server exits with status 1');
    t.match(started, `catalog ${catalog} is damaged`, 'naming the catalog');
    t.match(started, /restore the data directory from a snapshot/, 'and what to do');
  });
});
