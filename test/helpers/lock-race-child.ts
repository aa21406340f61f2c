/**
 * A child process that opens data directories when told, for the cross-process LOCK race tests
 * (test/storage/lock-race.test.ts). Run as
 *
 *   node dist/test/helpers/lock-race-child.js
 *
 * It prints `{"ready":true}` once loaded, then reads JSON lines on stdin:
 * - `{"open": DIR}`: opens the store in DIR and prints `{"opened":true}` (holding it open) or
 *   `{"code": CODE, "reason": REASON}`;
 * - `{"close": true}`: closes the store it holds, if any, and prints `{"closed":true}`.
 *
 * Its file system is the real one, slowed down: every operation on a LOCK-related file (a name
 * holding `LOCK`, or a descriptor opened on one) is followed by a random pause of up to
 * MAX_PAUSE_MS, so that the steps of two processes taking the LOCK interleave, as they can on a
 * loaded machine, in a few rounds rather than in millions. Test-only: nothing in the engine sleeps.
 */
import path from 'node:path';
import readline from 'node:readline';
import { Engine } from '../../src/storage/index.js';
import { nodeIO, type FileIO } from '../../src/storage/fs/io.js';

const MAX_PAUSE_MS = 3;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const lockFds = new Set<number>();

function lockRelated(value: unknown): boolean {
  if (typeof value === 'number') return lockFds.has(value);
  return typeof value === 'string' && path.basename(value).includes('LOCK');
}

function pause(): void {
  Atomics.wait(sleeper, 0, 0, Math.random() * MAX_PAUSE_MS);
}

/** nodeIO, pausing after each operation on a LOCK-related file. */
const slowIO = new Proxy(nodeIO, {
  get(target, name, receiver) {
    const real = Reflect.get(target, name, receiver) as unknown;
    if (typeof real !== 'function') return real;
    return (...args: unknown[]) => {
      const related = args.some(lockRelated);
      if (name === 'close') lockFds.delete(args[0] as number);
      const result = (real as (...a: unknown[]) => unknown).apply(target, args);
      if (name === 'open' && related) lockFds.add(result as number);
      if (related) pause();
      return result;
    };
  },
}) as FileIO;

let engine: Engine | null = null;

function say(message: object): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

async function handle(command: { open?: string; close?: boolean }): Promise<void> {
  if (command.open !== undefined) {
    try {
      engine = await Engine.open({ dataDir: command.open, io: slowIO, retentionIntervalMs: 0 });
      say({ opened: true });
    } catch (error) {
      const failure = error as { code?: string; reason?: string; message?: string };
      say({ code: failure.code ?? 'THROWN', reason: failure.reason ?? failure.message });
    }
  } else if (command.close === true) {
    const held = engine;
    engine = null;
    if (held !== null) await held.close();
    say({ closed: true });
  }
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(() => handle(JSON.parse(line) as { open?: string; close?: boolean }));
});
lines.on('close', () => void queue.then(() => engine?.close()));
say({ ready: true });
