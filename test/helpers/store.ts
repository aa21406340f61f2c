/**
 * Helpers for tests of the storage engine: opening a store with test-friendly defaults, finding a
 * stream's files, reading a whole stream, making recognisable payloads and damaging files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Engine, type EngineOptions } from '../../src/storage/engine.js';
import type { AppendedEvent, StoredEvent } from '../../src/storage/index.js';

/**
 * Opens the store in `dataDir` for a test: no retention timer (tests call applyRetention), small
 * segments unless told otherwise, everything else as given.
 */
export function openEngine(dataDir: string, options: Partial<EngineOptions> = {}): Promise<Engine> {
  return Engine.open({ retentionIntervalMs: 0, segmentSizeBytes: 4096, ...options, dataDir });
}

/** The directory holding the files of stream `name`. */
export function streamDir(engine: Engine, name: string): string {
  const info = engine.getStream(name);
  if (info === undefined) throw new Error(`test: no stream ${name}`);
  return path.join(engine.dataDir, 'streams', info.id);
}

/** A stream's segment files, oldest first, as absolute paths. */
export function segmentFiles(dir: string): { base: number; log: string; index: string }[] {
  return fs.readdirSync(dir)
    .filter((name) => /^\d{20}\.log$/.test(name))
    .sort()
    .map((name) => ({ base: Number(name.slice(0, 20)), log: path.join(dir, name), index: path.join(dir, name.replace(/\.log$/, '.index')) }));
}

/** Every readable event of a stream from `fromOffset`, following reads until the end. */
export function readAll(engine: Engine, name: string, fromOffset = 0, maxEvents = 1000): StoredEvent[] {
  const out: StoredEvent[] = [];
  let next = fromOffset;
  for (;;) {
    const batch = engine.read(name, next, { maxEvents });
    if (batch.length === 0) return out;
    for (const event of batch) out.push({ ...event, payload: Buffer.from(event.payload) });
    next = batch[batch.length - 1]!.offset + 1;
  }
}

/**
 * A payload that names its stream and index and has a length of `size` bytes (at least as long
 * as its label when `size` is smaller), so that a returned payload can be checked against what
 * was written and a payload returned at the wrong offset cannot pass.
 */
export function payload(label: string, size: number): Buffer {
  const text = Buffer.from(`${label};`);
  if (size <= text.length) return text.subarray(0, Math.max(size, 0));
  const out = Buffer.alloc(size);
  text.copy(out);
  for (let i = text.length; i < size; i++) out[i] = 97 + ((i * 7 + label.length) % 26);
  return out;
}

/** Flips bit `bit` (0..7) of the byte at `position` of `file`, in place. */
export function flipBit(file: string, position: number, bit = 0): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    if (fs.readSync(fd, byte, 0, 1, position) !== 1) throw new Error(`test: ${file} has no byte ${position}`);
    byte[0] = byte[0]! ^ (1 << bit);
    fs.writeSync(fd, byte, 0, 1, position);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Byte positions of the records of a `.log` file, read straight from the file (not via the
 * engine). Stops at an all-zero record header: the preallocated end of an active segment.
 */
export function recordPositions(file: string): { position: number; size: number }[] {
  const bytes = fs.readFileSync(file);
  const out: { position: number; size: number }[] = [];
  let position = 32;
  while (position + 24 <= bytes.length) {
    if (bytes.subarray(position, position + 24).every((b) => b === 0)) break;
    const size = 24 + bytes.readUInt32LE(position + 4);
    if (position + size > bytes.length) break;
    out.push({ position, size });
    position += size;
  }
  return out;
}

/** Byte position just after the last record of a `.log` file (its data, without preallocated zeros). */
export function dataEnd(file: string): number {
  const records = recordPositions(file);
  const last = records[records.length - 1];
  return last === undefined ? 32 : last.position + last.size;
}

/**
 * Makes a closed store look as if its process had died with it open after taking writes: leaves
 * a LOCK naming no running process, and no clean-close crc-checkpoint (an open removes it before
 * it takes a write; a LOCK beside it is an open killed before that, recovered as after the clean
 * stop). The next open then recovers as after a crash (a failing tail is torn, cut off), not as
 * after a clean close (a failing tail is damage, kept and reported).
 */
export function simulateCrash(dataDir: string): void {
  fs.writeFileSync(path.join(dataDir, 'LOCK'), 'left by a process that died\n');
  fs.rmSync(path.join(dataDir, 'crc-checkpoint'), { force: true });
}

/** Leaves a LOCK naming no running process beside the clean close's crc-checkpoint: what an open killed before it took any write leaves. */
export function simulateInterruptedOpen(dataDir: string): void {
  fs.writeFileSync(path.join(dataDir, 'LOCK'), 'left by a process that died\n');
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Appends each payload as its own append (a batch of one), all in the same moment: what
 * appendMany did before appends were atomic batches. A batch is never split across segments, so
 * tests that need segment rolls among many events append them this way.
 */
export function appendEach(engine: Engine, name: string, payloads: readonly Buffer[]): Promise<AppendedEvent[]> {
  return Promise.all(payloads.map((p) => engine.append(name, p)));
}
