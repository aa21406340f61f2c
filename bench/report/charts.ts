/**
 * SVG charts of a run: throughput per system and workload, and p50/p99 latency.
 *
 * Rendered with Apache ECharts' server-side SVG renderer (`ssr: true`): it builds the SVG string
 * in Node with no browser and no DOM (jsdom) or canvas, and it is a well-kept, widely used
 * library that does grouped bars, log axes and legends properly. Lighter chart libraries
 * (uPlot, Chartist, Frappe) draw into a live DOM or canvas and would need one emulated; hand-
 * written SVG is what we must not do.
 */
import * as echarts from 'echarts';
import type { Figure } from '../core/figures.js';
import { SYSTEMS } from '../systems/index.js';
import type { SystemId } from '../systems/system.js';
import { durabilityMark, systemLabel } from './format.js';

const COLORS: Record<SystemId, string> = {
  'eventbus-always': '#1f4e99',
  'eventbus-interval': '#6fa0e6',
  'redis-always': '#b3261e',
  'redis-everysec': '#ef8f87',
  nats: '#2e8540',
  echo: '#8c8c8c',
};

const WIDTH = 1200;

function render(option: echarts.EChartsOption, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height });
  chart.setOption({ animation: false, backgroundColor: '#ffffff', textStyle: { fontFamily: 'Helvetica, Arial, sans-serif' }, ...option });
  const svg = chart.renderToSVGString();
  chart.dispose();
  return svg;
}

/** Peer workloads (those with more than one system), in run order. */
function peerCases(figures: readonly Figure[], test: (f: Figure) => boolean): string[] {
  const cases: string[] = [];
  for (const f of figures) if (test(f) && !cases.includes(f.case)) cases.push(f.case);
  return cases;
}

function systemsIn(figures: readonly Figure[]): SystemId[] {
  return [...SYSTEMS.keys()].filter((id) => figures.some((f) => f.system === id));
}

const isPeerWorkload = (f: Figure) => f.workload.startsWith('write-') || f.workload.startsWith('drain') || f.workload === 'mixed';

function shortCase(name: string): string {
  return name.replace(/^write /, 'write\n').replace(/^drain .*$/, 'drain + ack').replace(/^mixed.*$/, 'writers +\nconsumers');
}

function barSeries(figures: readonly Figure[], cases: string[], systems: SystemId[], pick: (f: Figure) => number | undefined, extra: Record<string, unknown> = {}): echarts.SeriesOption[] {
  return systems.map((id) => ({
    type: 'bar',
    name: `${systemLabel(id, SYSTEMS)}${durabilityMark(id, SYSTEMS)}`,
    itemStyle: { color: COLORS[id] },
    data: cases.map((c) => {
      const f = figures.find((x) => x.case === c && x.system === id);
      const v = f === undefined ? undefined : pick(f);
      return v === undefined || !(v > 0) ? null : v;
    }),
    ...extra,
  }) as echarts.SeriesOption);
}

export function throughputChart(figures: readonly Figure[], subtitle: string): string | null {
  const peer = figures.filter(isPeerWorkload);
  if (peer.length === 0) return null;
  const cases = peerCases(peer, () => true);
  const systems = systemsIn(peer);
  return render({
    title: { text: 'Throughput (events/s, log scale): median of the repetitions', subtext: subtitle, left: 'center' },
    legend: { top: 72 },
    grid: { left: 80, right: 30, top: 120, bottom: 70 },
    xAxis: { type: 'category', data: cases.map(shortCase), axisLabel: { interval: 0 } },
    yAxis: { type: 'log', name: 'events/s', min: 100 },
    series: barSeries(peer, cases, systems, (f) => f.value.median),
  }, 580);
}

export function latencyChart(figures: readonly Figure[], subtitle: string): string | null {
  const peer = figures.filter((f) => isPeerWorkload(f) && !f.workload.startsWith('drain') && f.latency !== undefined);
  if (peer.length === 0) return null;
  const cases = peerCases(peer, () => true);
  const systems = systemsIn(peer);
  const grids = [{ top: 130, height: 230 }, { top: 440, height: 230 }];
  // Bars on a log axis grow from 1, so values are plotted in microseconds (all ≥ 1) and labelled in ms.
  const us = (ms: number | undefined) => (ms === undefined ? undefined : ms * 1000);
  return render({
    title: [
      { text: 'Latency (ms, log scale): p50 above, p99 below', subtext: subtitle, left: 'center' },
      { text: 'p50', left: 20, top: 130, textStyle: { fontSize: 13 } },
      { text: 'p99', left: 20, top: 440, textStyle: { fontSize: 13 } },
    ],
    legend: { top: 72 },
    grid: grids.map((g) => ({ left: 80, right: 30, ...g })),
    xAxis: grids.map((_, i) => ({ type: 'category', gridIndex: i, data: cases.map(shortCase), axisLabel: { interval: 0 } })),
    yAxis: grids.map((_, i) => ({ type: 'log', gridIndex: i, name: 'ms', min: 10, axisLabel: { formatter: (value: number) => `${value / 1000}` } })),
    series: [
      ...barSeries(peer, cases, systems, (f) => us(f.latency?.p50Ms.median), { xAxisIndex: 0, yAxisIndex: 0 }),
      ...barSeries(peer, cases, systems, (f) => us(f.latency?.p99Ms.median), { xAxisIndex: 1, yAxisIndex: 1 }),
    ],
  }, 740);
}
