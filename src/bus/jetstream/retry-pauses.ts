/**
 * The pauses between a gateway's retries of a request the cluster did not answer (a write, a
 * stream read, a consumer create), which its shutdown ends. Such a request is retried for up to
 * `write_timeout_ms` (30 s); at shutdown no one may wait that long for its answer, and a pending
 * pause's timer kept the process alive after "stopped". Once `stop()` is called (2 s after
 * shutdown begins, and at close: jetstream-store.ts), every pause ends at once with false, its
 * timer cleared, and each later one too: the retry loop gives up with its own error
 * (BACKEND_UNAVAILABLE, naming the write's msg_id).
 */
import { assert } from '../../errors.js';

export class RetryPauses {
  private stopped = false;
  private stopTimer: NodeJS.Timeout | null = null;
  /** Pauses under way: their timers and how to end them early. */
  private readonly pending = new Set<{ timer: NodeJS.Timeout; end: () => void }>();

  /** True once shutdown began: retry loops give up instead of pausing. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Resolves true after `pause_ms`, or false (at once) when retrying is stopped. */
  pause(pause_ms: number): Promise<boolean> {
    assert(Number.isFinite(pause_ms) && pause_ms >= 0, `a retry pause of ${pause_ms} ms`);
    if (this.stopped) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.pending.delete(entry);
          resolve(true);
        }, pause_ms),
        end: () => resolve(false),
      };
      this.pending.add(entry);
    });
  }

  /**
   * Stops retrying `grace_ms` from now (shutdown began: a short election may still end in time);
   * the timer does not keep the process alive.
   */
  stopAfter(grace_ms: number): void {
    if (this.stopped || this.stopTimer !== null) return;
    this.stopTimer = setTimeout(() => this.stop(), grace_ms).unref();
  }

  /** Ends every pause now (each resolves false) and every later one at once. */
  stop(): void {
    this.stopped = true;
    if (this.stopTimer !== null) clearTimeout(this.stopTimer);
    this.stopTimer = null;
    const all = [...this.pending];
    this.pending.clear();
    for (const entry of all) {
      clearTimeout(entry.timer);
      entry.end();
    }
  }
}
