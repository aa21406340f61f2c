/**
 * The consumer journal's format (`consumers` in a stream's directory): the one encoder and the
 * one decoder of its records. Reading is pure: {@link decodeJournal} says what a file holds,
 * where its valid contents end and what is damaged, without changing anything, so recovery
 * (consumer-journal.ts, which then repairs) and `eventbus verify` (which reports) share it.
 *
 * ```
 * file header (32 bytes, format/file-header.ts): magic "EBCN", version 1
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
 *     7 SETUP       id u32, start_offset u64, spec_length u32, spec (UTF-8 JSON; consumer-setup.ts):
 *                   where the consumer started; follows its CONSUMER record (and, in a
 *                   compacted journal, its STATE record); its cursor is at least start_offset
 * ```
 */
import { assert } from '../../errors.js';
import { readU64, writeU64 } from '../format/binary.js';
import { crc32c } from '../format/crc.js';
import { decodeFileHeader, encodeFileHeader, FILE_HEADER_BYTES } from '../format/file-header.js';
import { MAX_STREAM_NAME_BYTES } from '../stream-name.js';
import type { Consumer, Entry, EntryState } from './consumer.js';
import { EntryStates } from './consumer.js';
import type { EventStatus } from './consumer-types.js';

export const JOURNAL_FILE = 'consumers';
export const JOURNAL_MAGIC = 'EBCN';
export const JOURNAL_VERSION = 1;
const RECORD_HEADER_BYTES = 8;
/**
 * The longest body a record may have: a reader takes a longer length for damage. The writer never
 * writes one (Writer asserts it): a mark of more offsets is split into several records
 * ({@link encodeMarks}), and `maxPending` is bounded ({@link MAX_PENDING}) so that a consumer's
 * STATE record, the longest record, fits. It may only grow: readers must accept what was written.
 */
const MAX_RECORD_BODY_BYTES = 64 * 1024 * 1024;
/** Bytes of a STATE record's body besides its name and entries, and of each entry. */
const STATE_FIXED_BYTES = 35;
const STATE_ENTRY_BYTES = 21;
/**
 * The highest `maxPending` (consumers' limit, engine-options.ts and the config file): a consumer
 * has at most that many entries, and its STATE record, with the longest name, must fit in a
 * record (3,195,646).
 */
export const MAX_PENDING = Math.floor((MAX_RECORD_BODY_BYTES - STATE_FIXED_BYTES - MAX_STREAM_NAME_BYTES) / STATE_ENTRY_BYTES);
/** Bytes of a MARK record's body besides its offsets. */
const MARK_FIXED_BYTES = 10;
/** The most offsets one MARK record holds; a mark of more is written as several. */
export const MAX_MARK_OFFSETS = Math.floor((MAX_RECORD_BODY_BYTES - MARK_FIXED_BYTES) / 8);

export const RecordTypes = { CONSUMER: 1, DELIVER: 2, REDELIVER: 3, MARK: 4, DEADLETTER: 5, STATE: 6, SETUP: 7 } as const;

/** A decoded journal record. */
export type JournalRecord =
  | { type: 1; id: number; createdMs: number; name: string }
  | { type: 2; id: number; from: number; count: number; deadlineMs: number; autoAck: boolean }
  | { type: 3; id: number; deadlineMs: number; autoAck: boolean; offsets: number[] }
  | { type: 4; id: number; status: EventStatus; offsets: number[] }
  | { type: 5; id: number; offsets: number[] }
  | { type: 6; id: number; createdMs: number; name: string; cursor: number; deadLettered: number; entries: [number, Entry][] }
  | { type: 7; id: number; startOffset: number; spec: string };

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
    assert(this.at - RECORD_HEADER_BYTES <= MAX_RECORD_BODY_BYTES, 'a consumer journal record longer than readers accept');
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
  return new Writer(MARK_FIXED_BYTES + 8 * offsets.length).u8(RecordTypes.MARK).u32(id).u8(status).offsets(offsets).finish();
}

/**
 * A mark of any number of offsets, as MARK records of at most {@link MAX_MARK_OFFSETS} each (an
 * embedder's mark may repeat offsets, so its length has no other bound). Replaying them in order
 * is replaying the one mark; a crash between them is as if the rest were never marked (the mark
 * was not acknowledged).
 */
export function encodeMarks(id: number, status: EventStatus, offsets: readonly number[]): Buffer[] {
  if (offsets.length <= MAX_MARK_OFFSETS) return [encodeMark(id, status, offsets)];
  const records: Buffer[] = [];
  for (let from = 0; from < offsets.length; from += MAX_MARK_OFFSETS) records.push(encodeMark(id, status, offsets.slice(from, from + MAX_MARK_OFFSETS)));
  return records;
}

export function encodeDeadLetter(id: number, offsets: readonly number[]): Buffer {
  return new Writer(9 + 8 * offsets.length).u8(RecordTypes.DEADLETTER).u32(id).offsets(offsets).finish();
}

