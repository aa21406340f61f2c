/**
 * Creating, opening and deleting streams in step with the catalog (catalog.ts): a stream exists
 * exactly when the durable catalog lists it. Its directory and first segment are made durable
 * before the catalog lists it, and removed only after the catalog no longer does; a crash in
 * between leaves a directory the catalog does not list, which the next open removes.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ErrorCodes, EventBusError, ioError } from '../errors.js';
import type { Catalog, CatalogEntry } from './catalog.js';
import { StreamConsumers, type ConsumersContext } from './consumers/stream-consumers.js';
import type { ResolvedOptions } from './engine-options.js';
import { TEMPORARY_SUFFIX } from './fs/atomic-file.js';
import type { FlushScheduler } from './fs/flush-scheduler.js';
import { KeyIndex, type KeyIndexContext } from './keys/key-index.js';
import { StreamLog, type LogContext } from './log/stream-log.js';
import { streamNotFound, type StreamRegistry, type StreamState } from './stream-registry.js';
import { validateStreamName } from './stream-name.js';
import type { StreamRetention } from './stream-settings.js';

export const STREAMS_DIR = 'streams';

/** What the lifecycle works with: the engine's pieces. */
export interface LifecycleParts {
  options: ResolvedOptions;
  context: LogContext & ConsumersContext;
  keyIndex: KeyIndexContext;
  streams: StreamRegistry;
  catalog: Catalog;
  flusher: FlushScheduler;
  /** True once the engine is closing: nothing new is opened. */
  closed(): boolean;
}

export class StreamLifecycle {
  constructor(private readonly parts: LifecycleParts) {}

  private dir(id: string): string {
    return path.join(this.parts.options.dataDir, STREAMS_DIR, id);
  }

  /** Opens a listed stream, recovering its files; one that cannot be opened is kept as broken. */
  open(entry: CatalogEntry): void {
    const { context, options, streams } = this.parts;
    const dir = this.dir(entry.id);
    try {
      const log = StreamLog.open(context, dir, Date.now());
      try {
        this.register(entry, log);
      } catch (error) {
        log.close();
        throw error;
      }
    } catch (error) {
      const failure = error instanceof EventBusError ? error : ioError(`opening stream ${dir}`, error);
      options.logger.error({ stream: entry.name, dir, code: failure.code, reason: failure.reason }, 'stream could not be opened');
      streams.addBroken(entry, failure);
    }
  }

  private register(entry: CatalogEntry, log: StreamLog): void {
    const { context, streams, keyIndex } = this.parts;
    const polls = streams.newPolls();
    // Truncation is in the catalog (stream-settings.ts): hide what it removed before anything reads.
    if (entry.truncatedBefore !== undefined) log.truncateTo(entry.truncatedBefore);
    const keys = KeyIndex.open(keyIndex, this.dir(entry.id), entry.number, log);
    try {
      const consumers = StreamConsumers.open(context, this.dir(entry.id), entry, log, polls);
      streams.add({ entry, log, consumers, keys, polls });
    } catch (error) {
      keys.close();
      throw error;
    }
  }

  /**
   * Creates a stream. Resolves once the stream's files and its catalog entry are durable.
   * Throws INVALID_STREAM_NAME, STREAM_EXISTS, TOO_MANY_STREAMS, DISK_FULL or IO_ERROR.
   */
  async create(name: string, options: { allowReserved?: boolean; retention?: StreamRetention }): Promise<CatalogEntry> {
    const { catalog, streams } = this.parts;
    // Named as the Engine's argument is (`name`); the server renames it for its reply (bus/wire-fields.ts).
    validateStreamName(name, { allowReserved: options.allowReserved === true, field: 'name' });
    streams.reserve(name, () => catalog.checkWritable());
    try {
      const entry = catalog.newEntry(randomUUID(), name, Date.now());
      if (options.retention !== undefined) entry.retention = { ...options.retention };
      const log = await this.createFiles(entry);
      catalog.add(entry);
      try {
        await catalog.persist();
      } catch (error) {
        // The catalog on disk may list the stream now, or not: keep its directory (the next open
        // keeps it or removes it, as the catalog says); the catalog takes no more changes.
        catalog.remove(entry.id);
        log.close();
        throw error;
      }
      if (this.parts.closed()) {
        log.close();
        throw new EventBusError(ErrorCodes.CLOSED, 'the store is closed');
      }
      this.register(entry, log);
      return entry;
    } finally {
      streams.release(name);
    }
  }

