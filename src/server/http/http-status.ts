/**
 * The HTTP status of each error code on the HTTP port: 4xx for what the client can fix, 503 for
 * a store that cannot take the change now (disk full or failed, shutting down), 500 for bugs. The
 * body always names the code of the one error table, so a script never parses prose.
 */
import { ErrorCodes, type ErrorCode } from '../../errors.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCodes.INVALID_JSON]: 400,
  [ErrorCodes.INVALID_UTF8]: 400,
  [ErrorCodes.MISSING_FIELDS]: 400,
  [ErrorCodes.INVALID_FIELD]: 400,
  [ErrorCodes.INVALID_STREAM_NAME]: 400,
  [ErrorCodes.INVALID_PATH]: 400,
  [ErrorCodes.UNAUTHORIZED]: 401,
  [ErrorCodes.STREAM_NOT_FOUND]: 404,
  [ErrorCodes.STREAM_EXISTS]: 409,
  [ErrorCodes.TOO_MANY_STREAMS]: 409,
  [ErrorCodes.BATCH_TOO_LARGE]: 413,
  [ErrorCodes.LINE_TOO_LONG]: 413,
  [ErrorCodes.TIMEOUT]: 408,
  [ErrorCodes.TOO_MANY_CONNECTIONS]: 503,
  [ErrorCodes.SHUTTING_DOWN]: 503,
  [ErrorCodes.DISK_FULL]: 503,
  [ErrorCodes.IO_ERROR]: 503,
  [ErrorCodes.STREAM_FAILED]: 503,
  [ErrorCodes.CLOSED]: 503,
  [ErrorCodes.CORRUPT_DATA]: 500,
  [ErrorCodes.SNAPSHOT_FAILED]: 500,
  [ErrorCodes.NOT_SUPPORTED]: 501,
  [ErrorCodes.BACKEND_UNAVAILABLE]: 503,
};

/** The HTTP status for an error `code` (500 for codes not listed: INTERNAL and the like). */
export function httpStatusOf(code: string): number {
  return Object.hasOwn(STATUS, code) ? STATUS[code as ErrorCode]! : 500;
}
