/**
 * A segment in use: a `.log` file of records and its `.index` (segment-files.ts), appended to
 * while active, frozen and then sealed when full, read through its index.
 *
 * A segment is either active (the last of its stream: appended to, its files open read-write)
 * or sealed (never written again, so snapshots may hard-link its files). Sealing appends a
 * trailer to the index recording the log's size and CRC, and happens only once the records it
 * seals are durable, so that recovery may trust a seal without reading the records. Sealed
 * segments close their files when idle (fs/open-files.ts) and reopen them on use.
 *
 * Opening a segment from disk, and the repairs that may need, is segment-recovery.ts; what the
 * files hold is decided by segment-check.ts, which `eventbus verify` shares.
 */
import { assert, ErrorCodes, EventBusError, ioError } from '../../errors.js';
import { crc32c } from '../format/crc.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import { CURRENT_RECORD_VERSION, decodeRecord, MAX_RECORD_LENGTH, type RecordVersion } from '../format/record.js';
import { encodeSealTrailer, INDEX_ENTRY_BYTES, indexEntryPosition, sealedIndexBytes, type SealInfo } from '../format/offset-index.js';
import { DurableFile } from '../fs/durable-file.js';
import type { FileIO } from '../fs/io.js';
import type { OpenFiles } from '../fs/open-files.js';
import type { Logger } from '../logger.js';
import { IndexFile } from './index-file.js';
import { LogFile } from './log-file.js';
import { readRecords, type RecordFailure, type StoredEvent } from './record-reader.js';
import { batchDamage, indexRecords, logDamage, type BatchBoundary, type Damage } from './segment-check.js';
import { SegmentDamage } from './segment-damage.js';
import { segmentPaths, type SegmentPaths } from './segment-files.js';
import { rebuildSealedIndex } from './segment-repair.js';
import type { RecoveryNotes } from './recovery-notes.js';
import type { SegmentCrcs } from '../crc-checkpoint.js';

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
   * False when the store was closed cleanly (no LOCK was left behind, or one beside the clean
   * close's crc-checkpoint: an open killed before it took any write): nothing can be torn then,
   * so a record that fails its check at the end of an active segment is damage, kept and
   * reported, not a torn write to cut off. Default true (recovery after a crash).
   */
  afterCrash?: boolean;
  /** Told what recovery repairs (set by the engine while it opens a store; observer.ts). */
  recovery?: RecoveryNotes;
  /**
   * What the last clean close recorded of the active segment of the stream being opened
   * (crc-checkpoint.ts; set by the engine while it opens that stream): how many records it held,
   * should its log have lost some since.
   */
  checkpoint?: SegmentCrcs;
}

/**
 * How a snapshot takes one file of a segment (tools/snapshot.ts): a sealed file is linked (its
 * size and CRC known; `durable` false while its seal may not be on disk yet); anything else is
 * copied up to `length`, followed by `suffix` (the trailer of a seal not yet written).
 */
export type FileCapture =
  | { kind: 'link'; path: string; size: number; crc: number; durable: boolean }
  | { kind: 'copy'; path: string; length: number; suffix?: Buffer };

/** A segment as recovery found it (segment-recovery.ts). */
export interface RecoveredSegment {
  /** The format of its records, from the log header. */
  version: RecordVersion;
  count: number;
  /** Bytes of the log holding data; `allocated` includes preallocated zeros after them. */
  size: number;
  allocated: number;
  maxTimestampMs: number;
  createdMs: number;
  seal: SealInfo | null;
  damage: Damage[];
  /** True when the index was written from the log at open: it is known to be right. */
  indexRebuilt: boolean;
  /** True when recovery rewrote the log's header: checksums recorded before no longer apply. */
  headerRewritten?: boolean;
  /** The open log of an active segment (null: closed). */
  log: DurableFile | null;
  index: IndexFile;
}

