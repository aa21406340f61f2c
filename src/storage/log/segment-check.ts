/**
 * What a segment's files hold, found without changing them: the one decoder of segment files
 * above the record level (format/record.ts) and the sequential scan (log-scanner.ts).
 *
 * Recovery (segment-recovery.ts) and read-time repair (segment-repair.ts) act on what these
 * functions find; `eventbus verify` (tools/verify.ts) reports it. So a check (a header, a seal
 * trailer, the records of a log and the damage among them, the batch rule) is written once.
 */
import { ErrorCodes, EventBusError } from '../../errors.js';
import { decodeFileHeader, FILE_HEADER_BYTES } from '../format/file-header.js';
import { decodeIndexEntry, decodeSealTrailer, encodeIndexEntry, INDEX_ENTRY_BYTES, INDEX_MAGIC, INDEX_VERSION, SEAL_TRAILER_BYTES, sealedIndexBytes, type SealInfo } from '../format/offset-index.js';
import { checkRecord, MAX_RECORD_LENGTH, RECORD_HEADER_BYTES, type RecordProblem, type RecordVersion } from '../format/record.js';
import { readFully, type FileIO } from '../fs/io.js';
import type { Logger } from '../logger.js';
import { findNextRecord, scanLog, zeroFrom, type ResyncBounds } from './log-scanner.js';
import { LOG_MAGIC, LOG_VERSIONS, segmentPaths, type SegmentPaths } from './segment-files.js';

/** Records found by resynchronisation must carry timestamps this close to the segment's life. */
const RESYNC_TIMESTAMP_SLACK_MS = 7 * 86_400_000;

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

/** Logs damage as every finder of it does: kept on disk, never returned. */
export function logDamage(logger: Logger, damage: Damage): void {
  const { file, position, firstOffset, lastOffset, reason } = damage;
  logger.error({ file, position, firstOffset, lastOffset, reason }, 'segment is damaged: records kept on disk, not returned');
}

/**
 * The log header of segment `baseOffset` open as `fd`: its creation time and record format
 * version, or why it fails (`torn`: it does not decode at all, as a header cut short while being
 * written).
 */
export function checkLogHeader(io: FileIO, fd: number, baseOffset: number): { createdMs: number; version: RecordVersion } | { problem: string; torn: boolean } {
  const header = Buffer.alloc(FILE_HEADER_BYTES);
  const n = readFully(io, fd, header, 0, FILE_HEADER_BYTES, 0);
  const decoded = decodeFileHeader(header.subarray(0, n), LOG_MAGIC, LOG_VERSIONS);
  if (typeof decoded === 'string') return { problem: `log ${decoded}`, torn: true };
  if (decoded.baseOffset !== baseOffset) return { problem: `log header names base offset ${decoded.baseOffset}`, torn: false };
  return { createdMs: decoded.createdMs, version: decoded.version as RecordVersion };
}

/**
 * The record version of a log whose header fails its check: 1 when its first record checks as
 * version 1 and not as version 2, else 2.
 */
export function guessVersion(io: FileIO, fd: number, logBytes: number): RecordVersion {
  const length = Math.min(logBytes - FILE_HEADER_BYTES, RECORD_HEADER_BYTES + MAX_RECORD_LENGTH, 1 << 20);
  if (length < RECORD_HEADER_BYTES) return 2;
  const chunk = Buffer.allocUnsafe(length);
  const n = readFully(io, fd, chunk, 0, length, FILE_HEADER_BYTES);
  const asV2 = checkRecord(chunk, 0, n, MAX_RECORD_LENGTH, undefined, 2);
  return asV2 === 'bad-fields' && typeof checkRecord(chunk, 0, n, MAX_RECORD_LENGTH, undefined, 1) === 'number' ? 1 : 2;
}

/** The damage a failing log header is: it makes no offset unreadable by itself. */
export function headerDamage(file: string, baseOffset: number, problem: string): Damage {
  return { file, position: 0, firstOffset: baseOffset, lastOffset: baseOffset - 1, reason: problem };
}

