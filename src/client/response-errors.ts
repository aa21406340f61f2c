/**
 * The client's errors: a failure response as an EventBusError (our server sends a `code`; the
 * original Go server did not, so its fixed reasons are mapped to the same codes), and the
 * transport's CONNECTION_ERRORs.
 */
import { ErrorCodes, EventBusError, type ErrorCode } from '../errors.js';
import type { Response } from './types.js';

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

/**
 * The error a failure response stands for. A code this client does not know (a newer server's,
 * or another server's of any spelling) is kept exactly as sent: turning it into INTERNAL would
 * lose it and say the server hit a bug. Only a response without a code (the original Go
 * server's; an empty code is none) has its code found from its fixed reason, else INTERNAL.
 */
export function responseError(response: Response): EventBusError {
  if (typeof response !== 'object' || response === null || Array.isArray(response)) {
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `response must be a parsed response line (an object), got ${String(response)}`, { context: { field: 'response', expected: 'a Response (an object)' } });
  }
  const reason = typeof response.reason === 'string' ? response.reason : 'request failed (no reason given)';
  const options = response.context === undefined ? {} : { context: response.context };
  // The type says ErrorCode; a newer server's code is a string outside it (documented in the README).
  if (typeof response.code === 'string' && response.code !== '') return new EventBusError(response.code as ErrorCode, reason, options);
  const mapped = ORIGINAL_REASONS.find(([pattern]) => pattern.test(reason));
  return new EventBusError(mapped === undefined ? ErrorCodes.INTERNAL : mapped[1], reason, options);
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
