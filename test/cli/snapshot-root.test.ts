/**
 * Snapshots a user can find: the default snapshots root is `snapshots` beside the data
 * directory whatever the working directory (systemd's is /), the server logs it at start-up, and
 * snapshot_db answers with `absolute_path`, which `eventbus verify` and `restore` accept as is.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { defaultSnapshotsRoot } from '../../src/bus/snapshot-path.js';
import { EventBusClient } from '../../src/client/client.js';
import { MAIN, serverProcessFor, tempDir } from '../helpers/server-process.js';

t.test('the default snapshots root is beside the data directory, logged, and the reply says where', async (t) => {
  const home = tempDir(t);
  const dataDir = path.join(home, 'var', 'data');
  const elsewhere = tempDir(t); // the working directory: nothing may land here
  const server = await serverProcessFor(t, { dataDir, cwd: elsewhere, args: ['--log-level', 'info'] });
  const client = await EventBusClient.connect({ port: server.port });
  await client.createStream('orders');
  await client.writeEvent('orders', { total: 1 });
  const raw = await client.request('snapshot_db', { output: 'nightly' });
  const snapshot = (raw.body as { snapshot: Record<string, unknown> }).snapshot;
  await client.close();

  const root = path.join(home, 'var', 'snapshots');
  t.match(snapshot.path, /^nightly\/snapshot-/, 'path stays relative to the root, as before');
  t.equal(snapshot.absolute_path, path.join(root, snapshot.path as string), 'absolute_path is the root joined with path');
  t.ok(existsSync(snapshot.absolute_path as string), 'and it is there');
  t.same(readdirSync(elsewhere), [], 'nothing in the working directory');
  const output = await server.waitForOutput(/"msg":"listening"/);
  t.match(output, /"msg":"listening"/, 'the listening line');
  const listening = output.split('\n').find((line) => line.includes('"msg":"listening"'))!;
  t.equal(JSON.parse(listening).snapshotsRoot, root, 'logs the resolved snapshots root at start-up');

  const verified = spawnSync(process.execPath, [MAIN, 'verify', snapshot.absolute_path as string], { encoding: 'utf8', cwd: '/' });
  t.equal(verified.status, 0, `verify accepts absolute_path from any directory: ${verified.stdout}${verified.stderr}`);
  t.equal(await server.stop(), 0);
});

t.test('the client reports absolutePath', async (t) => {
  const server = await serverProcessFor(t);
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  const snapshot = await client.snapshot('x');
  t.equal(snapshot.absolutePath, path.join(path.dirname(server.dataDir), 'snapshots', snapshot.path));
});

t.test('the default root is beside the data directory, never inside it', async (t) => {
  t.equal(defaultSnapshotsRoot('/var/lib/eventbus/data'), '/var/lib/eventbus/snapshots');
  t.equal(defaultSnapshotsRoot('/srv/snapshots'), '/srv/snapshots.snapshots', 'a data directory called snapshots');
  t.equal(defaultSnapshotsRoot('relative/data'), path.resolve('relative/snapshots'));
});

t.test('a snapshots root inside the data directory is refused at start, in one line, nothing written', async (t) => {
  const home = tempDir(t);
  const dataDir = path.join(home, 'data');
  for (const root of [dataDir, path.join(dataDir, 'snaps')]) {
    const config = path.join(home, 'eventbus.yaml');
    writeFileSync(config, `snapshots:\n  root: ${root}\n`);
    const served = spawnSync(process.execPath, [MAIN, 'serve', '--data', dataDir, '--config', config, '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
    t.equal(served.status, 1, `root ${path.relative(home, root)}: refused as a bad setting`);
    t.match(served.stderr.trim(), /^eventbus: snapshots\.root .* is inside the data directory .*: put it beside it/, 'one line naming both');
    t.equal(served.stderr.trim().split('\n').length, 1);
    t.notOk(existsSync(dataDir), 'nothing written');
  }
});

t.test('a snapshots root that is a symbolic link into the data directory, or a file, is refused at start in one line', async (t) => {
  const home = tempDir(t);
  const dataDir = path.join(home, 'data');
  mkdirSync(dataDir);
  writeFileSync(path.join(dataDir, '.gitkeep'), '');
  symlinkSync(dataDir, path.join(home, 'link'));
  const file = path.join(home, 'snapshots-file');
  writeFileSync(file, 'x');
  for (const [root, pattern] of [
    [path.join(home, 'link'), /^eventbus: snapshots\.root .*link is inside the data directory .*data \(through a symbolic link: it is really .*data\): put it beside it/],
    [path.join(home, 'link', 'snaps'), /^eventbus: snapshots\.root .*link\/snaps is inside the data directory .*\(through a symbolic link/],
    [file, /^eventbus: snapshots\.root .*snapshots-file is a file, not a directory/],
    [path.join(file, 'snaps'), /^eventbus: snapshots\.root .*snapshots-file\/snaps cannot be created: .*snapshots-file is a file/],
  ] as const) {
    const config = path.join(home, 'eventbus.yaml');
    writeFileSync(config, `snapshots:\n  root: ${root}\n`);
    const served = spawnSync(process.execPath, [MAIN, 'serve', '--data', dataDir, '--config', config, '--port', '0'], { encoding: 'utf8', timeout: 20_000 });
    t.equal(served.status, 1, `root ${path.relative(home, root)}: refused at start`);
    t.match(served.stderr.trim(), pattern, 'says why');
    t.equal(served.stderr.trim().split('\n').length, 1, 'in one line');
    t.same(readdirSync(dataDir), ['.gitkeep'], 'nothing written');
  }
});
