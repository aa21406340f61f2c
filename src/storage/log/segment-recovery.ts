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
 * - After a clean stop nothing is torn: damage at the end of the last segment is kept as it is,
 *   the segment sealed over it, and a new segment started after every offset it had given.
 */
import { assert, ErrorCodes, EventBusError } from '../../errors.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import { decodeIndexEntry, encodeIndexEntry, INDEX_ENTRY_BYTES, indexEntryPosition, sealedIndexBytes } from '../format/offset-index.js';
import { CURRENT_RECORD_VERSION, decodeRecord, MAX_RECORD_LENGTH, RECORD_HEADER_BYTES, type RecordVersion } from '../format/record.js';
import { DurableFile } from '../fs/durable-file.js';
import { writeFully } from '../fs/io.js';
import { IndexFile } from './index-file.js';
import { scanLog } from './log-scanner.js';
import { Segment, type RecoveredSegment, type SegmentContext } from './segment.js';
import { checkIndexHeader, checkLogHeader, checkSealed, findTornRoll, guessVersion, headerDamage, logDamage, readSealTrailer, scanRecords, findLostTail, type BatchBoundary, type Damage, type LostTail } from './segment-check.js';
import { encodeLogHeader, listSegments, segmentPaths, type SegmentPaths } from './segment-files.js';
import { rebuildSealedIndex } from './segment-repair.js';

/** Why the offsets a seal records as damaged cannot be read (the seal does not say how they fail). */
export const SEALED_DAMAGE_REASON = 'records at the end of the segment were found damaged before it was sealed (its seal records them)';

/** Index entries examined, newest first, to find where recovery may start trusting the index. */
const RECOVERY_LOOKBACK_ENTRIES = 64;

/**
 * Opens the segments of the stream in `dir`, oldest first, the last one active (a new one is
 * created if the last was sealed just before a crash, before its successor existed).
 */
export function openSegments(ctx: SegmentContext, dir: string, nowMs: number): Segment[] {
  const { io } = ctx;
  const listing = listSegments(io, dir);
  const bases = listing.bases;
  // Before the indexes without a log are removed: past the last log, they (or the clean close's
  // checkpoint) show offsets the stream gave whose files are gone.
  const lost = ctx.afterCrash === false ? findLostTail(io, bases, listing.orphanIndexes, ctx.checkpoint) : null;
  const kept = lost === null ? null : segmentPaths(dir, lost.baseOffset).index;
  const removed = [...listing.leftovers, ...listing.orphanIndexes.filter((file) => file !== kept)];
  for (const file of removed) io.unlink(file);
  ctx.recovery?.note('leftoversRemoved', removed.length);
  if (bases.length === 0) {
    throw new EventBusError(ErrorCodes.CORRUPT_DATA, `stream directory ${dir} holds no segment files`, { context: { file: dir } });
  }
  cutTornRoll(ctx, dir, bases);
  if (lost !== null) bases.push(recreateLostLog(ctx, dir, lost, nowMs));
  const segments: Segment[] = [];
  for (let i = 0; i < bases.length - 1; i++) segments.push(openSealed(ctx, dir, bases[i]!, bases[i + 1]! - bases[i]!));
  const lastPaths = segmentPaths(dir, bases[bases.length - 1]!);
  const last = lost === null
    ? openLast(ctx, lastPaths, nowMs)
    : openSealed(ctx, dir, lost.baseOffset, lost.count, `the segment's log was missing after a clean stop (${lost.evidence})`);
  segments.push(last);
  if (last.seal !== null) {
    last.closeFiles();
    segments.push(Segment.create(ctx, dir, last.nextOffset, nowMs));
    io.syncDirNow(dir);
  }
  return segments;
}

/**
 * The last segment's log is gone after a clean stop, though the stream had given offsets in it
 * ({@link findLostTail}): those events were acknowledged, and their ids handed out. Puts an empty
 * log (a header, no record) where it was, so that recovery seals the segment over the offsets it
 * held as damage (every later open lists them from the seal, and `eventbus verify` reports them)
 * and the stream goes on after them: no offset, hence no event id, is given twice. Returns its
 * base offset.
 */
