/**
 * The durable state of a stream's consumers: `consumers` in the stream's directory, an
 * append-only journal of the changes made by consumer.ts (format: journal-codec.ts), compacted by
 * rewriting it as one state record per consumer when it grows. Its size is therefore bounded by
 * what is outstanding (the pending and retry sets), not by history.
 *
 * Appends are queued and written once per event-loop turn, then committed through the group
 * commit with the segment writes of the same turn (fs/durable-writer.ts). Compaction writes the
 * state records to a new file, switches appends to it at once, and makes it current by rename;
 * until that rename is durable, every commit of the journal includes it (a "rename barrier" sync
 * target), so no acknowledged change can be lost to a crash in between.
 *
 * Recovery: a torn record at the end is cut off. A damaged record followed by valid ones is
 * reported and skipped; the changes it held are lost in the safe direction (events come back
 * for delivery; a lost DELIVER leaves the skipped offsets outstanding and due).
 */
import path from 'node:path';
import { assert, type EventBusError } from '../../errors.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import { DurableFile } from '../fs/durable-file.js';
import { DurableWriter, UNSETTLED, type DurableWriterContext, type PendingChange, type UnreportedFailure } from '../fs/durable-writer.js';
import type { SyncTarget } from '../fs/group-commit.js';
import { readWholeFile, type FileIO } from '../fs/io.js';
import type { RecoveryNotes } from '../log/recovery-notes.js';
import { decodeJournal, encodeJournalFile, encodeJournalHeader, JOURNAL_FILE, type DecodedJournal, type JournalDamage, type JournalRecord } from './journal-codec.js';

/** Compact when the journal exceeds this, or four times its size after the last compaction. */
const COMPACT_MIN_BYTES = 1024 * 1024;
const COMPACT_SUFFIX = '.compact';

/** Records queued by one change (a delivery, a mark). */
interface PendingRecords extends PendingChange<void> {
  records: readonly Buffer[];
}

export interface JournalContext extends DurableWriterContext {
  io: FileIO;
  /** False when the store was closed cleanly (see SegmentContext.afterCrash). */
  afterCrash?: boolean;
  /** Told what recovery repairs (see SegmentContext.recovery). */
  recovery?: RecoveryNotes;
  /** Told when a compaction's new file has become the durable journal (the engine's observers). */
  compacted?(journal: ConsumerJournal, compaction: { fromBytes: number; toBytes: number; consumers: number; durationMs: number }): void;
}

export class ConsumerJournal {
  readonly file: string;
  private current: DurableFile | null = null;
  /** Syncs the current file; replaced with the file, so a queued sync never hits a newer one. */
  private fileTarget: SyncTarget | null = null;
  /** Bytes in the current file. */
  private size = 0;
  private sizeAfterCompaction = 0;
  /** While set, every commit also waits for the compaction's rename to be durable. */
  private barrier: SyncTarget | null = null;
  private compacting = false;
  private readonly writer: DurableWriter<PendingRecords, void>;
  /** Supplies the state records that compaction writes (set by the owner). */
  stateProvider: (() => Buffer[]) | null = null;

  private constructor(private readonly ctx: JournalContext, readonly dir: string, label: string) {
    this.file = path.join(dir, JOURNAL_FILE);
    this.writer = new DurableWriter(ctx, {
      writing: `writing ${this.file}`,
      refuses: `consumer state of ${label} refuses changes`,
      failedMessage: 'consumer journal refuses changes until reopened',
      fields: { file: this.file },
    }, {
      write: (batches) => this.write(batches),
      result: () => undefined,
    });
  }