/** Why the index header of segment `baseOffset` open as `fd` fails, or null. */
export function checkIndexHeader(io: FileIO, fd: number, baseOffset: number): string | null {
  const header = Buffer.alloc(FILE_HEADER_BYTES);
  const n = readFully(io, fd, header, 0, FILE_HEADER_BYTES, 0);
  const decoded = decodeFileHeader(header.subarray(0, n), INDEX_MAGIC, INDEX_VERSION);
  if (typeof decoded === 'string') return `index ${decoded}`;
  if (decoded.baseOffset !== baseOffset) return `index names base offset ${decoded.baseOffset}`;
  return null;
}

/** The seal trailer at the end of an index of `indexBytes` bytes, or null if there is none. */
export function readSealTrailer(io: FileIO, fd: number, indexBytes: number): SealInfo | null {
  const at = indexBytes - SEAL_TRAILER_BYTES;
  if (at < FILE_HEADER_BYTES || (at - FILE_HEADER_BYTES) % INDEX_ENTRY_BYTES !== 0) return null;
  const trailer = Buffer.alloc(SEAL_TRAILER_BYTES);
  readFully(io, fd, trailer, 0, SEAL_TRAILER_BYTES, at);
  return decodeSealTrailer(trailer);
}

/** What the headers, sizes and seal trailer of a sealed segment say. */
export interface SealedCheck {
  logBytes: number;
  /** From the log header; null when it fails (then `logHeaderProblem` says why). */
  createdMs: number | null;
  /** The record format version from the log header (guessed when the header fails). */
  version: RecordVersion;
  logHeaderProblem: string | null;
  /** The seal, when the index checks and agrees with the log; else `problem` says why not. */
  seal: SealInfo | null;
  problem: string | null;
}

/**
 * Checks a sealed segment holding `count` records without reading its records: the log header,
 * the index header, the index size, the seal trailer and the log size it records. Throws
 * CORRUPT_DATA if the log cannot be opened.
 */
export function checkSealed(io: FileIO, paths: SegmentPaths, count: number): SealedCheck {
  let logFd: number;
  try {
    logFd = io.open(paths.log, 'r');
  } catch (error) {
    throw new EventBusError(ErrorCodes.CORRUPT_DATA, `segment file ${paths.log} cannot be opened (${(error as NodeJS.ErrnoException).code ?? error})`, {
      context: { file: paths.log },
    });
  }
  let logBytes: number;
  let header: ReturnType<typeof checkLogHeader>;
  let version: RecordVersion;
  try {
    logBytes = io.size(logFd);
    header = checkLogHeader(io, logFd, paths.baseOffset);
    version = 'version' in header ? header.version : guessVersion(io, logFd, logBytes);
  } finally {
    io.close(logFd);
  }
  const result: SealedCheck = {
    logBytes,
    createdMs: 'createdMs' in header ? header.createdMs : null,
    version,
    logHeaderProblem: 'problem' in header ? header.problem : null,
    seal: null,
    problem: null,
  };
  if (io.stat(paths.index) === null) return { ...result, problem: 'index file is missing' };
  const indexFd = io.open(paths.index, 'r');
  try {
    const indexBytes = io.size(indexFd);
    const headerProblem = checkIndexHeader(io, indexFd, paths.baseOffset);
    if (headerProblem !== null) return { ...result, problem: headerProblem };
    if (indexBytes !== sealedIndexBytes(count)) return { ...result, problem: `index is ${indexBytes} bytes, expected ${sealedIndexBytes(count)}` };
    const seal = readSealTrailer(io, indexFd, indexBytes);
    if (seal === null) return { ...result, problem: 'seal trailer fails its check' };
    if (seal.recordCount !== count) return { ...result, problem: `seal trailer counts ${seal.recordCount} records, expected ${count}` };
    if (seal.logBytes !== logBytes) return { ...result, problem: `log is ${logBytes} bytes, seal trailer says ${seal.logBytes}` };
    return { ...result, seal };
  } finally {
    io.close(indexFd);
  }
}

