/**
 * The store lock: a data directory is open in at most one engine at a time, in this process or
 * another; a lock left by a process that is gone does not keep the store shut.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { requireIdleStore, requireVerifiable } from '../../src/cli/store-checks.js';
import { nodeIO } from '../../src/storage/fs/io.js';
import { FaultyIO } from '../../src/storage/testing/faulty-io.js';
import { inspectStoreDirectory } from '../../src/storage/store-directory.js';
import { verifyDirectory } from '../../src/storage/tools/verify.js';
import { openEngine, readAll } from '../helpers/store.js';
import { tempDir } from '../helpers/temp-dir.js';

const ENGINE_MODULE = new URL('../../src/storage/engine.js', import.meta.url).href;

/**
 * A pid no process has: Linux gives pids below pid_max, which is at most 2^22 (PID_MAX_LIMIT;
 * systemd sets it to exactly that, so 2^22 - 1 can be a live pid there), so 2^22 and above never.
 */
const DEAD_PID = 2 ** 22;

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

/**
 * Other names of `dataDir`: a symbolic link to it, one to its parent, and relative and
 * trailing-slash spellings of those. Every one names the same directory.
 */
function otherNames(t: Parameters<typeof tempDir>[0], dataDir: string): string[] {
  const links = tempDir(t, 'links');
  fs.symlinkSync(dataDir, path.join(links, 'link'));
  fs.symlinkSync(path.dirname(dataDir), path.join(links, 'parent'));
  const viaParent = path.join(links, 'parent', path.basename(dataDir));
  return [path.join(links, 'link'), `${path.join(links, 'link')}/`, viaParent, path.relative(process.cwd(), viaParent)];
}