  /**
   * Opens the journal of the stream in `dir` (`label` names it in refusals) and returns its
   * records in order (an absent file is an empty journal, created on first append). Cuts off a
   * torn tail; reports damage.
   */
  static open(ctx: JournalContext, dir: string, label: string): { journal: ConsumerJournal; records: JournalRecord[]; damage: JournalDamage[] } {
    const journal = new ConsumerJournal(ctx, dir, label);
    const { io, logger } = ctx;
    const temporary = journal.file + COMPACT_SUFFIX;
    if (io.stat(temporary) !== null) io.unlink(temporary); // compaction cut short: the old file is current
    const found = readJournal(io, dir, ctx.afterCrash !== false);
    if (found === null) return { journal, records: [], damage: [] };
    const { contents, decoded } = found;
    if (decoded.tornAtCreation) {
      // Torn while being created (nothing in it was ever acknowledged), or cut to less than its
      // header after a clean stop (damage, reported): nothing in it can be read. Start afresh.
      for (const d of decoded.damage) logger.error(d, 'consumer journal is damaged: the consumers it held are lost, their events come back for delivery');
      io.unlink(journal.file);
      return { journal, records: [], damage: decoded.damage };
    }
    const file = DurableFile.open(io, journal.file, 'r+');
    journal.adopt(file, decoded.end);
    if (decoded.end < contents.length) {
      assert(decoded.end >= FILE_HEADER_BYTES, 'journal cut inside its header');
      file.truncate(decoded.end);
      file.syncNow();
      ctx.recovery?.note('journalTornBytesCut', contents.length - decoded.end);
      logger.warn({ file: journal.file, position: decoded.end, bytes: contents.length - decoded.end }, 'truncated the torn tail of a consumer journal');
    }
    for (const d of decoded.damage) logger.error(d, 'consumer journal is damaged: the changes in the damaged record are lost, events come back for delivery');
    // The size of the state it holds is known only once a compaction writes it; the file's size
    // here is history, and taking it would have every restart raise the threshold (4 × that) so
    // that a server restarted often enough never compacted. 0: past COMPACT_MIN_BYTES it compacts.
    journal.sizeAfterCompaction = 0;
    return { journal, records: decoded.records, damage: decoded.damage };
  }

  /** Makes `file`, holding `size` bytes, the one appends go to. */
  private adopt(file: DurableFile, size: number): void {
    this.current = file;
    this.fileTarget = this.writer.target(this.file, () => file.sync());
    this.size = size;
  }

  /** Set after a failed write or fsync: no more changes are acknowledged until reopened. */
  get failure(): EventBusError | null {
    return this.writer.failure;
  }

  /** A failure of this journal that no change was rejected with (DurableWriter.unreportedFailure). */
  get unreportedFailure(): UnreportedFailure | null {
    return this.writer.unreportedFailure;
  }

  /** Throws the refusal after a failure (DISK_FULL or STREAM_FAILED), or the close reason. */
  checkUsable(): void {
    this.writer.checkUsable();
  }

  /** Queues records; resolves once they are durable under the fsync policy. The caller flushes. */
  append(records: readonly Buffer[]): Promise<void> {
    return this.writer.enqueue({ records, resolve: UNSETTLED.resolve, reject: UNSETTLED.reject });
  }

  /** Writes queued records and commits them. */
  flush(nowMs: number): void {
    this.writer.flush(nowMs);
  }

  /** Resolves when no commit or compaction of this journal is in flight (before closing it). */
  idle(): Promise<void> {
    return this.writer.idle();
  }

  private write(batch: readonly PendingRecords[]): SyncTarget[] {
    const targets: SyncTarget[] = [];
    if (this.current === null) targets.push(this.create());
    const records = batch.flatMap((change) => change.records);
    let bytes = 0;
    for (const record of records) bytes += record.length;
    this.current!.write(records, this.size, 'writing');
    this.size += bytes;
    this.ctx.groupCommit.watch.written.bytes += bytes; // for an observer of commit rounds
    targets.push(this.fileTarget!);
    if (this.barrier !== null) targets.push(this.barrier);
    if (this.wantsCompaction && this.stateProvider !== null) this.compact(this.stateProvider());
    return targets;
  }

  /** Creates the file (first consumer of the stream); returns its directory, to sync with it. */
  private create(): SyncTarget {
    const { io } = this.ctx;
    const file = DurableFile.open(io, this.file, 'wx+');
    const header = encodeJournalHeader(Date.now());
    try {
      file.write([header], 0, 'writing');
    } catch (error) {
      file.close();
      throw error;
    }
    this.adopt(file, header.length);
    this.sizeAfterCompaction = header.length;
    return this.writer.target(this.dir, () => io.syncDir(this.dir), true);
  }

