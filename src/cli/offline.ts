/**
 * The offline commands: `snapshot` (of a data directory no server has open), `verify` (a data
 * directory or a snapshot: manifest, every record CRC, every index) and `restore` (a snapshot into
 * a new data directory). Each prints a readable report (or JSON with --json).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../errors.js';
import { Engine } from '../storage/engine.js';
import { nodeIO, restoreSnapshot, verifyDirectory, type VerifyReport } from '../storage/index.js';

type Print = (line: string) => void;

/** Snapshots `dataDir` into a new directory inside `outputDir`. */
export async function snapshotCommand(dataDir: string, outputDir: string, json: boolean, print: Print): Promise<void> {
  if (!existsSync(dataDir)) throw new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `no data directory at ${path.resolve(dataDir)}`);
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  try {
    const result = await engine.snapshot(path.resolve(outputDir));
    if (json) print(JSON.stringify(result));
    else {
      print(`snapshot ${result.path}`);
      print(`  ${result.streams} streams, ${result.events} events, ${result.bytes} bytes; ${result.linkedFiles} files linked, ${result.copiedFiles} copied${result.copyFallback ? ' (hard links impossible: copied instead)' : ''}`);
    }
  } finally {
    await engine.close();
  }
}

/** Verifies a data directory or snapshot. Returns the exit status: 0 when sound, 2 otherwise. */
export function verifyCommand(dir: string, json: boolean, print: Print): number {
  const report: VerifyReport = verifyDirectory(nodeIO, dir);
  if (json) print(JSON.stringify(report));
  else {
    print(`${report.ok ? 'OK' : 'DAMAGED'}: ${report.kind === 'snapshot' ? 'snapshot' : 'data directory'} ${path.resolve(dir)}`);
    print(`  ${report.streams} streams, ${report.segments} segments, ${report.events} events, ${report.files} files checked`);
    for (const p of report.problems) print(`  problem: ${p.file}${p.position === undefined ? '' : ` at byte ${p.position}`}: ${p.message}`);
    for (const n of report.notes) print(`  note: ${n.file}${n.position === undefined ? '' : ` at byte ${n.position}`}: ${n.message}`);
  }
  return report.ok ? 0 : 2;
}

/** Restores `snapshotDir` into `dataDir` (absent or empty). */
export function restoreCommand(snapshotDir: string, dataDir: string, json: boolean, print: Print): void {
  const result = restoreSnapshot(nodeIO, snapshotDir, dataDir);
  if (json) print(JSON.stringify(result));
  else print(`restored ${path.resolve(snapshotDir)} into ${result.dataDir}: ${result.streams} streams, ${result.events} events, ${result.files} files, ${result.bytes} bytes`);
}
