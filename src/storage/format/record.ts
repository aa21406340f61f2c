/**
 * One record of a segment's `.log` file: one event.
 *
 * ```
 * offset size field
 *  0     4    crc          CRC32C of bytes 4 .. 24+length (everything after this field)
 *  4     4    length       u32 LE, payload bytes
 *  8     8    offset       u64 LE, the record's own offset in its stream
 * 16     8    timestamp    u64 LE, milliseconds since the Unix epoch (append time)
 * 24     n    payload      the event's bytes, as written
 * ```
 *
 * The record stores its own offset so that a read from the wrong file position, or a stale
 * index entry, can never return another event's bytes as this one's.
 */
import { readU64, writeU64 } from './binary.js';
import { crc32c } from './crc.js';

export const RECORD_HEADER_BYTES = 24;

/** Total bytes of a record with a payload of `payloadBytes`. */
export function recordBytes(payloadBytes: number): number {
  return RECORD_HEADER_BYTES + payloadBytes;
}

/** Writes a record into `target` at `position`; returns its CRC. `target` must have room. */
export function encodeRecord(target: Buffer, position: number, offset: number, timestampMs: number, payload: Buffer): number {
  target.writeUInt32LE(payload.length, position + 4);
  writeU64(target, position + 8, offset);
  writeU64(target, position + 16, timestampMs);
  payload.copy(target, position + RECORD_HEADER_BYTES);
  const crc = crc32c(target.subarray(position + 4, position + RECORD_HEADER_BYTES + payload.length));
  target.writeUInt32LE(crc, position);
  return crc;
}

/** A record decoded from a buffer; `payload` is a view into that buffer, not a copy. */
export interface DecodedRecord {
  offset: number;
  timestampMs: number;
  payload: Buffer;
  /** Total bytes of the record, header included. */
  size: number;
}

/** Why a record could not be decoded. */
export type RecordProblem =
  /** The buffer ends inside the record: the rest was not read, or was never written. */
  | 'partial'
  /** The length field is larger than any record may be. */
  | 'bad-length'
  /** The checksum does not match. */
  | 'bad-crc'
  /** The checksum matches but the record holds another offset than expected. */
  | 'bad-offset';

/**
 * Decodes the record at `position`, checking its CRC and, when `expectedOffset` is given, its
 * offset. Never returns a record that fails either check.
 */
export function decodeRecord(
  buffer: Buffer,
  position: number,
  end: number,
  maxPayloadBytes: number,
  expectedOffset?: number,
): DecodedRecord | RecordProblem {
  if (end - position < RECORD_HEADER_BYTES) return 'partial';
  const length = buffer.readUInt32LE(position + 4);
  if (length > maxPayloadBytes) return 'bad-length';
  const size = RECORD_HEADER_BYTES + length;
  if (end - position < size) return 'partial';
  const crc = buffer.readUInt32LE(position);
  if (crc32c(buffer.subarray(position + 4, position + size)) !== crc) return 'bad-crc';
  const offset = readU64(buffer, position + 8);
  if (expectedOffset !== undefined && offset !== expectedOffset) return 'bad-offset';
  return {
    offset,
    timestampMs: readU64(buffer, position + 16),
    payload: buffer.subarray(position + RECORD_HEADER_BYTES, position + size),
    size,
  };
}

/**
 * {@link decodeRecord} for scans that only validate: the same checks, without building a payload
 * view (one allocation fewer per record). Returns the record's total size, or the problem.
 */
export function checkRecord(buffer: Buffer, position: number, end: number, maxPayloadBytes: number, expectedOffset: number): number | RecordProblem {
  if (end - position < RECORD_HEADER_BYTES) return 'partial';
  const length = buffer.readUInt32LE(position + 4);
  if (length > maxPayloadBytes) return 'bad-length';
  const size = RECORD_HEADER_BYTES + length;
  if (end - position < size) return 'partial';
  if (crc32c(buffer.subarray(position + 4, position + size)) !== buffer.readUInt32LE(position)) return 'bad-crc';
  if (readU64(buffer, position + 8) !== expectedOffset) return 'bad-offset';
  return size;
}

/** The payload length a record header at `position` claims (only meaningful once the CRC checks). */
export function claimedRecordSize(buffer: Buffer, position: number): number {
  return RECORD_HEADER_BYTES + buffer.readUInt32LE(position + 4);
}
