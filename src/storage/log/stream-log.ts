/**
 * A stream's log: the ordered list of its segments, the last one active.
 *
 * Appends are assigned their offsets and timestamps at once, queued, and written by
 * {@link StreamLog.flush}, which the engine calls once per event-loop turn for every stream with
 * queued appends: one write per stream per turn, however many appends arrived. The written batch
 * then asks the group commit for durability; its appends resolve when the fsync policy is met.
 *
 * Three offsets describe a log: `nextOffset` (the next one to assign), `writtenOffset` (everything
 * below is in the page cache) and `visibleOffset` (everything below may be read: durable under the
 * `always` policy, written under the others). Readers never see past `visibleOffset`, so no reader
 * is ever handed an event that a crash could take back.
 */
import path from 'node:path';
import { assert, ErrorCodes, EventBusError, ioError } from '../../errors.js';
import type { SegmentCrcs } from '../crc-checkpoint.js';
import { DurableWriter, UNSETTLED, type DurableWriterContext, type PendingChange, type UnreportedFailure } from '../fs/durable-writer.js';
import type { SyncTarget } from '../fs/group-commit.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import { INDEX_ENTRY_BYTES, encodeIndexEntry } from '../format/offset-index.js';
import type { RecordFields } from '../format/record-fields.js';
import { CURRENT_RECORD_VERSION, encodeRecord, recordBytes } from '../format/record.js';
import type { StoredEvent } from './record-reader.js';
import { Segment, type FileCapture, type SegmentContext } from './segment.js';
import type { Damage } from './segment-check.js';
import { SegmentList, type RetentionPolicy } from './segment-list.js';
import { openSegments } from './segment-recovery.js';
import type { WriteScratch } from './write-scratch.js';

/** Offset and timestamp given to an appended event (and its key's version, when it has a key). */
export interface AppendedEvent {
  offset: number;
  timestampMs: number;
  version?: number;
}

export type { RetentionPolicy };

/** Figures of a stream's log. */
export interface LogStats {
  /** Events that may be read (first offset to next offset). */
  eventCount: number;
  /** Oldest offset still stored (retention moves it forward). */
  firstOffset: number;
  /** Offset the next event will get (among those visible). */
  nextOffset: number;
  /** Bytes on disk, logs and indexes. */
  bytes: number;
  segmentCount: number;
}

/** What a log needs from its engine. */
export interface LogContext extends SegmentContext, DurableWriterContext {
  segmentSizeBytes: number;
  /** Encoding buffers shared by every log (flushes are synchronous). */
  scratch: WriteScratch;
  /** Called whenever `visibleOffset` moves forward. */
  onVisible(log: StreamLog): void;
  /** Told of each roll, and of each seal once durable (`frozenMs`: performance.now() at the roll); the engine's observers. */
  rolled?(log: StreamLog, sealed: Segment, next: Segment): void;
  sealed?(log: StreamLog, segment: Segment, frozenMs: number): void;
}

/** One append: a batch, written whole into one segment, its last record ending the batch. */
interface PendingAppend extends PendingChange<AppendedEvent[]> {
  payloads: readonly Buffer[];
  /** The fields of each event (format/record-fields.ts), or null when none has any. */
  fields: readonly (RecordFields | null)[] | null;
  firstOffset: number;
  timestampMs: number;
  /** Bytes of the batch's records. */
  bytes: number;
}

export class StreamLog {
  private readonly segments: SegmentList;
  private nextOffset: number;
  /** Every offset below this is written (in the page cache, at least). */
  private written: number;
  /** Every offset below this may be read. */
  visibleOffset: number;
  private lastTimestampMs: number;
  /** Files and directories written since the last commit besides the active log. */
  private extraTargets: SyncTarget[] = [];
  private activeTarget: SyncTarget;
  /** `[activeTarget]`, kept: what a batch that did not roll commits (one array, not one per flush). */
  private activeTargets: SyncTarget[];
  /** Frozen segments whose seal is being finished (see {@link roll}). */
  private readonly sealing = new Map<Segment, Promise<void>>();
  /** Queues, writes and commits appends; refuses them after a failure. */
  private readonly writer: DurableWriter<PendingAppend, AppendedEvent[]>;
  /** Waiting for an offset to become visible ({@link whenVisible}), in no particular order. */
  private visibilityWaiters: { offset: number; resolve(): void; reject(error: unknown): void }[] = [];

