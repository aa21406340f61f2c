/**
 * Offline verification of a data directory or a snapshot (`eventbus verify`): reads every byte
 * and checks it, without changing anything.
 *
 * - A snapshot's MANIFEST: every listed file present with its size and CRC32C, nothing extra,
 *   and the directory not a hidden `.snapshot-….partial` staging directory (never finished). Any
 *   other name passes: a snapshot copied under a new name is still the same snapshot.
 * - The catalog, and for every stream: every segment's header, every record's CRC and offset
 *   (dense, starting at the base offset; damage judged by the batch rule recovery applies,
 *   log/segment-check.ts), every index entry against the record it points at, and every seal
 *   trailer against its files (and the damage it records); that no segment is missing (a gap
 *   between a sealed segment's end and the next one's base; the active segment the clean-close
 *   checkpoint lists); the consumer journal, judged exactly as an open judges it
 *   (consumer-journal.ts's readJournal, journal-replay.ts); the key index's runs
 *   (keys-<from>-<to>.run: header, trailer, fences, every block's CRC, entries in (hash, version)
 *   order and inside the offsets the run covers).
 *
 * Problems (damage: data that cannot be read back as written) make `ok` false. Notes are
 * conditions that recovery handles on open without loss, such as the torn, never-acknowledged
 * tail left by a crash. A path that is neither a data directory nor a snapshot is refused
 * (NOT_A_STORE, a usage problem, not damage), and so is a store that a running process holds
 * open (LOCKED): what it has written but not yet made durable would look like damage.
 */
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../../errors.js';
import { CATALOG, Catalog, lostCatalogEvidence } from '../catalog.js';
import { inspectStoreDirectory } from '../store-directory.js';
import { lockHolder } from '../fs/lock.js';
import { readCrcCheckpoint, type SegmentCrcs } from '../crc-checkpoint.js';
import { readJournal } from '../consumers/consumer-journal.js';
import { replayJournal } from '../consumers/journal-replay.js';
import { crc32c } from '../format/crc.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import { decodeIndexEntry, INDEX_ENTRY_BYTES, indexEntryPosition, SEAL_TRAILER_BYTES, sealedIndexBytes, type SealInfo } from '../format/offset-index.js';
import { readWholeFile, type FileIO } from '../fs/io.js';
import { fileCrc, zeroFrom } from '../log/log-scanner.js';
import { batchDamage, checkIndexHeader, checkLogHeader, checkSealed, findLostTail, findTornRoll, guessVersion, readSealTrailer, scanRecords, type Damage, type LostTail, type RecordsScan } from '../log/segment-check.js';
import { listSegments, segmentPaths, type SegmentPaths } from '../log/segment-files.js';
import { MANIFEST_FILE, readManifest } from './manifest.js';
import { PARTIAL_PATTERN } from './snapshot.js';
import { RUN_FILE_PATTERN } from '../format/key-run.js';
import { DamagedRun, KeyRun } from '../keys/key-run-file.js';

/** One finding, with where it is. */
export interface Finding {
  file: string;
  /** Byte position in the file, when it applies. */
  position?: number;
  message: string;
}

/** What {@link verifyDirectory} found. */
export interface VerifyReport {
  kind: 'snapshot' | 'data';
  ok: boolean;
  streams: number;
  segments: number;
  /**
   * Events a reader can get: valid records outside damage (a damaged batch's records are not
   * returned) and at or above the truncation point. With `damagedEvents`, what a snapshot's
   * MANIFEST counts (the offsets its streams span).
   */
  events: number;
  /** Records still on disk below a stream's truncation point (checked; removed with their segment). */
  truncatedEvents: number;
  /** Offsets at or above the truncation point that damage makes unreadable (a damaged batch whole). */
  damagedEvents: number;
  /** Files read and checked (logs, indexes, journals, the catalog, a snapshot's MANIFEST). */
  files: number;
  problems: Finding[];
  notes: Finding[];
}

type Report = (file: string, message: string, position?: number) => void;

/** What a verification is finding, as it goes. */
interface Findings {
  report: VerifyReport;
  problem: Report;
  note: Report;
  /** Every file checked, counted once however many checks read it. */
  checked: Set<string>;
  /** True when the store's last process stopped with it open (a stale LOCK): tails may be torn. */
  crashed: boolean;
  /**
   * What the clean-close checkpoint says of each stream's active segment (stream id → its base
   * and record count), used as recovery uses it: records it lists that the log and index no
   * longer hold are damage. Empty after a crash and for a snapshot.
   */
  checkpoint: Map<string, SegmentCrcs>;
}

/**
 * Verifies the data directory or snapshot at `dir`. Throws NOT_A_STORE when `dir` is neither,
 * and LOCKED when a running process has the store open.
 */
