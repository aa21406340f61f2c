/**
 * The fields a record of format version 2 holds before its body: the event's key and version,
 * its type, its metadata, its client message id, and the flag that ends a batch. They sit between
 * the record header (format/record.ts) and the body, inside what the record's CRC covers.
 *
 * ```
 * offset size field
 *  0     1    flags          bit 0 key, bit 1 type, bit 2 metadata, bit 3 msg_id, bit 4 batch end;
 *                            bits 5-7 zero
 *  1     1    key_length     bytes of the key (1..255 with bit 0, else 0)
 *  2     1    type_length    bytes of the type (1..255 with bit 1, else 0)
 *  3     1    msg_id_length  bytes of the message id (1..64 with bit 3, else 0)
 *  4     4    metadata_length u32 LE, bytes of the metadata (1.. with bit 2, else 0)
 *  8     8    version        u64 LE, the key's version of this event; only with bit 0
 *  then  key, type, msg_id, metadata (each only when flagged), then the body to the record's end
 * ```
 *
 * Strings are UTF-8; metadata is a JSON object's text as written. An event without any field
 * costs 8 bytes here. `batch end` is set on the last record of every append (a single write is a
 * batch of one): recovery cuts a torn tail back to the last record that has it, so a batch is
 * found whole or not at all (log/segment-recovery.ts).
 */
import { readU64, writeU64 } from './binary.js';

export const FLAG_KEY = 0x01;
export const FLAG_TYPE = 0x02;
export const FLAG_METADATA = 0x04;
export const FLAG_MSG_ID = 0x08;
export const FLAG_BATCH_END = 0x10;
const KNOWN_FLAGS = 0x1f;
const FIELD_FLAGS = FLAG_KEY | FLAG_TYPE | FLAG_METADATA | FLAG_MSG_ID;

/** Bytes of the fixed part, before the optional version. */
export const FIELDS_FIXED_BYTES = 8;
const VERSION_BYTES = 8;

/** Limits of the fields, in bytes (UTF-8). */
export const MAX_KEY_BYTES = 255;
export const MAX_TYPE_BYTES = 255;
export const MAX_MSG_ID_BYTES = 64;
/**
 * The most bytes the fields take besides the metadata: the fixed part, a version, and the longest
 * key, type and msg_id (590). The metadata counts toward the event's size limit instead.
 */
export const MAX_FIELDS_BYTES_BESIDE_METADATA = FIELDS_FIXED_BYTES + VERSION_BYTES + MAX_KEY_BYTES + MAX_TYPE_BYTES + MAX_MSG_ID_BYTES;

/** The fields of one event, encoded: each null when the event has none. */
export interface RecordFields {
  key: Buffer | null;
  /** The key's version of this event (ignored without a key). */
  version: number;
  type: Buffer | null;
  metadata: Buffer | null;
  msgId: Buffer | null;
}

/** The fields of a stored event, decoded: each present only when the event has it. */
export interface EventAttributes {
  key?: string;
  version?: number;
  type?: string;
  /** The metadata's JSON text as written; a view into a read buffer. */
  metadata?: Buffer;
  msgId?: string;
}

/** Bytes the fields of `fields` take (8 for an event without any). */
export function fieldsBytes(fields: RecordFields | null): number {
  if (fields === null) return FIELDS_FIXED_BYTES;
  let bytes = FIELDS_FIXED_BYTES;
  if (fields.key !== null) bytes += VERSION_BYTES + fields.key.length;
  if (fields.type !== null) bytes += fields.type.length;
  if (fields.msgId !== null) bytes += fields.msgId.length;
  if (fields.metadata !== null) bytes += fields.metadata.length;
  return bytes;
}

/** Writes the fields at `at`; returns the bytes written ({@link fieldsBytes}). */
export function encodeFields(target: Buffer, at: number, fields: RecordFields | null, batchEnd: boolean): number {
  if (fields === null) {
    target[at] = batchEnd ? FLAG_BATCH_END : 0;
    target[at + 1] = 0;
    target[at + 2] = 0;
    target[at + 3] = 0;
    target.writeUInt32LE(0, at + 4);
    return FIELDS_FIXED_BYTES;
  }
  const { key, type, metadata, msgId } = fields;
  let flags = batchEnd ? FLAG_BATCH_END : 0;
  if (key !== null) flags |= FLAG_KEY;
  if (type !== null) flags |= FLAG_TYPE;
  if (metadata !== null) flags |= FLAG_METADATA;
  if (msgId !== null) flags |= FLAG_MSG_ID;
  target[at] = flags;
  target[at + 1] = key?.length ?? 0;
  target[at + 2] = type?.length ?? 0;
  target[at + 3] = msgId?.length ?? 0;
  target.writeUInt32LE(metadata?.length ?? 0, at + 4);
  let next = at + FIELDS_FIXED_BYTES;
  if (key !== null) {
    writeU64(target, next, fields.version);
    next += VERSION_BYTES;
    next += key.copy(target, next);
  }
  if (type !== null) next += type.copy(target, next);
  if (msgId !== null) next += msgId.copy(target, next);
  if (metadata !== null) next += metadata.copy(target, next);
  return next - at;
}

