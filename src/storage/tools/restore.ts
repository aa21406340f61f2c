/**
 * Restoring a snapshot into a new data directory (`eventbus restore`). The snapshot is verified
 * first; every file is copied (never linked, so the restored store can never change the
 * snapshot), fsynced, and the directories fsynced. The result opens as a normal store whose
 * streams, events, ids and consumer positions equal the snapshot's.
 *
 * The target is never a store before the restore has finished: a marker file
 * (store-directory.ts's RESTORE_MARKER) is created whole (written to a hidden file, fsynced and
 * linked into place, as the LOCK is: fs/lock.ts) before anything else, and removed last, once
 * every file and the catalog with its new store id are durable. Of restores into one directory
 * at once, one holds the marker and the others are refused (LOCKED). A restore cut short
 * (kill -9, a power loss, a full disk) leaves the marker: `serve`, the engine, `snapshot` and
 * `verify` refuse the directory, and a restore into it again removes what the cut-short one wrote
 * and starts over. Except one cut short before it found the directory empty (its marker still in
 * phase `claimed`, see takeMarker): it wrote nothing, and its marker is ignored. (Staging in a sibling directory renamed into place would not do: the target
 * may be an existing empty directory, a mount point holding `lost+found`, which a rename cannot
 * replace.)
 *
 * The copy is another store: it gets a store id of its own (catalog.ts), so the events it writes
 * from then on get ids that the original (still running, maybe, on another host) never gives,
 * while the events it was restored with keep theirs.
 */
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../../errors.js';
import { CATALOG, renewStoreId } from '../catalog.js';
import { ensureDirectory } from '../fs/directory.js';
import { readWholeFile, writeFully, type FileIO } from '../fs/io.js';
import { ignorable, inspectStoreDirectory, RESTORE_MARKER, restorePhase } from '../store-directory.js';
import { STREAMS_DIR } from '../stream-lifecycle.js';
import { TEMPORARY_SUFFIX } from '../fs/atomic-file.js';
import { ownerText, parseLock, removeAbandonedHelpers, stageExclusiveText, takeExclusive, type ExclusiveFile } from '../fs/lock.js';
import { MANIFEST_FILE, readManifest } from './manifest.js';
import { verifyDirectory } from './verify.js';

const COPY_CHUNK_BYTES = 1024 * 1024;

/** What a restore writes at the top of its target (besides its marker): nothing else is cleared. */
const RESTORED_NAMES: readonly string[] = [CATALOG.name, `${CATALOG.name}${TEMPORARY_SUFFIX}`, STREAMS_DIR];

/** What a restore copied. */
export interface RestoreResult {
  dataDir: string;
  streams: number;
  events: number;
  files: number;
  bytes: number;
}

/**
 * Restores the snapshot at `snapshotDir` into `dataDir`, which must be absent or empty (hidden
 * files such as `.gitkeep` and `lost+found` allowed, as where a store is created).
 */
export function restoreSnapshot(io: FileIO, snapshotDir: string, dataDir: string): RestoreResult {
  const source = path.resolve(snapshotDir);
  const target = path.resolve(dataDir);
  const fail = (reason: string) => new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `restore failed: ${reason}`);
  const report = verifyDirectory(io, source);
  if (report.kind !== 'snapshot') throw fail(`${source} is not a snapshot (no ${MANIFEST_FILE})`);
  if (!report.ok) {
    const first = report.problems[0]!;
    // What to do (docs/operations.md, "Recovery"): this snapshot holds damage; an older one may not.
    const problems = report.problems.length === 1 ? '1 problem' : `${report.problems.length} problems`;
    throw fail(
      `snapshot does not verify (${problems}; first: ${first.file}: ${first.message}); nothing was written. ` +
        `Run \`eventbus verify ${source}\` to see every problem, and restore an older snapshot that verifies`,
    );
  }
  // Empty as a new store may be created in it: hidden files (.gitkeep) and lost+found allowed;
  // or what a restore cut short left, cleared first.
  const found = inspectStoreDirectory(target, io);
  if (found.restoreInterrupted && found.restoreHolder !== null) {
    throw new EventBusError(ErrorCodes.LOCKED, `a restore into ${target} is running (process ${found.restoreHolder}); nothing was changed`, {
      context: { path: target, pid: found.restoreHolder },
    });
  }
  if (!found.restoreInterrupted && found.kind !== 'missing' && found.kind !== 'empty') {
    throw fail(`${target} is not an empty directory; restore never overwrites data`);
  }
  const manifest = readManifest(io, source);
  if (typeof manifest === 'string') throw fail(`manifest ${manifest}`);
  if (found.restoreInterrupted) refuseForeignNames(io, target, fail);
  ensureDirectory(io, target);
  // First, durably: until it is removed, the directory is a restore not finished, never a store.
  const marker = takeMarker(io, target, source, fail);
  const dirs = new Set<string>([target]);
  const chunk = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
  for (const file of manifest.files) {
    const to = path.join(target, file.path);
    ensureDirectory(io, path.dirname(to));
    dirs.add(path.dirname(to));
    const from = io.open(path.join(source, file.path), 'r');
    const out = io.open(to, 'wx+');
    try {
      for (let position = 0; position < file.size;) {
        const n = io.read(from, chunk, 0, Math.min(chunk.length, file.size - position), position);
        if (n === 0) throw fail(`${file.path} ended early`);
        writeFully(io, out, [chunk.subarray(0, n)], position);
        position += n;
      }
      io.datasyncNow(out);
    } finally {
      io.close(from);
      io.close(out);
    }
  }
  for (const dir of dirs) io.syncDirNow(dir);
  renewStoreId(io, target); // replaces the catalog durably (fsynced, renamed, directory fsynced)
  // Last: the directory is a store from here on.
  io.unlink(marker);
  io.syncDirNow(target);
  return { dataDir: target, streams: manifest.streams.length, events: manifest.events, files: manifest.files.length, bytes: manifest.bytes };
}

