/**
 * Bounded label cardinality for /metrics. A store may hold thousands of streams, each with up to
 * a thousand consumers; a series per stream and consumer would swamp Prometheus. So:
 *
 * - the oldest `maxStreams` streams (creation order: a stream keeps its label for its life) get a
 *   `stream` label of their own; the figures of all the others are summed in one series labelled
 *   `overflow="true"` (no `stream` label: any text is a valid stream name, so no stream value
 *   could be reserved for "the rest");
 * - consumers of labelled streams get `stream` and `consumer` labels, at most `maxConsumers`
 *   pairs in all (in stream order, then consumer order); the rest of a labelled stream's consumers
 *   are summed under `{stream, overflow="true"}`, and every consumer of an unlabelled stream under
 *   `{overflow="true"}`.
 *
 * Summing keeps `sum(...)` over a family equal to the store's total. At most
 * `maxStreams + 1` series per stream family and `maxConsumers + maxStreams + 1` per consumer family.
 */
import type { StreamFigures } from './store-figures.js';

export type Labels = Record<string, string>;

export interface StreamSeries {
  labels: Labels;
  appended: number;
  events: number;
  bytes: number;
  segments: number;
  damagedRegions: number;
  damagedEvents: number;
}

export interface ConsumerSeries {
  labels: Labels;
  lag: number;
  pending: number;
  retry: number;
  deadLettered: number;
}

const OVERFLOW: Labels = { overflow: 'true' };

function emptyStream(labels: Labels): StreamSeries {
  return { labels, appended: 0, events: 0, bytes: 0, segments: 0, damagedRegions: 0, damagedEvents: 0 };
}

function emptyConsumer(labels: Labels): ConsumerSeries {
  return { labels, lag: 0, pending: 0, retry: 0, deadLettered: 0 };
}

function addStream(into: StreamSeries, s: StreamFigures): void {
  into.appended += s.appended;
  into.events += s.events;
  into.bytes += s.bytes;
  into.segments += s.segments;
  into.damagedRegions += s.damage.length;
  into.damagedEvents += s.damagedEvents;
}

function addConsumer(into: ConsumerSeries, c: { lag: number; pending: number; retry: number; deadLettered: number }): void {
  into.lag += c.lag;
  into.pending += c.pending;
  into.retry += c.retry;
  into.deadLettered += c.deadLettered;
}

/** The series of `streams` (in creation order) under the caps. */
export function capStreamLabels(streams: readonly StreamFigures[], maxStreams: number, maxConsumers: number): { streams: StreamSeries[]; consumers: ConsumerSeries[] } {
  const streamSeries: StreamSeries[] = [];
  const consumerSeries: ConsumerSeries[] = [];
  const otherStreams = emptyStream(OVERFLOW);
  const otherConsumers = emptyConsumer(OVERFLOW);
  let hasOtherStreams = false;
  let hasOtherConsumers = false;
  let consumerLabels = 0;
  streams.forEach((stream, index) => {
    if (index >= maxStreams) {
      hasOtherStreams = true;
      addStream(otherStreams, stream);
      for (const consumer of stream.consumers) {
        hasOtherConsumers = true;
        addConsumer(otherConsumers, consumer);
      }
      return;
    }
    const series = emptyStream({ stream: stream.name });
    addStream(series, stream);
    streamSeries.push(series);
    let rest: ConsumerSeries | null = null;
    for (const consumer of [...stream.consumers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (consumerLabels < maxConsumers) {
        consumerLabels += 1;
        const own = emptyConsumer({ stream: stream.name, consumer: consumer.name });
        addConsumer(own, consumer);
        consumerSeries.push(own);
      } else {
        rest ??= emptyConsumer({ stream: stream.name, overflow: 'true' });
        addConsumer(rest, consumer);
      }
    }
    if (rest !== null) consumerSeries.push(rest);
  });
  if (hasOtherStreams) streamSeries.push(otherStreams);
  if (hasOtherConsumers) consumerSeries.push(otherConsumers);
  return { streams: streamSeries, consumers: consumerSeries };
}
