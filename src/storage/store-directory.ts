/**
 * What a path is to eventbus, found without changing anything: missing, a file, an empty
 * directory, a data directory (a store), a snapshot, or something else; for a store, the live
 * process holding its LOCK. The command line asks before it writes, so that `serve` never opens
 * a snapshot as a data directory and the offline commands never create or change anything in a
 * directory that is not already a store.
 *
 * - A **snapshot** holds a `MANIFEST` (written last by a snapshot), or is the hidden
 *   `.<name>.partial` staging directory a crash left behind (`complete: false`).
 * - A **store** holds one of the files only a store has at its top: `catalog`, `streams/`,
 *   `LOCK` (a store being opened for the first time) or `crc-checkpoint`; or only a
 *   `LOCK.stale.<pid>` (a store that crashed while its first opens took over a stale LOCK).
 *   A crash before the first LOCK leaves the directory empty: it is created again from nothing.
 * - An **empty** directory holds nothing, or only what file managers, version control and file
 *   systems put in any directory: hidden entries (names starting with a dot, `.gitkeep`,
 *   `.DS_Store`) and `lost+found` (a mount point). A store may be created in it.
 * - Anything else is **other**: someone's files, never made into a store.
 *
 * A directory holding {@link RESTORE_MARKER} is a restore that has not finished (tools/restore.ts
 * writes it first and removes it last): kind `store` with `restoreInterrupted` (or a running
 * restore: `restoreHolder`), which nothing may open, snapshot or verify as a store; a restore
 * into it again clears it. Except a marker in phase `claimed` whose process is gone: that restore
 * was killed before it found the directory empty, so wrote nothing there, and the directory is
 * judged by its other entries, as if the marker were not there (a restore that finished into it
 * meanwhile is a store).
 */
import path from 'node:path';
import { ioError } from '../errors.js';
import { CATALOG } from './catalog.js';
import { CRC_CHECKPOINT } from './crc-checkpoint.js';
import { nodeIO, readWholeFile, type FileIO } from './fs/io.js';
import { LOCK_FILE, lockHolder, ownerRunning, parseLock } from './fs/lock.js';
import { STREAMS_DIR } from './stream-lifecycle.js';
import { MANIFEST_FILE } from './tools/manifest.js';

const STORE_MARKERS = [CATALOG.name, STREAMS_DIR, LOCK_FILE, CRC_CHECKPOINT.name] as const;
/**
 * Written first into the target of `eventbus restore` and removed last, once everything the
 * restore wrote (the catalog with its new store id included) is durable: while it exists the
 * directory is a restore cut short, never a store. Its text: the restoring process as a LOCK
 * names its owner (three lines: fs/lock.ts), then the snapshot's path, then its phase
 * ({@link restorePhase}).
 */
export const RESTORE_MARKER = 'RESTORING';

/**
 * The phase a marker's text names (its fifth line): `claimed` while its restore has not yet
 * found the directory empty (it has written nothing there), `copying` from then on. A marker
 * of an older version (four lines, or empty) is `copying`: it may own what the directory holds.
 */
export function restorePhase(text: string): 'claimed' | 'copying' {
  return text.split('\n')[4] === 'claimed' ? 'claimed' : 'copying';
}
/** Left by acquireLock (fs/lock.ts) when a crash came between its takeover and its cleanup. */
const STALE_LOCK_PATTERN = /^LOCK\.stale\.\d+$/;

/** Entries any directory may hold that make it neither a store nor someone's files. */
export function ignorable(name: string): boolean {
  return name.startsWith('.') || name === 'lost+found';
}

export type StoreDirectoryKind = 'missing' | 'file' | 'empty' | 'store' | 'snapshot' | 'other';

/** What {@link inspectStoreDirectory} found at a path. */
export interface StoreDirectory {
  /** The path, absolute. */
  path: string;
  kind: StoreDirectoryKind;
  /**
   * For `missing`: the nearest existing ancestor when it is not a directory, so the path can
   * never be created (`--data notes.txt/data`). Otherwise undefined.
   */
  obstacle: string | undefined;
  /** For `snapshot`: false for a `.partial` staging directory a crash left (no MANIFEST). */
  complete: boolean;
  /** For `store`: the pid of the running process whose LOCK holds it, else null. */
  lockHolder: number | null;
  /**
   * For `store`: true when its last process stopped with it open (a LOCK no running process
   * holds, or a stale LOCK's leftover): the next open runs recovery, which may change its files.
   */
  crashed: boolean;
  /**
   * With `crashed`: the process that stopped with it open was an open interrupted before it took
   * any write (the clean close's crc-checkpoint is still there): recovered as after a clean stop.
   */
  interruptedOpen: boolean;
  /**
   * For `store`: true when it is the target of a restore that has not finished (it holds
   * {@link RESTORE_MARKER}): not a store, whatever else it holds. A restore into it clears it.
   */
  restoreInterrupted: boolean;
  /** With `restoreInterrupted`: the pid of the restore still running into it, else null (interrupted). */
  restoreHolder: number | null;
  /** With `restoreInterrupted`: the snapshot being restored, as its marker names it (null if unreadable). */
  restoreSource: string | null;
}

