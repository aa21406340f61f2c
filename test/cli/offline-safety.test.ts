/**
 * The command never changes what is not a store: `serve` refuses a snapshot and a file as its
 * data directory; `snapshot`, `verify` and `restore` refuse (exit 64, one line, nothing written)
 * a path that is missing, a file, empty or someone else's directory; `verify` refuses (exit 75)
 * a store a running server holds. Real processes, real directories.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';
import type { TapTest } from '../helpers/temp-dir.js';
import { simulateInterruptedOpen } from '../helpers/store.js';

const USAGE = 64;
const IN_USE = 75;

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  // A timeout: a command that wrongly starts serving must fail the test, not hang it.
  const env = { ...process.env };
  delete env.EVENTBUS_DATA;
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000, env });
}

/** Every file and directory under `dir` with its size and modification time: equal listings, nothing changed. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const name of readdirSync(p).sort()) {
      const full = path.join(p, name);
      const st = statSync(full);
      out.push(`${path.relative(dir, full)} ${st.isDirectory() ? 'dir' : st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(full);
    }
  };
  walk(dir);
  return out;
}

function oneLine(t: TapTest, stderr: string, pattern: RegExp, what: string): void {
  t.equal(stderr.trimEnd().split('\n').length, 1, `${what}: one line (${JSON.stringify(stderr)})`);
  t.match(stderr, pattern, what);
}

/**
 * A store in `<dir>/data` with stream "orders" holding one event `{"total": total}`, its server
 * stopped cleanly, or with SIGKILL (its LOCK left as a crash leaves it).
 */
async function storeWithEvent(t: TapTest, total: number, stop: 'clean' | 'SIGKILL' = 'clean'): Promise<{ dir: string; dataDir: string }> {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const server = await startServerProcess({ dataDir });
  const client = await EventBusClient.connect({ port: server.port });
  await client.createStream('orders');
  await client.writeEvent('orders', { total });
  await client.close();
  if (stop === 'SIGKILL') await server.stop('SIGKILL');
  else t.equal(await server.stop(), 0);
  return { dir, dataDir };
}

/** A stopped store with one stream and one event, and a snapshot of it. */
async function storeAndSnapshot(t: TapTest): Promise<{ dir: string; dataDir: string; snapshot: string }> {
  const { dir, dataDir } = await storeWithEvent(t, 12.5);
  const taken = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'));
  t.equal(taken.status, 0, taken.stderr);
  const snaps = path.join(dir, 'snaps');
  const snapshot = path.join(snaps, readdirSync(snaps).find((n) => n.startsWith('snapshot-'))!);
  return { dir, dataDir, snapshot };
}

t.test('serve --data <a snapshot> refuses in one line pointing to restore, before writing anything', async (t) => {
  const { snapshot } = await storeAndSnapshot(t);
  const before = listing(snapshot);
  const served = run('serve', '--data', snapshot, '--port', '0');
  t.equal(served.status, USAGE, 'usage status');
  oneLine(t, served.stderr, /^eventbus: .*is a snapshot, not a data directory.*eventbus restore/, 'names the snapshot and says to restore it');
  t.same(listing(snapshot), before, 'the snapshot is unchanged');
  const verified = run('verify', snapshot);
  t.equal(verified.status, 0, `the snapshot still verifies: ${verified.stdout}`);
});

t.test('serve --data <a file> says the data directory is a file', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'notes.txt');
  writeFileSync(file, 'hello\n');
  const served = run('serve', '--data', file, '--port', '0');
  t.equal(served.status, USAGE);
  oneLine(t, served.stderr, /^eventbus: the data directory .*notes\.txt is a file/, 'says it is a file');
  const below = run('serve', '--data', path.join(file, 'data'), '--port', '0');
  t.equal(below.status, USAGE);
  oneLine(t, below.stderr, /cannot be created: .*notes\.txt is a file/, 'names the file in the way');
});

