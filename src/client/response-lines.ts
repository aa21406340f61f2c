/**
 * The client's reading side of a connection, shared by the client (client.ts) and a
 * subscription (subscription.ts): bytes into response lines (UTF-8 characters split across
 * chunks kept whole, an unfinished line bounded), and a line into the response it holds or the
 * error it stands for.
 */
import { StringDecoder } from 'node:string_decoder';
import type { EventBusError } from '../errors.js';
import { connectionError, responseError } from './response-errors.js';
import type { Response } from './types.js';

/** The longest response line a client or subscription accepts unless told otherwise. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** Bytes into lines: every complete line of a chunk (without its `\n`), in order. */
export class ResponseLines {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  /** `maxLineBytes`: the longest unfinished line kept (in UTF-16 units, as JavaScript measures). */
  constructor(private readonly maxLineBytes: number) {}

  /**
   * Hands each line completed by `chunk` to `onLine`. Returns false when a line, or what follows
   * the last line, is longer than the bound (whether it came in one chunk or several): the
   * connection is then beyond repair (the caller closes it).
   */
  push(chunk: Buffer, onLine: (line: string) => void): boolean {
    let text = this.partial + this.decoder.write(chunk);
    let start = 0;
    for (;;) {
      const end = text.indexOf('\n', start);
      if (end === -1) break;
      if (end - start > this.maxLineBytes) return false;
      onLine(text.slice(start, end));
      start = end + 1;
    }
    text = start === 0 ? text : text.slice(start);
    if (text.length > this.maxLineBytes) return false;
    this.partial = text;
    return true;
  }
}

/** The error of a line longer than `maxLineBytes` ({@link ResponseLines.push} returned false). */
export function lineTooLong(maxLineBytes: number): EventBusError {
  return connectionError(`response line longer than ${maxLineBytes} bytes`);
}

/** The response a line holds, or CONNECTION_ERROR for a line that is not JSON. */
export function parseResponse(line: string): Response | EventBusError {
  try {
    return JSON.parse(line) as Response;
  } catch {
    return connectionError(`the server sent a line that is not JSON: ${line.slice(0, 200)}`);
  }
}

/** The error a response stands for, or null for a success. As the original Go client: a `reason` means failure, whatever `status` says. */
export function failureOf(response: Response): EventBusError | null {
  return (response.reason !== undefined && response.reason !== null) || response.status !== true ? responseError(response) : null;
}
