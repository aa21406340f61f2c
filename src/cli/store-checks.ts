/**
 * What each command needs a path to be, checked before anything is written: `serve` never opens
 * a snapshot or a file as its data directory, and the offline commands never create or change
 * anything in a directory that is not already a store. A refusal is one line, a usage error
 * (exit status 64), or LOCKED (75) for a store a running server holds.
 */
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../errors.js';
import { lostCatalogError } from '../storage/catalog.js';
import { inspectStoreDirectory, nodeIO, type StoreDirectory } from '../storage/index.js';
import { unfinishedRestoreReason } from '../storage/store-directory.js';
import { notRestoredNames } from '../storage/tools/restore.js';
import { enclosingSnapshot, enclosingStore } from '../storage/tools/snapshot.js';

function usage(reason: string): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_PATH, reason);
}

function restoreHint(snapshot: string): string {
  return `restore it into a new data directory with: eventbus restore ${snapshot} --data NEWDIR`;
}

/** Why `found` is not a store, in words (for the refusals of the offline commands). */
function notAStore(found: StoreDirectory, what: string): EventBusError {
  switch (found.kind) {
    case 'missing':
      return usage(found.obstacle === undefined
        ? `no ${what} at ${found.path}`
        : `no ${what} at ${found.path}: ${found.obstacle} is a file`);
    case 'file':
      return usage(`${found.path} is a file, not a ${what}`);
    case 'empty':
      return usage(`${found.path} is an empty directory, not a ${what}; nothing was changed`);
    case 'snapshot':
      return usage(found.complete
        ? `${found.path} is a snapshot, not a data directory; ${restoreHint(found.path)}`
        : `${found.path} is an unfinished snapshot (a crash cut it short; it has no MANIFEST) and cannot be used`);
    case 'store':
      // Only a restore that did not finish: callers take the other stores.
      return unfinished(found);
    default:
      return usage(`${found.path} is not an eventbus ${what} (${MARKS_OF[what]}); nothing was changed`);
  }
}

/** What each thing is recognised by, as notAStore says when it is missing. */
const MARKS_OF: Record<string, string> = {
  'data directory': 'it has no catalog, streams/ or LOCK',
  snapshot: 'it has no MANIFEST',
  'data directory or snapshot': "it has no catalog, streams/ or LOCK of a data directory, nor a snapshot's MANIFEST",
};

/** A directory a restore did not finish into (store-directory.ts): LOCKED while that restore runs, else a usage error saying to restore again. */
function unfinished(found: StoreDirectory): EventBusError {
  const reason = unfinishedRestoreReason(found);
  return found.restoreHolder !== null ? new EventBusError(ErrorCodes.LOCKED, reason) : usage(reason);
}

/**
 * `serve --data`: a missing directory (created), an empty one (hidden files such as `.gitkeep`
 * and a mount point's `lost+found` do not count) or a store are fine; a file, a snapshot and a
 * directory holding other files are refused (the engine would refuse them too, NOT_A_STORE; here
 * before anything is logged), as is a store held by a running process.
 */
export function checkServeDirectory(dataDir: string): StoreDirectory {
  const found = inspectStoreDirectory(dataDir);
  if (found.kind === 'file') throw usage(`the data directory ${found.path} is a file, not a directory`);
  if (found.kind === 'missing' && found.obstacle !== undefined) {
    throw usage(`the data directory ${found.path} cannot be created: ${found.obstacle} is a file`);
  }
  if (found.kind === 'snapshot') {
    throw usage(found.complete
      ? `${found.path} is a snapshot, not a data directory (serving it would change it); ${restoreHint(found.path)}`
      : `${found.path} is an unfinished snapshot (a crash cut it short), not a data directory`);
  }
  if (found.kind === 'other') {
    throw usage(`the data directory ${found.path} is not empty and is not an eventbus data directory (it has no catalog, streams/ or LOCK); nothing was written. Give an empty or new directory`);
  }
  if (found.restoreInterrupted) throw unfinished(found);
  if (found.kind === 'store' && found.lockHolder !== null) {
    throw new EventBusError(ErrorCodes.LOCKED, `data directory ${found.path} is in use by process ${found.lockHolder}`);
  }
  return found;
}

/**
 * `snapshot --data`: an existing store that no running process holds and that was closed
 * cleanly. A store whose process stopped with it open needs recovery, and recovery changes its
 * files (cuts torn tails, rebuilds indexes): the offline snapshot reads a stopped store and never
 * does that behind the operator's back (SNAPSHOT_FAILED, exit status 1, nothing changed). Nor can
 * it recover a copy instead: sealed segments would be hard-linked, sharing their inodes with the
 * store, and a raw copy without recovery would hold torn tails that no longer look torn. A store
 * that lost its catalog is refused before that, as the server refuses it (CORRUPT_DATA): starting
 * the server once would not help it.
 */
