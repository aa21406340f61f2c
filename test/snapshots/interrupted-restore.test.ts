/**
 * A restore stopped part-way (kill -9, a power cut, a full disk) is never a store: it wrote
 * straight into the target, catalog last, so a kill once `streams/` existed left stream
 * directories without a catalog, which `serve` then wiped and `restore` refused as "not an empty
 * directory". Now:
 *
 * - stopped at every one of its file operations in turn, the target is missing, empty, or marked
 *   as an unfinished restore, never a store: the engine refuses to open it (NOT_A_STORE), and a
 *   restore into it again succeeds (clearing what the stopped one wrote) with the snapshot's events;
 * - the real command refuses the half-restored directory in `serve`, `verify` and `snapshot` with
 *   one line saying a restore was interrupted and how to go on (exit 64), and restores into it;
 * - `restore` of a directory that is not a snapshot names what a snapshot has: a MANIFEST.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Engine, inspectStoreDirectory, nodeIO, restoreSnapshot, verifyDirectory, type FileIO } from '../../src/storage/index.js';
import { MAIN } from '../helpers/server-process.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const USAGE = 64;

/** A snapshot of a store of two streams with a few events each, and the events' payloads. */
async function snapshotOfTwoStreams(t: TapTest): Promise<{ snapshot: string; payloads: Map<string, string[]> }> {
  const dir = tempDir(t, 'interrupted-restore');
  const engine = await Engine.open({ dataDir: path.join(dir, 'data'), retentionIntervalMs: 0 });
  const payloads = new Map<string, string[]>();
  for (const name of ['orders', 'payments']) {
    await engine.createStream(name);
    const written: string[] = [];
    for (let i = 0; i < 5; i++) {
      const payload = JSON.stringify({ name, i });
      await engine.append(name, Buffer.from(payload));
      written.push(payload);
    }
    payloads.set(name, written);
  }
  const result = await engine.snapshot(path.join(dir, 'snaps'));
  await engine.close();
  return { snapshot: result.path, payloads };
}

/** The file layer, stopped (every later call throws) at its `stopAt`-th call that changes something: a kill there. */
function stoppingIO(stopAt: number): { io: FileIO; stopped: () => boolean } {
  const changing = new Set(['open', 'writev', 'truncate', 'datasyncNow', 'syncDirNow', 'mkdir', 'rename', 'unlink', 'removeTree', 'link']);
  let calls = 0;
  let stopped = false;
  const io = new Proxy(nodeIO, {
    get(target, name: string) {
      const real = target[name as keyof FileIO] as (...args: unknown[]) => unknown;
      if (!changing.has(name)) return real;
      return (...args: unknown[]) => {
        if (name === 'open' && args[1] === 'r') return real(...args);
        if (stopped || ++calls >= stopAt) {
          stopped = true;
          throw new Error(`stopped at call ${stopAt} (${name})`);
        }
        return real(...args);
      };
    },
  });
  return { io, stopped: () => stopped };
}

async function readAll(engine: Engine, name: string): Promise<string[]> {
  return engine.read(name, 0, { maxEvents: 100 }).map((e) => e.payload.toString());
}

t.test('a restore stopped at any file operation is never a store; a restore into it again succeeds', async (t) => {
  const { snapshot, payloads } = await snapshotOfTwoStreams(t);
  const parent = tempDir(t, 'interrupted-restore-targets');
  let finished = false;
  let halfRestored = 0;
  for (let stopAt = 1; !finished; stopAt++) {
    // An existing empty directory (a mount point with lost+found), as restore accepts.
    const target = path.join(parent, `target-${stopAt}`);
    fs.mkdirSync(path.join(target, 'lost+found'), { recursive: true });
    const { io, stopped } = stoppingIO(stopAt);
    try {
      restoreSnapshot(io, snapshot, target);
    } catch (error) {
      if (!stopped()) throw error;
    }
    finished = !stopped();
    const found = inspectStoreDirectory(target);
    if (finished) {
      t.equal(found.kind, 'store', 'a restore that ran to its end is a store');
      t.notOk(found.restoreInterrupted, 'and not marked unfinished');
      break;
    }
    if (fs.existsSync(path.join(target, 'streams'))) halfRestored += 1;
    if (found.kind === 'store' && !found.restoreInterrupted) {
      // Stopped after its marker was removed (only the last directory fsync left): complete.
      t.ok(verifyDirectory(nodeIO, target).ok, `stopped at operation ${stopAt}, after the marker's removal: a complete store`);
      continue;
    }
    if (found.kind !== 'empty') {
      t.ok(found.restoreInterrupted, `stopped at operation ${stopAt}: marked as an unfinished restore (kind ${found.kind}, ${fs.readdirSync(target).join(', ')})`);
      await t.rejects(Engine.open({ dataDir: target, retentionIntervalMs: 0 }), { code: 'NOT_A_STORE', message: /holds a restore that did not finish.*eventbus restore .* --data/ }, `stopped at operation ${stopAt}: the engine refuses it`);
      t.notOk(fs.existsSync(path.join(target, 'LOCK')), `stopped at operation ${stopAt}: and takes no LOCK`);
    }
    restoreSnapshot(nodeIO, snapshot, target);
    t.notOk(inspectStoreDirectory(target).restoreInterrupted, `stopped at operation ${stopAt}: restored again`);
    t.ok(fs.existsSync(path.join(target, 'lost+found')), `stopped at operation ${stopAt}: lost+found kept`);
    t.ok(verifyDirectory(nodeIO, target).ok, `stopped at operation ${stopAt}: the restored store verifies`);
    const engine = await Engine.open({ dataDir: target, retentionIntervalMs: 0 });
    for (const [name, written] of payloads) t.same(await readAll(engine, name), written, `stopped at operation ${stopAt}: ${name} holds the snapshot's events`);
    await engine.close();
  }
  t.ok(halfRestored > 3, `several stops came after stream files were written (${halfRestored})`);
});

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const env = { ...process.env };
  delete env.EVENTBUS_DATA;
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000, env });
}

