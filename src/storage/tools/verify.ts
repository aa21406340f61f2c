/**
 * Offline verification of a data directory or a snapshot (`eventbus verify`): reads every byte
 * and checks it, without changing anything.
 *
 * - A snapshot's MANIFEST: every listed file present with its size and CRC32C, nothing extra,
 *   and the directory named as the manifest says (so a `.partial` staging directory never passes).
 * - The catalog, and for every stream: every segment's header, every record's CRC and offset
 *   (dense, starting at the base offset), every index entry against the record it points at, and
 *   every seal trailer against its files; the consumer journal's records.
 *
 * Problems (damage: data that cannot be read back as written) make `ok` false. Notes are
 * conditions that recovery handles on open without loss, such as the torn, never-acknowledged
 * tail left by a crash.
 */
import path from 'node:path';
import { CATALOG, Catalog } from '../catalog.js';
import { decodeJournal, JOURNAL_FILE } from '../consumers/journal-codec.js';
import { crc32c } from '../format/crc.js';
import { FILE_HEADER_BYTES } from '../format/file-header.js';
import { decodeIndexEntry, INDEX_ENTRY_BYTES, indexEntryPosition, SEAL_TRAILER_BYTES } from '../format/offset-index.js';
import { readWholeFile, type FileIO } from '../fs/io.js';
import { fileCrc, scanLog, zeroFrom } from '../log/log-scanner.js';
import { checkIndexHeader, checkLogHeader, checkSealed } from '../log/segment-check.js';
import { listSegments, MAX_RECORD_PAYLOAD_BYTES, segmentPaths, type SegmentPaths } from '../log/segment-files.js';
import { MANIFEST_FILE, readManifest } from './manifest.js';

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
  events: number;
  files: number;
  problems: Finding[];
  notes: Finding[];
}

/** Verifies the data directory or snapshot at `dir`. */
export function verifyDirectory(io: FileIO, dir: string): VerifyReport {
  const report: VerifyReport = { kind: 'data', ok: false, streams: 0, segments: 0, events: 0, files: 0, problems: [], notes: [] };
  const problem = (file: string, message: string, position?: number) => report.problems.push({ file, message, ...(position === undefined ? {} : { position }) });
  const note = (file: string, message: string, position?: number) => report.notes.push({ file, message, ...(position === undefined ? {} : { position }) });
  const root = path.resolve(dir);
  if (io.stat(root)?.isDirectory !== true) {
    problem(root, 'not a directory');
    return report;
  }
  const manifestPath = path.join(root, MANIFEST_FILE);
  if (io.stat(manifestPath) !== null) {
    report.kind = 'snapshot';
    verifyManifest(io, root, manifestPath, report, problem);
  } else if (path.basename(root).startsWith('.') && path.basename(root).endsWith('.partial')) {
    problem(root, 'an unfinished snapshot (no MANIFEST): it is not a valid snapshot');
  }
  const catalogPath = path.join(root, CATALOG.name);
  if (io.stat(catalogPath) === null) {
    problem(catalogPath, 'catalog is missing: not a data directory or snapshot');
    return finish(report);
  }
  let catalog: Catalog;
  try {
    catalog = Catalog.load(io, root);
  } catch (error) {
    problem(catalogPath, (error as Error).message);
    return finish(report);
  }
  const listed = new Set<string>();
  for (const entry of catalog.all()) {
    listed.add(entry.id);
    report.streams += 1;
    verifyStream(io, path.join(root, 'streams', entry.id), entry.name, report, problem, note);
  }
  const streamsDir = path.join(root, 'streams');
  if (io.stat(streamsDir) !== null) {
    for (const name of io.readdir(streamsDir)) {
      if (!listed.has(name)) note(path.join(streamsDir, name), 'directory not listed in the catalog (left by a crash mid-create or mid-delete; removed on open)');
    }
  }
  return finish(report);
}

function finish(report: VerifyReport): VerifyReport {
  report.ok = report.problems.length === 0;
  return report;
}