function recreateLostLog(ctx: SegmentContext, dir: string, lost: LostTail, nowMs: number): number {
  const paths = segmentPaths(dir, lost.baseOffset);
  ctx.logger.error(
    { file: paths.log, firstOffset: lost.baseOffset, lastOffset: lost.baseOffset + lost.count - 1, evidence: lost.evidence },
    'the last segment\'s log is missing after a clean stop: its offsets are damage, never given again; writes go on after them',
  );
  const fd = ctx.io.open(paths.log, 'wx+');
  try {
    writeFully(ctx.io, fd, [encodeLogHeader(lost.baseOffset, nowMs)], 0);
    ctx.io.datasyncNow(fd);
  } finally {
    ctx.io.close(fd);
  }
  ctx.io.syncDirNow(dir);
  return lost.baseOffset;
}

/**
 * Cuts a roll torn by a power loss back to where its tail was torn ({@link findTornRoll}, shared
 * with `eventbus verify`): the segments after the short one are dropped; it becomes the last and
 * its tail is recovered as any torn tail is. A bit flip never shortens a file, so damage is still
 * reported.
 *
 * Only after a crash, and only where the shortness can be a torn roll: after a clean stop nothing
 * is torn; a segment whose index has reached its sealed size had its seal written (or begun),
 * which happens only once its log is durable (segment.ts), so its records were acknowledged; and
 * an index that is missing or whose whole header fails was damaged, not torn. A short log is
 * damage there, reported when the segment is opened ({@link openSealed}), and the segments after
 * it are kept.
 */
function cutTornRoll(ctx: SegmentContext, dir: string, bases: number[]): void {
  if (ctx.afterCrash === false) return;
  const i = findTornRoll(ctx.io, dir, bases);
  if (i === null) return;
  const dropped = bases.splice(i + 1);
  for (const base of dropped) {
    const { log, index } = segmentPaths(dir, base);
    for (const file of [log, index]) if (ctx.io.stat(file) !== null) ctx.io.unlink(file);
  }
  ctx.io.syncDirNow(dir);
  ctx.recovery?.note('segmentsDropped', dropped.length);
  ctx.logger.warn({ dir, segment: bases[i], dropped }, 'a crash interrupted a segment roll: cut the torn tail and the segments after it');
}

/**
 * Opens a sealed segment holding `count` records. Checks headers, file sizes and the seal
 * trailer only; rebuilds the index (reading the log once) if any of them does not check, saying
 * why (`rebuildReason` when told: the caller knows better). Damage the seal records at the end of
 * the segment is known at once.
 */
export function openSealed(ctx: SegmentContext, dir: string, baseOffset: number, count: number, rebuildReason?: string): Segment {
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
    const rebuilt = rebuildSealedIndex(ctx.io, ctx.logger, paths, count, check.version, createdMs, damage.length === 0, rebuildReason ?? check.problem ?? 'index does not check');
    seal = rebuilt.seal;
    size = rebuilt.logBytes;
    damage.push(...rebuilt.damage);
  } else if (seal.damagedCount > 0) {
    // Sealed over damage at its end (found after a clean stop, or by an index rebuild).
    const sealed = { file: paths.log, position: seal.damagePosition, firstOffset: baseOffset + count - seal.damagedCount, lastOffset: baseOffset + count - 1, reason: SEALED_DAMAGE_REASON };
    damage.push(sealed);
    logDamage(ctx.logger, sealed);
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
 * after sealing and before the next segment was created, or a damaged tail kept after a clean
 * stop: {@link keepDamaged}); the caller then rolls.
 */
export function openLast(ctx: SegmentContext, paths: SegmentPaths, nowMs: number): Segment {
  const log = DurableFile.open(ctx.io, paths.log, 'r+');
  const index = new IndexFile(ctx.io, paths.index, paths.baseOffset);
  let found: RecoveredSegment | DamagedTail;
  try {
    found = recoverTail(ctx, paths, log, index, nowMs);
    if (!('why' in found)) return Segment.recovered(ctx, paths.dir, paths.baseOffset, found);
  } catch (error) {
    log.close();
    index.close();
    throw error;
  }
  log.close();
  index.close();
  return keepDamaged(ctx, paths, found);
}

/** An active segment whose tail is damaged after a clean stop: how many records it held, and why. */
interface DamagedTail {
  count: number;
  why: string;
}

/**
 * After a clean stop nothing can be torn: damage at the end of the active segment (a record that
 * fails with nothing valid after it, a batch with no end, records the index or the clean-close
 * checkpoint lists and the log no longer holds) is damage to acknowledged events. The segment is
 * kept as it is and sealed over it, with the offsets the store had given (its seal records the
 * damage at its end: segment-repair.ts), and the caller starts a new segment after them. So
 * nothing new is written after damaged bytes, no offset (and no event id) is given twice, and
 * every later open knows the damage from the seal without reading the log.
 */