export function verifyDirectory(io: FileIO, dir: string): VerifyReport {
  const root = path.resolve(dir);
  const kind = checkVerifiable(io, root);
  const report: VerifyReport = { kind: kind === 'snapshot' ? 'snapshot' : 'data', ok: false, streams: 0, segments: 0, events: 0, truncatedEvents: 0, damagedEvents: 0, files: 0, problems: [], notes: [] };
  const findings: Findings = {
    report,
    problem: (file, message, position) => report.problems.push({ file, message, ...(position === undefined ? {} : { position }) }),
    note: (file, message, position) => report.notes.push({ file, message, ...(position === undefined ? {} : { position }) }),
    checked: new Set(),
    crashed: false,
    checkpoint: new Map(),
  };
  if (kind === 'snapshot') verifyManifest(io, root, findings);
  else if (path.basename(root).startsWith('.') && path.basename(root).endsWith('.partial')) {
    findings.problem(root, 'an unfinished snapshot (no MANIFEST): it is not a valid snapshot');
  }
  if (kind !== 'snapshot') {
    // As an open judges it (engine.ts): a LOCK beside the clean-close checkpoint was left by an
    // open that stopped before it took any write, after a clean stop.
    const checkpoint = readCrcCheckpoint(io, root);
    const stale = lockHolder(io, root) === 'stale';
    if (stale && !checkpoint.present) {
      findings.crashed = true;
      findings.note(path.join(root, 'LOCK'), 'the store was not closed cleanly (its process stopped with it open); recovery runs when it is next opened');
    } else {
      if (stale) findings.note(path.join(root, 'LOCK'), 'an open of the store stopped before it took any write (its LOCK is beside the clean-close checkpoint): judged as after the clean stop before it; recovery runs when it is next opened');
      findings.checkpoint = checkpoint.streams;
    }
  }
  verifyCatalogAndStreams(io, root, findings);
  report.files = findings.checked.size;
  report.ok = report.problems.length === 0;
  return report;
}

/** Refuses what is not a data directory or snapshot, and a store a running process holds. */
function checkVerifiable(io: FileIO, root: string): 'store' | 'snapshot' {
  const kind = inspectStoreDirectory(root, io).kind;
  const refuse = (reason: string) => new EventBusError(ErrorCodes.NOT_A_STORE, reason, { context: { path: root, kind } });
  if (kind === 'missing') throw refuse(`there is nothing at ${root}`);
  if (kind === 'file') throw refuse(`${root} is a file, not a data directory or snapshot`);
  if (kind === 'empty' || kind === 'other') throw refuse(`${root} is neither an eventbus data directory nor a snapshot`);
  if (kind === 'store') {
    const holder = lockHolder(io, root);
    if (holder !== null && holder !== 'stale') {
      throw new EventBusError(ErrorCodes.LOCKED, `data directory ${root} is in use by process ${holder.pid}: verify a snapshot of it (snapshot_db), or stop that process first`, {
        context: { path: root, pid: holder.pid },
      });
    }
  }
  return kind;
}

function verifyCatalogAndStreams(io: FileIO, root: string, findings: Findings): void {
  const { report, problem, note } = findings;
  const catalogPath = path.join(root, CATALOG.name);
  const streamsDir = path.join(root, 'streams');
  const streamDirs = io.stat(streamsDir)?.isDirectory === true ? io.readdir(streamsDir) : [];
  if (io.stat(catalogPath) === null) {
    // Judged as an open judges it (catalog.ts): only a store that never held data may lack one.
    const evidence = report.kind === 'data' ? lostCatalogEvidence(io, root) : 'a snapshot always has one';
    if (evidence === null) note(catalogPath, 'an empty store without a catalog yet (written when it is next opened)');
    else problem(catalogPath, `catalog is missing (${evidence}): the list of streams is lost`);
    return;
  }
  findings.checked.add(catalogPath);
  let catalog: Catalog;
  try {
    catalog = Catalog.load(io, root);
  } catch (error) {
    problem(catalogPath, (error as Error).message);
    return;
  }
  const listed = new Set<string>();
  for (const entry of catalog.all()) {
    listed.add(entry.id);
    report.streams += 1;
    verifyStream(io, path.join(streamsDir, entry.id), entry.name, entry.truncatedBefore ?? 0, findings, findings.checkpoint.get(entry.id));
  }
  for (const name of streamDirs) {
    if (!listed.has(name)) note(path.join(streamsDir, name), 'directory not listed in the catalog (left by a crash mid-create or mid-delete; removed on open)');
  }
}

