/**
 * The durable state of a stream's consumers: `consumers` in the stream's directory, an
 * append-only journal of the changes made by consumer.ts, compacted by rewriting it as one state
 * record per consumer when it grows. Its size is therefore bounded by what is outstanding (the
 * pending and retry sets), not by history.
 *
 * ```
 * file header (32 bytes, file-header.ts): magic "EBCN", version 1
 * records, back to back:
 *   0  4  crc      CRC32C of bytes 4 .. 8+length
 *   4  4  length   u32 LE, bytes of the body
 *   8  n  body     u8 type, then the fields of that type (all integers LE; offsets u64):
 *     1 CONSUMER    id u32, created_ms u64, name_length u16, name (UTF-8)
 *     2 DELIVER     id u32, from u64, count u32, deadline_ms u64, auto_ack u8
 *     3 REDELIVER   id u32, deadline_ms u64, auto_ack u8, n u32, n × offset
 *     4 MARK        id u32, status u8, n u32, n × offset
 *     5 DEADLETTER  id u32, n u32, n × offset
 *     6 STATE       id u32, created_ms u64, name_length u16, name, cursor u64, dead_lettered u64,
 *                   n u32, n × (offset u64, deliveries u32, state u8, deadline_ms u64)
 * ```
 *
 * Appends are queued and written once per event-loop turn, then committed through the group
 * commit with the segment writes of the same turn. Compaction writes the state records to a new
 * file, switches appends to it at once, and makes it current by rename; until that rename is
 * durable, every commit of the journal includes it (a "rename barrier" sync target), so no
 * acknowledged change can be lost to a crash in between.
 *
 * Recovery: a torn record at the end is cut off. A damaged record followed by valid ones is
 * reported and skipped; the changes it held are lost in the safe direction (events come back
 * for delivery; a lost DELIVER leaves the skipped offsets outstanding and due).
 */
import path from 'node:path';
import { ErrorCodes, EventBusError, refusalAfter, ioError } from '../../errors.js';
import { readU64, writeU64 } from '../format/binary.js';
import type { Consumer, Entry, EntryState } from './consumer.js';
import { EntryStates } from './consumer.js';
import type { EventStatus } from './consumer-types.js';
import { crc32c } from '../format/crc.js';
import { decodeFileHeader, encodeFileHeader, FILE_HEADER_BYTES } from '../format/file-header.js';
import { InFlight } from '../fs/in-flight.js';
import type { GroupCommit, SyncTarget } from '../fs/group-commit.js';
import { readWholeFile, type FileIO } from '../fs/io.js';
import type { Logger } from '../logger.js';

export const JOURNAL_FILE = 'consumers';
const JOURNAL_MAGIC = 'EBCN';
const JOURNAL_VERSION = 1;
const RECORD_HEADER_BYTES = 8;
/** A journal body is never larger than a STATE record of maxPending entries; this bounds it. */
const MAX_RECORD_BODY_BYTES = 64 * 1024 * 1024;
/** Compact when the journal exceeds this, or four times its size after the last compaction. */
const COMPACT_MIN_BYTES = 1024 * 1024;

export const RecordTypes = { CONSUMER: 1, DELIVER: 2, REDELIVER: 3, MARK: 4, DEADLETTER: 5, STATE: 6 } as const;

/** A decoded journal record. */
export type JournalRecord =
  | { type: 1; id: number; createdMs: number; name: string }
  | { type: 2; id: number; from: number; count: number; deadlineMs: number; autoAck: boolean }
  | { type: 3; id: number; deadlineMs: number; autoAck: boolean; offsets: number[] }
  | { type: 4; id: number; status: EventStatus; offsets: number[] }
  | { type: 5; id: number; offsets: number[] }
  | { type: 6; id: number; createdMs: number; name: string; cursor: number; deadLettered: number; entries: [number, Entry][] };

// ------------------------------------------------------------------ encoding

class Writer {
  buffer: Buffer;
  at = RECORD_HEADER_BYTES;
  constructor(bodyBytes: number) {
    this.buffer = Buffer.allocUnsafe(RECORD_HEADER_BYTES + bodyBytes);
  }
  u8(value: number): this { this.buffer.writeUInt8(value, this.at); this.at += 1; return this; }
  u16(value: number): this { this.buffer.writeUInt16LE(value, this.at); this.at += 2; return this; }
  u32(value: number): this { this.buffer.writeUInt32LE(value, this.at); this.at += 4; return this; }
  u64(value: number): this { writeU64(this.buffer, this.at, value); this.at += 8; return this; }
  bytes(value: Buffer): this { value.copy(this.buffer, this.at); this.at += value.length; return this; }
  offsets(values: readonly number[]): this { this.u32(values.length); for (const v of values) this.u64(v); return this; }
  /** Fills in length and CRC. */
  finish(): Buffer {
    this.buffer.writeUInt32LE(this.at - RECORD_HEADER_BYTES, 4);
    this.buffer.writeUInt32LE(crc32c(this.buffer.subarray(4, this.at)), 0);
    return this.buffer.subarray(0, this.at);
  }
}

