/**
 * One record of a segment's `.log` file: one event. The one record API over both format
 * versions; a segment's file header says which version its records are (a segment never mixes
 * them), and each version has one decoder here.
 *
 * ```
 * offset size field
 *  0     4    crc          CRC32C of bytes 4 .. 24+length (everything after this field)
 *  4     4    length       u32 LE, bytes after the 24-byte header
 *  8     8    offset       u64 LE, the record's own offset in its stream
 * 16     8    timestamp    u64 LE, milliseconds since the Unix epoch (append time)
 * 24     n    version 1: the payload (the event's bytes, as written)
 *             version 2: the fields (key and version, type, metadata, msg_id, batch end;
 *                        format/record-fields.ts), then the payload
 * ```
 *
 * The record stores its own offset so that a read from the wrong file position, or a stale
 * index entry, can never return another event's bytes as this one's. The header is the same in
 * both versions, so scanning, resynchronising after damage and sizing reads do not depend on it.
 */
import { assert } from '../../errors.js';
import { readU64, writeU64 } from './binary.js';
import { crc32c } from './crc.js';
import { checkFields, decodeFields, encodeFields, fieldsBytes, isBatchEnd, MAX_FIELDS_BYTES_BESIDE_METADATA, type EventAttributes, type RecordFields } from './record-fields.js';

export const RECORD_HEADER_BYTES = 24;

/**
 * The largest event (body and metadata) an append may take: the highest `maxEventBytes`
 * (engine-options.ts) and `storage.max_event_bytes` (the server's configuration) allow.
 */
export const MAX_EVENT_BYTES = 64 * 1024 * 1024;

/**
 * The largest `length` a record may have (the bytes after its header): the largest event with the
 * longest key, type and msg_id beside it. A reader takes a length above it for damage, whatever
 * the configured event size limit; the writer never writes one (encodeRecord asserts it), so
 * every event acknowledged is readable. It may only ever grow: readers must accept everything
 * written before (format 1 records and earlier format 2 ones were at most 64 MiB long).
 */
export const MAX_RECORD_LENGTH = MAX_EVENT_BYTES + MAX_FIELDS_BYTES_BESIDE_METADATA;

/** The record format versions, as a segment's file header gives them. */
export type RecordVersion = 1 | 2;
/** The version every new segment is written in. */
export const CURRENT_RECORD_VERSION: RecordVersion = 2;

/** Total bytes of a (version 2) record with `fields` and a payload of `payloadBytes`. */
export function recordBytes(payloadBytes: number, fields: RecordFields | null = null): number {
  return RECORD_HEADER_BYTES + fieldsBytes(fields) + payloadBytes;
}

/**
 * Writes a version 2 record into `target` at `position` (which must have room); returns its
 * total size. `batchEnd` marks the last record of an append.
 */
export function encodeRecord(
  target: Buffer,
  position: number,
  offset: number,
  timestampMs: number,
  payload: Buffer,
  fields: RecordFields | null = null,
  batchEnd = true,
): number {
  const fieldsEnd = position + RECORD_HEADER_BYTES + encodeFields(target, position + RECORD_HEADER_BYTES, fields, batchEnd);
  const end = fieldsEnd + payload.copy(target, fieldsEnd);
  // The appends' size checks keep every record within what readers accept.
  assert(end - position - RECORD_HEADER_BYTES <= MAX_RECORD_LENGTH, 'a record longer than readers accept');
  target.writeUInt32LE(end - position - RECORD_HEADER_BYTES, position + 4);
  writeU64(target, position + 8, offset);
  writeU64(target, position + 16, timestampMs);
  target.writeUInt32LE(crc32c(target.subarray(position + 4, end)), position);
  return end - position;
}

/** A record decoded from a buffer; `payload` is a view into that buffer, not a copy. */
export interface DecodedRecord {
  offset: number;
  timestampMs: number;
  payload: Buffer;
  /** Version 2 fields the event has (key, version, type, metadata, msg_id); null when none. */
  attributes: EventAttributes | null;
  /** True for the last record of an append (always, in version 1: each record stood alone). */
  batchEnd: boolean;
  /** Total bytes of the record, header included. */
  size: number;
}

/** Why a record could not be decoded. */
export type RecordProblem =
  /** The buffer ends inside the record: the rest was not read, or was never written. */
  | 'partial'
  /** The length field is larger than any record may be (`maxLength`, in the engine MAX_RECORD_LENGTH). */
  | 'bad-length'
  /** The checksum does not match. */
  | 'bad-crc'
  /** The checksum matches but the record holds another offset than expected. */
  | 'bad-offset'
  /** The checksum matches but the version 2 fields are malformed (written by a bug, not torn). */
  | 'bad-fields';

/**
 * Decodes the record at `position` of a segment of format `version`, checking its CRC, its
 * offset when `expectedOffset` is given, and its fields. Never returns a record that fails.
 */
export function decodeRecord(
  buffer: Buffer,
  position: number,
  end: number,
  maxLength: number,
  expectedOffset?: number,
  version: RecordVersion = CURRENT_RECORD_VERSION,
): DecodedRecord | RecordProblem {
  const size = checkRecord(buffer, position, end, maxLength, expectedOffset, version);
  if (typeof size === 'string') return size;
  const content = position + RECORD_HEADER_BYTES;
  const offset = readU64(buffer, position + 8);
  const timestampMs = readU64(buffer, position + 16);
  if (version === 1) return { offset, timestampMs, payload: buffer.subarray(content, position + size), attributes: null, batchEnd: true, size };
  // checkRecord has checked the fields: the body starts where they end.
  const bodyStart = checkFields(buffer, content, position + size)!.bodyStart;
  return {
    offset,
    timestampMs,
    payload: buffer.subarray(bodyStart, position + size),
    attributes: decodeFields(buffer, content),
    batchEnd: isBatchEnd(buffer, content),
    size,
  };
}

/**
 * {@link decodeRecord} for scans that only validate: the same checks, without building a payload
 * view. Returns the record's total size, or the problem.
 */
export function checkRecord(
  buffer: Buffer,
  position: number,
  end: number,
  maxLength: number,
  expectedOffset: number | undefined,
  version: RecordVersion,
): number | RecordProblem {
  if (end - position < RECORD_HEADER_BYTES) return 'partial';
  const length = buffer.readUInt32LE(position + 4);
  if (length > maxLength) return 'bad-length';
  const size = RECORD_HEADER_BYTES + length;
  if (end - position < size) return 'partial';
  if (crc32c(buffer.subarray(position + 4, position + size)) !== buffer.readUInt32LE(position)) return 'bad-crc';
  if (expectedOffset !== undefined && readU64(buffer, position + 8) !== expectedOffset) return 'bad-offset';
  if (version === 2 && checkFields(buffer, position + RECORD_HEADER_BYTES, position + size) === null) return 'bad-fields';
  return size;
}

/** True when the (checked) record at `position` of a segment of format `version` ends a batch. */
export function recordEndsBatch(buffer: Buffer, position: number, version: RecordVersion): boolean {
  return version === 1 || isBatchEnd(buffer, position + RECORD_HEADER_BYTES);
}
