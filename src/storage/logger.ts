/**
 * The logging interface of the engine: the subset of pino's API it uses, so a pino logger can be
 * passed straight in. The engine logs only what an operator must know (recovery, rebuilt indexes,
 * corruption, failed writes), never per event.
 */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const ignore = (): void => {};

/** A logger that discards everything (the engine's default). */
export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
