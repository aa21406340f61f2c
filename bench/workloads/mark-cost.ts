/**
 * mark_event cost against stream length (issue 4): single-id marks, one at a time, alternating
 * between a 10,000-event stream and a long one (the drain size), so that load from elsewhere
 * hits both alike. The mean latencies should be about equal: a mark must not scan the stream.
 */
import { valueFigure } from '../core/figures.js';
import { localEndpoint } from '../../src/cli/bench/endpoint.js';
import { openLines } from '../../src/cli/bench/pipelined-connection.js';
import type { RunningSystem } from '../systems/system.js';
import type { Workload } from './workload.js';

const SHORT_EVENTS = 10_000;

async function probe(port: number, streams: [string, string], consumer: string, probes: number): Promise<[number, number]> {
  const [connection] = await openLines(localEndpoint(port));
  try {
    const delivered = await Promise.all(streams.map(async (stream) => {
      const line = await connection!.send(`${JSON.stringify({ operation: 'process_events', body: { stream_name: stream, consumer, max_events: probes } })}\n`);
      return (JSON.parse(line) as { body: { events: { id: string }[] } }).body.events.map((e) => e.id);
    }));
    const totals = [0, 0];
    const counts = [0, 0];
    for (let i = 0; i < probes; i++) {
      for (const which of [0, 1] as const) {
        const id = delivered[which]![i];
        if (id === undefined) continue;
        const started = performance.now();
        const reply = await connection!.send(`{"operation":"mark_event","body":{"event_id":"${id}","status":1,"consumer":"${consumer}"}}\n`);
        totals[which]! += performance.now() - started;
        counts[which]! += 1;
        if (!reply.startsWith('{"operation":"mark_event","status":true')) throw new Error(`mark_event failed: ${reply}`);
      }
    }
    return [totals[0]! / counts[0]!, totals[1]! / counts[1]!];
  } finally {
    connection!.close();
  }
}

export const markCostWorkload: Workload = {
  name: 'mark-cost',
  description: 'mark_event of one id, one at a time: a 10,000-event stream against a long one (should not depend on length)',
  systems: ['eventbus-always'],
  async run(ctx, [system]: RunningSystem[]) {
    if (system === undefined) return;
    const longEvents = ctx.scale.markLongEvents;
    const probes = Math.min(1000, ctx.scale.markProbes);
    try {
      await ctx.step(system.id, 'prefill short stream', (progress) => system.prefill!('mark-short', SHORT_EVENTS, 100, progress));
      await ctx.step(system.id, `prefill ${longEvents.toLocaleString('en-US')} events`, (progress) => system.prefill!('mark-long', longEvents, 100, progress));
      const short: number[] = [];
      const long: number[] = [];
      for (let rep = 0; rep < ctx.scale.reps; rep++) {
        const [s, l] = await ctx.step(system.id, `marks rep ${rep + 1}/${ctx.scale.reps}`, () => probe(system.port, ['mark-short', 'mark-long'], `probe-${rep}`, probes));
        short.push(s);
        long.push(l);
      }
      const base = { workload: 'mark-cost', system: system.id, unit: 'ms', higherIsBetter: false };
      ctx.add(valueFigure({ ...base, case: `mark_event mean latency, ${SHORT_EVENTS.toLocaleString('en-US')}-event stream` }, short));
      ctx.add(valueFigure({ ...base, case: `mark_event mean latency, ${longEvents.toLocaleString('en-US')}-event stream` }, long));
      ctx.add(valueFigure({ ...base, case: 'mark_event latency, long / short stream', unit: '×' }, long.map((l, i) => l / short[i]!)));
    } finally {
      await system.drop!('mark-short').catch(() => {});
      await system.drop!('mark-long').catch(() => {});
    }
  },
};
