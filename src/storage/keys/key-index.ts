/**
 * A stream's key index: for each key, the version and offset of each of its events, so that the
 * newest version of a key (expected-version checks, the next version to give) and a key's events
 * from a version on are found without reading the stream. Shaped like an LSM tree (EventStoreDB's
 * PTables): entries (key hash, version, offset)
 *
 * - of the newest events in the memtable (key-memtable.ts), in memory;
 * - of older ones in runs (key-run-file.ts): immutable sorted files, each covering a range of
 *   offsets, written off the append path once the memtable holds `flushEvents` entries (or the
 *   index lags the log by four times that many events), over records already durable;
 * - the newest version of recently used keys in the store's cache (key-cache.ts).
 *
 * Runs are merged four of a level into one of the next (tiered), so a stream holds a few runs
 * per power of four of its size. Memory is the memtable, the cache and 16 bytes per 170 entries
 * of run fences: it does not grow with the number of keys beyond the cache's bound.
 *
 * The index is derived data, never on an append's path to durability: at open it holds the runs
 * found (a run that fails its checks is removed and rebuilt from the log) and replays the log
 * after the newest one into the memtable (at most about four times `flushEvents` events, so an
 * open after a crash stays quick). A hash never answers alone: an entry counts for a key only if
 * the record it points at holds that key (or is gone, below the stream's first offset).
 */
import path from 'node:path';
import { ErrorCodes, isEventBusError } from '../../errors.js';
import { hashKey } from '../format/key-hash.js';
import { RUN_FILE_PATTERN } from '../format/key-run.js';
import type { FileIO } from '../fs/io.js';
import type { OpenFiles } from '../fs/open-files.js';
import type { StoredEvent } from '../log/record-reader.js';
import type { FileCapture } from '../log/segment.js';
import type { StreamLog } from '../log/stream-log.js';
import type { Logger } from '../logger.js';
import type { KeyCache, KeyState } from './key-cache.js';
import { KeyMemtable } from './key-memtable.js';
import { DamagedRun, KeyRun, RunWriter, type KeyEntry } from './key-run-file.js';
import { mergeRuns } from './run-merge.js';
import { SLICE_MS, TimeSlice } from './time-slice.js';

/** An event of a key found through the index, with its record (null: removed by retention). */
export interface KeyEvent extends KeyEntry {
  event: StoredEvent | null;
}

/** The key index's settings (engine-options.ts has the defaults). */
export interface KeyIndexOptions {
  /** Bytes of the store's cache of keys' newest versions. */
  cacheBytes: number;
  /** A stream's memtable is written out as a run once it holds this many entries. */
  flushEvents: number;
  /** The memtables of all streams together hold at most about this many entries. */
  memtableEvents: number;
  /**
   * A memtable that got no append for this long is written out as a run (0: never), so that an
   * idle store killed or crashed leaves its next open no log to replay before a keyed read.
   */
  idleFlushMs: number;
}

/** What every key index of a store shares. */
export interface KeyIndexContext {
  io: FileIO;
  logger: Logger;
  options: KeyIndexOptions;
  cache: KeyCache;
  /** Runs flushes and merges one at a time, and bounds the store's memtables. */
  maintenance: KeyMaintenance;
  /** The engine's bound on open files, which runs' held descriptors count under (none: unbounded). */
  openFiles?: OpenFiles;
}

/** Runs merged at once. */
const MERGE_FAN_IN = 4;
/** The index may lag the log by this many times `flushEvents` events before a run is written. */
const LAG_FACTOR = 4;
/** Runs a stream may hold before its merges take longer slices of the event loop. */
const RELAXED_RUNS = 10;
/** Events of the log replayed into the memtable per turn of the event loop while loading. */
const LOAD_EVENTS_PER_TURN = 2_000;
/** Records of a key this close together (in offsets) are read in one read, up to this many. */
const READ_TOGETHER_GAP = 8;
const READ_TOGETHER_EVENTS = 256;
/** The answer for a key that has no event. */
const NO_EVENT: KeyState = Object.freeze({ version: -1, offset: -1 }) as KeyState;

