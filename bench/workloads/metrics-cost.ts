/**
 * `metrics-cost` (issue 15): what the metrics cost. Two `eventbus serve --fsync always` processes
 * of its own, one plain and one with the HTTP port on (`--http-port`: prom-client's default
 * metrics, the engine observer timing every commit round, the chart's sampler) and scraped at
 * /metrics every second while it is measured (Prometheus's default is every 15 s: this is the
 * harsher case). Both take the durable (16,32) 100 B write load in alternating order, so other
 * load on the shared machine falls on both alike; only the server being measured is scraped.
 * The figure to read is the ratio of the medians, metrics on / off (target: at least 0.97). The
 * servers' CPU time per write (from /proc) is printed beside it: on a shared machine it moves
 * less with other load than throughput does.
 */
import { readFileSync } from 'node:fs';
import { call, writeLoad } from '../../src/cli/bench/eventbus-load.js';
import { localEndpoint } from '../../src/cli/bench/endpoint.js';
import type { Progress } from '../../src/cli/bench/progress.js';
import { throughputFigure, valueFigure, type RunResult } from '../core/figures.js';
import { startEventbus, type StartedEventbus } from '../systems/eventbus.js';
import type { Workload } from './workload.js';

/** Scrape period while the metrics server is measured. */
const SCRAPE_MS = 1000;
/** Each window at least this long: 3% is within the noise of shorter ones. */
const MIN_WINDOW_MS = 3000;

export const METRICS_ON_CASE = 'write (16,32) 100 B, metrics on (scraped every 1 s)';
export const METRICS_OFF_CASE = 'write (16,32) 100 B, metrics off';

/** CPU seconds (user + system) the process `pid` has used, from /proc (Linux); NaN elsewhere. */
function cpuSeconds(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Scrapes /metrics every {@link SCRAPE_MS} until stopped; counts failures. */
function scraper(httpPort: number): { stop(): Promise<number> } {
  let failures = 0;
  let inFlight: Promise<void> = Promise.resolve();
  const scrape = () => {
    inFlight = fetch(`http://127.0.0.1:${httpPort}/metrics`).then(
      async (response) => {
        const text = await response.text();
        if (response.status !== 200 || !text.includes('eventbus_requests_total')) failures += 1;
      },
      () => {
        failures += 1;
      },
    );
  };
  scrape();
  const timer = setInterval(scrape, SCRAPE_MS);
  return {
    async stop() {
      clearInterval(timer);
      await inFlight;
      return failures;
    },
  };
}

async function window(server: StartedEventbus, key: string, durationMs: number, progress: Progress): Promise<RunResult> {
  const endpoint = localEndpoint(server.port);
  await call(endpoint, 'create_stream', { stream_name: key });
  const scraping = server.httpPort === undefined ? null : scraper(server.httpPort);
  try {
    const cpuBefore = cpuSeconds(server.pid);
    const result = await writeLoad(endpoint, { stream: key, connections: 16, depth: 32, sizeBytes: 100, durationMs, progress });
    const cpuMicrosPerWrite = ((cpuSeconds(server.pid) - cpuBefore) * 1e6) / Math.max(1, result.ops);
    const failures = (await scraping?.stop()) ?? 0;
    return { ...result, errors: result.errors + failures, extra: { cpuMicrosPerWrite } };
  } finally {
    await scraping?.stop();
    await call(endpoint, 'delete_stream', { stream_name: key }, 'STREAM_NOT_FOUND');
  }
}

export const metricsCostWorkload: Workload = {
  name: 'metrics-cost',
  description: 'the cost of metrics: (16,32) 100 B durable writes, HTTP port on and scraped every second vs off (own servers)',
  systems: [],
  eventbusOnly: true,
  async run(ctx) {
    const off = await startEventbus('always', {});
    let on: StartedEventbus | undefined;
    try {
      on = await startEventbus('always', {}, { http: true });
      const variants: [StartedEventbus, RunResult[]][] = [[off, []], [on, []]];
      const durationMs = Math.max(ctx.scale.writeMs, ctx.scale.quick ? 500 : MIN_WINDOW_MS);
      const reps = Math.max(ctx.scale.reps, ctx.scale.quick ? 2 : 8);
      for (const [server] of variants) {
        await ctx.step(server.httpPort === undefined ? 'metrics off' : 'metrics on', 'warm-up', (progress) => window(server, 'metrics-warm', ctx.scale.warmupMs, progress));
      }
      for (let rep = 0; rep < reps; rep++) {
        for (const [server, results] of rep % 2 === 0 ? variants : [...variants].reverse()) {
          const label = server.httpPort === undefined ? 'metrics off' : 'metrics on';
          const result = await ctx.step(label, `rep ${rep + 1}/${reps}`, (progress) => window(server, `metrics-r${rep}`, durationMs, progress));
          if (result.errors > 0) ctx.fail(`metrics-cost (${label}): ${result.errors} failed replies or scrapes`);
          results.push(result);
        }
      }
      ctx.add(throughputFigure({ workload: 'metrics-cost', case: METRICS_OFF_CASE, system: 'eventbus-always' }, variants[0]![1]));
      ctx.add(throughputFigure({ workload: 'metrics-cost', case: METRICS_ON_CASE, system: 'eventbus-always' }, variants[1]![1]));
      for (const [server, results] of variants) {
        const label = server.httpPort === undefined ? 'metrics off' : 'metrics on';
        ctx.add(valueFigure({ workload: 'metrics-cost', case: `server CPU per write (16,32) 100 B, ${label}`, system: 'eventbus-always', unit: 'µs', higherIsBetter: false }, results.map((r) => r.extra!.cpuMicrosPerWrite!)));
      }
    } finally {
      await on?.stop();
      await off.stop();
    }
  },
};
