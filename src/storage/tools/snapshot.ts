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
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../../errors.js';
import { CATALOG, type CatalogEntry } from '../catalog.js';
import { encodeJournalFile, JOURNAL_FILE } from '../consumers/journal-codec.js';
import { crc32c } from '../format/crc.js';
import { ensureDirectory } from '../fs/directory.js';
import { writeFully, type FileIO } from '../fs/io.js';
import type { FileCapture } from '../log/segment.js';
import type { Logger } from '../logger.js';
import { STREAMS_DIR } from '../stream-lifecycle.js';
import { encodeManifest, MANIFEST_FILE, readManifest, type Manifest, type ManifestFile } from './manifest.js';

/** Active tails larger than this are sealed rather than copied. */
export const COPY_LIMIT_BYTES = 1024 * 1024;
const COPY_CHUNK_BYTES = 1024 * 1024;
/** The staging directory of a snapshot being written (or cut short by a crash). */
export const PARTIAL_PATTERN = /^\.snapshot-.*\.partial$/;

/** A stream at the snapshot's point in time, as the engine captures it (synchronously). */
export interface CapturedStream {
  entry: CatalogEntry;
  firstOffset: number;
  /** The first offset the snapshot leaves out (the stream's visible offset at capture). */
  nextOffset: number;
  /** How to take the log's files (StreamLog.captureFiles). */
  files: FileCapture[];
  /** The consumers' state as STATE records (journal-codec.ts). */
  consumerState: Buffer[];
}

/** What a snapshot needs from the engine. */
export interface SnapshotSource {
  io: FileIO;
  logger: Logger;
  /** The store's data directory, absolute: a snapshot is never written inside it. */
  dataDir: string;
  /** Writes queued appends and seals tails above the copy limit; resolves once sealed files are durable. */
  prepare(copyLimitBytes: number): Promise<void>;
  /** Every healthy stream, captured now, in one synchronous step. */
  capture(): CapturedStream[];
  /** Streams that could not be opened (so cannot be captured), with why. */
  leftOut(): LeftOutStream[];
  /** The catalog of a store holding the streams `entries` (with the store's id and next stream number). */
  encodeCatalog(entries: CatalogEntry[]): Buffer;
}

