/**
 * A restore killed right after it created its RESTORING marker, in a target another restore
 * finished into after the killed one had found it empty: the finished store must stay usable
 * with no manual step. Before, the killed restore's marker (its process gone) made `serve` and
 * `verify` refuse the store as an unfinished restore, and a restore into it again took the marker
 * over and deleted the finished copy. Now the marker says its restore had not yet found the
 * directory empty (phase `claimed`), so it owns nothing there: the store opens, verifies and
 * serves as it is, and a restore into it is refused as into any store, nothing changed.
 *
 * Real processes: the killed restore is the real command, stopped at the link of its marker
 * (helpers/restore-crash-preload.ts), the other restore runs while it waits there.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Engine } from '../../src/storage/index.js';
import { MAIN, startServerProcess } from '../helpers/server-process.js';
import { tempDir, type TapTest } from '../helpers/temp-dir.js';

const PRELOAD = fileURLToPath(new URL('../helpers/restore-crash-preload.js', import.meta.url));
const EVENTS = 20;
/** A pid no process has (above any pid_max Linux allows by default). */
const DEAD_PID = 4194303;

/** `eventbus ARGS`, to its end. */
function eventbus(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
}

/** A snapshot of a store of one stream of EVENTS events. */
async function makeSnapshot(dir: string): Promise<string> {
  const engine = await Engine.open({ dataDir: path.join(dir, 'data'), retentionIntervalMs: 0 });
  await engine.createStream('orders');
  for (let i = 0; i < EVENTS; i++) await engine.append('orders', Buffer.from(JSON.stringify({ i })));
  const snapshot = (await engine.snapshot(path.join(dir, 'snaps'))).path;
  await engine.close();
  return snapshot;
}

/**
 * Restore B finds `target` empty and stops before linking its marker; restore A then restores
 * into it to the end; B links its marker and is killed. Returns the target's names after.
 */
async function finishedUnderKilledRestore(t: TapTest, dir: string, snapshot: string, target: string): Promise<string[]> {
  const crashDir = path.join(dir, `crash-${path.basename(target)}`);
  fs.mkdirSync(crashDir);
  const b = spawn(process.execPath, ['--import', PRELOAD, MAIN, 'restore', snapshot, '--data', target], { stdio: 'ignore', env: { ...process.env, CRASH_DIR: crashDir } });
  const bExited = new Promise<string | number | null>((resolve) => b.on('exit', (code, signal) => resolve(signal ?? code)));
  const deadlineMs = Date.now() + 30_000;
  while (!fs.existsSync(path.join(crashDir, 'ready')) && Date.now() < deadlineMs) await new Promise((r) => setTimeout(r, 10));
  t.ok(fs.existsSync(path.join(crashDir, 'ready')), 'restore B found the target empty and is about to link its marker');
  const a = eventbus(['restore', snapshot, '--data', target]);
  t.equal(a.status, 0, `restore A finished into the target meanwhile: ${a.stderr}`);
  fs.writeFileSync(path.join(crashDir, 'go'), '');
  t.equal(await bExited, 'SIGKILL', 'restore B was killed right after linking its marker');
  const names = fs.readdirSync(target);
  t.ok(names.includes('RESTORING'), 'B left its marker over the finished store');
  return names;
}

