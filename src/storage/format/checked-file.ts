/**
 * The envelope of every small metadata file (catalog, snapshot manifest): a 16-byte header and a
 * JSON body. The body is JSON because these files are small, rarely written and worth reading by
 * eye; the header makes them as checkable as the binary files.
 *
 * ```
 * offset size field
 *  0     4    magic     ASCII, names the kind of file
 *  4     2    version   u16 LE, format version of that kind of file
 *  6     2    reserved  zero
 *  8     4    length    u32 LE, bytes of the JSON body
 * 12     4    crc       CRC32C of bytes 0..11 and of the body
 * 16     n    body      UTF-8 JSON
 * ```
 */
import { crc32c } from './crc.js';

export const CHECKED_HEADER_BYTES = 16;

export function encodeCheckedFile(magic: string, version: number, body: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const buffer = Buffer.alloc(CHECKED_HEADER_BYTES + json.length);
  buffer.write(magic, 0, 4, 'latin1');
  buffer.writeUInt16LE(version, 4);
  buffer.writeUInt32LE(json.length, 8);
  json.copy(buffer, CHECKED_HEADER_BYTES);
  buffer.writeUInt32LE(crc32c(json, crc32c(buffer.subarray(0, 12))), 12);
  return buffer;
}

/** Decodes a checked file; returns a description of the problem when it does not check. */
export function decodeCheckedFile(buffer: Buffer, magic: string, version: number): { body: unknown } | string {
  if (buffer.length < CHECKED_HEADER_BYTES) return `file is ${buffer.length} bytes, shorter than its header`;
  if (buffer.toString('latin1', 0, 4) !== magic) return `bad magic ${JSON.stringify(buffer.toString('latin1', 0, 4))}`;
  const length = buffer.readUInt32LE(8);
  if (buffer.length !== CHECKED_HEADER_BYTES + length) return `file is ${buffer.length} bytes, header says ${CHECKED_HEADER_BYTES + length}`;
  const json = buffer.subarray(CHECKED_HEADER_BYTES);
  if (crc32c(json, crc32c(buffer.subarray(0, 12))) !== buffer.readUInt32LE(12)) return 'checksum mismatch';
  if (buffer.readUInt16LE(4) !== version) return `unsupported format version ${buffer.readUInt16LE(4)}`;
  try {
    return { body: JSON.parse(json.toString('utf8')) };
  } catch {
    return 'body is not valid JSON';
  }
}

/** A kind of checked file: its name in its directory, its magic and its format version. */
export interface CheckedFileKind {
  name: string;
  magic: string;
  version: number;
}

/** Encodes `body` as a file of `kind`. */
export function encodeChecked(kind: CheckedFileKind, body: unknown): Buffer {
  return encodeCheckedFile(kind.magic, kind.version, body);
}

/** Decodes a file of `kind`; returns a description of the problem when it does not check. */
export function decodeChecked(buffer: Buffer, kind: CheckedFileKind): { body: unknown } | string {
  return decodeCheckedFile(buffer, kind.magic, kind.version);
}
