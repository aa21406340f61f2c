/**
 * Sequential validation of a `.log` file: the one place that walks records one after another.
 *
 * Used only where reading every record is the point: recovering the unsynced tail of an active
 * segment, rebuilding an index that failed its checks, and `eventbus verify`. Normal reads go
 * through the index and never scan.
 */
import { ErrorCodes, EventBusError } from '../../errors.js';
import type { FileIO } from '../fs/io.js';
import { readFully } from '../fs/io.js';
import { readU64 } from '../format/binary.js';
import { crc32c } from '../format/crc.js';
import { checkRecord, RECORD_HEADER_BYTES, recordEndsBatch, type RecordProblem, type RecordVersion } from '../format/record.js';

const CHUNK_BYTES = 1 << 20;

/** Where a scan stopped before the end of the file, and why. */
export interface ScanStop {
  position: number;
  problem: RecordProblem;
}

/** The outcome of {@link scanLog}. */
export interface ScanResult {
  /** Position just after the last valid record. */
  end: number;
  /** Offset the next record would have. */
  nextOffset: number;
  /** Newest timestamp seen (0 if no record). */
  maxTimestampMs: number;
  /** Set when the scan met an invalid record before `endPosition`. */
  stop: ScanStop | null;
  /** Position just after the last valid record that ends a batch (`position` if none did). */
  batchEnd: number;
  /** Offset after that record. */
  batchEndOffset: number;
}

/**
 * Called for every valid record, in order; `record` is a buffer holding it at `at` (valid only
 * during the call).
 */
export type RecordVisitor = (offset: number, position: number, size: number, timestampMs: number, record: Buffer, at: number) => void;

/**
 * Validates records (of format `version`) from `position` up to `endPosition`, expecting dense
 * offsets from `firstOffset`, and stops at the first record that is partial, fails its CRC or
 * fields, or holds the wrong offset. At most `maxRecords` records are visited.
 */
export function scanLog(
  io: FileIO,
  fd: number,
  position: number,
  endPosition: number,
  firstOffset: number,
  maxLength: number,
  version: RecordVersion,
  visit: RecordVisitor,
  maxRecords = Number.MAX_SAFE_INTEGER,
): ScanResult {
  let chunk: Buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(endPosition - position, RECORD_HEADER_BYTES)));
  let chunkStart = position;
  let chunkEnd = position; // exclusive, file position
  let nextOffset = firstOffset;
  let maxTimestampMs = 0;
  let visited = 0;
  let batchEnd = position;
  let batchEndOffset = firstOffset;
  while (position < endPosition && visited < maxRecords) {
    if (position + RECORD_HEADER_BYTES > chunkEnd || position < chunkStart) {
      ({ chunk, chunkStart, chunkEnd } = refill(io, fd, chunk, position, endPosition, RECORD_HEADER_BYTES));
    }
    let size = checkRecord(chunk, position - chunkStart, chunkEnd - chunkStart, maxLength, nextOffset, version);
    if (size === 'partial' && chunkEnd < endPosition) {
      const need = RECORD_HEADER_BYTES + chunk.readUInt32LE(position - chunkStart + 4);
      ({ chunk, chunkStart, chunkEnd } = refill(io, fd, chunk, position, endPosition, need));
      size = checkRecord(chunk, 0, chunkEnd - chunkStart, maxLength, nextOffset, version);
    }
    if (typeof size === 'string') {
      return { end: position, nextOffset, maxTimestampMs, stop: { position, problem: size }, batchEnd, batchEndOffset };
    }
    const at = position - chunkStart;
    const timestampMs = readU64(chunk, at + 16);
    visit(nextOffset, position, size, timestampMs, chunk, at);
    if (timestampMs > maxTimestampMs) maxTimestampMs = timestampMs;
    position += size;
    nextOffset += 1;
    visited += 1;
    if (recordEndsBatch(chunk, at, version)) {
      batchEnd = position;
      batchEndOffset = nextOffset;
    }
  }
  return { end: position, nextOffset, maxTimestampMs, stop: null, batchEnd, batchEndOffset };
}

