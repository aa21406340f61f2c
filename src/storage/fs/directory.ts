/** Directory creation with the fsync discipline: a new directory's entry is made durable in its parent. */
import path from 'node:path';
import { ioError } from '../../errors.js';
import type { FileIO } from './io.js';

/** Creates `dir` and any missing parents, fsyncing each parent that gained an entry. */
export function ensureDirectory(io: FileIO, dir: string): void {
  if (io.stat(dir) !== null) return;
  ensureDirectory(io, path.dirname(dir));
  try {
    io.mkdir(dir);
    io.syncDirNow(path.dirname(dir));
  } catch (error) {
    throw ioError(`creating ${dir}`, error);
  }
}
