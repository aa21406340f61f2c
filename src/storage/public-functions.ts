/**
 * The free functions of `eventbus/storage` (index.ts), as an embedder calls them: each checks
 * its arguments, refusing a wrong type or an out-of-range value with INVALID_FIELD naming the
 * argument (`context: { field, expected }`), then calls the function the engine itself uses.
 * Without these checks a mistake came out as a TypeError from deep inside (`verifyDirectory()`
 * with no path), or worse as a wrong answer (`eventIdOf(1.5, …)` gave an id with a dot in it).
 * The engine's own layers call the unchecked functions: their arguments come from the store.
 */
import { checkFileIO, checkKnownKeys, checkOptionsObject, checkPath, checkStreamNameType, checkWholeNumber, invalidArgument } from './api-arguments.js';
import { checkFilter as checkFilterRules, matchesFilter as matchesFilterUnchecked, type EventFilter } from './event-filter.js';
import { decodeEventId as decodeUnchecked, eventIdOf as eventIdOfUnchecked, isIdOf as isIdOfUnchecked, MAX_STORE_PART, type EventLocation, type IdEpoch } from './format/event-id.js';
import type { EventAttributes } from './format/record-fields.js';
import { nodeIO, type FileIO } from './fs/io.js';
import { inspectStoreDirectory as inspectUnchecked, type StoreDirectory } from './store-directory.js';
import { deadLetterStreamName as deadLetterUnchecked } from './stream-name.js';
import { restoreSnapshot as restoreUnchecked, type RestoreResult } from './tools/restore.js';
import { verifyDirectory as verifyUnchecked, type VerifyReport } from './tools/verify.js';

/** The largest offset an id (and a stream) holds: offsets are exact doubles. */
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;
/** The largest stream number an id of the current layout holds (32 bits); the legacy layout holds 48. */
const MAX_STREAM_NUMBER = 2 ** 32 - 1;
const MAX_LEGACY_STREAM_NUMBER = 2 ** 48 - 1;

// ------------------------------------------------------------------ whole-store tools

/** {@link verifyUnchecked}, its arguments checked: `io` a FileIO, `dir` a non-empty path. */
export function verifyDirectory(io: FileIO, dir: string): VerifyReport {
  checkFileIO(io, 'io');
  checkPath(dir, 'dir');
  return verifyUnchecked(io, dir);
}

/** {@link restoreUnchecked}, its arguments checked: `io` a FileIO, both directories non-empty paths. */
export function restoreSnapshot(io: FileIO, snapshotDir: string, dataDir: string): RestoreResult {
  checkFileIO(io, 'io');
  checkPath(snapshotDir, 'snapshotDir');
  checkPath(dataDir, 'dataDir');
  return restoreUnchecked(io, snapshotDir, dataDir);
}

/** {@link inspectUnchecked}, its arguments checked: `dir` a non-empty path, `io` (if given) a FileIO. */
export function inspectStoreDirectory(dir: string, io: FileIO = nodeIO): StoreDirectory {
  checkPath(dir, 'dir');
  checkFileIO(io, 'io');
  return inspectUnchecked(dir, io);
}

// ------------------------------------------------------------------ event ids

/** The id of `offset` in a stream with `epochs` (Engine.getStream(name).idEpochs). */
export function eventIdOf(streamNumber: number, epochs: readonly IdEpoch[], offset: number): string {
  checkWholeNumber(streamNumber, 'streamNumber', 1, MAX_LEGACY_STREAM_NUMBER);
  checkEpochs(epochs);
  checkWholeNumber(offset, 'offset', 0, MAX_OFFSET);
  // Only the legacy layout (no store part) has room for a stream number past 32 bits.
  if (streamNumber > MAX_STREAM_NUMBER && storePartAt(epochs, offset) !== null) {
    throw invalidArgument('streamNumber', `a whole number from 1 to ${MAX_STREAM_NUMBER} (an id with a store part holds 32 bits)`, streamNumber);
  }
  return eventIdOfUnchecked(streamNumber, epochs, offset);
}

