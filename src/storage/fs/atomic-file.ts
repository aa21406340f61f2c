/**
 * Crash-safe replacement of a small file (the catalog, a consumer checkpoint): write a temporary
 * file, fsync it, rename it over the old one, fsync the directory. After a crash the file is
 * either wholly old or wholly new, never a mix; ALICE (OSDI 2014) lists every step skipped here
 * as a real bug in real systems.
 */
import path from 'node:path';
import { ioError } from '../../errors.js';
import { writeFully, type FileIO } from './io.js';

/** Suffix of the temporary files; a leftover one (crash mid-write) is deleted on open. */
export const TEMPORARY_SUFFIX = '.tmp';

/** Writes `contents` to a fresh temporary file beside `file`; returns its open descriptor. */
function writeTemporary(io: FileIO, temporary: string, contents: readonly Buffer[]): number {
  if (io.stat(temporary) !== null) io.unlink(temporary);
  const fd = io.open(temporary, 'wx+');
  try {
    writeFully(io, fd, contents, 0);
  } catch (error) {
    io.close(fd);
    throw error;
  }
  return fd;
}

/** Replaces `file` with `contents` crash-safely. Resolves once the new contents are durable. */
export async function replaceFile(io: FileIO, file: string, contents: readonly Buffer[]): Promise<void> {
  const temporary = file + TEMPORARY_SUFFIX;
  try {
    const fd = writeTemporary(io, temporary, contents);
    try {
      await io.datasync(fd);
    } finally {
      io.close(fd);
    }
    io.rename(temporary, file);
    await io.syncDir(path.dirname(file));
  } catch (error) {
    throw ioError(`replacing ${file}`, error);
  }
}

/** Synchronous {@link replaceFile}, for offline tools and snapshots. */
export function replaceFileNow(io: FileIO, file: string, contents: readonly Buffer[]): void {
  const temporary = file + TEMPORARY_SUFFIX;
  try {
    const fd = writeTemporary(io, temporary, contents);
    try {
      io.datasyncNow(fd);
    } finally {
      io.close(fd);
    }
    io.rename(temporary, file);
    io.syncDirNow(path.dirname(file));
  } catch (error) {
    throw ioError(`replacing ${file}`, error);
  }
}
