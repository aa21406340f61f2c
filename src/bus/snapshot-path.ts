/**
 * Where `snapshot_db {output}` may write: `output` is a relative path resolved inside the
 * snapshots root (like the original's relative `backups`). An absolute path, one that climbs out
 * with `..`, or one that leaves the root through a symbolic link is INVALID_PATH.
 *
 * The default root is a `snapshots` directory beside the data directory, never one relative to
 * the working directory (under systemd that is `/`), so a snapshot is found from the store.
 */
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../errors.js';

/**
 * The default snapshots root: `snapshots` beside the data directory (`/var/lib/eb/data` →
 * `/var/lib/eb/snapshots`); for a data directory itself named `snapshots`, `snapshots.snapshots`
 * beside it, so that snapshots never land inside the store.
 */
export function defaultSnapshotsRoot(dataDir: string): string {
  const data = path.resolve(dataDir);
  const beside = path.join(path.dirname(data), 'snapshots');
  return beside === data ? `${data}.snapshots` : beside;
}

/** Longest file name, and longest path, Linux takes (NAME_MAX, PATH_MAX). */
const MAX_NAME_BYTES = 255;
const MAX_PATH_BYTES = 4096;

function invalidPath(output: string, why: string): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_PATH, `invalid snapshot output '${output}': ${why}`, { context: { field: 'output' } });
}

function inside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === '' || (!relative.startsWith(`..${path.sep}`) && relative !== '..' && !path.isAbsolute(relative));
}

/** The absolute directory for `output` inside `root` (created if missing). Throws INVALID_PATH. */
export function resolveSnapshotDir(root: string, output: string): string {
  if (output.includes('\0')) throw invalidPath(output, 'it contains a NUL character');
  // A lone surrogate has no UTF-8 form: the file system would get U+FFFD in its place.
  if (!output.isWellFormed()) throw invalidPath(output, 'it is not valid Unicode text');
  if (path.isAbsolute(output) || path.win32.isAbsolute(output)) throw invalidPath(output, 'it must be a path relative to the snapshots root');
  // Names the file system cannot hold are the client's mistake, not a failed snapshot.
  const longName = output.split(/[\\/]/).find((name) => Buffer.byteLength(name) > MAX_NAME_BYTES);
  if (longName !== undefined) throw invalidPath(output.length > 80 ? `${output.slice(0, 77)}...` : output, `a name in it is ${Buffer.byteLength(longName)} bytes, the limit is ${MAX_NAME_BYTES}`);
  const absoluteRoot = path.resolve(root);
  const target = path.resolve(absoluteRoot, output);
  // Room for the snapshot's own directory and files below it.
  if (Buffer.byteLength(target) > MAX_PATH_BYTES - 256) throw invalidPath(output.length > 80 ? `${output.slice(0, 77)}...` : output, `it is too long (the snapshot's paths would pass ${MAX_PATH_BYTES} bytes)`);
  if (!inside(absoluteRoot, target)) throw invalidPath(output, 'it leaves the snapshots root');
  let existing = target;
  let real: { root: string; existing: string };
  try {
    // Owner only, as every data directory (snapshots hold all the data).
    mkdirSync(absoluteRoot, { recursive: true, mode: 0o700 });
    while (!existsSync(existing)) existing = path.dirname(existing);
    real = { root: realpathSync(absoluteRoot), existing: realpathSync(existing) };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new EventBusError(ErrorCodes.SNAPSHOT_FAILED, `snapshot failed: the snapshots root ${absoluteRoot} cannot be used (${code})`, { cause: error });
  }
  // Symbolic links: the deepest part that exists must really be inside the real root.
  if (!inside(real.root, real.existing)) throw invalidPath(output, 'it leaves the snapshots root through a symbolic link');
  return target;
}
