/**
 * The write path every durable file of the engine shares (a stream's log, a consumer journal):
 * queue, write, commit, settle; and, after a failure, refuse.
 *
 * Changes are queued by {@link DurableWriter.enqueue} and written together by
 * {@link DurableWriter.flush}, which the engine runs once per event-loop turn (flush-scheduler.ts):
 * the owner's `write` hook writes the whole batch synchronously and names the files and
 * directories it touched; the group commit makes them durable (one fsync shared by every writer
 * of the round); then the owner's `durable` hook runs and each change resolves.
 *
 * A failed write or fsync is never acknowledged: its batch is rejected with the error, and from
 * then on the writer refuses every change (DISK_FULL while the cause is a full disk,
 * STREAM_FAILED otherwise) until the store is reopened, whose recovery settles what the disk
 * holds. A batch whose own fsync succeeded after an earlier batch failed is rejected too: what
 * follows a failure must not be acknowledged either.
 *
 * A failure is *reported* once changes waiting on it were rejected with it, which happens only
 * under `always`. Under `interval` and `never` changes are acknowledged before any fsync, so a
 * failure may concern acknowledged ones and nobody was told; nor is a failure no change waited on
 * (a seal being finished, close's final fsync). The engine's close rejects with the first
 * unreported failure ({@link DurableWriter.unreportedFailure}).
 */
import { assert, EventBusError, ioError, refusalAfter } from '../../errors.js';
import type { Logger } from '../logger.js';
import type { GroupCommit, SyncTarget } from './group-commit.js';
import { InFlight } from './in-flight.js';

/** What a writer needs from its engine. */
export interface DurableWriterContext {
  groupCommit: GroupCommit;
  logger: Logger;
}

/**
 * A change waiting in a writer's queue. The owner creates it with placeholder settlers (so that
 * its shape never changes); {@link DurableWriter.enqueue} sets them.
 */
export interface PendingChange<R> {
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** Placeholder settlers for a change not yet queued. */
export const UNSETTLED = { resolve: (): void => {}, reject: (): void => {} };

/** What the owner of a writer does with its batches. */
export interface DurableWriterHooks<T, R> {
  /**
   * Writes `batch` (synchronously, to the page cache) and returns what must be fsynced for it to
   * be durable. Throwing fails the writer; nothing of the batch is acknowledged.
   */
  write(batch: readonly T[], nowMs: number): readonly SyncTarget[];
  /** Called once `batch` is durable, before its changes resolve. */
  durable?(batch: readonly T[]): void;
  /** What the change `item` resolves to once durable. */
  result(item: T): R;
  /** Called once, when the writer starts refusing (its first failure) or is closed. */
  stopped?(error: EventBusError): void;
}

/** How a writer names itself in errors and logs. */
export interface WriterNames {
  /** What was being written, for an operating-system error: `writing /data/…/consumers`. */
  writing: string;
  /** The start of a refusal: `stream refuses appends` (see refusalAfter). */
  refuses: string;
  /** Logged once, when the writer starts refusing. */
  failedMessage: string;
  /** Fields of that log line (which file or directory). */
  fields: object;
}

/** A writer's failure that no change was rejected with (see the file's comment). */
export interface UnreportedFailure {
  error: EventBusError;
  /** Its place among every writer's failures: the lowest happened first. */
  order: number;
}

/** Failures of every writer so far: orders them, so that close reports the first. */
let failuresSeen = 0;

export class DurableWriter<T extends PendingChange<R>, R> {
  /** Set after a failed write or fsync: every later change is refused until reopened. */
  failure: EventBusError | null = null;
  /** When {@link failure} happened, among every writer's failures (1 the first; 0 none). */
  failureOrder = 0;
  /** Whether changes waiting on {@link failure} were rejected with it (see the file's comment). */
  private failureReported = false;
  private queued: T[] = [];
  private closedError: EventBusError | null = null;
  /** Commits and other durable work in flight; the owner closes its files only once idle. */
  private readonly inFlight = new InFlight();

  constructor(
    private readonly ctx: DurableWriterContext,
    private readonly names: WriterNames,
    private readonly hooks: DurableWriterHooks<T, R>,
  ) {}

  /** True once closed. */
  get closed(): boolean {
    return this.closedError !== null;
  }

