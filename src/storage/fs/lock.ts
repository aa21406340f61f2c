/**
 * The data directory's `LOCK` file: which process has the store open, and whether the last one
 * closed it cleanly. Node has no flock; this is what survives kill -9.
 *
 * `LOCK` holds the owner's pid, the boot id and the process's start time, one per line. It is
 * never seen without that content: the text is written to `.LOCK.new.<pid>` and fsynced first,
 * then linked as `LOCK` (link() fails when LOCK exists, so of processes creating it at once one
 * succeeds), and the directory fsynced; it is removed (and the removal fsynced) at a clean close.
 * A LOCK found at open whose owner is not running now (another boot, a dead pid, a pid reused by
 * a process with another start time, or contents torn by a power loss) is stale: the last process
 * died with the store open, and the store is recovered as after a crash (unless the clean close's
 * crc-checkpoint is still beside it: then an open was killed before it took any write, after a
 * clean stop; engine.ts decides). A stale LOCK is replaced by rename() over it, so the name never
 * goes missing; only the holder of the claim on its content (`.LOCK.claim.<digest>`, itself
 * taken with link()) may do that, so of processes taking over one stale LOCK at once one does
 * and the others find the LOCK changed and judge it again. A claim left by a crashed process is
 * taken over the same way, one level down. The same steps (takeExclusive, over an
 * ExclusiveFile) create a restore's RESTORING marker (tools/restore.ts). On a file system without
 * hard links (FAT, exFAT, some SMB/CIFS and FUSE mounts: link() fails with EPERM, ENOTSUP or
 * EMLINK) LOCK and claims are created with O_EXCL and then written, so for a moment they exist
 * empty; a torn text is read again after a grace period before it is judged (see {@link readTorn}).
 *
 * A pid names a process only in its pid namespace: processes in two containers (or on two hosts)
 * sharing a data directory each judge the other's LOCK stale, so both open it. Not excluded here;
 * docs/operations.md says a data directory must not be shared so.
 */
import { createHash } from 'node:crypto';
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
  /** The owner text this process put in the LOCK: what tells it is still ours. */
  text: string;
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
 * over; Node has no flock, and this is what survives kill -9. Of any number of processes doing
 * this at once, exactly one gets the LOCK and the others are refused with LOCKED (see the top of
 * this file for how).
 */
export function acquireLock(io: FileIO, dataDir: string): { lock: HeldLock; crashed: boolean } {
  const lock = path.join(dataDir, LOCK_FILE);
  // Checked by identity, not by name: the LOCK below names this process, which ownerRunning
  // takes for a leftover of an earlier open, so a second open by another name would take it over.
  const identity = directoryIdentity(dataDir);
  const openAs = openInProcess.get(identity);
  if (openAs !== undefined) {
    const alias = openAs === dataDir ? '' : ` (as ${openAs})`;
    throw new EventBusError(ErrorCodes.LOCKED, `data directory ${dataDir} is already open in this process${alias}`, { context: { path: dataDir, open_as: openAs } });
  }
  const spec = lockSpec(dataDir);
  const text = ownerText();
  const staged = stageExclusiveText(io, spec, text);
  let tookOver: boolean;
  try {
    tookOver = take(io, spec, staged, lock, 0);
  } finally {
    unlinkIfThere(io, staged, true);
  }
  // A takeover by an older version cut short by a crash (LOCK renamed away, the new one never
  // written) leaves only LOCK.stale.<pid>: the store was not closed cleanly all the same.
  const legacy = abandonedTakeovers(io, dataDir);
  for (const name of legacy) io.unlink(path.join(dataDir, name));
  removeAbandonedHelpers(io, spec);
  // Durable before the store is touched: after any crash, power loss included, the next open
  // finds the LOCK and knows the store was not closed cleanly (recovery treats a failing tail
  // as torn only then).
  io.syncDirNow(dataDir);
  openInProcess.set(identity, dataDir);
  return { lock: { file: lock, dataDir, identity, text }, crashed: tookOver || legacy.length > 0 };
}

