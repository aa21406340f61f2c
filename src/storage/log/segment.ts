/**
 * A segment: a `.log` file of records and its `.index`, both named by the base offset (the
 * offset of the segment's first record) zero-padded to 20 digits, as in Kafka.
 *
 * `.log` layout: a 32-byte file header (file-header.ts; magic "EBLG", version 1) followed by
 * records (record.ts) back to back. `.index` layout: see offset-index.ts.
 *
 * A segment is either active (the last of its stream: appended to, its files open read-write)
 * or sealed (never written again, so snapshots may hard-link its files). Sealing appends a
 * trailer to the index recording the log's size and CRC; a sealed segment is opened by checking
 * headers, sizes and that trailer, without reading its records. An index that fails any check is
 * rebuilt from the log: in place for the active segment, via a new file and a rename for a sealed
 * one (its old inode may be shared with a snapshot).
 */
import path from 'node:path';
import { assert, ErrorCodes, EventBusError, ioError } from '../../errors.js';
import { crc32c } from '../format/crc.js';
import { decodeFileHeader, encodeFileHeader, FILE_HEADER_BYTES } from '../format/file-header.js';
import { readFully, type FileIO } from '../fs/io.js';
import { fileCrc, findNextRecord, scanLog, zeroFrom } from './log-scanner.js';
import { silentLogger, type Logger } from '../logger.js';
import {
  decodeIndexEntry,
  decodeSealTrailer,
  encodeIndexEntry,
  encodeSealTrailer,
  INDEX_ENTRY_BYTES,
  INDEX_MAGIC,
  INDEX_VERSION,
  indexEntryPosition,
  SEAL_TRAILER_BYTES,
  sealedIndexBytes,
  type SealInfo,
} from '../format/offset-index.js';
import type { OpenFiles } from '../fs/open-files.js';
import { decodeRecord, RECORD_HEADER_BYTES } from '../format/record.js';

export const LOG_MAGIC = 'EBLG';
export const LOG_VERSION = 1;

/**
 * The largest payload a stored record may claim. A length field above it is damage, whatever
 * the configured event size limit (which may have been higher when the record was written).
 */
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** Records found by resynchronisation must carry timestamps this close to the segment's life. */
const RESYNC_TIMESTAMP_SLACK_MS = 7 * 86_400_000;
/** Index entries examined, newest first, to find where recovery may start trusting the index. */
const RECOVERY_LOOKBACK_ENTRIES = 64;
/** Read size for ordinary reads: large enough to amortise the syscall, small enough to be cheap. */
const MIN_READ_BYTES = 64 * 1024;
const MAX_READ_BYTES = 4 * 1024 * 1024;

/** `00000000000000000042.log` for base offset 42. */
export function segmentFileName(baseOffset: number, extension: 'log' | 'index'): string {
  return `${String(baseOffset).padStart(20, '0')}.${extension}`;
}

/** Matches segment file names; group 1 is the base offset, group 2 the extension. */
export const SEGMENT_FILE_PATTERN = /^(\d{20})\.(log|index)$/;

/** What a segment needs from its stream and engine. */
export interface SegmentContext {
  io: FileIO;
  logger: Logger;
  openFiles: OpenFiles;
  /**
   * The active log is extended ahead of its data (sparsely, with ftruncate) in steps of this
   * size, and cut back to its data when sealed. Most appends then do not grow the file, so their
   * fdatasync need not commit a new file size: about 1.5 times as many fsyncs per second on
   * ext4. Small steps keep the zeros recovery must read after a crash small. 0 disables it.
   */
  preallocateStepBytes?: number;
  /**
   * False when the store was closed cleanly (no LOCK was left behind): nothing can be torn then,
   * so a record that fails its check at the end of an active segment is damage, kept and
   * reported, not a torn write to cut off. Default true (recovery after a crash).
   */
  afterCrash?: boolean;
}

/** Damage found in a segment: bytes that do not hold the records they should. */
export interface Damage {
  file: string;
  /** Byte position of the first damaged byte. */
  position: number;
  /** The offsets that cannot be read because of it (empty when first > last). */
  firstOffset: number;
  lastOffset: number;
  reason: string;
}

/** An event as stored. `payload` is a view into a read buffer. */
export interface StoredEvent {
  offset: number;
  timestampMs: number;
  payload: Buffer;
}

export class Segment {
  readonly baseOffset: number;
  readonly logPath: string;
  readonly indexPath: string;
  /** Bytes of the `.log` holding valid data (header and records). */
  size = FILE_HEADER_BYTES;
  /** Records in the segment. */
  count = 0;
  maxTimestampMs = 0;
  createdMs = 0;
  seal: SealInfo | null = null;
  /**
   * True once the seal is known to be on disk (fsynced after writing, or found at open). A
   * snapshot that links a sealed segment before then fsyncs the link itself.
   */
  sealDurable = false;
  /** Set when frozen: no more appends, seal computed but not yet written (see {@link freeze}). */
  private frozen: SealInfo | null = null;
  /**
   * Set while an fsync of this segment's descriptors may still be queued (just after sealing):
   * its files then stay open, outside the open-files bound, so a descriptor number is never
   * closed and reused under a pending fsync.
   */
  pinned = false;
  readonly damage: Damage[] = [];
  private logFd = -1;
  private indexFd = -1;
  /** Set once the index has been rebuilt from the log since open: it is then known to be right. */
  private indexRebuilt = false;
  /** Set when the files were removed (retention, deletion): nothing is left to sync or read. */
  private removed = false;
  /** fsyncs running on this segment's descriptors (see {@link syncLog}). */
  private syncsInFlight = 0;
  /** Descriptors closed while an fsync ran on them; closed for real when the last one completes. */
  private detachedFds: number[] = [];
  /** Size of the log file: `size` plus preallocated zeros (active segments only). */
  private allocated = 0;
  /** CRC32C of log bytes [0, size), kept while appending; null when unknown (after reopen). */
  private logCrc: number | null = null;
  /** CRC32C of index bytes [0, header + count entries); null when unknown. */
  private indexCrc: number | null = null;

