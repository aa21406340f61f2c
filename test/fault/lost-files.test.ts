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
