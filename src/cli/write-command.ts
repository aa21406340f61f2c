/**
 * `eventbus write NAME [JSON]`: one event from the argument, or JSON lines from stdin
 * (bulk-write.ts). The event is stored as written (a number such as 12345678901234567890 stays
 * as it is).
 *
 * `--key` and `--type` (and, for one event, `--expected-version`) are passed with each write:
 * with a key, each event gets the key's next version (lines from stdin in their order).
 * Stdin with no event (empty, or blank lines) is checked against the stream: a missing one is
 * STREAM_NOT_FOUND (exit 3), as a write to it would be, not "0 events".
 */
import { fstatSync } from 'node:fs';
import { CommandFailure } from './command-failure.js';
import { connect, interruptedWaiting, type ConnectionFlags } from './connection-options.js';
import { ExitStatus } from './exit-status.js';
import { bulkWrite } from './bulk-write.js';
import { clientFailure } from './command-failure.js';
import { jsonTextProblem } from './json-input.js';
import { Output, formatCount, formatOffsets, formatRate } from './output.js';
import { NO_PROGRESS, progressBar } from './progress-bar.js';
import { stopOnSignals, unlessStopped } from './stop-signal.js';
import type { WriteOptions } from '../client/types.js';

/** The flags of `eventbus write`. */
export interface WriteFlags extends ConnectionFlags {
  key?: string;
  type?: string;
  expectedVersion?: string | number;
  maxLineBytes?: number;
}

/** The write options the flags give (none: a plain write, answered as the original did). */
function writeOptions(flags: WriteFlags): WriteOptions {
  return {
    ...(flags.key === undefined ? {} : { key: flags.key }),
    ...(flags.type === undefined ? {} : { type: flags.type }),
    ...(flags.expectedVersion === undefined ? {} : { expectedVersion: flags.expectedVersion as WriteOptions['expectedVersion'] }),
  };
}

/** stdin's size when it is a regular file (`< file`), for the progress bar; undefined for a pipe. */
function stdinBytes(): number | undefined {
  try {
    const stat = fstatSync(0);
    return stat.isFile() ? stat.size : undefined;
  } catch {
    return undefined;
  }
}

export async function writeCommand(name: string, json: string | undefined, flags: WriteFlags): Promise<void> {
  const out = new Output(flags);
  const options = writeOptions(flags);
  if (json === undefined && flags.expectedVersion !== undefined) throw new CommandFailure(64, "--expected-version applies to one event given as an argument, not to lines from stdin; see 'eventbus write --help'");
  if (json !== undefined) {
    const problem = jsonTextProblem(json);
    if (problem !== null) throw new CommandFailure(64, `the event is ${problem} (give one JSON value, quoted for the shell: eventbus write ${name} '{"total":12.5}'); see 'eventbus write --help'`);
  }
  // Ctrl-C or SIGTERM: while connecting, or waiting for the one event's answer, the command ends
  // at once (exit 130); a bulk write reports what was written (bulk-write.ts).
  const stop = stopOnSignals();
  try {
    const { client, target } = await connect(flags, { stop, status: ExitStatus.INTERRUPTED });
    try {
      if (json !== undefined) {
        let written;
        try {
          const answer = await unlessStopped(client.writeEventJson(name, json, options), stop);
          if (answer === null) throw interruptedWaiting(target, { unanswered: () => 'the event was sent: it may or may not be stored' });
          written = answer;
        } catch (error) {
          throw clientFailure(error, target);
        }
        const version = written.version === undefined ? '' : ` as version ${out.bold(formatCount(written.version))} of ${flags.key}`;
        if (out.json) await out.value({ id: written.id, offset: written.offset, created_at: written.createdAt, ...(written.version === undefined ? {} : { version: written.version }) });
        else await out.line(`wrote offset ${out.bold(formatCount(written.offset))}${version} to ${name} ${out.dim(`(id ${written.id})`)}`);
        return;
      }
      if (process.stdin.isTTY === true) process.stderr.write(`eventbus: reading events for ${name} from the terminal, one JSON value per line; Ctrl-D ends\n`);
      const total = stdinBytes();
      // No bar while a person types the lines: it would be drawn over what they type.
      const progress = process.stdin.isTTY === true ? NO_PROGRESS : progressBar(`writing to ${name}`, 'bytes', total);
      // Ctrl-C: the bar is removed and what was written is reported (bulk-write.ts), exit 130.
      const result = await bulkWrite(client, name, process.stdin, progress, target, options, { stop, ...(flags.maxLineBytes === undefined ? {} : { maxLineBytes: flags.maxLineBytes }) });
      // Nothing was sent, so nothing was refused: a stream name mistyped would go unnoticed.
      if (result.events === 0) await client.getStreamInfo(name).catch((error: unknown) => {
        const failure = clientFailure(error, target);
        throw new CommandFailure(failure.status, `${failure.message} (stdin held no event to write)`);
      });
      const perSecond = result.elapsedMs > 0 ? (result.events / result.elapsedMs) * 1000 : 0;
      if (out.json) {
        await out.value({ stream: name, events: result.events, lines: result.lines, first_offset: result.firstOffset, last_offset: result.lastOffset, elapsed_ms: Math.round(result.elapsedMs), events_per_second: Math.round(perSecond) });
      } else {
        const offsets = result.lastOffset === null ? '' : ` (${formatOffsets(result.firstOffset!, result.lastOffset)})`;
        await out.line(`wrote ${out.bold(formatCount(result.events))} event${result.events === 1 ? '' : 's'} to ${name}${offsets} in ${(result.elapsedMs / 1000).toFixed(2)} s ${out.dim(`(${formatRate(perSecond)})`)}`);
      }
    } finally {
      if (stop.isStopped()) client.destroy();
      await client.close().catch(() => {});
    }
  } finally {
    stop.dispose();
  }
}
