/**
 * The client's errors: a failure response as an EventBusError (our server sends a `code`; the
 * original Go server did not, so its fixed reasons are mapped to the same codes), and the
 * transport's CONNECTION_ERRORs.
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

/** What a server's code looks like; one this client does not know yet still has this shape. */
const CODE_SHAPE = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * The error a failure response stands for. A code this client does not know (a newer server's)
 * is kept as sent, not turned into INTERNAL, which would say the server hit a bug.
 */
export function responseError(response: Response): EventBusError {
  const reason = typeof response.reason === 'string' ? response.reason : 'request failed (no reason given)';
  let code: ErrorCode = ErrorCodes.INTERNAL;
  if (typeof response.code === 'string' && (KNOWN_CODES.has(response.code) || CODE_SHAPE.test(response.code))) code = response.code as ErrorCode;
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

/** A transport failure: CONNECTION_ERROR with `reason`. */
export function connectionError(reason: string, cause?: unknown): EventBusError {
  return new EventBusError(ErrorCodes.CONNECTION_ERROR, reason, cause === undefined ? {} : { cause });
}

/** The socket's own error. */
export function socketError(error: Error): EventBusError {
  return connectionError(`connection error: ${error.message}`, error);
}

/**
 * A connection closed unanswered within this long of its first request is taken for a TLS
 * server's refusal of a plain connection (it closes on reading the first bytes).
 */
export const CLOSED_AT_ONCE_MS = 2_000;

/**
 * The connection closed while something was still expected from it; `unansweredAtOnce` when the
 * server closed it without ever sending a line, right after the first request (what a TLS server
 * does to a plain connection). A connection closed later without an answer (a long-poll waiting
 * on a server that was then killed) is only "closed".
 */
export function connectionClosed(unansweredAtOnce = false): EventBusError {
  return connectionError(unansweredAtOnce ? 'the connection was closed before any answer' : 'the connection was closed');
}
