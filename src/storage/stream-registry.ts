/**
 * The streams of an open store, in memory: each stream's catalog entry, log, consumers and
 * long-polls (one set per stream, long-polls.ts), found by name, by catalog number (event ids)
 * or by log. Also the streams whose files could not be opened (every operation but delete
 * reports why) and the names being created, so that a name is taken once.
 */
import { ErrorCodes, EventBusError, OriginalReasons } from '../errors.js';
import type { CatalogEntry } from './catalog.js';
import type { StreamConsumers } from './consumers/stream-consumers.js';
import type { KeyIndex } from './keys/key-index.js';
import type { StreamLog } from './log/stream-log.js';
import { LongPolls } from './long-polls.js';

/** An open stream. */
export interface StreamState {
  entry: CatalogEntry;
  log: StreamLog;
  consumers: StreamConsumers;
  /** The stream's key index (keys/key-index.ts). */
  keys: KeyIndex;
  polls: LongPolls;
}

export class StreamRegistry {
  private readonly byName = new Map<string, StreamState>();
  private readonly byNumber = new Map<number, StreamState>();
  private readonly byLog = new Map<StreamLog, StreamState>();
  private readonly broken = new Map<string, { entry: CatalogEntry; error: EventBusError }>();
  private readonly creating = new Set<string>();
  /** Set by {@link endWaits}: the long-polls of every stream, present and future, end at once. */
  private waitsEnded = false;

  constructor(private readonly maxStreams: number) {}

  /** The long-polls of a stream about to be added (already ended after {@link endWaits}). */
  newPolls(): LongPolls {
    const polls = new LongPolls();
    if (this.waitsEnded) polls.end();
    return polls;
  }

  add(state: StreamState): void {
    this.byName.set(state.entry.name, state);
    this.byNumber.set(state.entry.number, state);
    this.byLog.set(state.log, state);
  }

  /** A listed stream whose files could not be opened: operations on it fail with `error`. */
  addBroken(entry: CatalogEntry, error: EventBusError): void {
    this.broken.set(entry.name, { entry, error });
  }

  /** The open stream `name`; throws STREAM_NOT_FOUND, or the error that kept it from opening. */
  get(name: string): StreamState {
    const state = this.byName.get(name);
    if (state !== undefined) return state;
    const brokenStream = this.broken.get(name);
    if (brokenStream !== undefined) throw brokenStream.error;
    throw streamNotFound(name);
  }

  /** The open stream `name`, if any. */
  find(name: string): StreamState | undefined {
    return this.byName.get(name);
  }

  /** The catalog entry of stream `name`, open or broken. */
  entry(name: string): CatalogEntry | undefined {
    return this.byName.get(name)?.entry ?? this.broken.get(name)?.entry;
  }

  findByNumber(number: number): StreamState | undefined {
    return this.byNumber.get(number);
  }

  findByLog(log: StreamLog): StreamState | undefined {
    return this.byLog.get(log);
  }

  /** Every open stream. */
  open(): StreamState[] {
    return [...this.byName.values()];
  }

  /** Every stream, broken ones included, in creation order. */
  entries(): CatalogEntry[] {
    const all = [...this.byName.values()].map((s) => s.entry);
    for (const { entry } of this.broken.values()) all.push(entry);
    return all.sort((a, b) => a.number - b.number);
  }

  get openCount(): number {
    return this.byName.size;
  }

  /** The streams that could not be opened, with why. */
  brokenStreams(): { entry: CatalogEntry; error: EventBusError }[] {
    return [...this.broken.values()];
  }

  get brokenCount(): number {
    return this.broken.size;
  }

  /**
   * Takes `name` for a stream being created, until {@link release}. Throws STREAM_EXISTS, or
   * TOO_MANY_STREAMS at the limit (counting the streams being created). `check` runs between
   * the two (the catalog's refusal after a failure comes before the limit).
   */
  reserve(name: string, check: () => void): void {
    if (this.byName.has(name) || this.broken.has(name) || this.creating.has(name)) {
      throw new EventBusError(ErrorCodes.STREAM_EXISTS, OriginalReasons.streamExists(name));
    }
    check();
    if (this.byName.size + this.broken.size + this.creating.size >= this.maxStreams) {
      throw new EventBusError(ErrorCodes.TOO_MANY_STREAMS, `the store holds the maximum of ${this.maxStreams} streams (storage.max_streams)`);
    }
    this.creating.add(name);
  }

  release(name: string): void {
    this.creating.delete(name);
  }

  /** Forgets stream `name` (being deleted); returns its state if it was open. */
  remove(name: string): StreamState | undefined {
    const state = this.byName.get(name);
    const entry = this.entry(name);
    this.byName.delete(name);
    this.broken.delete(name);
    if (entry !== undefined) this.byNumber.delete(entry.number);
    if (state !== undefined) this.byLog.delete(state.log);
    return state;
  }

  /** Ends every long-poll now (they answer with what is due), and those that start later. */
  endWaits(): void {
    this.waitsEnded = true;
    for (const state of this.byName.values()) state.polls.end();
  }
}

export function streamNotFound(name: string): EventBusError {
  return new EventBusError(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(name));
}
