/**
 * The defaults of the `eventbus` command and the small helpers its options share, kept apart
 * from settings.ts (which reads config files) so that building the command line loads nothing
 * heavy: every command starts fast.
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import type { FsyncPolicy } from '../storage/index.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  data: './data',
  fsync: 'always' as FsyncPolicy,
  logLevel: 'info',
};

/** True for 1, true, yes, on (any case); false for 0, false, no, off and empty. */
export function envFlag(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['', '0', 'false', 'no', 'off'].includes(v)) return false;
  throw new EventBusError(ErrorCodes.INVALID_FIELD, `${name} must be true or false, got '${value}'`);
}
