/**
 * The long-polls waiting on one stream, in one set: readers waiting for events past an offset
 * (Engine.waitForEvents) and consumers waiting for events to become due (Engine.consume with
 * `waitMs`). Woken when events become visible or a mark makes events due or frees room; ended at
 * once at shutdown (they answer with what is due, usually nothing) and when the stream is
 * deleted or the store closed.
 */

interface Waiter {
  ready: () => boolean;
  resolve(arrived: boolean): void;
  timer: NodeJS.Timeout;
}

export class LongPolls {
  private readonly waiting = new Set<Waiter>();
  private ended = false;

  /** True once {@link end} ran: later waits return at once. */
  get hasEnded(): boolean {
    return this.ended;
  }

  /**
   * Resolves true once a wake finds `ready()` true, false after `timeoutMs`; at once (with
   * `ready()`) if the polls have ended or `timeoutMs` is not positive. Without `ready`, every
   * wake resolves it.
   */
  wait(timeoutMs: number, ready: () => boolean = () => true): Promise<boolean> {
    if (this.ended || timeoutMs <= 0) return Promise.resolve(ready());
    return new Promise((resolve) => {
      const waiter: Waiter = {
        ready,
        resolve,
        timer: setTimeout(() => {
          this.waiting.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiting.add(waiter);
    });
  }

  /** Resolves every wait whose condition now holds. */
  wake(): void {
    if (this.waiting.size === 0) return;
    for (const waiter of this.waiting) {
      if (waiter.ready()) this.settle(waiter, true);
    }
  }

  /** Shutdown: resolves every wait now, with its condition, and makes later waits return at once. */
  end(): void {
    this.ended = true;
    for (const waiter of this.waiting) this.settle(waiter, waiter.ready());
  }

  /** The stream is gone or the store closed: resolves every wait now, with false. */
  cancel(): void {
    for (const waiter of this.waiting) this.settle(waiter, false);
  }

  private settle(waiter: Waiter, arrived: boolean): void {
    clearTimeout(waiter.timer);
    this.waiting.delete(waiter);
    waiter.resolve(arrived);
  }
}
