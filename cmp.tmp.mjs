// Alternating (16,1) closed-loop runs against a running eventbus (7811) and Redis (7813), with perf-counted fdatasyncs.
import { closedLoop } from './dist/src/cli/bench/closed-loop.js';
import { writeLoad, call } from './dist/src/cli/bench/eventbus-load.js';
import { localEndpoint } from './dist/src/cli/bench/endpoint.js';
import { respFramer } from './dist/bench/core/framers.js';
import { execFileSync, spawn } from 'node:child_process';
const [c, d, ms, reps] = [16, 1, 3000, +(process.argv[2] ?? 3)];
const pay = 'x'.repeat(100);
const xadd = (k) => { const parts = ['XADD', k, '*', 'e', pay]; return Buffer.from(`*${parts.length}\r\n` + parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')); };
const pid = (pat) => execFileSync('pgrep', ['-f', pat]).toString().trim().split('\n')[0];
async function counted(p, fn) {
  const perf = spawn('perf', ['stat', '-x,', '-e', 'syscalls:sys_enter_fdatasync', '-p', p], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = ''; perf.stderr.on('data', (b) => (err += b));
  await new Promise((r) => setTimeout(r, 200));
  const r = await fn();
  perf.kill('SIGINT'); await new Promise((res) => perf.on('exit', res));
  return { ...r, fsyncs: Number(err.trim().split('\n').pop().split(',')[0]) };
}
for (let rep = 0; rep < reps; rep++) {
  const s = `s${Date.now()}`;
  await call(localEndpoint(7811), 'create_stream', { stream_name: s });
  const e = await counted(pid('serve --port 7811'), () => writeLoad(localEndpoint(7811), { stream: s, connections: c, depth: d, sizeBytes: 100, durationMs: ms }));
  const r = await counted(pid('redis-server.*7813'), () => closedLoop({ endpoint: localEndpoint(7813), connections: c, depth: d, request: xadd(s), framer: respFramer, durationMs: ms }));
  const f = (x) => `${Math.round(x.opsPerSecond)}/s p50 ${x.latency.p50Ms.toFixed(3)} ev/fsync ${(x.ops / x.fsyncs).toFixed(1)}`;
  console.log(`eventbus ${f(e)} | redis ${f(r)} | ratio ${(e.opsPerSecond / r.opsPerSecond).toFixed(2)}`);
}