/**
 * True if the segment is sealed and whole: {@link checkSealed} finds nothing wrong. A check, not
 * an open: whatever it finds is for the caller to act on, not to log.
 */
export function isWholeSealed(io: FileIO, paths: SegmentPaths, count: number): boolean {
  try {
    const check = checkSealed(io, paths, count);
    return check.seal !== null && check.logHeaderProblem === null;
  } catch {
    return false;
  }
}

/**
 * A position just after a record that ends a batch (or the start of a segment, or the record a
 * scan resynchronised on after damage), and the offset after it.
 */
export interface BatchBoundary {
  position: number;
  offset: number;
}

/**
 * The batch rule (docs/storage-format.md, "Batches"), written once for recovery, index rebuilds
 * and `eventbus verify`: a batch is read whole or not at all, so records that fail their checks
 * (or are missing) make damage of every offset of their batch, from the last batch end before
 * them (`boundary`) up to the last failing one, though the records before them pass their own
 * checks. `position` is where the failing bytes are.
 */
export function batchDamage(file: string, boundary: BatchBoundary, position: number, firstOffset: number, lastOffset: number, reason: string): Damage {
  if (boundary.offset >= firstOffset) return { file, position, firstOffset, lastOffset, reason };
  return { file, position, firstOffset: boundary.offset, lastOffset, reason: `${reason}, at offset ${firstOffset} of a batch from offset ${boundary.offset}` };
}

/** The batch rule for records that all pass their checks but end no batch: every one is damage. */
export function unendedBatchDamage(file: string, boundary: BatchBoundary, nextOffset: number, reason = 'the last batch has no record ending it'): Damage {
  return { file, position: boundary.position, firstOffset: boundary.offset, lastOffset: nextOffset - 1, reason };
}

/** Where the records of a log stop, with nothing valid after them in the file. */
export interface TailStop {
  position: number;
  problem: RecordProblem;
}

/** What {@link scanRecords} found. */
export interface RecordsScan {
  /** The offset after the last record accounted for (valid, or in a damaged stretch). */
  nextOffset: number;
  /** Position just after the last valid record (at the stop, when there is one). */
  end: number;
  maxTimestampMs: number;
  /** Stretches that fail with valid records after them, each made damage with its whole batch. */
  damage: Damage[];
  /** The last batch end: the records from it to `nextOffset` belong to a batch that has no end (yet). */
  boundary: BatchBoundary;
  /**
   * Set when a record fails and nothing valid follows it in the file (a torn write, or damage to
   * the last records); null when the records run to the end of the file, or only zeros (the
   * preallocated end, log-file.ts) follow them.
   */
  stop: TailStop | null;
}

/**
 * Walks the records (of format `version`) of a log open as `fd` (`logBytes` long, of a segment
 * created at `createdMs`) from `from`, at most `maxRecords` of them: the one sequential reading
 * of a segment's records that recovery, index rebuilds and `eventbus verify` share. Valid records
 * are passed to `visit`; a failing stretch with valid records after it is skipped by
 * resynchronising on the next one, its offsets passed to `damaged` and made damage by the batch
 * rule ({@link batchDamage}). What happens at the end (a stop, a batch with no end, records
 * missing) is for the caller to judge: it depends on whether the segment is sealed and on how the
 * store stopped.
 */