export class Segment {
  readonly baseOffset: number;
  readonly paths: SegmentPaths;
  /** The format of its records (format/record.ts): 2 for every segment created now. */
  readonly version: RecordVersion;
  /** Bytes of the `.log` holding valid data (header and records). */
  size = FILE_HEADER_BYTES;
  /** Records in the segment. */
  count = 0;
  maxTimestampMs = 0;
  createdMs = 0;
  seal: SealInfo | null = null;
  readonly damage: SegmentDamage;
  /** True once the seal is known to be on disk (fsynced after writing, or found at open). */
  private sealDurable = false;
  /** Set when frozen: no more appends, seal computed but not yet written (see {@link freeze}). */
  private frozen: SealInfo | null = null;
  /** While frozen and not yet sealed, its files stay open outside the open-files bound. */
  private pinned = false;
  private readonly log: LogFile;
  private readonly index: IndexFile;
  /** Set once the index has been rebuilt from the log since open: it is then known to be right. */
  private indexRebuilt = false;
  /** Set when the files were removed (retention, deletion): nothing is left to sync or read. */
  private removed = false;
  /** Set when recovery rewrote the log header: a clean-close checkpoint's CRCs are stale. */
  private headerRewritten = false;

  private constructor(private readonly ctx: SegmentContext, dir: string, baseOffset: number, version: RecordVersion, index?: IndexFile) {
    this.baseOffset = baseOffset;
    this.version = version;
    this.paths = segmentPaths(dir, baseOffset);
    this.log = new LogFile(ctx.io, this.paths.log, ctx.preallocateStepBytes ?? 0);
    this.index = index ?? new IndexFile(ctx.io, this.paths.index, baseOffset);
    this.damage = new SegmentDamage(this.paths.log, ctx.logger);
  }

  /** Offset the next record of this segment would have. */
  get nextOffset(): number {
    return this.baseOffset + this.count;
  }

  /** Size of the index file as it should be now. */
  get indexSize(): number {
    return this.seal !== null ? sealedIndexBytes(this.count) : indexEntryPosition(this.count);
  }

  /** True while frozen and not yet sealed: retention must leave it alone. */
  get isPinned(): boolean {
    return this.pinned;
  }

  /** Creates the files of a new, empty active segment (headers written, not yet fsynced). */
  static create(ctx: SegmentContext, dir: string, baseOffset: number, nowMs: number): Segment {
    const segment = new Segment(ctx, dir, baseOffset, CURRENT_RECORD_VERSION);
    segment.createdMs = nowMs;
    try {
      segment.log.create(baseOffset, nowMs);
      segment.index.create(nowMs);
    } catch (error) {
      segment.closeFiles();
      throw error instanceof EventBusError ? error : ioError(`creating ${segment.paths.log}`, error);
    }
    return segment;
  }

  /** A segment opened by recovery, in the state it found (its files are on disk). */
  static recovered(ctx: SegmentContext, dir: string, baseOffset: number, found: RecoveredSegment): Segment {
    const segment = new Segment(ctx, dir, baseOffset, found.version, found.index);
    segment.count = found.count;
    segment.size = found.size;
    segment.maxTimestampMs = found.maxTimestampMs;
    segment.createdMs = found.createdMs;
    segment.seal = found.seal;
    segment.damage.add(found.damage);
    segment.indexRebuilt = found.indexRebuilt;
    segment.headerRewritten = found.headerRewritten === true;
    // Found on disk (after a crash, made durable first: Engine.open).
    segment.log.adopt(found.log, found.allocated, found.size);
    segment.sealDurable = found.seal !== null;
    return segment;
  }

  // ------------------------------------------------------------------ writing

