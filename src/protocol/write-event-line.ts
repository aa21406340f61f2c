/**
 * The hot path of request parsing: a `write_event` line decoded in one pass over its bytes.
 *
 * The general path (parse-request.ts) parses a line with JSON.parse (turning the event into
 * objects nobody reads), then scans the bytes again for the event's raw text (stored as written).
 * This scanner does both at once: it checks the line is one JSON object (RFC 8259, as JSON.parse
 * does), and finds `operation`, `request_id`, `auth`, `body.stream_name` and the raw span of
 * `body.event`, allocating only the strings it returns and the event's view of the line.
 *
 * It answers only the usual case. On anything else (another operation, a key with an escape, a
 * field of another type, a syntax error, nesting deeper than {@link MAX_DEPTH}) it returns null
 * and the caller takes the general path, which words every error exactly. So whenever it returns
 * a request, that request is the one the general path gives for the same line; the test
 * (test/protocol/write-event-line.test.ts) compares the two on generated lines.
 */
import { isUtf8 } from 'node:buffer';
import { compactJson } from './raw-json.js';
import type { Credentials, WriteEventRequest } from './requests.js';

/** A `write_event` line, decoded. */
export interface DecodedWriteEvent {
  request: WriteEventRequest;
  /** As decodeLine gives it: `request_id` as JSON text, undefined when absent or null. */
  requestIdJson: string | undefined;
  /** As decodeLine gives it: null when `auth` is absent or null. */
  credentials: Credentials | null;
}

/** Containers nested deeper than this inside a value are left to the general path. */
export const MAX_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const LOWER_U = 0x75;
const LOWER_N = 0x6e;
const LOWER_T = 0x74;
const LOWER_F = 0x66;

const OPERATION = Buffer.from('operation');
const REQUEST_ID = Buffer.from('request_id');
const AUTH = Buffer.from('auth');
const BODY = Buffer.from('body');
const STREAM_NAME = Buffer.from('stream_name');
const EVENT = Buffer.from('event');
const CLIENT_ID = Buffer.from('client_id');
const CLIENT_SECRET = Buffer.from('client_secret');
const WRITE_EVENT = Buffer.from('write_event');

const IS_OBJECT = 1;
const IS_ARRAY = 2;

/**
 * What the last scan saw, besides where it ended (the scanner is synchronous and not re-entered,
 * so module state is safe and saves an object per token).
 */
let stringEscaped = false;
let stringHighBytes = false;
/** Set by any string of the line holding a byte of 0x80 or more (only valid inside strings). */
let lineHighBytes = false;
let spaceInside = false;
/** Where the content of the last key scanned starts and ends (between its quotes). */
let keyStart = 0;
let keyEnd = 0;
/** Open containers of the value being scanned, innermost last. */
const openContainers = new Uint8Array(MAX_DEPTH);

/** 1 for the bytes that stand for themselves in a string: printable ASCII but `"` and `\\`. */
const PLAIN = new Uint8Array(256);
for (let byte = SPACE; byte < 0x7f; byte++) PLAIN[byte] = byte === QUOTE || byte === BACKSLASH ? 0 : 1;
PLAIN[0x7f] = 1;

/** True for the bytes RFC 8259 treats as whitespace. */
function isSpace(byte: number): boolean {
  return byte === SPACE || byte === TAB || byte === CARRIAGE_RETURN || byte === NEWLINE;
}

function skipSpace(b: Buffer, i: number): number {
  const n = b.length;
  const start = i;
  while (i < n && isSpace(b[i]!)) i++;
  if (i !== start) spaceInside = true;
  return i;
}

function isHex(byte: number): boolean {
  return (byte >= ZERO && byte <= NINE) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);
}

