/**
 * Idle connections (issue 6): a real `eventbus serve` process (its own, started by the shared
 * test helper) with N idle connections open: its RSS per connection, and another client's
 * sequential write latency with and without them.
 */
import { measureIdleConnections } from '../../test/helpers/server-idle.js';
import { valueFigure } from '../core/figures.js';
import type { Workload } from './workload.js';

export const idleWorkload: Workload = {
  name: 'idle',
  description: "idle connections against a server process: memory per connection, another client's write p99",
  systems: [],
  eventbusOnly: true,
  async run(ctx) {
    const connections = ctx.scale.idleConnections;
    const perConnection: number[] = [];
    const p99With: number[] = [];
    const p99Without: number[] = [];
    for (let rep = 0; rep < ctx.scale.reps; rep++) {
      const result = await ctx.step('eventbus (own server)', `${connections.toLocaleString('en-US')} idle connections, rep ${rep + 1}/${ctx.scale.reps}`, () => measureIdleConnections({ connections, writes: ctx.scale.idleWrites, fsync: 'always' }));
      if (!result.idleStillServed || result.closedByServer > 0) ctx.fail(`idle connections: ${result.closedByServer} closed by the server, still served: ${result.idleStillServed}`);
      perConnection.push(result.bytesPerConnection);
      p99With.push(result.latencyWith.p99Ms);
      p99Without.push(result.latencyWithout.p99Ms);
    }
    const base = { workload: 'idle', system: 'eventbus-always' };
    ctx.add(valueFigure({ ...base, case: `server RSS per idle connection (${connections.toLocaleString('en-US')} open)`, unit: 'bytes', higherIsBetter: false }, perConnection));
    ctx.add(valueFigure({ ...base, case: `another client's write p99, ${connections.toLocaleString('en-US')} idle connections open`, unit: 'ms', higherIsBetter: false }, p99With));
    ctx.add(valueFigure({ ...base, case: "another client's write p99, no idle connections", unit: 'ms', higherIsBetter: false }, p99Without));
  },
};
