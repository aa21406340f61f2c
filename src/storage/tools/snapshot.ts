/**
 * Point-in-time snapshots of a live store, the way RocksDB checkpoints work: immutable files are
 * hard-linked, mutable ones copied up to a consistent point.
 *
 * 1. Prepare: queued appends are written, and every active segment whose tail is larger than
 *    {@link COPY_LIMIT_BYTES} is sealed (and fsynced), turning it into an immutable file.
 * 2. Capture, in one synchronous step (nothing else runs meanwhile): for each stream, the visible
 *    offset fixes the point in time. Sealed segments wholly below it are hard-linked at once
 *    (retention cannot remove them first); the segment holding it is copied up to that offset's
 *    record; the consumers' state and the catalog are encoded from memory.
 * 3. The copies are made in chunks, yielding to the event loop, so writes to the live store keep
 *    flowing. Appends only ever go past the captured lengths, so the copied bytes cannot change.
 * 4. Everything is fsynced, then `MANIFEST` (every file with its size and CRC32C) is written last,
 *    and the staging directory `.<name>.partial` is renamed to `<name>`. A crash before the rename
 *    leaves only a hidden `.partial` directory without the final name, which verify rejects and
 *    the next snapshot into the same directory removes.
 *
 * Nothing done to a snapshot can change the live store, nor the reverse: linked files are never
 * written again by either (a sealed segment is immutable; rebuilt indexes replace their file by
 * rename), and restore copies rather than links.
 */
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../../errors.js';
import { encodeCatalog, CATALOG_FILE, type CatalogEntry } from '../catalog.js';
import { encodeCheckedFile } from '../format/checked-file.js';
import { encodeJournalFile, JOURNAL_FILE } from '../consumers/journal-codec.js';
import { crc32c } from '../format/crc.js';
import { ensureDirectory } from '../fs/directory.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import type { FileIO } from '../fs/io.js';
import type { StreamLog } from '../log/stream-log.js';
import type { Logger } from '../logger.js';
import { encodeSealTrailer, indexEntryPosition } from '../format/offset-index.js';

/** Active tails larger than this are sealed rather than copied. */
export const COPY_LIMIT_BYTES = 1024 * 1024;
export const MANIFEST_FILE = 'MANIFEST';
export const MANIFEST_MAGIC = 'EBSM';
export const MANIFEST_VERSION = 1;
const COPY_CHUNK_BYTES = 1024 * 1024;
const PARTIAL_PATTERN = /^\.snapshot-.*\.partial$/;

/** A stream as the snapshot sees it. */
export interface SnapshotStream {
  entry: CatalogEntry;
  log: StreamLog;
  /** The consumers' state as STATE records. */
  consumerState(): Buffer[];
}

/** What a snapshot needs from the engine. */
export interface SnapshotSource {
  io: FileIO;
  logger: Logger;
  /** Writes queued appends and seals tails above the copy limit; resolves once sealed files are durable. */
  prepare(copyLimitBytes: number): Promise<void>;
  /** Every healthy stream, now. */
  streams(): SnapshotStream[];
  nextStreamNumber(): number;
}

/** One file of a snapshot, as its manifest lists it. */
export interface ManifestFile {
  path: string;
  size: number;
  crc32c: number;
}

/** The body of a MANIFEST. */
export interface Manifest {
  name: string;
  created_at: string;
  streams: { id: string; name: string; first_offset: number; next_offset: number }[];
  events: number;
  bytes: number;
  files: ManifestFile[];
}

/** What {@link takeSnapshot} reports. */
export interface SnapshotResult {
  path: string;
  createdAt: string;
  streams: number;
  events: number;
  bytes: number;
  linkedFiles: number;
  copiedFiles: number;
  /** True when hard links were impossible (another file system) and files were copied instead. */
  copyFallback: boolean;
}

interface CopyJob {
  source: string;
  target: string;
  length: number;
  /** Bytes written after the copied ones (the seal trailer of a segment still being sealed). */
  suffix?: Buffer;
  /** For a file that could not be linked: its known CRC, checked after copying. */
  expectedCrc?: number;
}

/** The snapshot directory name for `date`: `snapshot-20261127T081020.382Z`. */
export function snapshotName(date: Date): string {
  return `snapshot-${date.toISOString().replace(/[-:]/g, '')}`;
}

