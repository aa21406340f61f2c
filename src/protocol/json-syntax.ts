/**
 * Where a request line stops being JSON, for the `context` of `invalid json provided`: the byte
 * position of the first byte that cannot continue the JSON text (the line's length when it ends
 * too early), what would have been accepted there, and what was found.
 *
 * Only called for a line JSON.parse has rejected, so it costs nothing on the normal path. It
 * follows RFC 8259 byte by byte (as JSON.parse does on the decoded text; the line is valid UTF-8,
 * checked first), never recurses (nesting depth is bounded by the line length only), and reports
 * byte positions, where JSON.parse's messages count UTF-16 units and change between versions.
 */

/** What {@link locateJsonError} found. */
export interface JsonSyntaxError {
  /** Byte position in the line (0-based). */
  position: number;
  /** What would have been accepted there. */
  expected: string;
  /** What is there: a character in quotes, or `the end of the line`. */
  found: string;
}

const VALUE = 'a value (object, array, string, number, true, false or null)';
const END = 'the end of the line (one JSON object per line)';

function isWhitespace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

function isHex(byte: number | undefined): boolean {
  return isDigit(byte) || (byte !== undefined && ((byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66)));
}

/** The character at `position`, for `found`. */
export function describeByte(bytes: Buffer, position: number): string {
  if (position >= bytes.length) return 'the end of the line';
  const byte = bytes[position]!;
  if (byte >= 0x21 && byte <= 0x7e) return `'${String.fromCharCode(byte)}'`;
  if (byte === 0x20) return 'a space';
  if (byte < 0x80) return `the control character 0x${byte.toString(16).padStart(2, '0')}`;
  // A multi-byte UTF-8 character (the line is valid UTF-8): show it whole.
  const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
  return `'${bytes.toString('utf8', position, Math.min(bytes.length, position + length))}'`;
}

/**
 * The first syntax error in `bytes`, or null when they are one JSON value with only whitespace
 * around it. (A line that is valid JSON but not an object is the caller's to report.)
 */
export function locateJsonError(bytes: Buffer): JsonSyntaxError | null {
  const fail = (position: number, expected: string): JsonSyntaxError => ({ position, expected, found: describeByte(bytes, position) });
  /** Open containers, innermost last: true for an object, false for an array. */
  const open: boolean[] = [];
  let i = 0;
  const skip = () => {
    while (isWhitespace(bytes[i])) i++;
  };

  // Each turn parses one value at i, then the punctuation after it, until the top level ends.
  for (;;) {
    skip();
    const byte = bytes[i];
    if (byte === 0x7b || byte === 0x5b) {
      // An object or an array: empty, or its first member's start.
      const object = byte === 0x7b;
      i++;
      skip();
      if (bytes[i] === (object ? 0x7d : 0x5d)) {
        i++;
      } else {
        open.push(object);
        if (object) {
          const error = key();
          if (error !== null) return error;
        }
        continue;
      }
    } else if (byte === 0x22) {
      const error = string();
      if (error !== null) return error;
    } else if (byte === 0x2d || isDigit(byte)) {
      const error = number();
      if (error !== null) return error;
    } else if (byte === 0x74 || byte === 0x66 || byte === 0x6e) {
      const word = byte === 0x74 ? 'true' : byte === 0x66 ? 'false' : 'null';
      for (let k = 0; k < word.length; k++, i++) {
        if (bytes[i] !== word.charCodeAt(k)) return fail(i, `'${word}'`);
      }
    } else {
      return fail(i, VALUE);
    }

    // After a value: close containers, or a comma and the next member.
    for (;;) {
      skip();
      if (open.length === 0) return i === bytes.length ? null : fail(i, END);
      const object = open[open.length - 1]!;
      const close = object ? 0x7d : 0x5d;
      if (bytes[i] === close) {
        open.pop();
        i++;
        continue;
      }
      if (bytes[i] !== 0x2c) return fail(i, object ? "',' or '}'" : "',' or ']'");
      i++;
      if (object) {
        const error = key();
        if (error !== null) return error;
      }
      break;
    }
  }

  /** At a member of an object: `"name"` then `:`; leaves i at the value. */
  function key(): JsonSyntaxError | null {
    skip();
    if (bytes[i] !== 0x22) return fail(i, 'a property name in double quotes');
    const error = string();
    if (error !== null) return error;
    skip();
    if (bytes[i] !== 0x3a) return fail(i, "':' after the property name");
    i++;
    return null;
  }

  /** At an opening quote: moves i past the closing one. */
  function string(): JsonSyntaxError | null {
    for (i++; i < bytes.length; i++) {
      const byte = bytes[i]!;
      if (byte === 0x22) {
        i++;
        return null;
      }
      if (byte < 0x20) return fail(i, 'a character of the string (control characters must be escaped) or a closing quote');
      if (byte === 0x5c) {
        i++;
        const escape = bytes[i];
        if (escape === 0x75) {
          for (let k = 1; k <= 4; k++) if (!isHex(bytes[i + k])) return fail(i + k, 'a hexadecimal digit of a \\u escape');
          i += 4;
        } else if (escape === undefined || !'"\\/bfnrt'.includes(String.fromCharCode(escape))) {
          return fail(i, 'an escape: \\" \\\\ \\/ \\b \\f \\n \\r \\t or \\uXXXX');
        }
      }
    }
    return fail(i, 'a closing quote');
  }

  /** At '-' or a digit: moves i past the number. */
  function number(): JsonSyntaxError | null {
    if (bytes[i] === 0x2d) i++;
    if (bytes[i] === 0x30) i++;
    else if (isDigit(bytes[i])) while (isDigit(bytes[i])) i++;
    else return fail(i, 'a digit');
    if (bytes[i] === 0x2e) {
      i++;
      if (!isDigit(bytes[i])) return fail(i, 'a digit after the decimal point');
      while (isDigit(bytes[i])) i++;
    }
    if (bytes[i] === 0x65 || bytes[i] === 0x45) {
      i++;
      if (bytes[i] === 0x2b || bytes[i] === 0x2d) i++;
      if (!isDigit(bytes[i])) return fail(i, 'a digit of the exponent');
      while (isDigit(bytes[i])) i++;
    }
    return null;
  }
}
