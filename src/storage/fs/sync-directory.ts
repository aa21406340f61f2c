/**
 * Making a whole data directory durable, as PostgreSQL does before crash recovery.
 */
import path from 'node:path';
import { ioError } from '../../errors.js';
import type { FileIO } from './io.js';
import { isLockFile } from './lock.js';
import type { Logger } from '../logger.js';

/** fsyncs run at once by {@link syncDataDirectory}. */
const SYNC_CONCURRENCY = 16;

/**
 * Makes everything under `dataDir` durable: every file (fdatasync), then every directory (fsync),
 * as PostgreSQL does before crash recovery. After a kill (or OOM kill, or crash) of the process
 * that had the store open, the page cache still holds what it wrote and never fsynced: the tail
 * of a segment sealed by a roll whose fsync round never completed, the new segment's directory
 * entry, a renamed catalog. Recovery would read those, hand them to readers and append after
 * them, and no later fsync covers them (appends sync only the active segment): a power loss
 * would then take back events shown to readers and, with a directory entry, events acknowledged
 * since. Runs only after such a stop; costs one fsync per file.
 */
export async function syncDataDirectory(io: FileIO, dataDir: string, logger: Logger): Promise<void> {
  const started = Date.now();
  const files: string[] = [];
  const directories: string[] = [];
  const walk = (dir: string) => {
    directories.push(dir);
    for (const name of io.readdir(dir)) {
      const full = path.join(dir, name);
      if (io.stat(full)?.isDirectory === true) walk(full);
      // The lock's files come and go as other processes try to open the store (and LOCK is ours, durable).
      else if (dir !== dataDir || !isLockFile(name)) files.push(full);
    }
  };
  try {
    walk(dataDir);
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const fd = io.open(files[next++]!, 'r');
        try {
          await io.datasync(fd);
        } finally {
          io.close(fd);
        }
      }
    };
    await Promise.all(Array.from({ length: SYNC_CONCURRENCY }, worker));
    // Deepest first: a directory's entries before the entry naming it.
    for (const dir of directories.reverse()) await io.syncDir(dir);
  } catch (error) {
    throw ioError(`making the data directory ${dataDir} durable after an unclean stop`, error);
  }
  logger.warn({ dataDir, files: files.length, directories: directories.length, ms: Date.now() - started },
    'the store was not closed cleanly: fsynced every file and directory before recovery');
}

