/**
 * The data directory's `LOCK` file: which process has the store open, and whether the last one
 * closed it cleanly. Node has no flock; this is what survives kill -9.
 *
 * `LOCK` holds the owner's pid, the boot id and the process's start time, one per line, and is
 * fsynced (with its directory) when taken, and removed (and the removal fsynced) at a clean
 * close. A LOCK found at open whose owner is not running now (another boot, a dead pid, a pid
 * reused by a process with another start time, or contents torn by a power loss) is stale: the
 * last process died with the store open, and the store is recovered as after a crash (unless the
 * clean close's crc-checkpoint is still beside it: then an open was killed before it took any
 * write, after a clean stop; engine.ts decides).
 */
import fs from 'node:fs';
import path from 'node:path';
import { assert, ErrorCodes, EventBusError, ioError } from '../../errors.js';
import { readWholeFile, writeFully, type FileIO } from './io.js';

export const LOCK_FILE = 'LOCK';

/**
 * Data directories open in this process (the LOCK file's pid cannot tell them apart), by
 * {@link directoryIdentity}, each with the path it was opened as.
 */
const openInProcess = new Map<string, string>();

/** A LOCK this process holds: what {@link releaseLock} needs to give it back. */
export interface HeldLock {
  /** The LOCK file's path. */
  file: string;
  /** The data directory, as it was opened. */
  dataDir: string;
  /** Its {@link directoryIdentity} when it was opened (its name may since point elsewhere). */
  identity: string;
}

/**
 * What tells one directory from another whatever it is called: its device and inode numbers.
 * One directory has many names (a symbolic link to it or to one of its parents, a bind mount,
 * other cases of its name on a case-insensitive file system), and comparing paths, even real
 * paths, misses some of them; two engines on one directory overwrite each other's appends and
 * the first to close removes the other's LOCK. A path that cannot be looked at (gone) gets an
 * identity of its own that matches nothing open.
 */
function directoryIdentity(dataDir: string): string {
  try {
    // Not through FileIO: like the /proc reads below, this is introspection, not the store's data.
    const stat = fs.statSync(dataDir, { bigint: true });
    return `${stat.dev}:${stat.ino}`;
  } catch {
    return `unknown:${dataDir}`;
  }
}

/**
 * Takes the data directory's LOCK file, which names the owning process: its pid, the boot id
 * and the process's start time. A LOCK whose owner is not running now (another boot, a dead
 * pid, a pid reused by another process, or contents torn by a power loss) is stale and taken
 * over; Node has no flock, and this is what survives kill -9.
 */
export function acquireLock(io: FileIO, dataDir: string): { lock: HeldLock; crashed: boolean } {
  const lock = path.join(dataDir, LOCK_FILE);
  let crashed = false;
  // Checked by identity, not by name: the LOCK below names this process, which ownerRunning
  // takes for a leftover of an earlier open, so a second open by another name would take it over.
  const identity = directoryIdentity(dataDir);
  const openAs = openInProcess.get(identity);
  if (openAs !== undefined) {
    const alias = openAs === dataDir ? '' : ` (as ${openAs})`;
    throw new EventBusError(ErrorCodes.LOCKED, `data directory ${dataDir} is already open in this process${alias}`, { context: { path: dataDir, open_as: openAs } });
  }
  if (io.stat(lock) !== null) {
    const seen = readWholeFile(io, lock).toString('utf8');
    const owner = parseLock(seen);
    if (owner !== null && ownerRunning(owner)) {
      throw new EventBusError(ErrorCodes.LOCKED, `data directory ${dataDir} is in use by process ${owner.pid}`);
    }
    // Take the stale LOCK over by renaming it away: of two processes doing this at once only one
    // rename finds it. If what was renamed is not what was judged stale, it is another process's
    // fresh LOCK: put it back and give way.
    const stale = `${lock}.stale.${process.pid}`;
    try {
      io.rename(lock, stale);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EventBusError(ErrorCodes.LOCKED, `data directory ${dataDir} is being opened by another process`);
      throw ioError(`taking over ${lock}`, error);
    }
    if (readWholeFile(io, stale).toString('utf8') !== seen) {
      io.rename(stale, lock);
      throw new EventBusError(ErrorCodes.LOCKED, `data directory ${dataDir} is being opened by another process`);
    }
    io.unlink(stale);
    crashed = true;
  }
  // A takeover cut short by a crash (LOCK renamed away, the new one never written) leaves only
  // LOCK.stale.<pid>: the store was not closed cleanly all the same.
  const leftovers = abandonedTakeovers(io, dataDir);
  if (leftovers.length > 0) crashed = true;
  let fd: number;
  try {
    fd = io.open(lock, 'wx+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new EventBusError(ErrorCodes.LOCKED, `data directory ${dataDir} is being opened by another process`);
    }
    throw ioError(`creating ${lock}`, error);
  }
  try {
    writeFully(io, fd, [Buffer.from(ownerText())], 0);
    // Durable, so that after any crash, power loss included, the next open finds it and knows
    // the store was not closed cleanly (recovery treats a failing tail as torn only then).
    io.datasyncNow(fd);
  } finally {
    io.close(fd);
  }
  for (const name of leftovers) io.unlink(path.join(dataDir, name));
  io.syncDirNow(dataDir);
  openInProcess.set(identity, dataDir);
  return { lock: { file: lock, dataDir, identity }, crashed };
}

