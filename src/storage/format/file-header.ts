/**
 * The 32-byte header that opens every segment file (`.log` and `.index`).
 *
 * ```
 * offset size field
 *  0     4    magic        ASCII, names the kind of file ("EBLG" log, "EBIX" index)
 *  4     2    version      u16 LE, format version of that kind of file (1; a log is 1 or 2,
 *                            the version of its records: format/record.ts)
 *  6     2    param        u16 LE, kind-specific (index: bytes per entry; log: 0)
 *  8     8    base_offset  u64 LE, offset of the segment's first record
 * 16     8    created_ms   u64 LE, wall-clock creation time
 * 24     4    reserved     zero
 * 28     4    crc          CRC32C of bytes 0..27
 * ```
 */
import { readU64, writeU64 } from './binary.js';
import { crc32c } from './crc.js';

export const FILE_HEADER_BYTES = 32;

export interface FileHeader {
  magic: string;
  version: number;
  param: number;
  baseOffset: number;
  createdMs: number;
}

export function encodeFileHeader(header: FileHeader): Buffer {
  const buffer = Buffer.alloc(FILE_HEADER_BYTES);
  buffer.write(header.magic, 0, 4, 'latin1');
  buffer.writeUInt16LE(header.version, 4);
  buffer.writeUInt16LE(header.param, 6);
  writeU64(buffer, 8, header.baseOffset);
  writeU64(buffer, 16, header.createdMs);
  buffer.writeUInt32LE(crc32c(buffer.subarray(0, 28)), 28);
  return buffer;
}

/**
 * Decodes a header; returns a description of the problem instead when it does not check.
 * `versions` is the format version, or the versions, this kind of file may have.
 */
export function decodeFileHeader(buffer: Buffer, expectedMagic: string, versions: number | readonly number[]): FileHeader | string {
  if (buffer.length < FILE_HEADER_BYTES) return `short header (${buffer.length} bytes)`;
  if (crc32c(buffer.subarray(0, 28)) !== buffer.readUInt32LE(28)) return 'header checksum mismatch';
  const magic = buffer.toString('latin1', 0, 4);
  if (magic !== expectedMagic) return `bad magic ${JSON.stringify(magic)}`;
  const version = buffer.readUInt16LE(4);
  if (typeof versions === 'number' ? version !== versions : !versions.includes(version)) return `unsupported format version ${version}`;
  return { magic, version, param: buffer.readUInt16LE(6), baseOffset: readU64(buffer, 8), createdMs: readU64(buffer, 16) };
}