export function encodeConsumer(id: number, createdMs: number, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  return new Writer(15 + nameBytes.length).u8(RecordTypes.CONSUMER).u32(id).u64(createdMs).u16(nameBytes.length).bytes(nameBytes).finish();
}

export function encodeDeliver(id: number, from: number, count: number, deadlineMs: number, autoAck: boolean): Buffer {
  return new Writer(26).u8(RecordTypes.DELIVER).u32(id).u64(from).u32(count).u64(deadlineMs).u8(autoAck ? 1 : 0).finish();
}

export function encodeRedeliver(id: number, deadlineMs: number, autoAck: boolean, offsets: readonly number[]): Buffer {
  return new Writer(18 + 8 * offsets.length).u8(RecordTypes.REDELIVER).u32(id).u64(deadlineMs).u8(autoAck ? 1 : 0).offsets(offsets).finish();
}

export function encodeMark(id: number, status: EventStatus, offsets: readonly number[]): Buffer {
  return new Writer(10 + 8 * offsets.length).u8(RecordTypes.MARK).u32(id).u8(status).offsets(offsets).finish();
}

export function encodeDeadLetter(id: number, offsets: readonly number[]): Buffer {
  return new Writer(9 + 8 * offsets.length).u8(RecordTypes.DEADLETTER).u32(id).offsets(offsets).finish();
}

export function encodeState(consumer: Consumer): Buffer {
  const nameBytes = Buffer.from(consumer.name, 'utf8');
  const writer = new Writer(35 + nameBytes.length + 21 * consumer.entries.size)
    .u8(RecordTypes.STATE).u32(consumer.id).u64(consumer.createdMs).u16(nameBytes.length).bytes(nameBytes)
    .u64(consumer.cursor).u64(consumer.deadLettered).u32(consumer.entries.size);
  for (const [offset, entry] of consumer.entries) writer.u64(offset).u32(entry.deliveries).u8(entry.state).u64(entry.deadlineMs);
  return writer.finish();
}

/** The contents of a compacted journal holding `states` (STATE records): for snapshots. */
export function encodeJournalFile(states: readonly Buffer[]): Buffer[] {
  return [encodeFileHeader({ magic: JOURNAL_MAGIC, version: JOURNAL_VERSION, param: 0, baseOffset: 0, createdMs: Date.now() }), ...states];
}

// ------------------------------------------------------------------ decoding

class Reader {
  at: number;
  constructor(private readonly buffer: Buffer, start: number, private readonly end: number) {
    this.at = start;
  }
  private need(bytes: number): void {
    if (this.at + bytes > this.end) throw new RangeError('record body too short');
  }
  u8(): number { this.need(1); return this.buffer.readUInt8(this.at++); }
  u16(): number { this.need(2); const v = this.buffer.readUInt16LE(this.at); this.at += 2; return v; }
  u32(): number { this.need(4); const v = this.buffer.readUInt32LE(this.at); this.at += 4; return v; }
  u64(): number { this.need(8); const v = readU64(this.buffer, this.at); this.at += 8; return v; }
  text(length: number): string { this.need(length); const v = this.buffer.toString('utf8', this.at, this.at + length); this.at += length; return v; }
  offsets(): number[] {
    const n = this.u32();
    this.need(n * 8);
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = this.u64();
    return out;
  }
  done(): boolean { return this.at === this.end; }
}

function isEntryState(value: number): value is EntryState {
  return value === EntryStates.PENDING || value === EntryStates.RETRY || value === EntryStates.REDELIVER;
}