function verifyManifest(io: FileIO, root: string, { problem, note, checked }: Findings): void {
  const manifestPath = path.join(root, MANIFEST_FILE);
  checked.add(manifestPath);
  const manifest = readManifest(io, root);
  if (typeof manifest === 'string') {
    problem(manifestPath, `manifest ${manifest}`);
    return;
  }
  // A snapshot may be copied or moved under any name (`cp -r`, a backup tool): the manifest's
  // name only says what it was called when taken. Only the hidden staging name of a snapshot
  // whose final rename a crash prevented means it was never finished.
  const base = path.basename(root);
  if (PARTIAL_PATTERN.test(base)) problem(root, 'an unfinished snapshot (a crash came before it was renamed into place): it is not a valid snapshot');
  else if (manifest.name !== base) note(manifestPath, `taken as ${JSON.stringify(manifest.name)}, renamed since`);
  const listed = new Set<string>([MANIFEST_FILE]);
  for (const file of manifest.files) {
    listed.add(file.path);
    const full = path.join(root, file.path);
    checked.add(full);
    const stat = io.stat(full);
    if (stat === null) {
      problem(full, 'listed in the manifest but missing');
      continue;
    }
    if (stat.size !== file.size) {
      problem(full, `is ${stat.size} bytes, the manifest says ${file.size}`);
      continue;
    }
    const fd = io.open(full, 'r');
    try {
      const crc = fileCrc(io, fd, file.size);
      if (crc !== file.crc32c) problem(full, `CRC32C ${crc} does not match the manifest's ${file.crc32c}`);
    } finally {
      io.close(fd);
    }
  }
  for (const file of listFiles(io, root)) {
    if (!listed.has(file)) problem(path.join(root, file), 'not listed in the manifest');
  }
}

function listFiles(io: FileIO, root: string, relative = ''): string[] {
  const out: string[] = [];
  for (const name of io.readdir(path.join(root, relative))) {
    const child = path.join(relative, name);
    if (io.stat(path.join(root, child))?.isDirectory) out.push(...listFiles(io, root, child));
    else out.push(child);
  }
  return out;
}

function verifyStream(io: FileIO, dir: string, name: string, truncatedBefore: number, findings: Findings, checkpoint: SegmentCrcs | undefined): void {
  const { problem } = findings;
  if (io.stat(dir)?.isDirectory !== true) {
    problem(dir, `directory of stream ${JSON.stringify(name)} is missing`);
    return;
  }
  const listing = listSegments(io, dir);
  const { bases } = listing;
  if (bases.length === 0) {
    problem(dir, `stream ${JSON.stringify(name)} has no segment files`);
    return;
  }
  // Offsets the stream had given past its last log, whose files are gone, judged exactly as an
  // open judges them (segment-recovery.ts): only after a clean stop (or for a snapshot, which
  // opens restored without a LOCK), from the clean-close checkpoint and the indexes left past the
  // last log. The last log is then a sealed one, which must end where they begin.
  const lost = findings.crashed ? null : findLostTail(io, bases, listing.orphanIndexes, checkpoint);
  // After a crash, a roll torn by it, judged exactly as the open judges it (segment-check.ts's
  // findTornRoll, shared with segment-recovery.ts): the open cuts the stream back to the short
  // segment, which it then recovers as the last, and drops the segments after it.
  const torn = findings.crashed ? findTornRoll(io, dir, bases) : null;
  if (torn !== null) tornRoll(dir, bases, torn, findings);
  const explained = new Set<number>();
  for (let i = 0; i < bases.length; i++) {
    if (torn !== null && i > torn) break;
    const paths = segmentPaths(dir, bases[i]!);
    const next = i < bases.length - 1 && i !== torn ? bases[i + 1]! : lost?.baseOffset ?? null;
    let expectedCount = next === null ? null : next - paths.baseOffset;
    // A sealed segment whose own seal ends before the next one begins: the segments between are gone.
    const sealedCount = expectedCount === null ? null : sealedRecordCount(io, paths);
    if (sealedCount !== null && expectedCount !== null && sealedCount < expectedCount) {
      missingSegments(io, dir, paths.baseOffset + sealedCount, next! - 1, truncatedBefore, findings, explained);
      expectedCount = sealedCount;
    }
    verifySegment(io, paths, expectedCount, truncatedBefore, findings, next === null ? checkpoint : undefined);
  }
  if (lost !== null) lostTail(io, dir, lost, truncatedBefore, findings, explained);
  for (const index of listing.orphanIndexes) {
    const base = Number(path.basename(index).slice(0, 20));
    if (explained.has(base)) continue;
    findings.checked.add(index);
    findings.note(index, base < bases[0]!
      ? 'an index whose log is gone (left by retention a crash cut short; removed on open)'
      : 'an index without its log (removed on open)');
  }
  // Offsets below this are gone from the log (retention, truncation): a run of them cannot be rebuilt.
  const logFrom = Math.max(bases[0]!, truncatedBefore);
  verifyKeyRuns(io, dir, logFrom, findings);
  verifyJournal(io, dir, findings);
}

