/**
 * Bounded label cardinality for /metrics. A store may hold thousands of streams, each with up to
 * a thousand consumers; a series per stream and consumer would swamp Prometheus. So:
 *
 * - up to `maxStreams` streams get a `stream` label of their own, the oldest first; the figures
 *   of all the others are summed in one series labelled `overflow="true"` (no `stream` label: any
 *   text is a valid stream name, so no stream value could be reserved for "the rest");
 * - consumers of labelled streams get `stream` and `consumer` labels, at most `maxConsumers`
 *   pairs in all; the rest of a labelled stream's consumers are summed under
 *   `{stream, overflow="true"}`, and every consumer of an unlabelled stream under
 *   `{overflow="true"}`.
 *
 * Counters must never go down while the process lives (Prometheus reads a drop as a restart), so
 * the assignment is sticky: a stream or consumer keeps the series it was first given for its
 * life (first sight: creation order at the first scrape, then the order scrapes see them); a
 * label freed by a deleted stream goes only to one seen later, never to one already summed; and
 * what a deleted stream or consumer had counted stays in the summed series it was in (its own
 * series simply ends). Summing keeps `sum(...)` over a gauge family equal to the store's total.
 * At most `maxStreams + 1` series per stream family and `maxConsumers + maxStreams + 1` per
 * consumer family.
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

/** A consumer's figures, as a stream's figures list them. */
type ConsumerFigures = StreamFigures['consumers'][number];

const OVERFLOW: Labels = { overflow: 'true' };

/** Where a consumer's figures go: its own series, its labelled stream's sum, or the store-wide sum. */
type ConsumerPlace = 'own' | 'stream' | 'overflow';

interface ConsumerSlot {
  place: ConsumerPlace;
  /** Its dead-lettered count at the last scrape (what it leaves in a sum when it goes). */
  deadLettered: number;
}

interface StreamSlot {
  labelled: boolean;
  /** Its appended count at the last scrape (what it leaves in the overflow sum when it goes). */
  appended: number;
  consumers: Map<string, ConsumerSlot>;
  /** Dead letters of its consumers gone from `{stream, overflow}` (a labelled stream's only). */
  goneDeadLettered: number;
  /** Whether `{stream, overflow}` ever had a consumer: the series stays while the stream lives. */
  hasConsumerSum: boolean;
}

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

function addConsumer(into: ConsumerSeries, c: ConsumerFigures): void {
  into.lag += c.lag;
  into.pending += c.pending;
  into.retry += c.retry;
  into.deadLettered += c.deadLettered;
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The series of a store's streams and consumers under the caps, the same streams in the same series scrape after scrape. */
export class LabelCap {
  /** Streams seen, by catalog number (a stream deleted and made again is another stream). */
  private readonly slots = new Map<number, StreamSlot>();
  private labelledStreams = 0;
  private labelledConsumers = 0;
  /** What streams gone from the overflow series had appended. */
  private goneAppended = 0;
  /** What consumers gone from `{overflow}` had dead-lettered. */
  private goneDeadLettered = 0;
  /** Whether the overflow series ever had a stream (consumer): they stay once they exist. */
  private hasStreamSum = false;
  private hasConsumerSum = false;

  constructor(private readonly maxStreams: number, private readonly maxConsumers: number) {}

  /** The series of `streams` (the open streams now, in creation order). */
  series(streams: readonly StreamFigures[]): { streams: StreamSeries[]; consumers: ConsumerSeries[] } {
    this.forgetGone(new Set(streams.map((s) => s.number)));
    const streamSeries: StreamSeries[] = [];
    const consumerSeries: ConsumerSeries[] = [];
    const otherStreams = emptyStream(OVERFLOW);
    otherStreams.appended = this.goneAppended;
    const otherConsumers = emptyConsumer(OVERFLOW);
    otherConsumers.deadLettered = this.goneDeadLettered;
    for (const stream of streams) {
      const slot = this.slotOf(stream);
      slot.appended = stream.appended;
      this.forgetGoneConsumers(slot, new Set(stream.consumers.map((c) => c.name)));
      if (!slot.labelled) {
        this.hasStreamSum = true;
        addStream(otherStreams, stream);
        for (const consumer of stream.consumers) {
          this.consumerSlotOf(slot, consumer).deadLettered = consumer.deadLettered;
          this.hasConsumerSum = true;
          addConsumer(otherConsumers, consumer);
        }
        continue;
      }
      const own = emptyStream({ stream: stream.name });
      addStream(own, stream);
      streamSeries.push(own);
      const rest = emptyConsumer({ stream: stream.name, overflow: 'true' });
      rest.deadLettered = slot.goneDeadLettered;
      for (const consumer of [...stream.consumers].sort(byName)) {
        const consumerSlot = this.consumerSlotOf(slot, consumer);
        consumerSlot.deadLettered = consumer.deadLettered;
        if (consumerSlot.place === 'own') {
          const series = emptyConsumer({ stream: stream.name, consumer: consumer.name });
          addConsumer(series, consumer);
          consumerSeries.push(series);
        } else {
          slot.hasConsumerSum = true;
          addConsumer(rest, consumer);
        }
      }
      if (slot.hasConsumerSum) consumerSeries.push(rest);
    }
    if (this.hasStreamSum) streamSeries.push(otherStreams);
    if (this.hasConsumerSum) consumerSeries.push(otherConsumers);
    return { streams: streamSeries, consumers: consumerSeries };
  }

  /** A stream's slot; a stream seen for the first time takes a free label, if any. */
  private slotOf(stream: StreamFigures): StreamSlot {
    let slot = this.slots.get(stream.number);
    if (slot === undefined) {
      const labelled = this.labelledStreams < this.maxStreams;
      if (labelled) this.labelledStreams += 1;
      slot = { labelled, appended: 0, consumers: new Map(), goneDeadLettered: 0, hasConsumerSum: false };
      this.slots.set(stream.number, slot);
    }
    return slot;
  }

  /** A consumer's slot; one seen for the first time on a labelled stream takes a free label, if any. */
  private consumerSlotOf(stream: StreamSlot, consumer: ConsumerFigures): ConsumerSlot {
    let slot = stream.consumers.get(consumer.name);
    if (slot === undefined) {
      let place: ConsumerPlace = 'overflow';
      if (stream.labelled) place = this.labelledConsumers < this.maxConsumers ? 'own' : 'stream';
      if (place === 'own') this.labelledConsumers += 1;
      slot = { place, deadLettered: 0 };
      stream.consumers.set(consumer.name, slot);
    }
    return slot;
  }

  /** Streams deleted since the last scrape: their labels are freed, their counts stay in the sums they were in. */
  private forgetGone(live: ReadonlySet<number>): void {
    for (const [number, slot] of this.slots) {
      if (live.has(number)) continue;
      this.slots.delete(number);
      if (slot.labelled) this.labelledStreams -= 1;
      else this.goneAppended += slot.appended;
      // Every consumer of the stream goes with it: `{stream, …}` series end with the stream.
      this.forgetGoneConsumers(slot, new Set());
    }
  }

  private forgetGoneConsumers(stream: StreamSlot, live: ReadonlySet<string>): void {
    for (const [name, slot] of stream.consumers) {
      if (live.has(name)) continue;
      stream.consumers.delete(name);
      if (slot.place === 'own') this.labelledConsumers -= 1;
      else if (slot.place === 'stream') stream.goneDeadLettered += slot.deadLettered;
      else this.goneDeadLettered += slot.deadLettered;
    }
  }
}
