/**
 * `eventbus write NAME` with no event argument: JSON lines from stdin, one event per line, sent
 * pipelined on one connection (so they are stored in the order of the lines; with `--key`, each
 * takes the key's next version, and `--type` is given to each) with at most
 * {@link WINDOW} writes unanswered, counted line by line; reading stdin waits while the window is
 * full, so memory stays flat for a file of any size. Blank lines are skipped (and counted in line numbers).
 *
 * Every line is checked to be one JSON value before it is sent. At the first line that is not,
 * nothing more is sent; the lines before it are written, and the failure names the line (exit
 * 65). A line the server refuses (EVENT_TOO_LARGE, STREAM_NOT_FOUND, ...) stops the reading too;
 * lines already sent behind it may still be written, and the report says how many were. A line
 * longer than the server's request line limit (`max_line_bytes`) is refused here, as soon as the
 * part read passes the limit: the rest of it is not read (the server would close the connection).
 * Each byte of stdin is searched once, however long its line, and a line is joined once.
 * Ctrl-C stops the reading; the writes in flight are answered (for up to {@link STOP_WAIT_MS},
 * then abandoned) and the report says what was written (exit 130).
 */
import type { Readable } from 'node:stream';
import type { EventBusClient } from '../client/client.js';
import type { WriteOptions } from '../client/types.js';
import { ErrorCodes, isEventBusError, type EventBusError } from '../errors.js';
import { CommandFailure, clientFailure, type Target } from './command-failure.js';
import { jsonProblem } from './json-input.js';
import { formatCount, formatOffsets } from './output.js';
import type { ProgressBar } from './progress-bar.js';
import type { StopSignal } from './stop-signal.js';

/** After Ctrl-C, how long the writes in flight are waited for before they are abandoned (a server that does not answer). */
export const STOP_WAIT_MS = 2_000;

/** Writes in flight at most (the server reads up to max_in_flight_requests, 256 by default, and TCP holds the rest). */
export const WINDOW = 4096;

export interface BulkResult {
  /** Events written (acknowledged). */
  events: number;
  /** Lines read (blank ones included). */
  lines: number;
  firstOffset: number | null;
  lastOffset: number | null;
  elapsedMs: number;
}

/** The server's `max_line_bytes` by default (src/server/limits.ts): its longest request line. */
export const DEFAULT_MAX_LINE_BYTES = 5 * 1024 * 1024;

export interface BulkLimits {
  /** The server's longest request line (`max_line_bytes`); default {@link DEFAULT_MAX_LINE_BYTES}. */
  maxLineBytes?: number;
  /** Ctrl-C: stop reading, wait for the writes in flight, and report what was written (exit 130). */
  stop?: StopSignal;
}

interface Refusal {
  line: number;
  error: EventBusError;
}

const NEWLINE = 0x0a;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false;
  return true;
}

