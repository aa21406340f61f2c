/**
 * Byte-level helpers over a request line that JSON.parse has already accepted.
 *
 * `write_event` stores the event exactly as the client wrote it, so big integers such as
 * 12345678901234567890, `1.0` or `"\u00e9"` come back byte for byte: JSON.parse and
 * JSON.stringify would change them. {@link findBodyMember} finds the raw bytes of `body.<key>`,
 * and {@link compactJson} removes the whitespace outside strings, as Go's json.RawMessage
 * compaction did in the original.
 *
 * Every function here assumes the bytes are valid JSON (the caller parsed them first); they never
 * recurse, so nesting depth costs no stack.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/** A byte range of a buffer: [start, end). */
export interface Span {
  start: number;
  end: number;
}

function isWhitespace(byte: number | undefined): boolean {
  return byte === SPACE || byte === TAB || byte === NEWLINE || byte === CARRIAGE_RETURN;
}

function skipWhitespace(bytes: Buffer, at: number): number {
  while (isWhitespace(bytes[at])) at++;
  return at;
}

/** `at` is on an opening quote; returns the index after the closing quote. */
function skipString(bytes: Buffer, at: number): number {
  const end = bytes.length;
  for (let i = at + 1; i < end; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) return i + 1;
    if (byte === BACKSLASH) i++;
  }
  return end;
}

/** `at` is on the first byte of a value; returns the index after it. */
function skipValue(bytes: Buffer, at: number): number {
  const first = bytes[at];
  if (first === QUOTE) return skipString(bytes, at);
  const end = bytes.length;
  if (first === OPEN_BRACE || first === OPEN_BRACKET) {
    let depth = 0;
    let i = at;
    while (i < end) {
      const byte = bytes[i];
      if (byte === QUOTE) {
        i = skipString(bytes, i);
        continue;
      }
      if (byte === OPEN_BRACE || byte === OPEN_BRACKET) depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return end;
  }
  // A number, true, false or null: up to the next delimiter.
  let i = at;
  while (i < end) {
    const byte = bytes[i];
    if (byte === COMMA || byte === CLOSE_BRACE || byte === CLOSE_BRACKET || isWhitespace(byte)) break;
    i++;
  }
  return i;
}

/** True when the string token at [start, end) (quotes included) decodes to `key`. */
function keyEquals(bytes: Buffer, start: number, end: number, key: string): boolean {
  let escaped = false;
  for (let i = start + 1; i < end - 1; i++) {
    if (bytes[i] === BACKSLASH) {
      escaped = true;
      break;
    }
  }
  if (escaped) return JSON.parse(bytes.toString('utf8', start, end)) === key;
  if (end - start - 2 !== key.length) return false;
  for (let i = 0; i < key.length; i++) {
    if (bytes[start + 1 + i] !== key.charCodeAt(i)) return false;
  }
  return true;
}

/** The index in `keys` of the name in the string token at [start, end), or -1. */
function keyIndex(bytes: Buffer, start: number, end: number, keys: readonly string[]): number {
  for (let k = 0; k < keys.length; k++) if (keyEquals(bytes, start, end, keys[k]!)) return k;
  return -1;
}

/**
 * Scans the object at `at` for members called `keys[k]`: `found[k]` is the span of the last one's
 * value (as JSON.parse keeps the last duplicate) or null, and `end` the index after the object.
 * With `innerKeys`, `found` holds instead the spans of `<keys[0]>.<innerKeys[k]>` (all null if the
 * last `keys[0]` is not an object or has no such member). One pass, however many keys.
 */
function scanObject(bytes: Buffer, at: number, keys: readonly string[], innerKeys: readonly string[] | null): { found: (Span | null)[]; end: number } {
  let i = skipWhitespace(bytes, at);
  let found: (Span | null)[] = new Array<Span | null>((innerKeys ?? keys).length).fill(null);
  if (bytes[i] !== OPEN_BRACE) return { found, end: skipValue(bytes, i) };
  i = skipWhitespace(bytes, i + 1);
  while (i < bytes.length && bytes[i] !== CLOSE_BRACE) {
    const keyStart = i;
    i = skipString(bytes, i);
    const k = keyIndex(bytes, keyStart, i, keys);
    i = skipWhitespace(bytes, i) + 1; // the colon
    i = skipWhitespace(bytes, i);
    const valueStart = i;
    if (k >= 0 && innerKeys !== null) {
      const inner = scanObject(bytes, valueStart, innerKeys, null);
      found = inner.found;
      i = inner.end;
    } else {
      i = skipValue(bytes, i);
      if (k >= 0) found[k] = { start: valueStart, end: i };
    }
    i = skipWhitespace(bytes, i);
    if (bytes[i] === COMMA) i = skipWhitespace(bytes, i + 1);
  }
  return { found, end: i + 1 };
}

/** The raw span of the top-level member `key` of a request line (the last one), or null. */
export function findMember(line: Buffer, key: string): Span | null {
  return scanObject(line, 0, [key], null).found[0] ?? null;
}

/** The raw span of member `key` of the JSON object at `span` (the last one), or null. */
export function findObjectMember(bytes: Buffer, span: Span, key: string): Span | null {
  return scanObject(bytes, span.start, [key], null).found[0] ?? null;
}

/**
 * The raw span of `body.<key>` in a request line, or null when there is none. With duplicate
 * keys, the last `body` and, inside it, the last `key` count, as with JSON.parse.
 */
export function findBodyMember(line: Buffer, key: string): Span | null {
  return scanObject(line, 0, ['body'], [key]).found[0] ?? null;
}

/**
 * {@link findBodyMember} of each of `keys`, in one pass over the line: a big `append_events`
 * is scanned once for its events and its expected version, not once for each.
 */
export function findBodyMembers(line: Buffer, keys: readonly string[]): (Span | null)[] {
  return scanObject(line, 0, ['body'], keys).found;
}

/**
 * `json` without whitespace outside strings. Returns `json` itself (no copy) when it has none,
 * which is the usual case for machine-written events.
 */
export function compactJson(json: Buffer): Buffer {
  const end = json.length;
  let out: Buffer | null = null;
  let written = 0;
  let runStart = 0;
  let i = 0;
  while (i < end) {
    const byte = json[i]!;
    if (byte === QUOTE) {
      i = skipString(json, i);
      continue;
    }
    if (isWhitespace(byte)) {
      out ??= Buffer.allocUnsafe(end);
      written += json.copy(out, written, runStart, i);
      i = skipWhitespace(json, i);
      runStart = i;
      continue;
    }
    i++;
  }
  if (out === null) return json;
  written += json.copy(out, written, runStart, end);
  return out.subarray(0, written);
}

/**
 * The spans of the elements of the JSON array at `span` (e.g. a response's `body.events`, so a
 * client prints each event byte for byte, as stored). Empty when `span` is not an array.
 */
export function arrayElementSpans(bytes: Buffer, span: Span): Span[] {
  const elements: Span[] = [];
  let i = skipWhitespace(bytes, span.start);
  if (bytes[i] !== OPEN_BRACKET) return elements;
  i = skipWhitespace(bytes, i + 1);
  while (i < span.end && bytes[i] !== CLOSE_BRACKET) {
    const start = i;
    i = skipValue(bytes, i);
    elements.push({ start, end: i });
    i = skipWhitespace(bytes, i);
    if (bytes[i] === COMMA) i = skipWhitespace(bytes, i + 1);
  }
  return elements;
}
