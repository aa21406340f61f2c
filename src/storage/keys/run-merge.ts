/**
 * Merging runs of the key index: the entries of adjacent runs (together covering one range of
 * offsets) read in order and written as one run, a k-way merge that holds one chunk of blocks
 * per input. Entries of events below the stream's first offset (removed by retention) are
 * dropped, except a key's newest one: a key whose events were all removed keeps its version, so
 * its next event continues from it instead of starting again at 0.
 */
import { assert } from '../../errors.js';
import { compareHash } from '../format/key-hash.js';
import type { FileIO } from '../fs/io.js';
import type { OpenFiles } from '../fs/open-files.js';
import { RunWriter, type KeyRun, type RunCursor } from './key-run-file.js';
import { TimeSlice } from './time-slice.js';


/**
 * Merges `runs` (adjacent, oldest first) into one run written in `dir`, durably; null when
 * `cancelled()` turned true meanwhile (the index closed: nothing is left behind). Throws
 * DamagedRun when an input block fails its check (nothing is replaced then).
 */
export async function mergeRuns(
  io: FileIO,
  dir: string,
  runs: readonly KeyRun[],
  firstOffset: number,
  cancelled: () => boolean,
  /** How long a slice of the merge may run before the event loop gets a turn. */
  sliceMs: () => number,
  openFiles: OpenFiles | null = null,
): Promise<KeyRun | null> {
  for (let i = 1; i < runs.length; i++) assert(runs[i - 1]!.toOffset === runs[i]!.fromOffset, 'merging runs that are not adjacent');
  const writer = new RunWriter(io, dir, runs[0]!.fromOffset, runs[runs.length - 1]!.toOffset, Date.now(), openFiles);
  const cursors: RunCursor[] = [];
  try {
    for (const run of runs) cursors.push(run.cursor(io));
    // One entry held back: an entry below the first offset is written only if it is its hash's last.
    let held: { hi: number; lo: number; version: number; offset: number } | null = null;
    let merged = 0;
    const slice = new TimeSlice(sliceMs);
    for (;;) {
      const next = smallest(cursors);
      if (next === null) break;
      if (held !== null && (held.offset >= firstOffset || compareHash(held.hi, held.lo, next.hi, next.lo) !== 0)) writer.add(held.hi, held.lo, held.version, held.offset);
      held = { hi: next.hi, lo: next.lo, version: next.version, offset: next.offset };
      next.next();
      if (slice.due(++merged)) {
        await slice.pause();
        if (cancelled()) {
          writer.abandon();
          return null;
        }
      }
    }
    if (held !== null) writer.add(held.hi, held.lo, held.version, held.offset);
  } catch (error) {
    writer.abandon();
    throw error;
  } finally {
    for (const cursor of cursors) cursor.close();
  }
  return writer.finish();
}

/** The cursor whose entry comes first in (hash, version) order, or null when all are done. */
function smallest(cursors: readonly RunCursor[]): RunCursor | null {
  let best: RunCursor | null = null;
  for (const cursor of cursors) {
    if (cursor.done) continue;
    if (best === null) {
      best = cursor;
      continue;
    }
    const c = compareHash(cursor.hi, cursor.lo, best.hi, best.lo);
    if (c < 0 || (c === 0 && cursor.version < best.version)) best = cursor;
  }
  return best;
}