/** Takes a snapshot of `source` into a new directory inside `parentDir`. */
export async function takeSnapshot(source: SnapshotSource, parentDir: string): Promise<SnapshotResult> {
  const { io, logger } = source;
  const started = Date.now();
  let staging: string | null = null;
  try {
    ensureDirectory(io, parentDir);
    for (const name of io.readdir(parentDir)) {
      if (PARTIAL_PATTERN.test(name)) io.removeTree(path.join(parentDir, name)); // cut short earlier
    }
    await source.prepare(COPY_LIMIT_BYTES);

    // Capture: synchronous from here to the first await.
    const createdAt = new Date();
    let name = snapshotName(createdAt);
    for (let n = 2; io.stat(path.join(parentDir, name)) !== null; n++) name = `${snapshotName(createdAt)}-${n}`;
    staging = path.join(parentDir, `.${name}.partial`);
    const files: ManifestFile[] = [];
    const copies: CopyJob[] = [];
    const dirs: string[] = [];
    const writes: { target: string; contents: Buffer[] }[] = [];
    /** Linked files, and whether their seal is already known to be on disk. */
    const linked: { target: string; durable: boolean }[] = [];
    let copyFallback = false;
    const streams = source.streams();
    io.mkdir(staging);
    io.mkdir(path.join(staging, 'streams'));
    dirs.push(path.join(staging, 'streams'), staging);
    const manifestStreams: Manifest['streams'] = [];
    let events = 0;
    for (const stream of streams) {
      const relativeDir = path.join('streams', stream.entry.id);
      const dir = path.join(staging, relativeDir);
      io.mkdir(dir);
      dirs.unshift(dir);
      const visible = stream.log.visibleOffset;
      manifestStreams.push({ id: stream.entry.id, name: stream.entry.name, first_offset: stream.log.firstOffset, next_offset: visible });
      events += visible - stream.log.firstOffset;
      for (const segment of stream.log.allSegments) {
        const logName = path.basename(segment.logPath);
        const indexName = path.basename(segment.indexPath);
        if (segment.seal !== null && segment.nextOffset <= visible) {
          const crcs = segment.currentCrcs();
          for (const [file, size, crc] of [[segment.logPath, segment.size, crcs.logCrc], [segment.indexPath, segment.indexSize, crcs.indexCrc]] as const) {
            const target = path.join(dir, path.basename(file));
            if (linkOrPlanCopy(io, file, target, size, crc, copies)) linked.push({ target, durable: segment.sealDurable });
            else copyFallback = true;
            files.push({ path: path.join(relativeDir, path.basename(file)), size, crc32c: crc });
          }
          continue;
        }
        const pending = segment.pendingSeal;
        if (pending !== null && segment.nextOffset <= visible) {
          // Frozen, its seal not yet written (rolled a moment ago): copy it, sealed in the copy.
          copies.push({ source: segment.logPath, target: path.join(dir, logName), length: segment.size });
          copies.push({ source: segment.indexPath, target: path.join(dir, indexName), length: indexEntryPosition(segment.count), suffix: encodeSealTrailer(pending) });
          continue;
        }
        // The segment holding the point in time: copy it up to the visible offset's record.
        const logLength = visible >= segment.nextOffset ? segment.size : visible <= segment.baseOffset ? FILE_HEADER_BYTES : segment.positionOf(visible);
        const indexLength = indexEntryPosition(Math.max(0, Math.min(visible, segment.nextOffset) - segment.baseOffset));
        copies.push({ source: segment.logPath, target: path.join(dir, logName), length: logLength });
        copies.push({ source: segment.indexPath, target: path.join(dir, indexName), length: indexLength });
        break;
      }
      const consumers = stream.consumerState();
      if (consumers.length > 0) writes.push({ target: path.join(dir, JOURNAL_FILE), contents: encodeJournalFile(consumers) });
    }
    writes.push({ target: path.join(staging, CATALOG_FILE), contents: [encodeCatalog(source.nextStreamNumber(), streams.map((s) => s.entry))] });
    // Open every copy source now: a stream deleted while we copy keeps its inodes alive for us.
    const sources = copies.map((job) => io.open(job.source, 'r'));

    // Copy, write and fsync, yielding between chunks. Every fsync gets its handler at once: a
    // later step may fail before they are awaited, and an unhandled rejection ends the process.
    const syncs: Promise<void>[] = [];
    let syncFailure: unknown = null;
    const syncThenClose = (fd: number) => {
      syncs.push(io.datasync(fd).finally(() => io.close(fd)).catch((error: unknown) => {
        syncFailure ??= error;
      }));
    };
    try {
      for (let i = 0; i < copies.length; i++) {
        const job = copies[i]!;
        const { fd, crc } = await copyPrefix(io, sources[i]!, job.target, job.length, job.suffix);
        if (job.expectedCrc === undefined) {
          files.push({ path: path.relative(staging, job.target), size: job.length + (job.suffix?.length ?? 0), crc32c: crc });
        } else if (crc !== job.expectedCrc) {
          throw new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `snapshot failed: ${job.source} does not match the CRC its seal recorded`);
        }
        syncThenClose(fd);
      }
    } finally {
      for (const fd of sources) io.close(fd);
    }
    for (const { target, contents } of writes) {
      const fd = io.open(target, 'wx+');
      const size = contents.reduce((sum, b) => sum + b.length, 0);
      try {
        if (io.writev(fd, contents, 0) !== size) throw new Error(`short write to ${target}`);
      } catch (error) {
        io.close(fd);
        throw error;
      }
      files.push({ path: path.relative(staging, target), size, crc32c: contents.reduce((crc, b) => crc32c(b, crc), 0) });
      syncThenClose(fd);
    }
    // Linked files are sealed segments; a seal written a moment ago may not be on disk yet.
    for (const { target, durable } of linked) {
      if (durable) continue;
      syncThenClose(io.open(target, 'r'));
    }
    await Promise.all(syncs);
    if (syncFailure !== null) throw syncFailure;
    await Promise.all(dirs.map((dir) => io.syncDir(dir)));

    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    const manifest: Manifest = { name, created_at: createdAt.toISOString(), streams: manifestStreams, events, bytes, files };
    const manifestBytes = encodeCheckedFile(MANIFEST_MAGIC, MANIFEST_VERSION, manifest);
    const fd = io.open(path.join(staging, MANIFEST_FILE), 'wx+');
    try {
      if (io.writev(fd, [manifestBytes], 0) !== manifestBytes.length) throw new Error('short write of the manifest');
      await io.datasync(fd);
    } finally {
      io.close(fd);
    }
    await io.syncDir(staging);
    const final = path.join(parentDir, name);
    io.rename(staging, final);
    staging = null;
    await io.syncDir(parentDir);
    const result: SnapshotResult = {
      path: final,
      createdAt: createdAt.toISOString(),
      streams: streams.length,
      events,
      bytes,
      linkedFiles: linked.length,
      copiedFiles: files.length - linked.length,
      copyFallback,
    };
    logger.info({ ...result, ms: Date.now() - started }, 'snapshot taken');
    return result;
  } catch (error) {
    if (staging !== null) {
      try {
        io.removeTree(staging);
      } catch {
        // The next snapshot into this directory removes it.
      }
    }
    if (error instanceof EventBusError && error.code === ErrorCodes.SNAPSHOT_FAILED) throw error;
    const reason = error instanceof EventBusError ? error.reason : error instanceof Error ? error.message : String(error);
    throw new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `snapshot failed: ${reason}`, { cause: error });
  }
}

