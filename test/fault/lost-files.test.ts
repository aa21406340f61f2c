/**
 * Files lost from a stopped store, then the real server started on it (audit of the open path):
 *
 * - a store whose `catalog` is missing but which holds stream directories (or a clean close's
 *   `crc-checkpoint`) is refused like a damaged catalog, exit status 1, naming the file, and
 *   nothing is removed (it used to remove every stream directory as an orphan and serve an empty
 *   store); a new, empty data directory still starts;
 * - the files of a stream's active segment deleted after a clean stop: the offsets they held are
 *   reported as damage (get_stream_info's `damage`, the log at error) and never given again, so no
 *   event id is given twice (it used to give the next write offset 83 again, with the id the
 *   acknowledged event 83 had).
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { startFaultServer } from '../helpers/fault-server.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const SMALL_SEGMENTS = 'storage:\n  segment_size_bytes: 4096\n';


/** Every file and directory under `dir`, with sizes: equal listings, nothing removed or changed. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const name of fs.readdirSync(p).sort()) {
      const full = path.join(p, name);
      const st = fs.statSync(full);
      out.push(`${path.relative(dir, full)} ${st.isDirectory() ? 'dir' : st.size}`);
      if (st.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out;
}

/** Starts the server on `dataDir` expecting it to refuse; returns its output and exit status. */
async function refusedStart(t: TapTest, dataDir: string): Promise<string> {
  const workDir = tempDir(t, 'lost-files-work');
  return startFaultServer({ dataDir, workDir }).then(
    async (server) => {
      await server.kill();
      return 'started';
    },
    (error: unknown) => (error as Error).message,
  );
}

/** A store with three streams of a few events each, stopped cleanly. */
async function threeStreams(t: TapTest): Promise<string> {
  const dataDir = path.join(tempDir(t, 'lost-files'), 'data');
  const server = await startFaultServer({ dataDir, workDir: tempDir(t, 'lost-files-work') });
  const client = await EventBusClient.connect({ port: server.port });
  for (const name of ['a', 'b', 'c']) {
    await client.createStream(name);
    for (let i = 0; i < 3; i++) await client.writeEvent(name, { name, i });
  }
  await client.close();
  t.equal(await server.stop(), 0, 'the store was stopped cleanly');
  return dataDir;
}

t.test('a missing catalog: the server refuses the store like a damaged catalog, removing nothing', async (t) => {
  for (const alsoCheckpoint of [false, true]) {
    const dataDir = await threeStreams(t);
    const catalog = path.join(dataDir, 'catalog');
    fs.rmSync(catalog);
    if (alsoCheckpoint) fs.rmSync(path.join(dataDir, 'crc-checkpoint'));
    const what = alsoCheckpoint ? 'catalog and crc-checkpoint removed' : 'catalog removed';
    const before = listing(dataDir);
    t.equal(fs.readdirSync(path.join(dataDir, 'streams')).length, 3, `${what}: three stream directories`);
    const started = await refusedStart(t, dataDir);
    t.match(started, /exited with 1 before listening/, `${what}: the server exits with status 1`);
    t.match(started, `catalog ${catalog} is missing`, `${what}: naming the catalog`);
    t.match(started, /the list of streams is lost.*restore the data directory from a snapshot/i, `${what}: and what to do`);
    t.notMatch(started, /removing a stream directory/, `${what}: no stream directory is removed`);
    t.same(listing(dataDir), before, `${what}: every stream directory and file is still there`);
  }
});

