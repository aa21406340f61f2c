/**
 * Opening a stream's segments after a clean or unclean stop, and repairing what a crash left:
 * the one place that changes a stream's files at open (Kafka's LogLoader, etcd's repair.go).
 * What the files hold is decided by segment-check.ts, which `eventbus verify` shares; this module
 * acts on it.
 *
 * - Leftover temporary files and indexes whose log is gone are removed.
 * - A roll torn by a power loss is cut back to where its tail was torn ({@link cutTornRoll}).
 * - Sealed segments are opened from headers, sizes and seal trailers only; an index that fails
 *   is rebuilt from its log (segment-repair.ts).
 * - The last segment's tail, the only place a crash can tear a write, is validated: a torn
 *   record with nothing valid after it is cut off; one with valid records after it is damage,
 *   kept and reported. After a crash the tail is then cut back to the end of the last record that
 *   ends a batch (format/record-fields.ts), so that a batch torn part-way vanishes whole.
 */
import { assert, ErrorCodes, EventBusError } from '../../errors.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import { decodeIndexEntry, encodeIndexEntry, INDEX_ENTRY_BYTES, indexEntryPosition, sealedIndexBytes } from '../format/offset-index.js';
import { CURRENT_RECORD_VERSION, decodeRecord, RECORD_HEADER_BYTES, type RecordVersion } from '../format/record.js';
import { DurableFile } from '../fs/durable-file.js';
import { IndexFile } from './index-file.js';
import { findNextRecord, scanLog, zeroFrom } from './log-scanner.js';
import { Segment, type RecoveredSegment, type SegmentContext } from './segment.js';
import { checkIndexHeader, checkLogHeader, checkSealed, endsShort, guessVersion, headerDamage, isWholeSealed, logDamage, readSealTrailer, resyncBounds, type Damage } from './segment-check.js';
import { encodeLogHeader, listSegments, MAX_RECORD_PAYLOAD_BYTES, segmentPaths, type SegmentPaths } from './segment-files.js';
import { rebuildSealedIndex } from './segment-repair.js';

/** Index entries examined, newest first, to find where recovery may start trusting the index. */
const RECOVERY_LOOKBACK_ENTRIES = 64;

/**
 * Opens the segments of the stream in `dir`, oldest first, the last one active (a new one is
 * created if the last was sealed just before a crash, before its successor existed).
 */
export function openSegments(ctx: SegmentContext, dir: string, nowMs: number): Segment[] {
  const { io } = ctx;
  const listing = listSegments(io, dir);
  for (const file of [...listing.leftovers, ...listing.orphanIndexes]) io.unlink(file);
  ctx.recovery?.note('leftoversRemoved', listing.leftovers.length + listing.orphanIndexes.length);
  const bases = listing.bases;
  if (bases.length === 0) {
    throw new EventBusError(ErrorCodes.CORRUPT_DATA, `stream directory ${dir} holds no segment files`, { context: { file: dir } });
  }
  cutTornRoll(ctx, dir, bases);
  const segments: Segment[] = [];
  for (let i = 0; i < bases.length - 1; i++) segments.push(openSealed(ctx, dir, bases[i]!, bases[i + 1]! - bases[i]!));
  const last = openLast(ctx, segmentPaths(dir, bases[bases.length - 1]!), nowMs);
  segments.push(last);
  if (last.seal !== null) {
    last.closeFiles();
    segments.push(Segment.create(ctx, dir, last.nextOffset, nowMs));
    io.syncDirNow(dir);
  }
  return segments;
}

/**
 * A power loss in the middle of a roll can make a new segment's directory entry (and even its
 * records) durable before the last records of the segment it follows: a directory fsync begun
 * for another reason covers the entry, and the fsyncs of one round complete in any order. The
 * segments whose seal does not check yet (the unproven tail) may then hold a segment that ends
 * short. That is a torn tail, not damage: under `always` nothing from the first lost record on
 * was acknowledged (a commit resolves only once everything before it is durable). Cut the
 * stream there: drop the later segments; the short one becomes the last and its tail is
 * recovered as any torn tail is. A bit flip never shortens a file, so damage is still reported.
 */