/**
 * After a crash, segment `bases[torn]` ends short of the next one's base and was never sealed: a
 * roll torn by the crash (segment-check.ts's findTornRoll). Nothing from its first missing record
 * on was acknowledged. The open cuts the stream back there and drops the segments after it; the
 * short segment is judged as the last one after a crash (its torn tail is cut off on open).
 */
function tornRoll(dir: string, bases: readonly number[], torn: number, { note }: Findings): void {
  const paths = segmentPaths(dir, bases[torn]!);
  const dropped = bases.slice(torn + 1);
  note(paths.log, `ends short of offset ${bases[torn + 1]! - 1} and its index was never sealed: a segment roll torn by a crash (the records it lacks were never acknowledged); on open the stream is cut back to this segment's end and the ${dropped.length} segment(s) after it (from offset ${dropped[0]}) are removed`);
  for (const base of dropped) {
    note(segmentPaths(dir, base).log, `after a segment roll torn by a crash (at segment ${paths.baseOffset}): never acknowledged; removed on open`);
  }
}

/**
 * Judges the consumer journal exactly as an open does (consumer-journal.ts's readJournal, then
 * journal-replay.ts): after a clean stop (or for a snapshot, which opens restored without a
 * LOCK) a failing last record is damage, after a crash a torn tail that the open cuts off.
 */
function verifyJournal(io: FileIO, dir: string, { problem, note, checked, crashed }: Findings): void {
  const found = readJournal(io, dir, crashed);
  if (found === null) return;
  const { file, contents, decoded, compactionLeft } = found;
  checked.add(file);
  if (compactionLeft) note(`${file}.compact`, 'a compaction cut short by a crash (removed on open; the journal beside it is current)');
  if (decoded.tornAtCreation) {
    for (const d of decoded.damage) problem(d.file, `consumer journal ${d.reason}`, d.position);
    if (decoded.damage.length === 0) note(file, 'consumer journal torn while being created (nothing in it was acknowledged; removed on open)');
    return;
  }
  for (const d of decoded.damage) problem(d.file, `consumer journal ${d.reason}`, d.position);
  if (crashed && decoded.end < contents.length) {
    note(file, `consumer journal's last record is torn (never acknowledged): ${contents.length - decoded.end} bytes cut off on open`, decoded.end);
  }
  for (const d of replayJournal(decoded.records, file).damage) problem(d.file, `consumer journal ${d.reason}`, d.position < 0 ? undefined : d.position);
}

/** The records a sealed segment's seal says it holds, when its index is whole and sealed; else null. */
function sealedRecordCount(io: FileIO, paths: SegmentPaths): number | null {
  if (io.stat(paths.index) === null) return null;
  const fd = io.open(paths.index, 'r');
  try {
    const bytes = io.size(fd);
    const seal = readSealTrailer(io, fd, bytes);
    return seal !== null && sealedIndexBytes(seal.recordCount) === bytes ? seal.recordCount : null;
  } finally {
    io.close(fd);
  }
}

/**
 * Offsets `first` to `last` of a stream, between two segments, have no segment: its files were
 * removed (by hand, or lost). The events there were acknowledged: damage, counted as unreadable.
 */
function missingSegments(io: FileIO, dir: string, first: number, last: number, truncatedBefore: number, findings: Findings, explained: Set<number>): void {
  const paths = segmentPaths(dir, first);
  explained.add(first);
  const indexLeft = io.stat(paths.index) !== null ? ' (its index is still there)' : '';
  findings.problem(paths.log, `is missing${indexLeft}: offsets ${first} to ${last} have no segment (the segment before ends at ${first - 1}, the next begins at ${last + 1}); those acknowledged events are lost`);
  findings.report.damagedEvents += Math.max(0, last - Math.max(first, truncatedBefore) + 1);
}

/**
 * The stream's last segment has no log after a clean stop, though the stream had given offsets in
 * it ({@link findLostTail}, as the open finds them): those events were acknowledged, and are
 * lost. The open seals them as damage and keeps the index that shows them.
 */
function lostTail(io: FileIO, dir: string, lost: LostTail, truncatedBefore: number, findings: Findings, explained: Set<number>): void {
  const paths = segmentPaths(dir, lost.baseOffset);
  explained.add(lost.baseOffset);
  const last = lost.baseOffset + lost.count - 1;
  const indexLeft = io.stat(paths.index) !== null ? ' (its index is still there)' : '';
  findings.problem(paths.log, `is missing${indexLeft}: the stream had given offsets ${lost.baseOffset} to ${last} (${lost.count} events) in it (${lost.evidence}); those acknowledged events are lost (an open seals them as damage and goes on after them)`);
  findings.report.damagedEvents += Math.max(0, last + 1 - Math.max(lost.baseOffset, truncatedBefore));
}