export function encodeState(consumer: Consumer): Buffer {
  const nameBytes = Buffer.from(consumer.name, 'utf8');
  const writer = new Writer(STATE_FIXED_BYTES + nameBytes.length + STATE_ENTRY_BYTES * consumer.entries.size)
    .u8(RecordTypes.STATE).u32(consumer.id).u64(consumer.createdMs).u16(nameBytes.length).bytes(nameBytes)
    .u64(consumer.cursor).u64(consumer.deadLettered).u32(consumer.entries.size);
  for (const [offset, entry] of consumer.entries) writer.u64(offset).u32(entry.deliveries).u8(entry.state).u64(entry.deadlineMs);
  return writer.finish();
}

export function encodeSetup(id: number, startOffset: number, spec: string): Buffer {
  const specBytes = Buffer.from(spec, 'utf8');
  return new Writer(17 + specBytes.length).u8(RecordTypes.SETUP).u32(id).u64(startOffset).u32(specBytes.length).bytes(specBytes).finish();
}

/** The contents of a compacted journal holding `states` (STATE records): for snapshots. */
export function encodeJournalFile(states: readonly Buffer[]): Buffer[] {
  return [encodeJournalHeader(Date.now()), ...states];
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
      case RecordTypes.SETUP: {
        const id = r.u32();
        const startOffset = r.u64();
        record = { type, id, startOffset, spec: r.text(r.u32()) };
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

/** What a journal file holds, as {@link decodeJournal} found it. */
export interface DecodedJournal {
  records: JournalRecord[];
  /** Damaged records (skipped), and a failing header. */
  damage: JournalDamage[];
  /** Where the valid contents end; a torn tail after it is cut off by recovery. */
  end: number;
  /**
   * The file holds a failing header and nothing else: after a crash, torn while being created
   * (nothing in it was acknowledged); after a clean stop, cut short, which `damage` then says
   * (every consumer position it held is lost). Either way the open starts the file afresh.
   */
  tornAtCreation: boolean;
}

/**
 * Why the journal's header fails (`problem`, file-header.ts's words; `bytes`: the file's size), said
 * once: `header is short (20 bytes)`, `header fails its check (bad magic "XXXX")`. Reasons read
 * after "consumer journal" (verify, the server's log).
 */
function headerFailure(problem: string, bytes: number): string {
  if (bytes < FILE_HEADER_BYTES) return `header is short (${bytes} bytes)`;
  return `header fails its check (${problem.replace(/^header /, '')})`;
}

/**
 * Decodes the contents of journal `file`. A failing record followed by valid ones is damage,
 * skipped; one with nothing valid after it is a torn tail that ends the contents, reported as
 * damage only when `afterCrash` is false (after a clean close nothing can be torn). Changes
 * nothing: the caller repairs (recovery) or reports (verify).
 */
export function decodeJournal(contents: Buffer, file: string, afterCrash: boolean): DecodedJournal {
  const records: JournalRecord[] = [];
  const damage: JournalDamage[] = [];
  const header = decodeFileHeader(contents.subarray(0, FILE_HEADER_BYTES), JOURNAL_MAGIC, JOURNAL_VERSION);
  if (typeof header === 'string') {
    if (contents.length <= FILE_HEADER_BYTES) {
      // A new journal's header is durable before a clean close: then it is damage, not a tear.
      if (!afterCrash) damage.push({ file, position: 0, reason: `${headerFailure(header, contents.length)} after a clean stop: every consumer position it held is lost` });
      return { records, damage, end: 0, tornAtCreation: true };
    }
    damage.push({ file, position: 0, reason: headerFailure(header, contents.length) });
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
      if (!afterCrash) damage.push({ file, position, reason: 'last record fails its check after a clean stop' });
      return { records, damage, end: position, tornAtCreation: false };
    }
    damage.push({ file, position, reason: `record ${decoded === 'bad' ? 'fails its check' : 'is cut short'}` });
    position = next;
  }
  return { records, damage, end: contents.length, tornAtCreation: false };
}

/** The header of a new journal file. */
export function encodeJournalHeader(createdMs: number): Buffer {
  return encodeFileHeader({ magic: JOURNAL_MAGIC, version: JOURNAL_VERSION, param: 0, baseOffset: 0, createdMs });
}

/** The next position at or after `from` where a valid record starts, or -1. */
function resync(buffer: Buffer, from: number): number {
  for (let position = from; position + RECORD_HEADER_BYTES < buffer.length; position++) {
    const length = buffer.readUInt32LE(position + 4);
    if (length === 0 || length > buffer.length - position - RECORD_HEADER_BYTES) continue;
    const type = buffer[position + RECORD_HEADER_BYTES]!;
    if (type < RecordTypes.CONSUMER || type > RecordTypes.SETUP) continue;
    if (typeof decodeRecordAt(buffer, position) !== 'string') return position;
  }
  return -1;
}