function keepDamaged(ctx: SegmentContext, paths: SegmentPaths, tail: DamagedTail): Segment {
  ctx.logger.error({ file: paths.log, records: tail.count, reason: tail.why }, 'the active segment is damaged after a clean stop: kept as it is and sealed; writes go on in a new segment');
  return openSealed(ctx, paths.dir, paths.baseOffset, tail.count, `the active segment is damaged after a clean stop (${tail.why})`);
}

function recoverTail(ctx: SegmentContext, paths: SegmentPaths, log: DurableFile, index: IndexFile, nowMs: number): RecoveredSegment | DamagedTail {
  const found: RecoveredSegment = { version: 2, count: 0, size: FILE_HEADER_BYTES, allocated: 0, maxTimestampMs: 0, createdMs: 0, seal: null, damage: [], indexRebuilt: false, log, index };
  const logBytes = recoverLogHeader(ctx, paths, log, found, nowMs);
  const indexProblem = openIndexForRecovery(ctx, paths, index, logBytes, found);
  if (found.seal !== null) return found; // sealed, but the crash came before the next segment existed
  const trusted = findTrustedEntry(paths, log, index, logBytes, found.version);
  const tail = recoverRecords(ctx, paths, log, index, trusted, logBytes, found);
  if (tail.damagedEnd !== null) return tail.damagedEnd;
  for (const damage of tail.damage) logDamage(ctx.logger, damage);
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
  /** Records the index lists: up to its newest entry that checks, whether its record does or not. */
  listed: number;
}