/** At an opening quote: the index after the closing one, or -1. Sets stringEscaped and stringHighBytes. */
function scanString(b: Buffer, i: number): number {
  const n = b.length;
  let escaped = false;
  let high = 0;
  for (i++; i < n; i++) {
    // Most bytes of a string are plain printable ASCII: step over a run of them first.
    while (i < n && PLAIN[b[i]!] === 1) i++;
    if (i >= n) break;
    const byte = b[i]!;
    if (byte === QUOTE) {
      stringEscaped = escaped;
      stringHighBytes = (high & 0x80) !== 0;
      if (stringHighBytes) lineHighBytes = true;
      return i + 1;
    }
    if (byte < SPACE) return -1;
    high |= byte;
    if (byte === BACKSLASH) {
      escaped = true;
      const next = b[++i];
      if (next === LOWER_U) {
        if (i + 4 >= n || !isHex(b[i + 1]!) || !isHex(b[i + 2]!) || !isHex(b[i + 3]!) || !isHex(b[i + 4]!)) return -1;
        i += 4;
      } else if (!(next === QUOTE || next === BACKSLASH || next === SLASH || next === 0x62 || next === LOWER_F || next === LOWER_N || next === 0x72 || next === LOWER_T)) {
        return -1;
      }
    }
  }
  return -1;
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= ZERO && byte <= NINE;
}

