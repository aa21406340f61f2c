/**
 * Group commit: many writers share each fsync.
 *
 * Writers write their bytes first (synchronously, to the page cache) and then ask for durability
 * with {@link GroupCommit.commit}, naming the files and directories their bytes live in. Under the
 * `always` policy a commit resolves only after a sync round that started after the call has
 * fsynced every one of those targets. Only one round runs at a time; everything that asks while a
 * round is in flight joins the next one, across streams and across kinds of file (segments,
 * consumer journals, directories). So a round costs one fsync per dirty file, whatever the number
 * of writers waiting on it.
 *
 * A round of one change (one append call, one consumer change) after a round of one (one writer
 * at a time: nobody else is waiting) runs its file fsyncs on the main thread, as Redis does under
 * `appendfsync always`: on a fast disk the thread pool's two hops (a wake-up to start the fsync,
 * another to report it) cost more than the fsync itself. A round with a closed file or a consumer
 * journal goes to the pool, directories always do, and after an inline fsync slower than
 * {@link INLINE_SLOW_MS} rounds go to the pool for {@link INLINE_BACKOFF_MS}, so that a stalling
 * disk blocks the event loop once, not every round.
 *
 * `interval` resolves commits at once and fsyncs the dirty targets every `intervalMs`; `never`
 * resolves at once and leaves flushing to the operating system (and to {@link GroupCommit.syncAll}
 * at close). A failed fsync is never reported as success: its waiters are rejected, and the
 * target's `failed` hook tells its owner, which must stop acknowledging writes.
 */
import { ioError } from '../../errors.js';
import type { Logger } from '../logger.js';
import { RoundWatch } from './commit-round.js';

/** The fsync policies. */
export type FsyncPolicy = 'always' | 'interval' | 'never';

export const FSYNC_POLICIES: readonly FsyncPolicy[] = ['always', 'interval', 'never'];

/** Something that can be made durable: a file (fdatasync) or a directory (fsync). */
export interface SyncTarget {
  /** What it is, for errors and logs (a path). */
  readonly name: string;
  /**
   * True for a directory. A round fsyncs its directories only after all its files are synced,
   * so that a new directory entry (the next segment, say) never becomes durable before the data
   * written ahead of it (the segment just sealed): otherwise a power loss could leave the new
   * file with a hole before it, which recovery would have to report as damage.
   */
  readonly directory?: boolean;
  sync(): Promise<void>;
  /**
   * {@link sync} on the calling thread, if it can be done at once (the file is open); false if
   * not (nothing done: the round uses {@link sync}). Throws what the fsync throws.
   */
  syncNow?(): boolean;
  /** Told when a sync of this target failed (under any policy). */
  failed?(error: unknown): void;
}

/** Counters, for tests and benchmarks. */
export interface GroupCommitStats {
  /** Sync rounds run. */
  rounds: number;
  /** Individual fsync calls made. */
  syncs: number;
  /** Commits resolved (durable acknowledgements handed out). */
  commits: number;
  /** Rounds whose fsyncs ran on the main thread (small rounds: see the file's comment). */
  inlineRounds: number;
}

interface Waiter {
  targets: readonly SyncTarget[];
  resolve(): void;
  reject(error: unknown): void;
  /** When it was asked for, while observed (commit-round.ts); else 0. */
  askedMs: number;
  /** Changes the commit covers (append calls, consumer changes): how many writers wait on it. */
  changes: number;
}

const RESOLVED = Promise.resolve();
/** fsyncs a round runs at once. */
const SYNC_CONCURRENCY = 128;
/** A round inline: at most this many changes, after a round of at most as many, and at most this many files. */
const INLINE_MAX_CHANGES = 1;
const INLINE_MAX_FILES = 2;
/** An inline fsync slower than this sends rounds back to the thread pool for INLINE_BACKOFF_MS. */
export const INLINE_SLOW_MS = 20;
export const INLINE_BACKOFF_MS = 1_000;

export class GroupCommit {
  readonly stats: GroupCommitStats = { rounds: 0, syncs: 0, commits: 0, inlineRounds: 0 };
  private dirty = new Set<SyncTarget>();
  private waiters: Waiter[] = [];
  private running: Promise<void> | null = null;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  /** Changes the last round made durable (a round runs inline only after a small one). */
  private lastRoundChanges = 0;
  /** Rounds run in the thread pool until then (performance.now() ms), after a slow inline fsync. */
  private inlineOffUntilMs = 0;
  /** What an embedder's observer is told of each round (commit-round.ts). */
  readonly watch: RoundWatch;

  constructor(
    readonly policy: FsyncPolicy,
    intervalMs: number,
    private readonly logger: Logger,
  ) {
    this.watch = new RoundWatch(logger);
    if (policy === 'interval') {
      this.timer = setInterval(() => void this.syncAll().catch(() => {}), intervalMs);
      this.timer.unref();
    }
  }

