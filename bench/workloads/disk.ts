/**
 * The disk's fsync rate, from the same run and the same file system as the servers' data: a
 * 256-byte write + fdatasync, one at a time, in a temporary directory. One writer waiting for
 * each fsync cannot beat this; group commit is what lifts durable writes above it.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { throughputFigure, type RunResult } from '../core/figures.js';
import { newHistogram, recordMs, summarize } from '../../src/cli/bench/histogram.js';
import { makeTempDir, removeTempDir } from '../core/processes.js';
import type { Workload } from './workload.js';

const BLOCK_BYTES = 256;

function fsyncLoop(durationMs: number, onProgress: (elapsedMs: number) => void): RunResult {
  const dir = makeTempDir('eventbus-bench-disk-');
  const fd = openSync(path.join(dir, 'fsync-probe'), 'w');
  const block = Buffer.alloc(BLOCK_BYTES, 0x78);
  const histogram = newHistogram();
  let ops = 0;
  const started = performance.now();
  let now = started;
  try {
    while (now - started < durationMs) {
      const t0 = now;
      writeSync(fd, block, 0, block.length, ops * BLOCK_BYTES);
      fdatasyncSync(fd);
      now = performance.now();
      recordMs(histogram, now - t0);
      ops += 1;
      if ((ops & 255) === 0) onProgress(now - started);
    }
  } finally {
    closeSync(fd);
    removeTempDir(dir);
  }
  const elapsedMs = now - started;
  return { ops, elapsedMs, opsPerSecond: (ops / elapsedMs) * 1000, latency: summarize(histogram), errors: 0 };
}

export const diskWorkload: Workload = {
  name: 'disk',
  description: "the disk's fsync rate: 256 B write + fdatasync, one at a time, in the temporary directory",
  systems: [],
  async run(ctx) {
    const runs: RunResult[] = [];
    for (let rep = 0; rep < ctx.scale.reps; rep++) {
      // Synchronous on purpose (no thread-pool hop in the figure); the display catches up between repetitions.
      runs.push(await ctx.step('disk', `rep ${rep + 1}/${ctx.scale.reps}`, async (progress) => {
        progress.total = ctx.scale.diskMs;
        progress.unit = 'ms';
        return fsyncLoop(ctx.scale.diskMs, (ms) => (progress.done = ms));
      }));
    }
    ctx.add(throughputFigure({ workload: 'disk', case: `${BLOCK_BYTES} B write + fdatasync`, system: 'disk', unit: 'fsyncs/s' }, runs));
  },
};
