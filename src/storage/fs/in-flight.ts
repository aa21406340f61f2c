/**
 * Counts asynchronous work in flight (commits, seals) so that an owner can wait until there is
 * none before closing the descriptors that work uses.
 */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];

  /** Counts `work` until it settles; returns it unchanged. */
  track<T>(work: Promise<T>): Promise<T> {
    this.count += 1;
    const done = () => {
      this.count -= 1;
      if (this.count === 0) for (const wake of this.waiters.splice(0)) wake();
    };
    work.then(done, done);
    return work;
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