  /**
   * Asks for the bytes already written to `targets` to be made durable. Under `always` the
   * promise resolves after they are fsynced (and rejects with DISK_FULL or IO_ERROR if any sync
   * fails); under `interval` and `never` it resolves at once. `changes`: how many changes (append
   * calls, consumer changes) the bytes hold, so the round knows how many writers wait on it.
   */
  commit(targets: readonly SyncTarget[], changes = 1): Promise<void> {
    // Under `never` nothing syncs the dirty set until close, which syncs what is open then: so
    // keep none (the set would grow with every segment ever rolled).
    if (this.policy !== 'never') for (const target of targets) this.dirty.add(target);
    if (this.policy !== 'always') {
      this.stats.commits += 1;
      return RESOLVED;
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ targets, resolve, reject, askedMs: this.watch.now(), changes });
      this.schedule();
    });
  }

  /**
   * Marks targets dirty without waiting: the next round covers them (under `never`, only the
   * round that close runs, which is why close touches what must be durable before it syncs).
   */
  touch(targets: readonly SyncTarget[]): void {
    for (const target of targets) this.dirty.add(target);
  }

  /** Fsyncs everything dirty now and waits for it (used at close and before snapshots). */
  async syncAll(): Promise<void> {
    while (this.running !== null) await this.running;
    if (this.dirty.size === 0 && this.waiters.length === 0) return;
    await this.runRound();
  }

  /** Stops the interval timer. Call {@link syncAll} first to flush. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.scheduled || this.running !== null) return;
    this.scheduled = true;
    // A microtask, so that every writer of the current tick joins the round.
    queueMicrotask(() => {
      this.scheduled = false;
      if (this.running === null && this.waiters.length > 0) void this.runRound();
    });
  }

  /** Whether a round of `changes` changes syncs `files` on the main thread (see the file's comment). */
  private runsInline(files: readonly SyncTarget[], changes: number): boolean {
    if (this.policy !== 'always' || changes > INLINE_MAX_CHANGES || this.lastRoundChanges > INLINE_MAX_CHANGES) return false;
    if (files.length === 0 || files.length > INLINE_MAX_FILES || files.some((file) => file.syncNow === undefined)) return false;
    return performance.now() >= this.inlineOffUntilMs;
  }

  /** Fsyncs `files` on the main thread, recording failures; returns those it could not (closed files: the pool syncs them). */
  private syncInline(files: readonly SyncTarget[], failures: Map<SyncTarget, unknown>): SyncTarget[] {
    this.stats.inlineRounds += 1;
    const rest: SyncTarget[] = [];
    for (const file of files) {
      const startedMs = performance.now();
      try {
        if (!file.syncNow!()) rest.push(file);
      } catch (error) {
        failures.set(file, error);
      }
      const endedMs = performance.now();
      if (endedMs - startedMs > INLINE_SLOW_MS) this.inlineOffUntilMs = endedMs + INLINE_BACKOFF_MS;
    }
    return rest;
  }

  private runRound(): Promise<void> {
    const round = (async () => {
      const targets = [...this.dirty];
      const waiters = this.waiters;
      this.dirty = new Set();
      this.waiters = [];
      const observed = this.watch.begin();
      const failures = new Map<SyncTarget, unknown>();
      // Every target is synced and accounted for, even if another one's sync throws: a round
      // that gave up half-way would leave its waiters (of every stream) unsettled forever.
      const syncOne = (target: SyncTarget) => startSync(target).catch((error: unknown) => {
        failures.set(target, error);
      });
      // At most SYNC_CONCURRENCY at once: a sync may open a descriptor (a closed segment's).
      const syncAll = async (phase: SyncTarget[]) => {
        for (let i = 0; i < phase.length; i += SYNC_CONCURRENCY) await Promise.all(phase.slice(i, i + SYNC_CONCURRENCY).map(syncOne));
      };
      // Files first, then directories (see SyncTarget.directory).
      const files = targets.filter((target) => target.directory !== true);
      let changes = 0;
      for (const waiter of waiters) changes += waiter.changes;
      await syncAll(this.runsInline(files, changes) ? this.syncInline(files, failures) : files);
      const directories = targets.filter((target) => target.directory === true);
      if (directories.length > 0) await syncAll(directories);
      this.stats.rounds += 1;
      this.stats.syncs += targets.length;
      this.lastRoundChanges = changes;
      for (const [target, error] of failures) {
        this.logger.error({ target: target.name, err: error }, 'fsync failed: writes since the last good fsync are not acknowledged');
        try {
          target.failed?.(error);
        } catch (hookError) {
          this.logger.error({ target: target.name, err: hookError }, 'fsync failure hook threw');
        }
      }
      for (const waiter of waiters) {
        const failed = failures.size === 0 ? undefined : waiter.targets.find((t) => failures.has(t));
        if (failed === undefined) {
          this.stats.commits += 1;
          waiter.resolve();
        } else {
          waiter.reject(ioError(`fsync of ${failed.name}`, failures.get(failed)));
        }
      }
      if (observed !== null) {
        const [oldest, newest] = [waiters[0]?.askedMs ?? 0, waiters[waiters.length - 1]?.askedMs ?? 0];
        this.watch.end(observed, { round: this.stats.rounds, policy: this.policy, files: targets.length - directories.length, directories: directories.length, oldestAskedMs: oldest, newestAskedMs: newest, commits: waiters.length, failures: failures.size });
      }
    })();
    this.running = round;
    return round.finally(() => {
      this.running = null;
      if (this.waiters.length > 0) void this.runRound();
    });
  }
}

/** Starts a target's sync; a synchronous throw becomes a rejection, like any other failure. */
function startSync(target: SyncTarget): Promise<void> {
  try {
    return target.sync();
  } catch (error) {
    return Promise.reject(error);
  }
}
