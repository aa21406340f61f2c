/**
 * `npm run bench` cannot rot silently: its quickest path runs against the real eventbus server
 * (a few hundred events: writes, drain, mixed) and must produce well-formed results (every
 * figure a median of 3 repetitions within its range, latencies ordered, markdown and SVG
 * written, targets without a peer `n/a`) and leave no server running. The same against Redis
 * and NATS when they are installed. Timing is not asserted: figures are the benchmark's job.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { TapTest } from '../helpers/temp-dir.js';
import type { Figure } from '../../bench/core/figures.js';
import type { RunReport } from '../../bench/report/output.js';
import { which } from '../../bench/core/processes.js';

const MAIN = fileURLToPath(new URL('../../bench/main.js', import.meta.url));
const TINY = ['--reps', '3', '--duration-ms', '100', '--drain-events', '300', '--no-progress'];

function runBench(t: TapTest, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string; report: RunReport; dir: string }> {
  const out = mkdtempSync(path.join(tmpdir(), 'eventbus-bench-test-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  // Without tap's NODE_OPTIONS: its process-info hook in every server and child would slow them all.
  const { NODE_OPTIONS: _tapHooks, ...childEnv } = env;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [MAIN, ...args, ...TINY, '--out', out], { timeout: 120_000, env: childEnv }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      const runs = existsSync(out) ? readdirSync(out) : [];
      if (runs.length !== 1) {
        reject(new Error(`expected one run directory in ${out}, found ${runs.length}; exit ${code}\n${stdout}\n${stderr}`));
        return;
      }
      const dir = path.join(out, runs[0]!);
      resolve({ code, stdout, stderr, dir, report: JSON.parse(readFileSync(path.join(dir, 'results.json'), 'utf8')) as RunReport });
    });
  });
}

function checkFigure(t: TapTest, figure: Figure): void {
  const where = `${figure.case} / ${figure.system}`;
  t.equal(figure.value.reps.length, 3, `${where}: 3 repetitions`);
  t.ok(figure.value.min <= figure.value.median && figure.value.median <= figure.value.max, `${where}: median within min–max`);
  t.ok(figure.value.min > 0 && Number.isFinite(figure.value.max), `${where}: positive, finite rate`);
  t.equal(figure.errors, 0, `${where}: no failed replies`);
  t.ok(figure.latency !== undefined, `${where}: has latency`);
  t.ok(figure.latency!.p50Ms.median > 0 && figure.latency!.p50Ms.median <= figure.latency!.p99Ms.median && figure.latency!.p99Ms.median <= figure.latency!.maxMs.median, `${where}: 0 < p50 ≤ p99 ≤ max`);
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

t.test('the quickest path against eventbus alone: well-formed results, nothing left running', async (t) => {
  const { code, stdout, stderr, report, dir } = await runBench(t, ['--only', 'disk,write-1x1-100,drain,mixed', '--systems', 'eventbus-always']);
  t.equal(code, 0, `exit status 0\n${stderr}`);
  t.same(report.failures, []);
  t.same(report.figures.map((f) => [f.workload, f.system]), [['disk', 'disk'], ['write-1x1-100', 'eventbus-always'], ['drain', 'eventbus-always'], ['mixed', 'eventbus-always']]);
  for (const figure of report.figures) checkFigure(t, figure);
  t.equal(report.figures[0]!.unit, 'fsyncs/s');
  t.equal(report.figures.find((f) => f.workload === 'drain')!.value.reps.length, 3);
  t.ok(report.figures.find((f) => f.workload === 'mixed')!.extra?.writesPerSecond !== undefined, 'mixed reports its write rate');

  // A ratio target whose peer was not run is not measured, never a pass.
  const versusRedis = report.targets.find((x) => x.target.startsWith('writes (1,1) 100 B: eventbus `always` ≥ 1.0× Redis'));
  t.equal(versusRedis?.verdict, 'n/a');
  t.ok(report.targets.some((x) => x.source === 'issue 3' && x.verdict !== 'n/a'), 'the (1,1) p99 target was checked');

  const [system] = report.info.systems;
  t.equal(system?.id, 'eventbus-always');
  t.equal(system?.status, 'measured');
  t.ok(system?.pid !== undefined && gone(system.pid), 'the server process is gone');

  const markdown = readFileSync(path.join(dir, 'results.md'), 'utf8');
  t.match(markdown, /## Writes \(connections, requests in flight per connection\)/);
  t.match(markdown, /\| write \(1,1\) 100 B \| eventbus, fsync always \|/);
  for (const chart of ['throughput.svg', 'latency.svg']) {
    const svg = readFileSync(path.join(dir, chart), 'utf8');
    t.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/, `${chart} is an SVG document`);
    t.match(svg, /eventbus, fsync always/, `${chart} names the system`);
    t.match(svg, /<\/svg>\s*$/);
  }
  t.match(stdout, /targets: \d+ PASS, \d+ MISS/);
});

t.test('subscribe-latency (quick): every measured event reaches each of the 16 subscribers exactly once, figures well-formed', async (t) => {
  const { code, stderr, report } = await runBench(t, ['--quick', '--only', 'subscribe-latency', '--systems', 'eventbus-always']);
  t.equal(code, 0, `exit status 0\n${stderr}`);
  // A subscriber that missed or repeated an event, or a clock that disagrees, is a failure note.
  t.same(report.failures, []);
  for (let rep = 1; rep <= 3; rep++) {
    const value = (name: string) => report.figures.find((f) => f.case === `write-to-subscriber ${name}, rep ${rep}`)?.value.median;
    const [p50, p99, max] = [value('p50'), value('p99'), value('max')];
    t.ok(p50 !== undefined && p99 !== undefined && max !== undefined && p50 > 0 && p50 <= p99 && p99 <= max, `rep ${rep}: 0 < p50 ≤ p99 ≤ max (${p50}, ${p99}, ${max})`);
    t.ok(report.figures.some((f) => f.case === `CPU of the subscriber processes while measuring, rep ${rep}`), `rep ${rep}: the subscribers' CPU is reported`);
    // The writer runs in a process of its own: its answers' latency and its CPU come back from it.
    const ackP99 = report.figures.find((f) => f.case === `write acknowledgement p99, rep ${rep}`)?.value.median;
    t.ok(ackP99 !== undefined && ackP99 > 0, `rep ${rep}: the writer's acknowledgement p99 is reported (${ackP99})`);
    t.ok(report.figures.some((f) => f.case === `CPU of the writer process while measuring, rep ${rep}`), `rep ${rep}: the writer's CPU is reported`);
  }
  t.ok(report.targets.some((x) => x.source === 'issue 13' && x.target.startsWith('write-to-subscriber') && x.verdict !== 'n/a'), 'the issue-13 target was checked');
});

t.test('subscribe-latency (quick) against Redis: its XREAD BLOCK readers get every measured event once', { skip: which('redis-server') === null ? 'needs Debian\'s redis-server: apt-get install redis-server' : false }, async (t) => {
  const { code, stderr, report } = await runBench(t, ['--quick', '--only', 'subscribe-latency', '--systems', 'redis-always']);
  t.equal(code, 0, `exit status 0\n${stderr}`);
  t.same(report.failures, [], 'no reader missed or repeated an event');
  for (let rep = 1; rep <= 3; rep++) {
    const p99 = report.figures.find((f) => f.system === 'redis-always' && f.case === `write-to-subscriber p99, rep ${rep}`)?.value.median;
    const ack = report.figures.find((f) => f.system === 'redis-always' && f.case === `write acknowledgement p99, rep ${rep}`)?.value.median;
    t.ok(p99 !== undefined && p99 > 0 && ack !== undefined && ack > 0, `rep ${rep}: Redis's p99s are reported (${p99}, ${ack})`);
  }
});

const peersMissing = which('redis-server') === null || which('nats-server') === null;

t.test('the same path against Redis and NATS, when installed', { skip: peersMissing ? 'needs Debian\'s redis-server and nats-server: apt-get install redis-server nats-server' : false }, async (t) => {
  const { code, stderr, report } = await runBench(t, ['--only', 'write-1x1-100,drain,mixed', '--systems', 'redis-always,nats']);
  t.equal(code, 0, `exit status 0\n${stderr}`);
  t.same(report.failures, []);
  t.same(report.figures.map((f) => `${f.workload} ${f.system}`).sort(), ['drain nats', 'drain redis-always', 'mixed nats', 'mixed redis-always', 'write-1x1-100 nats', 'write-1x1-100 redis-always']);
  for (const figure of report.figures) checkFigure(t, figure);
  for (const system of report.info.systems) t.ok(system.pid !== undefined && gone(system.pid), `${system.id} is gone`);
});

t.test('a missing peer is reported with how to install it, and the run goes on without it', async (t) => {
  // Without a PATH, redis-server (in /usr/bin) cannot be found.
  const { code, stderr, report } = await runBench(t, ['--only', 'write-1x1-100', '--systems', 'redis-always,eventbus-always'], { ...process.env, PATH: '' });
  t.equal(code, 0, stderr);
  t.match(stderr, /redis-always: redis-server is not installed: `apt-get install redis-server`/);
  t.match(report.info.systems.find((s) => s.id === 'redis-always')?.status, /^skipped: .*apt-get install redis-server/);
  t.same(report.figures.map((f) => `${f.workload} ${f.system}`), ['write-1x1-100 eventbus-always']);
});