/** The layout of the fields found at some position: where each part is. */
export interface FieldsLayout {
  flags: number;
  /** Where the body starts. */
  bodyStart: number;
}

/**
 * Checks the fields of a record whose content (fields and body) is `[at, end)`: known flags only,
 * each length non-zero exactly when its flag is set and within its limit, and everything inside
 * the record. Returns where the body starts, or null when the fields are malformed.
 */
export function checkFields(buffer: Buffer, at: number, end: number): FieldsLayout | null {
  if (end - at < FIELDS_FIXED_BYTES) return null;
  const flags = buffer[at]!;
  if ((flags & ~KNOWN_FLAGS) !== 0) return null;
  const keyLength = buffer[at + 1]!;
  const typeLength = buffer[at + 2]!;
  const msgIdLength = buffer[at + 3]!;
  const metadataLength = buffer.readUInt32LE(at + 4);
  if ((keyLength > 0) !== ((flags & FLAG_KEY) !== 0)) return null;
  if ((typeLength > 0) !== ((flags & FLAG_TYPE) !== 0)) return null;
  if ((msgIdLength > 0) !== ((flags & FLAG_MSG_ID) !== 0) || msgIdLength > MAX_MSG_ID_BYTES) return null;
  if ((metadataLength > 0) !== ((flags & FLAG_METADATA) !== 0)) return null;
  const versionBytes = (flags & FLAG_KEY) !== 0 ? VERSION_BYTES : 0;
  const bodyStart = at + FIELDS_FIXED_BYTES + versionBytes + keyLength + typeLength + msgIdLength + metadataLength;
  if (bodyStart > end) return null;
  return { flags, bodyStart };
}

/** True when the fields at `at` (already checked) end a batch. */
export function isBatchEnd(buffer: Buffer, at: number): boolean {
  return (buffer[at]! & FLAG_BATCH_END) !== 0;
}

/**
 * The decoded fields at `at` (already checked by {@link checkFields}), or null when the event has
 * none. Strings are decoded; metadata is a view into `buffer`.
 */
export function decodeFields(buffer: Buffer, at: number): EventAttributes | null {
  const flags = buffer[at]!;
  if ((flags & FIELD_FLAGS) === 0) return null;
  const keyLength = buffer[at + 1]!;
  const typeLength = buffer[at + 2]!;
  const msgIdLength = buffer[at + 3]!;
  const metadataLength = buffer.readUInt32LE(at + 4);
  const attributes: EventAttributes = {};
  let next = at + FIELDS_FIXED_BYTES;
  if ((flags & FLAG_KEY) !== 0) {
    attributes.version = readU64(buffer, next);
    next += VERSION_BYTES;
    attributes.key = buffer.toString('utf8', next, next + keyLength);
    next += keyLength;
  }
  if (typeLength > 0) {
    attributes.type = buffer.toString('utf8', next, next + typeLength);
    next += typeLength;
  }
  if (msgIdLength > 0) {
    attributes.msgId = buffer.toString('utf8', next, next + msgIdLength);
    next += msgIdLength;
  }
  if (metadataLength > 0) attributes.metadata = buffer.subarray(next, next + metadataLength);
  return attributes;
}

/**
 * The key bytes and version of the fields at `at` (already checked), without decoding anything
 * else; null when the event has no key. For the key index, which hashes the bytes.
 */
export function keyOfFields(buffer: Buffer, at: number): { key: Buffer; version: number } | null {
  if ((buffer[at]! & FLAG_KEY) === 0) return null;
  const keyLength = buffer[at + 1]!;
  const start = at + FIELDS_FIXED_BYTES + VERSION_BYTES;
  return { key: buffer.subarray(start, start + keyLength), version: readU64(buffer, at + FIELDS_FIXED_BYTES) };
}

/** The message id bytes of the fields at `at` (already checked), or null. */
export function msgIdOfFields(buffer: Buffer, at: number): Buffer | null {
  const flags = buffer[at]!;
  if ((flags & FLAG_MSG_ID) === 0) return null;
  let start = at + FIELDS_FIXED_BYTES + buffer[at + 2]!;
  if ((flags & FLAG_KEY) !== 0) start += VERSION_BYTES + buffer[at + 1]!;
  return buffer.subarray(start, start + buffer[at + 3]!);
}