  private constructor(private readonly ctx: LogContext, readonly dir: string, segments: Segment[]) {
    this.segments = new SegmentList(segments);
    const active = this.active;
    this.nextOffset = active.nextOffset;
    this.written = active.nextOffset;
    this.visibleOffset = active.nextOffset;
    this.lastTimestampMs = active.maxTimestampMs;
    this.writer = new DurableWriter(ctx, {
      writing: `writing to ${dir}`,
      refuses: 'stream refuses appends',
      failedMessage: 'stream refuses appends until reopened',
      fields: { dir },
    }, {
      write: (batch, nowMs) => this.write(batch, nowMs),
      durable: (batch) => this.advanceVisible(batch),
      result: appendedEvents,
      stopped: (error) => this.settleWaiters(error),
    });
    this.activeTarget = this.fileTarget(active);
    this.activeTargets = [this.activeTarget];
  }

  /** Set after a failed write or fsync: the log takes no more appends until reopened. */
  get failure(): EventBusError | null {
    return this.writer.failure;
  }

  /** A failure of this log that no append was rejected with (DurableWriter.unreportedFailure). */
  get unreportedFailure(): UnreportedFailure | null {
    return this.writer.unreportedFailure;
  }

  /**
   * Creates the directory and first segment of a new stream. The returned targets (files and
   * directory entries) must be fsynced before the stream is announced in the catalog.
   */
  static create(ctx: LogContext, dir: string, nowMs: number): { log: StreamLog; targets: SyncTarget[] } {
    try {
      ctx.io.mkdir(dir);
    } catch (error) {
      throw ioError(`creating ${dir}`, error);
    }
    const segment = Segment.create(ctx, dir, 0, nowMs);
    const log = new StreamLog(ctx, dir, [segment]);
    return { log, targets: [log.activeTarget, log.indexTarget(segment), log.dirTarget(dir), log.dirTarget(path.dirname(dir))] };
  }

  /** Opens an existing stream directory, recovering what a crash left (segment-recovery.ts). */
  static open(ctx: LogContext, dir: string, nowMs: number): StreamLog {
    return new StreamLog(ctx, dir, openSegments(ctx, dir, nowMs));
  }

  private get active(): Segment {
    return this.segments.active;
  }

  /** Oldest offset still stored. */
  get firstOffset(): number {
    return this.segments.firstOffset;
  }

  /** The offset the next append gets (appends queued and not yet written included). */
  get assignedOffset(): number {
    return this.nextOffset;
  }

  /** Every offset below this is written (visible or about to be, once durable). */
  get writtenOffset(): number {
    return this.written;
  }

  /**
   * The first offset whose record can carry fields (a key, a message id): where the segments of
   * record format 2 begin. Before it, format 1 records hold payloads only.
   */
  get fieldsFrom(): number {
    return Math.max(this.firstOffset, this.segments.firstOffsetOfVersion(CURRENT_RECORD_VERSION, this.written));
  }

  /**
   * Makes everything written so far durable, whatever the fsync policy: the key index writes a
   * run only over records known to be on disk.
   */
  async makeDurable(): Promise<void> {
    await this.sealsSettled();
    await this.writer.track(this.active.syncLog());
  }

  /** Bytes of records in the active segment (what a snapshot would have to copy). */
  get activeTailBytes(): number {
    return this.active.size - FILE_HEADER_BYTES;
  }

  /**
   * How a snapshot takes this log's files up to offset `visible` (excluded): see
   * Segment.capture. Segments past the one holding `visible` are left out.
   */
  captureFiles(visible: number): FileCapture[] {
    return this.segments.captureFiles(visible);
  }

  // ------------------------------------------------------------------ appending

  /** The error an append would get now (the stream failed, or is closed), or null. */
  refused(): EventBusError | null {
    return this.writer.refused();
  }

  /**
   * Queues `payloads` (with `fields`, one per payload, when any has some) as one batch, and
   * assigns their offsets and timestamp now. The batch is written whole into one segment, and
   * becomes visible whole. The promise resolves when the fsync policy is met, or rejects
   * (DISK_FULL, IO_ERROR, STREAM_FAILED). The caller schedules {@link flush}.
   */
  append(payloads: readonly Buffer[], nowMs: number, fields: readonly (RecordFields | null)[] | null = null): Promise<AppendedEvent[]> {
    const refused = this.writer.refused();
    if (refused !== null) return Promise.reject(refused);
    assert(payloads.length > 0 && (fields === null || fields.length === payloads.length), 'an append holds events, with fields for each or none');
    const timestampMs = nowMs > this.lastTimestampMs ? nowMs : this.lastTimestampMs;
    this.lastTimestampMs = timestampMs;
    const firstOffset = this.nextOffset;
    this.nextOffset += payloads.length;
    let bytes = 0;
    for (let i = 0; i < payloads.length; i++) bytes += recordBytes(payloads[i]!.length, fields === null ? null : fields[i]!);
    return this.writer.enqueue({ payloads, fields, firstOffset, timestampMs, bytes, resolve: UNSETTLED.resolve, reject: UNSETTLED.reject });
  }