  private constructor(private readonly ctx: SegmentContext, readonly dir: string, baseOffset: number) {
    this.baseOffset = baseOffset;
    this.logPath = path.join(dir, segmentFileName(baseOffset, 'log'));
    this.indexPath = path.join(dir, segmentFileName(baseOffset, 'index'));
  }

  /** Offset the next record of this segment would have. */
  get nextOffset(): number {
    return this.baseOffset + this.count;
  }

  /** Size of the index file as it should be now. */
  get indexSize(): number {
    return this.seal !== null ? sealedIndexBytes(this.count) : indexEntryPosition(this.count);
  }

  /** Creates the files of a new, empty active segment (headers written, not yet fsynced). */
  static create(ctx: SegmentContext, dir: string, baseOffset: number, nowMs: number): Segment {
    const segment = new Segment(ctx, dir, baseOffset);
    segment.createdMs = nowMs;
    const logHeader = encodeFileHeader({ magic: LOG_MAGIC, version: LOG_VERSION, param: 0, baseOffset, createdMs: nowMs });
    const indexHeader = encodeFileHeader({ magic: INDEX_MAGIC, version: INDEX_VERSION, param: INDEX_ENTRY_BYTES, baseOffset, createdMs: nowMs });
    try {
      segment.logFd = ctx.io.open(segment.logPath, 'wx+');
      segment.writeAt(segment.logFd, [logHeader], 0, 'log header');
      segment.allocated = FILE_HEADER_BYTES;
      segment.preallocate(FILE_HEADER_BYTES + 1);
      segment.indexFd = ctx.io.open(segment.indexPath, 'wx+');
      segment.writeAt(segment.indexFd, [indexHeader], 0, 'index header');
    } catch (error) {
      segment.closeFiles();
      throw error instanceof EventBusError ? error : ioError(`creating ${segment.logPath}`, error);
    }
    segment.logCrc = crc32c(logHeader);
    segment.indexCrc = crc32c(indexHeader);
    return segment;
  }

  /**
   * Opens a sealed segment holding `count` records. Checks headers, file sizes and the seal
   * trailer only; rebuilds the index (reading the log once) if any of them does not check.
   */
  static openSealed(ctx: SegmentContext, dir: string, baseOffset: number, count: number): Segment {
    const segment = new Segment(ctx, dir, baseOffset);
    segment.count = count;
    segment.sealDurable = true; // found on disk (made durable first after a crash: Engine.open)
    try {
      const problem = segment.checkSealed();
      if (problem !== null) segment.rebuildSealedIndex(problem);
    } finally {
      segment.closeFiles();
    }
    return segment;
  }

  /**
   * Opens the last segment of a stream after a clean or unclean stop. Trusts the index up to its
   * newest entry that points at a valid record, then validates only the log bytes after that
   * record: that tail is all a crash can have torn. A torn or failing record with nothing valid
   * after it is truncated away (it was never acknowledged); one with valid records after it is
   * damage, reported and kept. The result may turn out to be sealed (a crash after sealing and
   * before the next segment was created); the caller then rolls.
   */
  static openLast(ctx: SegmentContext, dir: string, baseOffset: number, nowMs: number): Segment {
    const segment = new Segment(ctx, dir, baseOffset);
    try {
      segment.recoverTail(nowMs);
    } catch (error) {
      segment.closeFiles();
      throw error;
    }
    return segment;
  }

  // ------------------------------------------------------------------ recovery of a torn roll

  /**
   * True if segment `baseOffset` is sealed and whole: its index ends in a seal trailer that checks
   * and counts `count` records in a log of exactly the size the trailer records. The checks of
   * {@link openSealed}, without repairing anything; reads headers and the trailer only.
   */
  static isWholeSealed(ctx: SegmentContext, dir: string, baseOffset: number, count: number): boolean {
    // A check, not an open: whatever it finds is for the caller to act on, not to log.
    const segment = new Segment({ ...ctx, logger: silentLogger }, dir, baseOffset);
    segment.count = count;
    try {
      return segment.checkSealed() === null && segment.damage.length === 0;
    } catch {
      return false;
    } finally {
      segment.closeFiles();
    }
  }

  /**
   * Whether the log of segment `baseOffset`, which should hold `count` records, ends early: the
   * records stop (file too short, or a torn record) before `count` with nothing valid after the
   * stop in the file. That is the signature of a torn write, never of a bit flip (which leaves
   * valid records after it). Reads the whole log: for the few segments whose seal is not yet
   * known to be durable, at recovery only.
   */
  static endsShort(ctx: SegmentContext, dir: string, baseOffset: number, count: number): boolean {
    const file = path.join(dir, segmentFileName(baseOffset, 'log'));
    const stat = ctx.io.stat(file);
    if (stat === null || stat.size <= FILE_HEADER_BYTES) return count > 0;
    const fd = ctx.io.open(file, 'r');
    try {
      const scan = scanLog(ctx.io, fd, FILE_HEADER_BYTES, stat.size, baseOffset, MAX_RECORD_PAYLOAD_BYTES, () => {}, count);
      if (scan.nextOffset >= baseOffset + count) return false;
      if (scan.stop === null) return true; // the file ends before the records do
      const bounds = { minOffset: scan.nextOffset, maxOffset: baseOffset + count - 1, minTimestampMs: 1, maxTimestampMs: Date.now() + RESYNC_TIMESTAMP_SLACK_MS, maxPayloadBytes: MAX_RECORD_PAYLOAD_BYTES };
      return findNextRecord(ctx.io, fd, scan.stop.position + 1, stat.size, bounds) === null;
    } finally {
      ctx.io.close(fd);
    }
  }

  /** Removes the files of segment `baseOffset` (recovery of a torn roll). The caller syncs the directory. */
  static removeFiles(ctx: SegmentContext, dir: string, baseOffset: number): void {
    for (const extension of ['log', 'index'] as const) {
      const file = path.join(dir, segmentFileName(baseOffset, extension));
      if (ctx.io.stat(file) !== null) ctx.io.unlink(file);
    }
  }

