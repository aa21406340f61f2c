/**
 * Recovery after a CLEAN stop must never cut acknowledged records, through the real server
 * (`eventbus serve`) and `eventbus verify` (docs/storage-format.md, "Recovery (on open)"):
 *
 * - an open killed after it wrote its LOCK (before recovery finished) leaves a LOCK beside the
 *   clean-close `crc-checkpoint`: the next open recovers as after the clean stop, so damage at the
 *   end of the active segment is kept and sealed, not cut off as a torn tail, and no offset or
 *   event id is given twice;
 * - a sealed segment whose index is damaged or deleted, or whose log was cut short, is damage:
 *   the segments after it (the active one, with acknowledged events) are kept. The torn-roll cut
 *   applies only after a crash, and only to a segment that was never sealed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { isEventBusError } from '../../src/errors.js';
import { startFaultServer, type FaultServer } from '../helpers/fault-server.js';
import { MAIN } from '../helpers/server-process.js';
import { flipBit, recordPositions, segmentFiles, simulateCrash, simulateInterruptedOpen } from '../helpers/store.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

/** Small segments, so that 60 events of ~150 bytes make three. */
const CONFIG = 'storage:\n  segment_size_bytes: 4096\n';

interface Store {
  dataDir: string;
  streamDir: string;
  /** The ids the store acknowledged. */
  ids: Set<string>;
  /** The offset after the last acknowledged event. */
  next: number;
}

function start(t: TapTest, dataDir: string): Promise<FaultServer> {
  return startFaultServer({ dataDir, workDir: tempDir(t, 'clean-stop-work'), config: CONFIG }).then((server) => {
    t.teardown(() => server.kill());
    return server;
  });
}

function verify(dir: string): { code: number | null; report: string } {
  const run = spawnSync(process.execPath, [MAIN, 'verify', dir], { encoding: 'utf8' });
  return { code: run.status, report: `${run.stdout}${run.stderr}` };
}

/** A stream `s` of 60 events in batches of 3 (offsets 0..59, several segments); stopped cleanly. */
async function buildStore(t: TapTest): Promise<Store> {
  const dataDir = tempDir(t, 'clean-stop-data');
  const server = await start(t, dataDir);
  const client = await EventBusClient.connect({ port: server.port });
  const stream = await client.createStream('s');
  const ids = new Set<string>();
  for (let i = 0; i < 60; i += 3) {
    const batch = await client.appendEvents('s', [0, 1, 2].map((j) => ({ body: { i: i + j, pad: 'x'.repeat(100) } })));
    for (const event of batch.events) ids.add(event.id);
  }
  await client.close();
  t.equal(await server.stop(), 0, 'stopped cleanly');
  const store = { dataDir, streamDir: path.join(dataDir, 'streams', stream.id), ids, next: 60 };
  t.ok(segmentFiles(store.streamDir).length >= 3, 'several segments');
  return store;
}

/** Flips a byte of the last record of the active segment's log (the last batch then fails). */
function damageActiveTail(store: Store): void {
  const log = segmentFiles(store.streamDir).at(-1)!.log;
  const last = recordPositions(log).at(-1)!;
  flipBit(log, last.position + last.size - 2);
}

/** Offsets that read as CORRUPT_DATA, and the offsets from `from` that a page returns. */
async function look(client: EventBusClient, from: number): Promise<{ corrupt: number[]; readable: number[]; next: number; damage: [number, number][] }> {
  const info = await client.getStreamInfo('s');
  const corrupt: number[] = [];
  for (let offset = 0; offset < info.nextOffset; offset++) {
    try {
      await client.getStreamEvents('s', { fromOffset: offset, maxEvents: 1 });
    } catch (error) {
      if (!isEventBusError(error, 'CORRUPT_DATA')) throw error;
      corrupt.push(offset);
    }
  }
  const page = await client.getStreamEvents('s', { fromOffset: from, maxEvents: 1000 });
  return { corrupt, readable: page.events.map((e) => e.offset), next: info.nextOffset, damage: info.damage.map((d) => [d.firstOffset, d.lastOffset]) };
}

/** Writes one event: it must get `store.next` and an id never given before. */
async function writeNew(t: TapTest, client: EventBusClient, store: Store): Promise<void> {
  const written = await client.writeEvent('s', { after: store.next });
  t.equal(written.offset, store.next, `a new write gets offset ${store.next}, never one the store had given`);
  t.notOk(store.ids.has(written.id), 'and an event id never given before');
  store.ids.add(written.id);
  store.next += 1;
}

