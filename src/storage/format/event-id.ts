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

/** The value of each hexadecimal digit's character code (lower case only, as ids are written), or -1. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let digit = 0; digit < 16; digit++) HEX_VALUE['0123456789abcdef'.charCodeAt(digit)] = digit;
const DASH = 0x2d;

/** The value of the `digits` hexadecimal digits of `id` from `at` (at most 13: exact in a double), or -1. */
function hexValue(id: string, at: number, digits: number): number {
  let value = 0;
  for (let i = at; i < at + digits; i++) {
    const code = id.charCodeAt(i);
    const digit = code < 128 ? HEX_VALUE[code]! : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

/**
 * Decodes an event id, or returns null if it is not one of ours: 36 characters, lower-case
 * hexadecimal digits in groups of 8-4-4-4-12, version 8, variant 10. (No regular expression:
 * every `mark_event` decodes its ids.)
 */
export function decodeEventId(id: string): EventLocation | null {
  if (id.length !== 36 || id.charCodeAt(8) !== DASH || id.charCodeAt(13) !== DASH || id.charCodeAt(18) !== DASH || id.charCodeAt(23) !== DASH) return null;
  if (id.charCodeAt(14) !== 0x38) return null; // version 8
  const first = hexValue(id, 0, 8);
  const second = hexValue(id, 9, 4);
  const third = hexValue(id, 15, 3);
  const fourth = hexValue(id, 19, 4);
  const low = hexValue(id, 24, 12);
  if (first < 0 || second < 0 || third < 0 || fourth < 0 || low < 0) return null;
  if ((fourth & 0xc000) !== 0x8000) return null; // variant 10
  if (third === 0) {
    const streamNumber = first * TWO_16 + second;
    const offset = (fourth & 0x3fff) * TWO_48 + low;
    if (!Number.isSafeInteger(offset) || streamNumber === 0) return null;
    return { streamNumber, offset, storePart: null };
  }
  if ((third & 0x800) === 0) return null;
  const streamNumber = first;
  const storePart = second * 2 ** 20 + (third & 0x7ff) * 2 ** 9 + ((fourth >> 5) & 0x1ff);
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

/** Bytes of an id in text. */
export const EVENT_ID_BYTES = 36;
/** The part of an id after its fixed prefix: the low 48 bits of the offset, 12 hexadecimal digits. */
const ID_PREFIX_BYTES = EVENT_ID_BYTES - 12;
const HEX_DIGITS = Buffer.from('0123456789abcdef');

/**
 * The first 24 characters of an id depend only on the stream, the store part and the offset's
 * bits above 48: kept for the last few streams (replies write many ids of one stream at once).
 */
interface IdPrefix {
  streamNumber: number;
  storePart: number | null;
  high: number;
  bytes: Buffer;
}
const prefixes: IdPrefix[] = [];
const PREFIXES_KEPT = 8;

function idPrefix(streamNumber: number, storePart: number | null, high: number): Buffer {
  for (let i = 0; i < prefixes.length; i++) {
    const p = prefixes[i]!;
    if (p.streamNumber === streamNumber && p.storePart === storePart && p.high === high) return p.bytes;
  }
  const bytes = Buffer.from(encodeEventId(streamNumber, high * TWO_48, storePart).slice(0, ID_PREFIX_BYTES), 'latin1');
  if (prefixes.length === PREFIXES_KEPT) prefixes.pop();
  prefixes.unshift({ streamNumber, storePart, high, bytes });
  return bytes;
}

/**
 * Writes the id of `offset` in a stream with `epochs` (the text {@link eventIdOf} gives) as
 * {@link EVENT_ID_BYTES} ASCII bytes into `out` at `at`; returns the index after it. No string
 * is made: responses carry many ids.
 */
export function writeEventId(out: Buffer, at: number, streamNumber: number, epochs: readonly IdEpoch[], offset: number): number {
  const storePart = epochOf(epochs, offset)?.storePart ?? null;
  const high = Math.floor(offset / TWO_48);
  out.set(idPrefix(streamNumber, storePart, high), at);
  const low = offset - high * TWO_48;
  // 48 bits as two exact 24-bit halves, 6 digits each.
  const upper = Math.floor(low / 0x100_0000);
  const lower = low - upper * 0x100_0000;
  let i = at + EVENT_ID_BYTES - 1;
  for (let k = 0, v = lower; k < 6; k++, v >>>= 4) out[i--] = HEX_DIGITS[v & 0xf]!;
  for (let k = 0, v = upper; k < 6; k++, v >>>= 4) out[i--] = HEX_DIGITS[v & 0xf]!;
  return at + EVENT_ID_BYTES;
}