t.test('offline commands change nothing in a directory that is not a store, and exit with the usage status', async (t) => {
  const dir = tempDir(t);
  const yaml = path.join(dir, 'configs');
  mkdirSync(yaml);
  writeFileSync(path.join(yaml, 'a.yaml'), 'a: 1\n');
  writeFileSync(path.join(yaml, 'b.yaml'), 'b: 2\n');
  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  const file = path.join(dir, 'file');
  writeFileSync(file, 'x');
  const missing = path.join(dir, 'missing');
  const out = path.join(dir, 'out');
  const before = listing(dir);

  for (const [what, target, pattern] of [
    ['a folder of YAML files', yaml, /is not an eventbus data directory .*nothing was changed/],
    ['an empty directory', empty, /is an empty directory, not a data directory/],
    ['a file', file, /is a file, not a data directory/],
    ['a missing path', missing, /no data directory at/],
  ] as const) {
    const snapshot = run('snapshot', '--data', target, '--output', out);
    t.equal(snapshot.status, USAGE, `snapshot of ${what}: usage status`);
    oneLine(t, snapshot.stderr, pattern, `snapshot of ${what}`);
    const verify = run('verify', target);
    t.equal(verify.status, USAGE, `verify of ${what}: usage status, not DAMAGED`);
    t.equal(verify.stdout, '', `verify of ${what} prints no report`);
    t.equal(verify.stderr.trimEnd().split('\n').length, 1, `verify of ${what}: one line`);
    const restore = run('restore', target, '--data', path.join(dir, 'restored'));
    t.equal(restore.status, USAGE, `restore from ${what}: usage status`);
    t.match(restore.stderr, /snapshot/, `restore from ${what} says a snapshot is needed`);
  }
  t.same(listing(dir), before, 'nothing was created or changed anywhere');
});

t.test('restore refuses a data directory as its source and a non-empty target, changing nothing', async (t) => {
  const { dir, dataDir, snapshot } = await storeAndSnapshot(t);
  const fromStore = run('restore', dataDir, '--data', path.join(dir, 'new'));
  t.equal(fromStore.status, USAGE);
  oneLine(t, fromStore.stderr, /is a data directory, not a snapshot/, 'a store is not a snapshot');
  const before = listing(dataDir);
  const over = run('restore', snapshot, '--data', dataDir);
  t.equal(over.status, USAGE);
  oneLine(t, over.stderr, /not an empty directory; restore never overwrites data/, 'a non-empty target');
  t.same(listing(dataDir), before, 'the store is unchanged');
  const inside = run('snapshot', '--data', dataDir, '--output', path.join(dataDir, 'snaps'));
  t.equal(inside.status, USAGE, 'an output inside the data directory is refused');
  t.same(listing(dataDir), before, 'the store is unchanged');
});

t.test('verify refuses a store a running server holds (exit 75), and checks it once stopped', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const server = await startServerProcess({ dataDir });
  t.teardown(() => void server.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: server.port });
  await client.createStream('s');
  await client.writeEvent('s', { n: 1 });
  await client.close();
  const live = run('verify', dataDir);
  t.equal(live.status, IN_USE, 'in-use status');
  t.equal(live.stdout, '', 'no OK report');
  oneLine(t, live.stderr, new RegExp(`in use by process ${server.child.pid}; nothing was checked.*snapshot_db`), 'says who holds it and what to do');
  const snapshot = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'));
  t.equal(snapshot.status, IN_USE, 'the offline snapshot refuses too');
  oneLine(t, snapshot.stderr, /in use by process \d+; a running server takes snapshots with the snapshot_db operation/, 'points to snapshot_db');
  t.equal(await server.stop(), 0);
  const stopped = run('verify', dataDir);
  t.equal(stopped.status, 0, stopped.stdout + stopped.stderr);
  t.match(stopped.stdout, /^OK: data directory/);
});

t.test('a second server on the same data directory exits with the in-use status', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const server = await startServerProcess({ dataDir });
  t.teardown(() => void server.stop('SIGKILL'));
  const second = run('serve', '--data', dataDir, '--port', '0');
  t.equal(second.status, IN_USE);
  oneLine(t, second.stderr, new RegExp(`^eventbus: data directory .* is in use by process ${server.child.pid}\n$`), 'names the process');
  t.equal(await server.stop(), 0);
});

t.test('serve --data <a folder of other files> refuses in one line and writes nothing; hidden files alone do not count', async (t) => {
  const dir = tempDir(t);
  const yaml = path.join(dir, 'configs');
  mkdirSync(yaml);
  writeFileSync(path.join(yaml, 'a.yaml'), 'a: 1\n');
  const before = listing(yaml);
  const served = run('serve', '--data', yaml, '--port', '0');
  t.equal(served.status, USAGE, 'usage status');
  oneLine(t, served.stderr, new RegExp(`^eventbus: the data directory ${yaml} is not empty and is not an eventbus data directory`), 'names the path');
  t.same(listing(yaml), before, 'nothing written into it');

  const kept = path.join(dir, 'kept');
  mkdirSync(kept);
  writeFileSync(path.join(kept, '.gitkeep'), '');
  const server = await startServerProcess({ dataDir: kept });
  t.equal(await server.stop(), 0, 'a directory holding only .gitkeep is served');
  t.ok(readdirSync(kept).includes('catalog'), 'as a new store');
});