  /**
   * Appends `count` encoded records, the first of them holding `firstOffset`, and their index
   * entries at the end of this active segment. Throws DISK_FULL or IO_ERROR; after a failure the
   * segment's state is unchanged and the caller must stop appending to it.
   */
  append(firstOffset: number, logChunk: Buffer, indexChunk: Buffer, count: number, maxTimestampMs: number): void {
    assert(this.seal === null && this.frozen === null, 'append to a sealed or frozen segment');
    assert(firstOffset === this.nextOffset, () => `append at offset ${firstOffset} to a segment whose next offset is ${this.nextOffset}`);
    assert(indexChunk.length === count * INDEX_ENTRY_BYTES, 'index chunk does not match record count');
    this.openLog();
    try {
      this.log.append(logChunk, this.size);
      this.index.append(indexChunk, this.count);
    } catch (error) {
      // Best effort: cut off whatever part of the failed write landed, so that nothing
      // unacknowledged survives as a valid record. Recovery would cut a torn part anyway.
      try {
        this.log.cutTo(this.size);
        this.index.truncateTo(this.count);
      } catch {
        // The disk is failing; recovery on reopen handles the tail.
      }
      throw error;
    }
    this.size += logChunk.length;
    this.count += count;
    if (maxTimestampMs > this.maxTimestampMs) this.maxTimestampMs = maxTimestampMs;
  }

  /** Cuts the preallocated zeros off the end of the active log (clean close). */
  trimPreallocation(): void {
    if (this.log.isOpen) this.log.trim(this.size);
  }

  /**
   * Takes no more appends: the seal is computed now (log and index CRCs) but written only by
   * {@link finishSeal}, once the records it seals are durable. Until then the files stay open.
   */
  freeze(): void {
    assert(this.seal === null && this.frozen === null, 'segment frozen twice');
    const { logCrc, indexCrc } = this.currentCrcs();
    this.frozen = { recordCount: this.count, logBytes: this.size, maxTimestampMs: this.maxTimestampMs, logCrc, indexCrc, damagedCount: 0, damagePosition: 0 };
    this.pinned = true;
  }

  /** The seal a frozen segment will have once written (null otherwise). */
  get pendingSeal(): SealInfo | null {
    return this.seal === null ? this.frozen : null;
  }

  /**
   * Seals a frozen segment: once its records are durable, cuts the log back to its data and
   * appends the seal trailer to its index, then makes both durable. A seal on disk thereby
   * proves its records are. Stops early if `abandoned()` (the log was closed or deleted
   * meanwhile: recovery seals it on the next open). Throws DISK_FULL or IO_ERROR.
   */
  async finishSeal(abandoned: () => boolean): Promise<void> {
    const step = async (what: string, work: () => Promise<void>) => {
      try {
        await work();
      } catch (error) {
        throw error instanceof EventBusError ? error : ioError(`fsync of ${what}`, error);
      }
    };
    try {
      await step(this.paths.log, () => this.syncLog());
      if (abandoned()) return;
      this.writeSeal();
      await step(this.paths.log, () => this.syncLog());
      await step(this.paths.index, () => this.syncIndex());
      this.sealDurable = true;
    } finally {
      this.pinned = false;
      this.closeFiles();
    }
  }

  private writeSeal(): void {
    const seal = this.frozen;
    assert(seal !== null && this.seal === null, 'seal written twice, or for a segment not frozen');
    assert(this.log.durableBytes >= seal.logBytes, 'seal written before the records it seals are durable');
    this.openLog();
    try {
      this.log.trim(this.size);
    } catch (error) {
      throw ioError(`sealing ${this.paths.log}`, error);
    }
    this.index.writeSeal(seal, this.count);
    this.seal = seal;
  }

  /** The running CRCs of an active segment, if known (for the clean-close checkpoint). */
  runningCrcs(): { logBytes: number; logCrc: number; indexBytes: number; indexCrc: number } | null {
    if (this.seal !== null || this.log.crc === null || this.index.crc === null) return null;
    return { logBytes: this.size, logCrc: this.log.crc, indexBytes: indexEntryPosition(this.count), indexCrc: this.index.crc };
  }

  /** Takes running CRCs recorded at a clean close, if the segment still has those sizes. */
  restoreRunningCrcs(crcs: { logBytes: number; logCrc: number; indexBytes: number; indexCrc: number }): boolean {
    if (this.seal !== null || this.headerRewritten || this.size !== crcs.logBytes || indexEntryPosition(this.count) !== crcs.indexBytes) return false;
    this.log.crc = crcs.logCrc;
    this.index.crc = crcs.indexCrc;
    return true;
  }

