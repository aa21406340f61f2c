/**
 * A {@link FileIO} whose fsyncs do not touch the disk: reads, writes and directory changes go to
 * the layer underneath, and every sync completes in the next event-loop turn (setImmediate).
 *
 * Under a {@link SimIO} (sim-io.ts), which models durability itself, a real fsync only costs
 * time, and its varying duration changes which appends share a group-commit round, and with it
 * the order of operations. With this layer underneath, a deterministic workload performs the same
 * operations in the same order on every run, so a crash at operation N means the same moment
 * every time (crash-checker.ts relies on it). Never use it for data you want to keep.
 */
import { checkFileIO } from '../api-arguments.js';
import { nodeIO, type FileIO } from '../fs/io.js';

/**
 * `inner` with fsyncs that complete in the next turn without reaching the disk. A factory: pass
 * `syncFreeIO()` (or `syncFreeIO(inner)`) as a layer, not the function itself.
 */
export function syncFreeIO(inner: FileIO = nodeIO): FileIO {
  checkFileIO(inner, 'inner');
  const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    open: (file, mode) => inner.open(file, mode),
    close: (fd) => inner.close(fd),
    writev: (fd, buffers, position) => inner.writev(fd, buffers, position),
    read: (fd, buffer, offset, length, position) => inner.read(fd, buffer, offset, length, position),
    size: (fd) => inner.size(fd),
    truncate: (fd, length) => inner.truncate(fd, length),
    datasync: nextTurn,
    syncDir: nextTurn,
    datasyncNow: () => {},
    syncDirNow: () => {},
    mkdir: (dir) => inner.mkdir(dir),
    readdir: (dir) => inner.readdir(dir),
    stat: (file) => inner.stat(file),
    rename: (from, to) => inner.rename(from, to),
    unlink: (file) => inner.unlink(file),
    removeTree: (dir) => inner.removeTree(dir),
    link: (from, to) => inner.link(from, to),
  };
}