  /**
   * The failure, unless it was reported to the changes it concerned: something acknowledged (or
   * written) may then not be on disk, and nobody was told. `order`: see {@link failureOrder}.
   */
  get unreportedFailure(): UnreportedFailure | null {
    return this.failure === null || this.failureReported ? null : { error: this.failure, order: this.failureOrder };
  }

  /** True when changes wait for {@link flush}. */
  get hasQueued(): boolean {
    return this.queued.length > 0;
  }

  /**
   * Queues a change; the promise resolves once it is durable under the fsync policy, or rejects.
   * The caller schedules a flush.
   */
  enqueue(change: T): Promise<R> {
    const refused = this.refused();
    if (refused !== null) return Promise.reject(refused);
    return new Promise<R>((resolve, reject) => {
      change.resolve = resolve;
      change.reject = reject;
      this.queued.push(change);
    });
  }

  /** The error a change gets now: the refusal after a failure, the close reason, or null. */
  refused(): EventBusError | null {
    if (this.failure !== null) return this.refusal();
    return this.closedError;
  }

  /** Throws the refusal if the writer failed, or the close reason if it was closed. */
  checkUsable(): void {
    const refused = this.refused();
    if (refused !== null) throw refused;
  }

  /** Writes every queued change in one batch and commits it. */
  flush(nowMs: number): void {
    if (this.queued.length === 0) return;
    const batch = this.queued;
    this.queued = [];
    if (this.failure !== null) {
      rejectAll(batch, this.refusal());
      return;
    }
    let targets: readonly SyncTarget[];
    try {
      targets = this.hooks.write(batch, nowMs);
    } catch (error) {
      this.fail(error);
      this.rejectWithFailure(batch);
      return;
    }
    this.commit(targets, batch.length).then(
      () => this.settle(batch),
      (error: unknown) => {
        this.fail(error);
        this.rejectWithFailure(batch);
      },
    );
  }

  private settle(batch: T[]): void {
    if (this.failure !== null) {
      this.rejectWithFailure(batch);
      return;
    }
    this.hooks.durable?.(batch);
    for (const change of batch) change.resolve(this.hooks.result(change));
  }

  /** Asks the group commit for `targets` (covering `changes` changes), counted as in flight. */
  commit(targets: readonly SyncTarget[], changes = 1): Promise<void> {
    return this.track(this.ctx.groupCommit.commit(targets, changes));
  }

  /** Counts other durable work (a seal being finished, a compaction) as in flight. */
  track<V>(work: Promise<V>): Promise<V> {
    return this.inFlight.track(work);
  }

  /** Resolves when nothing is in flight (before the owner closes its files). */
  idle(): Promise<void> {
    return this.inFlight.idle();
  }

  /**
   * Rejects `batch` with the failure. Under `always` its changes waited on the durability that
   * failed: their callers are told, so the failure is reported. Under the other policies changes
   * before them were acknowledged at their write and may be lost: it stays unreported.
   */
  private rejectWithFailure(batch: readonly T[]): void {
    assert(this.failure !== null && batch.length > 0, 'a batch rejected with no failure');
    if (this.ctx.groupCommit.policy === 'always') this.failureReported = true;
    rejectAll(batch, this.failure);
  }

  /** Starts refusing (the first failure is the one reported). */
  fail(error: unknown): void {
    if (this.failure !== null) return;
    this.failure = error instanceof EventBusError ? error : ioError(this.names.writing, error);
    failuresSeen += 1;
    this.failureOrder = failuresSeen;
    this.ctx.logger.error({ ...this.names.fields, code: this.failure.code, reason: this.failure.reason }, this.names.failedMessage);
    this.hooks.stopped?.(this.refusal());
  }

  /** The error every change gets after a failure. */
  refusal(): EventBusError {
    return refusalAfter(this.failure!, this.names.refuses);
  }

  /** A sync target that fails the writer when its fsync fails (under any policy); `syncNow`: see SyncTarget. */
  target(name: string, sync: () => Promise<void>, directory = false, syncNow?: () => boolean): SyncTarget {
    return { name, directory, sync, ...(syncNow === undefined ? {} : { syncNow }), failed: (error) => this.fail(ioError(`fsync of ${name}`, error)) };
  }

  /** Rejects what is queued, and every later change, with `reason`. */
  close(reason: EventBusError): void {
    this.closedError = reason;
    rejectAll(this.queued, reason);
    this.queued = [];
    this.hooks.stopped?.(reason);
  }
}

function rejectAll(batch: readonly PendingChange<never>[], error: unknown): void {
  for (const change of batch) change.reject(error);
}