export class KeyIndex {
  /** Runs, oldest offsets first; together they cover [first run's from, coveredTo). */
  private runs: KeyRun[] = [];
  private readonly memtable = new KeyMemtable();
  /** Keys appended since the log last wrote its queue: their newest entries are not yet readable. */
  private readonly recent = new Map<string, KeyState>();
  /** Every keyed event below this is in a run. */
  private coveredTo: number;
  /** A flush is under way (one at a time, by the maintenance queue). */
  private busy = false;
  /** Merges under way: beside flushes, never in their way (a long merge must not let the memtable grow). */
  private merging: Promise<void> | null = null;
  private closed = false;
  /** A clean close is writing the memtable out: no flush or merge starts, merges under way stop. */
  private closing = false;
  /** Set once gaps are rebuilt and the log after the runs is in the memtable (ensureLoaded). */
  private loaded = false;
  /** While loading in the background: the next offset to replay, and where the replay ends. */
  private loadNext = 0;
  private loadTo = 0;
  private gapsRebuilt = false;
  /** Fires once appends paused for `idleFlushMs` (re-armed by every keyed append). */
  private idleTimer: NodeJS.Timeout | null = null;
  /** For the engine's flush scheduler: once the log has written its queue, `recent` is moot. */
  readonly afterWrite = { flush: (): void => this.recent.clear() };

  private constructor(private readonly ctx: KeyIndexContext, readonly dir: string, readonly stream: number, private readonly log: StreamLog) {
    this.coveredTo = log.fieldsFrom;
  }

  /**
   * Opens the key index of the stream in `dir` whose log is `log` (already recovered): loads and
   * checks its runs, rebuilds what is missing or damaged, and replays the rest of the log into
   * the memtable. Synchronous: it runs before the store takes requests.
   */
  static open(ctx: KeyIndexContext, dir: string, stream: number, log: StreamLog): KeyIndex {
    const index = new KeyIndex(ctx, dir, stream, log);
    index.openRuns();
    ctx.maintenance.add(index);
    index.loadNext = index.coveredTo;
    index.loadTo = log.writtenOffset;
    // A stream that has used keys loads now; one that never has reads its log for them only when
    // it first does (or when its log has run far ahead of its runs: see wantsFlush).
    if (index.runs.some((run) => run.entryCount > 0)) index.startLoading();
    return index;
  }

  private loading = false;
  /** Calls waiting for the background load (persistBelow in the background). */
  private loadWaiters: (() => void)[] = [];

  /** Starts the background load once. */
  private startLoading(): void {
    if (this.loading || this.loaded) return;
    this.loading = true;
    setImmediate(() => this.loadInBackground());
  }

  /**
   * Replays the log after the newest run into the memtable a slice per turn of the event loop
   * after the open, so that neither the open nor the appends meanwhile wait for it. Every event
   * past `loadTo` (the log's end at open) is entered by {@link appended}, and every keyed use
   * first finishes the load ({@link ensureLoaded}): no answer ever comes from a partial index.
   */
  private loadInBackground(): void {
    if (this.loaded || this.closed) return;
    try {
      if (!this.gapsRebuilt) {
        this.gapsRebuilt = true;
        this.rebuildGaps();
      } else {
        this.loadNext = this.replayIntoMemtable(this.loadNext, Math.min(this.loadTo, this.loadNext + LOAD_EVENTS_PER_TURN));
        if (this.loadNext >= this.loadTo) {
          this.loaded = true;
          this.settleLoadWaiters();
          this.ctx.maintenance.check(this); // a run is written off the loop's path if one is due
          return;
        }
      }
    } catch (error) {
      // Tried again in a while; the first keyed use finishes it in its own step and reports there.
      this.ctx.logger.warn({ dir: this.dir, err: error }, 'key index load paused (tried again in a second, or finished on first use)');
      setTimeout(() => this.loadInBackground(), 1000).unref();
      return;
    }
    setImmediate(() => this.loadInBackground());
  }

  /**
   * Finishes loading (rebuilds missing runs, replays the rest of the log after the newest run
   * into the memtable) before any use: the background load usually has by then.
   */
  private ensureLoaded(): void {
    if (this.loaded) return;
    if (!this.gapsRebuilt) {
      this.gapsRebuilt = true;
      this.rebuildGaps();
    }
    this.loadNext = this.replayIntoMemtable(this.loadNext, this.loadTo);
    this.loaded = true;
    this.settleLoadWaiters();
  }

  /**
   * Replays the keyed events in [from, to) into the memtable; returns `to`. No run is written
   * here (a synchronous fsync would stall every stream's appends): the memtable may pass
   * `flushEvents` for a moment, bounded by what a load replays (about `LAG_FACTOR` flushes), and
   * the maintenance queue writes it out once loaded.
   */
  private replayIntoMemtable(from: number, to: number): number {
    this.replay(Math.max(from, this.coveredTo), to, (hi, lo, version, offset) => {
      this.memtable.add(hi, lo, version, offset);
      this.ctx.maintenance.grew(1);
    });
    return to;
  }

  // ------------------------------------------------------------------ lookups

