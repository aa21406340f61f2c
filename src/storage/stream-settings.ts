/**
 * A stream's own settings, kept in its catalog entry (catalog.ts): retention limits that
 * override the store's per field (`create_stream` `retention`, `set_stream_retention`), and
 * truncation (`truncate_stream`): the offset below which its events are gone.
 *
 * Both are durable once the catalog write that records them is (the catalog is replaced whole,
 * crash-safely); snapshots carry the catalog, so they carry both. Truncation hides the events
 * below it from every read and consumer as soon as it is durable; the segments wholly below it
 * are removed by the next retention pass, as retention removes whole sealed segments. Offsets
 * continue: a truncation never changes the next offset.
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import type { RetentionPolicy } from './log/segment-list.js';

/** A stream's own retention limits: each one given overrides the store's (0 = unlimited). */
export type StreamRetention = Partial<RetentionPolicy>;

/** As the catalog stores it. */
export interface RetentionJson {
  max_age_ms?: number;
  max_bytes?: number;
  max_events?: number;
}

const FIELDS = [
  ['maxAgeMs', 'max_age_ms'],
  ['maxBytes', 'max_bytes'],
  ['maxEvents', 'max_events'],
] as const;

/** The limits that apply to a stream: its own where given, the store's otherwise. */
export function effectiveRetention(store: RetentionPolicy, own: StreamRetention | undefined): RetentionPolicy {
  if (own === undefined) return store;
  return {
    maxAgeMs: own.maxAgeMs ?? store.maxAgeMs,
    maxBytes: own.maxBytes ?? store.maxBytes,
    maxEvents: own.maxEvents ?? store.maxEvents,
  };
}

/**
 * Throws INVALID_FIELD unless every given limit is a whole number of 0 or more, naming it as the
 * engine's caller does (`retention.maxEvents`, or under `field`): the server's requests are
 * checked, under the wire's names, before they get here (protocol/parse-retention.ts).
 */
export function checkRetention(retention: StreamRetention, field = 'retention'): void {
  for (const [key] of FIELDS) {
    const value = retention[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new EventBusError(ErrorCodes.INVALID_FIELD, `${field}.${key} must be a whole number of 0 or more (0 = unlimited)`, {
        context: { field: `${field}.${key}`, expected: 'an integer of at least 0' },
      });
    }
  }
}

export function retentionToJson(retention: StreamRetention): RetentionJson {
  const json: RetentionJson = {};
  for (const [key, wire] of FIELDS) if (retention[key] !== undefined) json[wire] = retention[key];
  return json;
}

export function retentionFromJson(json: RetentionJson): StreamRetention {
  const retention: StreamRetention = {};
  for (const [key, wire] of FIELDS) if (typeof json[wire] === 'number') retention[key] = json[wire];
  return retention;
}