t.test('the offline snapshot refuses a store a crash left (recovery would change it), changing nothing', async (t) => {
  const { dir, dataDir } = await storeWithEvent(t, 1, 'SIGKILL');
  const before = listing(dataDir);
  t.ok(before.some((line) => line.startsWith('LOCK ')), 'the crash left its LOCK');
  const snapshot = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'));
  t.equal(snapshot.status, 1, 'failed: no snapshot made');
  oneLine(t, snapshot.stderr, new RegExp(`^eventbus: .*data directory ${dataDir} was not closed cleanly .*nothing was changed.*eventbus serve --data`), 'says why and what to do');
  t.same(listing(dataDir), before, 'the store is exactly as the crash left it (LOCK, segments, no crc-checkpoint)');
  t.notOk(readdirSync(dir).includes('snaps'), 'no output directory');
  const verified = run('verify', dataDir);
  t.equal(verified.status, 0, `verify still reads it as it is: ${verified.stdout}`);
  t.same(listing(dataDir), before, 'and verify changed nothing either');
});

t.test('the offline snapshot of a crashed store that lost its catalog says the catalog is lost, not "start the server once" (which refuses it too)', async (t) => {
  const { dir, dataDir } = await storeWithEvent(t, 1, 'SIGKILL');
  rmSync(path.join(dataDir, 'catalog'));
  const before = listing(dataDir);
  const snapshot = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'));
  t.equal(snapshot.status, 1, 'failed: no snapshot made');
  oneLine(t, snapshot.stderr, new RegExp(`^eventbus: catalog ${path.join(dataDir, 'catalog')} is missing, but the data directory holds stream data .*Restore the data directory from a snapshot\n$`), 'the one thing that helps');
  t.notMatch(snapshot.stderr, /eventbus serve/, 'not advice the server would refuse');
  t.same(listing(dataDir), before, 'nothing changed');
  const served = run('serve', '--data', dataDir, '--port', '0');
  t.equal(served.status, 1, 'the server refuses it');
  t.match(served.stderr, /catalog .* is missing, but the data directory holds stream data/, 'in the same words');
});

t.test('the offline snapshot of a store whose open was interrupted says so (not "not closed cleanly"), changing nothing', async (t) => {
  const { dir, dataDir } = await storeWithEvent(t, 1);
  simulateInterruptedOpen(dataDir);
  const before = listing(dataDir);
  const snapshot = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'));
  t.equal(snapshot.status, 1, 'failed: no snapshot made');
  oneLine(t, snapshot.stderr, new RegExp(`^eventbus: .*data directory ${dataDir} was closed cleanly, but a server's open of it was interrupted .*nothing was changed.*eventbus serve --data`), 'says what happened and what to do');
  t.same(listing(dataDir), before, 'nothing changed');
});

/** Every file under `dir` with a hash of its contents: equal listings, not a byte changed. */
function contents(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const name of readdirSync(p).sort()) {
      const full = path.join(p, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(`${path.relative(dir, full)} ${createHash('md5').update(readFileSync(full)).digest('hex')}`);
    }
  };
  walk(dir);
  return out;
}

t.test('the offline snapshot of a clean store changes no byte of it (crc-checkpoint included) and leaves no LOCK', async (t) => {
  const { dir, dataDir } = await storeWithEvent(t, 1);
  const before = contents(dataDir);
  t.ok(before.some((line) => line.startsWith('crc-checkpoint ')), 'a clean stop left its checkpoint');
  const snapshot = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'));
  t.equal(snapshot.status, 0, snapshot.stderr);
  t.same(contents(dataDir), before, 'every file as it was, byte for byte');
});