  /** Current log and index CRCs, computing them if unknown. */
  private currentCrcs(): { logCrc: number; indexCrc: number } {
    if (this.seal !== null) {
      // Recorded by the seal: nothing to read.
      return { logCrc: this.seal.logCrc, indexCrc: crc32c(encodeSealTrailer(this.seal), this.seal.indexCrc) };
    }
    this.openLog();
    return { logCrc: this.log.crcOf(this.size), indexCrc: this.index.crcOf(this.count) };
  }

  /**
   * Fsyncs (fdatasync) the log file. Safe whatever else happens to the segment: if its files are
   * closed (idle and sealed), a descriptor is opened for this sync alone; if they are closed
   * while it runs, the descriptor stays open until it completes (fs/durable-file.ts). A removed
   * segment has nothing left to make durable, and resolves at once.
   */
  async syncLog(): Promise<void> {
    if (!this.removed) await this.log.sync(this.size);
  }

  /** {@link syncLog} on the calling thread; false if it cannot at once (the log is closed): sync it the usual way. */
  syncLogNow(): boolean {
    return this.removed || this.log.syncNow(this.size);
  }

  /** Fsyncs the index file; see {@link syncLog}. */
  async syncIndex(): Promise<void> {
    if (!this.removed) await this.index.sync();
  }

  // ------------------------------------------------------------------ snapshots

  /**
   * How a snapshot at `visible` (the first offset it leaves out) takes this segment's files;
   * `last` is true when the segment holds that point, so later segments are left out.
   */
  capture(visible: number): { files: FileCapture[]; last: boolean } {
    if (this.seal !== null && this.nextOffset <= visible) {
      const crcs = this.currentCrcs();
      return {
        last: false,
        files: [
          { kind: 'link', path: this.paths.log, size: this.size, crc: crcs.logCrc, durable: this.sealDurable },
          { kind: 'link', path: this.paths.index, size: this.indexSize, crc: crcs.indexCrc, durable: this.sealDurable },
        ],
      };
    }
    const pending = this.pendingSeal;
    if (pending !== null && this.nextOffset <= visible) {
      // Frozen, its seal not yet written (rolled a moment ago): copied, sealed in the copy.
      return {
        last: false,
        files: [
          { kind: 'copy', path: this.paths.log, length: this.size },
          { kind: 'copy', path: this.paths.index, length: indexEntryPosition(this.count), suffix: encodeSealTrailer(pending) },
        ],
      };
    }
    // The segment holding the point in time: copied up to the visible offset's record.
    const logLength = visible >= this.nextOffset ? this.size : visible <= this.baseOffset ? FILE_HEADER_BYTES : this.positionOf(visible);
    const indexLength = indexEntryPosition(Math.max(0, Math.min(visible, this.nextOffset) - this.baseOffset));
    return { last: true, files: [{ kind: 'copy', path: this.paths.log, length: logLength }, { kind: 'copy', path: this.paths.index, length: indexLength }] };
  }

  // ------------------------------------------------------------------ reading