function cutTornRoll(ctx: SegmentContext, dir: string, bases: number[]): void {
  const paths = (i: number) => segmentPaths(dir, bases[i]!);
  const count = (i: number) => bases[i + 1]! - bases[i]!;
  let first = bases.length - 1;
  while (first > 0 && !isWholeSealed(ctx.io, paths(first - 1), count(first - 1))) first -= 1;
  for (let i = first; i < bases.length - 1; i++) {
    if (!endsShort(ctx.io, paths(i), count(i))) continue;
    const dropped = bases.splice(i + 1);
    for (const base of dropped) {
      const { log, index } = segmentPaths(dir, base);
      for (const file of [log, index]) if (ctx.io.stat(file) !== null) ctx.io.unlink(file);
    }
    ctx.io.syncDirNow(dir);
    ctx.recovery?.note('segmentsDropped', dropped.length);
    ctx.logger.warn({ dir, segment: bases[i], dropped }, 'a crash interrupted a segment roll: cut the torn tail and the segments after it');
    return;
  }
}

/**
 * Opens a sealed segment holding `count` records. Checks headers, file sizes and the seal
 * trailer only; rebuilds the index (reading the log once) if any of them does not check.
 */
export function openSealed(ctx: SegmentContext, dir: string, baseOffset: number, count: number): Segment {
  const paths = segmentPaths(dir, baseOffset);
  const check = checkSealed(ctx.io, paths, count);
  const damage: Damage[] = [];
  if (check.logHeaderProblem !== null) {
    damage.push(headerDamage(paths.log, baseOffset, check.logHeaderProblem));
    ctx.logger.error({ file: paths.log, position: 0, reason: check.logHeaderProblem }, 'segment header is damaged');
  }
  const createdMs = check.createdMs ?? 0;
  let seal = check.seal;
  let size = check.logBytes;
  if (seal === null) {
    ctx.recovery?.note('indexesRebuilt');
    const rebuilt = rebuildSealedIndex(ctx.io, ctx.logger, paths, count, check.version, createdMs, damage.length === 0, check.problem ?? 'index does not check');
    seal = rebuilt.seal;
    size = rebuilt.logBytes;
    damage.push(...rebuilt.damage);
  }
  return Segment.recovered(ctx, dir, baseOffset, {
    version: check.version, count, size, allocated: size, maxTimestampMs: seal.maxTimestampMs, createdMs, seal, damage,
    indexRebuilt: check.seal === null, log: null, index: new IndexFile(ctx.io, paths.index, baseOffset),
  });
}

/**
 * Opens the last segment of a stream after a clean or unclean stop. Trusts the index up to its
 * newest entry that points at a valid record, then validates only the log bytes after that
 * record: that tail is all a crash can have torn. The result may turn out to be sealed (a crash
 * after sealing and before the next segment was created); the caller then rolls.
 */
export function openLast(ctx: SegmentContext, paths: SegmentPaths, nowMs: number): Segment {
  const log = DurableFile.open(ctx.io, paths.log, 'r+');
  const index = new IndexFile(ctx.io, paths.index, paths.baseOffset);
  try {
    const found = recoverTail(ctx, paths, log, index, nowMs);
    return Segment.recovered(ctx, paths.dir, paths.baseOffset, found);
  } catch (error) {
    log.close();
    index.close();
    throw error;
  }
}