/**
 * Checks the key index's runs of a stream. A run is derived from the log (an open rebuilds a
 * damaged one), but damage in it is damage on the disk all the same: a problem. A run inside
 * another (a merge's input left by a crash) is a note: an open removes it.
 */
function verifyKeyRuns(io: FileIO, dir: string, logFrom: number, { problem, note, checked }: Findings): void {
  const runs = io.readdir(dir).filter((name) => RUN_FILE_PATTERN.test(name)).sort();
  let coveredTo = -1;
  for (const name of runs) {
    const file = path.join(dir, name);
    checked.add(file);
    const named = RUN_FILE_PATTERN.exec(name)!;
    const rebuilt = `rebuilt from the log on open${lostVersions(Number(named[1]), logFrom)}`;
    const run = KeyRun.open(io, file);
    if (typeof run === 'string') {
      problem(file, `key index run ${run} (${rebuilt})`);
      continue;
    }
    const match = RUN_FILE_PATTERN.exec(name)!;
    if (Number(match[1]) !== run.fromOffset || Number(match[2]) !== run.toOffset) problem(file, `key index run covers ${run.fromOffset}-${run.toOffset}, its name says otherwise`);
    if (run.fromOffset < coveredTo) note(file, 'key index run inside another (left by a merge a crash cut short; removed on open)');
    coveredTo = Math.max(coveredTo, run.toOffset);
    const cursor = (() => {
      try {
        return run.cursor(io);
      } catch (error) {
        return error instanceof DamagedRun ? error : null;
      }
    })();
    if (cursor === null) continue;
    if (cursor instanceof DamagedRun) {
      problem(file, `key index run ${cursor.reason} (${rebuilt})`);
      continue;
    }
    try {
      let previous: [number, number, number] | null = null;
      let count = 0;
      for (; !cursor.done; cursor.next()) {
        count += 1;
        const here: [number, number, number] = [cursor.hi, cursor.lo, cursor.version];
        if (previous !== null && !(here[0] > previous[0] || (here[0] === previous[0] && (here[1] > previous[1] || (here[1] === previous[1] && here[2] > previous[2]))))) {
          // Two keys sharing a hash may repeat a version; anything else out of order is damage.
          if (!(here[0] === previous[0] && here[1] === previous[1] && here[2] === previous[2])) problem(file, `key index run entry ${count - 1} is out of (hash, version) order`);
        }
        if (!run.mayHold(cursor.hi, cursor.lo)) problem(file, `key index run entry ${count - 1} is missing from the run's bloom filter`);
        if (cursor.offset < run.fromOffset || cursor.offset >= run.toOffset) problem(file, `key index run entry ${count - 1} points at offset ${cursor.offset}, outside ${run.fromOffset}-${run.toOffset}`);
        previous = here;
      }
      if (count !== run.entryCount) problem(file, `key index run holds ${count} entries, its trailer says ${run.entryCount}`);
    } catch (error) {
      if (!(error instanceof DamagedRun)) throw error;
      problem(file, `key index run ${error.reason} (${rebuilt})`);
    } finally {
      cursor.close();
      run.release();
    }
  }
}

/** Offsets a reader cannot get, found in one segment: damage, or (after a crash) a tail recovery cuts off. */
interface Unreadable {
  firstOffset: number;
  lastOffset: number;
  /** True for damage (counted in `damagedEvents`); false for a torn tail, never acknowledged. */
  damage: boolean;
}

/**
 * What rebuilding a damaged run from `fromOffset` loses when the log no longer holds the events
 * below `logFrom` (key-index.ts, KEY_VERSIONS_LOST).
 */
function lostVersions(fromOffset: number, logFrom: number): string {
  if (fromOffset >= logFrom) return '';
  return `; its events ${fromOffset} to ${logFrom - 1} are gone from the log (retention or truncation), so keys whose events were all among them lose their versions: no_stream is accepted for them again, and versions are given again from 0`;
}

/**
 * Checks every record of a segment's log (CRC, offset), resynchronising after damage as recovery
 * does, and judges what it finds by the same batch rule (segment-check.ts's scanRecords and
 * batchDamage); then its index: against the seal for a sealed segment (`expectedCount` records),
 * entry by entry against the records for all. Counts the events a reader can get, and the
 * offsets damage makes unreadable.
 */
