/**
 * The one door to the file system.
 *
 * Every byte the storage engine reads or writes, and every directory entry it creates, renames
 * or removes, goes through a {@link FileIO}. Production uses {@link nodeIO}; tests substitute a
 * layer that injects errors (ENOSPC, EIO) or remembers what was fsynced and, on a simulated power
 * loss, drops everything that was not (see src/storage/testing/sim-io.ts).
 *
 * Reads and writes are synchronous: they hit the page cache and cost a few microseconds, less
 * than a hop to the libuv thread pool. fsync is asynchronous because it waits for the disk; the
 * group commit (group-commit.ts) overlaps it with the next batch of writes.
 */
import fs from 'node:fs';

/** Open modes the engine uses. */
export type OpenMode =
  /** Read only. */
  | 'r'
  /** Read and write an existing file. */
  | 'r+'
  /** Create a new file for reading and writing; fail if it exists. */
  | 'wx+';

/** What the engine needs to know of a path. */
export interface FileStat {
  size: number;
  isDirectory: boolean;
}

/** The file-system operations of the storage engine. All paths are absolute. */
export interface FileIO {
  open(path: string, mode: OpenMode): number;
  close(fd: number): void;
  /** Writes all of `buffers` at `position`; returns bytes written (short only on error). */
  writev(fd: number, buffers: readonly Buffer[], position: number): number;
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; returns bytes read. */
  read(fd: number, buffer: Buffer, offset: number, length: number, position: number): number;
  /** Current size of an open file. */
  size(fd: number): number;
  truncate(fd: number, length: number): void;
  /** Flushes a file's data (and the metadata needed to read it, such as its size) to disk. */
  datasync(fd: number): Promise<void>;
  /** Flushes a directory, making entries created, renamed or removed in it durable. */
  syncDir(path: string): Promise<void>;
  /** Synchronous {@link datasync}, for the rare paths that must not yield (snapshots, close). */
  datasyncNow(fd: number): void;
  /** Synchronous {@link syncDir}. */
  syncDirNow(path: string): void;
  mkdir(path: string): void;
  readdir(path: string): string[];
  stat(path: string): FileStat | null;
  rename(from: string, to: string): void;
  unlink(path: string): void;
  /** Removes a directory and everything in it. */
  removeTree(path: string): void;
  /** Creates a hard link `to` for the existing file `from`. */
  link(from: string, to: string): void;
}

/** Data files are readable and writable by their owner only. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

const OPEN_FLAGS: Record<OpenMode, number> = {
  r: fs.constants.O_RDONLY,
  'r+': fs.constants.O_RDWR,
  'wx+': fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL,
};

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/** The real file system. */
export const nodeIO: FileIO = {
  open: (path, mode) => fs.openSync(path, OPEN_FLAGS[mode], FILE_MODE),
  close: (fd) => fs.closeSync(fd),
  writev(fd, buffers, position) {
    let written = 0;
    let pending = buffers.filter((b) => b.length > 0);
    while (pending.length > 0) {
      const n = pending.length === 1
        ? fs.writeSync(fd, pending[0]!, 0, pending[0]!.length, position + written)
        : fs.writevSync(fd, pending as Buffer[], position + written);
      if (n <= 0) break;
      written += n;
      // A short write on a regular file means the next call fails (ENOSPC); retry the rest so
      // the error surfaces as an exception rather than a silent short count.
      let skip = n;
      const rest: Buffer[] = [];
      for (const b of pending) {
        if (skip >= b.length) { skip -= b.length; continue; }
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
      pending = rest;
    }
    return written;
  },
  read: (fd, buffer, offset, length, position) => fs.readSync(fd, buffer, offset, length, position),
  size: (fd) => fs.fstatSync(fd).size,
  truncate: (fd, length) => fs.ftruncateSync(fd, length),
  datasync,
  async syncDir(path) {
    const fd = await new Promise<number>((resolve, reject) =>
      fs.open(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, (e, f) => (e ? reject(e) : resolve(f))));
    try {
      await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
    } finally {
      fs.closeSync(fd);
    }
  },
  datasyncNow: (fd) => fs.fdatasyncSync(fd),
  syncDirNow(path) {
    const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  mkdir: (path) => fs.mkdirSync(path, { mode: DIR_MODE }),
  readdir: (path) => fs.readdirSync(path),
  stat(path) {
    const s = fs.statSync(path, { throwIfNoEntry: false });
    return s === undefined ? null : { size: s.size, isDirectory: s.isDirectory() };
  },
  rename: (from, to) => fs.renameSync(from, to),
  unlink: (path) => fs.unlinkSync(path),
  removeTree: (path) => fs.rmSync(path, { recursive: true, force: true }),
  link: (from, to) => fs.linkSync(from, to),
};

/** Reads exactly `length` bytes at `position`, or fewer only at end of file. */
export function readFully(io: FileIO, fd: number, buffer: Buffer, offset: number, length: number, position: number): number {
  let total = 0;
  while (total < length) {
    const n = io.read(fd, buffer, offset + total, length - total, position + total);
    if (n === 0) break;
    total += n;
  }
  return total;
}

/**
 * Writes all of `buffers` at `position`. {@link FileIO.writev} already retries partial writes, so
 * a short count means the disk refused the rest without an error code: this turns it into an
 * error, the one place that checks. Callers wrap errors with what they were writing.
 */
export function writeFully(io: FileIO, fd: number, buffers: readonly Buffer[], position: number): number {
  let want = 0;
  for (const buffer of buffers) want += buffer.length;
  const written = io.writev(fd, buffers, position);
  if (written !== want) throw new Error(`short write (${written} of ${want} bytes)`);
  return written;
}

/** Reads a whole (small) file. */
export function readWholeFile(io: FileIO, path: string): Buffer {
  const fd = io.open(path, 'r');
  try {
    const size = io.size(fd);
    const buffer = Buffer.allocUnsafe(size);
    const n = readFully(io, fd, buffer, 0, size, 0);
    return buffer.subarray(0, n);
  } finally {
    io.close(fd);
  }
}