  /**
   * The version and offset of the newest event of `key` (version -1 when it has none), pending
   * appends included. Throws CORRUPT_DATA when a record it must check is damaged.
   */
  newest(key: string): KeyState {
    const known = this.recent.get(key) ?? this.ctx.cache.get(this.stream, key);
    if (known !== undefined) return known;
    this.ensureLoaded();
    const { hi, lo } = hashKey(Buffer.from(key, 'utf8'));
    const found = this.withDamagedRuns(() => {
      for (let i = this.memtable.newest(hi, lo); i >= 0; i = this.memtable.before(i)) {
        if (this.holds(this.memtable.offset(i), key)) return { version: this.memtable.version(i), offset: this.memtable.offset(i) };
      }
      for (let r = this.runs.length - 1; r >= 0; r--) {
        const entry = this.newestInRun(this.runs[r]!, hi, lo, key);
        if (entry !== null) return entry;
      }
      return NO_EVENT;
    });
    this.ctx.cache.set(this.stream, key, found.version, found.offset);
    return found;
  }

  /**
   * Entries that may be `key`'s, with versions from `fromVersion`, in version order, at most
   * `limit`: the records they point at must still be checked to hold `key` (a hash is shared by
   * other keys, rarely).
   */
  candidatesFrom(key: string, fromVersion: number, limit: number): KeyEntry[] {
    this.ensureLoaded();
    const { hi, lo } = hashKey(Buffer.from(key, 'utf8'));
    return this.withDamagedRuns(() => {
      const out: KeyEntry[] = [];
      for (const run of this.runs) {
        if (out.length >= limit) return out;
        out.push(...run.entriesFrom(this.ctx.io, hi, lo, fromVersion, limit - out.length));
      }
      const fresh: KeyEntry[] = [];
      for (let i = this.memtable.newest(hi, lo); i >= 0; i = this.memtable.before(i)) {
        const version = this.memtable.version(i);
        if (version >= fromVersion) fresh.push({ version, offset: this.memtable.offset(i) });
      }
      for (let i = fresh.length - 1; i >= 0 && out.length < limit; i--) out.push(fresh[i]!);
      return out;
    });
  }

  /**
   * The versions and offsets of `key`'s events, checked against the records (a shared hash never
   * answers for another key): from version `fromVersion` on, at most `limit`, in version order
   * (`forward`), or from `fromVersion` down (`backward`, newest first). Pending appends are not
   * included (only events already written). Throws CORRUPT_DATA when a record it must check is
   * damaged.
   */
  offsetsOf(key: string, fromVersion: number, direction: 'forward' | 'backward', limit: number): KeyEntry[] {
    return this.eventsOf(key, fromVersion, direction, limit).map(({ version, offset }) => ({ version, offset }));
  }

  /**
   * {@link offsetsOf} with each event's record, read once for the check and returned (what reads
   * by key build on: no second read). `event` is null for an event retention has removed (below
   * the stream's first offset: its entry is trusted). Records of a key's neighbouring events are
   * read together (appends of several events of a key lie side by side).
   */
  eventsOf(key: string, fromVersion: number, direction: 'forward' | 'backward', limit: number): KeyEvent[] {
    const newest = this.newest(key).version;
    if (newest < 0 || limit <= 0 || fromVersion < 0) return [];
    const start = direction === 'forward' ? fromVersion : Math.max(0, Math.min(fromVersion, newest) - limit + 1);
    const end = direction === 'forward' ? Math.min(newest, fromVersion + limit - 1) : Math.min(fromVersion, newest);
    if (start > end) return [];
    const wanted = end - start + 1;
    const found = new Map<number, KeyEvent>();
    // Entries of other keys sharing the hash interleave (rarely): widen the window until enough.
    for (let slack = 16; ; slack *= 16) {
      const all = this.candidatesFrom(key, start, wanted + slack);
      const candidates = all.filter((entry) => entry.version <= end && !found.has(entry.version) && entry.offset < this.log.writtenOffset);
      const records = this.readRecords(candidates.map((entry) => entry.offset));
      for (const entry of candidates) {
        if (found.has(entry.version)) continue;
        const event = records.get(entry.offset) ?? null;
        // Gone (below the first offset): the entry is trusted, as by holds().
        if (event === null || event.attributes?.key === key) found.set(entry.version, { version: entry.version, offset: entry.offset, event });
      }
      if (found.size >= wanted || all.length < wanted + slack) break;
    }
    const out = [...found.values()].sort((a, b) => a.version - b.version);
    return direction === 'forward' ? out : out.reverse();
  }

