/**
 * Entry point of the self-contained `eventbus` binary (Node single executable application,
 * built by `npm run build:sea`; see src/cli/sea-build.ts). The same command as main.ts, without
 * top-level await, which the CommonJS bundle a single executable needs cannot hold.
 */
import { isEventBusError } from '../errors.js';
import { buildProgram } from './program.js';

buildProgram().parseAsync(process.argv).catch((error: unknown) => {
  const message = isEventBusError(error) ? error.reason : error instanceof Error ? error.message : String(error);
  process.stderr.write(`eventbus: ${message}\n`);
  process.exitCode = 1;
});
