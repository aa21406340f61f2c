/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, a .cpuprofile file): self time per function,
 * and the shares of idle (the event loop waiting: for fsync, for the network), garbage
 * collection and V8's own work. Sample i lasts until sample i+1 (timeDeltas[i+1]), as in the
 * Chrome DevTools. Given time windows (the harness's timed repetitions, on the same monotonic
 * clock as the profile's timestamps), only samples inside them count: start-up, prefills and
 * the pauses between repetitions are left out.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  function: string;
  /** file:line, relative to the repository where possible. */
  where: string;
  selfMs: number;
  /** Of the whole profile, idle included. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** What the samples were cut to, e.g. `write-16x32-100 (3 repetitions)`; `whole run` otherwise. */
  scope: string;
  totalMs: number;
  idlePercent: number;
  gcPercent: number;
  programPercent: number;
  /** The top functions by self time, idle/GC/program excluded. */
  top: ProfileEntry[];
  /** Self time by area: `src/storage`, `src/protocol`, … for ours, `node:net` … for Node's, `native`, `idle`, `gc`. */
  byArea: { area: string; percent: number }[];
}

/** Which part of the program a function belongs to, for the by-area breakdown. */
function area(functionName: string, url: string): string {
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(program)') return 'V8 (program)';
  const ours = /dist\/src\/([a-z-]+)\//.exec(url);
  if (ours !== null) return `src/${ours[1]}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  if (url === '') return 'native (C++: syscalls, encoding)';
  return /node_modules\/([^/]+)/.exec(url)?.[1] ?? 'other';
}

export function summarizeProfile(file: string, windows: readonly { startUs: number; endUs: number }[] = [], scope = 'whole run', topN = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, number>();
  const areaUs = new Map<string, number>();
  let totalUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const duration = profile.timeDeltas[i + 1] ?? 0;
    if (windows.length > 0 && !windows.some((w) => at >= w.startUs && at < w.endUs)) continue;
    const node = byId.get(profile.samples[i]!);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'}\u0000${url.replace(/^file:\/\/.*?\/(dist\/|node_modules\/)/, '$1')}:${lineNumber + 1}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + duration);
    const where = area(functionName, url);
    areaUs.set(where, (areaUs.get(where) ?? 0) + duration);
    totalUs += duration;
  }
  const share = (name: string) => {
    let us = 0;
    for (const [key, value] of selfUs) if (key.startsWith(`${name}\u0000`)) us += value;
    return totalUs === 0 ? 0 : (us / totalUs) * 100;
  };
  const special = new Set(['(idle)', '(garbage collector)', '(program)', '(root)']);
  const top = [...selfUs.entries()]
    .filter(([key]) => !special.has(key.split('\u0000')[0]!))
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([key, us]) => {
      const [name, where] = key.split('\u0000') as [string, string];
      return { function: name, where: where === ':0' ? '(native)' : where, selfMs: us / 1000, percent: (us / totalUs) * 100 };
    });
  const byArea = [...areaUs.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ area: name, percent: totalUs === 0 ? 0 : (us / totalUs) * 100 }));
  return { file, scope, totalMs: totalUs / 1000, idlePercent: share('(idle)'), gcPercent: share('(garbage collector)'), programPercent: share('(program)'), top, byArea };
}

export function profileText(summary: ProfileSummary): string {
  const lines = [
    `${summary.file}, ${summary.scope}: ${(summary.totalMs / 1000).toFixed(1)} s sampled; idle ${summary.idlePercent.toFixed(1)}%, GC ${summary.gcPercent.toFixed(1)}%, V8/program ${summary.programPercent.toFixed(1)}%`,
    `by area: ${summary.byArea.slice(0, 10).map((a) => `${a.area} ${a.percent.toFixed(1)}%`).join(', ')}`,
    'top self time:',
    ...summary.top.map((e) => `  ${e.percent.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.function}  ${e.where}`),
  ];
  return lines.join('\n');
}