/** The newest index entry (among the last few) whose record checks: recovery trusts up to it. */
function findTrustedEntry(paths: SegmentPaths, log: DurableFile, index: IndexFile, logBytes: number, version: RecordVersion): TrustedEntry {
  const entries = Math.floor((index.size() - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES);
  const look = Math.min(Math.max(entries, 0), RECOVERY_LOOKBACK_ENTRIES);
  const first = entries - look;
  const block = look > 0 ? index.readEntries(first, look) : Buffer.alloc(0);
  let listed = 0;
  for (let relative = entries - 1; relative >= first && look > 0; relative--) {
    const at = (relative - first) * INDEX_ENTRY_BYTES;
    if (at + INDEX_ENTRY_BYTES > block.length) continue;
    const position = decodeIndexEntry(block, at, relative);
    if (position >= 0 && listed === 0) listed = relative + 1;
    const record = readRecordAt(log, position, logBytes, paths.baseOffset + relative, version);
    if (record === null) continue;
    return { count: relative + 1, end: position + record.size, timestampMs: record.timestampMs, batchEnd: record.batchEnd, listed: Math.max(listed, relative + 1) };
  }
  return { count: 0, end: FILE_HEADER_BYTES, timestampMs: 0, batchEnd: true, listed };
}

/** The record of `offset` at `position` of an open log, decoded, or null if there is none that checks. */
function readRecordAt(log: DurableFile, position: number, logBytes: number, offset: number, version: RecordVersion): { size: number; timestampMs: number; batchEnd: boolean } | null {
  if (position < FILE_HEADER_BYTES || position + RECORD_HEADER_BYTES > logBytes) return null;
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  log.read(header, 0, RECORD_HEADER_BYTES, position);
  const size = RECORD_HEADER_BYTES + header.readUInt32LE(4);
  if (size > RECORD_HEADER_BYTES + MAX_RECORD_LENGTH || position + size > logBytes) return null;
  const record = Buffer.allocUnsafe(size);
  log.read(record, 0, size, position);
  const decoded = decodeRecord(record, 0, size, MAX_RECORD_LENGTH, offset, version);
  return typeof decoded === 'string' ? null : decoded;
}

/**
 * The last batch boundary at or before the trusted entry's record, found by walking back through
 * the index entries (a batch is a few MiB at most); the segment's start is always one. Null when
 * an entry on the way fails its check (the caller then scans from the start).
 */
function boundaryBefore(paths: SegmentPaths, log: DurableFile, index: IndexFile, trusted: TrustedEntry, logBytes: number, version: RecordVersion): BatchBoundary | null {
  const base = paths.baseOffset;
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
  /** Position just after the last record kept. */
  end: number;
  /** The log's size after any cut. */
  logBytes: number;
  maxTimestampMs: number;
  /** Damaged stretches with valid records after them, kept. */
  damage: Damage[];
  /** Set after a clean stop when the tail is damaged at its end: the segment is then kept as it is ({@link keepDamaged}). */
  damagedEnd: DamagedTail | null;
}

/**
 * Validates the log after the trusted entry's record (segment-check.ts's scan, with the batch
 * rule). The all-zero preallocated end is not data. A failing stretch with valid records after it
 * is damage, kept. A failing record with nothing valid after it, and records after the last one
 * that ends a batch, are a torn write and a torn batch after a crash: cut off, so that the batch
 * vanishes whole. After a clean stop they, and records the index or the clean-close checkpoint
 * lists that the log no longer holds, are damage at the end of the segment (`damagedEnd`).
 */
function recoverRecords(ctx: SegmentContext, paths: SegmentPaths, log: DurableFile, index: IndexFile, trusted: TrustedEntry, logBytes: number, found: RecoveredSegment): RecoveredTail {
  const base = paths.baseOffset;
  const entries = new EntryBuffer(base);
  const first = base + trusted.count;
  const boundary = trusted.batchEnd ? { position: trusted.end, offset: first } : boundaryBefore(paths, log, index, trusted, logBytes, found.version) ?? scanForBoundary(ctx, paths, log, logBytes, first, found);
  const push = (offset: number, at: number) => entries.push(offset, at);
  const scan = scanRecords(ctx.io, log.fd, paths.log, logBytes, { position: trusted.end, offset: first, boundary }, found, push, push);
  const tail: RecoveredTail = { entries: entries.bytes(), nextOffset: scan.nextOffset, end: scan.end, logBytes, maxTimestampMs: Math.max(trusted.timestampMs, scan.maxTimestampMs), damage: scan.damage, damagedEnd: null };
  const unended = scan.boundary.offset < scan.nextOffset;
  if (ctx.afterCrash === false) {
    // The failing bytes of a stop count as one record, as they did when it was acknowledged.
    const held = scan.nextOffset - base + (scan.stop !== null ? 1 : 0);
    const count = Math.max(held, trusted.listed, checkpointedCount(ctx, paths));
    let why: string | null = null;
    if (scan.stop !== null) why = `record ${scan.stop.problem} at offset ${scan.nextOffset} with nothing valid after it`;
    else if (unended) why = `offsets ${scan.boundary.offset} to ${scan.nextOffset - 1} are a batch without its last record`;
    if (count > held) why = `${why === null ? '' : `${why}; `}the log holds ${held} records, its index or the clean-close checkpoint ${count}`;
    if (why !== null) tail.damagedEnd = { count, why };
    return tail;
  }
  if (scan.stop !== null) {
    // Nothing valid follows: a torn write that was never acknowledged. Cut it off at the end of
    // the last whole record (the file is extended again later: the cut part comes back as zeros).
    tail.logBytes = cutLog(ctx, log, paths, scan.stop.position, tail.logBytes, `record ${scan.stop.problem}`, 'truncated the torn tail of an active segment');
  }
  if (unended) {
    // The records after the last batch end belong to a batch whose end never reached the disk,
    // never acknowledged: cut it off, so that the batch vanishes whole.
    tail.logBytes = cutLog(ctx, log, paths, scan.boundary.position, tail.logBytes, 'a batch without its end', 'truncated a torn batch at the end of an active segment');
    // Entries of trusted records past the boundary are cut from the index by the caller.
    tail.entries = tail.entries.subarray(0, Math.max(0, scan.boundary.offset - first) * INDEX_ENTRY_BYTES);
    tail.nextOffset = scan.boundary.offset;
    tail.end = scan.boundary.position;
  }
  return tail;
}

/** The records the clean-close checkpoint (crc-checkpoint.ts) says the active segment held; 0 when it says nothing of it. */
function checkpointedCount(ctx: SegmentContext, paths: SegmentPaths): number {
  const checkpoint = ctx.checkpoint;
  if (checkpoint === undefined || checkpoint.base !== paths.baseOffset || checkpoint.indexBytes < FILE_HEADER_BYTES) return 0;
  return Math.floor((checkpoint.indexBytes - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES);
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
  const scan = scanLog(ctx.io, log.fd, FILE_HEADER_BYTES, logBytes, base, MAX_RECORD_LENGTH, found.version, () => {}, endOffset - base);
  return scan.batchEndOffset > base ? { position: scan.batchEnd, offset: scan.batchEndOffset } : { position: FILE_HEADER_BYTES, offset: base };
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
