/**
 * The exit statuses of the `eventbus` command, and which failure gets which. A script (a cron
 * job running `eventbus verify`, a deploy script running `eventbus create`) can tell a typo from
 * damage from a server that is down from one that said no:
 *
 *   0   done (verify: sound)
 *   1   failed: an I/O error, a full disk, a port in use, a snapshot or restore that could not be
 *       made (an offline snapshot of a store that was not closed cleanly, or whose open would
 *       repair something, among them), or a
 *       server that refused to start (a config file error, a public address without
 *       authentication)
 *   2   damaged: verify found data that cannot be read back as written, or the offline snapshot
 *       copied damage the store knows of (the snapshot is made)
 *   3   refused: the server answered the request with an error (its code is printed: an unknown
 *       stream, a name that exists, an event too large, ...)
 *   64  usage: a bad option or argument on the command line, or a path that is not what the
 *       command needs (missing, a file, not a store, a snapshot where a data directory is
 *       needed); nothing was changed
 *   65  bad input data: a line on standard input that is not JSON (the line number is printed);
 *       nothing from that line on was sent
 *   69  unavailable: no server answered at the address, or the connection was lost or timed out
 *   75  in use: the data directory is held by a running server (try again once it has stopped)
 *   77  unauthorized: the server refused the credentials (--auth, EVENTBUS_AUTH)
 *   130 interrupted by Ctrl-C or SIGTERM (a bulk `write`, `read` without --follow, `bench`; what
 *       was done is printed; a one-shot command waiting for the server or any command still
 *       connecting); the follow modes and `consume` end so normally (0)
 *
 * 64, 65, 69, 75 and 77 are EX_USAGE, EX_DATAERR, EX_UNAVAILABLE, EX_TEMPFAIL and EX_NOPERM of
 * sysexits.h.
 */
import { CommanderError } from 'commander';
import { ErrorCodes, isEventBusError } from '../errors.js';
import { CommandFailure } from './command-failure.js';

export const ExitStatus = {
  OK: 0,
  FAILURE: 1,
  DAMAGED: 2,
  REFUSED: 3,
  USAGE: 64,
  DATA: 65,
  UNAVAILABLE: 69,
  IN_USE: 75,
  UNAUTHORIZED: 77,
  INTERRUPTED: 130,
} as const;

export type ExitStatusValue = (typeof ExitStatus)[keyof typeof ExitStatus];

/** The lines `--help` shows about exit statuses. */
export const EXIT_STATUS_HELP = [
  'Exit status:',
  '  0   done (verify: sound)',
  '  1   failed (I/O error, disk full, port in use, snapshot or restore failed, config file error,',
  '      a delete declined at its question)',
  '  2   damaged (verify found data that cannot be read back as written; snapshot copied known damage)',
  '  3   refused: the server answered with an error (its code is printed, e.g. STREAM_NOT_FOUND)',
  '  64  usage error (bad option or argument; a path that is missing, a file, not a store, or a',
  '      snapshot where a data directory is needed); nothing was changed',
  '  65  bad input: a line on standard input is not JSON (its number is printed)',
  '  69  unavailable: no server at the address, or the connection was lost',
  '  75  the data directory is in use by a running server',
  '  77  unauthorized: the server refused the credentials (--auth, EVENTBUS_AUTH)',
  '  130 interrupted (Ctrl-C, SIGTERM) during a bulk write, a read without --follow, a bench, or',
  '      any other client command waiting for the server; what was done is printed',
  '      (read --follow, consume: 0)',
].join('\n');


/** The exit status for a failure that ended a command. */
export function exitStatusOf(error: unknown): ExitStatusValue {
  if (error instanceof CommandFailure) return error.status;
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitStatus.OK : ExitStatus.USAGE;
  if (isEventBusError(error, ErrorCodes.LOCKED)) return ExitStatus.IN_USE;
  // A path that is not what the command needs (store-checks.ts). A config file's mistakes
  // (INVALID_FIELD) stay failures to start, as they always were.
  if (isEventBusError(error, ErrorCodes.INVALID_PATH) || isEventBusError(error, ErrorCodes.NOT_A_STORE)) return ExitStatus.USAGE;
  return ExitStatus.FAILURE;
}