t.test('an open killed after writing its LOCK, on a store whose active tail is damaged after a clean stop, cuts nothing', async (t) => {
  const store = await buildStore(t);
  damageActiveTail(store);
  // What a kill -9 right after the open's LOCK was written leaves: a LOCK naming no running
  // process, beside the clean close's crc-checkpoint.
  simulateInterruptedOpen(store.dataDir);
  t.ok(fs.existsSync(path.join(store.dataDir, 'crc-checkpoint')), 'the clean close left its checkpoint');

  const before = verify(store.dataDir);
  t.equal(before.code, 2, `verify judges it as after the clean stop: damage (exit 2): ${before.report}`);
  t.match(before.report, /offsets 57 to 59 are damaged/);

  let server = await start(t, store.dataDir);
  t.match(server.output(), /the last open of this store stopped before it took any write/, 'the open says what it found');
  t.notMatch(server.output(), /truncated/, 'nothing is cut as a torn tail');
  let client = await EventBusClient.connect({ port: server.port });
  let seen = await look(client, 54);
  t.same(seen.damage, [[57, 59]], 'the damaged batch is listed');
  t.same(seen.corrupt, [57, 58, 59], 'and unreadable');
  t.equal(seen.next, 60, 'no acknowledged offset is given back');
  await writeNew(t, client, store);
  await client.close();

  // The store now takes writes: its next crash is recovered as a crash, and the sealed damage stays.
  await server.kill();
  t.notOk(fs.existsSync(path.join(store.dataDir, 'crc-checkpoint')), 'the checkpoint is gone once the store took writes');
  server = await start(t, store.dataDir);
  client = await EventBusClient.connect({ port: server.port });
  seen = await look(client, 54);
  t.same(seen.damage, [[57, 59]], 'after a crash the damage is still listed');
  t.same(seen.readable, [54, 55, 56], 'a page from 54 stops before the damage');
  t.same((await client.getStreamEvents('s', { fromOffset: 60 })).events.map((e) => e.offset), [60], 'the write after it reads');
  await writeNew(t, client, store);
  await client.close();
  t.equal(await server.stop(), 0);
});

/** A store whose active tail was damaged, sealed over at an open, then 9 more events written and stopped cleanly. */
async function damageSealedStore(t: TapTest): Promise<Store & { sealedBase: number }> {
  const store = await buildStore(t);
  damageActiveTail(store);
  const sealedBase = segmentFiles(store.streamDir).at(-1)!.base;
  const server = await start(t, store.dataDir);
  const client = await EventBusClient.connect({ port: server.port });
  for (let i = 0; i < 9; i++) await writeNew(t, client, store);
  await client.close();
  t.equal(await server.stop(), 0);
  t.equal(segmentFiles(store.streamDir).at(-1)!.base, 60, 'writes went on in a new segment');
  return { ...store, sealedBase };
}

/** Starts the server on the store: the 9 events at 60..68 must still be there, and a write gets 69. */
async function expectKept(t: TapTest, store: Store, damage: [number, number][]): Promise<void> {
  const server = await start(t, store.dataDir);
  t.notMatch(server.output(), /cut the torn tail and the segments after it/, 'no segment is dropped');
  const client = await EventBusClient.connect({ port: server.port });
  const seen = await look(client, 60);
  t.same(seen.readable, [60, 61, 62, 63, 64, 65, 66, 67, 68], 'the active segment\'s acknowledged events are kept');
  t.same(seen.damage, damage, 'the damage is listed');
  t.equal(seen.next, 69);
  await writeNew(t, client, store);
  await client.close();
  t.equal(await server.stop(), 0);
}

for (const crash of [false, true]) {
  const after = crash ? 'after a crash' : 'after a clean stop';
  t.test(`a damage-sealed segment whose seal trailer is damaged, ${after}: the active segment after it is kept`, async (t) => {
    const store = await damageSealedStore(t);
    const index = segmentFiles(store.streamDir).find((s) => s.base === store.sealedBase)!.index;
    flipBit(index, fs.statSync(index).size - 28);
    if (crash) crashed(store);
    await expectKept(t, store, [[57, 59]]);
  });

  t.test(`a damage-sealed segment whose index is deleted, ${after}: the active segment after it is kept`, async (t) => {
    const store = await damageSealedStore(t);
    fs.unlinkSync(segmentFiles(store.streamDir).find((s) => s.base === store.sealedBase)!.index);
    if (crash) crashed(store);
    await expectKept(t, store, [[57, 59]]);
  });

  t.test(`a damage-sealed segment whose log is cut short, ${after}: damage, the active segment after it kept`, async (t) => {
    const store = await damageSealedStore(t);
    const log = segmentFiles(store.streamDir).find((s) => s.base === store.sealedBase)!.log;
    // Into the record of offset 55: the batch 54..56 loses its end, and everything after it is gone.
    fs.truncateSync(log, recordPositions(log)[55 - store.sealedBase]!.position + 10);
    if (crash) crashed(store);
    await expectKept(t, store, [[54, 59]]);
  });
}

/** Makes the store look as if its server had died with it open after taking writes: LOCK, no checkpoint. */
function crashed(store: Store): void {
  simulateCrash(store.dataDir);
}

interface VerifyJson {
  ok: boolean;
  events: number;
  damaged_events: number;
  problems: { file: string; message: string }[];
}

function verifyJson(dir: string): { code: number | null; report: VerifyJson } {
  const run = spawnSync(process.execPath, [MAIN, 'verify', dir, '--json'], { encoding: 'utf8' });
  return { code: run.status, report: JSON.parse(run.stdout) as VerifyJson };
}