  // ------------------------------------------------------------------ writing

  /**
   * Appends `count` encoded records (`logBytes` bytes) and their index entries at the end of
   * this active segment. Throws DISK_FULL or IO_ERROR; after a failure the segment's state is
   * unchanged and the caller must stop appending to it.
   */
  append(logChunk: Buffer, indexChunk: Buffer, count: number, maxTimestampMs: number): void {
    assert(this.seal === null && this.frozen === null, 'append to a sealed or frozen segment');
    assert(indexChunk.length === count * INDEX_ENTRY_BYTES, 'index chunk does not match record count');
    try {
      this.preallocate(this.size + logChunk.length);
      this.writeAt(this.logFd, [logChunk], this.size, 'append');
      this.writeAt(this.indexFd, [indexChunk], indexEntryPosition(this.count), 'index append');
    } catch (error) {
      // Best effort: cut off whatever part of the failed write landed, so that nothing
      // unacknowledged survives as a valid record. Recovery would cut a torn part anyway.
      try {
        this.ctx.io.truncate(this.logFd, this.size);
        this.allocated = this.size;
        this.ctx.io.truncate(this.indexFd, indexEntryPosition(this.count));
      } catch {
        // The disk is failing; recovery on reopen handles the tail.
      }
      throw error;
    }
    if (this.logCrc !== null) this.logCrc = crc32c(logChunk, this.logCrc);
    if (this.indexCrc !== null) this.indexCrc = crc32c(indexChunk, this.indexCrc);
    this.size += logChunk.length;
    this.count += count;
    if (maxTimestampMs > this.maxTimestampMs) this.maxTimestampMs = maxTimestampMs;
  }

  /**
   * Makes sure the log file extends at least `needed` bytes, growing it (zeros; sparse on disk)
   * to the next preallocation step when it does not.
   */
  private preallocate(needed: number): void {
    const step = this.ctx.preallocateStepBytes ?? 0;
    if (step <= 0 || needed <= this.allocated) return;
    const target = Math.ceil(needed / step) * step;
    try {
      this.ctx.io.truncate(this.logFd, target);
    } catch (error) {
      throw ioError(`preallocating ${this.logPath}`, error);
    }
    this.allocated = target;
  }

  /** Cuts the preallocated zeros off the end of the active log (clean close). */
  trimPreallocation(): void {
    if (this.allocated <= this.size || this.logFd < 0) return;
    this.ctx.io.truncate(this.logFd, this.size);
    this.allocated = this.size;
  }

  /**
   * Takes no more appends: the seal is computed now (log and index CRCs) but written only by
   * {@link writeSeal}, once the records it seals are durable (see StreamLog.roll).
   */
  freeze(): void {
    assert(this.seal === null && this.frozen === null, 'segment frozen twice');
    this.ensureOpen();
    const logCrc = this.logCrc ?? fileCrc(this.ctx.io, this.logFd, this.size);
    const indexCrc = this.indexCrc ?? fileCrc(this.ctx.io, this.indexFd, indexEntryPosition(this.count));
    this.frozen = { recordCount: this.count, logBytes: this.size, maxTimestampMs: this.maxTimestampMs, logCrc, indexCrc };
  }

  /** The seal a frozen segment will have once written (null otherwise). */
  get pendingSeal(): SealInfo | null {
    return this.seal === null ? this.frozen : null;
  }

  /**
   * Seals a frozen segment: cuts the log back to its data (the preallocated end) and appends the
   * seal trailer to its index. Call only once the log's records are durable: a seal on disk then
   * proves its records are (the log's size alone does not, once a truncate has set it). The
   * caller fsyncs both files before relying on the seal.
   */
  writeSeal(): void {
    const seal = this.frozen;
    assert(seal !== null && this.seal === null, 'seal written twice, or for a segment not frozen');
    this.ensureOpen();
    if (this.allocated > this.size) {
      try {
        this.ctx.io.truncate(this.logFd, this.size);
      } catch (error) {
        throw ioError(`sealing ${this.logPath}`, error);
      }
      this.allocated = this.size;
    }
    this.writeAt(this.indexFd, [encodeSealTrailer(seal)], indexEntryPosition(this.count), 'seal');
    this.seal = seal;
  }

  /** The running CRCs of an active segment, if known (for the clean-close checkpoint). */
  runningCrcs(): { logBytes: number; logCrc: number; indexBytes: number; indexCrc: number } | null {
    if (this.seal !== null || this.logCrc === null || this.indexCrc === null) return null;
    return { logBytes: this.size, logCrc: this.logCrc, indexBytes: indexEntryPosition(this.count), indexCrc: this.indexCrc };
  }

  /** Takes running CRCs recorded at a clean close, if the segment still has those sizes. */
  restoreRunningCrcs(crcs: { logBytes: number; logCrc: number; indexBytes: number; indexCrc: number }): boolean {
    if (this.seal !== null || this.size !== crcs.logBytes || indexEntryPosition(this.count) !== crcs.indexBytes) return false;
    this.logCrc = crcs.logCrc;
    this.indexCrc = crcs.indexCrc;
    return true;
  }

  /** Current log and index CRCs (for snapshots), computing them if unknown. */
  currentCrcs(): { logCrc: number; indexCrc: number } {
    if (this.seal !== null) {
      // Recorded by the seal: nothing to read.
      return { logCrc: this.seal.logCrc, indexCrc: crc32c(encodeSealTrailer(this.seal), this.seal.indexCrc) };
    }
    this.ensureOpen();
    if (this.logCrc === null) this.logCrc = fileCrc(this.ctx.io, this.logFd, this.size);
    if (this.indexCrc === null) this.indexCrc = fileCrc(this.ctx.io, this.indexFd, indexEntryPosition(this.count));
    return { logCrc: this.logCrc, indexCrc: this.indexCrc };
  }