export function requireIdleStore(dataDir: string): StoreDirectory {
  const found = inspectStoreDirectory(dataDir);
  if (found.kind !== 'store' || found.restoreInterrupted) throw notAStore(found, 'data directory');
  if (found.lockHolder !== null) {
    throw new EventBusError(
      ErrorCodes.LOCKED,
      `data directory ${found.path} is in use by process ${found.lockHolder}; a running server takes snapshots with the snapshot_db operation`,
    );
  }
  const lost = lostCatalogError(nodeIO, found.path);
  if (lost !== null) throw lost;
  if (found.crashed && found.interruptedOpen) {
    throw new EventBusError(
      ErrorCodes.SNAPSHOT_FAILED,
      `data directory ${found.path} was closed cleanly, but a server's open of it was interrupted (killed before it took any write); ` +
        `that open's recovery must finish first, and it changes files; nothing was changed. Start the server on it once (eventbus serve --data ${found.path}) and stop it, then snapshot`,
    );
  }
  if (found.crashed) {
    throw new EventBusError(
      ErrorCodes.SNAPSHOT_FAILED,
      `data directory ${found.path} was not closed cleanly (its server stopped with it open) and needs recovery, which changes its files; nothing was changed. ` +
        `Start the server on it once (eventbus serve --data ${found.path}) and stop it, then snapshot; eventbus verify checks it as it is`,
    );
  }
  return found;
}

/**
 * `verify`: a complete snapshot, or a store no running process holds (a live server changes the
 * files while they are read, so what verify saw would not be a consistent view).
 */
export function requireVerifiable(dir: string): StoreDirectory {
  const found = inspectStoreDirectory(dir);
  if (found.kind === 'snapshot' && found.complete) return found;
  if (found.kind !== 'store' || found.restoreInterrupted) throw notAStore(found, 'data directory or snapshot');
  if (found.lockHolder !== null) {
    throw new EventBusError(
      ErrorCodes.LOCKED,
      `data directory ${found.path} is in use by process ${found.lockHolder}; nothing was checked. ` +
        'Verify a stopped store, or take a snapshot with the snapshot_db operation and verify that',
    );
  }
  return found;
}

/** `restore SNAPSHOT`: a complete snapshot. */
export function requireSnapshot(dir: string): StoreDirectory {
  const found = inspectStoreDirectory(dir);
  if (found.kind === 'snapshot' && found.complete) return found;
  if (found.kind === 'store' && !found.restoreInterrupted) {
    throw usage(`${found.path} is a data directory, not a snapshot; take one with: eventbus snapshot --data ${found.path} --output DIR`);
  }
  throw notAStore(found, 'snapshot');
}

/**
 * `restore --data`: absent (created), an empty directory, or one a restore did not finish into
 * (cleared first); anything else is never overwritten. Nor is a directory inside a snapshot: the
 * restored store's files would make the snapshot fail to verify and to restore.
 */
export function requireRestoreTarget(dataDir: string): StoreDirectory {
  const found = inspectStoreDirectory(dataDir);
  const snapshot = found.kind === 'file' ? null : enclosingSnapshot(nodeIO, found.path);
  if (snapshot !== null) {
    throw usage(`${found.path} is inside the snapshot ${snapshot}: restoring there would change the snapshot; restore into a directory outside it`);
  }
  // Inside another store, the restored one is files that store does not know (removed as orphans
  // under its streams/, copied into its snapshots).
  const store = found.kind === 'file' ? null : enclosingStore(nodeIO, path.dirname(found.path));
  if (store !== null) {
    throw usage(`${found.path} is inside the data directory ${store}: restore into a directory outside it`);
  }
  if (found.kind === 'empty' || (found.kind === 'missing' && found.obstacle === undefined)) return found;
  // A restore that did not finish is restored again (restore clears it first); one running is not,
  // nor one beside files a restore does not write: restore never removes anyone's files.
  if (found.restoreInterrupted) {
    if (found.restoreHolder !== null) throw unfinished(found);
    // What restore.ts refuses to remove (SNAPSHOT_FAILED there, for the embedded API), said here
    // first as a usage error (64): the fix is another path or moving the files, not the snapshot.
    const foreign = notRestoredNames(nodeIO, found.path);
    if (foreign.length > 0) {
      throw usage(`${found.path} holds an unfinished restore and also ${foreign.map((name) => JSON.stringify(name)).join(', ')}, which a restore does not write; nothing was changed. Move them away, or restore into a new directory`);
    }
    return found;
  }
  if (found.kind === 'missing') throw usage(`the data directory ${found.path} cannot be created: ${found.obstacle} is a file`);
  if (found.kind === 'file') throw usage(`${found.path} is a file, not a directory; restore never overwrites anything`);
  throw usage(`${found.path} is not an empty directory; restore never overwrites data`);
}
