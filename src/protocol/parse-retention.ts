/**
 * A stream's `retention` object on the wire (`create_stream`, `set_stream_retention`):
 * `{"max_age_ms"?, "max_bytes"?, "max_events"?}`, each a whole number of 0 or more (0 =
 * unlimited); one left out follows the store's limit. Unknown keys are refused here (unlike
 * elsewhere in a body): a misspelt limit silently ignored would keep data the user meant gone.
 */
import type { StreamRetention } from '../storage/index.js';
import { findBodyMember, findObjectMember } from './raw-json.js';
import { integerField, invalidField, isObject, type JsonObject } from './parse-request.js';

const KEYS = { max_age_ms: 'maxAgeMs', max_bytes: 'maxBytes', max_events: 'maxEvents' } as const;

/** The required `retention` of set_stream_retention (`line`: its request line, for the integers' bytes). */
export function parseRetention(body: JsonObject, line: Buffer): StreamRetention {
  const value = body.retention;
  if (!isObject(value)) throw invalidField('retention', 'an object with max_age_ms, max_bytes and/or max_events');
  const retention: StreamRetention = {};
  for (const [key, limit] of Object.entries(value)) {
    if (!Object.hasOwn(KEYS, key)) throw invalidField(`retention.${key}`, 'one of max_age_ms, max_bytes, max_events');
    if (limit === null) continue; // null is "left out", as everywhere in a body
    const integer = integerField(limit, 0, line, () => {
      const span = findBodyMember(line, 'retention');
      return span === null ? null : findObjectMember(line, span, key);
    });
    if (integer === null) throw invalidField(`retention.${key}`, 'an integer from 0 to 9007199254740991 (0 = unlimited)');
    retention[KEYS[key as keyof typeof KEYS]] = integer;
  }
  return retention;
}

/** The optional `retention` of create_stream. */
export function parseOptionalRetention(body: JsonObject, line: Buffer): StreamRetention | undefined {
  return body.retention === undefined || body.retention === null ? undefined : parseRetention(body, line);
}
