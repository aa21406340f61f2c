/**
 * Event ids: strings that locate an event without any per-event table.
 *
 * An id is a version-8 (custom) UUID, so clients that expect UUIDs keep working, that carries the
 * stream's number (the catalog's, never reused) and the event's offset:
 *
 * ```
 * SSSSSSSS-SSSS-8000-VOOO-OOOOOOOOOOOO
 * S: stream number, 48 bits    8000: version 8, 12 zero bits
 * V: variant bits 10 and the top 2 bits of the 14 high offset bits; O: offset, 62 bits in all
 * ```
 *
 * Ids are stable across restarts, snapshots and restores, and are never reused: a deleted
 * stream's number is never given again, and offsets are never reused within a stream.
 */

const TWO_16 = 0x1_0000;
const TWO_48 = 2 ** 48;
const ID_PATTERN = /^([0-9a-f]{8})-([0-9a-f]{4})-8000-([89ab][0-9a-f]{3})-([0-9a-f]{12})$/;

/** Where an event id points. */
export interface EventLocation {
  streamNumber: number;
  offset: number;
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}

export function encodeEventId(streamNumber: number, offset: number): string {
  const high = Math.floor(offset / TWO_48);
  const low = offset - high * TWO_48;
  return `${hex(Math.floor(streamNumber / TWO_16), 8)}-${hex(streamNumber % TWO_16, 4)}-8000-${hex(0x8000 | high, 4)}-${hex(low, 12)}`;
}

/** Decodes an event id, or returns null if it is not one of ours. */
export function decodeEventId(id: string): EventLocation | null {
  const match = ID_PATTERN.exec(id);
  if (match === null) return null;
  const streamNumber = parseInt(match[1]!, 16) * TWO_16 + parseInt(match[2]!, 16);
  const offset = (parseInt(match[3]!, 16) & 0x3fff) * TWO_48 + parseInt(match[4]!, 16);
  if (!Number.isSafeInteger(offset) || streamNumber === 0) return null;
  return { streamNumber, offset };
}
