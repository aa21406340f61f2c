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

  /** `sliceMs`: how long a slice may run (longer when the work has fallen behind). */
  constructor(private readonly sliceMs: () => number = () => SLICE_MS) {}

  /** Call once per unit of work with its count; true when it is time to {@link pause}. */
  due(count: number): boolean {
    if ((count & 63) !== 63) return false;
    return performance.now() - this.started >= this.sliceMs();
  }

  /** Gives the event loop a turn, then starts the next slice (the wait is not work). */
  async pause(): Promise<void> {
    await pause();
    this.started = performance.now();
  }
}