t.test('a missing catalog beside only a clean close\'s crc-checkpoint (a store whose streams were all deleted) is refused too', async (t) => {
  const dataDir = path.join(tempDir(t, 'lost-files'), 'data');
  const server = await startFaultServer({ dataDir, workDir: tempDir(t, 'lost-files-work') });
  t.equal(await server.stop(), 0);
  fs.rmSync(path.join(dataDir, 'catalog'));
  const started = await refusedStart(t, dataDir);
  t.match(started, /exited with 1 before listening/);
  t.match(started, /catalog .* is missing, but the data directory holds a clean close's crc-checkpoint/);
});

t.test('a new or empty data directory, or one whose first open stopped before its catalog, still starts as a new store', async (t) => {
  const parent = tempDir(t, 'lost-files');
  const fresh = path.join(parent, 'fresh');
  const empty = path.join(parent, 'empty');
  fs.mkdirSync(empty);
  fs.mkdirSync(path.join(empty, 'lost+found'));
  // What an open killed before its first catalog write leaves: a LOCK and an empty streams/.
  const cutShort = path.join(parent, 'cut-short');
  fs.mkdirSync(path.join(cutShort, 'streams'), { recursive: true });
  fs.writeFileSync(path.join(cutShort, 'LOCK'), '999999999\n\n\n');
  for (const dataDir of [fresh, empty, cutShort]) {
    const server = await startFaultServer({ dataDir, workDir: tempDir(t, 'lost-files-work') });
    const client = await EventBusClient.connect({ port: server.port });
    await client.createStream('s');
    t.same((await client.listStreams()).streams.map((s) => s.name), ['s'], `${path.basename(dataDir)}: serves a new store`);
    await client.close();
    t.equal(await server.stop(), 0);
    t.ok(fs.existsSync(path.join(dataDir, 'catalog')), `${path.basename(dataDir)}: its catalog is written`);
  }
});

interface WrittenStore {
  dataDir: string;
  streamDir: string;
  /** The id each acknowledged offset got. */
  ids: string[];
  /** The active segment at the clean close, as crc-checkpoint lists it. */
  active: { base: number; indexBytes: number };
}

/** Stream "a" of 100 events in 4 KiB segments, stopped cleanly (the audit's store). */
async function hundredEvents(t: TapTest): Promise<WrittenStore> {
  const dataDir = path.join(tempDir(t, 'lost-files'), 'data');
  const server = await startFaultServer({ dataDir, workDir: tempDir(t, 'lost-files-work'), config: SMALL_SEGMENTS });
  const client = await EventBusClient.connect({ port: server.port });
  const stream = await client.createStream('a');
  const ids: string[] = [];
  for (let i = 0; i < 100; i++) {
    const written = await client.writeEvent('a', { i, pad: 'p'.repeat(10) });
    t.equal(written.offset, i);
    ids.push(written.id);
  }
  await client.close();
  t.equal(await server.stop(), 0, 'stopped cleanly');
  const checkpoint = fs.readFileSync(path.join(dataDir, 'crc-checkpoint'));
  const entry = (JSON.parse(checkpoint.subarray(16).toString('utf8')) as { streams: Record<string, { base: number; index_bytes: number }> }).streams[stream.id]!;
  return { dataDir, streamDir: path.join(dataDir, 'streams', stream.id), ids, active: { base: entry.base, indexBytes: entry.index_bytes } };
}

function segmentFile(base: number, extension: 'log' | 'index'): string {
  return `${String(base).padStart(20, '0')}.${extension}`;
}

t.test('the active segment\'s files deleted after a clean stop: its offsets are damage, never given again', async (t) => {
  const cases: { what: string; remove: (store: WrittenStore) => void }[] = [
    { what: 'log and index removed', remove: (s) => (['log', 'index'] as const).forEach((x) => fs.rmSync(path.join(s.streamDir, segmentFile(s.active.base, x)))) },
    { what: 'log removed, index left', remove: (s) => fs.rmSync(path.join(s.streamDir, segmentFile(s.active.base, 'log'))) },
    {
      what: 'log and crc-checkpoint removed, index left',
      remove: (s) => {
        fs.rmSync(path.join(s.streamDir, segmentFile(s.active.base, 'log')));
        fs.rmSync(path.join(s.dataDir, 'crc-checkpoint'));
      },
    },
  ];
  for (const { what, remove } of cases) {
    const store = await hundredEvents(t);
    const held = (store.active.indexBytes - 32) / 12;
    t.ok(store.active.base > 0 && store.active.base + held === 100, `${what}: the active segment held offsets ${store.active.base}..99`);
    remove(store);
    for (const restart of ['first', 'second']) {
      const workDir = tempDir(t, 'lost-files-work');
      const server = await startFaultServer({ dataDir: store.dataDir, workDir, config: SMALL_SEGMENTS });
      const client = await EventBusClient.connect({ port: server.port });
      const info = await client.getStreamInfo('a');
      const writtenSince = restart === 'first' ? 0 : 1;
      t.equal(info.nextOffset, 100 + writtenSince, `${what}, ${restart} start: next_offset continues after the last offset given`);
      t.same(
        info.damage.map((d) => [d.firstOffset, d.lastOffset]),
        [[store.active.base, 99]],
        `${what}, ${restart} start: the lost offsets are listed as damage`,
      );
      const written = await client.writeEvent('a', { after: restart });
      t.equal(written.offset, 100 + writtenSince, `${what}, ${restart} start: a write gets the next new offset`);
      t.notOk(store.ids.includes(written.id), `${what}, ${restart} start: and an id no acknowledged event had`);
      store.ids.push(written.id);
      const page = await client.getStreamEvents('a', { fromOffset: 0, maxEvents: 1000 });
      t.same(page.events.map((e) => e.offset), Array.from({ length: store.active.base }, (_, i) => i), `${what}, ${restart} start: the events before the lost segment still read`);
      await client.close();
      t.equal(await server.stop(), 0);
      if (restart === 'first') {
        t.match(server.output(), /"level":50.*the last segment's log is missing after a clean stop/, `${what}: logged at error`);
      }
    }
  }
});
