/**
 * A run of the key index: `keys-<from>-<to>.run` in a stream's directory, an immutable sorted
 * file of the entries (key hash, version, offset) of every keyed event with an offset in
 * [from, to) (keys/key-index.ts). Pure encoding and decoding; no I/O.
 *
 * ```
 * file header (32 bytes, file-header.ts): magic "EBKR", version 2 (1: a run written before
 *   runs had a bloom filter; still read), param = 24 (entry bytes), base_offset = from
 * blocks, each 4096 bytes: up to 170 entries sorted by (hash, version), zero padding, and at
 *   4092 the CRC32C of bytes 0..4091 of the block. An entry:
 *     0  4  hash_hi   u32 LE  }  the key's hash (format/key-hash.ts)
 *     4  4  hash_lo   u32 LE  }
 *     8  8  version   u64 LE, the key's version of the event
 *    16  8  offset    u64 LE, the event's offset in the stream
 * fences, 16 bytes per block: the (hash_hi, hash_lo, version) of the block's first entry
 * bloom filter, bloom_bytes bytes (version 2; none in version 1): keys/bloom-filter.ts
 * trailer (64 bytes):
 *     0  4  magic         "KRUN"
 *     4  4  block_count   u32 LE
 *     8  8  entry_count   u64 LE
 *    16  8  from_offset   u64 LE  }  the offsets the run covers: every keyed event in [from, to)
 *    24  8  to_offset     u64 LE  }  has its entry here (or in no run, once below the first offset)
 *    32  8  key_count     u64 LE, distinct hashes
 *    40  4  fences_crc    CRC32C of the fences
 *    44  4  body_crc      CRC32C of everything before the trailer
 *    48  4  bloom_bytes   u32 LE, bytes of the bloom filter (a multiple of 8; 0: none)
 *    52  4  bloom_crc     CRC32C of the bloom filter (0 when none)
 *    56  1  bloom_hashes  probes per hash (1..32; 0 when none)
 *    57  3  reserved      zero
 *    60  4  trailer_crc   CRC32C of bytes 0..59 of the trailer
 * ```
 *
 * A run is found by its trailer and fences alone (read at open, held in memory: 16 bytes per 170
 * entries); a block is read, and its CRC checked, when a lookup needs it. The whole file's CRC32C
 * is crc32c(trailer, body_crc), so a snapshot can name it without reading the file.
 */
import { readU64, writeU64 } from './binary.js';
import { crc32c } from './crc.js';
import { FILE_HEADER_BYTES, encodeFileHeader } from './file-header.js';

export const RUN_MAGIC = 'EBKR';
/** The version written; version 1 runs (no bloom filter, zero trailer bytes 48..59) still open. */
export const RUN_VERSION = 2;
export const RUN_VERSIONS: readonly number[] = [1, 2];
export const RUN_ENTRY_BYTES = 24;
export const RUN_BLOCK_BYTES = 4096;
export const ENTRIES_PER_BLOCK = Math.floor((RUN_BLOCK_BYTES - 4) / RUN_ENTRY_BYTES);
export const FENCE_BYTES = 16;
export const RUN_TRAILER_BYTES = 64;
const TRAILER_MAGIC = 'KRUN';

/** `keys-<from>-<to>.run`, offsets padded to 20 digits. */
export function runFileName(fromOffset: number, toOffset: number): string {
  return `keys-${String(fromOffset).padStart(20, '0')}-${String(toOffset).padStart(20, '0')}.run`;
}

/** Matches run file names; groups 1 and 2 are the offsets. */
export const RUN_FILE_PATTERN = /^keys-(\d{20})-(\d{20})\.run$/;

/** What a run's trailer says. */
export interface RunTrailer {
  blockCount: number;
  entryCount: number;
  fromOffset: number;
  toOffset: number;
  keyCount: number;
  fencesCrc: number;
  bodyCrc: number;
  /** Bytes of the bloom filter after the fences (0: none, as in a version 1 run). */
  bloomBytes: number;
  bloomCrc: number;
  bloomHashes: number;
}

/** Bytes of a run of `blockCount` blocks. */
export function runFileBytes(blockCount: number, bloomBytes: number): number {
  return FILE_HEADER_BYTES + blockCount * (RUN_BLOCK_BYTES + FENCE_BYTES) + bloomBytes + RUN_TRAILER_BYTES;
}

/** Position of the bloom filter of a run of `blockCount` blocks. */
export function bloomPosition(blockCount: number): number {
  return FILE_HEADER_BYTES + blockCount * (RUN_BLOCK_BYTES + FENCE_BYTES);
}

/** Position of block `i`. */
export function blockPosition(i: number): number {
  return FILE_HEADER_BYTES + i * RUN_BLOCK_BYTES;
}

/** Position of the fences of a run of `blockCount` blocks. */
export function fencesPosition(blockCount: number): number {
  return FILE_HEADER_BYTES + blockCount * RUN_BLOCK_BYTES;
}

