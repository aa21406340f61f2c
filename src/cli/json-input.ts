/**
 * Checking JSON that a person gives the command (an event argument, a line of stdin) before it
 * is sent: it must be exactly one JSON value, since it is spliced into a request line as it is
 * (a fragment such as `1},"operation":"delete_stream"` must never reach the server). A failure
 * says where, in bytes, and what was expected there (protocol/json-syntax.ts).
 */
import { isUtf8 } from 'node:buffer';
import { locateJsonError } from '../protocol/json-syntax.js';

/** Why `bytes` is not one JSON value, or null when it is. */
export function jsonProblem(bytes: Buffer): string | null {
  if (!isUtf8(bytes)) return 'not valid UTF-8';
  try {
    JSON.parse(bytes.toString('utf8'));
    return null;
  } catch {
    return describe(bytes);
  }
}

/** The same for text known to be valid UTF-16 (a command-line argument). */
export function jsonTextProblem(text: string): string | null {
  try {
    JSON.parse(text);
    return null;
  } catch {
    return describe(Buffer.from(text, 'utf8'));
  }
}

function describe(bytes: Buffer): string {
  const where = locateJsonError(bytes);
  if (where === null) return 'not JSON';
  return `not JSON: at byte ${where.position}, expected ${where.expected.replace(/ \(one JSON object per line\)$/, '')}, found ${where.found}`;
}