/** A stream a snapshot does not hold: it could not be opened (its files are damaged or missing). */
export interface LeftOutStream {
  stream: string;
  code: string;
  reason: string;
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
  /** Streams of the store the snapshot does not hold, because they could not be opened (empty: none). */
  leftOut: LeftOutStream[];
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

/** What the capture decided: files linked already, and what is left to copy and write. */
interface SnapshotPlan {
  staging: string;
  files: ManifestFile[];
  copies: CopyJob[];
  writes: { target: string; contents: Buffer[] }[];
  /** Linked files, and whether their seal is already known to be on disk. */
  linked: { target: string; durable: boolean }[];
  /** Directories to fsync, deepest first. */
  dirs: string[];
  streams: Manifest['streams'];
  events: number;
  copyFallback: boolean;
}

/** The snapshot directory name for `date`: `snapshot-20261127T081020.382Z`. */
export function snapshotName(date: Date): string {
  return `snapshot-${date.toISOString().replace(/[-:]/g, '')}`;
}

/**
 * Takes a snapshot of `source` into a new directory inside `parentDir`, sealing active tails over
 * `copyLimitBytes` first (Infinity: none; every tail is copied). Throws INVALID_PATH, before
 * anything is written, when `parentDir` is inside the data directory; SNAPSHOT_FAILED.
 */
export async function takeSnapshot(source: SnapshotSource, parentDir: string, copyLimitBytes = COPY_LIMIT_BYTES): Promise<SnapshotResult> {
  const { io, logger } = source;
  const started = Date.now();
  refuseInsideDataDirectory(source.dataDir, parentDir);
  refuseUnusableOutput(io, parentDir);
  let staging: string | null = null;
  try {
    ensureDirectory(io, parentDir);
    for (const name of io.readdir(parentDir)) {
      if (PARTIAL_PATTERN.test(name)) io.removeTree(path.join(parentDir, name)); // cut short earlier
    }
    await source.prepare(copyLimitBytes);
    // Capture: synchronous from here to the first await.
    const createdAt = new Date();
    let name = snapshotName(createdAt);
    for (let n = 2; io.stat(path.join(parentDir, name)) !== null; n++) name = `${snapshotName(createdAt)}-${n}`;
    staging = path.join(parentDir, `.${name}.partial`);
    const plan = capture(io, source, staging);
    const leftOut = source.leftOut();
    await copyAndWrite(io, plan);
    const bytes = plan.files.reduce((sum, f) => sum + f.size, 0);
    const manifest: Manifest = { name, created_at: createdAt.toISOString(), streams: plan.streams, events: plan.events, bytes, files: plan.files };
    await writeManifest(io, staging, manifest);
    const final = path.join(parentDir, name);
    io.rename(staging, final);
    staging = null;
    await io.syncDir(parentDir);
    const result: SnapshotResult = {
      path: final,
      createdAt: manifest.created_at,
      streams: plan.streams.length,
      events: plan.events,
      bytes,
      linkedFiles: plan.linked.length,
      copiedFiles: plan.files.length - plan.linked.length,
      copyFallback: plan.copyFallback,
      leftOut,
    };
    logger.info({ ...result, ms: Date.now() - started }, 'snapshot taken');
    if (leftOut.length > 0) logger.warn({ path: final, leftOut }, 'the snapshot leaves out streams that could not be opened: restoring it loses them');
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

/**
 * Refuses (INVALID_PATH) a snapshot directory inside the data directory, or the data directory
 * itself: the store owns every name in it, and would remove or change the snapshot (a directory
 * under `streams/` that the catalog does not list is removed at the next open). Symbolic links
 * are followed as far as the paths exist, so a link into the store is refused too.
 */
export function refuseInsideDataDirectory(dataDir: string, parentDir: string): void {
  const data = path.resolve(dataDir);
  const parent = path.resolve(parentDir);
  if (!inside(data, parent) && !inside(realExisting(data), realExisting(parent))) return;
  throw new EventBusError(
    ErrorCodes.INVALID_PATH,
    `snapshot output ${parent} is inside the data directory ${data}: the store would remove or change a snapshot there; put snapshots outside it`,
    { context: { path: parent, data_dir: data } },
  );
}

/**
 * Refuses (INVALID_PATH), before anything is written, a snapshot directory that cannot hold one:
 * a file or a path under a file, and a path inside a snapshot (a snapshot holds only the files
 * its MANIFEST lists: another one inside it would make it fail to verify and to restore).
 */
export function refuseUnusableOutput(io: FileIO, parentDir: string): void {
  const parent = path.resolve(parentDir);
  const refuse = (why: string) => new EventBusError(ErrorCodes.INVALID_PATH, `snapshot output ${parent} ${why}`, { context: { path: parent } });
  const obstacle = fileInTheWay(io, parent);
  if (obstacle === parent) throw refuse('is a file, not a directory');
  if (obstacle !== null) throw refuse(`cannot be created: ${obstacle} is a file`);
  const snapshot = enclosingSnapshot(io, parent);
  if (snapshot !== null) throw refuse(`is inside the snapshot ${snapshot}: a snapshot holds only the files its MANIFEST lists, and would no longer verify or restore; put snapshots outside it`);
  const store = enclosingStore(io, parent);
  if (store !== null) throw refuse(`is inside the data directory ${store}: a data directory holds only what its store writes (its open removes what it does not know under streams/); put snapshots outside it`);
}

/** The deepest existing part of `absolute` when it is not a directory (a file), else null. */
export function fileInTheWay(io: FileIO, absolute: string): string | null {
  for (let dir = absolute; ; dir = path.dirname(dir)) {
    const stat = statOrNull(io, dir);
    if (stat !== null) return stat.isDirectory ? null : dir;
    if (dir === path.dirname(dir)) return null;
  }
}

/** `io.stat`, with a path under a file (ENOTDIR) as absent. */
function statOrNull(io: FileIO, file: string): ReturnType<FileIO['stat']> {
  try {
    return io.stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw error;
  }
}

/**
 * The snapshot that `absolute` is (or is inside), or null: the nearest of it and its existing
 * ancestors holding a MANIFEST that reads as a snapshot's, or a snapshot's hidden staging
 * directory; symbolic links followed as far as the path exists.
 */
export function enclosingSnapshot(io: FileIO, absolute: string): string | null {
  for (const candidate of new Set([absolute, realExisting(absolute)])) {
    for (let dir = candidate; ; dir = path.dirname(dir)) {
      if (PARTIAL_PATTERN.test(path.basename(dir))) return dir;
      if (statOrNull(io, path.join(dir, MANIFEST_FILE)) !== null && typeof readManifest(io, dir) !== 'string') return dir;
      if (dir === path.dirname(dir)) break;
    }
  }
  return null;
}

/**
 * The data directory that `absolute` is (or is inside), or null: the nearest of it and its
 * existing ancestors holding a `catalog` file and a `streams/` directory (both: a folder merely
 * called `streams` is not a store); symbolic links followed as far as the path exists.
 */
export function enclosingStore(io: FileIO, absolute: string): string | null {
  for (const candidate of new Set([absolute, realExisting(absolute)])) {
    for (let dir = candidate; ; dir = path.dirname(dir)) {
      const catalog = statOrNull(io, path.join(dir, CATALOG.name));
      if (catalog !== null && !catalog.isDirectory && statOrNull(io, path.join(dir, STREAMS_DIR))?.isDirectory === true) return dir;
      if (dir === path.dirname(dir)) break;
    }
  }
  return null;
}

/** True when `candidate` is `parent` or below it (both absolute). */
function inside(parent: string, candidate: string): boolean {
  const relative = path.relative(parent, candidate);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/**
 * `absolute` with its deepest existing ancestor's symbolic links resolved (the part that does not
 * exist yet appended as given); `absolute` itself when nothing of it can be resolved.
 */
export function realExisting(absolute: string): string {
  for (let existing = absolute; ; existing = path.dirname(existing)) {
    try {
      return path.join(realpathSync(existing), path.relative(existing, absolute));
    } catch {
      if (existing === path.dirname(existing)) return absolute;
    }
  }
}

/**
 * The point in time, in one synchronous step (nothing else runs meanwhile): creates the staging
 * directories, hard-links sealed files (retention cannot remove them first) and plans the copies
 * and writes of everything else.
 */
function capture(io: FileIO, source: SnapshotSource, staging: string): SnapshotPlan {
  const streams = source.capture();
  const plan: SnapshotPlan = { staging, files: [], copies: [], writes: [], linked: [], dirs: [], streams: [], events: 0, copyFallback: false };
  io.mkdir(staging);
  io.mkdir(path.join(staging, 'streams'));
  plan.dirs.push(path.join(staging, 'streams'), staging);
  for (const stream of streams) {
    const relativeDir = path.join('streams', stream.entry.id);
    const dir = path.join(staging, relativeDir);
    io.mkdir(dir);
    plan.dirs.unshift(dir);
    plan.streams.push({ id: stream.entry.id, name: stream.entry.name, first_offset: stream.firstOffset, next_offset: stream.nextOffset });
    plan.events += stream.nextOffset - stream.firstOffset;
    for (const file of stream.files) {
      const target = path.join(dir, path.basename(file.path));
      if (file.kind === 'copy') {
        plan.copies.push({ source: file.path, target, length: file.length, ...(file.suffix === undefined ? {} : { suffix: file.suffix }) });
        continue;
      }
      if (linkOrPlanCopy(io, file.path, target, file.size, file.crc, plan.copies)) plan.linked.push({ target, durable: file.durable });
      else plan.copyFallback = true;
      plan.files.push({ path: path.join(relativeDir, path.basename(file.path)), size: file.size, crc32c: file.crc });
    }
    if (stream.consumerState.length > 0) plan.writes.push({ target: path.join(dir, JOURNAL_FILE), contents: encodeJournalFile(stream.consumerState) });
  }
  plan.writes.push({ target: path.join(staging, CATALOG.name), contents: [source.encodeCatalog(streams.map((s) => s.entry))] });
  return plan;
}

/**
 * Copies and writes the planned files, yielding between chunks so that writes to the live store
 * keep flowing (appends only ever go past the captured lengths, so the copied bytes cannot
 * change), and makes everything durable.
 */
async function copyAndWrite(io: FileIO, plan: SnapshotPlan): Promise<void> {
  // Open every copy source now: a stream deleted while we copy keeps its inodes alive for us.
  const sources = plan.copies.map((job) => io.open(job.source, 'r'));
  // Every fsync gets its handler at once: a later step may fail before they are awaited, and an
  // unhandled rejection ends the process.
  const syncs: Promise<void>[] = [];
  let syncFailure: unknown = null;
  const syncThenClose = (fd: number) => {
    syncs.push(io.datasync(fd).finally(() => io.close(fd)).catch((error: unknown) => {
      syncFailure ??= error;
    }));
  };
  try {
    for (let i = 0; i < plan.copies.length; i++) {
      const job = plan.copies[i]!;
      const { fd, crc } = await copyPrefix(io, sources[i]!, job.target, job.length, job.suffix);
      if (job.expectedCrc === undefined) {
        plan.files.push({ path: path.relative(plan.staging, job.target), size: job.length + (job.suffix?.length ?? 0), crc32c: crc });
      } else if (crc !== job.expectedCrc) {
        throw new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `snapshot failed: ${job.source} does not match the CRC its seal recorded`);
      }
      syncThenClose(fd);
    }
  } finally {
    for (const fd of sources) io.close(fd);
  }
  for (const { target, contents } of plan.writes) {
    const fd = io.open(target, 'wx+');
    let size: number;
    try {
      size = writeFully(io, fd, contents, 0);
    } catch (error) {
      io.close(fd);
      throw error;
    }
    plan.files.push({ path: path.relative(plan.staging, target), size, crc32c: contents.reduce((crc, b) => crc32c(b, crc), 0) });
    syncThenClose(fd);
  }
  // Linked files are sealed segments; a seal written a moment ago may not be on disk yet.
  for (const { target, durable } of plan.linked) {
    if (!durable) syncThenClose(io.open(target, 'r'));
  }
  await Promise.all(syncs);
  if (syncFailure !== null) throw syncFailure;
  await Promise.all(plan.dirs.map((dir) => io.syncDir(dir)));
}

/** Writes `MANIFEST` last, and makes it and its directory durable. */
async function writeManifest(io: FileIO, staging: string, manifest: Manifest): Promise<void> {
  const fd = io.open(path.join(staging, MANIFEST_FILE), 'wx+');
  try {
    writeFully(io, fd, [encodeManifest(manifest)], 0);
    await io.datasync(fd);
  } finally {
    io.close(fd);
  }
  await io.syncDir(staging);
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
      writeFully(io, fd, [piece], position);
      crc = crc32c(piece, crc);
      position += n;
      if (position < length) await new Promise((resolve) => setImmediate(resolve));
    }
    if (suffix !== undefined) {
      writeFully(io, fd, [suffix], length);
      crc = crc32c(suffix, crc);
    }
  } catch (error) {
    io.close(fd);
    throw error;
  }
  return { fd, crc };
}