t.test('the offline snapshot refuses a store its open would repair, changing no byte of it (exit 1, one line)', async (t) => {
  const { dir, dataDir } = await storeWithEvent(t, 1);
  const server = await startServerProcess({ dataDir });
  const connection = await EventBusClient.connect({ port: server.port });
  const delivery = await connection.processEvents('orders', { maxEvents: 1 });
  await connection.markEvent(delivery.events.map((event) => event.id), 1);
  await connection.close();
  t.equal(await server.stop(), 0);
  const streamDir = path.join(dataDir, 'streams', readdirSync(path.join(dataDir, 'streams'))[0]!);
  const journal = path.join(streamDir, 'consumers');
  const journalBytes = statSync(journal).size;
  const log = path.join(streamDir, readdirSync(streamDir).find((name) => name.endsWith('.log'))!);
  const damages: [string, () => void, RegExp][] = [
    ['the last consumer journal record damaged', () => flipByte(journal, journalBytes - 3), /the open would truncate streams\/[^/]+\/consumers\)/],
    ['the last record of the active segment damaged', () => flipByte(log, statSync(log).size - 2), /the open would rewrite streams\/[^/]+\/0+\.index\)/],
  ];
  for (const [what, damage, change] of damages) {
    const copy = path.join(dir, `copy-${damages.findIndex(([w]) => w === what)}`);
    cpSync(dataDir, copy, { recursive: true });
    damage();
    const before = contents(dataDir);
    const snapshot = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'));
    t.equal(snapshot.status, 1, `${what}: failed, no snapshot made`);
    oneLine(t, snapshot.stderr, new RegExp(`^eventbus: data directory ${dataDir} needs repair when it is opened \\(.*\\), and the offline snapshot never changes the store it reads; nothing was changed\\. See what is wrong with: eventbus verify`), `${what}: says why and what to do`);
    t.match(snapshot.stderr, change, `${what}: names the change its open would make`);
    t.same(contents(dataDir), before, `${what}: not a byte changed`);
    t.notOk(existsSync(path.join(dir, 'snaps')) && readdirSync(path.join(dir, 'snaps')).length > 0, `${what}: no snapshot left`);
    t.equal(run('verify', dataDir).status, 2, `${what}: verify still sees the damage`);
    rmSync(dataDir, { recursive: true });
    renameSync(copy, dataDir);
  }
});

function flipByte(file: string, position: number): void {
  const fd = openSync(file, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, position);
  byte[0] = byte[0]! ^ 0xff;
  writeSync(fd, byte, 0, 1, position);
  closeSync(fd);
}

t.test('the offline snapshot of a store holding damage its open keeps (a seal records it) makes the snapshot, names the damage and exits 2', async (t) => {
  const { dir, dataDir } = await storeWithEvent(t, 1);
  const streamDir = path.join(dataDir, 'streams', readdirSync(path.join(dataDir, 'streams'))[0]!);
  const log = path.join(streamDir, readdirSync(streamDir).find((name) => name.endsWith('.log'))!);
  const fd = openSync(log, 'r+');
  writeSync(fd, Buffer.from('X'), 0, 1, statSync(log).size - 2); // inside the event's payload
  closeSync(fd);
  // The server's open seals the damaged active segment over its damage; later opens change nothing.
  const server = await startServerProcess({ dataDir });
  t.equal(await server.stop(), 0);

  const before = contents(dataDir);
  const snapshot = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'));
  t.same(contents(dataDir), before, 'not a byte of the store changed');
  t.equal(snapshot.status, 2, `damaged status: ${snapshot.stderr}`);
  t.match(snapshot.stdout, /^snapshot .*\(DAMAGED: it holds the damage the store had\)\n/, 'the first line says so');
  t.match(snapshot.stdout, new RegExp(`\\n  damage: stream "orders": ${log} at byte \\d+: .*offsets 0-0 cannot be read`), 'names the stream, file, position and offsets');
  const json = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'), '--json');
  t.equal(json.status, 2);
  const result = JSON.parse(json.stdout) as { absolute_path: string; damage: { stream: string; file: string }[] };
  t.match(result.damage, [{ stream: 'orders', file: log }], '--json lists it under damage');
  t.equal(run('verify', result.absolute_path).status, 2, 'verify of the snapshot agrees');
});

