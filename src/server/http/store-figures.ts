/**
 * The figures of every stream and consumer, read from the engine at one moment: what /metrics
 * and the admin page show. Read on demand (a scrape, a page refresh), never on the write path.
 */
import type { Engine } from '../../storage/engine.js';
import type { ConsumerStats, Damage } from '../../storage/index.js';
import type { StreamMark, StreamMarks } from './rate-history.js';

export interface StreamFigures {
  name: string;
  /** UUID: a stream deleted and made again under the same name is another. */
  id: string;
  /** Catalog number: creation order. */
  number: number;
  createdMs: number;
  /** Events ever appended (the next offset). */
  appended: number;
  /** Events stored now (retention removes the oldest). */
  events: number;
  firstOffset: number;
  bytes: number;
  segments: number;
  damage: Damage[];
  /** Offsets that cannot be read because of damage. */
  damagedEvents: number;
  consumers: ConsumerStats[];
}

export interface StoreFigures {
  /** Open streams, in creation order. */
  streams: StreamFigures[];
  /** Streams that failed to open (their error is what every request to them gets). */
  broken: { name: string; reason: string }[];
}

/** Every open stream's identity and next offset now, cheaply (the write rates' samples, once a second). */
export function readStreamMarks(engine: Engine): StreamMarks {
  const marks = new Map<string, StreamMark>();
  for (const { name, id } of engine.listStreams()) {
    try {
      marks.set(name, { id, nextOffset: engine.bounds(name).nextOffset });
    } catch {
      // A stream that failed to open has no rate.
    }
  }
  return marks;
}

/** Reads every stream's figures now. */
export function readStoreFigures(engine: Engine): StoreFigures {
  const streams: StreamFigures[] = [];
  const broken: { name: string; reason: string }[] = [];
  for (const { name } of engine.listStreams()) {
    try {
      const s = engine.stats(name);
      const damagedEvents = s.damage.reduce((sum, d) => sum + Math.max(0, d.lastOffset - d.firstOffset + 1), 0);
      streams.push({
        name, id: s.id, number: s.number, createdMs: s.createdMs, appended: s.nextOffset, events: s.eventCount, firstOffset: s.firstOffset,
        bytes: s.bytes, segments: s.segmentCount, damage: s.damage, damagedEvents, consumers: s.consumers,
      });
    } catch (error) {
      broken.push({ name, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  streams.sort((a, b) => a.number - b.number);
  return { streams, broken };
}
