/**
 * The long-polls waiting on one stream, in one set: readers waiting for events past an offset
 * (Engine.waitForEvents) and consumers waiting for events to become due (Engine.consume with
 * `waitMs`). Woken when events become visible or a mark makes events due or frees room; ended at
 * once at shutdown (they answer with what is due, usually nothing) and when the stream is
 * deleted or the store closed.
 *
 * A reader that waits again and again (a live subscription waits once per commit round) keeps
 * one {@link EventWatch} for its life instead: no timer and no promise per wait.
 */
import { assert } from '../errors.js';

interface Waiter {
  ready: () => boolean;
  resolve(arrived: boolean): void;
  timer: NodeJS.Timeout;
  /** Removes the abort listener, when the wait has a signal. */
  detach?: () => void;
}

/** A wait told by a call rather than a promise, with no timeout (an {@link EventWatch}). */
export interface PollWatcher {
  /** Whether what it waits for holds now. */
  ready(): boolean;
  /** Called once per {@link LongPolls.watch}, in a microtask: `arrived` is ready() then, false when the stream is gone or the store closed. */
  woken(arrived: boolean): void;
}

export class LongPolls {
  private readonly waiting = new Set<Waiter>();
  private readonly watchers = new Set<PollWatcher>();
  private ended = false;

  /** True once {@link end} ran: later waits return at once. */
  get hasEnded(): boolean {
    return this.ended;
  }

  /**
   * Resolves true once a wake finds `ready()` true, false after `timeoutMs` or once `signal` is
   * aborted; at once (with `ready()`) if the polls have ended or `timeoutMs` is not positive.
   * Without `ready`, every wake resolves it.
   */
  wait(timeoutMs: number, ready: () => boolean = () => true, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted === true) return Promise.resolve(false);
    if (this.ended || timeoutMs <= 0) return Promise.resolve(ready());
    return new Promise((resolve) => {
      const waiter: Waiter = {
        ready,
        resolve,
        timer: setTimeout(() => this.settle(waiter, false), timeoutMs),
      };
      if (signal !== undefined) {
        const aborted = (): void => this.settle(waiter, false);
        signal.addEventListener('abort', aborted, { once: true });
        waiter.detach = () => signal.removeEventListener('abort', aborted);
      }
      this.waiting.add(waiter);
    });
  }

  /** Wakes `watcher` once its condition holds (at once if the polls have ended); no timeout: {@link unwatch} to stop. */
  watch(watcher: PollWatcher): void {
    if (this.ended) wakeLater([watcher], null);
    else this.watchers.add(watcher);
  }

  /** Stops waking `watcher` (a no-op if it is not waiting). */
  unwatch(watcher: PollWatcher): void {
    this.watchers.delete(watcher);
  }

  /** Resolves every wait whose condition now holds. */
  wake(): void {
    for (const waiter of this.waiting) {
      if (waiter.ready()) this.settle(waiter, true);
    }
    if (this.watchers.size === 0) return;
    let woken: PollWatcher[] | null = null;
    for (const watcher of this.watchers) {
      if (!watcher.ready()) continue;
      this.watchers.delete(watcher);
      (woken ??= []).push(watcher);
    }
    if (woken !== null) wakeLater(woken, true);
  }

  /** Shutdown: resolves every wait now, with its condition, and makes later waits return at once. */
  end(): void {
    this.ended = true;
    for (const waiter of this.waiting) this.settle(waiter, waiter.ready());
    this.wakeAll(null);
  }

  /** The stream is gone or the store closed: resolves every wait now, with false. */
  cancel(): void {
    for (const waiter of this.waiting) this.settle(waiter, false);
    this.wakeAll(false);
  }

  /** Wakes every watcher, with `arrived` (null: each with its condition). */
  private wakeAll(arrived: boolean | null): void {
    if (this.watchers.size === 0) return;
    const woken = [...this.watchers];
    this.watchers.clear();
    wakeLater(woken, arrived);
  }

  private settle(waiter: Waiter, arrived: boolean): void {
    if (!this.waiting.delete(waiter)) return; // settled already (a timer and an abort may race)
    clearTimeout(waiter.timer);
    waiter.detach?.();
    waiter.resolve(arrived);
  }
}

/**
 * Wakes `watchers` after the current call (as a promise's waiter would be): never inside the
 * engine's own bookkeeping. `arrived` null: each with its condition then.
 */
function wakeLater(watchers: PollWatcher[], arrived: boolean | null): void {
  queueMicrotask(() => {
    for (const watcher of watchers) watcher.woken(arrived ?? watcher.ready());
  });
}

/**
 * A reusable wait for a stream's events, for a reader that waits again and again (a live
 * subscription): {@link arm} with the offset it reads next, and `woken(true)` is called once an
 * event there or later is visible, `woken(false)` if the stream is deleted or the store closes. Made
 * by Engine.eventWatch.
 */
export class EventWatch implements PollWatcher {
  private fromOffset = 0;
  private armed = false;

  constructor(
    private readonly log: { readonly visibleOffset: number },
    private readonly polls: LongPolls,
    private readonly onWoken: (arrived: boolean) => void,
  ) {}

  /** Waits for an event at `fromOffset` or later to be visible (woken in a microtask if one is already). */
  arm(fromOffset: number): void {
    assert(!this.armed, 'an event watch is armed once at a time');
    this.fromOffset = fromOffset;
    this.armed = true;
    if (this.ready()) wakeLater([this], true);
    else this.polls.watch(this);
  }

  /** Stops waiting (the reader is done); nothing is called after this. */
  disarm(): void {
    this.armed = false;
    this.polls.unwatch(this);
  }

  ready(): boolean {
    return this.log.visibleOffset > this.fromOffset;
  }

  woken(arrived: boolean): void {
    if (!this.armed) return;
    this.armed = false;
    this.onWoken(arrived);
  }
}