/** Decodes one record body, or returns null if it is not well formed. */
function decodeBody(buffer: Buffer, start: number, end: number): JournalRecord | null {
  const r = new Reader(buffer, start, end);
  try {
    const type = r.u8();
    let record: JournalRecord;
    switch (type) {
      case RecordTypes.CONSUMER: {
        const id = r.u32();
        const createdMs = r.u64();
        record = { type, id, createdMs, name: r.text(r.u16()) };
        break;
      }
      case RecordTypes.DELIVER:
        record = { type, id: r.u32(), from: r.u64(), count: r.u32(), deadlineMs: r.u64(), autoAck: r.u8() === 1 };
        break;
      case RecordTypes.REDELIVER:
        record = { type, id: r.u32(), deadlineMs: r.u64(), autoAck: r.u8() === 1, offsets: r.offsets() };
        break;
      case RecordTypes.MARK: {
        const id = r.u32();
        const status = r.u8();
        if (status > 2) return null;
        record = { type, id, status: status as EventStatus, offsets: r.offsets() };
        break;
      }
      case RecordTypes.DEADLETTER:
        record = { type, id: r.u32(), offsets: r.offsets() };
        break;
      case RecordTypes.STATE: {
        const id = r.u32();
        const createdMs = r.u64();
        const name = r.text(r.u16());
        const cursor = r.u64();
        const deadLettered = r.u64();
        const n = r.u32();
        const entries: [number, Entry][] = [];
        for (let i = 0; i < n; i++) {
          const offset = r.u64();
          const deliveries = r.u32();
          const state = r.u8();
          if (!isEntryState(state)) return null;
          entries.push([offset, { deliveries, state, deadlineMs: r.u64() }]);
        }
        record = { type, id, createdMs, name, cursor, deadLettered, entries };
        break;
      }
      default:
        return null;
    }
    return r.done() ? record : null;
  } catch {
    return null;
  }
}

/** Decodes the record at `position`; 'partial' if the buffer ends inside it, 'bad' if it fails. */
function decodeRecordAt(buffer: Buffer, position: number): { record: JournalRecord; size: number } | 'partial' | 'bad' {
  if (buffer.length - position < RECORD_HEADER_BYTES) return 'partial';
  const length = buffer.readUInt32LE(position + 4);
  if (length === 0 || length > MAX_RECORD_BODY_BYTES) return 'bad';
  const end = position + RECORD_HEADER_BYTES + length;
  if (end > buffer.length) return 'partial';
  if (crc32c(buffer.subarray(position + 4, end)) !== buffer.readUInt32LE(position)) return 'bad';
  const record = decodeBody(buffer, position + RECORD_HEADER_BYTES, end);
  return record === null ? 'bad' : { record, size: end - position };
}

/** Damage found while replaying a journal. */
export interface JournalDamage {
  file: string;
  position: number;
  reason: string;
}

// ------------------------------------------------------------------ the journal file

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

export interface JournalContext {
  io: FileIO;
  logger: Logger;
  groupCommit: GroupCommit;
  /** False when the store was closed cleanly (see SegmentContext.afterCrash). */
  afterCrash?: boolean;
}

export class ConsumerJournal {
  readonly file: string;
  private fd = -1;
  /** Bytes in the current file. */
  private size = 0;
  private sizeAfterCompaction = 0;
  private queued: Buffer[] = [];
  private waiters: Waiter[] = [];
  /** What a commit must sync: the file, plus (while set) the compaction's rename barrier. */
  private barrier: SyncTarget | null = null;
  /** Syncs the current file; replaced with the file, so a queued sync never hits a newer one. */
  private fileTarget: FileTarget;
  private compacting = false;
  /** Commits in flight, and who waits for there to be none (a descriptor is closed only then). */
  private readonly inFlight = new InFlight();
  /** Set after a failed write or fsync: no more changes are acknowledged until reopened. */
  failure: EventBusError | null = null;

  private constructor(private readonly ctx: JournalContext, readonly dir: string) {
    this.file = path.join(dir, JOURNAL_FILE);
    this.fileTarget = this.targetFor(-1);
  }

  /** The sync target of the file open as `fd`. */
  private targetFor(fd: number): FileTarget {
    return new FileTarget(this.file, fd, this.ctx.io, (error) => this.fail(error));
  }

