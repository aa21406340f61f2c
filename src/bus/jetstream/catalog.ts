/**
 * The catalog of a JetStream-backed bus, kept in the cluster (a replicated KV bucket), so every
 * gateway reads the same one and keeps nothing durable itself:
 *
 * - `store` → `{store_part}`: the random part every event id of this cluster carries;
 * - `n.<base64url(name)>` → `{number, id, created_ms}` for each stream;
 * - `num.<hex8>` → the name that reserved a stream number (never deleted: numbers are never reused).
 *
 * `kv.create` is the atomic check everywhere (exact on 2.9.10; `kv.update` with a revision is
 * not, nats-server #4320). Reads go to the bucket's leader (`allow_direct: false`): a direct get
 * may answer from a follower that has not seen a create yet. Entries are cached for
 * {@link CACHE_MS}; callers refresh on a JetStream "stream not found". An absence is never
 * cached: a name not found is asked of the bucket again, so a create acknowledged by any gateway
 * is seen by every gateway's next operation (a delete is seen through JetStream: the stream is
 * gone, and the fresh read that follows finds no entry).
 *
 * A stream's entry never changes while the stream exists (it is created once, and deleted with
 * the stream; a name created again gets a new number). So when the bucket cannot be read (its
 * leader was lost and the bucket is electing, or it has no quorum), an entry this gateway has read
 * before is still the stream's: it is used, and for {@link OUTAGE_MS} after such a failure the
 * bucket is not asked for entries already known, so operations on known streams do not each wait
 * for a read that times out. A stream deleted meanwhile is found gone by JetStream itself
 * (STREAM_NOT_FOUND), as with a cached entry. Names not known yet, creates and deletes still need
 * the bucket.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { JetStreamClient, KV } from 'nats';
import { ErrorCodes, EventBusError, OriginalReasons, isEventBusError } from '../../errors.js';
import { MAX_STORE_PART } from '../../storage/format/event-id.js';
import { CATALOG_BUCKET, catalogNameKey, catalogNumberKey, nameOfCatalogKey } from './names.js';
import { JsErrors, backendError, isTransient, jsErrorCode } from './nats-errors.js';

/** A stream in the catalog. */
export interface CatalogEntry {
  name: string;
  number: number;
  /** The stream's UUID. */
  id: string;
  createdMs: number;
}

/** How long a gateway trusts a cached entry before reading the bucket again. */
export const CACHE_MS = 1000;
/** After the bucket failed to answer, known entries are used without asking it for this long. */
export const OUTAGE_MS = 2000;
const MAX_NUMBER_ATTEMPTS = 20;

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

export class Catalog {
  /** Entries read (or created) here, with when; never an absence (see get). */
  private readonly cache = new Map<string, { entry: CatalogEntry; readMs: number }>();
  private readonly names = new Map<number, string>();
  /** Until then the bucket is not asked for known entries (it failed to answer: see the module comment). */
  private outageUntilMs = 0;

  private constructor(private readonly kv: KV, readonly storePart: number) {}

  /** Opens (or creates) the bucket and this cluster's store part. */
  static async open(js: JetStreamClient, replicas: number): Promise<Catalog> {
    const kv = await js.views.kv(CATALOG_BUCKET, { replicas, history: 1, allow_direct: false });
    try {
      await kv.create('store', json({ store_part: randomInt(1, 2 ** 32) * 16 + randomInt(0, 16) }));
    } catch (error) {
      if (jsErrorCode(error) !== JsErrors.wrongLastSequence) throw error;
    }
    const store = await kv.get('store');
    const part = store === null ? undefined : (store.json() as { store_part?: unknown }).store_part;
    if (typeof part !== 'number' || !Number.isSafeInteger(part) || part < 0 || part > MAX_STORE_PART) {
      throw new EventBusError(ErrorCodes.CORRUPT_DATA, `the catalog bucket ${CATALOG_BUCKET} has no valid store part`);
    }
    return new Catalog(kv, part);
  }