  /** Writes every queued append to disk (one write per segment touched) and commits them. */
  flush(nowMs: number): void {
    this.writer.flush(nowMs);
  }

  /**
   * Encodes and writes a batch of appends; returns what to sync. Each append goes whole into one
   * segment: the active one is rolled before an append that would take it past its size (a
   * segment holds at least one append, however large), and before the first append to a segment
   * of an older record format (a segment never mixes formats).
   */
  private write(batch: readonly PendingAppend[], nowMs: number): readonly SyncTarget[] {
    const scratch = this.ctx.scratch;
    const sizeLimit = this.ctx.segmentSizeBytes;
    scratch.reset();
    let active = this.active;
    let offset = this.written;
    for (const append of batch) {
      assert(append.firstOffset === offset, 'appends flushed out of order');
      const full = active.count + scratch.records > 0 && active.size + scratch.logUsed + append.bytes > sizeLimit;
      // An empty active segment of an older format was given the current one at open.
      if (full || (active.version !== CURRENT_RECORD_VERSION && active.count > 0)) {
        this.writeScratch(scratch);
        this.roll(nowMs);
        active = this.active;
      }
      scratch.reserve(append.bytes, append.payloads.length);
      const { payloads, fields, timestampMs } = append;
      const last = payloads.length - 1;
      for (let i = 0; i <= last; i++) {
        encodeIndexEntry(scratch.index, scratch.indexUsed, offset - active.baseOffset, active.size + scratch.logUsed);
        scratch.logUsed += encodeRecord(scratch.log, scratch.logUsed, offset, timestampMs, payloads[i]!, fields === null ? null : fields[i]!, i === last);
        scratch.indexUsed += INDEX_ENTRY_BYTES;
        offset += 1;
      }
      scratch.records += payloads.length;
      if (timestampMs > scratch.maxTimestampMs) scratch.maxTimestampMs = timestampMs;
    }
    this.writeScratch(scratch);
    return this.takeTargets(this.activeTargets);
  }

  /** `targets` plus whatever rolls added since the last commit. */
  private takeTargets(targets: readonly SyncTarget[]): readonly SyncTarget[] {
    if (this.extraTargets.length === 0) return targets;
    const all = [...targets, ...this.extraTargets];
    this.extraTargets = [];
    return all;
  }

  /** Resolves when no commit or seal of this log is in flight (before closing or deleting it). */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  private writeScratch(scratch: WriteScratch): void {
    if (scratch.records === 0) return;
    const active = this.active;
    active.append(this.written, scratch.log.subarray(0, scratch.logUsed), scratch.index.subarray(0, scratch.indexUsed), scratch.records, scratch.maxTimestampMs);
    this.written += scratch.records;
    assert(this.written === active.nextOffset, 'written offset does not match the active segment');
    const written = this.ctx.groupCommit.watch.written; // for an observer of commit rounds
    written.events += scratch.records;
    written.bytes += scratch.logUsed + scratch.indexUsed;
    scratch.reset();
  }

  /** A written batch is durable: its events may now be read. */
  private advanceVisible(batch: readonly PendingAppend[]): void {
    const last = batch[batch.length - 1]!;
    const end = last.firstOffset + last.payloads.length;
    if (end > this.visibleOffset) {
      this.visibleOffset = end;
      if (this.visibilityWaiters.length > 0) this.settleWaiters(null);
      this.ctx.onVisible(this);
    }
  }

  /**
   * Resolves once `offset` is visible (at once if it is), or rejects if the log fails or closes
   * first: what an answer repeating an earlier append (a duplicate) waits for, so that it never
   * acknowledges events a crash could take back.
   */
  whenVisible(offset: number): Promise<void> {
    if (offset < this.visibleOffset) return Promise.resolve();
    const refused = this.writer.refused();
    if (refused !== null) return Promise.reject(refused);
    return new Promise((resolve, reject) => this.visibilityWaiters.push({ offset, resolve, reject }));
  }