  /**
   * The directory and first segment of a new stream, durable whatever the fsync policy: a listed
   * stream whose directory a power loss took away could not be opened.
   */
  private async createFiles(entry: CatalogEntry): Promise<StreamLog> {
    const dir = this.dir(entry.id);
    const { log, targets } = StreamLog.create(this.parts.context, dir, entry.createdMs);
    try {
      await Promise.all(targets.map((t) => t.sync()));
    } catch (error) {
      log.close();
      try {
        this.parts.options.io.removeTree(dir);
      } catch {
        // Not listed in the catalog: the next open removes it.
      }
      throw error instanceof EventBusError ? error : ioError(`creating stream ${JSON.stringify(entry.name)}`, error);
    }
    return log;
  }

  /**
   * Deletes a stream and its files. Appends in flight settle first; once this resolves the
   * deletion is durable and the stream's events are gone for good.
   */
  async delete(name: string): Promise<void> {
    const { catalog, streams, flusher, options } = this.parts;
    const entry = streams.entry(name);
    if (entry === undefined) throw streamNotFound(name);
    catalog.checkWritable();
    // Appends and consumer changes called before this delete are written now, and settle
    // (stored, then deleted with the stream) before its files close; later calls find no stream.
    flusher.flushNow();
    const state = streams.remove(name);
    if (state !== undefined) {
      flusher.forget(state.log);
      flusher.forget(state.consumers.journalFile);
      flusher.forget(state.keys.afterWrite);
      state.keys.close();
      await Promise.all([state.log.idle(), state.consumers.idle(), this.parts.keyIndex.maintenance.idle()]);
      closeStream(state, streamNotFound(name));
    }
    catalog.remove(entry.id);
    try {
      await catalog.persist();
    } catch (error) {
      // Not deleted (as far as we know): the stream comes back, and the store takes no more
      // creates or deletes until reopened (the catalog on disk may say either).
      catalog.add(entry);
      if (!this.parts.closed()) this.open(entry);
      throw error;
    }
    const dir = this.dir(entry.id);
    try {
      options.io.removeTree(dir);
      await options.io.syncDir(path.dirname(dir));
    } catch (error) {
      // The catalog no longer lists it: the next open removes what is left.
      options.logger.error({ dir, err: error }, 'could not remove a deleted stream\'s files');
    }
  }
}

/** Closes a stream's consumers (ending its long-polls) and its log; later calls fail with `reason`. */
export function closeStream(state: StreamState, reason = new EventBusError(ErrorCodes.CLOSED, 'the stream was closed'), trim = false): void {
  state.keys.close();
  state.consumers.close(reason);
  state.log.close(trim, reason);
}

/** Creates `streams/` if missing, and removes temporary files a crash left in the data directory. */
export function prepareDataDirectory({ io, dataDir }: ResolvedOptions): void {
  const streamsDir = path.join(dataDir, STREAMS_DIR);
  if (io.stat(streamsDir) === null) {
    io.mkdir(streamsDir);
    io.syncDirNow(dataDir);
  }
  for (const name of io.readdir(dataDir)) {
    if (name.endsWith(TEMPORARY_SUFFIX)) io.unlink(path.join(dataDir, name));
  }
}

/** Removes stream directories the catalog does not list (a crash mid-create or mid-delete); returns how many. */
export function removeOrphans({ io, dataDir, logger }: ResolvedOptions, catalog: Catalog): number {
  const listed = new Set(catalog.all().map((e) => e.id));
  const streamsDir = path.join(dataDir, STREAMS_DIR);
  let removed = 0;
  for (const name of io.readdir(streamsDir)) {
    if (listed.has(name)) continue;
    logger.warn({ dir: path.join(streamsDir, name) }, 'removing a stream directory the catalog does not list');
    io.removeTree(path.join(streamsDir, name));
    removed += 1;
  }
  if (removed > 0) io.syncDirNow(streamsDir);
  return removed;
}
