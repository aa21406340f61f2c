/**
 * Structured logs with pino. Sinks as in the original's `logger.output`: `stdout`, `stderr` or
 * file paths. Nothing is logged per request at info level.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export { LOG_LEVELS } from './defaults.js';

export function createLogger(level: string, outputs: readonly string[]): PinoLogger {
  const destinations = outputs.map((output) => {
    if (output === 'stdout') return pino.destination({ dest: 1, sync: true });
    if (output === 'stderr') return pino.destination({ dest: 2, sync: true });
    // Logs name remote addresses and client ids: readable by the owner only, like the data.
    return pino.destination({ dest: output, mkdir: true, sync: true, mode: 0o600 });
  });
  const options = { level, base: { service: 'eventbus' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (destinations.length === 1) return pino(options, destinations[0]!);
  return pino(options, pino.multistream(destinations.map((stream) => ({ stream, level: level as pino.Level }))));
}
