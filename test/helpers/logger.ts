/**
 * A logger that remembers what it was told, for tests that assert the engine reported something
 * (an index rebuilt, a torn tail truncated, damage found).
 */
import type { Logger } from '../../src/storage/logger.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One captured log call. */
export interface LogRecord {
  level: LogLevel;
  message: string;
  fields: Record<string, unknown>;
}

/** A {@link Logger} plus the records it captured, oldest first. */
export interface CapturingLogger extends Logger {
  readonly records: LogRecord[];
  /** Captured records with `level` whose message contains `text`. */
  find(level: LogLevel, text: string): LogRecord[];
  clear(): void;
}

export function capturingLogger(): CapturingLogger {
  const records: LogRecord[] = [];
  const at = (level: LogLevel) => (fields: object, message: string) => {
    records.push({ level, message, fields: { ...(fields as Record<string, unknown>) } });
  };
  return {
    records,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    find: (level, text) => records.filter((r) => r.level === level && r.message.includes(text)),
    clear: () => {
      records.length = 0;
    },
  };
}