t.test('verify counts records only the clean-close checkpoint knows of as damage, as recovery does', async (t) => {
  const store = await buildStore(t);
  const active = segmentFiles(store.streamDir).at(-1)!;
  // Log and index cut consistently to the records up to offset 56: only the checkpoint knows of 57..59.
  const kept = 57 - active.base;
  fs.truncateSync(active.log, recordPositions(active.log)[kept]!.position);
  fs.truncateSync(active.index, 32 + kept * 12);
  const { code, report } = verifyJson(store.dataDir);
  t.equal(code, 2, 'verify exits 2');
  const counts = `the clean-close checkpoint counts ${60 - active.base} records, the log holds ${kept}`;
  t.match(report.problems, [{ file: active.log, message: `offsets 57 to 59 are damaged: records missing after a clean stop (${counts})` }]);
  t.equal(report.problems.length, 1);
  t.equal(report.events, 57, 'events a reader can get');
  t.equal(report.damaged_events, 3);

  const server = await start(t, store.dataDir);
  const client = await EventBusClient.connect({ port: server.port });
  const seen = await look(client, 54);
  t.same(seen.damage, [[57, 59]], 'the server lists the same damage');
  t.same(seen.corrupt, [57, 58, 59]);
  await writeNew(t, client, store);
  await client.close();
  t.equal(await server.stop(), 0);
});

t.test('a segment sealed over damage is one problem; events count what a reader gets; restore of its snapshot says what to do', async (t) => {
  const store = await damageSealedStore(t);
  const sealedLog = segmentFiles(store.streamDir).find((s) => s.base === store.sealedBase)!.log;
  const { code, report } = verifyJson(store.dataDir);
  t.equal(code, 2);
  t.same(report.problems.map((p) => p.file), [sealedLog], `one problem: ${JSON.stringify(report.problems)}`);
  t.match(report.problems[0]!.message, /^offsets 57 to 59 are damaged: .*its seal records offsets 57 to 59 as damaged/);
  t.equal(report.events, 66, 'offsets 0..68 but the 3 damaged ones');
  t.equal(report.damaged_events, 3);

  const output = tempDir(t, 'clean-stop-snapshots');
  const snapshot = spawnSync(process.execPath, [MAIN, 'snapshot', '--data', store.dataDir, '--output', output, '--json'], { encoding: 'utf8' });
  t.equal(snapshot.status, 2, 'the snapshot is made, holding the damage');
  const made = JSON.parse(snapshot.stdout) as { absolute_path: string; events: number };
  t.equal(made.events, 69, 'the snapshot counts the offsets its stream spans');
  const ofSnapshot = verifyJson(made.absolute_path);
  t.equal(ofSnapshot.code, 2);
  t.equal(ofSnapshot.report.events, 66, 'verify of the snapshot counts as verify of the store');
  t.equal(ofSnapshot.report.events + ofSnapshot.report.damaged_events, made.events, 'events and damaged events make the snapshot\'s count');
  t.equal(ofSnapshot.report.problems.length, 1);

  const target = path.join(tempDir(t, 'clean-stop-restore'), 'restored');
  const restore = spawnSync(process.execPath, [MAIN, 'restore', made.absolute_path, '--data', target], { encoding: 'utf8' });
  t.equal(restore.status, 1, 'restore refuses it with exit status 1');
  t.match(restore.stderr, /snapshot does not verify \(1 problem; first: .*nothing was written\. Run `eventbus verify .*` to see every problem, and restore an older snapshot that verifies/);
  t.notOk(fs.existsSync(target), 'nothing written');
});

t.test('a damaged key index run holding entries of events a truncation removed: verify and the server say that key versions are lost', async (t) => {
  const dataDir = tempDir(t, 'clean-stop-keys');
  let server = await start(t, dataDir);
  let client = await EventBusClient.connect({ port: server.port });
  const stream = await client.createStream('s');
  for (let i = 0; i < 60; i++) await client.writeEvent('s', { i, pad: 'x'.repeat(100) }, { key: i < 30 ? 'gone' : 'kept' });
  await client.truncateStream('s', 30);
  await client.close();
  t.equal(await server.stop(), 0);
  const streamDir = path.join(dataDir, 'streams', stream.id);
  const run = fs.readdirSync(streamDir).find((name) => /^keys-0{20}-\d+\.run$/.test(name));
  t.ok(run, 'a key index run from offset 0');
  flipBit(path.join(streamDir, run!), 40); // inside its first block

  const { code, report } = verifyJson(dataDir);
  t.equal(code, 2);
  t.match(report.problems, [{ file: path.join(streamDir, run!), message: /its events 0 to 29 are gone from the log \(retention or truncation\), so keys whose events were all among them lose their versions/ }]);

  server = await start(t, dataDir);
  client = await EventBusClient.connect({ port: server.port });
  // Not repaired (the log cannot give those entries back): said.
  try {
    await client.writeEvent('s', { again: true }, { key: 'gone', expectedVersion: 'no_stream' });
  } catch (error) {
    if (!isEventBusError(error, 'WRONG_EXPECTED_VERSION')) throw error;
  }
  await client.close();
  t.equal(await server.stop(), 0);
  t.match(server.output(), /a damaged key index run held entries of events retention or truncation removed/, 'the server logs the loss');
});
