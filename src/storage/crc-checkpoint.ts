/**
 * `crc-checkpoint`: the running CRC32Cs of every active segment, written at a clean close and
 * read at the next open, so that sealing or snapshotting an active segment after a restart does
 * not have to read it whole to learn its checksum. A checked file (format/checked-file.ts;
 * magic "EBCK", version 1) whose JSON body maps stream ids to
 * `{"base","log_bytes","log_crc","index_bytes","index_crc"}`.
 *
 * Its checksums are an optimisation: used only after a clean close, only where the segment still
 * has exactly the recorded sizes, and otherwise ignored (the CRCs are then computed when needed).
 * Its presence is more: it says that the last stop was clean and that no write has been accepted
 * since. The next open removes it (durably) only once its recovery's repairs are durable and
 * before it accepts a write, so an open killed before that finds a LOCK and this file, and is
 * recovered as after a clean stop (engine.ts, docs/storage-format.md "Recovery (on open)").
 */
import path from 'node:path';
import { replaceFileNow } from './fs/atomic-file.js';
import { decodeChecked, encodeChecked, type CheckedFileKind } from './format/checked-file.js';
import { readWholeFile, type FileIO } from './fs/io.js';

export const CRC_CHECKPOINT: CheckedFileKind = { name: 'crc-checkpoint', magic: 'EBCK', version: 1 };

/** The running checksums of an active segment at a moment. */
export interface SegmentCrcs {
  base: number;
  logBytes: number;
  logCrc: number;
  indexBytes: number;
  indexCrc: number;
}

interface Body {
  streams: Record<string, { base: number; log_bytes: number; log_crc: number; index_bytes: number; index_crc: number }>;
}

/** Writes the checkpoint for `streams` (stream id → checksums) crash-safely. */
export function writeCrcCheckpoint(io: FileIO, dataDir: string, streams: Map<string, SegmentCrcs>): void {
  const body: Body = { streams: {} };
  for (const [id, c] of streams) body.streams[id] = { base: c.base, log_bytes: c.logBytes, log_crc: c.logCrc, index_bytes: c.indexBytes, index_crc: c.indexCrc };
  replaceFileNow(io, path.join(dataDir, CRC_CHECKPOINT.name), [encodeChecked(CRC_CHECKPOINT, body)]);
}

/** What {@link readCrcCheckpoint} found. */
export interface CrcCheckpoint {
  /** True when the file exists (whole or not): the last stop was clean and no write was accepted since. */
  present: boolean;
  /** Stream id → checksums; empty when the file is absent or does not check (they are only an optimisation). */
  streams: Map<string, SegmentCrcs>;
}

/** Reads the checkpoint without changing anything (the open removes it later: {@link removeCrcCheckpoint}). */
export function readCrcCheckpoint(io: FileIO, dataDir: string): CrcCheckpoint {
  const file = path.join(dataDir, CRC_CHECKPOINT.name);
  const out = new Map<string, SegmentCrcs>();
  if (io.stat(file) === null) return { present: false, streams: out };
  const found = { present: true, streams: out };
  const decoded = decodeChecked(readWholeFile(io, file), CRC_CHECKPOINT);
  if (typeof decoded === 'string') return found;
  const streams = (decoded.body as Body).streams;
  if (typeof streams !== 'object' || streams === null) return found;
  for (const [id, c] of Object.entries(streams)) {
    if ([c.base, c.log_bytes, c.log_crc, c.index_bytes, c.index_crc].every((n) => Number.isSafeInteger(n) && n >= 0)) {
      out.set(id, { base: c.base, logBytes: c.log_bytes, logCrc: c.log_crc, indexBytes: c.index_bytes, indexCrc: c.index_crc });
    }
  }
  return found;
}

/**
 * Removes the checkpoint, durably (its directory fsynced): from now on the store may take writes,
 * and a crash must be recovered as one. No-op when there is none.
 */
export function removeCrcCheckpoint(io: FileIO, dataDir: string): void {
  const file = path.join(dataDir, CRC_CHECKPOINT.name);
  if (io.stat(file) === null) return;
  io.unlink(file);
  io.syncDirNow(dataDir);
}
