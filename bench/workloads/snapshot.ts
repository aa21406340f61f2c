/**
 * Snapshot time (issue 5), the engine in-process: a store of N streams filled to each size
 * (1 KiB events), snapshotted `reps` times in the process that wrote it and `reps` times after a
 * restart (the active segments' running CRCs are then unknown and sealing must compute them).
 * Sealed segments are hard-linked and only active tails cost anything, so the time should not
 * grow with the size.
 */
import path from 'node:path';
import { Engine } from '../../src/storage/index.js';
import type { BenchContext } from '../core/context.js';
import { valueFigure } from '../core/figures.js';
import { makeTempDir, removeTempDir } from '../core/processes.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import type { Workload } from './workload.js';

const EVENT_BYTES = 1024;

async function fill(dataDir: string, sizeMib: number, streams: number, progress: Progress): Promise<Engine> {
  const perStream = Math.ceil((sizeMib * 1024 * 1024) / EVENT_BYTES / streams);
  progress.total = perStream * streams;
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  const body = Buffer.from(`"${'x'.repeat(EVENT_BYTES - 2)}"`);
  const batch = Array.from({ length: 1000 }, () => body);
  for (let s = 0; s < streams; s++) await engine.createStream(`stream-${s}`);
  await Promise.all(Array.from({ length: streams }, async (_, s) => {
    for (let written = 0; written < perStream; written += batch.length) {
      const count = Math.min(batch.length, perStream - written);
      await engine.appendMany(`stream-${s}`, batch.slice(0, count));
      progress.done += count;
    }
  }));
  return engine;
}

/** `reps` snapshots; writes between them, so every one has active tails to deal with. */
async function snapshots(engine: Engine, out: string, reps: number): Promise<number[]> {
  const times: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const started = performance.now();
    await engine.snapshot(out);
    times.push(performance.now() - started);
    await Promise.all(engine.listStreams().map((s) => engine.appendMany(s.name, [Buffer.from('"tail"')])));
  }
  return times;
}

async function oneSize(ctx: BenchContext, sizeMib: number): Promise<void> {
  const streams = ctx.scale.snapshotStreams;
  const root = makeTempDir('eventbus-bench-snapshot-');
  const dataDir = path.join(root, 'data');
  const out = path.join(root, 'snapshots');
  const label = `${sizeMib >= 1024 ? `${sizeMib / 1024} GiB` : `${sizeMib} MiB`} across ${streams} streams`;
  try {
    let engine = await ctx.step('engine', `fill ${label}`, (progress) => fill(dataDir, sizeMib, streams, progress));
    const same = await ctx.step('engine', `snapshots of ${label}`, () => snapshots(engine, out, ctx.scale.reps));
    await engine.close();
    engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
    // 2,000 more events a stream, in batches within the engine's 1,000-event limit.
    for (let batch = 0; batch < 2; batch++) {
      await Promise.all(engine.listStreams().map((s) => engine.appendMany(s.name, Array.from({ length: 1000 }, () => Buffer.from('"more"')))));
    }
    const restarted = await ctx.step('engine', `snapshots of ${label} after a restart`, () => snapshots(engine, out, ctx.scale.reps));
    await engine.close();
    const base = { workload: 'snapshot', system: 'engine', unit: 'ms', higherIsBetter: false };
    ctx.add(valueFigure({ ...base, case: `snapshot, ${label}` }, same));
    ctx.add(valueFigure({ ...base, case: `snapshot, ${label}, first process after a restart` }, restarted));
  } finally {
    removeTempDir(root);
  }
}

export const snapshotWorkload: Workload = {
  name: 'snapshot',
  description: 'snapshot time of the engine for two store sizes (should not grow with size)',
  systems: [],
  eventbusOnly: true,
  async run(ctx) {
    for (const sizeMib of ctx.scale.snapshotSizesMib) await oneSize(ctx, sizeMib);
  },
};