  /**
   * The written records at `offsets` (any order): offsets close together are read in one go (a
   * read of the records between costs less than a read per record). Offsets not stored are left
   * out. Throws CORRUPT_DATA when a record is damaged.
   */
  private readRecords(offsets: readonly number[]): Map<number, StoredEvent> {
    const sorted = [...offsets].sort((a, b) => a - b);
    const out = new Map<number, StoredEvent>();
    for (let i = 0; i < sorted.length; ) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1]! - sorted[j]! <= READ_TOGETHER_GAP && sorted[j + 1]! - sorted[i]! < READ_TOGETHER_EVENTS) j++;
      const from = sorted[i]!;
      const events = this.log.readWrittenFrom(from, sorted[j]! - from + 1);
      for (const event of events) out.set(event.offset, event);
      // A read ended early (a segment's end, a damaged record): the rest one by one.
      for (let k = i; k <= j; k++) {
        const offset = sorted[k]!;
        if (out.has(offset)) continue;
        const event = this.log.readWritten(offset);
        if (event !== null) out.set(offset, event);
      }
      i = j + 1;
    }
    return out;
  }

  /**
   * Runs a lookup; when it meets a damaged run, the run is removed and its range rebuilt from the
   * log, and the lookup runs again.
   */
  private withDamagedRuns<T>(lookup: () => T): T {
    for (let attempt = 0; ; attempt++) {
      try {
        return lookup();
      } catch (error) {
        if (!(error instanceof DamagedRun) || attempt >= 3) throw error;
        this.replaceDamaged(error);
      }
    }
  }

  /** True when the event at `offset` is `key`'s (or is gone: then its entry is trusted). */
  private holds(offset: number, key: string): boolean {
    // Not yet written: only keys in `recent` have such entries, and `key` was not there.
    if (offset >= this.log.writtenOffset) return false;
    if (offset < this.log.firstOffset) return true;
    const event = this.log.readWritten(offset);
    return event === null || event.attributes?.key === key;
  }

  private newestInRun(run: KeyRun, hi: number, lo: number, key: string): KeyState | null {
    // The newest entry of the hash is almost always the key's; look further only if not.
    for (const limit of [1, Number.MAX_SAFE_INTEGER]) {
      const entries = run.newestOf(this.ctx.io, hi, lo, limit);
      for (const entry of entries) if (this.holds(entry.offset, key)) return entry;
      if (entries.length < limit) return null;
    }
    return null;
  }

  /** Removes a damaged run and puts runs rebuilt from the log in its place. */
  private replaceDamaged(damage: DamagedRun): void {
    this.ctx.logger.error({ file: damage.run.path, reason: damage.reason }, 'key index run is damaged: removed, rebuilt from the log');
    this.reportLostVersions(damage.run.path, damage.run.fromOffset);
    const r = this.runs.indexOf(damage.run);
    if (r < 0) return;
    this.discard(damage.run);
    const rebuilt = this.buildRuns(Math.max(damage.run.fromOffset, this.log.fieldsFrom), damage.run.toOffset);
    this.runs.splice(r, 1, ...rebuilt);
  }

  // ------------------------------------------------------------------ appends

  /**
   * Records an append of `count` events of `key` from `firstVersion` at `firstOffset` (pending:
   * not yet written). Called in the same synchronous step that assigned them.
   */
  appended(key: string, firstVersion: number, firstOffset: number, count: number): void {
    this.ensureLoaded();
    const { hi, lo } = hashKey(Buffer.from(key, 'utf8'));
    for (let i = 0; i < count; i++) this.memtable.add(hi, lo, firstVersion + i, firstOffset + i);
    const last = { version: firstVersion + count - 1, offset: firstOffset + count - 1 };
    this.recent.set(key, last);
    this.ctx.cache.set(this.stream, key, last.version, last.offset);
    this.ctx.maintenance.grew(count);
    this.armIdleFlush();
  }

  /** (Re)starts the wait after which an idle memtable is written out. */
  private armIdleFlush(): void {
    const idleMs = this.ctx.options.idleFlushMs;
    if (idleMs <= 0) return;
    if (this.idleTimer !== null) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (!this.closed && !this.closing && this.memtable.count > 0) this.ctx.maintenance.flushIdle(this);
    }, idleMs);
    this.idleTimer.unref();
  }

  /** Entries held in memory (the store bounds their sum). */
  get memtableEntries(): number {
    return this.memtable.count;
  }

  /** Bytes held in memory: the memtable and the runs' fences. */
  get memoryBytes(): number {
    return this.memtable.bytes + this.runs.reduce((sum, run) => sum + run.memoryBytes, 0);
  }

  /** Figures: runs, their entries and bytes on disk, entries in memory. */
  stats(): { runs: number; runEntries: number; runBytes: number; memtableEntries: number } {
    return {
      runs: this.runs.length,
      runEntries: this.runs.reduce((sum, run) => sum + run.entryCount, 0),
      runBytes: this.runs.reduce((sum, run) => sum + run.fileBytes, 0),
      memtableEntries: this.memtable.count,
    };
  }

  /**
   * Whether a run is due (the memtable is full, or the index lags the log too far: also for a
   * stream without keys, so that a load after a crash never replays more than that). Never while
   * the background load is under way: its end asks again.
   */
  get wantsFlush(): boolean {
    if (this.closed || this.closing || this.busy) return false;
    const visible = this.log.visibleOffset;
    const flushEvents = this.ctx.options.flushEvents;
    if (!this.loaded) {
      // A flush would finish the load in an unrelated append's step: load in the background
      // instead once the log runs far ahead; the load's end asks again.
      if (visible - this.coveredTo >= LAG_FACTOR * flushEvents) this.startLoading();
      return false;
    }
    return this.memtable.countBelow(visible) >= flushEvents || visible - this.coveredTo >= LAG_FACTOR * flushEvents;
  }

  /**
   * Writes the memtable's entries of durable events as a run, then starts merging runs if four
   * of a level have gathered. `force`: even if no threshold is reached (the store's memtables are
   * over their bound). Run by the maintenance queue, one at a time; merges go on beside it, so
   * that the next flush never waits for a merge (the memtable stays within its bound however
   * long a merge of large runs takes).
   */
  async flushAndMerge(force = false): Promise<void> {
    if (this.closed || this.closing || this.busy || (!force && !this.wantsFlush)) return;
    this.busy = true;
    try {
      this.ensureLoaded();
      await this.flush();
    } finally {
      this.busy = false;
    }
    this.startMerging();
  }

  /** Starts merging if due and no merge is under way; the maintenance queue's idle() awaits it. */
  private startMerging(): void {
    if (this.merging !== null || this.closed || this.closing || this.mergeGroup() === null) return;
    this.merging = this.mergeIfDue()
      .catch((error: unknown) => this.ctx.logger.warn({ dir: this.dir, err: error }, 'key index merge failed (retried after the next flush; the index stays correct meanwhile)'))
      .finally(() => {
        this.merging = null;
      });
    this.ctx.maintenance.track(this.merging);
  }

  /**
   * A merge's slice: about a millisecond while runs are few; longer as they pile up (appends
   * taking the event loop's time), so that merges keep up and lookups stay a few runs deep.
   */
  private mergeSliceMs(): number {
    const excess = this.runs.length - RELAXED_RUNS;
    return excess <= 0 ? SLICE_MS : Math.min(50, SLICE_MS * 2 ** Math.min(excess, 6));
  }

  /**
   * Four adjacent runs of one level, the newest such group first (runs flushed while a merge
   * went on may sit after a group of an older level); null when none.
   */
  private mergeGroup(): KeyRun[] | null {
    for (let at = this.runs.length - MERGE_FAN_IN; at >= 0; at--) {
      const group = this.runs.slice(at, at + MERGE_FAN_IN);
      const level = this.level(group[0]!);
      if (group.every((run) => this.level(run) === level && run.entryCount > 0)) return group;
    }
    return null;
  }

  private async flush(): Promise<void> {
    const to = this.log.visibleOffset;
    if (to <= this.coveredTo) return;
    // Visible is durable under `always`; under the other policies make it so first.
    await this.log.makeDurable();
    if (this.closed) return;
    const count = this.memtable.countBelow(to);
    const newest = this.runs[this.runs.length - 1];
    // An empty run (a keyless stretch of the log) is replaced by the next one, not kept beside it.
    const replacing = newest !== undefined && newest.entryCount === 0 ? newest : null;
    const writer = new RunWriter(this.ctx.io, this.dir, replacing?.fromOffset ?? this.coveredTo, to, Date.now(), this.ctx.openFiles ?? null);
    const order = this.memtable.sortedPrefix(count);
    // In slices, giving the event loop turns: appends meanwhile only add entries past `count`.
    const slice = new TimeSlice();
    for (let k = 0; k < order.length; k++) {
      const i = order[k]!;
      writer.add(this.memtable.hashHiOf(i), this.memtable.hashLoOf(i), this.memtable.version(i), this.memtable.offset(i));
      // Over the store's bound on memtables the flush runs through: appends outpace it otherwise.
      if (slice.due(k) && !this.ctx.maintenance.overBound) {
        await slice.pause();
        if (this.closed) {
          writer.abandon();
          return;
        }
      }
    }
    const run = this.adopt(await writer.finish());
    if (this.closed) {
      this.forget(run);
      return;
    }
    if (replacing !== null) {
      this.runs.pop();
      this.discard(replacing);
    }
    this.runs.push(run);
    this.memtable.dropPrefix(count);
    this.ctx.maintenance.shrank(count);
    this.coveredTo = to;
  }

  /** Merges runs while four adjacent ones share a level. */
  private async mergeIfDue(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const group = this.mergeGroup();
      if (group === null) return;
      let merged: KeyRun | null;
      try {
        merged = await mergeRuns(this.ctx.io, this.dir, group, this.log.firstOffset, () => this.closed || this.closing, () => this.mergeSliceMs(), this.ctx.openFiles ?? null);
      } catch (error) {
        if (!(error instanceof DamagedRun)) throw error;
        this.replaceDamaged(error);
        return;
      }
      if (merged === null) return;
      if (this.closed || this.closing) {
        merged.release();
        return;
      }
      const at = this.runs.indexOf(group[0]!);
      if (at < 0 || this.runs[at + MERGE_FAN_IN - 1] !== group[MERGE_FAN_IN - 1]) {
        merged.release();
        this.removeFile(merged.path); // the list changed meanwhile (a rebuild): keep what it has
        return;
      }
      this.runs.splice(at, MERGE_FAN_IN, this.adopt(merged));
      for (const run of group) this.discard(run);
      this.ctx.io.syncDir(this.dir).catch(() => {}); // the removals matter to nothing; an open resolves leftovers
    }
  }

  /**
   * A run's level: about one flush of entries is level 0, about four is level 1, sixteen level 2
   * (the boundaries sit halfway, in powers of four, so that runs a little over or under size
   * still group with their peers).
   */
  private level(run: KeyRun): number {
    const ratio = (2 * run.entryCount) / this.ctx.options.flushEvents;
    return ratio <= 1 ? 0 : Math.max(0, Math.floor(Math.log(ratio) / Math.log(MERGE_FAN_IN)));
  }

  // ------------------------------------------------------------------ open and rebuild

  /**
   * Opens the runs in the directory (their trailers and fences: a few reads each). A run inside
   * another (a merge's leftover input), past the log's end (records a power loss took under a
   * relaxed fsync policy) or failing its checks is removed; the gap it leaves is rebuilt from the
   * log when the index is first used.
   */
  private openRuns(): void {
    const { io, logger, openFiles } = this.ctx;
    const end = this.log.writtenOffset;
    const found: { from: number; to: number; file: string }[] = [];
    for (const name of io.readdir(this.dir)) {
      const match = RUN_FILE_PATTERN.exec(name);
      if (match !== null) found.push({ from: Number(match[1]), to: Number(match[2]), file: path.join(this.dir, name) });
    }
    // Widest first among runs starting together.
    found.sort((a, b) => a.from - b.from || b.to - a.to);
    let cursor = -1;
    for (const candidate of found) {
      if (candidate.from < cursor || candidate.to > end) {
        if (candidate.to > end) logger.warn({ file: candidate.file, logEnd: end }, 'key index run covers more than the log holds: removed, rebuilt from the log');
        this.removeFile(candidate.file);
        continue;
      }
      const run = KeyRun.open(io, candidate.file, openFiles ?? null);
      if (typeof run === 'string') {
        logger.warn({ file: candidate.file, reason: run }, 'key index run fails its check: removed, rebuilt from the log');
        this.reportLostVersions(candidate.file, candidate.from);
        this.removeFile(candidate.file);
        continue;
      }
      this.runs.push(this.adopt(run));
      cursor = candidate.to;
    }
    this.coveredTo = Math.max(cursor, this.log.fieldsFrom);
  }

  /**
   * A removed run whose range starts below the log's first offset held the entries of events that
   * retention or a truncation removed: the log cannot give them back, so keys whose events were all
   * among them lose their newest version (no_stream is accepted for them again, version 0 given
   * again). Nothing can recover it; the operator is told (eventbus verify says it too).
   */
  private reportLostVersions(file: string, fromOffset: number): void {
    const logFrom = this.log.firstOffset;
    if (fromOffset >= logFrom) return;
    this.ctx.logger.error(
      { file, fromOffset, logFirstOffset: logFrom },
      'a damaged key index run held entries of events retention or truncation removed: keys whose events were all among them lose their versions (no_stream accepted again, versions given again from 0)',
    );
  }

  /** Rebuilds from the log the ranges no run covers (runs removed at open). */
  private rebuildGaps(): void {
    const start = this.log.fieldsFrom;
    let covered = Math.min(this.runs[0]?.fromOffset ?? start, start);
    for (let r = 0; r < this.runs.length; r++) {
      const run = this.runs[r]!;
      if (run.fromOffset > covered) {
        const rebuilt = this.buildRuns(covered, run.fromOffset);
        this.runs.splice(r, 0, ...rebuilt);
        r += rebuilt.length;
      }
      covered = run.toOffset;
    }
  }

  /** Builds runs for the keyed events in [from, to) from the log, synchronously. */
  private buildRuns(from: number, to: number): KeyRun[] {
    const runs: KeyRun[] = [];
    const chunk = new KeyMemtable();
    let chunkFrom = from;
    const write = (until: number) => {
      const writer = new RunWriter(this.ctx.io, this.dir, chunkFrom, until, Date.now(), this.ctx.openFiles ?? null);
      const count = chunk.count;
      for (const i of chunk.sortedPrefix(count)) writer.add(chunk.hashHiOf(i), chunk.hashLoOf(i), chunk.version(i), chunk.offset(i));
      runs.push(this.adopt(writer.finishNow()));
      chunk.dropPrefix(count);
      chunkFrom = until;
    };
    this.replay(from, to, (hi, lo, version, offset) => {
      chunk.add(hi, lo, version, offset);
      if (chunk.count >= this.ctx.options.flushEvents) write(offset + 1);
    });
    if (chunkFrom < to) write(to);
    return runs;
  }

  /**
   * Reads the keyed events of the log in [from, to) and hands each one's entry to `visit`.
   * Damaged records are skipped (their damage is reported by the log).
   */
  private replay(from: number, to: number, visit: (hi: number, lo: number, version: number, offset: number) => void): void {
    let next = Math.max(from, this.log.firstOffset);
    while (next < to) {
      let events;
      try {
        events = this.log.read(next, Math.min(1000, to - next), 4 * 1024 * 1024);
      } catch (error) {
        const damage = isEventBusError(error, ErrorCodes.CORRUPT_DATA) ? this.log.damageAt(next) : undefined;
        if (damage === undefined) throw error;
        next = Math.max(next + 1, damage.lastOffset + 1);
        continue;
      }
      if (events.length === 0) break;
      for (const event of events) {
        if (event.offset >= to) return;
        const key = event.attributes?.key;
        if (key !== undefined) {
          const { hi, lo } = hashKey(Buffer.from(key, 'utf8'));
          visit(hi, lo, event.attributes!.version!, event.offset);
        }
      }
      next = events[events.length - 1]!.offset + 1;
    }
  }

  // ------------------------------------------------------------------ snapshots and closing

  /** How a snapshot at `visible` takes the runs: those wholly below it, linked. */
  captureFiles(visible: number): FileCapture[] {
    return this.runs.filter((run) => run.toOffset <= visible).map((run) => ({ kind: 'link', path: run.path, size: run.fileBytes, crc: run.fileCrc, durable: true }));
  }

  /**
   * A clean close's last upkeep: stops merges (at their next chunk) and writes every entry of the
   * memtable out as a run, so that the next open has no log to replay and its first keyed read
   * answers from the runs at once. Called once the log has written and made visible its queue;
   * an index never loaded (no keyed use since the open) is left as it is. Failures are logged:
   * the index stays derived data, rebuilt from the log at the next open.
   */
  async flushForClose(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    try {
      // A flush or merge under way ends first (merges stop at their next chunk).
      while (this.busy || this.merging !== null) await Promise.all([this.merging, new Promise((resolve) => setImmediate(resolve))]);
      if (!this.loaded || this.closed || this.log.visibleOffset <= this.coveredTo) return;
      this.busy = true;
      try {
        await this.flush();
      } finally {
        this.busy = false;
      }
    } catch (error) {
      this.ctx.logger.warn({ dir: this.dir, err: error }, 'key index could not write its memtable at close (the next open replays the log after its newest run)');
    }
  }

  /**
   * Makes the entries of the events below `offset` durable in a run, before a truncation or
   * retention removes those events: the log cannot give them back at the next open, and a key
   * whose events are all removed must keep its newest version (merges keep it, run-merge.ts),
   * also after a crash. `inBackground`: an index not yet loaded loads a slice per turn of the
   * event loop first (retention's pass), rather than in this step (a truncation's request).
   */
  async persistBelow(offset: number, inBackground = false): Promise<void> {
    if (this.closed || this.closing || this.coveredTo >= offset) return;
    if (inBackground) await this.loadedInBackground();
    else this.ensureLoaded();
    while (this.busy) await new Promise((resolve) => setImmediate(resolve));
    if (this.coveredTo >= offset || this.closed || this.closing) return;
    this.busy = true;
    try {
      await this.flush();
    } finally {
      this.busy = false;
    }
  }

  /**
   * Every keyed event below this offset has its entry in a run on disk: what the log may lose
   * without a key's newest version being lost with it (retention removes nothing at or past it).
   */
  get writtenOutTo(): number {
    return this.coveredTo;
  }

  /** False once the index is closing or closed (its stream deleted, or the store closing). */
  get isOpen(): boolean {
    return !this.closed && !this.closing;
  }

  /** Resolves once the index is loaded (started in the background if not yet), or closed. */
  private loadedInBackground(): Promise<void> {
    if (this.loaded || this.closed) return Promise.resolve();
    this.startLoading();
    return new Promise((resolve) => this.loadWaiters.push(resolve));
  }

  private settleLoadWaiters(): void {
    const waiters = this.loadWaiters;
    this.loadWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Stops flushes and merges (a run being written is finished or left as a temporary file). */
  close(): void {
    this.closed = true;
    this.settleLoadWaiters();
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.ctx.maintenance.remove(this);
    for (const run of this.runs) this.forget(run);
  }

  /**
   * Takes a run into the index's keeping: its bloom filter stays in memory if the store's budget
   * for filters (half the key cache's bytes) has room, else it is dropped (lookups then read a
   * block of the run instead).
   */
  private adopt(run: KeyRun): KeyRun {
    if (run.bloomMemoryBytes > 0 && !this.ctx.cache.reserve(run.bloomMemoryBytes)) run.dropBloom();
    return run;
  }

  /** Lets go of a run's memory and descriptor (the file stays). */
  private forget(run: KeyRun): void {
    this.ctx.cache.release(run.bloomMemoryBytes);
    run.dropBloom();
    run.release();
  }

  /** Lets go of a run and removes its file. */
  private discard(run: KeyRun): void {
    this.forget(run);
    this.removeFile(run.path);
  }

  private removeFile(file: string): void {
    try {
      if (this.ctx.io.stat(file) !== null) this.ctx.io.unlink(file);
    } catch (error) {
      this.ctx.logger.warn({ file, err: error }, 'could not remove a key index run (removed at the next open)');
    }
  }
}

