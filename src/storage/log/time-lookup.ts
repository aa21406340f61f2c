/**
 * Finding the first offset at or after a time without scanning (reads by `from_time`, consumers
 * that start at a time). Timestamps never decrease within a stream (stream-log.ts gives each
 * append max(now, the last timestamp)), so:
 *
 * 1. the first segment whose newest timestamp (`maxTimestampMs`: kept by every segment, recorded
 *    in the seal of a sealed one, recomputed by recovery like the offset index) is at or after
 *    the time holds the answer: a binary search over segments, no file read;
 * 2. inside it, a binary search over its offsets reads one record per step through the dense
 *    offset index: log2(records in the segment) reads, about 20 for a full 64 MiB segment.
 *
 * So there is no time index file to keep, repair or snapshot: what it would hold is derived
 * from files that are already checked and rebuilt. Like Kafka's `.timeindex` lookup, the
 * answer is exact: the first record whose timestamp is at or after the time.
 */
import { assert } from '../../errors.js';

/** What the lookup needs of a segment. */
export interface TimedSegment {
  readonly baseOffset: number;
  readonly nextOffset: number;
  readonly maxTimestampMs: number;
}

/**
 * The first offset in [`first`, `end`) whose timestamp is at or after `timeMs`, or `end` if
 * none is. `timestampAt(segment, offset)` reads one record's timestamp (throws CORRUPT_DATA for
 * a damaged record).
 */
export function firstOffsetAtTime<S extends TimedSegment>(
  segments: readonly S[],
  first: number,
  end: number,
  timeMs: number,
  timestampAt: (segment: S, offset: number) => number,
): number {
  if (first >= end) return end;
  // Segments in order have non-decreasing newest timestamps: binary search for the first one
  // at or after the time that still holds offsets in range.
  let low = 0;
  let high = segments.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const segment = segments[middle]!;
    if (segment.nextOffset <= first || segment.maxTimestampMs < timeMs) low = middle + 1;
    else high = middle;
  }
  for (let i = low; i < segments.length; i++) {
    const segment = segments[i]!;
    const from = Math.max(segment.baseOffset, first);
    const to = Math.min(segment.nextOffset, end);
    if (from >= to) {
      if (segment.baseOffset >= end) return end;
      continue;
    }
    const found = searchSegment(segment, from, to, timeMs, timestampAt);
    if (found < to || to === end) return found;
    // Every record of this segment in range is older (its newest is not yet visible): go on.
  }
  return end;
}

/** The first offset in [from, to) of `segment` with a timestamp at or after `timeMs`, or `to`. */
function searchSegment<S extends TimedSegment>(segment: S, from: number, to: number, timeMs: number, timestampAt: (segment: S, offset: number) => number): number {
  let low = from;
  let high = to;
  while (low < high) {
    const middle = low + Math.floor((high - low) / 2);
    if (timestampAt(segment, middle) < timeMs) low = middle + 1;
    else high = middle;
  }
  assert(low >= from && low <= to, 'time lookup left its segment');
  return low;
}
