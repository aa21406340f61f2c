/**
 * The offline commands: `snapshot` (of a data directory no server has open), `verify` (a data
 * directory or a snapshot: manifest, every record CRC, every index) and `restore` (a snapshot into
 * a new data directory). Each prints a readable report (or JSON with --json).
 *
 * None of them creates or changes anything in a directory that is not already a store: the path
 * is checked first (store-checks.ts), and a wrong one is refused with one line (exit status 64).
 * `snapshot` also refuses a store a crash left (its recovery would change the files it reads),
 * opens a clean one over a file layer that changes nothing in it but its LOCK (refusing, nothing
 * changed, a store whose open would repair something), and lists the damage the opened store
 * knows of, exiting 2 (exit-status.ts).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../errors.js';
import { Engine, nodeIO, type SnapshotResult } from '../storage/index.js';
import { readOnlyStore, type RefusedChange } from '../storage/tools/read-only-store.js';
import { refuseUnusableOutput } from '../storage/tools/snapshot.js';
import { restoreSnapshot, verifyDirectory, type VerifyReport } from '../storage/index.js';
import { snapshotJson } from '../protocol/response.js';
import { ExitStatus, type ExitStatusValue } from './exit-status.js';
import { formatCount } from './output.js';
import { withProgressIO } from './progress-io.js';
import { requireIdleStore, requireRestoreTarget, requireSnapshot, requireVerifiable } from './store-checks.js';

type Print = (line: string) => void;

function inside(parent: string, candidate: string): boolean {
  const relative = path.relative(parent, candidate);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/** Damage the store knows of, as the snapshot report lists it. */
interface KnownDamage {
  stream: string;
  file: string | null;
  position: number | null;
  message: string;
}

/**
 * What the opened store knows to be damaged: streams it could not open (left out of the
 * snapshot) and, in the others, what recovery found (records that cannot be read back, lost
 * consumer changes), which the snapshot holds as it is. Sealed segments are not read whole at
 * open, so this is what the store knows, not a full check (`eventbus verify` of the snapshot).
 */
function knownDamage(engine: Engine): KnownDamage[] {
  const out: KnownDamage[] = [];
  for (const stream of engine.recovery.streams) {
    if (stream.error !== null) {
      out.push({ stream: stream.stream, file: null, position: null, message: `could not be opened, so it is not in the snapshot (${stream.error.code}: ${stream.error.reason})` });
      continue;
    }
    for (const d of engine.stats(stream.stream).damage) {
      const offsets = d.firstOffset <= d.lastOffset ? ` (offsets ${d.firstOffset}-${d.lastOffset} cannot be read)` : '';
      out.push({ stream: stream.stream, file: d.file, position: d.position, message: `${d.reason}${offsets}` });
    }
  }
  return out;
}

/**
 * Snapshots `dataDir` into a new directory inside `outputDir`. Returns the exit status: 0, or 2
 * when the store holds damage it knows of (the snapshot is made, and the damage listed).
 */
export async function snapshotCommand(dataDir: string, outputDir: string, json: boolean, print: Print): Promise<ExitStatusValue> {
  const store = requireIdleStore(dataDir);
  const output = path.resolve(outputDir);
  if (inside(store.path, output)) {
    throw new EventBusError(ErrorCodes.INVALID_PATH, `the output ${output} is inside the data directory ${store.path}; put snapshots outside it`);
  }
  refuseUnusableOutput(nodeIO, output); // under a file, inside a snapshot: before the store is opened
  // Opened as the server would, but over a file layer that changes nothing in it but its LOCK:
  // a store whose open would repair something is refused, nothing changed (read-only-store.ts).
  const guarded = readOnlyStore(nodeIO, store.path);
  let engine: Engine;
  try {
    engine = await Engine.open({ dataDir: store.path, retentionIntervalMs: 0, create: false, io: guarded.io });
  } catch (error) {
    if (guarded.refused.length > 0) throw needsRepair(store.path, guarded.refused[0]!);
    throw error;
  }
  let result: SnapshotResult | null = null;
  let damage: KnownDamage[] = [];
  try {
    if (guarded.refused.length === 0) {
      result = await engine.snapshot(output, { copyActiveTails: true });
      damage = knownDamage(engine);
    }
  } finally {
    await engine.close();
  }
  if (guarded.refused.length > 0 || result === null) {
    // A change asked for while the snapshot was taken (by background upkeep): it is not kept.
    if (result !== null) rmSync(result.path, { recursive: true, force: true });
    throw needsRepair(store.path, guarded.refused[0]!);
  }
  return reportSnapshot(result, damage, output, json, print);
}

/**
 * The refusal of a store whose open would change it (`first`: the first change refused): damage
 * that recovery cuts or seals, an index it rebuilds, files it removes. Nothing was changed.
 */