  /** True when the journal has grown enough that {@link compact} should run. */
  get wantsCompaction(): boolean {
    return !this.compacting && this.writer.failure === null && this.current !== null && this.size > Math.max(COMPACT_MIN_BYTES, 4 * this.sizeAfterCompaction);
  }

  /**
   * Replaces the journal by `state` (one STATE record per consumer, describing everything
   * written so far). Appends go to the new file at once; see the module comment.
   */
  compact(state: readonly Buffer[]): void {
    if (!this.wantsCompaction) return;
    const startedMs = performance.now();
    const { io, logger } = this.ctx;
    const temporary = this.file + COMPACT_SUFFIX;
    const contents = encodeJournalFile(state);
    let file: DurableFile | null = null;
    try {
      if (io.stat(temporary) !== null) io.unlink(temporary);
      file = DurableFile.open(io, temporary, 'wx+');
      file.write(contents, 0, 'writing');
    } catch (error) {
      file?.close();
      logger.warn({ file: temporary, err: error }, 'consumer journal compaction failed; the journal keeps growing');
      return;
    }
    const old = this.current!;
    const oldSize = this.size;
    const size = contents.reduce((sum, b) => sum + b.length, 0);
    this.adopt(file, size);
    this.sizeAfterCompaction = size;
    this.compacting = true;
    const barrier = this.renameBarrier(file, temporary);
    this.barrier = barrier;
    // Under `always` the barrier runs in the next round with every commit that needs it. Under
    // the other policies nothing waits on it, but the rename must not wait for close: run it now.
    const finishing = this.ctx.groupCommit.policy === 'always' ? this.ctx.groupCommit.commit([barrier]) : barrier.sync();
    this.writer.track(finishing).then(
      () => {
        if (this.barrier === barrier) this.barrier = null;
        this.compacting = false;
        old.close(); // once no sync of it is running
        logger.debug({ file: this.file, from_bytes: oldSize, to_bytes: size }, 'consumer journal compacted');
        this.ctx.compacted?.(this, { fromBytes: oldSize, toBytes: size, consumers: state.length, durationMs: performance.now() - startedMs });
      },
      (error: unknown) => {
        this.compacting = false;
        this.writer.fail(error);
      },
    );
  }

  /** Until this has run once, the compacted file is not the durable journal. */
  private renameBarrier(file: DurableFile, temporary: string): SyncTarget {
    const { io } = this.ctx;
    let renamed = false;
    return {
      name: `${this.file} (compaction)`,
      sync: async () => {
        await file.sync();
        if (!renamed) {
          io.rename(temporary, this.file);
          renamed = true;
        }
        await io.syncDir(this.dir);
      },
      failed: (error) => this.writer.fail(error),
    };
  }

  /** Bytes of the current journal file (for snapshots and stats). */
  get bytes(): number {
    return this.size;
  }

  /** Targets to fsync at close. */
  syncTargets(): SyncTarget[] {
    if (this.fileTarget === null || this.writer.failure !== null) return [];
    return this.barrier === null ? [this.fileTarget] : [this.fileTarget, this.barrier];
  }

  /** Closes the file; queued and later changes are rejected with `reason`. */
  close(reason: EventBusError): void {
    this.writer.close(reason);
    this.current?.close();
    this.current = null;
  }
}

/** What {@link readJournal} found. */
export interface JournalOnDisk {
  file: string;
  contents: Buffer;
  decoded: DecodedJournal;
  /** A compaction's temporary file is beside it (cut short: removed on open, the journal stays current). */
  compactionLeft: boolean;
}

/**
 * Reads the consumer journal of the stream in `dir` and judges it exactly as an open does
 * (`afterCrash`: the store's last process stopped with it open; after a clean stop a failing last
 * record is damage, not a torn tail), changing nothing; null when there is none. The open
 * ({@link ConsumerJournal.open}) then repairs what it found; `eventbus verify` reports it.
 */
export function readJournal(io: FileIO, dir: string, afterCrash: boolean): JournalOnDisk | null {
  const file = path.join(dir, JOURNAL_FILE);
  if (io.stat(file) === null) return null;
  const contents = readWholeFile(io, file);
  return { file, contents, decoded: decodeJournal(contents, file, afterCrash), compactionLeft: io.stat(file + COMPACT_SUFFIX) !== null };
}
