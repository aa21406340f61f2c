/**
 * How a client command prints: for a person on a terminal, tables (cli-table3) and colour; for
 * a program (`--json`, or stdout not a terminal), JSON in the wire's snake_case, one value per
 * line. Colour follows the conventions: off with --no-color, NO_COLOR, TERM=dumb or a stdout
 * that is not a terminal. Lines are written with backpressure, so `eventbus read` into a slow
 * pipe holds memory flat.
 */
import { styleText } from 'node:util';
import Table from 'cli-table3';
import { CommandFailure } from './command-failure.js';
import type { ConnectionFlags } from './connection-options.js';
import { ExitStatus } from './exit-status.js';

type Style = Parameters<typeof styleText>[0];

let pipeWatched = false;

/** Write failures already reported by the command whose write failed (Output.line throws them). */
const reported = new WeakSet<Error>();

/** The one-line failure (exit 1) for output that could not be written: a full disk, an I/O error. */
export function outputFailure(error: Error): CommandFailure {
  reported.add(error);
  return new CommandFailure(ExitStatus.FAILURE, `cannot write the output: ${error.message.replace(/, write$/, '')}`);
}

/**
 * A reader that goes away (`eventbus read orders | head -1`, `eventbus --help | head -1`) ends
 * the command quietly, as SIGPIPE ends `cat`: the events it did not take were never marked or
 * changed. Any other failure to write (`> /dev/full`: ENOSPC) is one line on stderr and exit 1,
 * not a stack trace; a command writing through {@link Output} stops at it (and fails with that
 * line), so nothing is acknowledged after output that was lost. Watched from the start of every
 * run (run.ts), so help and docs output is covered too.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  if (pipeWatched) return;
  pipeWatched = true;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    if (reported.has(error)) return;
    process.stderr.write(`eventbus: ${outputFailure(error).message}\n`);
    process.exit(ExitStatus.FAILURE);
  });
}

export class Output {
  /** JSON for programs, or text for a person. */
  readonly json: boolean;
  readonly colour: boolean;

  constructor(flags: Pick<ConnectionFlags, 'json' | 'color'>, private readonly stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env) {
    endQuietlyOnClosedPipe(stream);
    const terminal = stream.isTTY === true;
    this.json = flags.json === true || !terminal;
    this.colour = !this.json && flags.color !== false && (env.NO_COLOR ?? '') === '' && env.TERM !== 'dumb';
  }

  /** `text` in `style` when colour is on. */
  paint(style: Style, text: string): string {
    // The decision is this class's (the stream it writes to, --no-color, NO_COLOR, TERM). Left to
    // itself styleText looks at process.stdout and the environment, and drops colour wherever CI
    // is set, even on a terminal.
    return this.colour ? styleText(style, text, { validateStream: false }) : text;
  }

  dim(text: string): string {
    return this.paint('dim', text);
  }

  bold(text: string): string {
    return this.paint('bold', text);
  }

  /**
   * Writes one line; resolves at once, or once the stream has drained when its buffer is full.
   * Throws (or rejects with) the one-line failure when the line could not be written (a full
   * disk), so that the command stops there.
   */
  line(text: string): Promise<void> | void {
    const room = this.stream.write(`${text}\n`);
    // A synchronous write's failure (a file, /dev/full) is known here already; its 'error' event comes later.
    const failed = this.stream.errored;
    if (failed !== null) throw outputFailure(failed);
    if (room) return;
    return new Promise((resolve, reject) => {
      const drained = () => {
        this.stream.off('error', failedLater);
        resolve();
      };
      const failedLater = (error: Error) => {
        this.stream.off('drain', drained);
        reject(outputFailure(error));
      };
      this.stream.once('drain', drained);
      this.stream.once('error', failedLater);
    });
  }

  /** One JSON value on a line. */
  value(value: unknown): Promise<void> | void {
    return this.line(JSON.stringify(value));
  }

  /** A table with a header row (bold when colour is on), no colours from the table library itself. */
  table(head: readonly string[], rows: readonly (readonly (string | number)[])[], align?: readonly ('left' | 'right')[]): string {
    const table = new Table({
      head: head.map((cell) => this.bold(cell)),
      style: { head: [], border: [], 'padding-left': 1, 'padding-right': 1 },
      ...(align === undefined ? {} : { colAligns: [...align] }),
    });
    for (const row of rows) table.push(row.map((cell) => (typeof cell === 'number' ? formatCount(cell) : cell)));
    return table.toString();
  }
}

/** 1234567 → `1,234,567`. */
export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

/** `offset 2` for one offset, `offsets 0–1,199` for a range: what a report says was written or printed. */
export function formatOffsets(first: number, last: number): string {
  return first === last ? `offset ${formatCount(first)}` : `offsets ${formatCount(first)}–${formatCount(last)}`;
}

/** Bytes for a person: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A rate for a person: `83,412/s`. */
export function formatRate(perSecond: number): string {
  return `${formatCount(Math.round(perSecond))}/s`;
}