  /**
   * Appends to `out` the events from `fromOffset` up to (not including) `endOffset`, at most
   * `maxEvents` of them and, unless `out` is empty, no more payload bytes than `maxBytes`.
   * Returns the payload bytes added. A batch is returned only if its records from the first one
   * returned up to its batch end are all intact (docs/storage-format.md, "Batches"): a read that
   * would end inside a batch checks the records after it up to the batch end, and if one of them
   * is damaged the batch's records are left out (a page may thus end early) and the damage is
   * recorded, its whole batch with it. `endOffset` must be a batch boundary (a stream's visible or
   * written end: visibility moves batch by batch); no record at or past it is read. Throws
   * CORRUPT_DATA if the first record it would return is damaged, or its batch is.
   */
  read(fromOffset: number, endOffset: number, maxEvents: number, maxBytes: number, out: StoredEvent[]): number {
    const end = Math.min(endOffset, this.nextOffset);
    if (fromOffset >= end || maxEvents <= 0) return 0;
    try {
      for (;;) {
        // Offsets known to be damaged are never returned, even when their records pass their
        // checks (a batch cut short before its end, kept after a clean stop: no reader may see part
        // of a batch). The first one due throws; a later one ends the read before it.
        const known = this.damage.at(fromOffset);
        if (known !== undefined) throw this.damage.error(known.position, fromOffset, known.reason);
        const stop = this.damage.isEmpty ? end : Math.min(end, this.damage.firstAfter(fromOffset));
        const log = this.openLog();
        const position = this.positionOf(fromOffset);
        // Where the records this read can return end: the index gives it exactly, so a read of a
        // few small events does not read (and allocate) megabytes.
        const endHint = this.endOfRecords(Math.min(stop, fromOffset + maxEvents), position);
        const run = { position, fromOffset, stopOffset: stop, stopEndsBatch: stop === end, endHint, logBytes: this.size, maxEvents, maxBytes, version: this.version };
        const startLength = out.length;
        const result = readRecords(log, run, out);
        if (typeof result === 'number') return result;
        if (result.offset === fromOffset) {
          // The first record due fails its checks at the position the index gives. The index may
          // be stale (an entry that checks but points at another record's bytes): rebuild it from
          // the log once, which also finds and reports real damage, and try again.
          if (this.damage.at(fromOffset) === undefined && !this.indexRebuilt) {
            this.repairIndex(`the record the index gives for offset ${fromOffset} fails its check (${result.problem})`);
            continue;
          }
        }
        // A record read in order after a good one fails (or the batch runs into known damage):
        // damage of the log itself, made damage of its whole batch.
        this.recordBatchDamage(result, fromOffset, position);
        if (out.length > startLength) return result.bytes;
        const damage = this.damage.at(fromOffset);
        assert(damage !== undefined, () => `damage of the batch of offset ${fromOffset} was not recorded`);
        throw this.damage.error(damage.position, fromOffset, damage.reason);
      }
    } catch (error) {
      // A failing disk read is an operating error like a failing write: one error type for callers.
      throw error instanceof EventBusError ? error : ioError(`reading ${this.paths.log}`, error);
    }
  }

  /**
   * Records the damage a read from `fromOffset` (at `fromPosition`) found, by the batch rule of
   * segment-check.ts (from the last batch end before the failing record up to it), unless it is
   * known already.
   */
  private recordBatchDamage(failure: RecordFailure, fromOffset: number, fromPosition: number): void {
    const unended = failure.problem === 'unended';
    const failing = unended ? failure.offset - 1 : failure.offset;
    if (this.damage.at(failing) !== undefined) return;
    const boundary = failure.boundary ?? this.batchStartBelow(fromOffset, fromPosition);
    const position = unended ? (this.damage.at(failure.offset)?.position ?? failure.position) : failure.position;
    const reason = unended ? `its batch runs into the damage at offset ${failure.offset}` : `record ${failure.problem}`;
    const found = batchDamage(this.paths.log, boundary, position, failing, failing, reason);
    logDamage(this.ctx.logger, found);
    this.damage.add([found]);
  }

  /**
   * Where the batch of the record of `offset` (at `position`) begins, when no record from there to
   * the damage a read found ends a batch: just after the nearest record below it that ends a batch
   * or cannot be read (damage of its own, found when read), else the segment's start. Reads the
   * records below one at a time through the index: at most a batch's records, and only when
   * damage is found.
   */
  private batchStartBelow(offset: number, position: number): BatchBoundary {
    let above = position;
    for (let o = offset - 1; o >= this.baseOffset; o--) {
      const at = this.damage.at(o) === undefined ? this.index.entry(o - this.baseOffset, this.size) : -1;
      if (at < FILE_HEADER_BYTES || at >= above) return { offset: o + 1, position: above };
      const chunk = Buffer.allocUnsafe(above - at);
      const got = this.openLog().read(chunk, 0, chunk.length, at);
      const decoded = decodeRecord(chunk, 0, got, MAX_RECORD_LENGTH, o, this.version);
      if (typeof decoded === 'string' || decoded.batchEnd || decoded.size !== chunk.length) return { offset: o + 1, position: above };
      above = at;
    }
    return { offset: this.baseOffset, position: FILE_HEADER_BYTES };
  }

