/**
 * The rule of every string the engine stores or compares as UTF-8 bytes (keys, types, msg_ids,
 * the keys and types of filters): Unicode text. A JavaScript string may hold a lone surrogate
 * (`'\ud800'`, spelt `"\ud800"` in JSON), which has no UTF-8 form: Buffer.from writes U+FFFD in
 * its place, so `'\ud800'`, `'\udc00'` and `'\ufffd'` would be one key to the store and three to
 * every comparison of strings (versions repeated, a msg_id not recognised after a restart).
 * Stream and consumer names follow the same rule (stream-name.ts).
 */
import { ErrorCodes, EventBusError } from '../errors.js';

/** What such a field must be, as `context.expected` says it. */
export const UNICODE_TEXT = 'a string of Unicode text (no lone surrogate, \\ud800 to \\udfff)';

/** Throws INVALID_FIELD naming `field` unless `value` is well-formed UTF-16 (Unicode text). */
export function checkUnicodeText(value: string, field: string): void {
  if (!value.isWellFormed()) {
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `${field} must be Unicode text: it holds a lone surrogate (\\ud800 to \\udfff), which UTF-8 cannot store`, {
      context: { field, expected: UNICODE_TEXT },
    });
  }
}
