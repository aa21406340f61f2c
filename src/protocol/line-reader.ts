/**
 * Framing: splits a byte stream into request lines.
 *
 * Lines end with `\n`; a `\r` before it is dropped (telnet). Blank lines (empty, or only spaces,
 * tabs and `\r`) are skipped: they get no response. A line longer than `maxLineBytes` is reported
 * once, as soon as it is known to be too long, and nothing more of it is kept: the caller answers
 * with LINE_TOO_LONG and closes the connection.
 *
 * The reader is pull-based: the connection pushes socket chunks and takes lines with {@link next}
 * only while it has room for more requests, so a client that pipelines faster than the server
 * answers is held back by TCP flow control, not by memory.
 */
import { assert } from '../errors.js';

/** Returned by {@link LineReader.next} once a line exceeds the limit. */
export const LINE_TOO_LONG = Symbol('line too long');

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const OPEN_BRACE = 0x7b;

export class LineReader {
  /** Unconsumed chunks; the first is consumed from `position`. */
  private chunks: Buffer[] = [];
  private position = 0;
  /** Pieces of a line that started in earlier chunks. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private failed = false;
  private ended = 0;

  constructor(readonly maxLineBytes: number) {
    assert(Number.isSafeInteger(maxLineBytes) && maxLineBytes > 0, 'maxLineBytes must be a positive integer');
  }

  /** Adds bytes read from the socket. */
  push(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    this.chunks.push(chunk);
  }

  /** True while the start of a line whose end has not arrived is held (for the partial-line timeout). */
  get hasPartialLine(): boolean {
    return this.partialBytes > 0;
  }

  /**
   * How many lines have ended so far, blank ones included: a partial line held after this changed
   * started after the last check, whatever {@link next} returned (it skips blank lines).
   */
  get linesEnded(): number {
    return this.ended;
  }

  /** True when bytes are held that {@link next} has not looked at yet. */
  get hasUnreadBytes(): boolean {
    return this.chunks.length > 0;
  }

  /**
   * The next non-blank line without its line ending, null when no complete line is buffered, or
   * {@link LINE_TOO_LONG} (after which the reader holds nothing and returns null).
   */
  next(): Buffer | null | typeof LINE_TOO_LONG {
    while (!this.failed && this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      const start = this.position;
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) {
        this.chunks.shift();
        this.position = 0;
        const rest = start === 0 ? chunk : chunk.subarray(start);
        this.partialBytes += rest.length;
        // +1: a `\r` that may yet turn out to end the line does not count.
        if (this.partialBytes > this.maxLineBytes + 1) return this.fail();
        this.partial.push(rest);
        continue;
      }
      this.ended += 1;
      if (end + 1 === chunk.length) {
        this.chunks.shift();
        this.position = 0;
      } else {
        this.position = end + 1;
      }
      let line: Buffer;
      if (this.partialBytes === 0) {
        line = chunk.subarray(start, end);
      } else {
        this.partial.push(chunk.subarray(start, end));
        line = Buffer.concat(this.partial, this.partialBytes + end - start);
        this.partial = [];
        this.partialBytes = 0;
      }
      let length = line.length;
      if (length > 0 && line[length - 1] === CARRIAGE_RETURN) length -= 1;
      if (length > this.maxLineBytes) return this.fail();
      if (length === 0 || (line[0] !== OPEN_BRACE && isBlank(line, length))) continue;
      return length === line.length ? line : line.subarray(0, length);
    }
    return null;
  }

  /** Drops everything held (the connection is closing). */
  discard(): void {
    this.chunks = [];
    this.partial = [];
    this.partialBytes = 0;
    this.position = 0;
  }

  private fail(): typeof LINE_TOO_LONG {
    this.failed = true;
    this.discard();
    return LINE_TOO_LONG;
  }
}

function isBlank(line: Buffer, length: number): boolean {
  for (let i = 0; i < length; i++) {
    const byte = line[i];
    if (byte !== SPACE && byte !== TAB && byte !== CARRIAGE_RETURN) return false;
  }
  return true;
}