/** Reads JSON lines from `input` and writes each as an event of `stream`. */
export async function bulkWrite(client: EventBusClient, stream: string, input: Readable, progress: ProgressBar, target: Target, options: WriteOptions = {}, limits: BulkLimits = {}): Promise<BulkResult> {
  const maxLineBytes = limits.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const stop = limits.stop;
  const started = performance.now();
  let lineNumber = 0;
  let bytesRead = 0;
  let events = 0;
  let inFlight = 0;
  let firstOffset: number | null = null;
  let lastOffset: number | null = null;
  let refusal: Refusal | null = null;
  let lost: EventBusError | null = null;
  /** Writes abandoned unanswered after Ctrl-C. */
  let unanswered = 0;
  let abandoned = false;
  let wake: (() => void) | null = null;
  const settled = () => {
    inFlight -= 1;
    if (wake !== null && (inFlight <= WINDOW / 2 || refusal !== null || lost !== null)) {
      const resume = wake;
      wake = null;
      resume();
    }
  };
  const send = (line: number, json: string) => {
    inFlight += 1;
    client.writeEventJson(stream, json, options).then((written) => {
      events += 1;
      firstOffset ??= written.offset;
      lastOffset = written.offset;
      settled();
    }, (error: unknown) => {
      if (abandoned) unanswered += 1;
      else if (isEventBusError(error) && (error.code === ErrorCodes.CONNECTION_ERROR || error.code === ErrorCodes.TIMEOUT || error.code === ErrorCodes.CLOSED)) lost ??= error;
      else if (isEventBusError(error)) refusal ??= { line, error };
      else lost ??= error as EventBusError;
      settled();
    });
  };
  // Ctrl-C ends the reading at once, also while it waits for stdin (a terminal, a quiet pipe).
  void stop?.stopped.then(() => {
    input.destroy();
    const resume = wake;
    wake = null;
    resume?.();
  });
  const waitFor = (condition: () => boolean) => (condition() ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve)));
  const ending = () => refusal !== null || lost !== null || stop?.isStopped() === true;
  /**
   * Waits while {@link WINDOW} writes are unanswered (until half are); false once the reading is
   * to end instead (a refusal, a lost connection, Ctrl-C).
   */
  const roomInWindow = async (): Promise<boolean> => {
    while (inFlight >= WINDOW && !ending()) await waitFor(() => inFlight <= WINDOW / 2 || ending());
    return !ending();
  };

  let badLine: { line: number; problem: string } | null = null;
  let tooLong: { line: number; bytes: number } | null = null;
  // The line being read, as the pieces of the chunks it spans (joined once, when it ends), so
  // each byte is looked at once however long the line: no copying of what was read before.
  let pieces: Buffer[] = [];
  let pieceBytes = 0;
  // A line longer than this is refused by the server (LINE_TOO_LONG, closing the connection):
  // stop as soon as the line being read passes it, without reading the rest of it.
  const maxEventBytes = maxLineBytes - client.writeEventOverheadBytes(stream, options);
  const take = (line: Buffer): boolean => {
    lineNumber += 1;
    // A UTF-8 byte order mark (as some editors save) is not part of the first line's JSON.
    if (lineNumber === 1 && line.length >= 3 && line[0] === 0xef && line[1] === 0xbb && line[2] === 0xbf) line = line.subarray(3);
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    const text = line.subarray(0, end);
    if (text.length > maxEventBytes) {
      tooLong = { line: lineNumber, bytes: text.length };
      return false;
    }
    if (isBlank(text)) return true;
    const problem = jsonProblem(text);
    if (problem !== null) {
      badLine = { line: lineNumber, problem };
      return false;
    }
    send(lineNumber, text.toString('utf8'));
    return true;
  };
  const lineOf = (last: Buffer): Buffer => {
    if (pieces.length === 0) return last;
    pieces.push(last);
    const line = Buffer.concat(pieces, pieceBytes + last.length);
    pieces = [];
    pieceBytes = 0;
    return line;
  };

  try {
    await readLines();
  } catch (error) {
    if (stop?.isStopped() !== true) throw error; // the stream destroyed by Ctrl-C ends so
  }
  async function readLines(): Promise<void> {
    reading: for await (const chunk of input as AsyncIterable<Buffer>) {
      if (ending()) break;
      bytesRead += chunk.length;
      let start = 0;
      for (;;) {
        const end = chunk.indexOf(NEWLINE, start);
        if (end === -1) break;
        if (!take(lineOf(chunk.subarray(start, end)))) break reading;
        start = end + 1;
        // Line by line, not per chunk: one chunk of stdin can hold thousands of short lines.
        if ((inFlight >= WINDOW || ending()) && !(await roomInWindow())) break reading;
      }
      if (start < chunk.length) {
        pieces.push(chunk.subarray(start));
        pieceBytes += chunk.length - start;
        // + 4: a final `\r`, and a byte order mark on line 1, are not part of the event.
        if (pieceBytes > maxEventBytes + 4) {
          tooLong = { line: lineNumber + 1, bytes: pieceBytes };
          break reading;
        }
      }
      progress.update(bytesRead);
    }
  }
  if (badLine === null && tooLong === null && pieceBytes > 0 && await roomInWindow()) {
    // The last line, without a newline; stdin that is only a byte order mark holds no line at all.
    const last = lineOf(Buffer.alloc(0));
    if (!(lineNumber === 0 && last.equals(UTF8_BOM))) take(last);
  }
  pieces = [];
  const interrupted = stop?.isStopped() === true;
  if (badLine !== null || tooLong !== null || refusal !== null || lost !== null || interrupted) input.destroy();
  if (interrupted && inFlight > 0) {
    // The writes in flight are waited for, but not for ever: a server that does not answer
    // must not hold the command after Ctrl-C.
    const timer = setTimeout(() => {
      abandoned = true;
      client.destroy();
    }, STOP_WAIT_MS);
    while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve));
    clearTimeout(timer);
  }
  while (inFlight > 0) await new Promise<void>((resolve) => (wake = resolve));
  progress.stop();

  const written = `${formatCount(events)} event${events === 1 ? ' was' : 's were'} written${lastOffset === null ? '' : ` (${formatOffsets(firstOffset!, lastOffset)})`}`;
  const bad = badLine as { line: number; problem: string } | null;
  // A refusal comes first: the server may close the connection after it (LINE_TOO_LONG does),
  // failing the writes behind it, but the refusal is what stopped the writing.
  if (refusal !== null) {
    const { line, error } = refusal as Refusal;
    const failure = clientFailure(error, target);
    // LINE_TOO_LONG: the server takes no line after it before closing the connection.
    const closed = lost === null ? '' : error.code === ErrorCodes.LINE_TOO_LONG
      ? `; the server then closed the connection: nothing after line ${formatCount(line)} was stored (--max-line-bytes N, the server's max_line_bytes, stops at such a line before sending it)`
      : `; the connection was then closed (writes sent after line ${formatCount(line)} may or may not be stored)`;
    throw new CommandFailure(failure.status, `line ${formatCount(line)} of stdin: ${failure.message}; ${written}, nothing after line ${formatCount(lineNumber)} was sent${closed}`);
  }
  if (lost !== null) {
    const failure = clientFailure(lost, target);
    throw new CommandFailure(failure.status, `${failure.message}; ${written} before the connection ended (writes then in flight may or may not be stored)`);
  }
  const long = tooLong as { line: number; bytes: number } | null;
  if (long !== null) {
    throw new CommandFailure(3, `line ${formatCount(long.line)} of stdin: ${ErrorCodes.LINE_TOO_LONG}: longer than the server takes (${formatCount(maxLineBytes)} bytes in a request line, its max_line_bytes; --max-line-bytes for a server set to more); ${written}, nothing from line ${formatCount(long.line)} on was sent`);
  }
  if (bad !== null) {
    throw new CommandFailure(65, `line ${formatCount(bad.line)} of stdin is ${bad.problem}; ${written}, nothing from line ${formatCount(bad.line)} on was sent`);
  }
  const unansweredNote = unanswered === 0 ? '' : `; ${formatCount(unanswered)} write${unanswered === 1 ? ' was' : 's were'} not answered within ${STOP_WAIT_MS / 1000} s and may or may not be stored`;
  if (interrupted) throw new CommandFailure(130, `interrupted: ${written}, nothing after line ${formatCount(lineNumber)} of stdin was sent${unansweredNote}`);
  return { events, lines: lineNumber, firstOffset, lastOffset, elapsedMs: performance.now() - started };
}
