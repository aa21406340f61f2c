/**
 * The damage known in one segment: found at open, by an index rebuild, or by a read. Reads of the
 * offsets it covers fail with CORRUPT_DATA naming the file and byte position; stream stats list
 * it; consumers dead-letter the events it makes unreadable.
 */
import { ErrorCodes, EventBusError } from '../../errors.js';
import type { Logger } from '../logger.js';
import type { Damage } from './segment-check.js';

export class SegmentDamage {
  readonly all: Damage[] = [];

  constructor(private readonly file: string, private readonly logger: Logger) {}

  add(damage: readonly Damage[]): void {
    this.all.push(...damage);
  }

  get isEmpty(): boolean {
    return this.all.length === 0;
  }

  /** The damage that covers `offset`, if any. */
  at(offset: number): Damage | undefined {
    return this.all.find((d) => offset >= d.firstOffset && offset <= d.lastOffset);
  }

  /** The first offset after `offset` that damage covers; Infinity when none. */
  firstAfter(offset: number): number {
    let first = Infinity;
    for (const d of this.all) if (d.firstOffset > offset && d.firstOffset < first) first = d.firstOffset;
    return first;
  }

  /**
   * The error for the damaged record of `offset`, recording the damage (so that stats list it)
   * the first time it is met. Damage found by a rebuild or recovery keeps its own position and
   * reason.
   */
  error(position: number, offset: number, problem: string): EventBusError {
    let known = this.at(offset);
    if (known === undefined) {
      known = { file: this.file, position, firstOffset: offset, lastOffset: offset, reason: `record ${problem}` };
      this.all.push(known);
    }
    const reason = `stored event at offset ${offset} is damaged: ${known.reason} in ${this.file} at byte ${known.position}`;
    this.logger.error({ file: this.file, position: known.position, offset, problem }, 'damaged record not returned');
    return new EventBusError(ErrorCodes.CORRUPT_DATA, reason, { context: { file: this.file, position: known.position, offset } });
  }
}
