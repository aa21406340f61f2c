/**
 * `eventbus write NAME` with no event argument: JSON lines from stdin, one event per line, sent
 * pipelined on one connection (so they are stored in the order of the lines; with `--key`, each
 * takes the key's next version, and `--type` is given to each) with at most
 * {@link WINDOW} writes unanswered; reading stdin waits while the window is full, so memory stays
 * flat for a file of any size. Blank lines are skipped (and counted in line numbers).
 *
 * Every line is checked to be one JSON value before it is sent. At the first line that is not,
 * nothing more is sent; the lines before it are written, and the failure names the line (exit
 * 65). A line the server refuses (EVENT_TOO_LARGE, STREAM_NOT_FOUND, ...) stops the reading too;
 * lines already sent behind it may still be written, and the report says how many were.
 */
import type { Readable } from 'node:stream';
import type { EventBusClient } from '../client/client.js';
import type { WriteOptions } from '../client/types.js';
import { ErrorCodes, isEventBusError, type EventBusError } from '../errors.js';
import { CommandFailure, clientFailure, type Target } from './command-failure.js';
import { jsonProblem } from './json-input.js';
import { formatCount } from './output.js';
import type { ProgressBar } from './progress-bar.js';

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

interface Refusal {
  line: number;
  error: EventBusError;
}

const NEWLINE = 0x0a;

function isBlank(line: Buffer): boolean {
  for (const byte of line) if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0d) return false;
  return true;
}

/** Reads JSON lines from `input` and writes each as an event of `stream`. */
export async function bulkWrite(client: EventBusClient, stream: string, input: Readable, progress: ProgressBar, target: Target, options: WriteOptions = {}): Promise<BulkResult> {
  const started = performance.now();
  let lineNumber = 0;
  let bytesRead = 0;
  let events = 0;
  let inFlight = 0;
  let firstOffset: number | null = null;
  let lastOffset: number | null = null;
  let refusal: Refusal | null = null;
  let lost: EventBusError | null = null;
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
      if (isEventBusError(error) && (error.code === ErrorCodes.CONNECTION_ERROR || error.code === ErrorCodes.TIMEOUT || error.code === ErrorCodes.CLOSED)) lost ??= error;
      else if (isEventBusError(error)) refusal ??= { line, error };
      else lost ??= error as EventBusError;
      settled();
    });
  };
  const waitFor = (condition: () => boolean) => (condition() ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve)));

  let badLine: { line: number; problem: string } | null = null;
  let carry: Buffer | null = null;
  const take = (line: Buffer): boolean => {
    lineNumber += 1;
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    const text = line.subarray(0, end);
    if (isBlank(text)) return true;
    const problem = jsonProblem(text);
    if (problem !== null) {
      badLine = { line: lineNumber, problem };
      return false;
    }
    send(lineNumber, text.toString('utf8'));
    return true;
  };

  reading: for await (const chunk of input as AsyncIterable<Buffer>) {
    bytesRead += chunk.length;
    const data: Buffer = carry === null ? chunk : Buffer.concat([carry, chunk]);
    carry = null;
    let start = 0;
    for (;;) {
      const end = data.indexOf(NEWLINE, start);
      if (end === -1) break;
      if (!take(data.subarray(start, end))) break reading;
      start = end + 1;
    }
    if (start < data.length) carry = Buffer.from(data.subarray(start));
    progress.update(bytesRead);
    while (inFlight >= WINDOW && refusal === null && lost === null) await waitFor(() => inFlight <= WINDOW / 2 || refusal !== null || lost !== null);
    if (refusal !== null || lost !== null) break;
  }
  if (badLine === null && refusal === null && lost === null && carry !== null) take(carry);
  if (badLine !== null || refusal !== null || lost !== null) input.destroy();
  while (inFlight > 0) await waitFor(() => inFlight === 0);
  progress.stop();

  const written = `${formatCount(events)} event${events === 1 ? ' was' : 's were'} written${lastOffset === null ? '' : ` (offsets ${formatCount(firstOffset!)}–${formatCount(lastOffset)})`}`;
  const bad = badLine as { line: number; problem: string } | null;
  if (lost !== null) {
    const failure = clientFailure(lost, target);
    throw new CommandFailure(failure.status, `${failure.message}; ${written} before the connection ended (writes then in flight may or may not be stored)`);
  }
  if (refusal !== null) {
    const { line, error } = refusal as Refusal;
    const failure = clientFailure(error, target);
    throw new CommandFailure(failure.status, `line ${formatCount(line)} of stdin: ${failure.message}; ${written}, nothing after line ${formatCount(lineNumber)} was sent`);
  }
  if (bad !== null) {
    throw new CommandFailure(65, `line ${formatCount(bad.line)} of stdin is ${bad.problem}; ${written}, nothing from line ${formatCount(bad.line)} on was sent`);
  }
  return { events, lines: lineNumber, firstOffset, lastOffset, elapsedMs: performance.now() - started };
}