  /**
   * Fsyncs (fdatasync) the log file. Safe whatever else happens to the segment: if its files are
   * closed (a sealed segment closed by the open-files bound, or by its log), a descriptor is
   * opened for this sync alone; if they are closed while the sync runs, the descriptors stay
   * open until it completes, so a descriptor number is never closed, and reused by another file,
   * under a running fsync. A removed segment (retention, deletion) has nothing left to make
   * durable, and resolves at once. Rejects with the operating system's error.
   */
  syncLog(): Promise<void> {
    return this.syncFile(this.logPath, 'log');
  }

  /** Fsyncs the index file; see {@link syncLog}. */
  syncIndex(): Promise<void> {
    return this.syncFile(this.indexPath, 'index');
  }

  private async syncFile(file: string, which: 'log' | 'index'): Promise<void> {
    if (this.removed) return;
    const io = this.ctx.io;
    let fd = which === 'log' ? this.logFd : this.indexFd;
    const temporary = fd < 0;
    if (temporary) fd = io.open(file, 'r');
    this.syncsInFlight += 1;
    try {
      await io.datasync(fd);
    } finally {
      this.syncsInFlight -= 1;
      if (temporary) io.close(fd);
      if (this.syncsInFlight === 0) this.closeDetached();
    }
  }

  // ------------------------------------------------------------------ reading

  /**
   * Appends to `out` the events from `fromOffset` up to (not including) `endOffset`, at most
   * `maxEvents` of them and, unless `out` is empty, no more payload bytes than `maxBytes`.
   * Returns the payload bytes added. Throws CORRUPT_DATA if the first record it would return
   * fails its checks; stops early (returning what it has) if a later one does.
   */
  read(fromOffset: number, endOffset: number, maxEvents: number, maxBytes: number, out: StoredEvent[]): number {
    const stop = Math.min(endOffset, this.nextOffset);
    if (fromOffset >= stop || maxEvents <= 0) return 0;
    try {
      return this.readChecked(fromOffset, stop, maxEvents, maxBytes, out);
    } catch (error) {
      // A failing disk read is an operating error like a failing write: one error type for callers.
      throw error instanceof EventBusError ? error : ioError(`reading ${this.logPath}`, error);
    }
  }

  private readChecked(fromOffset: number, stop: number, maxEvents: number, maxBytes: number, out: StoredEvent[]): number {
    for (;;) {
      const result = this.readFrom(fromOffset, stop, maxEvents, maxBytes, out);
      if (typeof result === 'number') return result;
      // The first record due fails its checks at the position the index gives. The index may be
      // stale (an entry that checks but points at another record's bytes): rebuild it from the
      // log once, which also finds and reports real damage, and try again.
      if (this.knownDamage(fromOffset) === undefined && !this.indexRebuilt) {
        this.repairIndex(`the record the index gives for offset ${fromOffset} fails its check (${result.problem})`);
        continue;
      }
      throw this.corruptRecord(result.position, fromOffset, result.problem);
    }
  }

  /**
   * {@link read}, once: returns the payload bytes added, or where and why the first record due
   * failed its checks (later failures end the read early instead).
   */
  private readFrom(fromOffset: number, stop: number, maxEvents: number, maxBytes: number, out: StoredEvent[]): number | { position: number; problem: string } {
    this.ensureOpen();
    const startLength = out.length;
    let offset = fromOffset;
    let position = this.positionOf(offset);
    // Where the records this read can return end: the index gives it exactly, so a read of a
    // few small events does not read (and allocate) megabytes.
    const end = this.endOfRecords(Math.min(stop, fromOffset + maxEvents), position);
    let bytes = 0;
    while (offset < stop && out.length - startLength < maxEvents) {
      const wantEvents = maxEvents - (out.length - startLength);
      const byLimits = Math.max(MIN_READ_BYTES, Math.min(MAX_READ_BYTES, maxBytes - bytes + wantEvents * RECORD_HEADER_BYTES));
      const want = Math.min(this.size - position, byLimits, Math.max(end - position, RECORD_HEADER_BYTES));
      let chunk = Buffer.allocUnsafe(want);
      let got = readFully(this.ctx.io, this.logFd, chunk, 0, want, position);
      let at = 0;
      let progressed = false;
      while (offset < stop && out.length - startLength < maxEvents) {
        let decoded = decodeRecord(chunk, at, got, MAX_RECORD_PAYLOAD_BYTES, offset);
        if (decoded === 'partial' && !progressed && got - at >= RECORD_HEADER_BYTES) {
          // One record larger than the read: read exactly that record.
          const need = RECORD_HEADER_BYTES + chunk.readUInt32LE(at + 4);
          if (need <= MAX_RECORD_PAYLOAD_BYTES + RECORD_HEADER_BYTES && position + need <= this.size) {
            chunk = Buffer.allocUnsafe(need);
            got = readFully(this.ctx.io, this.logFd, chunk, 0, need, position);
            at = 0;
            decoded = decodeRecord(chunk, 0, got, MAX_RECORD_PAYLOAD_BYTES, offset);
          }
        }
        if (decoded === 'partial' && progressed) break; // continue with a fresh read
        if (typeof decoded === 'string') {
          if (out.length > startLength) return bytes;
          return { position, problem: decoded };
        }
        const payloadBytes = decoded.payload.length;
        if (out.length > 0 && bytes + payloadBytes > maxBytes) return bytes;
        out.push({ offset, timestampMs: decoded.timestampMs, payload: decoded.payload });
        bytes += payloadBytes;
        at += decoded.size;
        position += decoded.size;
        offset += 1;
        progressed = true;
      }
    }
    return bytes;
  }

  /**
   * The log position where the record of `offset` starts (the end of the records before it), or
   * the end of the log if `offset` is past this segment. A hint for read sizes only: an entry
   * that fails its check gives the end of the log, and nothing is repaired here.
   */
  private endOfRecords(offset: number, from: number): number {
    if (offset >= this.nextOffset) return this.size;
    const position = this.readEntry(offset - this.baseOffset);
    return position > from ? position : this.size;
  }