/** At '-' or a digit: the index after the number, or -1. */
function scanNumber(b: Buffer, i: number): number {
  if (b[i] === MINUS) i++;
  if (b[i] === ZERO) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  if (b[i] === DOT) {
    i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === LOWER_E || b[i] === UPPER_E) {
    i++;
    if (b[i] === PLUS || b[i] === MINUS) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

/** At `word`'s first byte: the index after it, or -1. */
function scanWord(b: Buffer, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** A scalar (string, number, true, false, null) at i: the index after it, or -1. */
function scanScalar(b: Buffer, i: number): number {
  const byte = b[i];
  if (byte === QUOTE) return scanString(b, i);
  if (byte === MINUS || isDigit(byte)) return scanNumber(b, i);
  if (byte === LOWER_T) return scanWord(b, i, 'true');
  if (byte === LOWER_F) return scanWord(b, i, 'false');
  if (byte === LOWER_N) return scanWord(b, i, 'null');
  return -1;
}

/** At `"`: the member's key, then the colon; the index of its value, or -1. Sets keyStart, keyEnd. */
function scanKey(b: Buffer, i: number): number {
  if (b[i] !== QUOTE) return -1;
  keyStart = i + 1;
  i = scanString(b, i);
  if (i < 0) return -1;
  keyEnd = i - 1;
  i = skipSpace(b, i);
  if (b[i] !== COLON) return -1;
  return skipSpace(b, i + 1);
}

/**
 * Any JSON value at i (no whitespace before it): the index after it, or -1. Never recurses;
 * sets spaceInside when it skipped whitespace inside the value.
 */
function scanValue(b: Buffer, i: number): number {
  let depth = 0;
  for (;;) {
    const byte = b[i];
    if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      const object = byte === OPEN_BRACE;
      i = skipSpace(b, i + 1);
      if (b[i] === (object ? CLOSE_BRACE : CLOSE_BRACKET)) {
        i++;
      } else {
        if (depth === MAX_DEPTH) return -1;
        openContainers[depth++] = object ? IS_OBJECT : IS_ARRAY;
        if (object && (i = scanKey(b, i)) < 0) return -1;
        continue;
      }
    } else if ((i = scanScalar(b, i)) < 0) {
      return -1;
    }
    // After a value: close containers, or a comma and the next member.
    for (;;) {
      if (depth === 0) return i;
      i = skipSpace(b, i);
      const object = openContainers[depth - 1] === IS_OBJECT;
      const next = b[i];
      if (next === (object ? CLOSE_BRACE : CLOSE_BRACKET)) {
        depth--;
        i++;
        continue;
      }
      if (next !== COMMA) return -1;
      i = skipSpace(b, i + 1);
      if (object && (i = scanKey(b, i)) < 0) return -1;
      break;
    }
  }
}

/** True when b[start, end) holds exactly `word`. */
function bytesEqual(b: Buffer, start: number, end: number, word: Buffer): boolean {
  if (end - start !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (b[start + k] !== word[k]) return false;
  return true;
}

/** The string token b[start, end) (quotes included) as scanned last, decoded. */
function stringValue(b: Buffer, start: number, end: number, escaped: boolean, high: boolean): string {
  if (escaped) return JSON.parse(b.toString('utf8', start, end)) as string;
  return b.toString(high ? 'utf8' : 'latin1', start + 1, end - 1);
}

/**
 * Stream names seen last, with their bytes: a client writes to a few streams, and decoding the
 * name of every write again was a tenth of the parse. Also makes equal names one string, which
 * compare at once.
 */
const NAMES_KEPT = 8;
const NAME_BYTES_KEPT = 256;
const recentNames: { bytes: Buffer; name: string }[] = [];

/** The stream name token b[start, end) (quotes included, no escapes), decoded. */
function streamNameValue(b: Buffer, start: number, end: number, high: boolean): string {
  const from = start + 1;
  const length = end - 1 - from;
  for (let k = 0; k < recentNames.length; k++) {
    const recent = recentNames[k]!;
    if (recent.bytes.length === length && bytesEqual(b, from, from + length, recent.bytes)) return recent.name;
  }
  const name = b.toString(high ? 'utf8' : 'latin1', from, from + length);
  if (length <= NAME_BYTES_KEPT) {
    if (recentNames.length === NAMES_KEPT) recentNames.pop();
    recentNames.unshift({ bytes: Buffer.from(b.subarray(from, from + length)), name });
  }
  return name;
}

/** What the members of `auth` and `body` found. */
let clientId = '';
let clientSecret = '';
let nameStart = -1;
let nameEnd = -1;
let nameEscaped = false;
let nameHigh = false;
let eventStart = -1;
let eventEnd = -1;
let eventSpaced = false;

/** At `{` of `auth`: the index after it, or -1 for anything the general path must answer. */
function scanAuth(b: Buffer, i: number): number {
  clientId = '';
  clientSecret = '';
  i = skipSpace(b, i + 1);
  if (b[i] === CLOSE_BRACE) return i + 1;
  for (;;) {
    i = scanKey(b, i);
    if (i < 0 || stringEscaped) return -1;
    const isId = bytesEqual(b, keyStart, keyEnd, CLIENT_ID);
    const isSecret = !isId && bytesEqual(b, keyStart, keyEnd, CLIENT_SECRET);
    if (isId || isSecret) {
      let text = '';
      if (b[i] === QUOTE) {
        const start = i;
        i = scanString(b, i);
        if (i < 0) return -1;
        text = stringValue(b, start, i, stringEscaped, stringHighBytes);
        // Only an escape can spell a lone surrogate: INVALID_FIELD, the general path's to word.
        if (stringEscaped && !text.isWellFormed()) return -1;
      } else if ((i = scanWord(b, i, 'null')) < 0) {
        return -1; // not a string: INVALID_FIELD, the general path's to word
      }
      if (isId) clientId = text;
      else clientSecret = text;
    } else {
      // Any other member of the body (today ignored; fields a later protocol adds, such as an
      // event-sourcing key or expected version) is the general path's to read: never dropped here.
      return -1;
    }
    i = skipSpace(b, i);
    if (b[i] === CLOSE_BRACE) return i + 1;
    if (b[i] !== COMMA) return -1;
    i = skipSpace(b, i + 1);
  }
}

/** At `{` of `body`: the index after it, or -1. Finds stream_name (a string) and event (any value); nothing else. */
function scanBody(b: Buffer, i: number): number {
  // A later `body` replaces an earlier one whole, as with JSON.parse.
  nameStart = -1;
  eventStart = -1;
  i = skipSpace(b, i + 1);
  if (b[i] === CLOSE_BRACE) return i + 1;
  for (;;) {
    i = scanKey(b, i);
    if (i < 0 || stringEscaped) return -1;
    if (bytesEqual(b, keyStart, keyEnd, STREAM_NAME)) {
      if (b[i] !== QUOTE) return -1; // null (missing) or another type: the general path's error
      nameStart = i;
      i = scanString(b, i);
      if (i < 0) return -1;
      nameEnd = i;
      nameEscaped = stringEscaped;
      nameHigh = stringHighBytes;
    } else if (bytesEqual(b, keyStart, keyEnd, EVENT)) {
      eventStart = i;
      spaceInside = false;
      i = scanValue(b, i);
      if (i < 0) return -1;
      eventEnd = i;
      eventSpaced = spaceInside;
    } else {
      // Any other member of the body (today ignored; fields a later protocol adds, such as an
      // event-sourcing key or expected version) is the general path's to read: never dropped here.
      return -1;
    }
    i = skipSpace(b, i);
    if (b[i] === CLOSE_BRACE) return i + 1;
    if (b[i] !== COMMA) return -1;
    i = skipSpace(b, i + 1);
  }
}

/**
 * Decodes `line` if it is a valid `write_event` request that the general path would accept up to
 * authorisation (the connection checks the credentials); null otherwise, for the general path.
 */
export function decodeWriteEventLine(line: Buffer): DecodedWriteEvent | null {
  const b = line;
  const n = b.length;
  let i = skipSpace(b, 0);
  if (b[i] !== OPEN_BRACE) return null;
  i = skipSpace(b, i + 1);
  let isWrite = false;
  let idStart = -1;
  let idEnd = -1;
  let idIsString = false;
  let idEscaped = false;
  let credentials: Credentials | null = null;
  let bodyFound = false;
  lineHighBytes = false;
  if (b[i] === CLOSE_BRACE) return null;
  for (;;) {
    i = scanKey(b, i);
    if (i < 0 || stringEscaped) return null;
    const keyLength = keyEnd - keyStart;
    if (keyLength === 9 && bytesEqual(b, keyStart, keyEnd, OPERATION)) {
      if (b[i] !== QUOTE) return null;
      const start = i;
      i = scanString(b, i);
      if (i < 0 || stringEscaped || !bytesEqual(b, start + 1, i - 1, WRITE_EVENT)) return null;
      isWrite = true;
    } else if (keyLength === 10 && bytesEqual(b, keyStart, keyEnd, REQUEST_ID)) {
      const first = b[i];
      idStart = i;
      if (first === QUOTE) {
        i = scanString(b, i);
        idIsString = true;
        idEscaped = stringEscaped;
      } else if (first === MINUS || isDigit(first)) {
        i = scanNumber(b, i);
        idIsString = false;
      } else {
        i = scanWord(b, i, 'null');
        idStart = -1;
      }
      if (i < 0) return null;
      idEnd = i;
    } else if (keyLength === 4 && bytesEqual(b, keyStart, keyEnd, AUTH)) {
      if (b[i] === OPEN_BRACE) {
        i = scanAuth(b, i);
        if (i < 0) return null;
        credentials = { clientId, clientSecret };
      } else {
        if ((i = scanWord(b, i, 'null')) < 0) return null;
        credentials = null;
      }
    } else if (keyLength === 4 && bytesEqual(b, keyStart, keyEnd, BODY)) {
      if (b[i] !== OPEN_BRACE) return null;
      i = scanBody(b, i);
      if (i < 0) return null;
      bodyFound = true;
    } else {
      if ((i = scanValue(b, i)) < 0) return null;
    }
    i = skipSpace(b, i);
    if (b[i] === CLOSE_BRACE) break;
    if (b[i] !== COMMA) return null;
    i = skipSpace(b, i + 1);
  }
  if (skipSpace(b, i + 1) !== n) return null;
  if (!isWrite || !bodyFound || nameStart < 0 || eventStart < 0) return null;
  // Bytes of 0x80 and above pass the scan only inside strings: are they UTF-8 there?
  if (lineHighBytes && !isUtf8(line)) return null;
  let requestIdJson: string | undefined;
  if (idStart >= 0) {
    if (!idIsString) requestIdJson = b.toString('latin1', idStart, idEnd);
    else if (idEscaped) requestIdJson = JSON.stringify(JSON.parse(b.toString('utf8', idStart, idEnd)));
    else requestIdJson = b.toString('utf8', idStart, idEnd);
  }
  const streamName = nameEscaped ? stringValue(b, nameStart, nameEnd, true, nameHigh) : streamNameValue(b, nameStart, nameEnd, nameHigh);
  // A lone surrogate (only an escape spells one) is INVALID_STREAM_NAME, the general path's to answer.
  if (nameEscaped && !streamName.isWellFormed()) return null;
  const raw = b.subarray(eventStart, eventEnd);
  const event = eventSpaced ? compactJson(raw) : raw;
  return { request: { operation: 'write_event', streamName, event, extras: null }, requestIdJson, credentials };
}