/** Tries to open `dataDir` in another process; resolves to the error code, or 'opened'. */
async function openElsewhere(dataDir: string): Promise<string> {
  const script = `
    const { Engine } = await import(process.argv[1]);
    try {
      const engine = await Engine.open({ dataDir: process.argv[2], retentionIntervalMs: 0 });
      await engine.close();
      process.stdout.write('opened');
    } catch (error) {
      process.stdout.write(String(error.code));
    }
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, ENGINE_MODULE, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  return out;
}

t.test('a second open in this process through another name of the directory (a symbolic link to it or a parent) fails with LOCKED; the first keeps its data and its LOCK', async (t) => {
  const dataDir = path.join(tempDir(t), 'data');
  const first = await openEngine(dataDir);
  await first.createStream('s');
  for (const name of otherNames(t, dataDir)) {
    await t.rejects(openEngine(name), { code: 'LOCKED', reason: new RegExp(`already open in this process \\(as ${dataDir}\\)`) }, name);
  }
  t.ok(fs.existsSync(path.join(dataDir, 'LOCK')), 'the refused opens left the LOCK in place');
  t.equal(await openElsewhere(dataDir), 'LOCKED', 'another process is still kept out');
  t.equal((await first.append('s', Buffer.from('from-first'))).offset, 0);
  await first.close();
  const again = await openEngine(otherNames(t, dataDir)[0]!);
  t.same(readAll(again, 's').map((event) => `${event.offset}:${event.payload.toString()}`), ['0:from-first'], 'the acknowledged event is there, once');
  await again.close();
});

t.test('the offline checks see a store open in this process through any of its names', async (t) => {
  const dataDir = path.join(tempDir(t), 'data');
  const engine = await openEngine(dataDir);
  t.teardown(() => engine.close());
  for (const name of otherNames(t, dataDir)) {
    t.equal(inspectStoreDirectory(name).lockHolder, process.pid, `${name}: held by this process`);
    t.throws(() => verifyDirectory(nodeIO, name), { code: 'LOCKED' }, `${name}: verify refuses`);
    t.throws(() => requireVerifiable(name), { code: 'LOCKED' }, `${name}: eventbus verify refuses`);
    t.throws(() => requireIdleStore(name), { code: 'LOCKED' }, `${name}: eventbus snapshot refuses`);
  }
});

t.test('a store open in another process cannot be opened through another name, in either direction', async (t) => {
  const dataDir = path.join(tempDir(t), 'data');
  await (await openEngine(dataDir)).close();
  const [link] = otherNames(t, dataDir);
  const child = await holder(link!);
  t.teardown(() => void child.kill('SIGKILL'));
  await t.rejects(openEngine(dataDir), { code: 'LOCKED', reason: new RegExp(`in use by process ${child.pid}`) }, 'held through a link, opened by its name');
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  const engine = await openEngine(link!);
  t.equal(await openElsewhere(dataDir), 'LOCKED', 'held through a link here, opened by its name in another process');
  await engine.close();
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

t.test('a takeover by an older version cut short by a crash (only LOCK.stale.<pid> left) is opened as after a crash, and the leftover removed', async (t) => {
  const dataDir = tempDir(t);
  await (await openEngine(dataDir)).close();
  const clean = await openEngine(dataDir);
  t.equal(clean.recovery.afterCrash, false, 'a clean close: not after a crash');
  await clean.close();
  // The taking-over process (a pid no process has) renamed LOCK away and died before writing its
  // own; the process before it had died with the store open after taking writes (no checkpoint).
  fs.rmSync(path.join(dataDir, 'crc-checkpoint'), { force: true });
  const leftover = path.join(dataDir, `LOCK.stale.${DEAD_PID}`);
  fs.writeFileSync(leftover, `1\nold-boot\n1\n`);
  const engine = await openEngine(dataDir);
  t.equal(engine.recovery.afterCrash, true, 'the store was not closed cleanly: its tails are recovered as torn');
  t.notOk(fs.existsSync(leftover), 'the leftover is removed');
  await engine.close();
  t.equal((await openEngine(dataDir).then(async (e) => { const crashed = e.recovery.afterCrash; await e.close(); return crashed; })), false, 'and the next clean open is clean again');
});


function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** The name of the claim on `target` (LOCK or a claim) holding `seen` (docs/storage-format.md, "Stale LOCK"). */
function claimOf(target: string, seen: string): string {
  return `.LOCK.claim.${createHash('sha256').update(target).update('\0').update(seen).digest('hex')}`;
}

/** The files of the lock in `dataDir` (LOCK and its hidden helpers). */
function lockFiles(dataDir: string): string[] {
  return fs.readdirSync(dataDir).filter((name) => name.includes('LOCK')).sort();
}

t.test('a LOCK naming a dead process is taken over: opened as after a crash, the LOCK now names this process, no helper file left', async (t) => {
  const dataDir = tempDir(t);
  await (await openEngine(dataDir)).close();
  fs.rmSync(path.join(dataDir, 'crc-checkpoint'), { force: true }); // it died after taking writes
  fs.writeFileSync(path.join(dataDir, 'LOCK'), `${DEAD_PID}\n${bootId()}\n1\n`);
  const engine = await openEngine(dataDir);
  t.equal(engine.recovery.afterCrash, true, 'recovered as after a crash');
  t.same(lockFiles(dataDir), ['LOCK'], 'only the LOCK');
  t.match(fs.readFileSync(path.join(dataDir, 'LOCK'), 'utf8'), new RegExp(`^${process.pid}\n[^\n]*\n[^\n]*\n$`), 'naming this process, whole');
  await engine.close();
  t.same(lockFiles(dataDir), [], 'a clean close removes it');
});

t.test('a claim on a stale LOCK left by a crashed taker does not keep the store shut; it is taken over and removed', async (t) => {
  const dataDir = tempDir(t);
  await (await openEngine(dataDir)).close();
  const stale = `${DEAD_PID}\n${bootId()}\n1\n`;
  fs.writeFileSync(path.join(dataDir, 'LOCK'), stale);
  // The taker (another dead process) claimed the stale LOCK and died before replacing it.
  const claim = claimOf('LOCK', stale);
  fs.writeFileSync(path.join(dataDir, claim), `${DEAD_PID + 1}\n${bootId()}\n1\n`);
  fs.writeFileSync(path.join(dataDir, `.LOCK.new.${DEAD_PID + 1}`), `${DEAD_PID + 1}\n${bootId()}\n1\n`);
  const engine = await openEngine(dataDir);
  t.equal(engine.recovery.afterCrash, false, 'the clean close\'s checkpoint is still there: an open killed before it took a write');
  t.same(lockFiles(dataDir), ['LOCK'], 'the claim and the dead taker\'s staged LOCK are removed');
  await engine.close();
});

t.test('a claim held by a running process (another open taking over the stale LOCK) refuses the open with LOCKED and leaves everything in place', async (t) => {
  const dataDir = tempDir(t);
  await (await openEngine(dataDir)).close();
  const stale = `${DEAD_PID}\n${bootId()}\n1\n`;
  fs.writeFileSync(path.join(dataDir, 'LOCK'), stale);
  const claim = claimOf('LOCK', stale);
  const child = await holder(tempDir(t, 'other'));
  t.teardown(() => void child.kill('SIGKILL'));
  const start = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const ticks = start.slice(start.lastIndexOf(')') + 2).split(' ')[19];
  fs.writeFileSync(path.join(dataDir, claim), `${child.pid}\n${bootId()}\n${ticks}\n`);
  await t.rejects(openEngine(dataDir), { code: 'LOCKED', reason: new RegExp(`is being opened by process ${child.pid}, which is taking over its stale LOCK`) });
  t.same(lockFiles(dataDir), [claim, 'LOCK'].sort(), 'the LOCK and the claim as they were, nothing of this open left');
  t.equal(fs.readFileSync(path.join(dataDir, 'LOCK'), 'utf8'), stale);
});

t.test('a directory holding only what a crash left before the first LOCK was linked (.LOCK.new.<pid>) is created as a new store', async (t) => {
  const dataDir = tempDir(t);
  fs.writeFileSync(path.join(dataDir, `.LOCK.new.${DEAD_PID}`), '');
  t.equal(inspectStoreDirectory(dataDir).kind, 'empty');
  const engine = await openEngine(dataDir);
  t.equal(engine.recovery.afterCrash, false, 'a new store');
  t.same(lockFiles(dataDir), ['LOCK'], 'the leftover is removed');
  await engine.close();
});

/**
 * Opens `dataDir` in another process over a FaultyIO whose every link() fails with `errno`, as on
 * a file system without hard links; resolves to the error code, or 'opened'.
 */
async function openElsewhereWithoutLinks(dataDir: string, errno: string): Promise<string> {
  const script = `
    const { Engine } = await import(process.argv[1]);
    const { FaultyIO } = await import(process.argv[2]);
    const io = new FaultyIO();
    io.inject({ op: 'link', errno: process.argv[4], persistent: true });
    try {
      const engine = await Engine.open({ dataDir: process.argv[3], retentionIntervalMs: 0, io });
      await engine.close();
      process.stdout.write('opened');
    } catch (error) {
      process.stdout.write(String(error.code));
    }
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, ENGINE_MODULE, FAULTY_IO_MODULE, dataDir, errno], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  return out;
}

