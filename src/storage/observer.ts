/**
 * Observing the engine from the outside: a typed event per group-commit round, per segment roll
 * and seal, per recovery, per consumer-journal compaction and per snapshot, so that an embedder
 * can record metrics and a researcher can study batching, recovery and compaction without
 * patching the engine. No metrics library here: an {@link EngineObserver} is plain callbacks
 * (a metrics exporter is one of them).
 *
 * ```ts
 * const engine = await Engine.open({ dataDir, observer: { recovery: (r) => console.log(r.totals) } });
 * const stop = engine.observe({ commit: (round) => histogram.record(round.oldestWaitMs) });
 * stop(); // removes it
 * ```
 *
 * Nobody listening costs nothing measurable: the group commit reads no clock and builds no
 * event unless a `commit` callback is set, and the other events are rare (one per roll, seal,
 * compaction, snapshot or open). Callbacks run synchronously on the engine's thread, in the
 * middle of its work: keep them short. A callback that throws is logged (warn) and ignored.
 */
import type { EventBusError } from '../errors.js';
import type { CommitRound } from './fs/commit-round.js';
import type { GroupCommit } from './fs/group-commit.js';
import type { Damage } from './log/segment-check.js';
import { noRepairs, type RecoveryCounts, type RecoveryNoteKind, type RecoveryNotes } from './log/recovery-notes.js';
import type { Logger } from './logger.js';
import type { SnapshotResult } from './tools/snapshot.js';

export type { CommitRound, RecoveryCounts };

/** A segment roll: the active segment of a stream was frozen (full) and a new one started. */
export interface SegmentRoll {
  stream: string;
  /** The frozen segment: its first offset, records and log bytes. It is sealed once its records are durable ({@link SegmentSeal}). */
  frozenBaseOffset: number;
  records: number;
  logBytes: number;
  /** First offset of the new active segment. */
  baseOffset: number;
}

/** A seal made durable: the segment is immutable from now on (snapshots hard-link it, recovery trusts it unread). */
export interface SegmentSeal {
  stream: string;
  baseOffset: number;
  records: number;
  logBytes: number;
  /** From the roll to the seal being durable (its records' fsync, the trailer's, the index's), ms. */
  durationMs: number;
}

/** What recovery did to one stream while the store opened: its repairs ({@link RecoveryCounts}) and the rest. */
export interface StreamRecovery extends RecoveryCounts {
  stream: string;
  /** The stream's id (the name of its directory under `streams/`). */
  id: string;
  /** Time taken to open the stream: its segments and its consumer journal, ms. */
  durationMs: number;
  /** Segments and readable events after recovery (0 for a stream that could not be opened). */
  segments: number;
  events: number;
  /** Damage found and kept (unreadable records, lost consumer changes): what `stats(name).damage` lists. */
  damage: Damage[];
  /** Why the stream could not be opened (its calls fail with this error until repaired), or null. */
  error: { code: string; reason: string } | null;
}

/** The figures of {@link StreamRecovery} summed over every stream. */
export interface RecoveryTotals extends RecoveryCounts {
  streams: number;
  /** Streams that could not be opened. */
  broken: number;
  segments: number;
  events: number;
  /** Damage reports over every stream. */
  damage: number;
}

/** One opening of a store: what the last process left (clean close or crash) and what was repaired. */
export interface RecoveryReport {
  dataDir: string;
  /**
   * True when the last process died with the store open after it could take writes (a LOCK naming
   * no running process was found, without the clean close's crc-checkpoint beside it). False after
   * a clean close, and after an open killed before it took any write (LOCK and checkpoint).
   */
  afterCrash: boolean;
  /** The whole open, LOCK to ready, ms. */
  durationMs: number;
  /** After a crash or an interrupted open (a LOCK found): the fsync of every file of the store first (what the dead process wrote may be in the page cache only), ms; 0 otherwise. */
  syncMs: number;
  /** Stream directories the catalog does not list, removed (a crash during a create or a delete). */
  orphansRemoved: number;
  streams: StreamRecovery[];
  totals: RecoveryTotals;
}

