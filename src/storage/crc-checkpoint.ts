/**
 * `crc-checkpoint`: the running CRC32Cs of every active segment, written at a clean close and
 * read (then removed) at the next open, so that sealing or snapshotting an active segment after a
 * restart does not have to read it whole to learn its checksum. A checked file (format/checked-file.ts;
 * magic "EBCK", version 1) whose JSON body maps stream ids to
 * `{"base","log_bytes","log_crc","index_bytes","index_crc"}`.
 *
 * Only an optimisation: it is used only after a clean close, only where the segment still has
 * exactly the recorded sizes, and otherwise ignored (the CRCs are then computed when needed).
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

/**
 * Reads and removes the checkpoint. Returns an empty map when there is none, or when it does not
 * check (it is only an optimisation).
 */
export function takeCrcCheckpoint(io: FileIO, dataDir: string): Map<string, SegmentCrcs> {
  const file = path.join(dataDir, CRC_CHECKPOINT.name);
  const out = new Map<string, SegmentCrcs>();
  if (io.stat(file) === null) return out;
  const decoded = decodeChecked(readWholeFile(io, file), CRC_CHECKPOINT);
  io.unlink(file);
  if (typeof decoded === 'string') return out;
  const streams = (decoded.body as Body).streams;
  if (typeof streams !== 'object' || streams === null) return out;
  for (const [id, c] of Object.entries(streams)) {
    if ([c.base, c.log_bytes, c.log_crc, c.index_bytes, c.index_crc].every((n) => Number.isSafeInteger(n) && n >= 0)) {
      out.set(id, { base: c.base, logBytes: c.log_bytes, logCrc: c.log_crc, indexBytes: c.index_bytes, indexCrc: c.index_crc });
    }
  }
  return out;
}
