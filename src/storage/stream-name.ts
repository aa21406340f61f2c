/**
 * Stream names: any UTF-8 text of 1 to 255 bytes without control characters. Names are stored
 * in the catalog and never used as paths (a stream's directory is named by its UUID), so `../x`
 * or `/etc` are ordinary names.
 *
 * Names that start with {@link RESERVED_PREFIX} belong to the engine (dead-letter streams).
 */
import { ErrorCodes, EventBusError } from '../errors.js';

export const MAX_STREAM_NAME_BYTES = 255;

/** Dead-letter streams are named `$dlq:<stream name>`; users may not create such names. */
export const RESERVED_PREFIX = '$dlq:';

// C0 controls, DEL and C1 controls.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Throws INVALID_STREAM_NAME unless `name` is a valid stream name; `context.field` is
 * `options.field` (default `stream_name`, the wire's name; Engine.createStream names its argument,
 * `name`).
 */
export function validateStreamName(name: string, options: { allowReserved?: boolean; field?: string } = {}): void {
  const field = options.field ?? 'stream_name';
  const problem = nameProblem(name, options.allowReserved ? MAX_STREAM_NAME_BYTES + RESERVED_PREFIX.length : MAX_STREAM_NAME_BYTES);
  if (problem !== null) throw invalid('stream name', field, problem);
  if (!options.allowReserved && name.startsWith(RESERVED_PREFIX)) {
    throw invalid('stream name', field, `names starting with '${RESERVED_PREFIX}' are reserved for dead-letter streams`);
  }
}

/** Throws INVALID_FIELD unless `name` is a valid consumer name (the rules of stream names). */
export function validateConsumerName(name: string): void {
  const problem = nameProblem(name, MAX_STREAM_NAME_BYTES);
  if (problem !== null) throw new EventBusError(ErrorCodes.INVALID_FIELD, `invalid consumer name: ${problem}`, { context: { field: 'consumer' } });
}

function nameProblem(name: string, maxBytes: number): string | null {
  if (typeof name !== 'string') return 'it is not a string';
  if (name.length === 0) return 'it is empty';
  if (!name.isWellFormed()) return 'it is not valid Unicode text';
  if (CONTROL_CHARACTERS.test(name)) return 'it contains control characters';
  if (Buffer.byteLength(name, 'utf8') > maxBytes) return `it is longer than ${MAX_STREAM_NAME_BYTES} bytes`;
  return null;
}

function invalid(what: string, field: string, problem: string): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_STREAM_NAME, `invalid ${what}: ${problem}`, { context: { field } });
}

/** The name of the dead-letter stream of `streamName`. */
export function deadLetterStreamName(streamName: string): string {
  return RESERVED_PREFIX + streamName;
}