  /** Resolves the waiters whose offset is now visible; with `error`, rejects every waiter. */
  private settleWaiters(error: EventBusError | null): void {
    const waiting = this.visibilityWaiters;
    this.visibilityWaiters = [];
    for (const waiter of waiting) {
      if (error !== null) waiter.reject(error);
      else if (waiter.offset < this.visibleOffset) waiter.resolve();
      else this.visibilityWaiters.push(waiter);
    }
  }

  /**
   * Freezes the active segment and starts a new one at the next offset. The frozen segment is
   * sealed only once its records are durable (Segment.finishSeal): a seal on disk must prove its
   * records are, since recovery trusts a sealed segment without reading it. Meanwhile it stays
   * open for reads.
   */
  private roll(nowMs: number): void {
    const sealed = this.active;
    assert(sealed.count > 0, 'an empty segment rolled');
    sealed.freeze();
    const frozenMs = performance.now();
    const next = Segment.create(this.ctx, this.dir, sealed.nextOffset, nowMs);
    this.segments.push(next);
    this.activeTarget = this.fileTarget(next);
    this.activeTargets = [this.activeTarget];
    // The batch that rolled is acknowledged only once the frozen log and the new entry are durable.
    this.extraTargets.push(this.fileTarget(sealed), this.dirTarget(this.dir));
    this.ctx.rolled?.(this, sealed, next);
    const finishing = this.writer.track(sealed.finishSeal(() => this.writer.closed)
      .then(() => { if (sealed.seal !== null) this.ctx.sealed?.(this, sealed, frozenMs); })
      .catch((error: unknown) => this.writer.fail(error)));
    this.sealing.set(sealed, finishing);
    void finishing.finally(() => this.sealing.delete(sealed));
  }

  /** Resolves once no seal is being finished (a snapshot links only sealed segments). */
  async sealsSettled(rounds = 3): Promise<void> {
    for (let i = 0; i < rounds && this.sealing.size > 0; i++) await Promise.all(this.sealing.values());
  }

  /**
   * Seals the active segment now if it holds records, and waits until the sealed files are
   * durable. Snapshots use this to turn a large active tail into an immutable file they can
   * hard-link. Resolves to the sealed segment, or null if there was nothing to seal.
   */
  async sealActive(nowMs: number): Promise<Segment | null> {
    assert(!this.writer.hasQueued, 'seal with appends queued');
    if (this.active.count === 0 || this.failure !== null) return null;
    const sealed = this.active;
    this.roll(nowMs);
    await this.writer.commit(this.takeTargets(this.activeTargets));
    await this.sealing.get(sealed);
    if (sealed.seal === null) throw this.failure ?? new EventBusError(ErrorCodes.CLOSED, 'the stream was closed');
    return sealed;
  }

  private fileTarget(segment: Segment): SyncTarget {
    return this.writer.target(segment.paths.log, () => segment.syncLog(), false, () => segment.syncLogNow());
  }

  private indexTarget(segment: Segment): SyncTarget {
    return this.writer.target(segment.paths.index, () => segment.syncIndex());
  }

  private dirTarget(dir: string): SyncTarget {
    return this.writer.target(dir, () => this.ctx.io.syncDir(dir), true);
  }

  // ------------------------------------------------------------------ reading

  /**
   * Reads visible events from `fromOffset` (clamped to the first stored offset), at most
   * `maxEvents` and, beyond the first event, at most `maxBytes` of payload. Throws CORRUPT_DATA
   * when the first event to return is damaged; stops before a later damaged one (in any segment).
   */
  read(fromOffset: number, maxEvents: number, maxBytes: number): StoredEvent[] {
    return this.segments.read(fromOffset, this.visibleOffset, maxEvents, maxBytes);
  }

  /** Visible events from `fromOffset` down, newest first; limits and damage as {@link read}. */
  readBackward(fromOffset: number, maxEvents: number, maxBytes: number): StoredEvent[] {
    return this.segments.readBackward(fromOffset, this.visibleOffset, maxEvents, maxBytes);
  }

  /** The first visible offset whose timestamp is at or after `timeMs`, or `visibleOffset` (log/time-lookup.ts). */
  offsetAtTime(timeMs: number): number {
    return this.segments.offsetAtTime(timeMs, this.visibleOffset);
  }

  /**
   * Truncation (truncate_stream): offsets below `offset` (at most the visible end) are never read
   * again; their segments go at the next retention pass. The caller has made it durable.
   */
  truncateTo(offset: number): void {
    this.segments.raiseFloor(Math.min(offset, this.visibleOffset));
  }