  /** The record position of `offset`, from its index entry; repairs a damaged index once. */
  positionOf(offset: number): number {
    const relative = offset - this.baseOffset;
    assert(relative >= 0 && relative < this.count, `offset ${offset} is not in segment ${this.baseOffset}`);
    try {
      return this.positionFromIndex(offset, relative);
    } catch (error) {
      throw error instanceof EventBusError ? error : ioError(`reading ${this.indexPath}`, error);
    }
  }

  private positionFromIndex(offset: number, relative: number): number {
    this.ensureOpen();
    let position = this.readEntry(relative);
    if (position < 0 && this.knownDamage(offset) === undefined && !this.indexRebuilt) {
      this.repairIndex(`entry for offset ${offset} fails its check`);
      this.ensureOpen();
      position = this.readEntry(relative);
    }
    if (position < 0) {
      // A rebuilt index still has no valid entry: the log holds no record for this offset, and
      // the rebuild has reported the damage (a missing stretch of log).
      if (this.knownDamage(offset) !== undefined) throw this.corruptRecord(FILE_HEADER_BYTES, offset, 'missing');
      throw new EventBusError(ErrorCodes.CORRUPT_DATA, `index ${this.indexPath} is damaged at offset ${offset} and could not be rebuilt`, {
        context: { file: this.indexPath, offset },
      });
    }
    return position;
  }

  /** The reported damage that covers `offset`, if any. */
  private knownDamage(offset: number): Damage | undefined {
    return this.damage.find((d) => offset >= d.firstOffset && offset <= d.lastOffset);
  }

  private readEntry(relative: number): number {
    const entry = Buffer.allocUnsafe(INDEX_ENTRY_BYTES);
    const n = readFully(this.ctx.io, this.indexFd, entry, 0, INDEX_ENTRY_BYTES, indexEntryPosition(relative));
    if (n < INDEX_ENTRY_BYTES) return -1;
    const position = decodeIndexEntry(entry, 0, relative);
    return position >= FILE_HEADER_BYTES && position < this.size ? position : -1;
  }

  /**
   * The error for a damaged record, recording the damage (so that stats list it) the first time
   * it is met. Damage found by a rebuild or recovery is reported with its own position and reason.
   */
  private corruptRecord(position: number, offset: number, problem: string): EventBusError {
    let known = this.knownDamage(offset);
    if (known === undefined) {
      known = { file: this.logPath, position, firstOffset: offset, lastOffset: offset, reason: `record ${problem}` };
      this.damage.push(known);
    }
    const reason = `stored event at offset ${offset} is damaged: ${known.reason} in ${this.logPath} at byte ${known.position}`;
    this.ctx.logger.error({ file: this.logPath, position: known.position, offset, problem }, 'damaged record not returned');
    return new EventBusError(ErrorCodes.CORRUPT_DATA, reason, { context: { file: this.logPath, position: known.position, offset } });
  }

  // ------------------------------------------------------------------ files

  /** Opens the files if they were closed (sealed segments close theirs when idle). */
  private ensureOpen(): void {
    if (this.logFd >= 0) {
      if (this.seal !== null && !this.pinned) this.ctx.openFiles.touch(this);
      return;
    }
    const mode = this.seal !== null ? 'r' : 'r+';
    try {
      this.logFd = this.ctx.io.open(this.logPath, mode);
      this.indexFd = this.ctx.io.open(this.indexPath, mode);
    } catch (error) {
      this.closeFiles();
      throw ioError(`opening ${this.logPath}`, error);
    }
    if (this.seal !== null) this.ctx.openFiles.touch(this);
  }

  /**
   * Closes the files (they reopen on the next read). Descriptors an fsync is running on are
   * closed when it completes instead (see {@link syncLog}).
   */
  closeFiles(): void {
    for (const fd of [this.logFd, this.indexFd]) {
      if (fd < 0) continue;
      if (this.syncsInFlight > 0) this.detachedFds.push(fd);
      else this.ctx.io.close(fd);
    }
    this.logFd = -1;
    this.indexFd = -1;
    this.ctx.openFiles.forget(this);
  }

  private closeDetached(): void {
    for (const fd of this.detachedFds.splice(0)) this.ctx.io.close(fd);
  }

  /** Closes the files and removes them (retention, stream deletion). */
  remove(): void {
    this.removed = true;
    this.closeFiles();
    this.ctx.io.unlink(this.logPath);
    this.ctx.io.unlink(this.indexPath);
  }

  private writeAt(fd: number, buffers: Buffer[], position: number, what: string): void {
    const want = buffers.reduce((sum, b) => sum + b.length, 0);
    let written: number;
    try {
      written = this.ctx.io.writev(fd, buffers, position);
    } catch (error) {
      throw ioError(`${what} to ${fd === this.indexFd ? this.indexPath : this.logPath}`, error);
    }
    if (written !== want) {
      throw ioError(`${what} to ${fd === this.indexFd ? this.indexPath : this.logPath}`, new Error(`short write (${written} of ${want} bytes)`));
    }
  }

  // ------------------------------------------------------------------ sealed open and rebuild