  /**
   * The log position where the record of `offset` starts (the end of the records before it), or
   * the end of the log if `offset` is past this segment. A hint for read sizes only: an entry
   * that fails its check gives the end of the log, and nothing is repaired here.
   */
  private endOfRecords(offset: number, from: number): number {
    if (offset >= this.nextOffset) return this.size;
    const position = this.index.entry(offset - this.baseOffset, this.size);
    return position > from ? position : this.size;
  }

  /** The record position of `offset`, from its index entry; repairs a damaged index once. */
  private positionOf(offset: number): number {
    const relative = offset - this.baseOffset;
    assert(relative >= 0 && relative < this.count, () => `offset ${offset} is not in segment ${this.baseOffset}`);
    try {
      this.openLog();
      let position = this.index.entry(relative, this.size);
      if (position < 0 && this.damage.at(offset) === undefined && !this.indexRebuilt) {
        this.repairIndex(`entry for offset ${offset} fails its check`);
        this.openLog();
        position = this.index.entry(relative, this.size);
      }
      if (position >= 0) return position;
    } catch (error) {
      throw error instanceof EventBusError ? error : ioError(`reading ${this.paths.index}`, error);
    }
    // A rebuilt index still has no valid entry: the log holds no record for this offset, and
    // the rebuild has reported the damage (a missing stretch of log).
    if (this.damage.at(offset) !== undefined) throw this.damage.error(FILE_HEADER_BYTES, offset, 'missing');
    throw new EventBusError(ErrorCodes.CORRUPT_DATA, `index ${this.paths.index} is damaged at offset ${offset} and could not be rebuilt`, {
      context: { file: this.paths.index, offset },
    });
  }

  /** Rebuilds the index from the log after an entry failed its check during a read. */
  private repairIndex(reason: string): void {
    const { io, logger } = this.ctx;
    if (this.seal !== null) {
      this.closeFiles();
      const rebuilt = rebuildSealedIndex(io, logger, this.paths, this.count, this.version, this.createdMs, this.damage.isEmpty, reason);
      this.size = rebuilt.logBytes;
      this.seal = rebuilt.seal;
      this.maxTimestampMs = rebuilt.seal.maxTimestampMs;
      this.damage.add(rebuilt.damage);
      this.indexRebuilt = true;
      return;
    }
    const found = indexRecords(io, this.openLog().fd, this.paths, this.size, this.count, this.createdMs, this.version);
    for (const damage of found.damage) logDamage(logger, damage);
    this.damage.add(found.damage);
    this.index.rewriteEntries(found.entries);
    this.indexRebuilt = true;
    logger.warn({ file: this.paths.index, reason }, 'index rebuilt from its segment');
  }

  // ------------------------------------------------------------------ files

  /** The log, opened (with the index) if it was closed; sealed segments count against the bound. */
  private openLog(): DurableFile {
    const wasOpen = this.log.isOpen;
    const mode = this.seal !== null ? 'r' : 'r+';
    let file: DurableFile;
    try {
      file = this.log.open(mode);
      this.index.open(mode);
    } catch (error) {
      this.closeFiles();
      throw wasOpen ? error : ioError(`opening ${this.paths.log}`, error);
    }
    if (this.seal !== null && !this.pinned) this.ctx.openFiles.touch(this);
    return file;
  }

  /** Closes the files (they reopen on the next read); running fsyncs keep theirs until done. */
  closeFiles(): void {
    this.log.close();
    this.index.close();
    this.ctx.openFiles.forget(this);
  }

  /** Closes the files and removes them (retention, stream deletion). */
  remove(): void {
    this.removed = true;
    this.closeFiles();
    this.ctx.io.unlink(this.paths.log);
    this.ctx.io.unlink(this.paths.index);
  }
}