/** True when `location` (decodeEventId's) is the id the stream with `epochs` gives its offset. */
export function isIdOf(location: EventLocation, epochs: readonly IdEpoch[]): boolean {
  if (typeof location !== 'object' || location === null || Array.isArray(location)) throw invalidArgument('location', 'an EventLocation ({ streamNumber, offset, storePart })', location);
  checkWholeNumber(location.offset, 'location.offset', 0, MAX_OFFSET);
  checkStorePart(location.storePart, 'location.storePart');
  checkEpochs(epochs);
  return isIdOfUnchecked(location, epochs);
}

/** Where an id points, or null for a string that is no event id of ours; a non-string is refused. */
export function decodeEventId(id: string): EventLocation | null {
  if (typeof id !== 'string') throw invalidArgument('id', 'an event id (a string)', id);
  return decodeUnchecked(id);
}

/** The store part the epochs give `offset` (null: the legacy layout, also before the first epoch). */
function storePartAt(epochs: readonly IdEpoch[], offset: number): number | null {
  for (let i = epochs.length - 1; i >= 0; i--) if (epochs[i]!.fromOffset <= offset) return epochs[i]!.storePart;
  return null;
}

/** A store part: null (the legacy layout) or 36 bits. */
function checkStorePart(value: unknown, field: string): void {
  if (value === null) return;
  if (!(Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_STORE_PART)) {
    throw invalidArgument(field, `null (the legacy layout) or a whole number from 0 to ${MAX_STORE_PART}`, value);
  }
}

/** A stream's id epochs: `{ storePart, fromOffset }` objects, `fromOffset` strictly increasing. */
function checkEpochs(epochs: unknown): asserts epochs is readonly IdEpoch[] {
  if (!Array.isArray(epochs)) throw invalidArgument('epochs', 'an array of id epochs ({ storePart, fromOffset }), as StreamInfo.idEpochs', epochs);
  let previous = -1;
  for (let i = 0; i < epochs.length; i++) {
    const epoch: unknown = epochs[i];
    if (typeof epoch !== 'object' || epoch === null || Array.isArray(epoch)) throw invalidArgument(`epochs[${i}]`, 'an id epoch ({ storePart, fromOffset })', epoch);
    checkKnownKeys(epoch, `epochs[${i}]`, ['storePart', 'fromOffset']);
    const { storePart, fromOffset } = epoch as Partial<IdEpoch>;
    checkStorePart(storePart, `epochs[${i}].storePart`);
    checkWholeNumber(fromOffset, `epochs[${i}].fromOffset`, previous + 1, MAX_OFFSET);
    previous = fromOffset;
  }
}

// ------------------------------------------------------------------ filters and names

/** True when an event with `attributes` (StoredEvent.attributes) passes `filter`. */
export function matchesFilter(filter: EventFilter, attributes: EventAttributes | null | undefined): boolean {
  checkFilterShape(filter);
  if (attributes !== null && attributes !== undefined && (typeof attributes !== 'object' || Array.isArray(attributes))) {
    throw invalidArgument('attributes', 'the attributes of a stored event (an object), or null', attributes);
  }
  return matchesFilterUnchecked(filter, attributes);
}

/** Throws INVALID_FIELD for a filter no consumer or read could take (its shape, then the lengths of its key and types). */
export function checkFilter(filter: EventFilter): void {
  checkFilterShape(filter);
  checkFilterRules(filter);
}

/** A filter's shape: an object of `key?` (a string) and `types?` (an array of strings), nothing else. */
function checkFilterShape(filter: unknown): asserts filter is EventFilter {
  checkOptionsObject(filter, 'filter');
  if (filter === undefined) throw invalidArgument('filter', 'an object ({ key?, types? })', filter);
  checkKnownKeys(filter, 'filter', ['key', 'types']);
  if (filter.key !== undefined && typeof filter.key !== 'string') throw invalidArgument('key', 'a string', filter.key);
  const types = filter.types;
  if (types === undefined) return;
  if (!Array.isArray(types)) throw invalidArgument('types', 'an array of strings', types);
  for (let i = 0; i < types.length; i++) {
    if (typeof types[i] !== 'string') throw invalidArgument(`types[${i}]`, 'a string', types[i]);
  }
}

/** The name of the dead-letter stream of `streamName`; a name that is not a string is INVALID_STREAM_NAME. */
export function deadLetterStreamName(streamName: string): string {
  checkStreamNameType(streamName, 'streamName');
  return deadLetterUnchecked(streamName);
}