/** `LOCK.stale.<pid>` files whose taking-over process is gone (a running one is mid-takeover). */
function abandonedTakeovers(io: FileIO, dataDir: string): string[] {
  return io.readdir(dataDir).filter((name) => {
    const match = /^LOCK\.stale\.(\d+)$/.exec(name);
    if (match === null) return false;
    const pid = Number(match[1]);
    if (pid === process.pid) return true;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code !== 'EPERM';
    }
  });
}

/**
 * Who holds the LOCK of `dataDir`, read without changing anything: the pid of a running owner
 * (this process's own when it has the store open), `stale` when a LOCK names no running process
 * (the last process died with the store open), or null when there is no LOCK.
 */
export function lockHolder(io: FileIO, dataDir: string): { pid: number } | 'stale' | null {
  if (openInProcess.has(directoryIdentity(path.resolve(dataDir)))) return { pid: process.pid };
  const lock = path.join(dataDir, LOCK_FILE);
  if (io.stat(lock) === null) return null;
  const owner = parseLock(readWholeFile(io, lock).toString('utf8'));
  return owner !== null && ownerRunning(owner) ? { pid: owner.pid } : 'stale';
}

/**
 * What a LOCK file holds for this process: its pid, the boot id and its start time, a line each.
 * Also the first lines of a restore's marker (tools/restore.ts), so that a running restore is
 * told from an interrupted one as a running owner is from a stale LOCK.
 */
export function ownerText(): string {
  return `${process.pid}\n${bootId()}\n${startTicks(process.pid)}\n`;
}

/** Who a LOCK file names (see the top of this file). */
export interface LockOwner {
  pid: number;
  bootId: string;
  startTicks: string;
}

/** The owner a LOCK file's text names, or null when it is torn or foreign (stale). */
export function parseLock(text: string): LockOwner | null {
  const match = /^(\d+)\n([^\n]*)\n([^\n]*)\n$/.exec(text);
  if (match === null) return null; // torn or foreign: stale
  return { pid: Number(match[1]), bootId: match[2]!, startTicks: match[3]! };
}

/** True when the process a LOCK names is running now (same boot, same pid, same start time). */
export function ownerRunning(owner: LockOwner): boolean {
  if (owner.pid === process.pid) return false; // our own leftover (this process did not open it)
  const currentBoot = bootId();
  if (currentBoot !== '' && owner.bootId !== '' && owner.bootId !== currentBoot) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = startTicks(owner.pid);
  return started === '' || owner.startTicks === '' || started === owner.startTicks;
}

// Process introspection, not data: read straight from /proc (empty where there is none).
function bootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

function startTicks(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (start time), counted after the command name, which may contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

/**
 * Gives back a LOCK taken by {@link acquireLock}; after a clean close it removes the file too (else
 * it stays, and the next open recovers as after a crash).
 */
export function releaseLock(io: FileIO, lock: HeldLock, clean = true): void {
  assert(openInProcess.get(lock.identity) === lock.dataDir, `releasing the LOCK of ${lock.dataDir}, which this process does not hold`);
  openInProcess.delete(lock.identity);
  if (!clean) return;
  try {
    io.unlink(lock.file);
    io.syncDirNow(lock.dataDir); // the clean close is durable too
  } catch {
    // Already gone, or the disk is failing: the next open then recovers as after a crash.
  }
}