  /** Checks a sealed segment without reading its records; returns the problem or null. */
  private checkSealed(): string | null {
    const io = this.ctx.io;
    try {
      this.logFd = io.open(this.logPath, 'r');
    } catch (error) {
      throw new EventBusError(ErrorCodes.CORRUPT_DATA, `segment file ${this.logPath} cannot be opened (${(error as NodeJS.ErrnoException).code ?? error})`, {
        context: { file: this.logPath },
      });
    }
    this.size = io.size(this.logFd);
    this.checkLogHeader();
    if (io.stat(this.indexPath) === null) return 'index file is missing';
    this.indexFd = io.open(this.indexPath, 'r');
    const indexSize = io.size(this.indexFd);
    const header = Buffer.alloc(FILE_HEADER_BYTES);
    readFully(io, this.indexFd, header, 0, FILE_HEADER_BYTES, 0);
    const decoded = decodeFileHeader(header, INDEX_MAGIC, INDEX_VERSION);
    if (typeof decoded === 'string') return `index ${decoded}`;
    if (decoded.baseOffset !== this.baseOffset) return `index names base offset ${decoded.baseOffset}`;
    if (indexSize !== sealedIndexBytes(this.count)) return `index is ${indexSize} bytes, expected ${sealedIndexBytes(this.count)}`;
    const trailer = Buffer.alloc(SEAL_TRAILER_BYTES);
    readFully(io, this.indexFd, trailer, 0, SEAL_TRAILER_BYTES, indexSize - SEAL_TRAILER_BYTES);
    const seal = decodeSealTrailer(trailer);
    if (seal === null) return 'seal trailer fails its check';
    if (seal.recordCount !== this.count) return `seal trailer counts ${seal.recordCount} records, expected ${this.count}`;
    if (seal.logBytes !== this.size) return `log is ${this.size} bytes, seal trailer says ${seal.logBytes}`;
    this.seal = seal;
    this.maxTimestampMs = seal.maxTimestampMs;
    return null;
  }

  /** Reads the log header; records damage (without failing) if it does not check. */
  private checkLogHeader(): void {
    const header = Buffer.alloc(FILE_HEADER_BYTES);
    const n = readFully(this.ctx.io, this.logFd, header, 0, FILE_HEADER_BYTES, 0);
    const decoded = decodeFileHeader(header.subarray(0, n), LOG_MAGIC, LOG_VERSION);
    if (typeof decoded !== 'string' && decoded.baseOffset === this.baseOffset) {
      this.createdMs = decoded.createdMs;
      return;
    }
    const reason = typeof decoded === 'string' ? `log ${decoded}` : `log header names base offset ${decoded.baseOffset}`;
    this.damage.push({ file: this.logPath, position: 0, firstOffset: this.baseOffset, lastOffset: this.baseOffset - 1, reason });
    this.ctx.logger.error({ file: this.logPath, position: 0, reason }, 'segment header is damaged');
  }

  /** Rebuilds a sealed segment's index from its log, into a new file renamed over the old. */
  private rebuildSealedIndex(reason: string): void {
    try {
      this.rebuildSealedIndexFiles(reason);
    } catch (error) {
      throw error instanceof EventBusError ? error : ioError(`rebuilding ${this.indexPath}`, error);
    }
  }

  private rebuildSealedIndexFiles(reason: string): void {
    const io = this.ctx.io;
    if (this.logFd < 0) this.logFd = io.open(this.logPath, 'r');
    this.size = io.size(this.logFd);
    const entries = Buffer.alloc(this.count * INDEX_ENTRY_BYTES);
    const { maxTimestampMs, end } = this.indexLog(FILE_HEADER_BYTES, this.size, this.baseOffset, this.nextOffset, entries, 0);
    if (end < this.size && this.damage.length === 0 && zeroFrom(io, this.logFd, end, this.size)) {
      // Sealed just before a crash that kept the seal but not the cut of the preallocated end:
      // finish the cut. (No snapshot can have linked it: they link only durable seals.)
      const fd = io.open(this.logPath, 'r+');
      try {
        io.truncate(fd, end);
        io.datasyncNow(fd);
      } finally {
        io.close(fd);
      }
      this.size = end;
    }
    const header = encodeFileHeader({ magic: INDEX_MAGIC, version: INDEX_VERSION, param: INDEX_ENTRY_BYTES, baseOffset: this.baseOffset, createdMs: this.createdMs });
    const seal: SealInfo = {
      recordCount: this.count,
      logBytes: this.size,
      maxTimestampMs,
      logCrc: fileCrc(io, this.logFd, this.size),
      indexCrc: crc32c(entries, crc32c(header)),
    };
    const temporary = `${this.indexPath}.rebuild`;
    if (io.stat(temporary) !== null) io.unlink(temporary);
    if (this.indexFd >= 0) io.close(this.indexFd);
    this.indexFd = -1;
    const fd = io.open(temporary, 'wx+');
    try {
      const trailer = encodeSealTrailer(seal);
      const want = header.length + entries.length + trailer.length;
      if (io.writev(fd, [header, entries, trailer], 0) !== want) throw new Error('short write');
      io.datasyncNow(fd);
    } finally {
      io.close(fd);
    }
    io.rename(temporary, this.indexPath);
    io.syncDirNow(this.dir);
    this.indexRebuilt = true;
    this.seal = seal;
    this.maxTimestampMs = maxTimestampMs;
    this.ctx.logger.warn({ file: this.indexPath, reason }, 'index rebuilt from its segment');
  }

  /**
   * Indexes the records of the log between `start` and `end`, expecting offsets `firstOffset`
   * up to `stopOffset` (exclusive), writing entries into `entries` (entry 0 = `firstOffset`,
   * starting at byte `entriesAt`). Damaged stretches are skipped by resynchronising on the next
   * valid record; the offsets they held get entries pointing at the damage, so reading them
   * reports it. Returns the newest timestamp seen.
   */
  private indexLog(start: number, end: number, firstOffset: number, stopOffset: number, entries: Buffer, entriesAt: number): { maxTimestampMs: number; end: number } {
    const io = this.ctx.io;
    let position = start;
    let expected = firstOffset;
    let maxTimestampMs = 0;
    const entryAt = (offset: number) => entriesAt + (offset - firstOffset) * INDEX_ENTRY_BYTES;
    while (expected < stopOffset) {
      const result = scanLog(io, this.logFd, position, end, expected, MAX_RECORD_PAYLOAD_BYTES, (offset, at) => {
        encodeIndexEntry(entries, entryAt(offset), offset - this.baseOffset, at);
      }, stopOffset - expected);
      maxTimestampMs = Math.max(maxTimestampMs, result.maxTimestampMs);
      expected = result.nextOffset;
      position = result.end;
      if (expected >= stopOffset) break;
      const damageAt = result.stop?.position ?? position;
      const problem = result.stop?.problem ?? 'missing';
      const found = findNextRecord(io, this.logFd, damageAt + 1, end, this.resyncBounds(expected, stopOffset - 1));
      const lastDamaged = found === null ? stopOffset - 1 : found.offset - 1;
      for (let offset = expected; offset <= lastDamaged; offset++) {
        encodeIndexEntry(entries, entryAt(offset), offset - this.baseOffset, Math.min(damageAt, Math.max(end - 1, FILE_HEADER_BYTES)));
      }
      this.reportDamage(damageAt, expected, lastDamaged, problem === 'missing' ? 'records missing (file too short)' : `record ${problem}`);
      if (found === null) break;
      position = found.position;
      expected = found.offset;
    }
    return { maxTimestampMs, end: position };
  }