function recoverTail(ctx: SegmentContext, paths: SegmentPaths, log: DurableFile, index: IndexFile, nowMs: number): RecoveredSegment {
  const found: RecoveredSegment = { version: 2, count: 0, size: FILE_HEADER_BYTES, allocated: 0, maxTimestampMs: 0, createdMs: 0, seal: null, damage: [], indexRebuilt: false, log, index };
  const logBytes = recoverLogHeader(ctx, paths, log, found, nowMs);
  const indexProblem = openIndexForRecovery(ctx, paths, index, logBytes, found);
  if (found.seal !== null) return found; // sealed, but the crash came before the next segment existed
  const trusted = findTrustedEntry(paths, log, index, logBytes, found.version);
  const tail = recoverRecords(ctx, paths, log, index, trusted, logBytes, found);
  found.size = tail.end;
  found.allocated = tail.logBytes;
  found.count = tail.nextOffset - paths.baseOffset;
  found.maxTimestampMs = tail.maxTimestampMs;
  found.damage.push(...tail.damage);
  const fresh = tail.entries.length / INDEX_ENTRY_BYTES;
  const kept = Math.min(trusted.count, found.count);
  assert(found.count === kept + fresh, 'recovered index entries do not match records');
  if (fresh > 0) index.append(tail.entries, kept, 'index recovery to');
  const indexBytes = index.size();
  if (indexBytes !== indexEntryPosition(found.count)) index.truncateTo(found.count);
  index.crc = null;
  ctx.recovery?.note(indexProblem !== null ? 'indexesRebuilt' : 'indexEntriesAdded', indexProblem !== null ? 1 : fresh);
  if (indexProblem !== null) {
    ctx.logger.warn({ file: paths.index, reason: indexProblem }, 'index rebuilt from its segment');
  } else if (fresh > 0 || indexBytes !== indexEntryPosition(found.count)) {
    // Normal after a crash (the active index is not fsynced), but an operator is told.
    ctx.logger.info({ file: paths.index, entriesAdded: fresh, entriesTrusted: kept, indexBytesBefore: indexBytes }, 'index brought up to date from its segment');
  }
  found.indexRebuilt = kept === 0;
  if (found.version !== CURRENT_RECORD_VERSION && found.count === 0 && found.damage.length === 0) {
    // An empty segment of an older record format (a store written before format 2): it holds
    // no record, so it takes the current format now, durably, before anything is appended.
    log.write([encodeLogHeader(paths.baseOffset, found.createdMs)], 0, 'log header to');
    log.syncNow();
    found.version = CURRENT_RECORD_VERSION;
    found.headerRewritten = true;
    ctx.logger.info({ file: paths.log }, 'an empty segment of record format 1 now takes format 2');
  }
  return found;
}

/**
 * Checks the log header, recreating one torn while the file was being created (no record was
 * ever written to it, so nothing is lost). Sets the record version and creation time in `found`;
 * returns the log's size.
 */
function recoverLogHeader(ctx: SegmentContext, paths: SegmentPaths, log: DurableFile, found: RecoveredSegment, nowMs: number): number {
  const logBytes = log.size();
  const header = checkLogHeader(ctx.io, log.fd, paths.baseOffset);
  if ('createdMs' in header) {
    found.createdMs = header.createdMs;
    found.version = header.version;
    return logBytes;
  }
  if (logBytes <= FILE_HEADER_BYTES && header.torn) {
    // Torn while being created: no record was ever written to it, so nothing is lost.
    found.createdMs = nowMs;
    log.truncate(0);
    log.write([encodeLogHeader(paths.baseOffset, nowMs)], 0, 'log header to');
    log.syncNow();
    ctx.recovery?.note('headersRewritten');
    ctx.logger.warn({ file: paths.log }, 'rewrote the header of a segment torn while being created');
    return FILE_HEADER_BYTES;
  }
  found.version = guessVersion(ctx.io, log.fd, logBytes);
  found.damage.push(headerDamage(paths.log, paths.baseOffset, header.problem));
  ctx.logger.error({ file: paths.log, position: 0, reason: header.problem }, 'segment header is damaged');
  return logBytes;
}

/**
 * Opens (or recreates) the index of the last segment, and notices a sealed one (then `found`
 * holds its seal). Returns why the index had to be recreated, or null.
 */