function refill(io: FileIO, fd: number, chunk: Buffer, position: number, endPosition: number, need: number): { chunk: Buffer; chunkStart: number; chunkEnd: number } {
  const want = Math.min(Math.max(CHUNK_BYTES, need), endPosition - position);
  if (chunk.length < want) chunk = Buffer.allocUnsafe(want);
  const n = readFully(io, fd, chunk, 0, want, position);
  return { chunk, chunkStart: position, chunkEnd: position + n };
}

/** Plausible bounds for a record found by {@link findNextRecord}. */
export interface ResyncBounds {
  minOffset: number;
  maxOffset: number;
  minTimestampMs: number;
  maxTimestampMs: number;
  /** The largest record length (bytes after its header) that is plausible. */
  maxLength: number;
}

/**
 * Searches forward from `position` for the next position that holds a valid record whose offset
 * and timestamp lie within `bounds`. Distinguishes a torn tail (nothing valid follows) from
 * damage in the middle of a log (valid records follow). Cheap field checks come before the CRC,
 * so a run of zeros or garbage costs a few comparisons per byte.
 */
export function findNextRecord(
  io: FileIO,
  fd: number,
  position: number,
  endPosition: number,
  bounds: ResyncBounds,
): { position: number; offset: number } | null {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES + RECORD_HEADER_BYTES);
  for (let start = position; start + RECORD_HEADER_BYTES <= endPosition; start += CHUNK_BYTES) {
    const n = readFully(io, fd, chunk, 0, Math.min(chunk.length, endPosition - start), start);
    // A run of zeros (preallocated space) cannot hold a record header: its timestamp would be 0.
    if (isZero(chunk.subarray(0, n))) continue;
    for (let i = 0; i + RECORD_HEADER_BYTES <= n && i < CHUNK_BYTES; i++) {
      const length = chunk.readUInt32LE(i + 4);
      if (length > bounds.maxLength || start + i + RECORD_HEADER_BYTES + length > endPosition) continue;
      const offset = readU64(chunk, i + 8);
      if (offset < bounds.minOffset || offset > bounds.maxOffset) continue;
      const timestamp = readU64(chunk, i + 16);
      if (timestamp < bounds.minTimestampMs || timestamp > bounds.maxTimestampMs) continue;
      const size = RECORD_HEADER_BYTES + length;
      let record = chunk.subarray(i, i + size);
      if (i + size > n) {
        record = Buffer.allocUnsafe(size);
        if (readFully(io, fd, record, 0, size, start + i) < size) continue;
      }
      if (crc32c(record.subarray(4)) === record.readUInt32LE(0)) return { position: start + i, offset };
    }
  }
  return null;
}

const ZEROS = Buffer.alloc(64 * 1024);

/** True when every byte of `buffer` is zero. */
function isZero(buffer: Buffer): boolean {
  for (let at = 0; at < buffer.length; at += ZEROS.length) {
    const piece = buffer.subarray(at, Math.min(buffer.length, at + ZEROS.length));
    if (!piece.equals(ZEROS.subarray(0, piece.length))) return false;
  }
  return true;
}

/**
 * True when bytes [position, endPosition) of an open file are all zero: the preallocated,
 * never-written end of an active segment (log-file.ts), not a torn write.
 */
export function zeroFrom(io: FileIO, fd: number, position: number, endPosition: number): boolean {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  for (let at = position; at < endPosition;) {
    const n = readFully(io, fd, chunk, 0, Math.min(chunk.length, endPosition - at), at);
    if (n === 0) return true;
    if (!isZero(chunk.subarray(0, n))) return false;
    at += n;
  }
  return true;
}

/** CRC32C of bytes [0, length) of an open file. */
export function fileCrc(io: FileIO, fd: number, length: number): number {
  const chunk = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(length, 1)));
  let crc = 0;
  for (let position = 0; position < length;) {
    const n = io.read(fd, chunk, 0, Math.min(chunk.length, length - position), position);
    if (n === 0) throw new EventBusError(ErrorCodes.CORRUPT_DATA, `file is ${position} bytes, shorter than the expected ${length}`);
    crc = crc32c(chunk.subarray(0, n), crc);
    position += n;
  }
  return crc;
}
