/**
 * `npm run bench`: eventbus against Redis Streams and NATS JetStream, in one run, on this
 * machine, driven by this one load-generator process. It starts every system itself on
 * 127.0.0.1 with its data in a temporary directory, runs the selected workloads (each figure the
 * median of several repetitions, systems measured in rotated order), stops everything, checks
 * the targets, and writes JSON, markdown and SVG charts to bench/results/<time>/ (with --docs,
 * also docs/benchmarks.md). `--list` names the workloads; `--help` the options.
 *
 * Exit status: 0 when every measurement completed (targets missed are reported, not failures),
 * 1 when a system or check failed, 2 on bad usage.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchContext } from './core/context.js';
import { cleanUpNow, installCleanupHandlers, makeTempDir } from './core/processes.js';
import { parseOptions, type BenchOptions } from './options.js';
import { LiveDisplay } from './report/live.js';
import { writeDocs, writeResults, type RunInfo, type RunReport } from './report/output.js';
import { profileText, summarizeProfile, type ProfileSummary } from './report/profile.js';
import { terminalTables } from './report/render.js';
import { buildSections } from './report/sections.js';
import { SYSTEMS } from './systems/index.js';
import type { RunningSystem, SystemId } from './systems/system.js';
import { checkTargets } from './targets.js';
import { WORKLOADS, matches, selectWorkloads } from './workloads/index.js';
import type { Workload } from './workloads/workload.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function listing(): string {
  return [
    'workloads (--only NAME or a group: write, write-16x32, …):',
    ...WORKLOADS.map((w) => `  ${w.name.padEnd(16)} ${w.description}${w.systems.length > 0 ? ` [${w.systems.join(', ')}]` : ''}${w.optIn === true ? ' (opt-in)' : ''}`),
    '',
    'systems (--systems ID or a prefix: eventbus, redis):',
    ...[...SYSTEMS.values()].map((s) => `  ${s.id.padEnd(18)} ${s.label}: ${s.durabilityNote}${s.missing() === null ? '' : `  [not available: ${s.missing()}]`}`),
  ].join('\n');
}

function versions(running: ReadonlyMap<SystemId, RunningSystem>): Record<string, string> {
  const result: Record<string, string> = { node: process.version };
  for (const [id, system] of running) result[id] = system.version;
  try {
    result['nats client'] = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', 'nats', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // not installed: no NATS figures either
  }
  return result;
}

interface Plan {
  workloads: Workload[];
  systems: SystemId[];
  statuses: Map<SystemId, string>;
}

function plan(options: BenchOptions, display: LiveDisplay): Plan {
  const selected = [...SYSTEMS.keys()].filter((id) => matches(id, options.systems));
  const chosen = selectWorkloads(options.only);
  if (chosen.length === 0) throw new UsageError(`no workload matches --only ${options.only.join(',')} (see --list)`);
  if (options.systems.length > 0 && selected.length === 0) throw new UsageError(`no system matches --systems ${options.systems.join(',')} (see --list)`);
  const statuses = new Map<SystemId, string>();
  const wanted = new Set(chosen.flatMap((w) => w.systems.filter((id) => selected.includes(id))));
  for (const id of wanted) {
    const missing = SYSTEMS.get(id)!.missing();
    statuses.set(id, missing === null ? 'measured' : `skipped: ${missing}`);
    if (missing !== null) display.line(`${id}: ${missing}. Going on without it.`, true);
  }
  const usable = [...wanted].filter((id) => statuses.get(id) === 'measured');
  const eventbus = selected.some((id) => id.startsWith('eventbus') && SYSTEMS.get(id)!.missing() === null);
  const workloads = chosen.filter((w) => (w.eventbusOnly === true ? eventbus : w.systems.length === 0 || w.systems.some((id) => usable.includes(id))));
  return { workloads, systems: usable, statuses };
}

class UsageError extends Error {}

async function main(): Promise<number> {
  installCleanupHandlers();
  const options = parseOptions(process.argv.slice(2));
  if (options.list) {
    console.log(listing());
    return 0;
  }
  const display = new LiveDisplay(options.display);
  const startedAt = new Date();
  const loadBefore = os.loadavg();
  const { workloads, systems, statuses } = plan(options, display);
  const runDir = path.resolve(REPO_ROOT, options.outDir, startedAt.toISOString().replace(/[:.]/g, '-'));
  const profileDir = options.profile ? makeTempDir('eventbus-bench-profiles-') : undefined;
  const running = new Map<SystemId, RunningSystem>();
  const ctx = new BenchContext(options, display, running, SYSTEMS);
  const profiles: ProfileSummary[] = [];
  const workloadSeconds: Record<string, number> = {};
  const pids = new Map<SystemId, number>();
  try {
    for (const id of systems) {
      try {
        ctx.label = 'starting';
        const system = await ctx.step(id, 'start', () => SYSTEMS.get(id)!.start(profileDir === undefined ? {} : { cpuProfileDir: profileDir }));
        running.set(id, system);
        pids.set(id, system.pid);
      } catch (error) {
        statuses.set(id, 'failed to start');
        ctx.fail(`${id} did not start: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    for (const [i, workload] of workloads.entries()) {
      ctx.label = `[${i + 1}/${workloads.length}] ${workload.name}`;
      const drives = workload.systems.flatMap((id) => running.get(id) ?? []);
      if (workload.systems.length > 0 && drives.length === 0) continue;
      const began = performance.now();
      try {
        await workload.run(ctx, drives);
      } catch (error) {
        ctx.fail(`${workload.name}: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
      }
      workloadSeconds[workload.name] = Math.round((performance.now() - began) / 100) / 10;
    }
  } finally {
    display.end();
    for (const system of running.values()) {
      await system.stop().catch((error: unknown) => ctx.fail(`stopping ${system.id}: ${String(error)}`));
    }
  }
  if (profileDir !== undefined) {
    const { readdirSync, copyFileSync, mkdirSync } = await import('node:fs');
    mkdirSync(path.join(runDir, 'profiles'), { recursive: true });
    for (const name of readdirSync(profileDir).filter((n) => n.endsWith('.cpuprofile'))) {
      const kept = path.join(runDir, 'profiles', name);
      copyFileSync(path.join(profileDir, name), kept);
      // One summary per workload measured on this server, cut to its timed repetitions.
      const windows = ctx.windows.filter((w) => name.startsWith(`${w.system}-`));
      for (const workload of new Set(windows.map((w) => w.workload))) {
        const mine = windows.filter((w) => w.workload === workload);
        const summary = summarizeProfile(kept, mine, `${workload} (${mine.length} timed repetitions)`);
        profiles.push(summary);
        display.line(profileText(summary), true);
      }
    }
  }
  display.close();

  const targets = checkTargets(ctx.figures);
  const finishedAt = new Date();
  const info: RunInfo = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationS: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    quick: options.scale.quick,
    reps: options.scale.reps,
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), loadBefore, loadAfter: os.loadavg() },
    versions: versions(running),
    systems: [...statuses].map(([id, status]) => ({ id, label: SYSTEMS.get(id)!.label, durability: SYSTEMS.get(id)!.durabilityNote, status, ...(pids.has(id) ? { pid: pids.get(id)! } : {}) })),
    workloadSeconds,
  };
  const report: RunReport = { info, figures: ctx.figures, targets, failures: ctx.failures, profiles, windows: ctx.windows };
  const sections = buildSections(ctx.figures, targets, options.scale.reps);
  console.log(terminalTables(sections));
  const files = writeResults(runDir, report, sections);
  if (options.docs) files.push(...writeDocs(REPO_ROOT, report, sections));
  const missed = targets.filter((t) => t.verdict === 'MISS').length;
  const passed = targets.filter((t) => t.verdict === 'PASS').length;
  console.log(`\ntargets: ${passed} PASS, ${missed} MISS, ${targets.length - passed - missed} not measured; ${ctx.failures.length} failure(s); ${info.durationS.toFixed(0)} s`);
  console.log(`written: ${files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
  return ctx.failures.length === 0 ? 0 : 1;
}

main().then((code) => {
  process.exitCode = code;
}, (error: unknown) => {
  cleanUpNow();
  if (error instanceof UsageError) {
    console.error(`npm run bench: ${error.message}`);
    process.exitCode = 2;
    return;
  }
  console.error(error);
  process.exitCode = 1;
});