function openIndexForRecovery(ctx: SegmentContext, paths: SegmentPaths, index: IndexFile, logBytes: number, found: RecoveredSegment): string | null {
  if (ctx.io.stat(paths.index) === null) {
    index.create(found.createdMs);
    return 'index file is missing';
  }
  const fd = index.open('r+').fd;
  const problem = checkIndexHeader(ctx.io, fd, paths.baseOffset);
  if (problem !== null) {
    index.reset(found.createdMs);
    return problem;
  }
  const indexBytes = index.size();
  const seal = readSealTrailer(ctx.io, fd, indexBytes);
  if (seal !== null && seal.logBytes === logBytes && sealedIndexBytes(seal.recordCount) === indexBytes) {
    found.seal = seal;
    found.count = seal.recordCount;
    found.size = logBytes;
    found.allocated = logBytes;
    found.maxTimestampMs = seal.maxTimestampMs;
  }
  return null;
}

/** Where recovery starts validating: after the newest trusted index entry's record. */
interface TrustedEntry {
  /** Entries trusted (records up to and including the trusted one). */
  count: number;
  /** Log position just after the trusted record. */
  end: number;
  timestampMs: number;
  /** True when the trusted record ends a batch (or there is none: the segment's start). */
  batchEnd: boolean;
}

