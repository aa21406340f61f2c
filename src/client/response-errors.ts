/**
 * Turning a failure response into an EventBusError. Our server sends a `code`; the original Go
 * server did not, so its fixed reasons are mapped to the same codes.
 */
import { ErrorCodes, EventBusError, type ErrorCode } from '../errors.js';
import type { Response } from './types.js';

const KNOWN_CODES = new Set<string>(Object.values(ErrorCodes));

const ORIGINAL_REASONS: [RegExp, ErrorCode][] = [
  [/^invalid json provided/, ErrorCodes.INVALID_JSON],
  [/^operation must be one of: /, ErrorCodes.UNKNOWN_OPERATION],
  [/^missing required fields$/, ErrorCodes.MISSING_FIELDS],
  [/^unauthorized to make request$/, ErrorCodes.UNAUTHORIZED],
  [/^stream '.*' not found$/s, ErrorCodes.STREAM_NOT_FOUND],
  [/^stream: '.*' already exists$/s, ErrorCodes.STREAM_EXISTS],
  [/^event '.*' not found$/s, ErrorCodes.EVENT_NOT_FOUND],
  [/^status must be one of: /, ErrorCodes.INVALID_STATUS],
];

/** The error a failure response stands for. */
export function responseError(response: Response): EventBusError {
  const reason = typeof response.reason === 'string' ? response.reason : 'request failed (no reason given)';
  let code: ErrorCode = ErrorCodes.INTERNAL;
  if (typeof response.code === 'string' && KNOWN_CODES.has(response.code)) code = response.code as ErrorCode;
  else {
    for (const [pattern, mapped] of ORIGINAL_REASONS) {
      if (pattern.test(reason)) {
        code = mapped;
        break;
      }
    }
  }
  return new EventBusError(code, reason, response.context === undefined ? {} : { context: response.context });
}
