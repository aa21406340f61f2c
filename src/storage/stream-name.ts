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

/** Throws INVALID_STREAM_NAME unless `name` is a valid stream name. */
export function validateStreamName(name: string, options: { allowReserved?: boolean } = {}): void {
  const reject = (why: string) => {
    throw new EventBusError(ErrorCodes.INVALID_STREAM_NAME, `invalid stream name: ${why}`, { context: { field: 'stream_name' } });
  };
  if (name.length === 0) reject('it is empty');
  if (!name.isWellFormed()) reject('it is not valid Unicode text');
  if (CONTROL_CHARACTERS.test(name)) reject('it contains control characters');
  const limit = options.allowReserved ? MAX_STREAM_NAME_BYTES + RESERVED_PREFIX.length : MAX_STREAM_NAME_BYTES;
  if (Buffer.byteLength(name, 'utf8') > limit) reject(`it is longer than ${MAX_STREAM_NAME_BYTES} bytes`);
  if (!options.allowReserved && name.startsWith(RESERVED_PREFIX)) reject(`names starting with '${RESERVED_PREFIX}' are reserved for dead-letter streams`);
}

/** The name of the dead-letter stream of `streamName`. */
export function deadLetterStreamName(streamName: string): string {
  return RESERVED_PREFIX + streamName;
}
