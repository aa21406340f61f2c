/**
 * Where a snapshot may be and what it may be called: never inside the data directory (the store
 * owns every name there: a directory under `streams/` that the catalog does not list is removed
 * at the next open, silently destroying a snapshot that had been reported taken), refused at the
 * engine so that every caller (library, snapshot_db, the admin page, the CLI) gets INVALID_PATH;
 * and a snapshot copied under another name is still a valid snapshot (verify and restore), while
 * a `.partial` staging directory a crash left is still refused.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Engine, nodeIO, restoreSnapshot, verifyDirectory } from '../../src/storage/index.js';
import { readAll } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';
import { EventBusClient } from '../../src/client/client.js';
import { onJetStream } from '../helpers/backend.js';
import { startInProcess } from '../helpers/server-inprocess.js';
import { storeWithBrokenStream } from '../http/http-helpers.js';

async function storeWithEvent(dataDir: string): Promise<Engine> {
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  await engine.createStream('s');
  await engine.append('s', Buffer.from('{"a":1}'));
  return engine;
}

t.test('a snapshot into the data directory (or below it, or through a link into it) is refused with INVALID_PATH, writing nothing', async (t) => {
  const root = tempDir(t, 'snap-inside');
  const dataDir = path.join(root, 'data');
  const engine = await storeWithEvent(dataDir);
  const before = fs.readdirSync(dataDir).sort();
  const streamsBefore = fs.readdirSync(path.join(dataDir, 'streams')).sort();
  fs.symlinkSync(path.join(dataDir, 'streams'), path.join(root, 'link'));
  for (const [what, parent] of [
    ['streams/', path.join(dataDir, 'streams')],
    ['the data directory itself', dataDir],
    ['a new directory inside it', path.join(dataDir, 'backups', 'nightly')],
    ['a symbolic link into it', path.join(root, 'link')],
    ['a new directory below a link into it', path.join(root, 'link', 'nightly')],
  ] as const) {
    await t.rejects(engine.snapshot(parent), { code: 'INVALID_PATH', message: /is inside the data directory/ }, what);
  }
  t.same(fs.readdirSync(dataDir).sort(), before, 'nothing new in the data directory');
  t.same(fs.readdirSync(path.join(dataDir, 'streams')).sort(), streamsBefore, 'nothing new under streams/');
  const beside = await engine.snapshot(path.join(root, 'snaps'));
  t.ok(fs.existsSync(beside.path), 'a snapshot beside the data directory is taken');
  await engine.close();
  const reopened = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  t.equal(reopened.recovery.orphansRemoved, 0, 'the next open finds nothing to remove');
  await reopened.close();
  t.ok(fs.existsSync(beside.path), 'and the snapshot is still there');
});

t.test('a data directory whose name starts like the output is not "inside" it', async (t) => {
  const root = tempDir(t, 'snap-prefix');
  const engine = await storeWithEvent(path.join(root, 'data'));
  t.teardown(() => engine.close());
  const taken = await engine.snapshot(path.join(root, 'data-snapshots'));
  t.ok(fs.existsSync(taken.path), 'data-snapshots is beside data, not in it');
});

t.test('a snapshot copied under another name verifies and restores; a .partial staging name does not', async (t) => {
  const root = tempDir(t, 'snap-renamed');
  const engine = await storeWithEvent(path.join(root, 'data'));
  const taken = await engine.snapshot(path.join(root, 'snaps'));
  await engine.close();
  const copy = path.join(root, 'snapcopy');
  fs.cpSync(taken.path, copy, { recursive: true });

  const report = verifyDirectory(nodeIO, copy);
  t.equal(report.kind, 'snapshot');
  t.ok(report.ok, `a renamed snapshot is sound: ${JSON.stringify(report.problems)}`);
  t.match(report.notes, [{ message: /taken as "snapshot-.*", renamed since/ }], 'a note says what it was called');

  const restored = path.join(root, 'restored');
  t.equal(restoreSnapshot(nodeIO, copy, restored).events, 1, 'restore takes it');
  const opened = await Engine.open({ dataDir: restored, retentionIntervalMs: 0, create: false });
  t.same(readAll(opened, 's').map((e) => e.payload.toString()), ['{"a":1}'], 'with its event');
  await opened.close();

  // The manifest itself is still checked, whatever the name.
  const listed = path.join(copy, 'catalog');
  fs.appendFileSync(listed, 'x');
  t.notOk(verifyDirectory(nodeIO, copy).ok, 'a file changed after the snapshot is still damage');

  const partial = path.join(root, 'more', `.${path.basename(taken.path)}.partial`);
  fs.cpSync(taken.path, partial, { recursive: true });
  const unfinished = verifyDirectory(nodeIO, partial);
  t.notOk(unfinished.ok, 'a staging directory whose rename a crash prevented is not a valid snapshot');
  t.match(unfinished.problems, [{ message: /unfinished snapshot/ }]);
});

t.test('a snapshot of a store with a stream that could not be opened says it left that stream out (engine and snapshot_db)', { skip: onJetStream ? 'the jetstream backend has no streams that fail to open' : false }, async (t) => {
  const dataDir = await storeWithBrokenStream();
  t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const server = await startInProcess({ engineOptions: { dataDir }, keepData: true, bus: { snapshotsRoot: tempDir(t, 'snap-left-out') } });
  t.teardown(() => server.close());
  const direct = await server.engine.snapshot(tempDir(t, 'snap-left-out-engine'));
  t.same(direct.leftOut.map((s) => s.stream), ['bad'], 'the engine\'s result names the stream it could not take');
  t.ok(direct.leftOut[0]!.code.length > 0 && direct.leftOut[0]!.reason.length > 0, 'with a code and a reason');
  t.equal(direct.streams, 1, 'the snapshot holds the healthy stream only');
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  const raw = await client.requestRaw('snapshot_db', { output: 'nightly' });
  const body = (raw.response.body as { snapshot: { left_out?: { stream: string; code: string }[] } }).snapshot;
  t.same(body.left_out?.map((s) => s.stream), ['bad'], 'snapshot_db answers left_out');
  t.same((await client.snapshot('again')).leftOut.map((s) => s.stream), ['bad'], 'the client maps it');
});

t.test('a snapshot of a sound store has no left_out', { skip: onJetStream ? 'the engine is read directly' : false }, async (t) => {
  const server = await startInProcess({ bus: { snapshotsRoot: tempDir(t, 'snap-sound') } });
  t.teardown(() => server.close());
  await server.engine.createStream('s');
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  const raw = await client.requestRaw('snapshot_db', { output: 'n' });
  t.notOk('left_out' in (raw.response.body as { snapshot: object }).snapshot);
  t.same((await client.snapshot('m')).leftOut, []);
});

t.test('snapshot_db into an existing snapshot (or below it) is refused with INVALID_PATH, the snapshot left valid', async (t) => {
  const root = tempDir(t, 'snap-in-snap');
  const server = await startInProcess({ bus: { snapshotsRoot: root } });
  t.teardown(() => server.close());
  await server.engine.createStream('s');
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  const first = await client.snapshot('nightly');
  for (const output of [first.path, `${first.path}/streams`, `${first.path}/new/deeper`]) {
    await t.rejects(client.snapshot(output), { code: 'INVALID_PATH', message: /is inside the snapshot .*: a snapshot holds only the files its MANIFEST lists/ }, `${output}: INVALID_PATH, saying why`);
  }
  t.notOk(fs.existsSync(path.join(first.absolutePath, 'new')), 'nothing created inside it');
  t.equal(verifyDirectory(nodeIO, first.absolutePath).ok, true, 'the snapshot still verifies');
  t.ok((await client.snapshot('nightly')).path.startsWith('nightly/snapshot-'), 'a snapshot beside it is taken');
});
