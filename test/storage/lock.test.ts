/**
 * The store lock: a data directory is open in at most one engine at a time, in this process or
 * another; a lock left by a process that is gone does not keep the store shut.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { openEngine } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

const ENGINE_MODULE = new URL('../../src/storage/engine.js', import.meta.url).href;

/**
 * Why the power-loss cases are TODO (see the issue 2 report): engine.ts's lock is a pid file.
 * After a power loss it can hold a torn pid ("14" of "14873"), and after a reboot a pid that now
 * belongs to an unrelated live process; either keeps the store shut (LOCKED) until an operator
 * deletes LOCK. Found by test/storage/power-loss.test.ts (torn mode).
 */

/** Starts a process that opens the store and holds it until killed. */
async function holder(dataDir: string): Promise<ChildProcess> {
  const script = `
    const { Engine } = await import(process.argv[1]);
    await Engine.open({ dataDir: process.argv[2], retentionIntervalMs: 0 });
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, ENGINE_MODULE, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`holder exited early (${code})`)));
  });
  return child;
}

t.test('a second open in the same process fails with LOCKED until the first closes', async (t) => {
  const dataDir = tempDir(t);
  const first = await openEngine(dataDir);
  await t.rejects(openEngine(dataDir), { code: 'LOCKED', reason: /already open in this process/ });
  await t.rejects(openEngine(path.join(dataDir, '.')), { code: 'LOCKED' }, 'the same directory by another spelling');
  await first.close();
  const second = await openEngine(dataDir);
  await second.close();
});

t.test('a store open in another process cannot be opened; once that process is gone, it can', async (t) => {
  const dataDir = tempDir(t);
  await (await openEngine(dataDir)).close();
  const child = await holder(dataDir);
  t.teardown(() => void child.kill('SIGKILL'));
  await t.rejects(openEngine(dataDir), { code: 'LOCKED', reason: new RegExp(`in use by process ${child.pid}`) });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  t.ok(fs.existsSync(path.join(dataDir, 'LOCK')), 'the killed process left its lock behind');
  await t.resolves(openEngine(dataDir).then((engine) => engine.close()), 'opened after the holder died');
  t.notOk(fs.existsSync(path.join(dataDir, 'LOCK')), 'close removes the lock');
});

t.test('a lock file left by a power loss or a previous boot does not keep the store shut', async (t) => {
  const dataDir = tempDir(t);
  await (await openEngine(dataDir)).close();
  const cases: [string, string][] = [
    ['a torn pid (a prefix of the pid, no newline), naming a live process', '1'],
    ['an empty file', ''],
    ['garbage', 'not a pid\n'],
    ['a pid from before a reboot, now used by an unrelated live process', `${process.ppid}\n`],
  ];
  for (const [what, contents] of cases) {
    fs.writeFileSync(path.join(dataDir, 'LOCK'), contents);
    let error: unknown = null;
    try {
      await (await openEngine(dataDir)).close();
    } catch (caught) {
      error = caught;
    }
    t.equal(error === null ? null : String((error as Error).message), null, `${what}: the store opens`);
    fs.rmSync(path.join(dataDir, 'LOCK'), { force: true });
  }
});

t.test('a takeover cut short by a crash (only LOCK.stale.<pid> left) is opened as after a crash, and the leftover removed', async (t) => {
  const dataDir = tempDir(t);
  await (await openEngine(dataDir)).close();
  const clean = await openEngine(dataDir);
  t.equal(clean.recovery.afterCrash, false, 'a clean close: not after a crash');
  await clean.close();
  // The taking-over process (a pid no process has) renamed LOCK away and died before writing its
  // own; the process before it had died with the store open after taking writes (no checkpoint).
  fs.rmSync(path.join(dataDir, 'crc-checkpoint'), { force: true });
  const leftover = path.join(dataDir, 'LOCK.stale.4194303');
  fs.writeFileSync(leftover, `1\nold-boot\n1\n`);
  const engine = await openEngine(dataDir);
  t.equal(engine.recovery.afterCrash, true, 'the store was not closed cleanly: its tails are recovered as torn');
  t.notOk(fs.existsSync(leftover), 'the leftover is removed');
  await engine.close();
  t.equal((await openEngine(dataDir).then(async (e) => { const crashed = e.recovery.afterCrash; await e.close(); return crashed; })), false, 'and the next clean open is clean again');
});
