/**
 * The figures the README gives for the command and the single executable, measured in one
 * sitting on this machine: `node dist/bench/cli-figures.js` (after `npm run build:sea`).
 *
 * - the single executable's size, and its start-up time against the npm build (`--help`, and
 *   `serve` until it listens), median of several starts;
 * - the (16,32) 100 B write rate of a server started as the binary and as `npm start` runs it
 *   (`node dist/src/cli/main.js serve`), driven by the same generator (`eventbus bench`);
 * - `eventbus write` with 200,000 JSON lines on stdin against the same server's (1,32) rate.
 *
 * Repetitions alternate between the two sides so that other load on a shared machine falls on
 * both alike; each figure is the median, with min and max. Ratios are the meaningful part.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanUpNow, installCleanupHandlers, makeTempDir, spawnTracked, waitUntil, type TrackedChild } from './core/processes.js';
import { stat, type Stat } from './core/figures.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const SEA = path.join(ROOT, 'dist', 'sea', 'eventbus');
const REPS = Number(process.env.CLI_FIGURES_REPS ?? 3);
const LINES = 200_000;

interface Server {
  port: number;
  child: TrackedChild;
}

const npm = (args: string[]) => [process.execPath, MAIN, ...args];
const sea = (args: string[]) => [SEA, ...args];

async function startServer(command: (args: string[]) => string[], label: string): Promise<Server> {
  const dir = makeTempDir(`eventbus-cli-figures-${label}-`);
  const portFile = path.join(dir, 'port');
  const [file, ...args] = command(['serve', '--port', '0', '--port-file', portFile, '--data', path.join(dir, 'data'), '--log-level', 'warn']);
  const child = spawnTracked(file!, args, { cwd: dir });
  await waitUntil(() => existsSync(portFile), 15_000, () => new Error(`${label} did not start: ${child.output()}`));
  return { port: Number(readFileSync(portFile, 'utf8')), child };
}

/** Milliseconds from spawn to listening (the port file written). */
async function serveStartMs(command: (args: string[]) => string[], label: string): Promise<number> {
  const started = performance.now();
  const server = await startServer(command, label);
  const ms = performance.now() - started;
  await server.child.stop('SIGTERM');
  return ms;
}

function commandMs(command: (args: string[]) => string[], args: string[]): number {
  const [file, ...rest] = command(args);
  const started = performance.now();
  const result = spawnSync(file!, rest, { stdio: 'ignore' });
  if (result.status !== 0) throw new Error(`${file} ${rest.join(' ')} exited ${result.status}`);
  return performance.now() - started;
}

/** `eventbus bench` (the npm build) against `port`: events per second. */
function benchRate(port: number, connections: number, depth: number): number {
  const out = execFileSync(process.execPath, [MAIN, 'bench', '--port', String(port), '--connections', String(connections), '--depth', String(depth), '--seconds', '5', '--no-drain', '--json'], { encoding: 'utf8' });
  const report = JSON.parse(out) as { write: { events_per_second: number; errors: number } };
  if (report.write.errors > 0) throw new Error(`${report.write.errors} failed writes`);
  return report.write.events_per_second;
}

/** `eventbus write NAME < file` of LINES lines into a new stream: events per second, as it reports them. */
function bulkWriteRate(port: number, file: string, stream: string): number {
  execFileSync(process.execPath, [MAIN, 'create', stream, '--port', String(port)], { stdio: 'ignore' });
  const out = execFileSync(process.execPath, [MAIN, 'write', stream, '--port', String(port)], { input: readFileSync(file), encoding: 'utf8', maxBuffer: 1 << 20 });
  const report = JSON.parse(out) as { events: number; events_per_second: number };
  if (report.events !== LINES) throw new Error(`wrote ${report.events} of ${LINES}`);
  return report.events_per_second;
}

const fmt = (s: Stat, digits = 0) => `${s.median.toLocaleString('en-US', { maximumFractionDigits: digits })} (${s.min.toLocaleString('en-US', { maximumFractionDigits: digits })}–${s.max.toLocaleString('en-US', { maximumFractionDigits: digits })})`;

async function main(): Promise<void> {
  installCleanupHandlers();
  if (!existsSync(SEA)) throw new Error(`${SEA} is missing: run npm run build:sea first`);
  const rows: string[] = [];
  const sizeMiB = statSync(SEA).size / 1024 / 1024;
  const node = statSync(process.execPath).size / 1024 / 1024;
  rows.push(`| single executable size | ${sizeMiB.toFixed(1)} MiB (the node binary it carries: ${node.toFixed(1)} MiB) | | |`);

  const helpNpm: number[] = [];
  const helpSea: number[] = [];
  const serveNpm: number[] = [];
  const serveSea: number[] = [];
  for (let rep = 0; rep < REPS * 3; rep++) {
    helpNpm.push(commandMs(npm, ['--help']));
    helpSea.push(commandMs(sea, ['--help']));
  }
  for (let rep = 0; rep < REPS; rep++) {
    serveNpm.push(await serveStartMs(npm, 'npm'));
    serveSea.push(await serveStartMs(sea, 'sea'));
  }
  const ratio = (a: Stat, b: Stat) => (a.median / b.median).toFixed(2);
  const [hs, hn, ss, sn] = [stat(helpSea), stat(helpNpm), stat(serveSea), stat(serveNpm)];
  rows.push(`| \`eventbus --help\`, ms | ${fmt(hs)} | ${fmt(hn)} | ${ratio(hs, hn)}× |`);
  rows.push(`| \`eventbus serve\` until listening, ms | ${fmt(ss)} | ${fmt(sn)} | ${ratio(ss, sn)}× |`);

  const npmServer = await startServer(npm, 'npm');
  const seaServer = await startServer(sea, 'sea');
  const writeNpm: number[] = [];
  const writeSea: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    writeSea.push(benchRate(seaServer.port, 16, 32));
    writeNpm.push(benchRate(npmServer.port, 16, 32));
  }
  const [ws, wn] = [stat(writeSea), stat(writeNpm)];
  rows.push(`| write (16,32) 100 B, events/s | ${fmt(ws)} | ${fmt(wn)} | ${ratio(ws, wn)}× |`);
  await seaServer.child.stop('SIGTERM');

  const file = path.join(makeTempDir('eventbus-cli-figures-lines-'), 'lines.jsonl');
  let text = '';
  for (let i = 0; i < LINES; i++) text += `{"seq":${i},"pad":"${'x'.repeat(70)}"}\n`;
  writeFileSync(file, text);
  const bulk: number[] = [];
  const oneBy32: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    oneBy32.push(benchRate(npmServer.port, 1, 32));
    bulk.push(bulkWriteRate(npmServer.port, file, `bulk-${rep}`));
  }
  await npmServer.child.stop('SIGTERM');
  const [b, o] = [stat(bulk), stat(oneBy32)];

  console.log(`eventbus CLI figures, ${new Date().toISOString()}, ${REPS} repetitions (median (min–max))\n`);
  console.log('| what | single executable | npm build (`npm start`) | ratio |');
  console.log('|---|---|---|---|');
  for (const row of rows) console.log(row);
  console.log(`\n| \`eventbus write NAME < file\`, ${LINES.toLocaleString('en-US')} lines of 100 B | server's write (1,32) 100 B | ratio |`);
  console.log('|---|---|---|');
  console.log(`| ${fmt(b)} events/s | ${fmt(o)} events/s | ${(b.median / o.median).toFixed(2)}× |`);
}

main().then(() => cleanUpNow(), (error: unknown) => {
  cleanUpNow();
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