const FAULTY_IO_MODULE = new URL('../../src/storage/testing/faulty-io.js', import.meta.url).href;

t.test('on a file system without hard links (link fails with EPERM, EMLINK or ENOTSUP) a store opens, is locked against another process, and closes cleanly', async (t) => {
  for (const errno of ['EPERM', 'EMLINK', 'ENOTSUP'] as const) {
    const dataDir = path.join(tempDir(t), 'data');
    const io = new FaultyIO();
    io.inject({ op: 'link', errno, persistent: true });
    const engine = await openEngine(dataDir, { io });
    t.same(lockFiles(dataDir), ['LOCK'], `${errno}: the LOCK, no helper left`);
    t.match(fs.readFileSync(path.join(dataDir, 'LOCK'), 'utf8'), new RegExp(`^${process.pid}\n[^\n]*\n[^\n]*\n$`), `${errno}: naming this process, whole`);
    t.equal(await openElsewhereWithoutLinks(dataDir, errno), 'LOCKED', `${errno}: another process (without hard links too) is kept out`);
    t.equal(await openElsewhere(dataDir), 'LOCKED', `${errno}: and so is one where link() works`);
    await engine.close();
    t.same(lockFiles(dataDir), [], `${errno}: a clean close removes the LOCK`);
    const again = await openEngine(dataDir, { io });
    t.equal(again.recovery.afterCrash, false, `${errno}: the next open finds a clean store`);
    await again.close();
  }
});

t.test('on a file system without hard links a stale LOCK (a dead owner, or empty: a crash between its creation and its write) is taken over', async (t) => {
  for (const stale of [`${DEAD_PID}\n${bootId()}\n1\n`, '']) {
    const dataDir = tempDir(t);
    await (await openEngine(dataDir)).close();
    fs.writeFileSync(path.join(dataDir, 'LOCK'), stale);
    const io = new FaultyIO();
    io.inject({ op: 'link', errno: 'EPERM', persistent: true });
    const engine = await openEngine(dataDir, { io });
    t.same(lockFiles(dataDir), ['LOCK'], `${JSON.stringify(stale)}: taken over, no helper left`);
    t.match(fs.readFileSync(path.join(dataDir, 'LOCK'), 'utf8'), new RegExp(`^${process.pid}\n`));
    t.equal(await openElsewhereWithoutLinks(dataDir, 'EPERM'), 'LOCKED');
    await engine.close();
    t.same(lockFiles(dataDir), []);
  }
});

