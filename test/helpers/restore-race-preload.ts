/**
 * Loaded with `node --import` into real `eventbus restore` processes by the restore race test
 * (test/snapshots/restore-race.test.ts), so that the steps of two restores into one directory
 * interleave, as they can on a loaded machine, within a few rounds rather than in thousands:
 *
 * - a start line: when a process looks at RACE_TARGET (the restore's target) for the second time,
 *   after it has read the snapshot (the command checks the target, then the restore verifies
 *   the snapshot and looks at the target again before it writes anything), it writes a file into
 *   RACE_BARRIER and waits until RACE_PARTIES processes have, so that they go on together, the
 *   start-up and verify times (which vary far more than the steps raced) out of the way;
 * - after every file operation on the RESTORING marker (a path holding that name, its helpers'
 *   too, or a descriptor opened on one) and after every directory listing (how a restore looks at
 *   its target), a random pause of up to MAX_PAUSE_MS.
 *
 * It patches node:fs's synchronous calls, which the storage file layer (src/storage/fs/io.ts)
 * looks up at each call. Test-only: nothing in eventbus sleeps.
 */
import fs from 'node:fs';
import path from 'node:path';

const MAX_PAUSE_MS = 3;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const markerFds = new Set<number>();
const target = process.env.RACE_TARGET ?? '';
const barrier = process.env.RACE_BARRIER ?? '';
const parties = Number(process.env.RACE_PARTIES ?? 2);
/** How many times a run of operations on the target began; the start line is at the second. */
let targetVisits = 0;
let lastWasTarget = false;

function markerRelated(value: unknown): boolean {
  if (typeof value === 'number') return markerFds.has(value);
  return (typeof value === 'string' || value instanceof URL) && path.basename(String(value)).includes('RESTORING');
}

/** The start line: called before every patched operation with its first argument. */
function startLine(value: unknown): void {
  if (target === '' || typeof value !== 'string') return;
  const onTarget = path.resolve(value).startsWith(target);
  if (onTarget && !lastWasTarget && ++targetVisits === 2) {
    realWriteFileSync(path.join(barrier, `arrived.${process.pid}`), '');
    const deadlineMs = Date.now() + 10_000;
    while (realReaddirSync(barrier).length < parties && Date.now() < deadlineMs) Atomics.wait(sleeper, 0, 0, 1);
  }
  lastWasTarget = onTarget;
}

const realWriteFileSync = fs.writeFileSync.bind(fs);
const realReaddirSync = fs.readdirSync.bind(fs) as (dir: string) => string[];
const patched = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
for (const name of ['statSync', 'lstatSync', 'existsSync', 'openSync', 'closeSync', 'writeSync', 'writevSync', 'fdatasyncSync', 'fsyncSync', 'readSync', 'unlinkSync', 'linkSync', 'renameSync', 'readFileSync', 'readdirSync', 'mkdirSync', 'rmSync']) {
  const real = patched[name]!;
  patched[name] = (...args: unknown[]) => {
    startLine(args[0]);
    const related = name === 'readdirSync' || markerRelated(args[0]) || markerRelated(args[1]);
    if (name === 'closeSync') markerFds.delete(args[0] as number);
    const result = real.apply(fs, args);
    if (name === 'openSync' && markerRelated(args[0])) markerFds.add(result as number);
    if (related) Atomics.wait(sleeper, 0, 0, Math.random() * MAX_PAUSE_MS);
    return result;
  };
}