/** Hard-links `source` to `target`; where that is impossible, plans a copy. Returns true if linked. */
function linkOrPlanCopy(io: FileIO, source: string, target: string, size: number, crc: number, copies: CopyJob[]): boolean {
  try {
    io.link(source, target);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') throw error;
    copies.push({ source, target, length: size, expectedCrc: crc });
    return false;
  }
}

/**
 * Copies the first `length` bytes of `sourceFd` to a new file, then `suffix` if given; returns
 * the new file's open fd and CRC.
 */
async function copyPrefix(io: FileIO, sourceFd: number, target: string, length: number, suffix?: Buffer): Promise<{ fd: number; crc: number }> {
  const fd = io.open(target, 'wx+');
  const chunk = Buffer.allocUnsafe(Math.min(COPY_CHUNK_BYTES, Math.max(length, 1)));
  let crc = 0;
  try {
    for (let position = 0; position < length;) {
      const n = io.read(sourceFd, chunk, 0, Math.min(chunk.length, length - position), position);
      if (n === 0) throw new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `snapshot failed: ${target} source ended at ${position} of ${length} bytes`);
      const piece = chunk.subarray(0, n);
      if (io.writev(fd, [piece], position) !== n) throw new Error(`short write to ${target}`);
      crc = crc32c(piece, crc);
      position += n;
      if (position < length) await new Promise((resolve) => setImmediate(resolve));
    }
    if (suffix !== undefined) {
      if (io.writev(fd, [suffix], length) !== suffix.length) throw new Error(`short write to ${target}`);
      crc = crc32c(suffix, crc);
    }
  } catch (error) {
    io.close(fd);
    throw error;
  }
  return { fd, crc };
}
