/**
 * The read hot path: decoding a run of consecutive records from a segment's log, starting at a
 * position its index gave, in few large reads. Every record is checked (CRC and its own offset)
 * before it is returned; a record that fails ends the run.
 */
import type { EventAttributes } from '../format/record-fields.js';
import { decodeRecord, MAX_RECORD_LENGTH, RECORD_HEADER_BYTES, type RecordVersion } from '../format/record.js';
import type { DurableFile } from '../fs/durable-file.js';

/** Read size for ordinary reads: large enough to amortise the syscall, small enough to be cheap. */
const MIN_READ_BYTES = 64 * 1024;
const MAX_READ_BYTES = 4 * 1024 * 1024;
/**
 * The first read of records checked past the last one returned (the rest of its batch): small,
 * since batches are mostly short; the next ones are ordinary.
 */
const FIRST_CHECK_READ_BYTES = 4 * 1024;

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
  /** First offset not to return, nor to check past a returned record (see {@link readRecords}). */
  stopOffset: number;
  /**
   * True when `stopOffset` is known to follow a batch end (a stream's visible or written end, or
   * its segment's end); false when it is where known damage starts, so that a batch running up to
   * it is unfinished.
   */
  stopEndsBatch: boolean;
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
 * A record that failed its checks (or, with `problem` 'unended', the known damage a batch runs
 * into), and what the read kept before it: `bytes` of payload, ending at a batch end. The records
 * of the batch the failure is in were taken back out of the read's result.
 */
export interface RecordFailure {
  /** Where the failing bytes are (the record due, or the position reached). */
  position: number;
  /** The offset whose record fails (`stopOffset` for 'unended'). */
  offset: number;
  problem: string;
  /**
   * The first offset of the failing record's batch, and its position, when the read saw the batch
   * end before it; null when no record read ended a batch (the batch may start below `fromOffset`).
   */
  boundary: { offset: number; position: number } | null;
  bytes: number;
}

/**
 * Appends the records of `run` to `out`; returns the payload bytes added, or a failure. A batch is
 * returned whole or not at all from any record on (docs/storage-format.md, "Batches"): when the
 * last record due (by the limits or `stopOffset`) does not end its batch, the records after it are
 * read and checked, not returned, up to the batch end (they are always in the same segment); if
 * one of them fails first (or known damage comes first: `stopEndsBatch` false), the unfinished
 * batch's records are taken back out of `out` and the failure returned. A record that fails its
 * check after a batch end ends the run before it (returning the bytes). The first record due
 * failing returns a failure with nothing added (its position came from the index, which the
 * caller may doubt). Over 50 lines because the inner loop is the read hot path, kept in one place
 * without per-record calls.
 */
export function readRecords(log: DurableFile, run: RecordRun, out: StoredEvent[]): number | RecordFailure {
  const { stopOffset: stop, maxEvents, maxBytes, logBytes, version } = run;
  const startLength = out.length;
  let offset = run.fromOffset;
  let position = run.position;
  let bytes = 0;
  // What is kept if the last batch returned turns out damaged: up to its last batch end.
  let keptLength = startLength;
  let keptBytes = 0;
  let boundary: { offset: number; position: number } | null = null;
  // Set once the limits are reached inside a batch: records are then checked, not returned.
  let checking = false;
  const fail = (problem: string): RecordFailure => {
    out.length = keptLength;
    return { position, offset, problem, boundary, bytes: keptBytes };
  };
  let checkReads = 0;
  while (offset < stop) {
    let want: number;
    if (checking) {
      want = Math.min(logBytes - position, checkReads++ === 0 ? FIRST_CHECK_READ_BYTES : MIN_READ_BYTES);
    } else {
      const wantEvents = maxEvents - (out.length - startLength);
      const byLimits = Math.max(MIN_READ_BYTES, Math.min(MAX_READ_BYTES, maxBytes - bytes + wantEvents * RECORD_HEADER_BYTES));
      want = Math.min(logBytes - position, byLimits, Math.max(run.endHint - position, RECORD_HEADER_BYTES));
    }
    let chunk = Buffer.allocUnsafe(want);
    let got = log.read(chunk, 0, want, position);
    let at = 0;
    let progressed = false;
    while (offset < stop) {
      if (!checking && out.length - startLength >= maxEvents) {
        if (keptLength === out.length) return bytes;
        checking = true;
      }
      let decoded = decodeRecord(chunk, at, got, MAX_RECORD_LENGTH, offset, version);
      if (decoded === 'partial' && !progressed && got - at >= RECORD_HEADER_BYTES) {
        // One record larger than the read: read exactly that record.
        const need = RECORD_HEADER_BYTES + chunk.readUInt32LE(at + 4);
        if (need <= MAX_RECORD_LENGTH + RECORD_HEADER_BYTES && position + need <= logBytes) {
          chunk = Buffer.allocUnsafe(need);
          got = log.read(chunk, 0, need, position);
          at = 0;
          decoded = decodeRecord(chunk, 0, got, MAX_RECORD_LENGTH, offset, version);
        }
      }
      if (decoded === 'partial' && progressed) break; // continue with a fresh read
      if (typeof decoded === 'string') {
        if (checking || keptLength !== out.length) return fail(decoded);
        // After a batch end the run just ends: the next read starts at the failing record.
        return out.length === startLength ? { position, offset, problem: decoded, boundary, bytes: 0 } : bytes;
      }
      if (!checking) {
        const payloadBytes = decoded.payload.length;
        if (out.length > 0 && bytes + payloadBytes > maxBytes) {
          // Over the byte limit: not returned, only checked, if the batch is not finished.
          if (keptLength === out.length) return bytes;
          checking = true;
        } else {
          out.push({ offset, timestampMs: decoded.timestampMs, payload: decoded.payload, attributes: decoded.attributes });
          bytes += payloadBytes;
        }
      }
      at += decoded.size;
      position += decoded.size;
      offset += 1;
      progressed = true;
      if (decoded.batchEnd) {
        if (checking) return bytes;
        keptLength = out.length;
        keptBytes = bytes;
        boundary = { offset, position };
      }
    }
  }
  if (keptLength === out.length || run.stopEndsBatch) return bytes;
  // The last batch runs into known damage: it has no end that can be read.
  return fail('unended');
}