const ENGINE_NODE_IO = new URL('../../src/storage/fs/io.js', import.meta.url).href;

/**
 * Opens `dataDir` in another process that dies (SIGKILL) at the moment it would replace a
 * stale LOCK or claim, holding its claim: a crash inside the claim step. Resolves to how the
 * process ended: 'crashed', or what it printed (an error code, or 'opened').
 */
async function crashInClaimStep(dataDir: string): Promise<string> {
  const script = `
    const { Engine } = await import(process.argv[1]);
    const { nodeIO } = await import(process.argv[2]);
    const io = { ...nodeIO, rename(from, to) {
      const name = to.slice(to.lastIndexOf('/') + 1);
      if (name === 'LOCK' || name.startsWith('.LOCK.claim')) process.kill(process.pid, 'SIGKILL');
      nodeIO.rename(from, to);
    } };
    try {
      const engine = await Engine.open({ dataDir: process.argv[3], retentionIntervalMs: 0, io });
      await engine.close();
      process.stdout.write('opened');
    } catch (error) {
      process.stdout.write(String(error.code));
    }
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, ENGINE_MODULE, ENGINE_NODE_IO, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const signal = await new Promise((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  return signal === 'SIGKILL' ? 'crashed' : out;
}

t.test('crashes inside the claim step, however many, never keep the store shut: each crash leaves a claim one level deeper, and the next open takes them over and removes them', async (t) => {
  const dataDir = tempDir(t);
  await (await openEngine(dataDir)).close();
  fs.writeFileSync(path.join(dataDir, 'LOCK'), `${DEAD_PID}\n${bootId()}\n1\n`);
  const CRASHES = 5;
  for (let crash = 1; crash <= CRASHES; crash++) {
    t.equal(await crashInClaimStep(dataDir), 'crashed', `crash ${crash}: died holding its claim`);
    t.equal(lockFiles(dataDir).filter((name) => name.startsWith('.LOCK.claim.')).length, crash, `crash ${crash}: ${crash} levels of claims left`);
  }
  const names = lockFiles(dataDir).filter((name) => name.startsWith('.LOCK.claim.'));
  t.same(new Set(names.map((name) => name.length)).size, 1, 'every level\'s claim name has the same length');
  const engine = await openEngine(dataDir);
  t.same(lockFiles(dataDir), ['LOCK'], 'the next open takes the LOCK and removes every claim and staged file the crashes left');
  t.match(fs.readFileSync(path.join(dataDir, 'LOCK'), 'utf8'), new RegExp(`^${process.pid}\n`));
  await engine.close();
});

t.test('claims three levels deep left by an older version (.LOCK.claim.h1, .h1.h2, .h1.h2.h3, their takers dead) do not keep the store shut', async (t) => {
  const dataDir = tempDir(t);
  await (await openEngine(dataDir)).close();
  const stale = `${DEAD_PID}\n${bootId()}\n1\n`;
  fs.writeFileSync(path.join(dataDir, 'LOCK'), stale);
  const digest = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);
  let claim = `.LOCK.claim.${digest(stale)}`;
  for (let level = 1; level <= 3; level++) {
    const taker = `${DEAD_PID + level}\n${bootId()}\n1\n`;
    fs.writeFileSync(path.join(dataDir, claim), taker);
    claim = `${claim}.${digest(taker)}`;
  }
  const engine = await openEngine(dataDir);
  t.same(lockFiles(dataDir), ['LOCK'], 'opened; the old claims are removed');
  await engine.close();
});

t.test('a process whose LOCK another process took over meanwhile does not remove that LOCK when it closes', async (t) => {
  const dataDir = tempDir(t);
  const engine = await openEngine(dataDir);
  // Another process (here: a running one, this test's parent) judged our LOCK stale and replaced it.
  const stat = fs.readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
  const theirs = `${process.ppid}\n${bootId()}\n${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`;
  const swap = path.join(dataDir, '.LOCK.swap.test');
  fs.writeFileSync(swap, theirs);
  fs.renameSync(swap, path.join(dataDir, 'LOCK'));
  await engine.close();
  t.equal(fs.readFileSync(path.join(dataDir, 'LOCK'), 'utf8'), theirs, 'their LOCK is still there, as they wrote it');
  t.equal(await openElsewhere(dataDir), 'LOCKED', 'and keeps other processes out');
});
