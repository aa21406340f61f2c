/**
 * Slicing the key index's background work (flushes, merges) so that it gives the event loop a
 * turn about every millisecond: an append that arrives meanwhile waits about that long at most,
 * whatever the size of the run being written and the speed of the machine.
 */
/** Gives the event loop a turn (between slices of a flush or a merge). */
export function pause(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Work in the background runs at most this long between turns given to the event loop. */
export const SLICE_MS = 1;

/**
 * Says when a slice of background work has run `SLICE_MS`: so that a flush or merge delays an
 * append by about a millisecond at most, whatever the machine's speed.
 */
export class TimeSlice {
  private started = performance.now();

  /** Call once per unit of work with its count; true when it is time to pause (then restarts). */
  due(count: number): boolean {
    if ((count & 63) !== 63) return false;
    const now = performance.now();
    if (now - this.started < SLICE_MS) return false;
    this.started = now;
    return true;
  }

  restart(): void {
    this.started = performance.now();
  }
}