/** How many times a LOCK that changed under us (released, or taken over by another) is judged again. */
const MAX_TAKE_ATTEMPTS = 5;
/** Hidden names (a directory holding only them is empty to store-directory.ts), all starting `.LOCK.`. */
const HELPER_PREFIX = '.LOCK.';

/**
 * A name only one running process may hold, created whole with link() and taken over from a
 * process that is gone, as the top of this file tells for LOCK: the LOCK, and a restore's
 * RESTORING marker (tools/restore.ts). Its helpers are hidden files beside it:
 * `<prefix>new.<pid>` (the owner's text, staged), `<prefix>swap.<pid>` (a second name of it for
 * a rename) and `<prefix>claim.<digest>` (a claim on a stale content).
 */
export interface ExclusiveFile {
  /** The directory it is in. */
  dir: string;
  /** The helpers' prefix, a hidden name: `.LOCK.`, `.RESTORING.`. */
  helperPrefix: string;
  /** The owner a text of it (or of a claim on it) names; null when torn or foreign, so stale. */
  owner(text: string): LockOwner | null;
  /**
   * The text that replaces a stale one holding `seen` (claims on it excepted); without it, the
   * staged text. A restore's marker keeps the phase of the one it replaces (tools/restore.ts).
   */
  successor?(seen: string): string;
  /**
   * The refusal (LOCKED): held by the running process `pid` (`claimed`: it holds a claim on a
   * stale one, so is taking it over); `busy`: it kept changing under us.
   */
  refusal(why: { held: number; claimed: boolean } | { busy: true }): EventBusError;
}

/** The LOCK of `dataDir`, as an {@link ExclusiveFile}. */
function lockSpec(dataDir: string): ExclusiveFile {
  return {
    dir: dataDir,
    helperPrefix: HELPER_PREFIX,
    owner: parseLock,
    refusal(why) {
      if ('held' in why && !why.claimed) return new EventBusError(ErrorCodes.LOCKED, `data directory ${dataDir} is in use by process ${why.held}`);
      if ('held' in why) return new EventBusError(ErrorCodes.LOCKED, `data directory ${dataDir} is being opened by process ${why.held}, which is taking over its stale LOCK`);
      return new EventBusError(ErrorCodes.LOCKED, `data directory ${dataDir} is being opened by another process`);
    },
  };
}

/** True for the files of the lock itself (LOCK and its helpers): they come and go while other processes open the store. */
export function isLockFile(name: string): boolean {
  return name === LOCK_FILE || name.startsWith(HELPER_PREFIX) || STALE_TAKEOVER_PATTERN.test(name);
}

/**
 * Writes `text` (this process's owner text, first) to `<prefix>new.<pid>` and makes it durable,
 * so that a name linked to it is never seen, nor found after a power loss, without its whole
 * content. Returns its path; the caller removes it once linked.
 */
export function stageExclusiveText(io: FileIO, spec: ExclusiveFile, text: string): string {
  const staged = path.join(spec.dir, `${spec.helperPrefix}new.${process.pid}`);
  unlinkIfThere(io, staged); // a leftover of a dead process that had this pid (this one is synchronous here)
  assert(createWithText(io, staged, text), `${staged} is created only once it was removed`);
  return staged;
}

/**
 * Creates `file` holding `text`, written and fdatasynced; false when `file` exists. A failure
 * after the file was created removes it (it is ours, and its content is not whole).
 */
function createWithText(io: FileIO, file: string, text: string): boolean {
  let fd: number;
  try {
    fd = io.open(file, 'wx+');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw ioError(`creating ${file}`, error);
  }
  try {
    try {
      writeFully(io, fd, [Buffer.from(text)], 0);
      io.datasyncNow(fd);
    } finally {
      io.close(fd);
    }
  } catch (error) {
    unlinkIfThere(io, file, true);
    throw ioError(`creating ${file}`, error);
  }
  return true;
}

/**
 * Makes `target` a name of `staged` (see {@link take}); true when it replaced a stale one (a
 * process that held it is gone), false when it was absent. Throws the spec's refusal when a
 * running process holds it.
 */