function verifySegment(io: FileIO, paths: SegmentPaths, expectedCount: number | null, truncatedBefore: number, findings: Findings, checkpoint?: SegmentCrcs): void {
  const { report, problem, checked } = findings;
  report.segments += 1;
  checked.add(paths.log);
  const logFd = io.open(paths.log, 'r');
  try {
    const logSize = io.size(logFd);
    const problemsBefore = report.problems.length;
    const header = checkLogHeader(io, logFd, paths.baseOffset);
    if ('problem' in header) problem(paths.log, header.problem, 0);
    const version = 'version' in header ? header.version : guessVersion(io, logFd, logSize);
    const segment = { version, createdMs: 'createdMs' in header ? header.createdMs : 0 };
    const base = paths.baseOffset;
    // Record positions by relative offset; -1 for an offset in a damaged stretch.
    const positions: number[] = [];
    const start = { position: FILE_HEADER_BYTES, offset: base, boundary: { position: FILE_HEADER_BYTES, offset: base } };
    const scan = scanRecords(io, logFd, paths.log, logSize, start, segment, (offset, position) => (positions[offset - base] = position), (offset) => (positions[offset - base] = -1), expectedCount ?? undefined);
    const valid = positions.filter((position) => position >= 0).length;
    const unreadable: Unreadable[] = scan.damage.map((d) => ({ firstOffset: d.firstOffset, lastOffset: d.lastOffset, damage: true }));
    for (const damage of scan.damage) problem(damage.file, damageMessage(damage), damage.position);
    // A seal that records damage at the segment's end: said once, with the damage the scan finds there.
    const sealed = expectedCount !== null && io.stat(paths.index) !== null ? checkSealed(io, paths, expectedCount).seal : null;
    const sealedDamaged = sealed !== null && sealed.damagedCount > 0 ? sealed.damagedCount : 0;
    const end = expectedCount === null
      ? verifyActiveEnd(paths, scan, listedRecords(io, paths), checkpointedRecords(paths, checkpoint), findings)
      : verifySealedEnd(paths, scan, expectedCount, sealedDamaged, findings);
    if (end !== null) unreadable.push(end);
    // Only when nothing above explains the shortfall (damage always does).
    if (expectedCount !== null && valid !== expectedCount && report.problems.length === problemsBefore) problem(paths.log, `holds ${valid} valid records, expected ${expectedCount}`);
    countEvents(report, base, positions, unreadable, truncatedBefore);
    if (io.stat(paths.index) === null) {
      // Derived from the log: an open rebuilds it, after a crash or a clean stop alike.
      findings.note(paths.index, 'index is missing (rebuilt on open)');
      return;
    }
    checked.add(paths.index);
    // Where only zeros follow a sealed segment's records, with nothing found wrong in its log: the
    // preallocated end, which an open cuts off (segment-repair.ts's rebuildSealedIndex).
    const zerosFrom = expectedCount !== null && report.problems.length === problemsBefore && scan.end < logSize && zeroFrom(io, logFd, scan.end, logSize) ? scan.end : null;
    if (expectedCount !== null && !verifySeal(io, logFd, paths, expectedCount, end !== null && end.damage, zerosFrom, findings)) return;
    // The failing bytes of a stop at the end of an active segment count as one record (recovery's count).
    const held = scan.nextOffset - base + (expectedCount === null && scan.stop !== null ? 1 : 0);
    verifyEntries(io, paths, expectedCount, positions, held, findings);
  } finally {
    io.close(logFd);
  }
}

/**
 * Counts a segment's events as a reader gets them: valid records outside every unreadable
 * stretch (a damaged batch's records that pass their own checks are not returned either), at or
 * above the truncation point; records below it apart (still on disk, removed with their segment);
 * and the offsets damage makes unreadable.
 */
function countEvents(report: VerifyReport, base: number, positions: number[], unreadable: Unreadable[], truncatedBefore: number): void {
  const inside = (offset: number, damageOnly: boolean) => unreadable.some((u) => (!damageOnly || u.damage) && offset >= u.firstOffset && offset <= u.lastOffset);
  positions.forEach((position, i) => {
    const offset = base + i;
    if (position < 0) return;
    if (offset < truncatedBefore) report.truncatedEvents += 1;
    else if (!inside(offset, false)) report.events += 1;
  });
  const damaged = new Set<number>();
  for (const u of unreadable) {
    if (!u.damage) continue;
    for (let offset = Math.max(u.firstOffset, truncatedBefore); offset <= u.lastOffset; offset++) damaged.add(offset);
  }
  report.damagedEvents += damaged.size;
}

function damageMessage(damage: Damage): string {
  const offsets = damage.firstOffset === damage.lastOffset ? `offset ${damage.firstOffset} is` : `offsets ${damage.firstOffset} to ${damage.lastOffset} are`;
  return `${offsets} damaged: ${damage.reason}`;
}

/**
 * The end of the active segment (`indexed`: the records its index lists; `checkpointed`: those the
 * clean-close checkpoint counts). After a crash, a failing last record, a batch without its end and
 * entries past the log's records are torn, never acknowledged (cut off on open). After a clean
 * stop they, and records the index or the checkpoint lists that the log no longer holds, are
 * damage to acknowledged events, kept (the segment is sealed as it is on open, and writes go on in
 * a new one: segment-recovery.ts). Returns the offsets a reader cannot get there, or null.
 */
