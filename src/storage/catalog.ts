/**
 * The catalog: the list of streams, in `catalog` at the top of the data directory.
 *
 * A checked file (format/checked-file.ts; magic "EBCT", version 1) whose JSON body is
 * `{"next_stream_number": n, "store_id": "<9 hex digits>", "streams": [{"number", "id", "name",
 * "created_ms", "id_epochs": [["<store id>" or null, first offset], ...], "retention"?: {"max_age_ms"?,
 * "max_bytes"?, "max_events"?}, "truncated_before"?: offset}]}` (the last two: the stream's own
 * retention, overriding the store's per field, and its truncation; stream-settings.ts). It is replaced
 * whole and crash-safely (fs/atomic-file.ts) on every create, delete and settings change; writes that are requested
 * while one is in flight are coalesced into the next. A stream exists exactly when the durable
 * catalog lists it: its directory is created and fsynced before it is listed, and removed only
 * after it is unlisted, so a crash in between leaves an orphan directory that open removes.
 *
 * Stream numbers are small integers given in creation order and never reused; event ids encode
 * a stream's number, the event's offset and the store's random id (format/event-id.ts). Which
 * store id an event's id carries is recorded per stream (`id_epochs`): a restored copy gets a
 * store id of its own at restore, and the events it writes from then on carry it, while the
 * events it was restored with keep their ids. A catalog written before store ids existed has
 * neither field: its events keep their ids of the legacy layout, and the store gets an id (and
 * its streams an epoch from their next offset) when it is next opened.
 */
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { ErrorCodes, EventBusError, ioError } from '../errors.js';
import { replaceFile, replaceFileNow } from './fs/atomic-file.js';
import { decodeChecked, encodeChecked, type CheckedFileKind } from './format/checked-file.js';
import { MAX_STORE_PART, type IdEpoch } from './format/event-id.js';
import { readWholeFile, type FileIO } from './fs/io.js';
import { CRC_CHECKPOINT } from './crc-checkpoint.js';
import { STREAMS_DIR } from './stream-lifecycle.js';
import { retentionFromJson, retentionToJson, type RetentionJson, type StreamRetention } from './stream-settings.js';

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
  /** Which store id the ids of the stream's events carry, by offset (format/event-id.ts). */
  idEpochs: IdEpoch[];
  /** The stream's own retention limits, each overriding the store's (stream-settings.ts). */
  retention?: StreamRetention;
  /** Offsets below this were truncated (truncate_stream); absent: none. */
  truncatedBefore?: number;
}

interface CatalogBody {
  next_stream_number: number;
  /** Absent in catalogs written before store ids existed. */
  store_id?: string;
  streams: {
    number: number;
    id: string;
    name: string;
    created_ms: number;
    id_epochs?: [string | null, number][];
    retention?: RetentionJson;
    truncated_before?: number;
  }[];
}

/** What a catalog holds. */
interface CatalogState {
  nextNumber: number;
  /** The store's random id, put in event ids. */
  storeId: number;
  entries: CatalogEntry[];
}

export class Catalog {
  private readonly entries = new Map<string, CatalogEntry>();
  private writing: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** Set after a failed write: the catalog on disk may be old or new, so it takes no more changes. */
  private refusal: EventBusError | null = null;

  private nextNumber: number;
  /** The store's random id: the store part of the event ids it gives (format/event-id.ts). */
  readonly storeId: number;
  /** True when the catalog on disk is missing or differs (a new store, a store id just given). */
  private stale: boolean;

  private constructor(private readonly io: FileIO, readonly file: string, state: CatalogState, stale: boolean) {
    this.nextNumber = state.nextNumber;
    this.storeId = state.storeId;
    this.stale = stale;
    for (const entry of state.entries) this.entries.set(entry.id, entry);
  }

  /**
   * Loads the catalog of `dataDir`. An absent one is a new, empty store (but see
   * {@link lostCatalogEvidence}: a store that held data and lost its catalog is refused), and one
   * written before store ids existed gets an id: either way {@link needsWrite} is then true.
   * Throws CORRUPT_DATA when the catalog is damaged, or missing from a store that had data.
   */
  static load(io: FileIO, dataDir: string): Catalog {
    const file = path.join(dataDir, CATALOG.name);
    if (io.stat(file) === null) {
      // A new store writes its catalog before it has a stream or a clean close (engine.ts), so
      // a stream directory or a crc-checkpoint without a catalog is a store whose list of streams
      // is lost: opening it as new would remove every stream directory as an orphan.
      const lost = lostCatalogError(io, dataDir);
      if (lost !== null) throw lost;
      return new Catalog(io, file, { nextNumber: 1, storeId: newStoreId(), entries: [] }, true);
    }
    const { storeId, ...state } = readCatalog(io, file);
    return new Catalog(io, file, { ...state, storeId: storeId ?? newStoreId() }, storeId === null);
  }

  /** True when the catalog must be written before the store gives event ids (see {@link load}). */
  get needsWrite(): boolean {
    return this.stale;
  }

  /**
   * Makes the events `entry` gets from `nextOffset` on carry this store's id, unless they do
   * already (a store restored from a snapshot, or made before store ids). Returns true if the
   * entry changed: the catalog must then be written before the stream takes appends.
   */
  adoptStoreId(entry: CatalogEntry, nextOffset: number): boolean {
    const last = entry.idEpochs[entry.idEpochs.length - 1];
    if (last !== undefined && last.storePart === this.storeId) return false;
    if (last !== undefined && last.fromOffset === nextOffset) entry.idEpochs.pop();
    entry.idEpochs.push({ storePart: this.storeId, fromOffset: nextOffset });
    this.stale = true;
    return true;
  }