export function encodeRunHeader(fromOffset: number, createdMs: number, version = RUN_VERSION): Buffer {
  return encodeFileHeader({ magic: RUN_MAGIC, version, param: RUN_ENTRY_BYTES, baseOffset: fromOffset, createdMs });
}

/** Writes entry `i` of a block. */
export function encodeEntry(block: Buffer, i: number, hashHi: number, hashLo: number, version: number, offset: number): void {
  const at = i * RUN_ENTRY_BYTES;
  block.writeUInt32LE(hashHi, at);
  block.writeUInt32LE(hashLo, at + 4);
  writeU64(block, at + 8, version);
  writeU64(block, at + 16, offset);
}

/** Seals a filled block: zero padding after `entries` entries and its CRC. */
export function sealBlock(block: Buffer, entries: number): void {
  block.fill(0, entries * RUN_ENTRY_BYTES, RUN_BLOCK_BYTES - 4);
  block.writeUInt32LE(crc32c(block.subarray(0, RUN_BLOCK_BYTES - 4)), RUN_BLOCK_BYTES - 4);
}

/** True when a block read from a run checks. */
export function blockChecks(block: Buffer): boolean {
  return block.length === RUN_BLOCK_BYTES && crc32c(block.subarray(0, RUN_BLOCK_BYTES - 4)) === block.readUInt32LE(RUN_BLOCK_BYTES - 4);
}

export const entryHashHi = (block: Buffer, i: number): number => block.readUInt32LE(i * RUN_ENTRY_BYTES);
export const entryHashLo = (block: Buffer, i: number): number => block.readUInt32LE(i * RUN_ENTRY_BYTES + 4);
export const entryVersion = (block: Buffer, i: number): number => readU64(block, i * RUN_ENTRY_BYTES + 8);
export const entryOffset = (block: Buffer, i: number): number => readU64(block, i * RUN_ENTRY_BYTES + 16);

/** Writes fence `i` (a block's first entry) into `fences`. */
export function encodeFence(fences: Buffer, i: number, hashHi: number, hashLo: number, version: number): void {
  const at = i * FENCE_BYTES;
  fences.writeUInt32LE(hashHi, at);
  fences.writeUInt32LE(hashLo, at + 4);
  writeU64(fences, at + 8, version);
}

export function encodeRunTrailer(trailer: RunTrailer): Buffer {
  const buffer = Buffer.alloc(RUN_TRAILER_BYTES);
  buffer.write(TRAILER_MAGIC, 0, 4, 'latin1');
  buffer.writeUInt32LE(trailer.blockCount, 4);
  writeU64(buffer, 8, trailer.entryCount);
  writeU64(buffer, 16, trailer.fromOffset);
  writeU64(buffer, 24, trailer.toOffset);
  writeU64(buffer, 32, trailer.keyCount);
  buffer.writeUInt32LE(trailer.fencesCrc, 40);
  buffer.writeUInt32LE(trailer.bodyCrc, 44);
  buffer.writeUInt32LE(trailer.bloomBytes, 48);
  buffer.writeUInt32LE(trailer.bloomCrc, 52);
  buffer.writeUInt8(trailer.bloomHashes, 56);
  buffer.writeUInt32LE(crc32c(buffer.subarray(0, 60)), 60);
  return buffer;
}

/** Decodes a trailer; a description of the problem when it does not check. */
export function decodeRunTrailer(buffer: Buffer): RunTrailer | string {
  if (buffer.length !== RUN_TRAILER_BYTES) return `trailer is ${buffer.length} bytes`;
  if (crc32c(buffer.subarray(0, 60)) !== buffer.readUInt32LE(60)) return 'trailer checksum mismatch';
  if (buffer.toString('latin1', 0, 4) !== TRAILER_MAGIC) return 'trailer has a bad magic';
  const trailer: RunTrailer = {
    blockCount: buffer.readUInt32LE(4),
    entryCount: readU64(buffer, 8),
    fromOffset: readU64(buffer, 16),
    toOffset: readU64(buffer, 24),
    keyCount: readU64(buffer, 32),
    fencesCrc: buffer.readUInt32LE(40),
    bodyCrc: buffer.readUInt32LE(44),
    bloomBytes: buffer.readUInt32LE(48),
    bloomCrc: buffer.readUInt32LE(52),
    bloomHashes: buffer.readUInt8(56),
  };
  if (buffer.readUIntLE(57, 3) !== 0) return 'trailer has nonzero reserved bytes';
  if (trailer.bloomBytes % 8 !== 0 || (trailer.bloomBytes === 0) !== (trailer.bloomHashes === 0) || trailer.bloomHashes > 32) return 'trailer describes a bad bloom filter';
  if (trailer.blockCount !== Math.ceil(trailer.entryCount / ENTRIES_PER_BLOCK)) return 'trailer counts do not agree';
  if (trailer.toOffset < trailer.fromOffset) return 'trailer covers a negative range';
  return trailer;
}

/** CRC32C of a whole run file from its trailer (see the layout). */
export function runFileCrc(trailer: RunTrailer): number {
  return crc32c(encodeRunTrailer(trailer), trailer.bodyCrc);
}
