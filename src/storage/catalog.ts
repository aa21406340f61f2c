/**
 * The catalog: the list of streams, in `catalog` at the top of the data directory.
 *
 * A checked file (format/checked-file.ts; magic "EBCT", version 1) whose JSON body is
 * `{"next_stream_number": n, "streams": [{"number", "id", "name", "created_ms"}]}`. It is replaced
 * whole and crash-safely (fs/atomic-file.ts) on every create and delete; writes that are requested
 * while one is in flight are coalesced into the next. A stream exists exactly when the durable
 * catalog lists it: its directory is created and fsynced before it is listed, and removed only
 * after it is unlisted, so a crash in between leaves an orphan directory that open removes.
 *
 * Stream numbers are small integers given in creation order and never reused; event ids encode
 * a stream's number and the event's offset (format/event-id.ts).
 */
import path from 'node:path';
import { ErrorCodes, EventBusError, ioError } from '../errors.js';
import { replaceFile } from './fs/atomic-file.js';
import { decodeChecked, encodeChecked, type CheckedFileKind } from './format/checked-file.js';
import { readWholeFile, type FileIO } from './fs/io.js';

export const CATALOG: CheckedFileKind = { name: 'catalog', magic: 'EBCT', version: 1 };

/** A stream as the catalog records it. */
export interface CatalogEntry {
  /** Never reused; part of every event id. */
  number: number;
  /** UUID; names the stream's directory. */
  id: string;
  /** The user's name for the stream: any text, never used as a path. */
  name: string;
  createdMs: number;
}

interface CatalogBody {
  next_stream_number: number;
  streams: { number: number; id: string; name: string; created_ms: number }[];
}

export class Catalog {
  private readonly entries = new Map<string, CatalogEntry>();
  private writing: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** Set after a failed write: the catalog on disk may be old or new, so it takes no more changes. */
  private refusal: EventBusError | null = null;

  private constructor(private readonly io: FileIO, readonly file: string, private nextNumber: number, entries: CatalogEntry[]) {
    for (const entry of entries) this.entries.set(entry.id, entry);
  }

  /** Loads the catalog of `dataDir`; an absent one is an empty store. */
  static load(io: FileIO, dataDir: string): Catalog {
    const file = path.join(dataDir, CATALOG.name);
    if (io.stat(file) === null) return new Catalog(io, file, 1, []);
    const decoded = decodeChecked(readWholeFile(io, file), CATALOG);
    const body = typeof decoded === 'string' ? null : (decoded.body as CatalogBody);
    if (body === null || !Number.isSafeInteger(body.next_stream_number) || !Array.isArray(body.streams)) {
      const problem = typeof decoded === 'string' ? decoded : 'unexpected contents';
      throw new EventBusError(ErrorCodes.CORRUPT_DATA, `catalog ${file} is damaged (${problem}); restore the data directory from a snapshot`, {
        context: { file },
      });
    }
    const entries = body.streams.map((s) => ({ number: s.number, id: s.id, name: s.name, createdMs: s.created_ms }));
    return new Catalog(io, file, body.next_stream_number, entries);
  }

  /** Gives out the next stream number (persisted with the next write). */
  takeNumber(): number {
    return this.nextNumber++;
  }

  all(): CatalogEntry[] {
    return [...this.entries.values()];
  }

  add(entry: CatalogEntry): void {
    this.entries.set(entry.id, entry);
  }

  remove(id: string): void {
    this.entries.delete(id);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The catalog's bytes as they stand now. */
  encode(): Buffer {
    return encodeCatalog(this.nextNumber, this.all());
  }

  /** The next stream number to be given. */
  get nextStreamNumber(): number {
    return this.nextNumber;
  }

  /** Throws if a write failed earlier: the store takes no creates or deletes until reopened. */
  checkWritable(): void {
    if (this.refusal !== null) throw this.refusal;
  }

  /**
   * Makes the current state durable. Resolves after a write that began after this call; calls
   * made while a write is in flight share the next one. A failed write (DISK_FULL, IO_ERROR)
   * makes the catalog refuse changes until the store is reopened.
   */
  persist(): Promise<void> {
    if (this.queued !== null) return this.queued;
    const previous = this.writing ?? Promise.resolve();
    const next = previous.catch(() => {}).then(async () => {
      this.queued = null;
      const write = replaceFile(this.io, this.file, [this.encode()]).catch((error: unknown) => {
        throw this.failed(error);
      });
      this.writing = write;
      try {
        await write;
      } finally {
        if (this.writing === write) this.writing = null;
      }
    });
    this.queued = next;
    return next;
  }

  private failed(error: unknown): EventBusError {
    const failure = error instanceof EventBusError ? error : ioError('writing the catalog', error);
    if (failure.code === ErrorCodes.DISK_FULL || failure.code === ErrorCodes.IO_ERROR) {
      // The catalog on disk may be old or new: take no more changes until reopened.
      this.refusal ??= new EventBusError(failure.code, `the catalog refuses changes until the store is reopened: ${failure.reason}`);
    }
    return failure;
  }
}

/** The bytes of a catalog listing `entries` (snapshots write a catalog of their own). */
export function encodeCatalog(nextNumber: number, entries: readonly CatalogEntry[]): Buffer {
  const body: CatalogBody = {
    next_stream_number: nextNumber,
    streams: entries.map((e) => ({ number: e.number, id: e.id, name: e.name, created_ms: e.createdMs })),
  };
  return encodeChecked(CATALOG, body);
}
