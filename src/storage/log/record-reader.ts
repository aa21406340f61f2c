/**
 * The read hot path: decoding a run of consecutive records from a segment's log, starting at a
 * position its index gave, in few large reads. Every record is checked (CRC and its own offset)
 * before it is returned; a record that fails ends the run.
 */
import type { EventAttributes } from '../format/record-fields.js';
import { decodeRecord, RECORD_HEADER_BYTES, type RecordVersion } from '../format/record.js';
import type { DurableFile } from '../fs/durable-file.js';
import { MAX_RECORD_PAYLOAD_BYTES } from './segment-files.js';

/** Read size for ordinary reads: large enough to amortise the syscall, small enough to be cheap. */
const MIN_READ_BYTES = 64 * 1024;
const MAX_READ_BYTES = 4 * 1024 * 1024;

/** An event as stored. `payload` (and `attributes.metadata`) are views into a read buffer. */
export interface StoredEvent {
  offset: number;
  timestampMs: number;
  payload: Buffer;
  /** The event's key and version, type, metadata and message id, when it has any; else null. */
  attributes: EventAttributes | null;
}

/** Where a run of records is, and what may be taken from it. */
export interface RecordRun {
  /** Position of the record of `fromOffset`. */
  position: number;
  fromOffset: number;
  /** First offset not to return. */
  stopOffset: number;
  /** Where the records wanted end, if known from the index (a read-size hint). */
  endHint: number;
  /** Bytes of the log holding data. */
  logBytes: number;
  maxEvents: number;
  /** Payload bytes, except that the first event is always returned. */
  maxBytes: number;
  /** The format of the segment's records. */
  version: RecordVersion;
}

/**
 * Appends the records of `run` to `out`; returns the payload bytes added, or where and why the
 * first record due failed its checks (a later failure ends the run early instead). Over 50
 * lines because the inner loop is the read hot path, kept in one place without per-record calls.
 */
export function readRecords(log: DurableFile, run: RecordRun, out: StoredEvent[]): number | { position: number; problem: string } {
  const { stopOffset: stop, maxEvents, maxBytes, logBytes, version } = run;
  const startLength = out.length;
  let offset = run.fromOffset;
  let position = run.position;
  let bytes = 0;
  while (offset < stop && out.length - startLength < maxEvents) {
    const wantEvents = maxEvents - (out.length - startLength);
    const byLimits = Math.max(MIN_READ_BYTES, Math.min(MAX_READ_BYTES, maxBytes - bytes + wantEvents * RECORD_HEADER_BYTES));
    const want = Math.min(logBytes - position, byLimits, Math.max(run.endHint - position, RECORD_HEADER_BYTES));
    let chunk = Buffer.allocUnsafe(want);
    let got = log.read(chunk, 0, want, position);
    let at = 0;
    let progressed = false;
    while (offset < stop && out.length - startLength < maxEvents) {
      let decoded = decodeRecord(chunk, at, got, MAX_RECORD_PAYLOAD_BYTES, offset, version);
      if (decoded === 'partial' && !progressed && got - at >= RECORD_HEADER_BYTES) {
        // One record larger than the read: read exactly that record.
        const need = RECORD_HEADER_BYTES + chunk.readUInt32LE(at + 4);
        if (need <= MAX_RECORD_PAYLOAD_BYTES + RECORD_HEADER_BYTES && position + need <= logBytes) {
          chunk = Buffer.allocUnsafe(need);
          got = log.read(chunk, 0, need, position);
          at = 0;
          decoded = decodeRecord(chunk, 0, got, MAX_RECORD_PAYLOAD_BYTES, offset, version);
        }
      }
      if (decoded === 'partial' && progressed) break; // continue with a fresh read
      if (typeof decoded === 'string') {
        if (out.length > startLength) return bytes;
        return { position, problem: decoded };
      }
      const payloadBytes = decoded.payload.length;
      if (out.length > 0 && bytes + payloadBytes > maxBytes) return bytes;
      out.push({ offset, timestampMs: decoded.timestampMs, payload: decoded.payload, attributes: decoded.attributes });
      bytes += payloadBytes;
      at += decoded.size;
      position += decoded.size;
      offset += 1;
      progressed = true;
    }
  }
  return bytes;
}
