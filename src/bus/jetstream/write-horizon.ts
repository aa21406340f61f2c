/**
 * What this gateway knows was written: per JetStream stream, the highest sequence a write through
 * it (or a dead letter it wrote) was acknowledged at, or that the stream's leader reported when
 * this gateway created a consumer of it (consumers.ts). A write is acknowledged once a quorum has it, while a consumer's leader
 * may sit on the replica that does not have it yet; a `no_wait` fetch from there finds nothing.
 * The horizon lets consumers.ts tell "nothing to deliver" from "not here yet" without asking the
 * cluster on every empty poll (read-your-writes through one gateway).
 */

/** Streams tracked at most; past it the map starts again (a forgotten stream costs one info request). */
export const MAX_STREAMS = 100_000;

export class WriteHorizon {
  private readonly lastSeq = new Map<string, number>();

  /** A write to `jsName` was acknowledged at `seq`. */
  wrote(jsName: string, seq: number): void {
    if ((this.lastSeq.get(jsName) ?? 0) >= seq) return;
    if (this.lastSeq.size >= MAX_STREAMS && !this.lastSeq.has(jsName)) this.lastSeq.clear();
    this.lastSeq.set(jsName, seq);
  }

  /** The highest acknowledged sequence of a write through this gateway to `jsName`, 0 when none. */
  last(jsName: string): number {
    return this.lastSeq.get(jsName) ?? 0;
  }

  /** Streams tracked now (for tests of the bound). */
  get size(): number {
    return this.lastSeq.size;
  }
}