/**
 * What the half-restored directory `dir` holds that a restore does not write (besides the hidden
 * entries and lost+found an empty directory may hold): what a restore into it refuses to remove.
 */
export function notRestoredNames(io: FileIO, dir: string): string[] {
  return io.readdir(dir).filter((name) => name !== RESTORE_MARKER && !ignorable(name) && !RESTORED_NAMES.includes(name));
}

/** Refuses (SNAPSHOT_FAILED), changing nothing, a half-restored `target` that holds files a restore does not write. */
function refuseForeignNames(io: FileIO, target: string, fail: (reason: string) => EventBusError): void {
  const foreign = notRestoredNames(io, target);
  if (foreign.length > 0) {
    throw fail(`${target} holds an unfinished restore and also ${foreign.map((n) => JSON.stringify(n)).join(', ')}, which a restore does not write; nothing was changed`);
  }
}

/** The marker's text for this process: owner (three lines, as a LOCK's), snapshot, phase (store-directory.ts). */
function markerText(source: string, phase: 'claimed' | 'copying'): string {
  return `${ownerText()}${source}\n${phase}\n`;
}

/**
 * The marker of `target` as an exclusive file (fs/lock.ts): its owner is its first three lines,
 * as a LOCK's; a stale one is replaced by ours in the phase it was in (a `copying` one may own
 * what the directory holds, a `claimed` one owns nothing), so that no crash at any step makes a
 * `claimed` marker stand over a cut-short restore's files.
 */
function markerSpec(target: string, source: string): ExclusiveFile {
  const helperPrefix = `.${RESTORE_MARKER}.`;
  return {
    dir: target,
    helperPrefix,
    owner: (text) => parseLock(`${text.split('\n').slice(0, 3).join('\n')}\n`),
    successor: (seen) => markerText(source, restorePhase(seen)),
    refusal(why) {
      const reason = 'held' in why ? `a restore into ${target} is running (process ${why.held}); nothing was changed` : `another restore into ${target} is starting; nothing was changed`;
      return new EventBusError(ErrorCodes.LOCKED, reason, { context: { path: target, ...('held' in why ? { pid: why.held } : {}) } });
    },
  };
}

/**
 * Makes `target` this restore's: its marker created whole in phase `claimed` (the owner's text,
 * the snapshot's path and the phase written to a hidden file and fsynced, then linked as the
 * marker, which fails when one exists), or taken over from a restore that is gone, as the LOCK
 * is (fs/lock.ts), in the phase that one was in. Of restores into one directory at once exactly
 * one gets it; the others are refused with LOCKED (a restore into it is running).
 *
 * Then, by phase: `claimed` (ours new, or a killed one's that had written nothing) owns nothing
 * here, so anything the directory holds is someone else's (a restore that finished into it after
 * we looked, say): the marker is removed and the restore refused, nothing else touched. `copying`
 * (a cut-short restore's) is cleared: what it wrote is removed. Only then is the marker made
 * `copying`, durably, before anything is copied: a restore killed at any step before leaves a
 * `claimed` marker, which serve, open and restore ignore once its process is gone
 * (store-directory.ts), so it never makes a finished store unusable. Returns the marker's path.
 */
function takeMarker(io: FileIO, target: string, source: string, fail: (reason: string) => EventBusError): string {
  const spec = markerSpec(target, source);
  const marker = path.join(target, RESTORE_MARKER);
  const staged = stageExclusiveText(io, spec, markerText(source, 'claimed'));
  try {
    takeExclusive(io, spec, staged, marker);
  } finally {
    try {
      io.unlink(staged);
    } catch {
      // Ours and hidden: a leftover is removed with the other helpers by the next restore.
    }
  }
  if (restorePhase(readWholeFile(io, marker).toString('utf8')) === 'copying') {
    clearInterruptedRestore(io, target, fail);
  } else if (io.readdir(target).some((name) => name !== RESTORE_MARKER && !ignorable(name))) {
    // Not ours to clear: it was empty (or held only a claim) when we looked, and is no longer.
    io.unlink(marker);
    io.syncDirNow(target);
    throw fail(`${target} is not an empty directory; restore never overwrites data`);
  }
  // Ours, and the directory empty but for it: from here on the files are this restore's.
  const copying = stageExclusiveText(io, spec, markerText(source, 'copying'));
  io.rename(copying, marker);
  io.syncDirNow(target);
  removeAbandonedHelpers(io, spec);
  return marker;
}

/**
 * Removes what a restore cut short wrote into `target`, whose marker this restore now holds.
 * Refuses, removing nothing, a directory holding anything a restore does not write (besides the
 * hidden entries and lost+found an empty directory may hold): restore never removes anyone's
 * files (the marker, ours, stays: the directory is still a restore not finished).
 */
function clearInterruptedRestore(io: FileIO, target: string, fail: (reason: string) => EventBusError): void {
  refuseForeignNames(io, target, fail);
  for (const name of io.readdir(target).filter((n) => n !== RESTORE_MARKER && !ignorable(n))) io.removeTree(path.join(target, name));
  io.syncDirNow(target);
}
