/**
 * A segment's offset index: `<base offset>.index`, mapping each offset to its record's position
 * in the segment's `.log`.
 *
 * ```
 * file header (32 bytes, see file-header.ts): magic "EBIX", version 1, param = 12 (entry bytes)
 * entries, one per record, in offset order; entry i describes offset base+i:
 *   0  4  relative_offset  u32 LE, i (offset - base)
 *   4  4  position         u32 LE, byte position of the record in the .log
 *   8  4  crc              CRC32C of bytes 0..7 of the entry
 * seal trailer (48 bytes), written once when the segment is sealed:
 *   0  4  marker           0xFFFFFFFF (never a relative offset)
 *   4  4  magic            "SEAL"
 *   8  4  record_count     u32 LE
 *  12  4  damaged_count    u32 LE, records at the end of the segment that are damage (0: none)
 *  16  8  log_bytes        u64 LE, size of the sealed .log
 *  24  8  max_timestamp    u64 LE, newest record's timestamp (ms), for retention by age
 *  32  4  log_crc          CRC32C of the whole .log file
 *  36  4  index_crc        CRC32C of this file's bytes before the trailer
 *  40  4  damage_position  u32 LE, byte position in the .log of that damage (0 when none)
 *  44  4  trailer_crc      CRC32C of bytes 0..43 of the trailer
 * ```
 *
 * A segment is sealed with `damaged_count` above zero only when it is sealed over damage at its
 * end (log/segment-recovery.ts keeps an active segment found damaged after a clean stop as it is,
 * and index rebuilds seal what they find): the seal then vouches for the file sizes and checksums,
 * never for those records, whose offsets are never read. Trailers written before this field
 * existed hold zero there.
 *
 * The index is dense, so the entry of an offset is found by position arithmetic (the segment
 * holding an offset is found by binary search over base offsets, log/segment-list.ts); the log is never
 * scanned to find a record. Every entry carries its own CRC, and the record it points at must
 * carry the expected offset and CRC, so a damaged or stale index is detected on use and rebuilt.
 * The index is not fsynced on the append path: it can always be rebuilt from the log, and
 * recovery re-derives whatever part of it was lost (log/segment-recovery.ts).
 */
import { readU64, writeU64 } from './binary.js';
import { crc32c } from './crc.js';
import { FILE_HEADER_BYTES } from './file-header.js';

export const INDEX_MAGIC = 'EBIX';
export const INDEX_VERSION = 1;
export const INDEX_ENTRY_BYTES = 12;
export const SEAL_TRAILER_BYTES = 48;
const SEAL_MARKER = 0xffffffff;
const SEAL_MAGIC = 'SEAL';

/** Encodes the entry for relative offset `relative` into `target` at `at`. */
export function encodeIndexEntry(target: Buffer, at: number, relative: number, position: number): void {
  target.writeUInt32LE(relative, at);
  target.writeUInt32LE(position, at + 4);
  target.writeUInt32LE(crc32c(target.subarray(at, at + 8)), at + 8);
}

/**
 * Decodes the entry at `at`, which must describe relative offset `relative`. Returns the
 * record's position, or -1 if the entry fails its CRC or describes another offset.
 */
export function decodeIndexEntry(source: Buffer, at: number, relative: number): number {
  if (source.readUInt32LE(at) !== relative) return -1;
  if (crc32c(source.subarray(at, at + 8)) !== source.readUInt32LE(at + 8)) return -1;
  return source.readUInt32LE(at + 4);
}

/** Byte position of entry `relative` in the index file. */
export function indexEntryPosition(relative: number): number {
  return FILE_HEADER_BYTES + relative * INDEX_ENTRY_BYTES;
}

/** What the seal trailer records about a sealed segment. */
export interface SealInfo {
  recordCount: number;
  logBytes: number;
  maxTimestampMs: number;
  logCrc: number;
  /** CRC32C of the index file's bytes before the trailer. */
  indexCrc: number;
  /** Records at the end of the segment that are damage, never read (0: none). */
  damagedCount: number;
  /** Byte position in the .log of the first damaged byte of those records (0 when none). */
  damagePosition: number;
}

export function encodeSealTrailer(seal: SealInfo): Buffer {
  const buffer = Buffer.alloc(SEAL_TRAILER_BYTES);
  buffer.writeUInt32LE(SEAL_MARKER, 0);
  buffer.write(SEAL_MAGIC, 4, 4, 'latin1');
  buffer.writeUInt32LE(seal.recordCount, 8);
  buffer.writeUInt32LE(seal.damagedCount, 12);
  writeU64(buffer, 16, seal.logBytes);
  writeU64(buffer, 24, seal.maxTimestampMs);
  buffer.writeUInt32LE(seal.logCrc, 32);
  buffer.writeUInt32LE(seal.indexCrc, 36);
  buffer.writeUInt32LE(seal.damagePosition, 40);
  buffer.writeUInt32LE(crc32c(buffer.subarray(0, 44)), 44);
  return buffer;
}

/** Decodes a seal trailer, or returns null if these bytes are not a valid one. */
export function decodeSealTrailer(buffer: Buffer): SealInfo | null {
  if (buffer.length !== SEAL_TRAILER_BYTES) return null;
  if (buffer.readUInt32LE(0) !== SEAL_MARKER || buffer.toString('latin1', 4, 8) !== SEAL_MAGIC) return null;
  if (crc32c(buffer.subarray(0, 44)) !== buffer.readUInt32LE(44)) return null;
  const damagedCount = buffer.readUInt32LE(12);
  if (damagedCount > buffer.readUInt32LE(8)) return null;
  return {
    recordCount: buffer.readUInt32LE(8),
    logBytes: readU64(buffer, 16),
    maxTimestampMs: readU64(buffer, 24),
    logCrc: buffer.readUInt32LE(32),
    indexCrc: buffer.readUInt32LE(36),
    damagedCount,
    damagePosition: buffer.readUInt32LE(40),
  };
}

/** Size of a sealed index holding `recordCount` entries. */
export function sealedIndexBytes(recordCount: number): number {
  return FILE_HEADER_BYTES + recordCount * INDEX_ENTRY_BYTES + SEAL_TRAILER_BYTES;
}