/** A consumer journal rewritten as one state record per consumer (it had grown past its bound). */
export interface JournalCompaction {
  stream: string;
  fromBytes: number;
  toBytes: number;
  /** Consumers in the compacted journal. */
  consumers: number;
  /** From the start of the rewrite to the new file being the durable journal (its rename fsynced), ms. */
  durationMs: number;
}

/** A snapshot that completed or failed. */
export interface SnapshotTaken {
  /** The directory the snapshot was taken into. */
  parentDir: string;
  durationMs: number;
  /** What the snapshot holds; null when it failed. */
  result: SnapshotResult | null;
  /** Why it failed (SNAPSHOT_FAILED, …); null when it completed. */
  error: EventBusError | null;
}

/**
 * Callbacks for what the engine does; set any of them. Pass one as `EngineOptions.observer` (the
 * only way to see the recovery of `Engine.open`), or add one later with `engine.observe`.
 */
export interface EngineObserver {
  /** After each group-commit round (fs/commit-round.ts has every field). */
  commit?(round: CommitRound): void;
  /** When a stream's active segment is frozen and a new one started. */
  roll?(roll: SegmentRoll): void;
  /** When a frozen segment's seal is durable. Seals finish concurrently: a stream's may come out of roll order. */
  seal?(seal: SegmentSeal): void;
  /** Once per open, when recovery is done (also after a clean close: then it only checked). */
  recovery?(report: RecoveryReport): void;
  /** When a consumer journal's compaction is durable. */
  compaction?(compaction: JournalCompaction): void;
  /** When a snapshot completes or fails. */
  snapshot?(snapshot: SnapshotTaken): void;
}

type EventName = keyof EngineObserver;
type EventOf<K extends EventName> = Parameters<NonNullable<EngineObserver[K]>>[0];

/** The observers of one engine: a fan-out that calls each callback in turn, isolating failures. */
export class Observers {
  private readonly all: EngineObserver[] = [];

  constructor(private readonly logger: Logger, private readonly groupCommit: GroupCommit) {}

  /** Adds `observer`; returns the function that removes it. */
  add(observer: EngineObserver): () => void {
    this.all.push(observer);
    this.wire();
    return () => {
      const at = this.all.indexOf(observer);
      if (at >= 0) this.all.splice(at, 1);
      this.wire();
    };
  }

  /** True when some observer has a callback for `name` (build the event only then). */
  wants(name: EventName): boolean {
    for (const observer of this.all) if (observer[name] !== undefined) return true;
    return false;
  }

  /** Calls every `name` callback with the event `build` makes, built only when some observer wants it. */
  emitWanted<K extends EventName>(name: K, build: () => EventOf<K>): void {
    if (this.wants(name)) this.emit(name, build());
  }

  /** Calls every `name` callback with `event`. */
  emit<K extends EventName>(name: K, event: EventOf<K>): void {
    for (const observer of this.all) {
      const callback = observer[name] as ((event: EventOf<K>) => void) | undefined;
      if (callback === undefined) continue;
      try {
        callback.call(observer, event);
      } catch (error) {
        this.logger.warn({ err: error, event: name }, 'an engine observer threw; ignored');
      }
    }
  }

  /** The group commit measures rounds only while someone wants them. */
  private wire(): void {
    this.groupCommit.watch.set(this.wants('commit') ? (round) => this.emit('commit', round) : null);
  }
}

/** Counts one stream's repairs while it is opened (the engine sets it as the context's `recovery`). */
export class RecoveryTally implements RecoveryNotes {
  readonly counts: RecoveryCounts = noRepairs();

  note(kind: RecoveryNoteKind, amount = 1): void {
    this.counts[kind] += amount;
  }
}

/** The totals of a recovery's streams. */
export function recoveryTotals(streams: readonly StreamRecovery[]): RecoveryTotals {
  const repairs = noRepairs();
  const kinds = Object.keys(repairs) as RecoveryNoteKind[];
  const totals: RecoveryTotals = { streams: streams.length, broken: 0, segments: 0, events: 0, ...repairs, damage: 0 };
  for (const s of streams) {
    if (s.error !== null) totals.broken += 1;
    totals.segments += s.segments;
    totals.events += s.events;
    for (const kind of kinds) totals[kind] += s[kind];
    totals.damage += s.damage.length;
  }
  return totals;
}
