/**
 * A file layer over which a stopped store can be opened without being changed: the offline
 * `eventbus snapshot` opens it through this, so it reads the store as the server would and yet
 * never repairs, seals, rebuilds or removes anything in it (docs/operations.md, "Snapshots").
 *
 * Every read passes; every change inside the data directory is refused (an EROFS error, so the
 * engine fails where it would have changed something) and recorded, so the caller knows the store
 * needs repair on open and can refuse it, nothing changed. Two files are exceptions:
 * - `LOCK` and the lock's helper files (`.LOCK.new.<pid>`, `.LOCK.swap.<pid>`, `.LOCK.claim.*`,
 *   and an older version's `LOCK.stale.<pid>`: fs/lock.ts): taken while the store is open, as by
 *   any process that opens it, and removed at the end;
 * - `crc-checkpoint`: its removal at open is skipped and its rewrite at close refused without
 *   being recorded (the engine logs it and goes on). Nothing else changes, so the checkpoint still
 *   describes the store exactly; and should this process be killed, its LOCK is left beside the
 *   checkpoint, which the next open rightly takes for an open of a cleanly stopped store that was
 *   interrupted before it took any write.
 * Changes outside the data directory (the snapshot being written) pass.
 */
import path from 'node:path';
import { CRC_CHECKPOINT } from '../crc-checkpoint.js';
import { TEMPORARY_SUFFIX } from '../fs/atomic-file.js';
import type { FileIO } from '../fs/io.js';
import { isLockFile } from '../fs/lock.js';
import { REBUILD_SUFFIX } from '../log/segment-files.js';

/** A change the store would have undergone: what, and to which file (relative to the data directory). */
export interface RefusedChange {
  operation: string;
  file: string;
}

/** What {@link readOnlyStore} gives: the file layer, and the changes it refused so far. */
export interface ReadOnlyStore {
  io: FileIO;
  /** Refused changes, oldest first (empty: the store was not asked to change). */
  refused: RefusedChange[];
}

/** Wraps `io` so that nothing in the data directory `dataDir` (absolute) changes but its LOCK. */
export function readOnlyStore(io: FileIO, dataDir: string): ReadOnlyStore {
  const root = path.resolve(dataDir);
  const refused: RefusedChange[] = [];
  const checkpoint = path.join(root, CRC_CHECKPOINT.name);
  /** Descriptors opened for writing inside the store: a write through one is a change. */
  const storeFds = new Map<number, string>();
  const insideStore = (file: string) => {
    const relative = path.relative(root, path.resolve(file));
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  };
  const isLock = (file: string) => path.dirname(path.resolve(file)) === root && isLockFile(path.basename(file));
  const refuse = (operation: string, file: string, record = true): never => {
    // A file written beside its final name and renamed over it (atomic-file.ts, a rebuilt index) is a rewrite of that file.
    const suffix = [TEMPORARY_SUFFIX, REBUILD_SUFFIX].find((end) => operation === 'create' && file.endsWith(end));
    const named = suffix === undefined ? { operation, file } : { operation: 'rewrite', file: file.slice(0, -suffix.length) };
    if (record) refused.push({ operation: named.operation, file: path.relative(root, path.resolve(named.file)) || '.' });
    throw Object.assign(new Error(`EROFS: the offline snapshot does not change the store it reads (${operation} ${file})`), { code: 'EROFS' });
  };
  /** Refuses a change to `file` unless it is the LOCK or outside the store. */
  const guard = (operation: string, file: string) => {
    if (!insideStore(file) || isLock(file)) return;
    if (path.resolve(file) === checkpoint + TEMPORARY_SUFFIX) refuse(operation, file, false);
    refuse(operation, file);
  };
  return {
    refused,
    io: {
      read: (fd, buffer, offset, length, position) => io.read(fd, buffer, offset, length, position),
      size: (fd) => io.size(fd),
      datasync: (fd) => io.datasync(fd),
      syncDir: (dir) => io.syncDir(dir),
      datasyncNow: (fd) => io.datasyncNow(fd),
      syncDirNow: (dir) => io.syncDirNow(dir),
      readdir: (dir) => io.readdir(dir),
      stat: (file) => io.stat(file),
      open(file, mode) {
        if (mode === 'wx+') guard('create', file);
        const fd = io.open(file, mode);
        if (mode !== 'r' && insideStore(file) && !isLock(file)) storeFds.set(fd, file);
        return fd;
      },
      close(fd) {
        storeFds.delete(fd);
        io.close(fd);
      },
      writev(fd, buffers, position) {
        const file = storeFds.get(fd);
        if (file !== undefined) refuse('write', file);
        return io.writev(fd, buffers, position);
      },
      truncate(fd, length) {
        const file = storeFds.get(fd);
        if (file !== undefined) refuse('truncate', file);
        io.truncate(fd, length);
      },
      mkdir(dir) {
        guard('create', dir);
        io.mkdir(dir);
      },
      rename(from, to) {
        guard('rename', from);
        guard('replace', to);
        io.rename(from, to);
      },
      unlink(file) {
        if (path.resolve(file) === checkpoint) return; // kept as it is: see the module comment
        guard('remove', file);
        io.unlink(file);
      },
      removeTree(dir) {
        guard('remove', dir);
        io.removeTree(dir);
      },
      link(from, to) {
        guard('create', to);
        io.link(from, to);
      },
    },
  };
}
