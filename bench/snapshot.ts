/**
 * Snapshot benchmark (issue 5): time to snapshot a store of 100 streams at two sizes, side by side,
 * to show that snapshot time does not grow with data size (sealed segments are hard-linked; only
 * active tails cost anything). Target: under 200 ms for 1 GiB across 100 streams.
 *
 *   npm run bench:snapshot                 # 100 MiB and 1 GiB
 *   node dist/bench/snapshot.js --sizes-mib 100,1024 --streams 100 --runs 3
 *
 * Each size is measured twice: in the process that wrote the data, and after a restart (the
 * active segments' running CRCs are then unknown and sealing must compute them). Prints a table
 * and writes JSON to bench/results/snapshot-<time>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../src/storage/index.js';

interface Row {
  size_mib: number;
  streams: number;
  phase: 'same process' | 'after restart';
  run: number;
  snapshot_ms: number;
  linked_files: number;
  copied_files: number;
  events: number;
}

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}

const sizesMib = option('sizes-mib', '100,1024').split(',').map(Number);
const streamCount = Number(option('streams', '100'));
const runs = Number(option('runs', '3'));
const eventBytes = 1024;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'eventbus-bench-snapshot-'));

async function fillStore(dataDir: string, sizeMib: number): Promise<Engine> {
  const engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
  const perStream = Math.ceil((sizeMib * 1024 * 1024) / eventBytes / streamCount);
  const payload = Buffer.alloc(eventBytes - 2, 'x');
  const body = Buffer.concat([Buffer.from('"'), payload.subarray(0, eventBytes - 2), Buffer.from('"')]);
  const batch = Array.from({ length: 1000 }, () => body);
  for (let s = 0; s < streamCount; s++) await engine.createStream(`stream-${s}`);
  const started = performance.now();
  await Promise.all(Array.from({ length: streamCount }, async (_, s) => {
    for (let written = 0; written < perStream; written += batch.length) {
      await engine.appendMany(`stream-${s}`, batch.slice(0, Math.min(batch.length, perStream - written)));
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  console.error(`# wrote ${sizeMib} MiB in ${streamCount} streams in ${seconds.toFixed(1)} s`);
  return engine;
}

async function measure(engine: Engine, out: string, row: Omit<Row, 'snapshot_ms' | 'linked_files' | 'copied_files' | 'events'>, rows: Row[]): Promise<void> {
  const started = performance.now();
  const result = await engine.snapshot(out);
  const ms = performance.now() - started;
  rows.push({ ...row, snapshot_ms: Number(ms.toFixed(1)), linked_files: result.linkedFiles, copied_files: result.copiedFiles, events: result.events });
  // Writes between runs, so every run has active tails to deal with.
  await Promise.all(engine.listStreams().map((s) => engine.appendMany(s.name, [Buffer.from('"tail"')])));
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  try {
    for (const sizeMib of sizesMib) {
      const dataDir = path.join(root, `data-${sizeMib}`);
      const out = path.join(root, `snapshots-${sizeMib}`);
      let engine = await fillStore(dataDir, sizeMib);
      for (let run = 1; run <= runs; run++) await measure(engine, out, { size_mib: sizeMib, streams: streamCount, phase: 'same process', run }, rows);
      await engine.close();
      engine = await Engine.open({ dataDir, retentionIntervalMs: 0 });
      await Promise.all(engine.listStreams().map((s) => engine.appendMany(s.name, Array.from({ length: 2000 }, () => Buffer.from('"more"')))));
      for (let run = 1; run <= runs; run++) await measure(engine, out, { size_mib: sizeMib, streams: streamCount, phase: 'after restart', run }, rows);
      await engine.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(out, { recursive: true, force: true });
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log('size_mib  streams  phase          run  snapshot_ms  linked  copied  events');
  for (const r of rows) {
    console.log(`${String(r.size_mib).padStart(8)}  ${String(r.streams).padStart(7)}  ${r.phase.padEnd(13)}  ${String(r.run).padStart(3)}  ${String(r.snapshot_ms).padStart(11)}  ${String(r.linked_files).padStart(6)}  ${String(r.copied_files).padStart(6)}  ${r.events}`);
  }
  const median = (size: number, phase: Row['phase']) => {
    const values = rows.filter((r) => r.size_mib === size && r.phase === phase).map((r) => r.snapshot_ms).sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)]!;
  };
  for (const phase of ['same process', 'after restart'] as const) {
    const figures = sizesMib.map((size) => `${size} MiB: ${median(size, phase)} ms`).join(', ');
    const ratio = median(sizesMib[sizesMib.length - 1]!, phase) / median(sizesMib[0]!, phase);
    console.log(`median (${phase}): ${figures}; largest/smallest = ${ratio.toFixed(2)}x for ${(sizesMib[sizesMib.length - 1]! / sizesMib[0]!).toFixed(1)}x the data; target < 200 ms`);
  }
  const results = path.join(process.cwd(), 'bench', 'results');
  fs.mkdirSync(results, { recursive: true });
  const file = path.join(results, `snapshot-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ machine: { cpus: os.cpus().length, node: process.version }, rows }, null, 2));
  console.log(`results: ${file}`);
}

await main();