  /** A new stream's entry (its events carry this store's id from offset 0). */
  newEntry(id: string, name: string, createdMs: number): CatalogEntry {
    return { number: this.nextNumber++, id, name, createdMs, idEpochs: [{ storePart: this.storeId, fromOffset: 0 }] };
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

  /** The bytes of a catalog listing `entries` (all of them by default; a snapshot lists its own). */
  encode(entries: readonly CatalogEntry[] = this.all()): Buffer {
    return encodeCatalog({ nextNumber: this.nextNumber, storeId: this.storeId, entries: [...entries] });
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
      this.stale = false;
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

/**
 * Why a data directory whose catalog is missing was a store with data, or null when it is a new
 * store (nothing, or only an empty `streams/` and a LOCK: an open cut short before its first
 * catalog write). A new store's catalog is written before it can hold a stream directory or a
 * clean close's `crc-checkpoint`, so either one means its catalog was lost. Read-only; shared with
 * `eventbus verify`.
 */
export function lostCatalogEvidence(io: FileIO, dataDir: string): string | null {
  const streamsDir = path.join(dataDir, STREAMS_DIR);
  const streams = io.stat(streamsDir)?.isDirectory === true ? io.readdir(streamsDir) : [];
  if (streams.length > 0) {
    const count = streams.length === 1 ? '1 entry' : `${streams.length} entries`;
    return `the data directory holds stream data (${streamsDir} has ${count})`;
  }
  if (io.stat(path.join(dataDir, CRC_CHECKPOINT.name)) !== null) return `the data directory holds a clean close's ${CRC_CHECKPOINT.name}`;
  return null;
}

/**
 * The refusal of a data directory whose catalog is missing though it held data (CORRUPT_DATA), or
 * null when its catalog is there or it is a new store. One wording for the open and the offline
 * tools, which check before anything else: no other advice (start the server once) helps it.
 */
export function lostCatalogError(io: FileIO, dataDir: string): EventBusError | null {
  const file = path.join(dataDir, CATALOG.name);
  if (io.stat(file) !== null) return null;
  const evidence = lostCatalogEvidence(io, dataDir);
  if (evidence === null) return null;
  return new EventBusError(ErrorCodes.CORRUPT_DATA, `catalog ${file} is missing, but ${evidence}: the list of streams is lost; nothing was changed. Restore the data directory from a snapshot`, {
    context: { file },
  });
}

/** A fresh random store id. */
function newStoreId(): number {
  return randomInt(MAX_STORE_PART + 1);
}

function storeIdText(storeId: number): string {
  return storeId.toString(16).padStart(9, '0');
}

function parseStoreId(text: unknown): number | null {
  if (typeof text !== 'string' || !/^[0-9a-f]{9}$/.test(text)) return null;
  return parseInt(text, 16);
}

/**
 * The catalog in `file`. One written before store ids existed has no store id (null), and its
 * streams' events keep ids of the legacy layout. Throws CORRUPT_DATA when it does not check.
 */
function readCatalog(io: FileIO, file: string): Omit<CatalogState, 'storeId'> & { storeId: number | null } {
  const decoded = decodeChecked(readWholeFile(io, file), CATALOG);
  const body = typeof decoded === 'string' ? null : (decoded.body as CatalogBody);
  const storeId = body === null ? null : parseStoreId(body.store_id);
  const damaged = body === null || !Number.isSafeInteger(body.next_stream_number) || !Array.isArray(body.streams) || (body.store_id !== undefined && storeId === null);
  if (damaged) {
    const problem = typeof decoded === 'string' ? decoded : 'unexpected contents';
    throw new EventBusError(ErrorCodes.CORRUPT_DATA, `catalog ${file} is damaged (${problem}); restore the data directory from a snapshot`, {
      context: { file },
    });
  }
  const entries = body.streams.map((s) => ({
    number: s.number,
    id: s.id,
    name: s.name,
    createdMs: s.created_ms,
    idEpochs: (s.id_epochs ?? [[null, 0]]).map(([part, fromOffset]) => ({ storePart: parseStoreId(part), fromOffset })),
    ...(s.retention === undefined ? {} : { retention: retentionFromJson(s.retention) }),
    ...(s.truncated_before === undefined ? {} : { truncatedBefore: s.truncated_before }),
  }));
  return { nextNumber: body.next_stream_number, storeId, entries };
}

function encodeCatalog(state: CatalogState): Buffer {
  const body: CatalogBody = {
    next_stream_number: state.nextNumber,
    store_id: storeIdText(state.storeId),
    streams: state.entries.map((e) => ({
      number: e.number,
      id: e.id,
      name: e.name,
      created_ms: e.createdMs,
      id_epochs: e.idEpochs.map((epoch): [string | null, number] => [epoch.storePart === null ? null : storeIdText(epoch.storePart), epoch.fromOffset]),
      ...(e.retention === undefined ? {} : { retention: retentionToJson(e.retention) }),
      ...(e.truncatedBefore === undefined ? {} : { truncated_before: e.truncatedBefore }),
    })),
  };
  return encodeChecked(CATALOG, body);
}

/**
 * Gives the store in `dataDir` a new random id (restore: a copy of a store is another store, and
 * the events it writes must not get the ids the original gives its own). Its streams' events
 * keep their ids; the next open starts new id epochs. Crash-safe; synchronous.
 */
export function renewStoreId(io: FileIO, dataDir: string): void {
  const file = path.join(dataDir, CATALOG.name);
  const state = readCatalog(io, file);
  replaceFileNow(io, file, [encodeCatalog({ ...state, storeId: newStoreId() })]);
}
