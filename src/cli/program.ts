/**
 * The `eventbus` command line, built with commander (tests build it without running it).
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { FSYNC_POLICIES } from '../storage/index.js';
import { LOG_LEVELS } from './logging.js';
import { restoreCommand, snapshotCommand, verifyCommand } from './offline.js';
import { serve } from './serve.js';
import { DEFAULTS, resolveSettings, type ServeFlags } from './settings.js';

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError('must be a whole number from 0 to 65535.');
  return port;
}

/** Set by the single-executable build (sea-build.ts), which has no package.json beside it. */
declare const EVENTBUS_VERSION: string | undefined;

function version(): string {
  if (typeof EVENTBUS_VERSION === 'string') return EVENTBUS_VERSION;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export function buildProgram(): Command {
  const program = new Command('eventbus')
    .description('A TCP event bus with its own crash-safe storage engine (newline-delimited JSON, compatible with the original Go event-bus).')
    .version(version())
    .showHelpAfterError();

  program
    .command('serve')
    .description('Start the server. Options fall back to EVENTBUS_* environment variables, then to the config file, then to the defaults shown.')
    .addOption(new Option('--host <address>', `address to listen on; anything but loopback needs clients in the config file or --insecure-no-auth (default: ${DEFAULTS.host})`).env('EVENTBUS_HOST'))
    .addOption(new Option('--port <port>', `TCP port; 0 picks a free one (default: ${DEFAULTS.port})`).env('EVENTBUS_PORT').argParser(parsePort))
    .addOption(new Option('--data <dir>', `data directory, created if missing (default: ${DEFAULTS.data})`).env('EVENTBUS_DATA'))
    .addOption(new Option('--config <file>', "YAML config file: the original's config.yaml layout (logger, auth) plus server, storage, consumers and snapshots sections; see docs/protocol.md").env('EVENTBUS_CONFIG'))
    .addOption(new Option('--fsync <policy>', `when a write is acknowledged: always = after fsync (durable), interval = after the write, with an fsync every storage.fsync_interval_ms (100 ms), never = after the write, flushing left to the OS (default: ${DEFAULTS.fsync})`).choices([...FSYNC_POLICIES]).env('EVENTBUS_FSYNC'))
    .addOption(new Option('--log-level <level>', `log level (default: ${DEFAULTS.logLevel}; nothing is logged per request at info)`).choices([...LOG_LEVELS]).env('EVENTBUS_LOG_LEVEL'))
    .addOption(new Option('--port-file <file>', 'once listening, write the bound port to this file (for scripts and tests using --port 0)').env('EVENTBUS_PORT_FILE'))
    .addOption(new Option('--insecure-no-auth', 'allow listening on a non-loopback address with no clients configured (anyone who can connect can do anything); env EVENTBUS_INSECURE_NO_AUTH=true'))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate: serve over TLS (needs --tls-key)').env('EVENTBUS_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key for --tls-cert').env('EVENTBUS_TLS_KEY'))
    .action(async (flags: ServeFlags) => {
      await serve(resolveSettings(flags));
    });

  const print = (line: string) => process.stdout.write(`${line}\n`);
  program
    .command('snapshot')
    .description('Snapshot a data directory that no server has open (a running server takes snapshots with the snapshot_db operation).')
    .requiredOption('--data <dir>', 'the data directory').addOption(new Option('--output <dir>', 'directory to create the snapshot in').makeOptionMandatory())
    .option('--json', 'print the result as JSON')
    .action(async (options: { data: string; output: string; json?: boolean }) => {
      await snapshotCommand(options.data, options.output, options.json === true, print);
    });
  program
    .command('verify')
    .description('Check a data directory or a snapshot: manifest, every record CRC, every index. Exit status 0 when sound, 2 when damaged.')
    .argument('<dir>', 'data directory or snapshot directory')
    .option('--json', 'print the report as JSON')
    .action((dir: string, options: { json?: boolean }) => {
      process.exitCode = verifyCommand(dir, options.json === true, print);
    });
  program
    .command('restore')
    .description('Restore a snapshot into a new data directory (refuses a non-empty one).')
    .argument('<snapshot>', 'the snapshot directory')
    .requiredOption('--data <dir>', 'the new data directory')
    .option('--json', 'print the result as JSON')
    .action((snapshot: string, options: { data: string; json?: boolean }) => {
      restoreCommand(snapshot, options.data, options.json === true, print);
    });

  return program;
}