  /**
   * Opens the journal of the stream in `dir` and returns its records in order (an absent file is
   * an empty journal, created on first append). Cuts off a torn tail; reports damage.
   */
  static open(ctx: JournalContext, dir: string): { journal: ConsumerJournal; records: JournalRecord[]; damage: JournalDamage[] } {
    const journal = new ConsumerJournal(ctx, dir);
    const records: JournalRecord[] = [];
    const damage: JournalDamage[] = [];
    const { io, logger } = ctx;
    const temporary = journal.file + '.compact';
    if (io.stat(temporary) !== null) io.unlink(temporary); // compaction cut short: the old file is current
    if (io.stat(journal.file) === null) return { journal, records, damage };
    const contents = readWholeFile(io, journal.file);
    const header = decodeFileHeader(contents.subarray(0, FILE_HEADER_BYTES), JOURNAL_MAGIC, JOURNAL_VERSION);
    let end = contents.length;
    if (typeof header === 'string') {
      if (contents.length <= FILE_HEADER_BYTES) {
        // Torn while being created: nothing in it was ever acknowledged. Start afresh.
        io.unlink(journal.file);
        return { journal, records, damage };
      }
      damage.push({ file: journal.file, position: 0, reason: `header ${header}` });
    }
    let position = FILE_HEADER_BYTES;
    while (position < contents.length) {
      const decoded = decodeRecordAt(contents, position);
      if (typeof decoded !== 'string') {
        records.push(decoded.record);
        position += decoded.size;
        continue;
      }
      const next = resync(contents, position + 1);
      if (next < 0) {
        // A torn tail after a crash. After a clean close nothing can be torn: it is damage, and
        // is reported; either way the record's change is lost (in the safe direction) and cut.
        if (ctx.afterCrash === false) damage.push({ file: journal.file, position, reason: 'last record fails its check after a clean stop' });
        end = position;
        break;
      }
      damage.push({ file: journal.file, position, reason: `record ${decoded === 'bad' ? 'fails its check' : 'is cut short'}` });
      position = next;
    }
    journal.fd = io.open(journal.file, 'r+');
    journal.fileTarget = journal.targetFor(journal.fd);
    if (end < contents.length) {
      io.truncate(journal.fd, end);
      io.datasyncNow(journal.fd);
      logger.warn({ file: journal.file, position: end, bytes: contents.length - end }, 'truncated the torn tail of a consumer journal');
    }
    for (const d of damage) logger.error(d, 'consumer journal is damaged: the changes in the damaged record are lost, events come back for delivery');
    journal.size = end;
    journal.sizeAfterCompaction = end;
    return { journal, records, damage };
  }

  /** Supplies the state records that compaction writes (set by the owner). */
  stateProvider: (() => Buffer[]) | null = null;

