#!/usr/bin/env node
/**
 * The `eventbus` command.
 *
 *   eventbus serve [--host] [--port] [--data] [--config FILE] [--fsync always|interval|never] [--log-level]
 *   eventbus snapshot --data DIR --output DIR | verify DIR | restore SNAPSHOT --data NEWDIR
 *
 * Options fall back to EVENTBUS_* environment variables, then the config file, then defaults.
 * Errors are printed as one line, `eventbus: <reason>`, with exit status 1.
 */
import { isEventBusError } from '../errors.js';
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  const message = isEventBusError(error) ? error.reason : error instanceof Error ? error.message : String(error);
  process.stderr.write(`eventbus: ${message}\n`);
  process.exitCode = 1;
}
