/**
 * Event ids: strings that locate an event without any per-event table.
 *
 * An id is a version-8 (custom) UUID, so clients that expect UUIDs keep working. It carries the
 * stream's number (never reused), the event's offset, and a random part of the store that gave
 * it, so that ids from two stores (or from a store and a restored copy of it elsewhere) do not
 * collide in a user's database:
 *
 * ```
 * NNNNNNNN-RRRR-8FRR-VROO-OOOOOOOOOOOO            (the F digit is 8 to f: its top bit is set)
 * N: stream number, 32 bits                        8: version 8
 * R: store part, 36 bits (16 + 11 + 9)             V: variant bits 10
 * O: offset, 53 bits (5 + 48)
 * ```
 *
 * Stores made before store parts existed gave ids of the legacy layout, which keep resolving:
 *
 * ```
 * SSSSSSSS-SSSS-8000-VOOO-OOOOOOOOOOOO   S: stream number, 48 bits; O: offset, 62 bits
 * ```
 *
 * Which store part an event's id carries is recorded per stream as id epochs (catalog.ts): a
 * list of (store part, first offset), so that ids survive restarts, snapshots and restores
 * unchanged, while events written after a restore carry the restored copy's own part.
 */
import { assert } from '../../errors.js';

const TWO_16 = 0x1_0000;
const TWO_48 = 2 ** 48;
const TWO_32 = 2 ** 32;
/** The largest store part (36 bits). */
export const MAX_STORE_PART = 2 ** 36 - 1;
const ID_PATTERN = /^([0-9a-f]{8})-([0-9a-f]{4})-8([0-9a-f]{3})-([89ab][0-9a-f]{3})-([0-9a-f]{12})$/;

/** Where an event id points. */
export interface EventLocation {
  streamNumber: number;
  offset: number;
  /** The store part, or null for an id of the legacy layout. */
  storePart: number | null;
}

/**
 * From `fromOffset` on, a stream's events carry `storePart` in their ids (null: the legacy
 * layout). A stream's epochs are in increasing `fromOffset` order, the first from 0.
 */
export interface IdEpoch {
  storePart: number | null;
  fromOffset: number;
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}

/** The id of `offset` in stream `streamNumber` carrying `storePart` (null: the legacy layout). */
export function encodeEventId(streamNumber: number, offset: number, storePart: number | null = null): string {
  const high = Math.floor(offset / TWO_48);
  const low = offset - high * TWO_48;
  if (storePart === null) {
    return `${hex(Math.floor(streamNumber / TWO_16), 8)}-${hex(streamNumber % TWO_16, 4)}-8000-${hex(0x8000 | high, 4)}-${hex(low, 12)}`;
  }
  assert(streamNumber < TWO_32 && offset < 2 ** 53 && storePart <= MAX_STORE_PART, 'event id fields out of range');
  const partHigh = Math.floor(storePart / 2 ** 20); // 16 bits
  const partMiddle = Math.floor(storePart / 2 ** 9) % 2 ** 11; // 11 bits
  const partLow = storePart % 2 ** 9; // 9 bits
  return `${hex(streamNumber, 8)}-${hex(partHigh, 4)}-8${hex(0x800 | partMiddle, 3)}-${hex(0x8000 | (partLow << 5) | high, 4)}-${hex(low, 12)}`;
}

/** Decodes an event id, or returns null if it is not one of ours. */
export function decodeEventId(id: string): EventLocation | null {
  const match = ID_PATTERN.exec(id);
  if (match === null) return null;
  const third = parseInt(match[3]!, 16);
  const fourth = parseInt(match[4]!, 16);
  const low = parseInt(match[5]!, 16);
  if (third === 0) {
    const streamNumber = parseInt(match[1]!, 16) * TWO_16 + parseInt(match[2]!, 16);
    const offset = (fourth & 0x3fff) * TWO_48 + low;
    if (!Number.isSafeInteger(offset) || streamNumber === 0) return null;
    return { streamNumber, offset, storePart: null };
  }
  if ((third & 0x800) === 0) return null;
  const streamNumber = parseInt(match[1]!, 16);
  const storePart = parseInt(match[2]!, 16) * 2 ** 20 + (third & 0x7ff) * 2 ** 9 + ((fourth >> 5) & 0x1ff);
  const offset = (fourth & 0x1f) * TWO_48 + low;
  if (streamNumber === 0 || streamNumber >= TWO_32) return null;
  return { streamNumber, offset, storePart };
}

/** The epoch that gave the id of `offset` (the last one starting at or before it). */
function epochOf(epochs: readonly IdEpoch[], offset: number): IdEpoch | undefined {
  for (let i = epochs.length - 1; i >= 0; i--) if (epochs[i]!.fromOffset <= offset) return epochs[i];
  return undefined;
}

/** The id of `offset` in a stream with `epochs`. */
export function eventIdOf(streamNumber: number, epochs: readonly IdEpoch[], offset: number): string {
  return encodeEventId(streamNumber, offset, epochOf(epochs, offset)?.storePart ?? null);
}

/** True when `location` is the id the stream with `epochs` gave (or would give) its offset. */
export function isIdOf(location: EventLocation, epochs: readonly IdEpoch[]): boolean {
  const epoch = epochOf(epochs, location.offset);
  return epoch !== undefined && epoch.storePart === location.storePart;
}
