/**
 * The reasons the original Go event-bus sent, byte for byte. Existing clients compare some of these
 * texts, so they never change (errors.ts: codes are stable, these reasons are too).
 */
import { OriginalReasons } from '../errors.js';
import { OPERATIONS } from './operations.js';

/** A line that is not a JSON object, or a body or field of the wrong shape or type. */
export const INVALID_JSON_REASON = 'invalid json provided';

/** An unknown, missing or empty operation: every operation we support, in the original's order. */
export const UNKNOWN_OPERATION_REASON = `operation must be one of: '${OPERATIONS.join("', '")}'`;

/** `body` absent (or null), or a required field absent from it. */
export const MISSING_FIELDS_REASON = 'missing required fields';

/** No configured client matches the request's credentials. */
export const UNAUTHORIZED_REASON = 'unauthorized to make request';

/** `mark_event` with a status from 3 to 255. The quoting is the original's, exactly. */
export const INVALID_STATUS_REASON = OriginalReasons.invalidStatus;

/** A line that is not valid UTF-8 (ours: the original replaced bad bytes with U+FFFD). */
export const INVALID_UTF8_REASON = 'invalid json provided: the request line is not valid UTF-8';

export const streamNotFoundReason = OriginalReasons.streamNotFound;
export const streamExistsReason = OriginalReasons.streamExists;
export const eventNotFoundReason = OriginalReasons.eventNotFound;