t.test('a restore killed right after taking its marker over a store another restore finished: the store stays usable', async (t) => {
  const dir = tempDir(t, 'restore-crash');
  const snapshot = await makeSnapshot(dir);

  await t.test('verify, open and serve use it as it is', async (t) => {
    const target = path.join(dir, 'target-serve');
    await finishedUnderKilledRestore(t, dir, snapshot, target);
    const verify = eventbus(['verify', target, '--json']);
    const report = JSON.parse(verify.stdout || '{}') as { ok?: boolean; events?: number };
    t.ok(verify.status === 0 && report.ok === true && report.events === EVENTS, `verify: the store with its ${EVENTS} events (${verify.stdout}${verify.stderr})`);
    const server = await startServerProcess({ dataDir: target });
    t.teardown(() => server.stop());
    t.equal(await server.stop(), 0, `serve ran on it and stopped cleanly: ${server.output()}`);
    const engine = await Engine.open({ dataDir: target, retentionIntervalMs: 0 });
    const read = engine.read('orders', 0, { maxEvents: 100 });
    t.equal(read.length, EVENTS, 'the engine opens it with every event');
    await engine.close();
  });

  await t.test('a restore into it again is refused and changes nothing (before or after a server ran on it)', async (t) => {
    const target = path.join(dir, 'target-again');
    const names = await finishedUnderKilledRestore(t, dir, snapshot, target);
    const catalog = fs.readFileSync(path.join(target, 'catalog'));
    const again = eventbus(['restore', snapshot, '--data', target]);
    t.equal(again.status, 64, 'refused as a usage error');
    t.match(again.stderr, /is not an empty directory; restore never overwrites data\n$/, `in one line: ${again.stderr}`);
    t.same(fs.readdirSync(target).sort(), names.sort(), 'nothing was removed');
    t.same(fs.readFileSync(path.join(target, 'catalog')), catalog, 'the catalog (the finished restore\'s store id) is unchanged');
    const engine = await Engine.open({ dataDir: target, retentionIntervalMs: 0 });
    await engine.close();
    const afterServer = eventbus(['restore', snapshot, '--data', target]);
    t.equal(afterServer.status, 64, `after a server ran: refused as into any store: ${afterServer.stderr}`);
    const verify = eventbus(['verify', target, '--json']);
    t.equal(verify.status, 0, `it still verifies: ${verify.stdout}${verify.stderr}`);
  });
});

t.test('a restore killed right after taking its marker in an empty directory: the directory is empty, a restore into it restores', async (t) => {
  const dir = tempDir(t, 'restore-crash-empty');
  const snapshot = await makeSnapshot(dir);
  const target = path.join(dir, 'target');
  const crashDir = path.join(dir, 'crash');
  fs.mkdirSync(crashDir);
  fs.writeFileSync(path.join(crashDir, 'go'), '');
  const b = spawnSync(process.execPath, ['--import', PRELOAD, MAIN, 'restore', snapshot, '--data', target], { env: { ...process.env, CRASH_DIR: crashDir } });
  t.equal(b.signal, 'SIGKILL', 'killed right after linking its marker');
  t.match(fs.readFileSync(path.join(target, 'RESTORING'), 'utf8'), /\nclaimed\n$/, 'its marker says it had not found the directory empty yet');
  const again = eventbus(['restore', snapshot, '--data', target]);
  t.equal(again.status, 0, `a restore into it restores: ${again.stderr}`);
  t.same(fs.readdirSync(target).filter((name) => name.includes('RESTORING')), [], 'and leaves no RESTORING file');
  const verify = JSON.parse(eventbus(['verify', target, '--json']).stdout || '{}') as { events?: number };
  t.equal(verify.events, EVENTS, 'the store verifies with the snapshot\'s events');
});

t.test('a restore killed while copying (marker in phase copying, its process gone) is cleared by a restore again, never ignored', async (t) => {
  const dir = tempDir(t, 'restore-crash-copying');
  const snapshot = await makeSnapshot(dir);
  const target = path.join(dir, 'target');
  fs.mkdirSync(path.join(target, 'streams', 'half'), { recursive: true });
  fs.writeFileSync(path.join(target, 'RESTORING'), `${DEAD_PID}\n\n1\n${snapshot}\ncopying\n`);
  const verifyBefore = eventbus(['verify', target]);
  t.equal(verifyBefore.status, 64, `refused as a restore that did not finish: ${verifyBefore.stderr}`);
  const again = eventbus(['restore', snapshot, '--data', target]);
  t.equal(again.status, 0, `a restore into it restores: ${again.stderr}`);
  t.notOk(fs.existsSync(path.join(target, 'streams', 'half')), 'what the cut-short restore wrote was removed');
  t.same(fs.readdirSync(target).filter((name) => name.includes('RESTORING')), [], 'and no RESTORING file is left');
});
