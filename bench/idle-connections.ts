/**
 * `npm run bench:idle`: a real `eventbus serve` process with N idle connections open (default
 * 10,000): its RSS with none and with them (bytes per connection), and the latency of another
 * client's sequential write_event with and without them.
 *
 *   node dist/bench/idle-connections.js [-n connections] [-w writes] [--hold-ms ms] [--fsync always|interval|never] [--json]
 *
 * The process needs about N + 100 file descriptors (`ulimit -n`), the server as many.
 */
import { loadavg } from 'node:os';
import { measureIdleConnections } from '../test/helpers/server-idle.js';

function argument(names: string[], fallback: string): string {
  for (let i = 2; i < process.argv.length; i++) if (names.includes(process.argv[i]!)) return process.argv[i + 1] ?? fallback;
  return fallback;
}

const connections = Number(argument(['-n', '--connections'], '10000'));
const writes = Number(argument(['-w', '--writes'], '2000'));
const holdMs = Number(argument(['--hold-ms'], '0'));
const fsync = argument(['--fsync'], 'always') as 'always' | 'interval' | 'never';
const json = process.argv.includes('--json');

const load = loadavg()[0]!.toFixed(2);
const result = await measureIdleConnections({ connections, writes, holdMs, fsync, log: json ? undefined : (line) => console.log(`  ${line}`) });
if (json) {
  console.log(JSON.stringify({ ...result, loadAverage: Number(load) }, null, 2));
} else {
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  console.log(`idle connections: ${connections} (opened in ${result.openMs} ms; server holds ${result.serverFds} descriptors; load average ${load})`);
  console.log(`server rss:        ${mib(result.rssWithout)} without, ${mib(result.rssWith)} with: ${Math.round(result.bytesPerConnection)} bytes per connection`);
  console.log(`writes (fsync ${fsync}), ${result.latencyWith.writes} sequential:`);
  console.log(`  without idle:    p50 ${ms(result.latencyWithout.p50Ms)}  p99 ${ms(result.latencyWithout.p99Ms)}  max ${ms(result.latencyWithout.maxMs)}`);
  console.log(`  with idle:       p50 ${ms(result.latencyWith.p50Ms)}  p99 ${ms(result.latencyWith.p99Ms)}  max ${ms(result.latencyWith.maxMs)}`);
  console.log(`idle connections closed by the server: ${result.closedByServer}; one still answered: ${result.idleStillServed}`);
}
