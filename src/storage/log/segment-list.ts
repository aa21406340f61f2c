/**
 * The segments of a stream's log, oldest first, the last one active: finding the segment of an
 * offset (binary search over base offsets), reading across segments (forward, backward, from a
 * time), the figures and damage of the whole log, truncation (a floor below which nothing is
 * read) and retention, which removes whole sealed segments from the front.
 */
import { assert, ErrorCodes, isEventBusError } from '../../errors.js';
import type { Logger } from '../logger.js';
import { readBackward } from './backward-read.js';
import type { StoredEvent } from './record-reader.js';
import { firstOffsetAtTime } from './time-lookup.js';
import type { FileCapture, Segment } from './segment.js';
import type { Damage } from './segment-check.js';

/** What retention may remove (0 = no limit). Only whole sealed segments are ever removed. */
export interface RetentionPolicy {
  maxAgeMs: number;
  maxBytes: number;
  maxEvents: number;
}

export class SegmentList {
  private readonly segments: Segment[];
  /** Offsets below this are truncated (truncate_stream): never read, their segments reclaimed. */
  private floor = 0;

  constructor(segments: Segment[]) {
    assert(segments.length > 0, 'a log has at least one segment');
    this.segments = segments;
  }

  /** The last segment, the one appended to. */
  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  /** Oldest offset still stored. */
  get firstOffset(): number {
    const base = this.segments[0]!.baseOffset;
    return base > this.floor ? base : this.floor;
  }

  /** Hides every offset below `offset` from reads (never lowers what is hidden already). */
  raiseFloor(offset: number): void {
    if (offset > this.floor) this.floor = offset;
  }

  get length(): number {
    return this.segments.length;
  }

  /**
   * The first offset that segments of record format `version` or later hold: the base offset of
   * the first such segment, or the log's end (`end`) when there is none yet.
   */
  firstOffsetOfVersion(version: number, end: number): number {
    for (const segment of this.segments) if (segment.version >= version) return segment.baseOffset;
    return end;
  }

  /** Adds a new active segment (a roll). */
  push(segment: Segment): void {
    assert(segment.baseOffset === this.active.nextOffset, 'a new segment does not start where the last one ends');
    this.segments.push(segment);
  }