t.test("snapshot and restore refuse an output inside another store's data directory (exit 64, one line, nothing written); a folder merely called streams is not a store", async (t) => {
  const { dir, dataDir, snapshot } = await storeAndSnapshot(t);
  const other = (await storeWithEvent(t, 1)).dataDir;
  const before = contents(other);
  for (const output of [other, path.join(other, 'snaps'), path.join(other, 'streams', 'x')]) {
    const taken = run('snapshot', '--data', dataDir, '--output', output);
    t.equal(taken.status, USAGE, `snapshot --output ${output}: usage status`);
    oneLine(t, taken.stderr, new RegExp(`^eventbus: snapshot output ${output} is inside the data directory ${other}: a data directory holds only what its store writes`), 'says it is inside a store');
  }
  for (const target of [path.join(other, 'restored'), path.join(other, 'streams', 'x')]) {
    const restored = run('restore', snapshot, '--data', target);
    t.equal(restored.status, USAGE, `restore --data ${target}: usage status`);
    oneLine(t, restored.stderr, new RegExp(`^eventbus: ${target} is inside the data directory ${other}: restore into a directory outside it\n$`), 'says why');
  }
  t.same(contents(other), before, 'the other store is unchanged');
  t.equal(run('verify', other).status, 0, 'and still verifies');

  // A backup folder that happens to hold a folder called streams (and no catalog) takes snapshots.
  const backups = path.join(dir, 'backups');
  mkdirSync(path.join(backups, 'streams'), { recursive: true });
  t.equal(run('snapshot', '--data', dataDir, '--output', backups).status, 0, 'a folder with streams/ but no catalog is no store');
  t.equal(run('restore', snapshot, '--data', path.join(backups, 'restored')).status, 0, 'and may hold a restore');
});

t.test('a snapshot copied under another name verifies and restores (exit 0)', async (t) => {
  const { dir, snapshot } = await storeAndSnapshot(t);
  const copy = path.join(dir, 'snapcopy');
  cpSync(snapshot, copy, { recursive: true });
  const verified = run('verify', copy);
  t.equal(verified.status, 0, verified.stdout);
  t.match(verified.stdout, /^OK: snapshot .*snapcopy\n/);
  t.match(verified.stdout, /\n {2}1 stream, \d+ segments?, 1 event, \d+ files checked\n/, 'counts in the singular for one (1 stream, 1 event)');
  const restored = run('restore', copy, '--data', path.join(dir, 'restored'));
  t.equal(restored.status, 0, restored.stderr);
  t.match(restored.stdout, /restored .*snapcopy into .*restored: 1 stream, 1 event, \d+ files, [\d,]+ bytes\n/);
});

t.test('snapshot and restore refuse an output inside a snapshot, and snapshot an output under a file (exit 64, one line, nothing written)', async (t) => {
  const { dir, dataDir, snapshot } = await storeAndSnapshot(t);
  const before = contents(snapshot);
  for (const output of [snapshot, path.join(snapshot, 'streams'), path.join(snapshot, 'more', 'nightly')]) {
    const taken = run('snapshot', '--data', dataDir, '--output', output);
    t.equal(taken.status, USAGE, `snapshot --output ${path.relative(dir, output)}: usage status`);
    oneLine(t, taken.stderr, new RegExp(`^eventbus: snapshot output ${output} is inside the snapshot ${snapshot}: a snapshot holds only the files its MANIFEST lists`), 'says it is inside a snapshot');
  }
  const restored = run('restore', snapshot, '--data', path.join(snapshot, 'sub'));
  t.equal(restored.status, USAGE, 'restore into a directory inside the snapshot: usage status');
  oneLine(t, restored.stderr, new RegExp(`^eventbus: ${path.join(snapshot, 'sub')} is inside the snapshot ${snapshot}: restoring there would change the snapshot`), 'says why');
  t.same(contents(snapshot), before, 'the snapshot is unchanged');
  t.equal(run('verify', snapshot).status, 0, 'and still verifies');

  const file = path.join(dir, 'np');
  writeFileSync(file, 'x');
  const under = run('snapshot', '--data', dataDir, '--output', path.join(file, 'afile'));
  t.equal(under.status, USAGE, 'an output under a file: usage status');
  oneLine(t, under.stderr, new RegExp(`^eventbus: snapshot output ${path.join(file, 'afile')} cannot be created: ${file} is a file\n$`), 'names the file in the way');
  const onFile = run('snapshot', '--data', dataDir, '--output', file);
  t.equal(onFile.status, USAGE, 'an output that is a file: usage status');
  oneLine(t, onFile.stderr, new RegExp(`^eventbus: snapshot output ${file} is a file, not a directory\n$`), 'says it is a file');
});