export function scanRecords(
  io: FileIO,
  fd: number,
  file: string,
  logBytes: number,
  from: { position: number; offset: number; boundary: BatchBoundary },
  segment: { version: RecordVersion; createdMs: number },
  visit: (offset: number, position: number) => void,
  damaged: (offset: number, position: number) => void,
  maxRecords = Number.MAX_SAFE_INTEGER,
): RecordsScan {
  const stopOffset = from.offset + maxRecords;
  const damage: Damage[] = [];
  let { position, offset: expected, boundary } = from;
  let maxTimestampMs = 0;
  for (;;) {
    const scanFrom = expected;
    const result = scanLog(io, fd, position, logBytes, expected, MAX_RECORD_LENGTH, segment.version, (offset, at) => visit(offset, at), stopOffset - expected);
    maxTimestampMs = Math.max(maxTimestampMs, result.maxTimestampMs);
    if (result.batchEndOffset > scanFrom) boundary = { position: result.batchEnd, offset: result.batchEndOffset };
    expected = result.nextOffset;
    position = result.end;
    const done = (stop: TailStop | null): RecordsScan => ({ nextOffset: expected, end: position, maxTimestampMs, damage, boundary, stop });
    if (result.stop === null || expected >= stopOffset) return done(null);
    const at = result.stop.position;
    if (zeroFrom(io, fd, at, logBytes)) return done(null); // the preallocated, never-written end
    const bound = Math.min(stopOffset - 1, expected + Math.floor((logBytes - at) / RECORD_HEADER_BYTES));
    const next = findNextRecord(io, fd, at + 1, logBytes, resyncBounds(expected, bound, segment.createdMs));
    if (next === null) return done(result.stop);
    for (let offset = expected; offset < next.offset; offset++) damaged(offset, at);
    damage.push(batchDamage(file, boundary, at, expected, next.offset - 1, `record ${result.stop.problem}`));
    expected = next.offset;
    position = next.position;
    // Damage is kept whole: what follows it starts afresh.
    boundary = { position, offset: expected };
  }
}

/** Where the records of a log are and what is damaged among them (see {@link indexRecords}). */
export interface RecordsFound {
  /** Index entries for every offset (pointing at the damage for damaged ones). */
  entries: Buffer;
  maxTimestampMs: number;
  /** Position just after the last valid record. */
  end: number;
  damage: Damage[];
}

/**
 * Indexes the records (of format `version`) of the log of `paths` open as `fd` (`logBytes` long,
 * created at `createdMs`), expecting offsets from the base offset up to `count` records: a whole
 * segment, whose last record must end a batch. Damaged stretches are skipped by resynchronising on
 * the next valid record; the offsets they held get entries pointing at the damage, so reading them
 * reports it. Damage follows the batch rule ({@link batchDamage}); records missing at the end, or
 * a last batch with no end, are damage too.
 */
export function indexRecords(io: FileIO, fd: number, paths: SegmentPaths, logBytes: number, count: number, createdMs: number, version: RecordVersion): RecordsFound {
  const base = paths.baseOffset;
  const stopOffset = base + count;
  const entries = Buffer.alloc(count * INDEX_ENTRY_BYTES);
  const put = (offset: number, at: number) => encodeIndexEntry(entries, (offset - base) * INDEX_ENTRY_BYTES, offset - base, at);
  // An entry of a damaged offset points at the damage, inside the log.
  const putDamaged = (offset: number, at: number) => put(offset, Math.min(at, Math.max(logBytes - 1, FILE_HEADER_BYTES)));
  const start = { position: FILE_HEADER_BYTES, offset: base, boundary: { position: FILE_HEADER_BYTES, offset: base } };
  const scan = scanRecords(io, fd, paths.log, logBytes, start, { version, createdMs }, put, putDamaged, count);
  const damage = scan.damage;
  if (scan.nextOffset < stopOffset) {
    const at = scan.stop?.position ?? scan.end;
    for (let offset = scan.nextOffset; offset < stopOffset; offset++) putDamaged(offset, at);
    const reason = scan.stop !== null ? `record ${scan.stop.problem}` : scan.end >= logBytes ? 'records missing (file too short)' : 'records missing (zeros where they should be)';
    damage.push(batchDamage(paths.log, scan.boundary, at, scan.nextOffset, stopOffset - 1, reason));
  } else if (scan.boundary.offset < stopOffset) {
    damage.push(unendedBatchDamage(paths.log, scan.boundary, stopOffset));
  }
  return { entries, maxTimestampMs: scan.maxTimestampMs, end: scan.end, damage };
}