/**
 * The store's key index upkeep: flushes and merges run one at a time (they read and write whole
 * runs), and the memtables of all streams are held to `memtableEvents` entries together by
 * flushing the largest when they pass it.
 */
export class KeyMaintenance {
  private readonly indexes = new Set<KeyIndex>();
  private queue: Promise<void> = Promise.resolve();
  private queued = new Set<KeyIndex>();
  private readonly merges = new Set<Promise<void>>();
  private entries = 0;

  constructor(private readonly options: KeyIndexOptions, private readonly logger: Logger) {}

  add(index: KeyIndex): void {
    this.indexes.add(index);
    this.entries += index.memtableEntries;
  }

  remove(index: KeyIndex): void {
    if (this.indexes.delete(index)) this.entries -= index.memtableEntries;
  }

  /** Entries held in every memtable. */
  get memtableEntries(): number {
    return this.entries;
  }

  /** Whether the memtables together hold more than their bound. */
  get overBound(): boolean {
    return this.entries > this.options.memtableEvents;
  }

  grew(count: number): void {
    this.entries += count;
  }

  shrank(count: number): void {
    this.entries -= count;
  }

  /** Called when events became visible in `index`'s stream: queues its flush if one is due. */
  check(index: KeyIndex): void {
    if (index.wantsFlush) this.enqueue(index, false);
    if (this.entries > this.options.memtableEvents) {
      let largest: KeyIndex | null = null;
      for (const candidate of this.indexes) if (largest === null || candidate.memtableEntries > largest.memtableEntries) largest = candidate;
      if (largest !== null) this.enqueue(largest, true);
    }
  }

  /** Writes out the memtable of an index whose appends paused (KeyIndexOptions.idleFlushMs). */
  flushIdle(index: KeyIndex): void {
    this.enqueue(index, true);
  }

  private enqueue(index: KeyIndex, force: boolean): void {
    if (this.queued.has(index)) return;
    this.queued.add(index);
    this.queue = this.queue.then(async () => {
      this.queued.delete(index);
      try {
        await index.flushAndMerge(force);
      } catch (error) {
        this.logger.warn({ dir: index.dir, err: error }, 'key index upkeep failed (retried later; the index stays correct meanwhile)');
      }
    });
  }

  /** Counts a merge under way in {@link idle}. */
  track(merge: Promise<void>): void {
    this.merges.add(merge);
    void merge.finally(() => this.merges.delete(merge));
  }

  /** Resolves once the queued upkeep and the merges under way are done (close, tests). */
  async idle(): Promise<void> {
    for (;;) {
      const queue = this.queue;
      await queue;
      await Promise.all([...this.merges]);
      if (queue === this.queue && this.merges.size === 0) return;
    }
  }
}
