/**
 * A cross-check of the harness's own generator: the shared, dependency-free `ebload.mjs`
 * (../shared/tools, when present) drives the same eventbus server at (16,32) with 100 B
 * events; its rate should agree with `write-16x32-100` for eventbus within the noise.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { throughputFigure, type RunResult } from '../core/figures.js';
import { spawnTracked } from '../core/processes.js';
import type { RunningSystem } from '../systems/system.js';
import type { Workload } from './workload.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function findEbload(): string | null {
  const candidates = [path.join(REPO_ROOT, '..', 'shared', 'tools', 'ebload.mjs'), path.join(REPO_ROOT, '..', '..', 'shared', 'tools', 'ebload.mjs')];
  return candidates.find((candidate) => existsSync(candidate)) ?? null;
}

interface EbloadSummary {
  ops: number;
  elapsed_s: number;
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  non_true: number;
}

async function ebload(script: string, port: number, stream: string, events: number): Promise<RunResult> {
  const child = spawnTracked(process.execPath, [script, '--mode', 'write', '--port', String(port), '-c', '16', '-d', '32', '-n', String(events), '-s', '100', '--stream', stream]);
  await child.exited;
  const last = child.output().trim().split('\n').filter((line) => line.startsWith('{')).pop();
  if (last === undefined) throw new Error(`ebload printed no summary:\n${child.output()}`);
  const s = JSON.parse(last) as EbloadSummary;
  return {
    ops: s.ops,
    elapsedMs: s.elapsed_s * 1000,
    opsPerSecond: s.ops_per_s,
    latency: { count: s.ops, p50Ms: s.p50_ms, p90Ms: Number.NaN, p99Ms: s.p99_ms, p999Ms: Number.NaN, maxMs: s.max_ms, meanMs: Number.NaN },
    errors: s.errors + s.non_true,
  };
}

export const ebloadWorkload: Workload = {
  name: 'ebload',
  description: 'cross-check: ../shared/tools/ebload.mjs at (16,32) 100 B against the same eventbus server (skipped when absent)',
  systems: ['eventbus-always'],
  async run(ctx, [system]: RunningSystem[]) {
    const script = findEbload();
    if (system === undefined) return;
    if (script === null) {
      ctx.display.line('ebload: ../shared/tools/ebload.mjs not found; cross-check skipped', true);
      return;
    }
    const events = ctx.scale.quick ? 10_000 : 150_000;
    const runs: RunResult[] = [];
    for (let rep = 0; rep < ctx.scale.reps; rep++) {
      const run = await ctx.step(system.id, `ebload rep ${rep + 1}/${ctx.scale.reps}`, () => ebload(script, system.port, `ebload-r${rep}`, events));
      if (run.errors > 0) ctx.fail(`ebload saw ${run.errors} failed replies`);
      runs.push(run);
    }
    ctx.add(throughputFigure({ workload: 'ebload', case: 'write (16,32) 100 B by ebload.mjs (cross-check)', system: system.id, note: 'percentiles from ebload itself' }, runs));
  },
};