  /** Index of the segment holding `offset`: binary search over base offsets. */
  private indexOf(offset: number): number {
    let low = 0;
    let high = this.segments.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >>> 1;
      if (this.segments[middle]!.baseOffset <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  /**
   * Reads events from `fromOffset` (clamped to the first stored offset) up to `end` (excluded),
   * at most `maxEvents` and, beyond the first event, at most `maxBytes` of payload. Throws
   * CORRUPT_DATA when the first event to return is damaged; stops before a later damaged one.
   */
  read(fromOffset: number, end: number, maxEvents: number, maxBytes: number): StoredEvent[] {
    const out: StoredEvent[] = [];
    let offset = Math.max(fromOffset, this.firstOffset);
    if (offset >= end || maxEvents <= 0) return out;
    let i = this.indexOf(offset);
    let bytes = 0;
    while (i < this.segments.length && offset < end && out.length < maxEvents) {
      const segment = this.segments[i]!;
      try {
        bytes += segment.read(offset, end, maxEvents - out.length, maxBytes - bytes, out);
      } catch (error) {
        // The first record of a later segment is damaged: return the events before it, as a
        // damaged record inside a segment does. The next read starts at it and reports it.
        if (out.length > 0 && isEventBusError(error, ErrorCodes.CORRUPT_DATA)) break;
        throw error;
      }
      const reached = out.length > 0 ? out[out.length - 1]!.offset + 1 : offset;
      if (reached < Math.min(segment.nextOffset, end)) break; // stopped on a limit or damage
      offset = reached;
      i += 1;
    }
    return out;
  }

  /**
   * Events from `fromOffset` (included) down to the first stored offset, newest first, below
   * `end`; limits and damage as {@link read} (backward-read.ts).
   */
  readBackward(fromOffset: number, end: number, maxEvents: number, maxBytes: number): StoredEvent[] {
    const top = Math.min(fromOffset, end - 1);
    if (top < this.firstOffset || maxEvents <= 0) return [];
    return readBackward((from, events, bytes) => this.read(from, end, events, bytes), this.firstOffset, top, maxEvents, maxBytes);
  }

  /** The first offset below `end` whose timestamp is at or after `timeMs`, or `end` (time-lookup.ts). */
  offsetAtTime(timeMs: number, end: number): number {
    const scratch: StoredEvent[] = [];
    return firstOffsetAtTime(this.segments, this.firstOffset, end, timeMs, (segment, offset) => {
      scratch.length = 0;
      segment.read(offset, offset + 1, 1, 0, scratch);
      assert(scratch.length === 1 && scratch[0]!.offset === offset, () => `time lookup could not read offset ${offset}`);
      return scratch[0]!.timestampMs;
    });
  }

  /** Bytes on disk, logs and indexes. */
  get bytes(): number {
    let bytes = 0;
    for (const segment of this.segments) bytes += segment.size + segment.indexSize;
    return bytes;
  }

  /** The damage that makes `offset` (below `end`) unreadable, if any: looks in its segment only. */
  damageAt(offset: number, end: number): Damage | undefined {
    if (offset < this.firstOffset || offset >= end) return undefined;
    return this.segments[this.indexOf(offset)]!.damage.at(offset);
  }

  /** Damage found so far (at open, rebuild or read). */
  damage(): Damage[] {
    return this.segments.flatMap((segment) => segment.damage.all);
  }

  /** How a snapshot takes the files up to offset `visible` (excluded); see Segment.capture. */
  captureFiles(visible: number): FileCapture[] {
    const files: FileCapture[] = [];
    for (const segment of this.segments) {
      const { files: captured, last } = segment.capture(visible);
      files.push(...captured);
      if (last) break;
    }
    return files;
  }

  /**
   * How many of the oldest sealed segments `policy` no longer needs (`visibleOffset`: the log's
   * end), and those wholly below the truncation floor. Each limit is a cap and any of them may
   * remove a segment, so the strictest decides. A size or count limit removes a segment only if
   * what is left after it still holds `maxBytes` bytes (or `maxEvents` events), as Kafka's size
   * retention does: the stream exceeds that limit by less than a segment, and with `maxEvents`
   * alone no event among the newest `maxEvents` is ever removed. Age removes a segment whose
   * newest event is older than `maxAgeMs`. Never the active segment (offsets are never reused)
   * nor a pinned one (a snapshot is linking it).
   */
  private removable(policy: RetentionPolicy, visibleOffset: number, nowMs: number): number {
    let bytes = this.bytes;
    let count = 0;
    for (; count < this.segments.length - 1; count++) {
      const oldest = this.segments[count]!;
      const tooOld = policy.maxAgeMs > 0 && oldest.maxTimestampMs < nowMs - policy.maxAgeMs;
      const tooBig = policy.maxBytes > 0 && bytes - (oldest.size + oldest.indexSize) >= policy.maxBytes;
      const tooMany = policy.maxEvents > 0 && visibleOffset - oldest.nextOffset >= policy.maxEvents;
      const truncated = oldest.nextOffset <= this.floor;
      if ((!tooOld && !tooBig && !tooMany && !truncated) || oldest.isPinned) break;
      bytes -= oldest.size + oldest.indexSize;
    }
    return count;
  }

  /** The offset below which retention would remove segments now (the first offset: none). */
  retentionReach(policy: RetentionPolicy, visibleOffset: number, nowMs: number): number {
    const count = this.removable(policy, visibleOffset, nowMs);
    return count === 0 ? this.firstOffset : this.segments[count - 1]!.nextOffset;
  }

  /**
   * Removes the segments {@link removable} names, but none holding an offset at or past
   * `keepFrom` (the key index has not yet written their keys' entries out). Returns the number
   * removed; the caller fsyncs the directory.
   */
  applyRetention(policy: RetentionPolicy, visibleOffset: number, nowMs: number, keepFrom: number, logger: Logger): number {
    let removed = 0;
    for (let count = this.removable(policy, visibleOffset, nowMs); removed < count; removed++) {
      const oldest = this.segments[0]!;
      if (oldest.nextOffset > keepFrom) break;
      assert(oldest.seal !== null, 'retention reached an unsealed segment');
      this.segments.shift();
      try {
        oldest.remove();
      } catch (error) {
        logger.error({ file: oldest.paths.log, err: error }, 'retention could not remove a segment');
      }
    }
    return removed;
  }

  /** Closes every segment's files. */
  closeAll(): void {
    for (const segment of this.segments) segment.closeFiles();
  }
}

