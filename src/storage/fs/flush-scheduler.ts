/**
 * Writes queued changes once per event-loop turn: every append and consumer change that arrives
 * in one turn, from any connection, shares one write per file (and then one group commit).
 * Owners of queued writes (a stream's log, a consumer journal) mark themselves dirty; the flush
 * runs after the current I/O phase (setImmediate), when every request that arrived in it has
 * queued its change.
 */

/** Something with queued writes (see durable-writer.ts). */
export interface Flushable {
  flush(nowMs: number): void;
}

export class FlushScheduler {
  private readonly dirty = new Set<Flushable>();
  private scheduled = false;

  /** `item` has queued writes: flush it in this turn's flush. */
  mark(item: Flushable): void {
    this.dirty.add(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flushNow());
  }

  /** `item` is going away (its stream was deleted): do not flush it. */
  forget(item: Flushable): void {
    this.dirty.delete(item);
  }

  /** Flushes everything dirty now (also before a snapshot and at close). */
  flushNow(): void {
    this.scheduled = false;
    const now = Date.now();
    for (const item of this.dirty) item.flush(now);
    this.dirty.clear();
  }
}