function verifyManifest(io: FileIO, root: string, manifestPath: string, report: VerifyReport, problem: (f: string, m: string, p?: number) => void): void {
  const manifest = readManifest(io, root);
  if (typeof manifest === 'string') {
    problem(manifestPath, `manifest ${manifest}`);
    return;
  }
  if (manifest.name !== path.basename(root)) problem(manifestPath, `manifest names snapshot ${JSON.stringify(manifest.name)}, but the directory is ${JSON.stringify(path.basename(root))}`);
  const listed = new Set<string>([MANIFEST_FILE]);
  for (const file of manifest.files) {
    listed.add(file.path);
    report.files += 1;
    const full = path.join(root, file.path);
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

type Report = (file: string, message: string, position?: number) => void;

function verifyStream(io: FileIO, dir: string, name: string, report: VerifyReport, problem: Report, note: Report): void {
  if (io.stat(dir)?.isDirectory !== true) {
    problem(dir, `directory of stream ${JSON.stringify(name)} is missing`);
    return;
  }
  const { bases } = listSegments(io, dir);
  if (bases.length === 0) {
    problem(dir, `stream ${JSON.stringify(name)} has no segment files`);
    return;
  }
  for (let i = 0; i < bases.length; i++) {
    const last = i === bases.length - 1;
    verifySegment(io, segmentPaths(dir, bases[i]!), last ? null : bases[i + 1]! - bases[i]!, report, problem, note);
  }
  const journal = path.join(dir, JOURNAL_FILE);
  if (io.stat(journal) !== null) {
    // As recovery reads it, assuming a crash: a torn tail is what recovery cuts, not damage.
    const { damage } = decodeJournal(readWholeFile(io, journal), journal, true);
    for (const d of damage) problem(d.file, `consumer journal ${d.reason}`, d.position);
  }
}

/**
 * Checks every record of a segment's log (CRC, offset), then its index: against the seal for a
 * sealed segment (`expectedCount` records), entry by entry against the records for all.
 */
function verifySegment(io: FileIO, paths: SegmentPaths, expectedCount: number | null, report: VerifyReport, problem: Report, note: Report): void {
  report.segments += 1;
  const logFd = io.open(paths.log, 'r');
  try {
    const logSize = io.size(logFd);
    const header = checkLogHeader(io, logFd, paths.baseOffset);
    if ('problem' in header) problem(paths.log, header.problem, 0);
    const positions: number[] = [];
    const scan = scanLog(io, logFd, FILE_HEADER_BYTES, logSize, paths.baseOffset, MAX_RECORD_PAYLOAD_BYTES, (_offset, position) => positions.push(position));
    const count = positions.length;
    report.events += count;
    const preallocated = expectedCount === null && scan.stop !== null && zeroFrom(io, logFd, scan.stop.position, logSize);
    if (scan.stop !== null && !preallocated) {
      const message = `record ${scan.stop.problem} at offset ${scan.nextOffset}`;
      if (expectedCount === null && scan.stop.problem === 'partial') note(paths.log, `${message}: a torn tail, never acknowledged; cut off on open`, scan.stop.position);
      else problem(paths.log, message, scan.stop.position);
    }
    if (expectedCount !== null && count !== expectedCount) problem(paths.log, `holds ${count} valid records, expected ${expectedCount}`);
    if (io.stat(paths.index) === null) {
      (expectedCount === null ? note : problem)(paths.index, 'index is missing (rebuilt on open)');
      return;
    }
    if (expectedCount !== null && !verifySeal(io, logFd, paths, expectedCount, problem)) return;
    verifyEntries(io, paths, expectedCount, positions, problem, note);
  } finally {
    io.close(logFd);
  }
}

/** Checks a sealed segment's index against its seal and the seal against the files; false if it cannot be used. */
function verifySeal(io: FileIO, logFd: number, paths: SegmentPaths, count: number, problem: Report): boolean {
  const check = checkSealed(io, paths, count);
  if (check.seal === null) {
    problem(paths.index, `${check.problem} (rebuilt on open)`);
    return false;
  }
  if (fileCrc(io, logFd, check.logBytes) !== check.seal.logCrc) problem(paths.log, 'CRC32C does not match its seal');
  const index = readWholeFile(io, paths.index);
  if (crc32c(index.subarray(0, index.length - SEAL_TRAILER_BYTES)) !== check.seal.indexCrc) problem(paths.index, 'CRC32C does not match its seal');
  return true;
}

/** Checks each index entry against the record it should point at. */
function verifyEntries(io: FileIO, paths: SegmentPaths, expectedCount: number | null, positions: number[], problem: Report, note: Report): void {
  const index = readWholeFile(io, paths.index);
  const headerProblem = expectedCount === null ? checkIndexHeaderOf(io, paths) : null;
  if (headerProblem !== null) {
    problem(paths.index, `${headerProblem} (rebuilt on open)`, 0);
    return;
  }
  const count = positions.length;
  const entries = expectedCount ?? Math.floor((index.length - FILE_HEADER_BYTES) / INDEX_ENTRY_BYTES);
  for (let i = 0; i < Math.min(entries, count); i++) {
    if (decodeIndexEntry(index, indexEntryPosition(i), i) !== positions[i]) {
      problem(paths.index, `entry for offset ${paths.baseOffset + i} is damaged or points at the wrong record (rebuilt on use)`, indexEntryPosition(i));
      break;
    }
  }
  if (expectedCount === null && entries < count) note(paths.index, `lacks entries for the last ${count - entries} records (added on open)`);
}

function checkIndexHeaderOf(io: FileIO, paths: SegmentPaths): string | null {
  const fd = io.open(paths.index, 'r');
  try {
    return checkIndexHeader(io, fd, paths.baseOffset);
  } finally {
    io.close(fd);
  }
}