  /**
   * The event at `offset` if it is written, visible or not yet (the key index checks a key
   * against its record), or null when it is not stored (below the first offset, or not yet
   * written). Throws CORRUPT_DATA when its record is damaged.
   */
  readWritten(offset: number): StoredEvent | null {
    if (offset < this.firstOffset || offset >= this.written) return null;
    return this.segments.read(offset, this.written, 1, 0)[0] ?? null;
  }

  /**
   * The written events (visible or not yet) from `offset` on, at most `maxEvents`, in one read
   * of their records where they share a segment (the key index checks a run of a key's events at
   * once). Fewer when the log ends or a later record is damaged; throws CORRUPT_DATA when the
   * first is damaged. Empty when `offset` is not stored.
   */
  readWrittenFrom(offset: number, maxEvents: number): StoredEvent[] {
    if (offset < this.firstOffset || offset >= this.written) return [];
    return this.segments.read(offset, this.written, maxEvents, Number.MAX_SAFE_INTEGER);
  }

  // ------------------------------------------------------------------ upkeep

  stats(): LogStats {
    const firstOffset = this.firstOffset;
    return { eventCount: this.visibleOffset - firstOffset, firstOffset, nextOffset: this.visibleOffset, bytes: this.segments.bytes, segmentCount: this.segments.length };
  }

  /** The damage that makes `offset` unreadable, if any (looks in that offset's segment only). */
  damageAt(offset: number): Damage | undefined {
    return this.segments.damageAt(offset, this.written);
  }

  /** Damage found in this log so far (at open, rebuild or read). */
  damage(): Damage[] {
    return this.segments.damage();
  }

  /** The offset below which retention would remove segments now (SegmentList.retentionReach). */
  retentionReach(policy: RetentionPolicy, nowMs: number): number {
    return this.segments.retentionReach(policy, this.visibleOffset, nowMs);
  }

  /**
   * Removes the oldest sealed segments the policy no longer needs (SegmentList.applyRetention),
   * none holding an offset at or past `keepFrom`. Never removes the active segment, so offsets
   * are never reused. Returns the number of segments removed.
   */
  applyRetention(policy: RetentionPolicy, nowMs: number, keepFrom = Number.MAX_SAFE_INTEGER): number {
    const removed = this.segments.applyRetention(policy, this.visibleOffset, nowMs, keepFrom, this.ctx.logger);
    if (removed > 0) {
      // The removals' durability matters to no acknowledgement: fsync the directory now, aside.
      this.ctx.io.syncDir(this.dir).catch((error: unknown) => this.ctx.logger.warn({ dir: this.dir, err: error }, 'fsync of a directory after retention failed'));
    }
    return removed;
  }

  /** The active segment's running CRCs, if known (see crc-checkpoint.ts). */
  activeCrcs(): SegmentCrcs | null {
    const crcs = this.active.runningCrcs();
    return crcs === null ? null : { base: this.active.baseOffset, ...crcs };
  }

  /** Takes the active segment's CRCs from a clean-close checkpoint, if they still apply. */
  restoreActiveCrcs(crcs: SegmentCrcs): boolean {
    return crcs.base === this.active.baseOffset && this.active.restoreRunningCrcs(crcs);
  }

  /** Targets to fsync so that everything written so far is durable (close). */
  syncTargets(): SyncTarget[] {
    return this.failure === null && !this.writer.closed ? [this.activeTarget, this.dirTarget(this.dir)] : [];
  }

  /**
   * Closes every file. Queued appends, and any after, are rejected with `reason` (the stream was
   * deleted, or the store closed). With `trim`, the active log is first cut back to its data, so
   * that a cleanly closed store holds no preallocated zeros.
   */
  close(trim = false, reason = new EventBusError(ErrorCodes.CLOSED, 'the stream was closed')): void {
    this.writer.close(reason);
    if (trim && this.failure === null) {
      try {
        this.active.trimPreallocation();
      } catch (error) {
        this.ctx.logger.warn({ dir: this.dir, err: error }, 'could not cut the preallocated end of the active segment');
      }
    }
    this.segments.closeAll();
  }
}

/** The offsets and timestamp an append resolves to. */
function appendedEvents(append: PendingAppend): AppendedEvent[] {
  const events: AppendedEvent[] = new Array(append.payloads.length);
  for (let i = 0; i < events.length; i++) events[i] = { offset: append.firstOffset + i, timestampMs: append.timestampMs };
  return events;
}
