/**
 * Runs the `eventbus` command line once: parses `argv`, runs the command, and turns a failure
 * into one line on stderr (`eventbus: <reason>`) and its exit status (exit-status.ts). Shared by
 * the npm entry point (main.ts) and the single executable's (sea-main.ts).
 */
import { CommanderError } from 'commander';
import { isEventBusError } from '../errors.js';
import { exitStatusOf } from './exit-status.js';
import { endQuietlyOnClosedPipe } from './output.js';
import { buildProgram, checkHelpTopic } from './program.js';
import type { Resources } from './resources.js';
import { signalReceived } from './stop-signal.js';

/**
 * Never rejects: sets process.exitCode instead. After Ctrl-C or SIGTERM (stop-signal.ts) the
 * process ends as soon as the command has: a connection still being opened, or a request to a
 * server that never answers, must not keep it running.
 */
export async function run(argv: readonly string[], resources: Resources): Promise<void> {
  endQuietlyOnClosedPipe(process.stdout);
  try {
    await runCommand(argv, resources);
  } finally {
    if (signalReceived()) process.exit();
  }
}

async function runCommand(argv: readonly string[], resources: Resources): Promise<void> {
  try {
    const program = buildProgram(resources);
    checkHelpTopic(program, argv);
    await program.parseAsync([...argv]);
  } catch (error) {
    // Help and --version exit 0; help shown because no command was given says enough itself.
    if (error instanceof CommanderError && (error.exitCode === 0 || error.code === 'commander.help')) {
      process.exitCode = exitStatusOf(error);
      return;
    }
    const message = isEventBusError(error) ? error.reason : error instanceof Error ? error.message : String(error);
    process.stderr.write(`eventbus: ${message}\n`);
    process.exitCode = exitStatusOf(error);
  }
}