function verifyActiveEnd(paths: SegmentPaths, scan: RecordsScan, indexed: number, checkpointed: number, { problem, note, crashed }: Findings): Unreadable | null {
  const { stop, boundary, nextOffset } = scan;
  const base = paths.baseOffset;
  // The failing bytes of a stop count as one record (recovery's count).
  const held = nextOffset - base + (stop !== null ? 1 : 0);
  const unended = boundary.offset < nextOffset;
  const listed = crashed ? indexed : Math.max(indexed, checkpointed);
  if (crashed) {
    if (stop !== null) note(paths.log, `record ${stop.problem} at offset ${nextOffset}: a torn tail, never acknowledged; cut off on open`, stop.position);
    if (unended) note(paths.log, `offsets ${boundary.offset} to ${nextOffset - 1} are a batch without its last record: torn by a crash, never acknowledged; cut off on open`, boundary.position);
    if (listed > held) note(paths.index, `lists ${listed} records, the log holds ${held}: the rest were torn by a crash, never acknowledged; cut off on open`);
    return unended ? { firstOffset: boundary.offset, lastOffset: nextOffset - 1, damage: false } : null;
  }
  const lister = checkpointed > indexed ? 'the clean-close checkpoint counts' : 'its index lists';
  const missing = listed > held ? ` (${lister} ${listed} records, the log holds ${held})` : '';
  const last = base + Math.max(held, listed) - 1;
  let damage: Damage | null = null;
  if (stop !== null) {
    damage = batchDamage(paths.log, boundary, stop.position, nextOffset, last, `record ${stop.problem} with nothing valid after it, after a clean stop${missing}`);
  } else if (listed > held) {
    damage = batchDamage(paths.log, boundary, scan.end, nextOffset, last, `records missing after a clean stop${missing}`);
  } else if (unended) {
    problem(paths.log, `offsets ${boundary.offset} to ${nextOffset - 1} are a batch without its last record, after a clean stop`, boundary.position);
    return { firstOffset: boundary.offset, lastOffset: nextOffset - 1, damage: true };
  }
  if (damage === null) return null;
  problem(paths.log, damageMessage(damage), damage.position);
  return { firstOffset: damage.firstOffset, lastOffset: damage.lastOffset, damage: true };
}