/** Looks at `dir` (read-only). Throws IO_ERROR when it cannot be read (permissions). */
export function inspectStoreDirectory(dir: string, io: FileIO = nodeIO): StoreDirectory {
  const absolute = path.resolve(dir);
  const found = (kind: StoreDirectoryKind, extra: Partial<StoreDirectory> = {}): StoreDirectory =>
    ({
      path: absolute, kind, obstacle: undefined, complete: false, lockHolder: null, crashed: false, interruptedOpen: false,
      restoreInterrupted: false, restoreHolder: null, restoreSource: null, ...extra,
    });
  const stat = statOrObstacle(io, absolute);
  if (stat === 'missing') return found('missing');
  if (typeof stat === 'object' && 'obstacle' in stat) return found('missing', { obstacle: stat.obstacle });
  if (!stat.isDirectory) return found('file');
  let names: string[];
  try {
    names = io.readdir(absolute);
  } catch (error) {
    throw ioError(`reading ${absolute}`, error);
  }
  if (names.length === 0) return found('empty');
  if (names.includes(MANIFEST_FILE)) return found('snapshot', { complete: true });
  const base = path.basename(absolute);
  if (base.startsWith('.snapshot-') && base.endsWith('.partial')) return found('snapshot', { complete: false });
  if (names.includes(RESTORE_MARKER)) {
    const { abandonedClaim, ...restore } = restoreOf(io, absolute);
    if (!abandonedClaim) return found('store', { restoreInterrupted: true, ...restore });
    names = names.filter((name) => name !== RESTORE_MARKER); // owns nothing here (see the top of this file)
  }
  if (names.every(ignorable)) return found('empty');
  if (!names.some((name) => (STORE_MARKERS as readonly string[]).includes(name) || STALE_LOCK_PATTERN.test(name))) return found('other');
  const holder = names.includes(LOCK_FILE) ? lockOf(io, absolute) : null;
  const live = holder !== null && holder !== 'stale' ? holder.pid : null;
  const crashed = holder === 'stale' || names.some((name) => STALE_LOCK_PATTERN.test(name));
  return found('store', { lockHolder: live, crashed, interruptedOpen: crashed && names.includes(CRC_CHECKPOINT.name) });
}

/**
 * Why a directory a restore has not finished into (`restoreInterrupted`) cannot be used as a
 * store, and what to do: one line, for the engine's and the command's refusals.
 */
export function unfinishedRestoreReason(found: StoreDirectory): string {
  if (found.restoreHolder !== null) return `a restore into ${found.path} is running (process ${found.restoreHolder}); it is not a data directory until it finishes`;
  const snapshot = found.restoreSource ?? 'SNAPSHOT';
  return `${found.path} holds a restore that did not finish (eventbus restore was interrupted; its ${RESTORE_MARKER} file is still there), not a data directory; nothing was changed. ` +
    `Run the restore again, which clears what the interrupted one wrote: eventbus restore ${snapshot} --data ${found.path}`;
}

/**
 * The restore a {@link RESTORE_MARKER} names: the process still running it (or null), its
 * snapshot, and whether it is a `claimed` one whose process is gone (it wrote nothing here).
 */
function restoreOf(io: FileIO, dir: string): { restoreHolder: number | null; restoreSource: string | null; abandonedClaim: boolean } {
  let text: string;
  try {
    text = readWholeFile(io, path.join(dir, RESTORE_MARKER)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { restoreHolder: null, restoreSource: null, abandonedClaim: false }; // finished meanwhile
    throw ioError(`reading the ${RESTORE_MARKER} marker of ${dir}`, error);
  }
  const lines = text.split('\n');
  const owner = parseLock(`${lines.slice(0, 3).join('\n')}\n`);
  const source = lines[3] ?? '';
  const holder = owner !== null && ownerRunning(owner) ? owner.pid : null;
  return { restoreHolder: holder, restoreSource: source === '' ? null : source, abandonedClaim: holder === null && restorePhase(text) === 'claimed' };
}

/** Who holds the store's LOCK (fs/lock.ts): a running process, `stale` (torn, or its process gone), or null. */
function lockOf(io: FileIO, dir: string): ReturnType<typeof lockHolder> {
  try {
    return lockHolder(io, dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null; // released meanwhile
    throw ioError(`reading the LOCK of ${dir}`, error);
  }
}

/** The path's stat, `missing`, or the ancestor file that stands where a directory should be. */
function statOrObstacle(io: FileIO, absolute: string): { size: number; isDirectory: boolean } | 'missing' | { obstacle: string } {
  try {
    return io.stat(absolute) ?? 'missing';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOTDIR') throw ioError(`reading ${absolute}`, error);
  }
  for (let ancestor = path.dirname(absolute); ; ancestor = path.dirname(ancestor)) {
    let stat: { isDirectory: boolean } | null = null;
    try {
      stat = io.stat(ancestor);
    } catch {
      // ENOTDIR again: keep climbing to the file that causes it.
    }
    if (stat !== null && !stat.isDirectory) return { obstacle: ancestor };
    if (ancestor === path.dirname(ancestor)) return 'missing';
  }
}
