/**
 * What kind of directory a path is, read without changing anything: missing, a file, empty, a
 * store (a data directory: it has a catalog or a streams directory), a snapshot (it has a
 * MANIFEST) or something else. Offline tools and stores opened with `create: false` act only on
 * a store; nothing opens a snapshot as a store.
 */
import path from 'node:path';
import { CATALOG } from './catalog.js';
import type { FileIO } from './fs/io.js';
import { STREAMS_DIR } from './stream-lifecycle.js';
import { MANIFEST_FILE } from './tools/manifest.js';

export type DirectoryKind = 'missing' | 'file' | 'empty' | 'store' | 'snapshot' | 'other';

export function directoryKind(io: FileIO, dir: string): DirectoryKind {
  const stat = io.stat(dir);
  if (stat === null) return 'missing';
  if (!stat.isDirectory) return 'file';
  const names = io.readdir(dir);
  if (names.length === 0) return 'empty';
  if (names.includes(MANIFEST_FILE)) return 'snapshot';
  if (names.includes(CATALOG.name) || (names.includes(STREAMS_DIR) && io.stat(path.join(dir, STREAMS_DIR))?.isDirectory === true)) return 'store';
  return 'other';
}
