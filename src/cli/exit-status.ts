/**
 * The exit statuses of the `eventbus` command, and which failure gets which. A script (a cron
 * job running `eventbus verify`) can tell a typo from damage from a server that holds the store:
 *
 *   0   done (verify: sound)
 *   1   failed: an I/O error, a full disk, a port in use, a snapshot or restore that could not be
 *       made, or a server that refused to start (a config file error, a public address without
 *       authentication)
 *   2   damaged: verify found data that cannot be read back as written
 *   64  usage: a bad option or argument on the command line, or a path that is not what the
 *       command needs (missing, a file, not a store, a snapshot where a data directory is
 *       needed); nothing was changed
 *   75  in use: the data directory is held by a running server (try again once it has stopped)
 *
 * 64 and 75 are EX_USAGE and EX_TEMPFAIL of sysexits.h.
 */
import { CommanderError } from 'commander';
import { ErrorCodes, isEventBusError } from '../errors.js';

export const ExitStatus = {
  OK: 0,
  FAILURE: 1,
  DAMAGED: 2,
  USAGE: 64,
  IN_USE: 75,
} as const;

export type ExitStatusValue = (typeof ExitStatus)[keyof typeof ExitStatus];

/** The lines `--help` shows about exit statuses. */
export const EXIT_STATUS_HELP = [
  'Exit status:',
  '  0   done (verify: sound)',
  '  1   failed (I/O error, disk full, port in use, snapshot or restore failed, config file error)',
  '  2   damaged (verify found data that cannot be read back as written)',
  '  64  usage error (bad option or argument; a path that is missing, a file, not a store, or a',
  '      snapshot where a data directory is needed); nothing was changed',
  '  75  the data directory is in use by a running server',
].join('\n');


/** The exit status for a failure that ended a command. */
export function exitStatusOf(error: unknown): ExitStatusValue {
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitStatus.OK : ExitStatus.USAGE;
  if (isEventBusError(error, ErrorCodes.LOCKED)) return ExitStatus.IN_USE;
  // A path that is not what the command needs (store-checks.ts). A config file's mistakes
  // (INVALID_FIELD) stay failures to start, as they always were.
  if (isEventBusError(error, ErrorCodes.INVALID_PATH)) return ExitStatus.USAGE;
  return ExitStatus.FAILURE;
}
