/**
 * How a client command prints: for a person on a terminal, tables (cli-table3) and colour; for
 * a program (`--json`, or stdout not a terminal), JSON in the wire's snake_case, one value per
 * line. Colour follows the conventions: off with --no-color, NO_COLOR, TERM=dumb or a stdout
 * that is not a terminal. Lines are written with backpressure, so `eventbus read` into a slow
 * pipe holds memory flat.
 */
import { styleText } from 'node:util';
import Table from 'cli-table3';
import type { ConnectionFlags } from './connection-options.js';

type Style = Parameters<typeof styleText>[0];

let pipeWatched = false;

/**
 * A reader that goes away (`eventbus read orders | head -1`, `eventbus --help | head -1`) ends
 * the command quietly, as SIGPIPE ends `cat`: the events it did not take were never marked or
 * changed. Watched from the start of every run (run.ts), so help and docs output is covered too.
 */
export function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  if (pipeWatched) return;
  pipeWatched = true;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
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

  /** Writes one line; resolves at once, or once the stream has drained when its buffer is full. */
  line(text: string): Promise<void> | void {
    if (this.stream.write(`${text}\n`)) return;
    return new Promise((resolve) => this.stream.once('drain', resolve));
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