/** Plausible bounds for a record found by resynchronisation after damage. */
export function resyncBounds(minOffset: number, maxOffset: number, createdMs: number): ResyncBounds {
  return {
    minOffset,
    maxOffset,
    minTimestampMs: Math.max(1, createdMs - RESYNC_TIMESTAMP_SLACK_MS),
    maxTimestampMs: Date.now() + RESYNC_TIMESTAMP_SLACK_MS,
    maxLength: MAX_RECORD_LENGTH,
  };
}

/**
 * Whether the log of a segment that should hold `count` records ends early: the records stop
 * (file too short, or a torn record) before `count` with nothing valid after the stop in the
 * file. That is the signature of a torn write, never of a bit flip (which leaves valid records
 * after it). Reads the whole log: for the few segments whose seal is not yet known to be
 * durable, at recovery only.
 */
export function endsShort(io: FileIO, paths: SegmentPaths, count: number): boolean {
  const stat = io.stat(paths.log);
  if (stat === null || stat.size <= FILE_HEADER_BYTES) return count > 0;
  const fd = io.open(paths.log, 'r');
  try {
    const base = paths.baseOffset;
    const header = checkLogHeader(io, fd, base);
    const version = 'version' in header ? header.version : 2;
    const scan = scanLog(io, fd, FILE_HEADER_BYTES, stat.size, base, MAX_RECORD_LENGTH, version, () => {}, count);
    if (scan.nextOffset >= base + count) return false;
    if (scan.stop === null) return true; // the file ends before the records do
    const bounds = { ...resyncBounds(scan.nextOffset, base + count - 1, 0), minTimestampMs: 1 };
    return findNextRecord(io, fd, scan.stop.position + 1, stat.size, bounds) === null;
  } finally {
    io.close(fd);
  }
}

/**
 * Where a crash tore a segment roll, in a stream whose segments begin at `bases` (oldest first),
 * or null: the position in `bases` of the segment the stream is cut back to after a crash (an
 * open drops the segments after it: segment-recovery.ts's cutTornRoll; `eventbus verify` says
 * what that open will do). Written once so that both judge a store alike.
 *
 * A power loss in the middle of a roll can make a new segment's directory entry (and even its
 * records) durable before the last records of the segment it follows: a directory fsync begun
 * for another reason covers the entry, and the fsyncs of one round complete in any order. The
 * segments whose seal does not check yet (the unproven tail) may then hold a segment that ends
 * short ({@link endsShort}) and never had its seal begun ({@link neverSealed}). That is a torn
 * tail, not damage: under `always` nothing from its first lost record on was acknowledged (a
 * commit resolves only once everything before it is durable). Only meaningful after a crash:
 * after a clean stop nothing is torn.
 */
export function findTornRoll(io: FileIO, dir: string, bases: readonly number[]): number | null {
  const paths = (i: number) => segmentPaths(dir, bases[i]!);
  const count = (i: number) => bases[i + 1]! - bases[i]!;
  let first = bases.length - 1;
  while (first > 0 && !isWholeSealed(io, paths(first - 1), count(first - 1))) first -= 1;
  for (let i = first; i < bases.length - 1; i++) {
    if (neverSealed(io, paths(i), count(i)) && endsShort(io, paths(i), count(i))) return i;
  }
  return null;
}

/**
 * True when the index of a segment that should hold `count` records shows no sign of a seal: it
 * exists, and either its header never reached the disk (shorter than a header: its data was not
 * yet durable) or its header checks and it is shorter than a sealed index. Its directory entry
 * was made before any later segment's, so it survives whenever theirs does: a missing index was
 * removed, not torn. Its seal is written only over a durable log, so one begun (the sealed size)
 * means the log's records were acknowledged; and an index whose whole header fails was damaged,
 * not torn.
 */
function neverSealed(io: FileIO, paths: SegmentPaths, count: number): boolean {
  const stat = io.stat(paths.index);
  if (stat === null || stat.size >= sealedIndexBytes(count)) return false;
  if (stat.size < FILE_HEADER_BYTES) return true;
  const fd = io.open(paths.index, 'r');
  try {
    return checkIndexHeader(io, fd, paths.baseOffset) === null;
  } finally {
    io.close(fd);
  }
}

