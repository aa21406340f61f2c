/**
 * Which events a reader, a subscription or a consumer takes: those of one key (aggregate) and/or
 * of some types, as record format 2 stores them (format/record-fields.ts). An event without the
 * attribute asked for does not match. Filters are small and fixed: at most
 * {@link MAX_FILTER_TYPES} types, each of record length.
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import type { EventAttributes } from './format/record-fields.js';
import { MAX_KEY_BYTES, MAX_TYPE_BYTES } from './format/record-fields.js';
import { checkUnicodeText } from './unicode-text.js';

/** A filter: every given part must match. */
export interface EventFilter {
  key?: string;
  types?: readonly string[];
}

/** Most types in one filter. */
export const MAX_FILTER_TYPES = 64;

/** True when an event with `attributes` passes `filter`. */
export function matchesFilter(filter: EventFilter, attributes: EventAttributes | null | undefined): boolean {
  if (filter.key !== undefined && attributes?.key !== filter.key) return false;
  if (filter.types !== undefined) {
    const type = attributes?.type;
    if (type === undefined || !filter.types.includes(type)) return false;
  }
  return true;
}

/** True when the filter takes every event. */
export function isEmptyFilter(filter: EventFilter | undefined): boolean {
  return filter === undefined || (filter.key === undefined && filter.types === undefined);
}

/** Throws INVALID_FIELD for a key or type that no record can hold (too long, or not Unicode text), or too many types. */
export function checkFilter(filter: EventFilter): void {
  const bad = (field: string, expected: string) => new EventBusError(ErrorCodes.INVALID_FIELD, `${field} must be ${expected}`, { context: { field, expected } });
  if (filter.key !== undefined && (filter.key.length === 0 || Buffer.byteLength(filter.key) > MAX_KEY_BYTES)) throw bad('key', `1 to ${MAX_KEY_BYTES} bytes of UTF-8`);
  // Compared with stored keys and types as strings: a lone surrogate matches nothing ever stored.
  if (filter.key !== undefined) checkUnicodeText(filter.key, 'key');
  if (filter.types !== undefined) {
    if (filter.types.length === 0 || filter.types.length > MAX_FILTER_TYPES) throw bad('types', `1 to ${MAX_FILTER_TYPES} types`);
    for (let i = 0; i < filter.types.length; i++) {
      const type = filter.types[i]!;
      // Named by its element, as a lone surrogate is (checkUnicodeText): `types[0] must be 1 to 255 bytes of UTF-8`.
      if (type.length === 0 || Buffer.byteLength(type) > MAX_TYPE_BYTES) throw bad(`types[${i}]`, `1 to ${MAX_TYPE_BYTES} bytes of UTF-8`);
      checkUnicodeText(type, `types[${i}]`);
    }
  }
}
