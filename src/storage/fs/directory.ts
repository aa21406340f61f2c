/** Directory creation with the fsync discipline: a new directory's entry is made durable in its parent. */
import path from 'node:path';
import { ioError } from '../../errors.js';
import type { FileIO } from './io.js';

/**
 * Creates `dir` and any missing parents, fsyncing each parent that gained an entry. A directory
 * another process creates meanwhile (two opening a new store at once) is taken as made here, its
 * parent fsynced all the same: this process goes on to use it before the other may have.
 */
export function ensureDirectory(io: FileIO, dir: string): void {
  if (io.stat(dir) !== null) return;
  ensureDirectory(io, path.dirname(dir));
  try {
    try {
      io.mkdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || io.stat(dir)?.isDirectory !== true) throw error;
    }
    io.syncDirNow(path.dirname(dir));
  } catch (error) {
    throw ioError(`creating ${dir}`, error);
  }
}