/**
 * Offsets a stream had given past its last remaining log: the files of its last segment were
 * lost (deleted, or a file system that lost them). {@link findLostTail} finds them.
 */
export interface LostTail {
  /** Where the lost segment began: the base offset the evidence names (past the last log's). */
  baseOffset: number;
  /** Offsets given from `baseOffset` on (at least 1). */
  count: number;
  /** What shows it, in words (for logs and reports). */
  evidence: string;
}

/** What a clean close recorded of the active segment (crc-checkpoint.ts): its base and index size. */
export interface CheckpointedSegment {
  base: number;
  indexBytes: number;
}

/**
 * The offsets a stream had given past its last remaining `.log`, after a clean stop, from the
 * evidence a lost last segment leaves: the clean close's `crc-checkpoint` entry of the stream's
 * active segment (its base and index size, hence its record count), and an `.index` left without
 * its log past the last log (its seal's record count, or its entries up to the newest that
 * checks). Null when neither names an offset past the last log. Read-only: recovery
 * (segment-recovery.ts) seals the lost offsets as damage and continues after them; `eventbus
 * verify` can report the same.
 *
 * Only after a clean stop: the active index is not fsynced on the append path, so after a crash
 * its entries may list records that never became durable (and were never acknowledged), and a
 * clean close's checkpoint is then absent. `indexes` are the stream directory's index files
 * whose log is gone (segment-files.ts's `orphanIndexes`); `bases` the logs' base offsets, in order.
 */
export function findLostTail(io: FileIO, bases: readonly number[], indexes: readonly string[], checkpoint: CheckpointedSegment | undefined): LostTail | null {
  if (bases.length === 0) return null; // no log at all: the stream cannot be opened (openSegments says why)
  const lastBase = bases[bases.length - 1]!;
  const found: LostTail[] = [];
  if (checkpoint !== undefined && checkpoint.base > lastBase && checkpoint.indexBytes >= FILE_HEADER_BYTES) {
    const count = Math.floor((checkpoint.indexBytes - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES);
    found.push({ baseOffset: checkpoint.base, count, evidence: `the clean-close crc-checkpoint lists an active segment from offset ${checkpoint.base} holding ${count} records, and its log is missing` });
  }
  for (const file of indexes) {
    const match = /(\d{20})\.index$/.exec(file);
    const base = match === null ? -1 : Number(match[1]);
    if (base <= lastBase) continue; // below the last log: what a crash during retention leaves
    const count = indexedCount(io, file, base);
    found.push({ baseOffset: base, count, evidence: `${file} lists ${count} records from offset ${base}, and its log is missing` });
  }
  const given = found.filter((f) => f.count > 0);
  if (given.length === 0) return null;
  const baseOffset = Math.min(...given.map((f) => f.baseOffset));
  const end = Math.max(...given.map((f) => f.baseOffset + f.count));
  return { baseOffset, count: end - baseOffset, evidence: given.map((f) => f.evidence).join('; ') };
}

/** The records an index lists: its seal's count, else its entries up to the newest that checks (0 when its header fails). */
function indexedCount(io: FileIO, file: string, base: number): number {
  const fd = io.open(file, 'r');
  try {
    if (checkIndexHeader(io, fd, base) !== null) return 0;
    const size = io.size(fd);
    const seal = readSealTrailer(io, fd, size);
    if (seal !== null && size === sealedIndexBytes(seal.recordCount)) return seal.recordCount;
    const entries = Math.floor((size - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES);
    const entry = Buffer.alloc(INDEX_ENTRY_BYTES);
    for (let relative = entries - 1; relative >= 0; relative--) {
      readFully(io, fd, entry, 0, INDEX_ENTRY_BYTES, FILE_HEADER_BYTES + relative * INDEX_ENTRY_BYTES);
      if (decodeIndexEntry(entry, 0, relative) >= 0) return relative + 1;
    }
    return 0;
  } finally {
    io.close(fd);
  }
}