  private resyncBounds(minOffset: number, maxOffset: number) {
    return {
      minOffset,
      maxOffset,
      minTimestampMs: Math.max(1, this.createdMs - RESYNC_TIMESTAMP_SLACK_MS),
      maxTimestampMs: Date.now() + RESYNC_TIMESTAMP_SLACK_MS,
      maxPayloadBytes: MAX_RECORD_PAYLOAD_BYTES,
    };
  }

  private reportDamage(position: number, firstOffset: number, lastOffset: number, reason: string): void {
    this.damage.push({ file: this.logPath, position, firstOffset, lastOffset, reason });
    this.ctx.logger.error({ file: this.logPath, position, firstOffset, lastOffset, reason }, 'segment is damaged: records kept on disk, not returned');
  }

  /** Rebuilds the index after an entry failed its check during a read. */
  private repairIndex(reason: string): void {
    if (this.seal !== null) {
      this.closeFiles();
      this.rebuildSealedIndex(reason);
      this.closeFiles();
      return;
    }
    const entries = Buffer.alloc(this.count * INDEX_ENTRY_BYTES);
    this.indexLog(FILE_HEADER_BYTES, this.size, this.baseOffset, this.nextOffset, entries, 0);
    this.writeAt(this.indexFd, [entries], FILE_HEADER_BYTES, 'index rebuild');
    this.indexRebuilt = true;
    this.indexCrc = null;
    this.ctx.logger.warn({ file: this.indexPath, reason }, 'index rebuilt from its segment');
  }

  // ------------------------------------------------------------------ tail recovery

  private recoverTail(nowMs: number): void {
    const io = this.ctx.io;
    this.logFd = io.open(this.logPath, 'r+');
    let logSize = io.size(this.logFd);
    if (logSize <= FILE_HEADER_BYTES && this.headerProblem() !== null) {
      // Torn while being created: no record was ever written to it, so nothing is lost.
      this.createdMs = nowMs;
      const header = encodeFileHeader({ magic: LOG_MAGIC, version: LOG_VERSION, param: 0, baseOffset: this.baseOffset, createdMs: nowMs });
      io.truncate(this.logFd, 0);
      this.writeAt(this.logFd, [header], 0, 'log header');
      io.datasyncNow(this.logFd);
      logSize = FILE_HEADER_BYTES;
      this.ctx.logger.warn({ file: this.logPath }, 'rewrote the header of a segment torn while being created');
    } else {
      this.checkLogHeader();
    }

    const indexState = this.openIndexForRecovery(logSize);
    if (this.seal !== null) return;

    // Trust the index up to the newest entry whose record checks; validate what follows.
    const trusted = this.findTrustedEntry(indexState.entries, logSize);
    let expected = this.baseOffset + trusted.count;
    let position = trusted.end;
    this.maxTimestampMs = trusted.timestampMs;
    // Entries for the records validated here, in one growing buffer (a scan of a whole 64 MiB
    // segment of small records makes hundreds of thousands of them).
    let fresh = Buffer.allocUnsafe(64 * INDEX_ENTRY_BYTES);
    let freshCount = 0;
    const pushEntry = (offset: number, at: number) => {
      if ((freshCount + 1) * INDEX_ENTRY_BYTES > fresh.length) {
        const bigger = Buffer.allocUnsafe(fresh.length * 2);
        fresh.copy(bigger, 0, 0, freshCount * INDEX_ENTRY_BYTES);
        fresh = bigger;
      }
      encodeIndexEntry(fresh, freshCount * INDEX_ENTRY_BYTES, offset - this.baseOffset, at);
      freshCount += 1;
    };
    for (;;) {
      const result = scanLog(io, this.logFd, position, logSize, expected, MAX_RECORD_PAYLOAD_BYTES, pushEntry);
      this.maxTimestampMs = Math.max(this.maxTimestampMs, result.maxTimestampMs);
      expected = result.nextOffset;
      position = result.end;
      if (result.stop === null) break;
      const damageAt = result.stop.position;
      const bound = expected + Math.floor((logSize - damageAt) / RECORD_HEADER_BYTES);
      if (zeroFrom(io, this.logFd, damageAt, logSize)) {
        // The preallocated, never-written end of the segment: the data ends here.
        position = damageAt;
        break;
      }
      const found = findNextRecord(io, this.logFd, damageAt + 1, logSize, this.resyncBounds(expected, bound));
      if (found === null && this.ctx.afterCrash === false) {
        // Nothing valid follows, but the store was closed cleanly: nothing can be torn, so this
        // is damage to the last (acknowledged) record. Keep it, report it, append after it.
        pushEntry(expected, damageAt);
        this.reportDamage(damageAt, expected, expected, `record ${result.stop.problem} at the end of an active segment after a clean stop`);
        expected += 1;
        position = logSize;
        break;
      }
      if (found === null) {
        // Nothing valid follows: a torn write that was never acknowledged. Cut it off (and
        // extend the file again: the cut part comes back as zeros).
        io.truncate(this.logFd, damageAt);
        io.datasyncNow(this.logFd);
        this.ctx.logger.warn(
          { file: this.logPath, position: damageAt, bytes: logSize - damageAt, problem: result.stop.problem },
          'truncated the torn tail of an active segment',
        );
        logSize = damageAt;
        position = damageAt;
        break;
      }
      for (let offset = expected; offset < found.offset; offset++) pushEntry(offset, damageAt);
      this.reportDamage(damageAt, expected, found.offset - 1, `record ${result.stop.problem}`);
      expected = found.offset;
      position = found.position;
    }
    this.size = position;
    this.allocated = logSize;
    this.count = expected - this.baseOffset;
    assert(this.count === trusted.count + freshCount, 'recovered index entries do not match records');
    if (freshCount > 0) this.writeAt(this.indexFd, [fresh.subarray(0, freshCount * INDEX_ENTRY_BYTES)], indexEntryPosition(trusted.count), 'index recovery');
    const indexBytes = io.size(this.indexFd);
    if (indexBytes !== indexEntryPosition(this.count)) io.truncate(this.indexFd, indexEntryPosition(this.count));
    if (indexState.problem !== null) {
      this.ctx.logger.warn({ file: this.indexPath, reason: indexState.problem }, 'index rebuilt from its segment');
    } else if (freshCount > 0 || indexBytes !== indexEntryPosition(this.count)) {
      // Normal after a crash (the active index is not fsynced), but an operator is told.
      this.ctx.logger.info(
        { file: this.indexPath, entriesAdded: freshCount, entriesTrusted: trusted.count, indexBytesBefore: indexBytes },
        'index brought up to date from its segment',
      );
    }
    if (trusted.count === 0) this.indexRebuilt = true;
  }

