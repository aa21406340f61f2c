/**
 * 10,000 idle connections to a real server process: another client's writes are not slowed by
 * them (compared with the same client's writes without them, measured in the same run: the disk's
 * fsync rate on a shared machine makes any absolute bound flaky) and the server's memory stays
 * within the documented budget (under 16 KiB of RSS per idle connection). The long suite
 * (EVENTBUS_LONG=1) keeps them open for a minute of continuous writes. The absolute target (p99
 * under 50 ms, fsync always) is checked by `npm run bench -- --only idle`.
 */
import t from 'tap';
import { measureIdleConnections } from '../helpers/server-idle.js';

const LONG = process.env.EVENTBUS_LONG === '1';
const CONNECTIONS = 10_000;
const BUDGET_BYTES_PER_CONNECTION = 16 * 1024;
if (LONG) t.setTimeout(15 * 60_000);

t.test(`${CONNECTIONS} idle connections: responsive, within the memory budget`, async (t) => {
  const result = await measureIdleConnections({ connections: CONNECTIONS, writes: 1000, holdMs: LONG ? 60_000 : 0, log: (line) => t.comment(line) });
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  t.comment(
    `server rss ${mib(result.rssWithout)} MiB without, ${mib(result.rssWith)} MiB with ${CONNECTIONS} idle connections: ` +
      `${Math.round(result.bytesPerConnection)} bytes each; opened in ${result.openMs} ms; server fds ${result.serverFds}`,
  );
  t.comment(
    `write latency (fsync ${result.fsync}) without: p50 ${result.latencyWithout.p50Ms.toFixed(2)} ms, p99 ${result.latencyWithout.p99Ms.toFixed(2)} ms; ` +
      `with: p50 ${result.latencyWith.p50Ms.toFixed(2)} ms, p99 ${result.latencyWith.p99Ms.toFixed(2)} ms, max ${result.latencyWith.maxMs.toFixed(1)} ms (${result.latencyWith.writes} writes)`,
  );
  t.ok(result.serverFds >= CONNECTIONS, `the server holds all ${CONNECTIONS} (${result.serverFds} descriptors)`);
  t.equal(result.closedByServer, 0, 'none was closed');
  t.ok(result.idleStillServed, 'an idle connection is still answered');
  // The median shows a per-connection cost (every write would pay it); the p99 of 1,000 writes is
  // ten writes, which one disk stall from another process can take, so it gets more headroom.
  const p50_bound_ms = Math.max(5, 3 * result.latencyWithout.p50Ms);
  t.ok(
    result.latencyWith.p50Ms < p50_bound_ms,
    `p50 of another client's writes with them ${result.latencyWith.p50Ms.toFixed(2)} ms < ${p50_bound_ms.toFixed(1)} ms (3x the ${result.latencyWithout.p50Ms.toFixed(2)} ms without)`,
  );
  const p99_bound_ms = Math.max(100, 3 * result.latencyWithout.p99Ms + 20);
  t.ok(
    result.latencyWith.p99Ms < p99_bound_ms,
    `p99 of another client's writes with them ${result.latencyWith.p99Ms.toFixed(2)} ms < ${p99_bound_ms.toFixed(0)} ms (3x the ${result.latencyWithout.p99Ms.toFixed(2)} ms without, + 20 ms)`,
  );
  t.ok(result.bytesPerConnection < BUDGET_BYTES_PER_CONNECTION, `${Math.round(result.bytesPerConnection)} bytes of RSS per idle connection < ${BUDGET_BYTES_PER_CONNECTION}`);
});
