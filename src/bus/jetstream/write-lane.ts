/**
 * The order of a gateway's writes to one stream. The server dispatches each connection's writes
 * in the order they were sent; a lane publishes them in that order, all on one NATS connection,
 * and JetStream stores one connection's publishes in the order they arrive, so writes are stored
 * in send order while many are in flight (pipelined: a write is published without waiting for
 * the acknowledgement of the one before).
 *
 * A publish that fails transiently (no responders during an election, a timeout) breaks that
 * only if it is retried while later writes go ahead. So a failure holds the lane: no new write is
 * published until every write already published has finished, and each failed write is retried
 * (with its msg id: never stored twice) only after every earlier write has finished, one after
 * another in send order. The one case left: a publish lost in a failover while a later one,
 * already in flight, was stored; then the retried write lands after it (docs/protocol.md).
 *
 * A conditional write (a key, an expected version) runs alone: after every earlier write has
 * finished, and before any later one is published.
 */
import { assert } from '../../errors.js';
import { isTransient } from './nats-errors.js';
import type { PubAckPublish } from './pub-ack-publisher.js';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** One write's place in the lane. */
interface Turn {
  /** Resolves once the write before has been published (or has finished, if it ran alone). */
  ready: Promise<void>;
  /** Resolves once every earlier write has finished. */
  earlierDone: Promise<void>;
  /** This write has been published: the next may go. */
  published: () => void;
  /** This write has finished (acknowledged or failed for good). */
  finished: () => void;
}

export class WriteLane {
  /** Writes in the lane: waiting, in flight or being retried. */
  private members = 0;
  /** Published writes not yet finished. */
  private running = 0;
  private tail: Promise<void> = Promise.resolve();
  private lastDone: Promise<void> = Promise.resolve();
  /** Set while a failed write is being retried: new writes wait for it. */
  private hold: Deferred | null = null;

  constructor(
    /** The one connection's client every write of the lane is published on. */
    readonly publisher: PubAckPublish,
    /** Called when the lane holds no write (the owner forgets it). */
    private readonly onEmpty: () => void,
  ) {}

  /**
   * A pipelined write. In its turn: `prepare` (say, the catalog lookup), then `send`, which must
   * queue the publish, in call order, before its first await (pub-ack-publisher.ts does), and resolves with the
   * acknowledgement. When that fails transiently, `retry` runs once every earlier write has
   * finished, with new writes held back until all published writes have finished.
   */
  async pipelined<P, T>(prepare: () => Promise<P>, send: (prepared: P) => Promise<T>, retry: (prepared: P, error: unknown) => Promise<T>): Promise<T> {
    const turn = this.takeTurn();
    let counted = false;
    try {
      await turn.ready;
      while (this.hold !== null) await this.hold.promise;
      const prepared = await prepare();
      this.running += 1;
      counted = true;
      const acknowledged = send(prepared);
      turn.published();
      try {
        return await acknowledged;
      } catch (error) {
        if (!isTransient(error)) throw error;
        this.hold ??= deferred();
        await turn.earlierDone;
        return await retry(prepared, error);
      }
    } finally {
      this.leave(turn, counted);
    }
  }

  /** A write that runs alone: after every earlier write has finished, before any later one is published. */
  async alone<T>(run: () => Promise<T>): Promise<T> {
    const turn = this.takeTurn();
    let counted = false;
    try {
      await turn.ready;
      await turn.earlierDone;
      assert(this.running === 0, 'a write of the lane still runs after every earlier one finished');
      this.running += 1;
      counted = true;
      return await run();
    } finally {
      this.leave(turn, counted);
    }
  }

  private takeTurn(): Turn {
    this.members += 1;
    const ready = this.tail;
    const published = deferred();
    this.tail = published.promise;
    const earlierDone = this.lastDone;
    const own = deferred();
    this.lastDone = earlierDone.then(() => own.promise);
    return { ready, earlierDone, published: published.resolve, finished: own.resolve };
  }

  private leave(turn: Turn, counted: boolean): void {
    turn.published();
    turn.finished();
    if (counted) {
      this.running -= 1;
      if (this.running === 0 && this.hold !== null) {
        this.hold.resolve();
        this.hold = null;
      }
    }
    this.members -= 1;
    if (this.members === 0) this.onEmpty();
  }
}
