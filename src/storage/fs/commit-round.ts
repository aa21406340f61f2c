/**
 * What one group-commit round did (group-commit.ts), for an embedder's observer (observer.ts):
 * the figures a researcher or a metrics exporter records per round. The round builds one only
 * when someone observes; otherwise it measures nothing.
 */
import type { Logger } from '../logger.js';
import type { FsyncPolicy } from './group-commit.js';

/** One group-commit round: the fsyncs it ran and the writes and commits it made durable. */
export interface CommitRound {
  /** 1, 2, …: rounds run since the engine opened. */
  round: number;
  /** The engine's fsync policy. Under `always` rounds run as commits ask; under `interval` on the timer; under `never` at close. */
  policy: FsyncPolicy;
  /** Events appended (to any stream) since the previous round began: this round makes them durable. */
  events: number;
  /** Bytes written since the previous round began (segment logs and indexes, consumer journals). */
  bytes: number;
  /** Files fsynced (fdatasync). */
  files: number;
  /** Directories fsynced (after the files: new segments, compacted journals, new streams). */
  directories: number;
  /** Wall time of the round's fsyncs, from the first started to the last finished (ms, fractional). */
  fsyncMs: number;
  /**
   * Commits the round settled: one per batch a writer wrote (a stream's appends of one
   * event-loop turn, a consumer journal's changes of one turn). 0 under `interval` and `never`,
   * whose commits resolve without waiting for a round.
   */
  commits: number;
  /**
   * How long the oldest of those commits waited for durability: from its batch being written (in
   * the event-loop turn of the append, or the turn after) to the end of this round (ms). The
   * worst append-to-durable latency of the round; 0 when the round settled no commit.
   */
  oldestWaitMs: number;
  /** How long the newest commit waited (the best latency of the round); 0 when none. */
  newestWaitMs: number;
  /** Targets whose fsync failed (their commits were rejected, their writers refuse from now on). */
  failures: number;
}

/** Counted by writers as they write (two additions per batch); a round takes what accumulated. */
export interface WrittenTally {
  events: number;
  bytes: number;
}

/** What an observed round knows when it begins. */
export interface RoundStart {
  startedMs: number;
  events: number;
  bytes: number;
}

/** A round as the group commit describes it when it ends. */
export interface RoundEnd {
  round: number;
  policy: FsyncPolicy;
  files: number;
  directories: number;
  /** When the round's first and last settled commits were asked for (0: before observing began). */
  oldestAskedMs: number;
  newestAskedMs: number;
  commits: number;
  failures: number;
}

/**
 * The group commit's observation point: the writers' tally, the one function told of every
 * round, and the clock, read only while that function is set.
 */
export class RoundWatch {
  /** Events and bytes written since the last observed round began (writers add to it). */
  readonly written: WrittenTally = { events: 0, bytes: 0 };
  private listener: ((round: CommitRound) => void) | null = null;

  constructor(private readonly logger: Logger) {}

  /** Sets (or, with null, removes) the function told of every round. */
  set(listener: ((round: CommitRound) => void) | null): void {
    this.listener = listener;
    this.written.events = 0;
    this.written.bytes = 0;
  }

  /** The time now while observed, else 0 (no clock read). */
  now(): number {
    return this.listener === null ? 0 : performance.now();
  }

  /** Null when nobody observes; else the writes the round covers and its start time. */
  begin(): RoundStart | null {
    if (this.listener === null) return null;
    const start = { startedMs: performance.now(), events: this.written.events, bytes: this.written.bytes };
    this.written.events = 0;
    this.written.bytes = 0;
    return start;
  }

  /** Tells the listener what the round did; a listener that throws is logged, never fatal. */
  end(start: RoundStart, end: RoundEnd): void {
    const listener = this.listener;
    if (listener === null) return;
    const endMs = performance.now();
    // A commit asked for before observing began has no time: it counts as asked at the start.
    const waited = (askedMs: number) => (end.commits === 0 ? 0 : endMs - (askedMs || start.startedMs));
    try {
      listener({
        round: end.round,
        policy: end.policy,
        events: start.events,
        bytes: start.bytes,
        files: end.files,
        directories: end.directories,
        fsyncMs: endMs - start.startedMs,
        commits: end.commits,
        oldestWaitMs: waited(end.oldestAskedMs),
        newestWaitMs: waited(end.newestAskedMs),
        failures: end.failures,
      });
    } catch (error) {
      this.logger.warn({ err: error }, 'an engine observer threw (commit round); ignored');
    }
  }
}