t.test('the command refuses a half-restored directory in one line saying what happened, and restores into it', async (t) => {
  const { snapshot, payloads } = await snapshotOfTwoStreams(t);
  const target = path.join(tempDir(t, 'interrupted-restore-cli'), 'kr');
  // Stopped once both streams' files are there, before the catalog: the audit's kill -9.
  let stopAt = 1;
  for (; ; stopAt++) {
    const trial = `${target}-${stopAt}`;
    const { io } = stoppingIO(stopAt);
    try {
      restoreSnapshot(io, snapshot, trial);
    } catch {
      // stopped
    }
    const streams = path.join(trial, 'streams');
    const full = fs.existsSync(streams) && fs.readdirSync(streams).length === 2 && !fs.existsSync(path.join(trial, 'catalog'));
    if (full) {
      fs.renameSync(trial, target);
      break;
    }
    fs.rmSync(trial, { recursive: true, force: true });
    t.ok(stopAt < 500, 'found the stop');
  }
  // As a killed restore leaves its marker: naming a process that is gone (the one that stopped it
  // here, this test's, is alive).
  const marker = path.join(target, 'RESTORING');
  const [, , , source] = fs.readFileSync(marker, 'utf8').split('\n');
  fs.writeFileSync(marker, `999999999\n\n\n${source}\n`);
  for (const [command, args] of [['serve', ['serve', '--data', target, '--port', '0']], ['verify', ['verify', target]], ['snapshot', ['snapshot', '--data', target, '--output', path.join(path.dirname(target), 'snaps')]]] as const) {
    const done = run(...args);
    t.equal(done.status, USAGE, `${command}: usage status (${done.stderr})`);
    t.equal(done.stderr.trimEnd().split('\n').length, 1, `${command}: one line`);
    t.match(done.stderr, new RegExp(`^eventbus: ${target} holds a restore that did not finish .*Run the restore again.*: eventbus restore ${snapshot} --data ${target}`), `${command}: says a restore was interrupted and how to go on`);
  }
  t.ok(fs.existsSync(path.join(target, 'streams')), 'nothing was removed');
  const restored = run('restore', snapshot, '--data', target);
  t.equal(restored.status, 0, `restore into it again succeeds (${restored.stderr})`);
  t.equal(run('verify', target).status, 0, 'and the result verifies');
  const engine = await Engine.open({ dataDir: target, retentionIntervalMs: 0 });
  for (const [name, written] of payloads) t.same(await readAll(engine, name), written, `${name} holds the snapshot's events`);
  await engine.close();
});

t.test('restore into a half-restored directory that also holds files a restore does not write is a usage error, changing nothing', async (t) => {
  const { snapshot } = await snapshotOfTwoStreams(t);
  const target = path.join(tempDir(t, 'interrupted-restore-foreign'), 'rk3');
  fs.mkdirSync(path.join(target, 'streams'), { recursive: true });
  // A killed restore's marker (its process gone), and someone's file beside what it wrote.
  fs.writeFileSync(path.join(target, 'RESTORING'), `999999999\n\n\n${snapshot}\n`);
  fs.writeFileSync(path.join(target, 'notes.txt'), 'mine\n');
  const done = run('restore', snapshot, '--data', target);
  t.equal(done.status, USAGE, `the usage status, as the exit table lists it (${done.stderr})`);
  t.equal(done.stderr.trimEnd().split('\n').length, 1, 'one line');
  t.match(done.stderr, `${target} holds an unfinished restore and also "notes.txt", which a restore does not write; nothing was changed`);
  t.same(fs.readdirSync(target).sort(), ['RESTORING', 'notes.txt', 'streams'], 'nothing was changed');
  fs.rmSync(path.join(target, 'notes.txt'));
  t.equal(run('restore', snapshot, '--data', target).status, 0, 'without it, the restore is done again');
});

t.test('restore of a directory that is not a snapshot says a snapshot has a MANIFEST', async (t) => {
  const dir = tempDir(t, 'interrupted-restore-np');
  fs.mkdirSync(path.join(dir, 'np'));
  fs.writeFileSync(path.join(dir, 'np', 'somefile'), 'x');
  const done = run('restore', path.join(dir, 'np'), '--data', path.join(dir, 'x'));
  t.equal(done.status, USAGE);
  t.match(done.stderr, /is not an eventbus snapshot \(it has no MANIFEST\)/, 'names the MANIFEST');
  t.notMatch(done.stderr, /catalog|LOCK/, 'not the marks of a data directory');
  t.notOk(fs.existsSync(path.join(dir, 'x')), 'nothing was created');
});