  private headerProblem(): string | null {
    const header = Buffer.alloc(FILE_HEADER_BYTES);
    const n = readFully(this.ctx.io, this.logFd, header, 0, FILE_HEADER_BYTES, 0);
    const decoded = decodeFileHeader(header.subarray(0, n), LOG_MAGIC, LOG_VERSION);
    return typeof decoded === 'string' ? decoded : null;
  }

  /**
   * Opens (or recreates) the index of the last segment. Detects a sealed segment. Returns how
   * many whole entries the file holds and, when it had to be recreated, why.
   */
  private openIndexForRecovery(logSize: number): { entries: number; problem: string | null } {
    const io = this.ctx.io;
    const header = encodeFileHeader({ magic: INDEX_MAGIC, version: INDEX_VERSION, param: INDEX_ENTRY_BYTES, baseOffset: this.baseOffset, createdMs: this.createdMs });
    if (io.stat(this.indexPath) === null) {
      this.indexFd = io.open(this.indexPath, 'wx+');
      this.writeAt(this.indexFd, [header], 0, 'index header');
      return { entries: 0, problem: 'index file is missing' };
    }
    this.indexFd = io.open(this.indexPath, 'r+');
    const indexSize = io.size(this.indexFd);
    const existing = Buffer.alloc(FILE_HEADER_BYTES);
    readFully(io, this.indexFd, existing, 0, FILE_HEADER_BYTES, 0);
    const decoded = decodeFileHeader(existing, INDEX_MAGIC, INDEX_VERSION);
    if (typeof decoded === 'string' || decoded.baseOffset !== this.baseOffset) {
      io.truncate(this.indexFd, 0);
      this.writeAt(this.indexFd, [header], 0, 'index header');
      return { entries: 0, problem: typeof decoded === 'string' ? `index ${decoded}` : 'index names another base offset' };
    }
    const trailerAt = indexSize - SEAL_TRAILER_BYTES;
    if (trailerAt >= FILE_HEADER_BYTES && (trailerAt - FILE_HEADER_BYTES) % INDEX_ENTRY_BYTES === 0) {
      const trailer = Buffer.alloc(SEAL_TRAILER_BYTES);
      readFully(io, this.indexFd, trailer, 0, SEAL_TRAILER_BYTES, trailerAt);
      const seal = decodeSealTrailer(trailer);
      if (seal !== null && seal.logBytes === logSize && sealedIndexBytes(seal.recordCount) === indexSize) {
        // Sealed, but the crash came before the next segment existed.
        this.seal = seal;
        this.sealDurable = true;
        this.count = seal.recordCount;
        this.size = logSize;
        this.maxTimestampMs = seal.maxTimestampMs;
        return { entries: seal.recordCount, problem: null };
      }
    }
    return { entries: Math.floor((indexSize - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES), problem: null };
  }

  /** The newest index entry (among the last few) whose record checks: recovery trusts up to it. */
  private findTrustedEntry(entries: number, logSize: number): { count: number; end: number; timestampMs: number } {
    const io = this.ctx.io;
    const look = Math.min(entries, RECOVERY_LOOKBACK_ENTRIES);
    if (look > 0) {
      const first = entries - look;
      const block = Buffer.alloc(look * INDEX_ENTRY_BYTES);
      const n = readFully(io, this.indexFd, block, 0, block.length, indexEntryPosition(first));
      const header = Buffer.alloc(RECORD_HEADER_BYTES);
      for (let relative = entries - 1; relative >= first; relative--) {
        const at = (relative - first) * INDEX_ENTRY_BYTES;
        if (at + INDEX_ENTRY_BYTES > n) continue;
        const position = decodeIndexEntry(block, at, relative);
        if (position < FILE_HEADER_BYTES || position + RECORD_HEADER_BYTES > logSize) continue;
        readFully(io, this.logFd, header, 0, RECORD_HEADER_BYTES, position);
        const size = RECORD_HEADER_BYTES + header.readUInt32LE(4);
        if (size > RECORD_HEADER_BYTES + MAX_RECORD_PAYLOAD_BYTES || position + size > logSize) continue;
        const record = Buffer.allocUnsafe(size);
        readFully(io, this.logFd, record, 0, size, position);
        const decoded = decodeRecord(record, 0, size, MAX_RECORD_PAYLOAD_BYTES, this.baseOffset + relative);
        if (typeof decoded === 'string') continue;
        return { count: relative + 1, end: position + size, timestampMs: decoded.timestampMs };
      }
    }
    return { count: 0, end: FILE_HEADER_BYTES, timestampMs: 0 };
  }
}