  /**
   * The stream named `name`, or null. `fresh` reads the bucket even when a cached entry is young.
   * Only entries are cached, never an absence: a name this gateway found missing may have been
   * created through another gateway since, and once any gateway acknowledged that create every
   * gateway serves the stream (the bucket, read from its leader, decides before STREAM_NOT_FOUND).
   */
  async get(name: string, fresh = false): Promise<CatalogEntry | null> {
    const cached = fresh ? undefined : this.cache.get(name);
    if (cached !== undefined && (Date.now() - cached.readMs < CACHE_MS || Date.now() < this.outageUntilMs)) return cached.entry;
    let entry: CatalogEntry | null = null;
    try {
      const found = await this.kv.get(catalogNameKey(name));
      if (found !== null && found.operation === 'PUT') {
        const value = found.json() as { number: number; id: string; created_ms: number };
        entry = { name, number: value.number, id: value.id, createdMs: value.created_ms };
        this.names.set(entry.number, name);
      }
    } catch (error) {
      if (!isTransient(error)) throw backendError(`reading the catalog entry of '${name}'`, error);
      this.outageUntilMs = Date.now() + OUTAGE_MS;
      // The entry read before is still the stream's (see the module comment).
      if (cached !== undefined) return cached.entry;
      throw backendError(`reading the catalog entry of '${name}'`, error);
    }
    if (entry === null) this.cache.delete(name);
    else this.cache.set(name, { entry, readMs: Date.now() });
    return entry;
  }

  /** The stream or STREAM_NOT_FOUND in the original's words. */
  async require(name: string, fresh = false): Promise<CatalogEntry> {
    const entry = await this.get(name, fresh);
    if (entry === null) throw new EventBusError(ErrorCodes.STREAM_NOT_FOUND, OriginalReasons.streamNotFound(name));
    return entry;
  }

  /**
   * Runs `call` with the stream's entry. When it answers STREAM_NOT_FOUND from a cached entry
   * that another gateway has since replaced (deleted and created again), runs it once more with
   * the fresh entry: gateways agree within one catalog read, not within the cache's age.
   */
  async with<T>(name: string, call: (entry: CatalogEntry) => Promise<T>): Promise<T> {
    const entry = await this.require(name);
    try {
      return await call(entry);
    } catch (error) {
      if (!isEventBusError(error, ErrorCodes.STREAM_NOT_FOUND)) throw error;
      const fresh = await this.get(name, true);
      if (fresh === null || fresh.number === entry.number) throw error;
      return call(fresh);
    }
  }

  /** The stream that has number `streamNumber` now, or null. */
  async byNumber(streamNumber: number): Promise<CatalogEntry | null> {
    let name = this.names.get(streamNumber);
    if (name === undefined) {
      try {
        const found = await this.kv.get(catalogNumberKey(streamNumber));
        if (found === null || found.operation !== 'PUT') return null;
        name = found.string();
      } catch (error) {
        throw backendError('reading the catalog', error);
      }
    }
    const entry = await this.get(name);
    return entry !== null && entry.number === streamNumber ? entry : null;
  }

  /** Adds `name` with a new number; STREAM_EXISTS when another gateway (or request) got there first. */
  async create(name: string): Promise<CatalogEntry> {
    let number = 0;
    for (let attempt = 0; number === 0; attempt++) {
      if (attempt === MAX_NUMBER_ATTEMPTS) throw new EventBusError(ErrorCodes.INTERNAL, 'no free stream number found');
      const candidate = randomInt(1, 2 ** 32);
      try {
        await this.kv.create(catalogNumberKey(candidate), new TextEncoder().encode(name));
        number = candidate;
      } catch (error) {
        if (jsErrorCode(error) !== JsErrors.wrongLastSequence) throw backendError(`creating stream '${name}'`, error);
      }
    }
    const entry: CatalogEntry = { name, number, id: randomUUID(), createdMs: Date.now() };
    try {
      await this.kv.create(catalogNameKey(name), json({ number, id: entry.id, created_ms: entry.createdMs }));
    } catch (error) {
      if (jsErrorCode(error) === JsErrors.wrongLastSequence) throw new EventBusError(ErrorCodes.STREAM_EXISTS, OriginalReasons.streamExists(name));
      throw backendError(`creating stream '${name}'`, error);
    }
    this.cache.set(name, { entry, readMs: Date.now() });
    this.names.set(number, name);
    return entry;
  }

  /** Removes `name` (its number stays reserved). */
  async delete(name: string): Promise<void> {
    try {
      await this.kv.delete(catalogNameKey(name));
    } catch (error) {
      throw backendError(`deleting stream '${name}'`, error);
    }
    this.cache.delete(name);
  }

  /** Every stream name, unordered. */
  async listNames(): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const key of await this.kv.keys('n.>')) names.push(nameOfCatalogKey(key));
    } catch (error) {
      throw backendError('listing the catalog', error);
    }
    return names;
  }

  /** Forgets a cached entry (a JetStream call said its stream is gone). */
  forget(name: string): void {
    this.cache.delete(name);
  }
}