/** The records the clean-close checkpoint says the active segment held (0 when it says nothing of it), as recovery counts them. */
function checkpointedRecords(paths: SegmentPaths, checkpoint: SegmentCrcs | undefined): number {
  if (checkpoint === undefined || checkpoint.base !== paths.baseOffset || checkpoint.indexBytes < FILE_HEADER_BYTES) return 0;
  return Math.floor((checkpoint.indexBytes - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES);
}

/** The records the index of an active segment lists: up to its newest entry that checks (0 without one). */
function listedRecords(io: FileIO, paths: SegmentPaths): number {
  if (io.stat(paths.index) === null || checkIndexHeaderOf(io, paths) !== null) return 0;
  const index = readWholeFile(io, paths.index);
  let listed = Math.floor((index.length - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES);
  while (listed > 0 && decodeIndexEntry(index, indexEntryPosition(listed - 1), listed - 1) < 0) listed -= 1;
  return listed;
}

/**
 * The end of a sealed segment: it must hold every record it should, the last one ending a batch.
 * `sealedDamaged`: the records its seal says are damaged at its end (then said in the same
 * problem). Returns the damaged offsets there, or null.
 */
function verifySealedEnd(paths: SegmentPaths, scan: RecordsScan, expectedCount: number, sealedDamaged: number, { problem }: Findings): Unreadable | null {
  const stopOffset = paths.baseOffset + expectedCount;
  const seal = sealedDamaged > 0 ? ` (its seal records offsets ${stopOffset - sealedDamaged} to ${stopOffset - 1} as damaged: sealed over damage found at its end)` : '';
  if (scan.nextOffset < stopOffset) {
    const at = scan.stop?.position ?? scan.end;
    const reason = scan.stop !== null ? `record ${scan.stop.problem}` : 'records missing';
    const damage = batchDamage(paths.log, scan.boundary, at, scan.nextOffset, stopOffset - 1, reason);
    problem(paths.log, `${damageMessage(damage)}${seal}`, at);
    return { firstOffset: damage.firstOffset, lastOffset: damage.lastOffset, damage: true };
  }
  if (scan.boundary.offset < stopOffset) {
    problem(paths.log, `offsets ${scan.boundary.offset} to ${stopOffset - 1} are a batch without its last record at the end of a sealed segment${seal}`, scan.boundary.position);
    return { firstOffset: scan.boundary.offset, lastOffset: stopOffset - 1, damage: true };
  }
  return null;
}

/**
 * Checks a sealed segment's index against its seal and the seal against the files; false if it
 * cannot be used. An index whose header fails or whose size is not the sealed size (short, or
 * unsealed as a kill during a roll leaves it) is a note: an open rebuilds it from the log, after
 * a crash or a clean stop alike, and reports no damage (segment-recovery.ts's openSealed); the
 * log's own damage is reported from the log. A seal trailer of the right size that fails its
 * checks (a bit flip) is rebuilt too, but it is damage on the disk: a problem, as a damaged key
 * index run is. A log longer than a seal that otherwise checks, with only zeros past the end of
 * its records (`zerosFrom`, where the seal says the log ends), is the preallocated end that a
 * crash right after sealing left uncut: the open cuts it and rebuilds the index, reporting no
 * damage, so it is a note; non-zero bytes there are nothing the store wrote: a problem. Damage its seal records is a problem of its own only when the log's end was not
 * found damaged (`endDamaged`: then it was said with that damage).
 */
function verifySeal(io: FileIO, logFd: number, paths: SegmentPaths, count: number, endDamaged: boolean, zerosFrom: number | null, { problem, note }: Findings): boolean {
  const check = checkSealed(io, paths, count);
  if (check.seal === null) {
    const unsealed = checkIndexHeaderOf(io, paths) !== null || io.stat(paths.index)?.size !== sealedIndexBytes(count);
    const trailer = unsealed || zerosFrom === null ? null : sealOf(io, paths);
    if (unsealed) {
      note(paths.index, `${check.problem} (rebuilt on open)`);
    } else if (trailer !== null && trailer.recordCount === count && trailer.logBytes === zerosFrom) {
      note(paths.log, `${check.problem}, with only zeros after that: the preallocated end, not yet cut when a crash came right after sealing; cut off on open, and the index rebuilt`, zerosFrom);
    } else {
      problem(paths.index, `${check.problem} (rebuilt on open)`);
    }
    return false;
  }
  if (check.seal.damagedCount > 0 && !endDamaged) {
    const first = paths.baseOffset + count - check.seal.damagedCount;
    problem(paths.log, `offsets ${first} to ${paths.baseOffset + count - 1} are damaged: its seal records them so (sealed over damage found at its end)`, check.seal.damagePosition);
  }
  if (fileCrc(io, logFd, check.logBytes) !== check.seal.logCrc) problem(paths.log, 'CRC32C does not match its seal');
  const index = readWholeFile(io, paths.index);
  if (crc32c(index.subarray(0, index.length - SEAL_TRAILER_BYTES)) !== check.seal.indexCrc) problem(paths.index, 'CRC32C does not match its seal');
  return true;
}

/**
 * Checks each index entry against the record it should point at (`positions`, by relative offset;
 * -1 for a damaged offset, whose entry points at the damage). `held` is the records the log holds.
 */
function verifyEntries(io: FileIO, paths: SegmentPaths, expectedCount: number | null, positions: number[], held: number, { problem, note }: Findings): void {
  const index = readWholeFile(io, paths.index);
  const headerProblem = expectedCount === null ? checkIndexHeaderOf(io, paths) : null;
  if (headerProblem !== null) {
    // An open recreates it from the log (segment-recovery.ts's openIndexForRecovery), after a
    // crash or a clean stop alike: the records it listed are then judged by the log and the
    // clean-close checkpoint (listedRecords counts none).
    note(paths.index, `${headerProblem} (rebuilt on open)`, 0);
    return;
  }
  const entries = expectedCount ?? Math.floor((index.length - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES);
  for (let i = 0; i < Math.min(entries, positions.length); i++) {
    if (positions[i] === undefined || positions[i]! < 0) continue;
    if (decodeIndexEntry(index, indexEntryPosition(i), i) !== positions[i]) {
      problem(paths.index, `entry for offset ${paths.baseOffset + i} is damaged or points at the wrong record (rebuilt on use)`, indexEntryPosition(i));
      break;
    }
  }
  if (expectedCount === null && entries < held) note(paths.index, `lacks entries for the last ${held - entries} records (added on open)`);
}

/** The seal trailer at the end of a segment's index, if one decodes there (whatever else the index holds). */
function sealOf(io: FileIO, paths: SegmentPaths): SealInfo | null {
  const fd = io.open(paths.index, 'r');
  try {
    return readSealTrailer(io, fd, io.size(fd));
  } finally {
    io.close(fd);
  }
}

function checkIndexHeaderOf(io: FileIO, paths: SegmentPaths): string | null {
  const fd = io.open(paths.index, 'r');
  try {
    return checkIndexHeader(io, fd, paths.baseOffset);
  } finally {
    io.close(fd);
  }
}
