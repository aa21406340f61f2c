/**
 * Restoring a snapshot into a new data directory (`eventbus restore`). The snapshot is verified
 * first; every file is copied (never linked, so the restored store can never change the
 * snapshot), fsynced, and the directories fsynced. The result opens as a normal store whose
 * streams, events, ids and consumer positions equal the snapshot's.
 *
 * The copy is another store: it gets a store id of its own (catalog.ts), so the events it writes
 * from then on get ids that the original (still running, maybe, on another host) never gives,
 * while the events it was restored with keep theirs.
 */
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../../errors.js';
import { renewStoreId } from '../catalog.js';
import { ensureDirectory } from '../fs/directory.js';
import { writeFully, type FileIO } from '../fs/io.js';
import { inspectStoreDirectory } from '../store-directory.js';
import { MANIFEST_FILE, readManifest } from './manifest.js';
import { verifyDirectory } from './verify.js';

const COPY_CHUNK_BYTES = 1024 * 1024;

/** What a restore copied. */
export interface RestoreResult {
  dataDir: string;
  streams: number;
  events: number;
  files: number;
  bytes: number;
}

/**
 * Restores the snapshot at `snapshotDir` into `dataDir`, which must be absent or empty (hidden
 * files such as `.gitkeep` and `lost+found` allowed, as where a store is created).
 */
export function restoreSnapshot(io: FileIO, snapshotDir: string, dataDir: string): RestoreResult {
  const source = path.resolve(snapshotDir);
  const target = path.resolve(dataDir);
  const fail = (reason: string) => new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `restore failed: ${reason}`);
  const report = verifyDirectory(io, source);
  if (report.kind !== 'snapshot') throw fail(`${source} is not a snapshot (no ${MANIFEST_FILE})`);
  if (!report.ok) {
    const first = report.problems[0]!;
    // What to do (docs/operations.md, "Recovery"): this snapshot holds damage; an older one may not.
    const problems = report.problems.length === 1 ? '1 problem' : `${report.problems.length} problems`;
    throw fail(
      `snapshot does not verify (${problems}; first: ${first.file}: ${first.message}); nothing was written. ` +
        `Run \`eventbus verify ${source}\` to see every problem, and restore an older snapshot that verifies`,
    );
  }
  // Empty as a new store may be created in it: hidden files (.gitkeep) and lost+found allowed.
  const kind = inspectStoreDirectory(target, io).kind;
  if (kind !== 'missing' && kind !== 'empty') {
    throw fail(`${target} is not an empty directory; restore never overwrites data`);
  }
  const manifest = readManifest(io, source);
  if (typeof manifest === 'string') throw fail(`manifest ${manifest}`);
  ensureDirectory(io, target);
  const dirs = new Set<string>([target]);
  const chunk = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
  for (const file of manifest.files) {
    const to = path.join(target, file.path);
    ensureDirectory(io, path.dirname(to));
    dirs.add(path.dirname(to));
    const from = io.open(path.join(source, file.path), 'r');
    const out = io.open(to, 'wx+');
    try {
      for (let position = 0; position < file.size;) {
        const n = io.read(from, chunk, 0, Math.min(chunk.length, file.size - position), position);
        if (n === 0) throw fail(`${file.path} ended early`);
        writeFully(io, out, [chunk.subarray(0, n)], position);
        position += n;
      }
      io.datasyncNow(out);
    } finally {
      io.close(from);
      io.close(out);
    }
  }
  for (const dir of dirs) io.syncDirNow(dir);
  renewStoreId(io, target);
  return { dataDir: target, streams: manifest.streams.length, events: manifest.events, files: manifest.files.length, bytes: manifest.bytes };
}
