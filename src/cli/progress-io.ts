/**
 * Progress for the offline commands that read a whole store (verify, restore): the storage
 * engine's file layer with every byte read and written counted into a progress bar. The total
 * is the size of the files under the directory (times the passes the command makes over them),
 * so the bar moves with the real work without the storage layer knowing of it. Only built when
 * stderr is a terminal (progress-bar.ts); elsewhere the plain file layer is used as it is.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { nodeIO, type FileIO } from '../storage/index.js';
import { progressBar, type ProgressBar } from './progress-bar.js';

/** Bytes in the regular files under `dir` (not following links). */
function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += treeBytes(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

/**
 * Runs `work` with a file layer that reports its progress on a bar: `passes` is how many times
 * the work reads or writes each byte of `dir` (verify 1; restore 3: verify, read, write).
 */
export function withProgressIO<T>(label: string, dir: string, passes: number, work: (io: FileIO) => T): T {
  if (process.stderr.isTTY !== true) return work(nodeIO);
  let total = 0;
  try {
    total = treeBytes(dir) * passes;
  } catch {
    return work(nodeIO); // the command itself says what is wrong with the directory
  }
  const bar: ProgressBar = progressBar(label, 'bytes', Math.max(1, total));
  let done = 0;
  const count = (bytes: number) => {
    done += bytes;
    bar.update(Math.min(done, total));
  };
  const io: FileIO = {
    ...nodeIO,
    read(fd, buffer, offset, length, position) {
      const n = nodeIO.read(fd, buffer, offset, length, position);
      count(n);
      return n;
    },
    writev(fd, buffers, position) {
      const n = nodeIO.writev(fd, buffers, position);
      count(n);
      return n;
    },
  };
  try {
    return work(io);
  } finally {
    bar.stop();
  }
}