export function takeExclusive(io: FileIO, spec: ExclusiveFile, staged: string, target: string): boolean {
  return take(io, spec, staged, target, 0);
}

/**
 * Makes `target` (LOCK, or a claim) a name of `staged`: created with link(), which fails when
 * it exists, or, when what it holds names no running process, replaced under a claim on that
 * content. Returns whether it replaced a stale one; throws LOCKED when a running process holds it.
 */
function take(io: FileIO, spec: ExclusiveFile, staged: string, target: string, depth: number): boolean {
  for (let attempt = 0; attempt < MAX_TAKE_ATTEMPTS; attempt++) {
    if (createAs(io, staged, target)) return false;
    const seen = readTorn(io, spec, target);
    if (seen === null) continue; // released between our link and our read
    const owner = spec.owner(seen);
    if (owner !== null && ownerRunning(owner)) throw spec.refusal({ held: owner.pid, claimed: depth > 0 });
    if (replaceStale(io, spec, staged, target, seen, depth)) return true;
    // Another process replaced it first: judge what is there now.
  }
  throw spec.refusal({ busy: true });
}

/**
 * Replaces `target`, judged stale with content `seen`, by a name of `staged` (or a file holding
 * the spec's successor text), atomically
 * (rename: the name never goes missing, so no process can create it meanwhile). Only a holder
 * of the claim on `seen` may replace `seen`, so of two processes that judged it stale only one
 * does; the other, holding the claim after it, finds the content changed and returns false.
 */
function replaceStale(io: FileIO, spec: ExclusiveFile, staged: string, target: string, seen: string, depth: number): boolean {
  // No depth limit: a claim one level deeper exists only if a process crashed holding it, so
  // every level is left by another crash and the descent ends at the first level not taken.
  const claim = path.join(spec.dir, claimName(spec, target, seen));
  take(io, spec, staged, claim, depth + 1);
  try {
    if (readIfThere(io, target) !== seen) return false;
    const swap = path.join(spec.dir, `${spec.helperPrefix}swap.${process.pid}`);
    unlinkIfThere(io, swap);
    try {
      const text = depth === 0 && spec.successor !== undefined ? spec.successor(seen) : null;
      const created = text === null ? createAs(io, staged, swap) : createWithText(io, swap, text);
      if (!created) throw Object.assign(new Error(`${swap} appeared`), { code: 'EEXIST' });
      io.rename(swap, target);
    } catch (error) {
      unlinkIfThere(io, swap, true);
      throw ioError(`taking over ${target}`, error);
    }
    return true;
  } finally {
    unlinkIfThere(io, claim, true);
  }
}

/**
 * The claim on `target` (the exclusive file or a claim) holding `seen`: `<prefix>claim.<SHA-256
 * of target's name, a NUL byte and seen, in hex>`. The same length at every level, so a chain
 * of claims left by crashed takers never makes a name too long.
 */
function claimName(spec: ExclusiveFile, target: string, seen: string): string {
  const digest = createHash('sha256').update(path.basename(target)).update('\0').update(seen).digest('hex');
  return `${spec.helperPrefix}claim.${digest}`;
}

/**
 * What link() fails with where a file system has no hard links (FAT and exFAT, some SMB/CIFS and
 * FUSE mounts); tools/snapshot.ts copies there instead of linking for the same reason.
 */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/**
 * Creates `to` as a name of the staged text: link(), which fails when `to` exists; false then.
 * Where the file system has no hard links, `to` is created with open(O_EXCL) and the staged text
 * written and fdatasynced into it, as before link() was used: for a moment `to` exists empty
 * (see {@link readTorn} and docs/storage-format.md, "File systems without hard links").
 */
function createAs(io: FileIO, staged: string, to: string): boolean {
  try {
    io.link(staged, to);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === undefined || !NO_HARD_LINKS.has(code)) throw ioError(`creating ${to}`, error);
  }
  const text = readIfThere(io, staged);
  assert(text !== null, `${staged} is there until the LOCK is taken`);
  return createWithText(io, to, text);
}

/** How long a LOCK (or claim) found torn is given to be written, on a file system without hard links. */
const TORN_GRACE_MS = 200;