  /** Queues records; resolves once they are durable under the fsync policy. The caller flushes. */
  append(records: readonly Buffer[]): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.refusal());
    this.queued.push(...records);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Writes queued records and commits them. */
  flush(): void {
    if (this.queued.length === 0) return;
    const records = this.queued;
    const waiters = this.waiters;
    this.queued = [];
    this.waiters = [];
    if (this.failure !== null) {
      for (const w of waiters) w.reject(this.refusal());
      return;
    }
    const targets: SyncTarget[] = [];
    try {
      if (this.fd < 0) targets.push(...this.create());
      const want = records.reduce((sum, r) => sum + r.length, 0);
      const written = this.ctx.io.writev(this.fd, records, this.size);
      if (written !== want) throw new Error(`short write (${written} of ${want} bytes)`);
      this.size += want;
    } catch (error) {
      this.fail(error);
      for (const w of waiters) w.reject(this.failure);
      return;
    }
    targets.push(this.fileTarget);
    if (this.barrier !== null) targets.push(this.barrier);
    if (this.wantsCompaction && this.stateProvider !== null) this.compact(this.stateProvider());
    this.inFlight.track(this.ctx.groupCommit.commit(targets)).then(
      () => {
        if (this.failure !== null) for (const w of waiters) w.reject(this.refusal());
        else for (const w of waiters) w.resolve();
      },
      (error: unknown) => {
        this.fail(error);
        for (const w of waiters) w.reject(this.failure);
      },
    );
  }

  /** Resolves when no commit of this journal is in flight (before closing it). */
  idle(): Promise<void> {
    return this.inFlight.idle();
  }

  /** Creates the file (first consumer of the stream); returns what must be synced with it. */
  private create(): SyncTarget[] {
    const { io } = this.ctx;
    this.fd = io.open(this.file, 'wx+');
    this.fileTarget = this.targetFor(this.fd);
    const header = encodeFileHeader({ magic: JOURNAL_MAGIC, version: JOURNAL_VERSION, param: 0, baseOffset: 0, createdMs: Date.now() });
    if (io.writev(this.fd, [header], 0) !== header.length) throw new Error('short write of the journal header');
    this.size = header.length;
    this.sizeAfterCompaction = header.length;
    return [{ name: this.dir, directory: true, sync: () => io.syncDir(this.dir), failed: (error) => this.fail(error) }];
  }

  /** True when the journal has grown enough that {@link compact} should run. */
  get wantsCompaction(): boolean {
    return !this.compacting && this.failure === null && this.fd >= 0 && this.size > Math.max(COMPACT_MIN_BYTES, 4 * this.sizeAfterCompaction);
  }

  /**
   * Replaces the journal by `state` (one STATE record per consumer, describing everything
   * written so far). Appends go to the new file at once; see the module comment.
   */
  compact(state: readonly Buffer[]): void {
    if (!this.wantsCompaction) return;
    const { io, logger } = this.ctx;
    const temporary = this.file + '.compact';
    const contents = encodeJournalFile(state);
    const want = contents.reduce((sum, b) => sum + b.length, 0);
    let fd = -1;
    try {
      if (io.stat(temporary) !== null) io.unlink(temporary);
      fd = io.open(temporary, 'wx+');
      if (io.writev(fd, contents, 0) !== want) throw new Error('short write');
    } catch (error) {
      if (fd >= 0) io.close(fd);
      logger.warn({ file: temporary, err: error }, 'consumer journal compaction failed; the journal keeps growing');
      return;
    }
    const oldTarget = this.fileTarget;
    const oldSize = this.size;
    this.fd = fd;
    this.fileTarget = this.targetFor(fd);
    this.size = want;
    this.sizeAfterCompaction = want;
    this.compacting = true;
    let renamed = false;
    // Until this has run once, the new file is not the durable journal: every commit waits for it.
    const barrier: SyncTarget = {
      name: `${this.file} (compaction)`,
      sync: async () => {
        await io.datasync(fd);
        if (!renamed) {
          io.rename(temporary, this.file);
          renamed = true;
        }
        await io.syncDir(this.dir);
      },
      failed: (error) => this.fail(error),
    };
    this.barrier = barrier;
    // Under `always` the barrier runs in the next round with every commit that needs it. Under
    // the other policies nothing waits on it, but the rename must not wait for close: run it now.
    const finishing = this.ctx.groupCommit.policy === 'always' ? this.ctx.groupCommit.commit([barrier]) : barrier.sync();
    this.inFlight.track(finishing).then(
      () => {
        if (this.barrier === barrier) this.barrier = null;
        this.compacting = false;
        oldTarget.retire(); // closes the old descriptor once no sync of it is queued or running
        logger.debug({ file: this.file, from_bytes: oldSize, to_bytes: want }, 'consumer journal compacted');
      },
      (error: unknown) => {
        this.compacting = false;
        this.fail(error);
      },
    );
  }

  /** Bytes of the current journal file (for snapshots and stats). */
  get bytes(): number {
    return this.size;
  }

  /** Targets to fsync at close. */
  syncTargets(): SyncTarget[] {
    if (this.fd < 0 || this.failure !== null) return [];
    return this.barrier === null ? [this.fileTarget] : [this.fileTarget, this.barrier];
  }

  close(reason = new EventBusError(ErrorCodes.CLOSED, 'the stream was closed')): void {
    for (const w of this.waiters) w.reject(reason);
    this.waiters = [];
    this.queued = [];
    if (this.fd >= 0) this.ctx.io.close(this.fd);
    this.fd = -1;
  }

  private fail(error: unknown): void {
    if (this.failure !== null) return;
    this.failure = error instanceof EventBusError ? error : ioError(`writing ${this.file}`, error);
    this.ctx.logger.error({ file: this.file, code: this.failure.code, reason: this.failure.reason }, 'consumer journal refuses changes until reopened');
  }

  private refusal(): EventBusError {
    return refusalAfter(this.failure!, 'consumer state refuses changes');
  }

}

/** The next position at or after `from` where a valid record starts, or -1. */
function resync(buffer: Buffer, from: number): number {
  for (let position = from; position + RECORD_HEADER_BYTES < buffer.length; position++) {
    const length = buffer.readUInt32LE(position + 4);
    if (length === 0 || length > buffer.length - position - RECORD_HEADER_BYTES) continue;
    const type = buffer[position + RECORD_HEADER_BYTES]!;
    if (type < RecordTypes.CONSUMER || type > RecordTypes.STATE) continue;
    if (typeof decodeRecordAt(buffer, position) !== 'string') return position;
  }
  return -1;
}

/**
 * The sync target of one open journal file. Retiring it (after compaction replaced the file)
 * makes later syncs no-ops and closes the descriptor once no sync of it is running: a descriptor
 * number is never closed, and reused by another file, under a queued fsync.
 */
class FileTarget implements SyncTarget {
  private running = 0;
  private retired = false;

  constructor(readonly name: string, private readonly fd: number, private readonly io: FileIO, readonly failed: (error: unknown) => void) {}

  async sync(): Promise<void> {
    if (this.retired || this.fd < 0) return;
    this.running += 1;
    try {
      await this.io.datasync(this.fd);
    } finally {
      this.running -= 1;
      if (this.retired && this.running === 0) this.io.close(this.fd);
    }
  }

  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.running === 0 && this.fd >= 0) this.io.close(this.fd);
  }
}