function needsRepair(dataDir: string, first: RefusedChange): EventBusError {
  return new EventBusError(
    ErrorCodes.SNAPSHOT_FAILED,
    `data directory ${dataDir} needs repair when it is opened (the open would ${first.operation} ${first.file}), and the offline snapshot never changes the store it reads; nothing was changed. ` +
      `See what is wrong with: eventbus verify ${dataDir}. To keep it as it is, copy the stopped directory (cp -a); or start the server on it once (eventbus serve --data ${dataDir}: it repairs it and logs what it did) and stop it, then snapshot`,
    { context: { path: dataDir, operation: first.operation, file: first.file } },
  );
}

/** Prints what the snapshot made and the damage the store knows of; returns the exit status. */
function reportSnapshot(result: SnapshotResult, damage: KnownDamage[], output: string, json: boolean, print: Print): ExitStatusValue {
  // As snapshot_db answers: `path` relative to where it was asked for, and absolute_path;
  // `damage` only when there is some.
  if (json) {
    const line = snapshotJson({ ...result, path: path.relative(output, result.path), absolutePath: result.path });
    print(damage.length === 0 ? line : `${line.slice(0, -1)},"damage":${JSON.stringify(damage)}}`);
  } else {
    print(`snapshot ${result.path}${damage.length === 0 ? '' : ` (DAMAGED: it holds the damage the store had)`}`);
    print(`  ${counted(result.streams, 'stream')}, ${counted(result.events, 'event')}, ${counted(result.bytes, 'byte')}; ${counted(result.linkedFiles, 'file')} linked, ${formatCount(result.copiedFiles)} copied${result.copyFallback ? ' (hard links impossible: copied instead)' : ''}`);
    for (const d of damage) {
      print(`  damage: stream ${JSON.stringify(d.stream)}: ${d.file === null ? '' : `${d.file}${d.position === null ? '' : ` at byte ${d.position}`}: `}${d.message}`);
    }
  }
  return damage.length === 0 ? ExitStatus.OK : ExitStatus.DAMAGED;
}

/** Verifies a data directory no server holds, or a snapshot. Returns the exit status: 0 when sound, 2 when damaged. */
export function verifyCommand(dir: string, json: boolean, print: Print): ExitStatusValue {
  const found = requireVerifiable(dir);
  const report: VerifyReport = withProgressIO('verifying', found.path, 1, (io) => verifyDirectory(io, found.path));
  if (json) {
    const { kind, ok, streams, segments, events, truncatedEvents, damagedEvents, files, problems, notes } = report;
    print(JSON.stringify({ path: found.path, kind, ok, streams, segments, events, truncated_events: truncatedEvents, damaged_events: damagedEvents, files, problems, notes }));
  } else {
    print(`${report.ok ? 'OK' : 'DAMAGED'}: ${report.kind === 'snapshot' ? 'snapshot' : 'data directory'} ${found.path}`);
    const others = [
      ...(report.damagedEvents > 0 ? [`${formatCount(report.damagedEvents)} damaged, unreadable`] : []),
      ...(report.truncatedEvents > 0 ? [`${formatCount(report.truncatedEvents)} truncated, still on disk`] : []),
    ];
    const more = others.length > 0 ? ` (and ${others.join(', ')})` : '';
    print(`  ${counted(report.streams, 'stream')}, ${counted(report.segments, 'segment')}, ${counted(report.events, 'event')}${more}, ${counted(report.files, 'file')} checked`);
    for (const p of report.problems) print(`  problem: ${p.file}${p.position === undefined ? '' : ` at byte ${p.position}`}: ${p.message}`);
    for (const n of report.notes) print(`  note: ${n.file}${n.position === undefined ? '' : ` at byte ${n.position}`}: ${n.message}`);
  }
  return report.ok ? ExitStatus.OK : ExitStatus.DAMAGED;
}

/** Restores `snapshotDir` into `dataDir` (absent or empty). */
export function restoreCommand(snapshotDir: string, dataDir: string, json: boolean, print: Print): void {
  const snapshot = requireSnapshot(snapshotDir);
  const target = requireRestoreTarget(dataDir);
  const result = withProgressIO('restoring', snapshot.path, 3, (io) => restoreSnapshot(io, snapshot.path, target.path));
  if (json) {
    print(JSON.stringify({ snapshot: snapshot.path, data_dir: result.dataDir, streams: result.streams, events: result.events, files: result.files, bytes: result.bytes }));
  } else print(`restored ${snapshot.path} into ${result.dataDir}: ${counted(result.streams, 'stream')}, ${counted(result.events, 'event')}, ${counted(result.files, 'file')}, ${counted(result.bytes, 'byte')}`);
}

/** `1 stream`, `50,000 events`: a count for a person. */
function counted(n: number, noun: string): string {
  return `${formatCount(n)} ${noun}${n === 1 ? '' : 's'}`;
}