/** The newest index entry (among the last few) whose record checks: recovery trusts up to it. */
function findTrustedEntry(paths: SegmentPaths, log: DurableFile, index: IndexFile, logBytes: number, version: RecordVersion): TrustedEntry {
  const entries = Math.floor((index.size() - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES);
  const look = Math.min(Math.max(entries, 0), RECOVERY_LOOKBACK_ENTRIES);
  const first = entries - look;
  const block = look > 0 ? index.readEntries(first, look) : Buffer.alloc(0);
  for (let relative = entries - 1; relative >= first && look > 0; relative--) {
    const at = (relative - first) * INDEX_ENTRY_BYTES;
    if (at + INDEX_ENTRY_BYTES > block.length) continue;
    const position = decodeIndexEntry(block, at, relative);
    const record = readRecordAt(log, position, logBytes, paths.baseOffset + relative, version);
    if (record === null) continue;
    return { count: relative + 1, end: position + record.size, timestampMs: record.timestampMs, batchEnd: record.batchEnd };
  }
  return { count: 0, end: FILE_HEADER_BYTES, timestampMs: 0, batchEnd: true };
}

/** The record of `offset` at `position` of an open log, decoded, or null if there is none that checks. */
function readRecordAt(log: DurableFile, position: number, logBytes: number, offset: number, version: RecordVersion): { size: number; timestampMs: number; batchEnd: boolean } | null {
  if (position < FILE_HEADER_BYTES || position + RECORD_HEADER_BYTES > logBytes) return null;
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  log.read(header, 0, RECORD_HEADER_BYTES, position);
  const size = RECORD_HEADER_BYTES + header.readUInt32LE(4);
  if (size > RECORD_HEADER_BYTES + MAX_RECORD_PAYLOAD_BYTES || position + size > logBytes) return null;
  const record = Buffer.allocUnsafe(size);
  log.read(record, 0, size, position);
  const decoded = decodeRecord(record, 0, size, MAX_RECORD_PAYLOAD_BYTES, offset, version);
  return typeof decoded === 'string' ? null : decoded;
}

/** A position after a record that ends a batch, and the offset after it. */
interface BatchBoundary {
  position: number;
  offset: number;
}

/**
 * The last batch boundary at or before the trusted entry's record, found by walking back through
 * the index entries (a batch is a few MiB at most); the segment's start is always one. Null when
 * an entry on the way fails its check (the caller then scans from the start).
 */
function boundaryBefore(paths: SegmentPaths, log: DurableFile, index: IndexFile, trusted: TrustedEntry, logBytes: number, version: RecordVersion): BatchBoundary | null {
  const base = paths.baseOffset;
  if (trusted.batchEnd) return { position: trusted.end, offset: base + trusted.count };
  for (let relative = trusted.count - 2; relative >= 0; relative--) {
    const position = index.entry(relative, logBytes);
    const record = readRecordAt(log, position, logBytes, base + relative, version);
    if (record === null) return null;
    if (record.batchEnd) return { position: position + record.size, offset: base + relative + 1 };
  }
  return { position: FILE_HEADER_BYTES, offset: base };
}

/** What {@link recoverRecords} found after the trusted entry. */
interface RecoveredTail {
  /** Index entries for the records validated (appended after the trusted ones kept). */
  entries: Buffer;
  nextOffset: number;
  /** Position just after the last record (valid or damaged) kept. */
  end: number;
  /** The log's size after any cut. */
  logBytes: number;
  maxTimestampMs: number;
  damage: Damage[];
}

/**
 * Validates the log after the trusted entry's record. The all-zero preallocated end is not
 * data. A failing record with nothing valid after it is a torn write (cut off after a crash;
 * damage, kept, after a clean stop); one with valid records after it is damage, kept. Records
 * after the last one that ends a batch are a torn batch: cut off after a crash, damage after a
 * clean stop.
 */
function recoverRecords(ctx: SegmentContext, paths: SegmentPaths, log: DurableFile, index: IndexFile, trusted: TrustedEntry, logBytes: number, found: RecoveredSegment): RecoveredTail {
  const { io } = ctx;
  const { version, createdMs } = found;
  const base = paths.baseOffset;
  const entries = new EntryBuffer(base);
  const damage: Damage[] = [];
  let expected = base + trusted.count;
  let position = trusted.end;
  let maxTimestampMs = trusted.timestampMs;
  // The last batch boundary seen by the scans (null: none yet, and the trusted record ends none).
  let boundary: BatchBoundary | null = trusted.batchEnd ? { position: trusted.end, offset: expected } : null;
  for (;;) {
    const scanFrom = expected;
    const result = scanLog(io, log.fd, position, logBytes, expected, MAX_RECORD_PAYLOAD_BYTES, version, (offset, at) => entries.push(offset, at));
    maxTimestampMs = Math.max(maxTimestampMs, result.maxTimestampMs);
    if (result.batchEndOffset > scanFrom) boundary = { position: result.batchEnd, offset: result.batchEndOffset };
    expected = result.nextOffset;
    position = result.end;
    if (result.stop === null) break;
    const damageAt = result.stop.position;
    assert(damageAt === result.end, 'a scan stopped inside a record');
    if (zeroFrom(io, log.fd, damageAt, logBytes)) break; // the preallocated, never-written end: the data ends here
    const bound = expected + Math.floor((logBytes - damageAt) / RECORD_HEADER_BYTES);
    const next = findNextRecord(io, log.fd, damageAt + 1, logBytes, resyncBounds(expected, bound, createdMs));
    if (next === null && ctx.afterCrash === false) {
      // Nothing valid follows, but the store was closed cleanly: nothing can be torn, so this
      // is damage to the last (acknowledged) record. Keep it, report it, append after it.
      entries.push(expected, damageAt);
      damage.push(reportDamage(ctx, { file: paths.log, position: damageAt, firstOffset: expected, lastOffset: expected, reason: `record ${result.stop.problem} at the end of an active segment after a clean stop` }));
      expected += 1;
      position = logBytes;
      boundary = { position, offset: expected };
      break;
    }
    if (next === null) {
      // Nothing valid follows: a torn write that was never acknowledged. Cut it off at the end of
      // the last whole record (the file is extended again later: the cut part comes back as zeros).
      logBytes = cutLog(ctx, log, paths, damageAt, logBytes, `record ${result.stop.problem}`, 'truncated the torn tail of an active segment');
      break;
    }
    for (let offset = expected; offset < next.offset; offset++) entries.push(offset, damageAt);
    damage.push(reportDamage(ctx, { file: paths.log, position: damageAt, firstOffset: expected, lastOffset: next.offset - 1, reason: `record ${result.stop.problem}` }));
    expected = next.offset;
    position = next.position;
    // Damage is kept whole: what follows it starts afresh.
    boundary = { position, offset: expected };
  }
  const tail: RecoveredTail = { entries: entries.bytes(), nextOffset: expected, end: position, logBytes, maxTimestampMs, damage };
  boundary ??= boundaryBefore(paths, log, index, trusted, logBytes, version) ?? scanForBoundary(ctx, paths, log, logBytes, expected, found);
  if (boundary.offset < expected) endAtBoundary(ctx, paths, log, boundary, tail, base + trusted.count);
  return tail;
}

/**
 * The records after the last batch boundary belong to a batch whose end never reached the disk.
 * After a crash it was never acknowledged: cut it off, so that the batch vanishes whole. After a
 * clean stop nothing can be torn: report it as damage, kept.
 */
function endAtBoundary(ctx: SegmentContext, paths: SegmentPaths, log: DurableFile, boundary: BatchBoundary, tail: RecoveredTail, freshOffset: number): void {
  if (ctx.afterCrash === false) {
    tail.damage.push(reportDamage(ctx, { file: paths.log, position: boundary.position, firstOffset: boundary.offset, lastOffset: tail.nextOffset - 1, reason: 'the last batch has no record ending it, after a clean stop' }));
    return;
  }
  tail.logBytes = cutLog(ctx, log, paths, boundary.position, tail.logBytes, 'a batch without its end', 'truncated a torn batch at the end of an active segment');
  // Entries of trusted records past the boundary are cut from the index by the caller.
  tail.entries = tail.entries.subarray(0, Math.max(0, boundary.offset - freshOffset) * INDEX_ENTRY_BYTES);
  tail.nextOffset = boundary.offset;
  tail.end = boundary.position;
}

/** Cuts the log at `at`, durably, and says so; returns the new size. */
function cutLog(ctx: SegmentContext, log: DurableFile, paths: SegmentPaths, at: number, logBytes: number, problem: string, message: string): number {
  log.truncate(at);
  log.syncNow();
  ctx.recovery?.note('tornBytesCut', logBytes - at);
  ctx.logger.warn({ file: paths.log, position: at, bytes: logBytes - at, problem }, message);
  return at;
}

/**
 * The last batch boundary before `end` found by scanning the segment from its start: only when
 * the index cannot be walked back (an entry fails its check).
 */
function scanForBoundary(ctx: SegmentContext, paths: SegmentPaths, log: DurableFile, logBytes: number, endOffset: number, found: RecoveredSegment): BatchBoundary {
  const base = paths.baseOffset;
  const scan = scanLog(ctx.io, log.fd, FILE_HEADER_BYTES, logBytes, base, MAX_RECORD_PAYLOAD_BYTES, found.version, () => {}, endOffset - base);
  return scan.batchEndOffset > base ? { position: scan.batchEnd, offset: scan.batchEndOffset } : { position: FILE_HEADER_BYTES, offset: base };
}

function reportDamage(ctx: SegmentContext, damage: Damage): Damage {
  logDamage(ctx.logger, damage);
  return damage;
}

/**
 * Index entries in one growing buffer: a scan of a whole 64 MiB segment of small records makes
 * hundreds of thousands of them.
 */
class EntryBuffer {
  private buffer = Buffer.allocUnsafe(64 * INDEX_ENTRY_BYTES);
  private used = 0;

  constructor(private readonly baseOffset: number) {}

  push(offset: number, position: number): void {
    if (this.used + INDEX_ENTRY_BYTES > this.buffer.length) {
      const bigger = Buffer.allocUnsafe(this.buffer.length * 2);
      this.buffer.copy(bigger, 0, 0, this.used);
      this.buffer = bigger;
    }
    encodeIndexEntry(this.buffer, this.used, offset - this.baseOffset, position);
    this.used += INDEX_ENTRY_BYTES;
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.used);
  }
}