/**
 * `target`'s text, or null when it is not there. Text that names no owner (torn) may be one
 * being written this moment by a process on a file system without hard links (created empty,
 * then written): it is read again after {@link TORN_GRACE_MS}, and the later text is judged.
 */
function readTorn(io: FileIO, spec: ExclusiveFile, target: string): string | null {
  const seen = readIfThere(io, target);
  if (seen === null || spec.owner(seen) !== null) return seen;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, TORN_GRACE_MS);
  return readIfThere(io, target);
}

/** A small file's text, or null when it is not there. */
function readIfThere(io: FileIO, file: string): string | null {
  try {
    return readWholeFile(io, file).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(`reading ${file}`, error);
  }
}

/** Removes `file` if it is there; `quiet` also swallows other errors (a leftover of ours is harmless). */
function unlinkIfThere(io: FileIO, file: string, quiet = false): void {
  try {
    io.unlink(file);
  } catch (error) {
    if (quiet || (error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw ioError(`removing ${file}`, error);
  }
}

/**
 * Removes the helper files of `spec` that crashed processes left: `<prefix>new.<pid>` and
 * `<prefix>swap.<pid>` of pids not running, and claims of owners not running. A claim only
 * guards a content now replaced (the name is ours), so removing one never lets a second
 * process in. Best effort: a leftover that cannot be read or removed stays, harmless.
 */
export function removeAbandonedHelpers(io: FileIO, spec: ExclusiveFile): void {
  for (const name of io.readdir(spec.dir)) {
    if (!name.startsWith(spec.helperPrefix)) continue;
    const file = path.join(spec.dir, name);
    const helper = /^(new|swap)\.(\d+)$/.exec(name.slice(spec.helperPrefix.length));
    if (helper !== null && Number(helper[2]) !== process.pid && !pidRunning(Number(helper[2]))) unlinkIfThere(io, file, true);
    if (!name.startsWith(`${spec.helperPrefix}claim`)) continue;
    try {
      const text = readIfThere(io, file);
      const owner = text === null ? null : spec.owner(text);
      if (text !== null && (owner === null || !ownerRunning(owner))) unlinkIfThere(io, file, true);
    } catch {
      // Unreadable: left for a later open.
    }
  }
}

function pidRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Left by a takeover of an older version cut short by a crash. */
const STALE_TAKEOVER_PATTERN = /^LOCK\.stale\.(\d+)$/;

/** `LOCK.stale.<pid>` files whose taking-over process is gone (a running one is mid-takeover). */
function abandonedTakeovers(io: FileIO, dataDir: string): string[] {
  return io.readdir(dataDir).filter((name) => {
    const match = STALE_TAKEOVER_PATTERN.exec(name);
    if (match === null) return false;
    const pid = Number(match[1]);
    return pid === process.pid || !pidRunning(pid);
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
 * it stays, and the next open recovers as after a crash). Only if it still holds this process's
 * text: a LOCK another process took over meanwhile (it judged ours stale, say from another pid
 * namespace) is that process's, and removing it would let a third one in. Returns false when the
 * LOCK was found to be another's (left in place), true otherwise.
 */
export function releaseLock(io: FileIO, lock: HeldLock, clean = true): boolean {
  assert(openInProcess.get(lock.identity) === lock.dataDir, `releasing the LOCK of ${lock.dataDir}, which this process does not hold`);
  openInProcess.delete(lock.identity);
  let text: string | null;
  try {
    text = readIfThere(io, lock.file);
  } catch {
    return true; // unreadable: the disk is failing; leave it, and the next open judges it
  }
  if (text !== null && text !== lock.text) return false;
  if (!clean || text === null) return true;
  // A takeover between this read and the unlink below would be lost: it needs our LOCK judged
  // stale, which a running process's is not (but for another pid namespace; docs/operations.md).
  try {
    io.unlink(lock.file);
    io.syncDirNow(lock.dataDir); // the clean close is durable too
  } catch {
    // Already gone, or the disk is failing: the next open then recovers as after a crash.
  }
  return true;
}
