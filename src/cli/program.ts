/**
 * The `eventbus` command line, built with commander (tests build it without running it).
 */
import { Argument, Command, CommanderError, Option } from 'commander';
import { ErrorCodes, EventBusError } from '../errors.js';
import { FSYNC_POLICIES } from '../storage/index.js';
import { EXIT_STATUS_HELP } from './exit-status.js';

import { parseNatsServers, parsePort, parseReplicas } from './port-option.js';
import { addNatsAccessOptions, refuseSecretArguments, type NatsFlags } from './nats-options.js';
import { addClientCommands, examples } from './client-program.js';
import { DOCUMENTS, versionLine, type DocumentName, type Resources } from './resources.js';
import { DEFAULTS, LOG_LEVELS } from './defaults.js';
import type { ServeFlags } from './settings.js';

/** `--data` of the offline commands: the same fallbacks as serve's (EVENTBUS_DATA, then ./data). */
function dataOption(what: string): Option {
  return new Option('--data <dir>', `${what} (default: ${DEFAULTS.data})`).env('EVENTBUS_DATA');
}

/** The data directory an offline command works on; an empty EVENTBUS_DATA counts as unset. */
function dataDir(given: string | undefined): string {
  return given === undefined || given === '' ? DEFAULTS.data : given;
}

/**
 * A usage error is one line and a pointer to the help, never the whole help (run.ts prints it):
 * commander's own error output is silenced and its error reworded. Help and --version (exit
 * code 0), and the help printed when no command is given, pass through unchanged.
 */
function oneLineUsageErrors(command: Command, helpCommand: string): Command {
  return command
    .configureOutput({ outputError: () => {} })
    .exitOverride((error) => {
      if (error.exitCode === 0 || error.code === 'commander.help') throw error;
      const reason = error.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').replace(/\.$/, '');
      throw new CommanderError(error.exitCode, error.code, `${reason}; see '${helpCommand} --help'`);
    });
}

/**
 * `eventbus help NAME` for a NAME that is no command: the usage error of `eventbus NAME` (one
 * line), where commander would print the whole help on stderr and say nothing of the name.
 * `argv` as process.argv (the node binary and script first).
 */
export function checkHelpTopic(program: Command, argv: readonly string[]): void {
  const [first, topic] = argv.slice(2);
  if (first !== 'help' || topic === undefined || topic.startsWith('-')) return;
  if (program.commands.some((command) => command.name() === topic || command.aliases().includes(topic))) return;
  throw new CommanderError(64, 'commander.unknownCommand', `unknown command '${topic}'; see 'eventbus --help'`);
}

/** The command line; `resources` come from the build it runs in (npm or single executable). */
export function buildProgram(resources: Resources): Command {
  const program = oneLineUsageErrors(new Command('eventbus'), 'eventbus')
    .description('A TCP event bus with its own crash-safe storage engine (newline-delimited JSON, compatible with the original Go event-bus). Documentation: eventbus docs protocol, eventbus docs operations.')
    // Not .version(text): the text says which CRC32C loads, found only when asked for.
    .addOption(new Option('-V, --version', 'print the version, the build, Node.js and the CRC32C implementation'))
    .addHelpText('after', `${examples('eventbus serve                       # a server on 127.0.0.1:8080, data in ./data', 'eventbus create orders && eventbus write orders \'{"total":12.5}\'', 'eventbus read orders --follow', 'eventbus streams')}\n\n${EXIT_STATUS_HELP}`);
  program.on('option:version', () => {
    process.stdout.write(`${versionLine(resources)}\n`);
    throw new CommanderError(0, 'commander.version', versionLine(resources));
  });
  const subcommand = (name: string) => oneLineUsageErrors(program.command(name), `eventbus ${name}`);
  program.commandsGroup('Server and store commands:');

  const serveCommand = subcommand('serve')
    .summary('start the server')
    .description('Start the server. Options fall back to EVENTBUS_* environment variables, then to the config file, then to the defaults shown.')
    .addOption(new Option('--host <address>', `address to listen on; anything but loopback needs clients in the config file or --insecure-no-auth (default: ${DEFAULTS.host})`).env('EVENTBUS_HOST'))
    .addOption(new Option('--port <port>', `TCP port; 0 picks a free one (default: ${DEFAULTS.port})`).env('EVENTBUS_PORT').argParser(parsePort))
    .addOption(new Option('--data <dir>', `data directory, created if missing (default: ${DEFAULTS.data})`).env('EVENTBUS_DATA'))
    .addOption(new Option('--config <file>', "YAML config file: the original's config.yaml layout (logger, auth) plus server, storage, consumers and snapshots sections; see eventbus docs protocol").env('EVENTBUS_CONFIG'))
    .addOption(new Option('--fsync <policy>', `when a write is acknowledged: always = after fsync (durable), interval = after the write, with an fsync every storage.fsync_interval_ms (100 ms), never = after the write, flushing left to the OS (default: ${DEFAULTS.fsync})`).choices([...FSYNC_POLICIES]).env('EVENTBUS_FSYNC'))
    .addOption(new Option('--log-level <level>', `log level (default: ${DEFAULTS.logLevel}; nothing is logged per request at info)`).choices([...LOG_LEVELS]).env('EVENTBUS_LOG_LEVEL'))
    .addOption(new Option('--port-file <file>', 'once listening, write the bound port to this file (for scripts and tests using --port 0)').env('EVENTBUS_PORT_FILE'))
    .addOption(new Option('--insecure-no-auth', 'allow listening on a non-loopback address with no clients configured (anyone who can connect can do anything); env EVENTBUS_INSECURE_NO_AUTH=true'))
    .addOption(new Option('--tls-cert <file>', 'PEM certificate: serve over TLS (needs --tls-key)').env('EVENTBUS_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'PEM private key for --tls-cert').env('EVENTBUS_TLS_KEY'))
    .addOption(new Option('--http-port <port>', 'also serve /metrics (Prometheus), /healthz, /readyz and the admin page (/) over HTTP on this port; 0 picks a free one (default: off)').env('EVENTBUS_HTTP_PORT').argParser(parsePort))
    .addOption(new Option('--http-host <address>', 'address of the HTTP port, under the same rules as --host (default: the --host address)').env('EVENTBUS_HTTP_HOST'))
    .addOption(new Option('--http-port-file <file>', 'once the HTTP port listens, write its number to this file').env('EVENTBUS_HTTP_PORT_FILE'))
    .addOption(new Option('--backend <backend>', 'storage: engine = the embedded engine in --data; jetstream = a replicated NATS JetStream cluster (this process becomes a gateway that keeps no data) (default: engine)').choices(['engine', 'jetstream']).env('EVENTBUS_BACKEND'))
    .addOption(new Option('--nats-servers <list>', 'jetstream backend: NATS servers, host:port,host:port,... (or nats://, tls:// URLs, tls:// requiring TLS; ports 1-65535)').env('EVENTBUS_NATS_SERVERS').argParser(parseNatsServers))
    .addOption(new Option('--replicas <n>', 'jetstream backend: replicas of each stream and consumer, 1, 3 or 5 (default: 3)').env('EVENTBUS_NATS_REPLICAS').argParser(parseReplicas));
  addNatsAccessOptions(serveCommand)
    .addHelpText('after', examples('eventbus serve', 'eventbus serve --port 9000 --data /var/lib/eventbus/data', 'eventbus serve --backend jetstream --nats-servers n1:4222,n2:4222,n3:4222', 'eventbus serve --config config.yaml --host 0.0.0.0', 'eventbus serve --http-port 9090     # then open http://127.0.0.1:9090/ ; Prometheus scrapes /metrics'))
    .action(async (flags: ServeFlags, command: Command) => {
      refuseSecretArguments(command);
      const [{ serve }, { resolveSettings }] = await Promise.all([import('./serve.js'), import('./settings.js')]);
      await serve(resolveSettings(flags, process.env, (key) => command.getOptionValueSource(key)), resources);
    });

  const print = (line: string) => process.stdout.write(`${line}\n`);
  subcommand('snapshot')
    .summary('snapshot a stopped store')
    .description('Snapshot a data directory that no server has open (a running server takes snapshots with the snapshot_db operation). Refuses, changing nothing, a path that is not a data directory, and a store a crash left (start the server on it once first). Exit status 0 when done, 2 when done but the store holds damage it knows of (listed), 1 when it failed or the store was not closed cleanly, 64 for a wrong path, 75 when a server holds the store.')
    .addOption(dataOption('the data directory to snapshot'))
    .addOption(new Option('--output <dir>', 'directory to create the snapshot in (snapshot-<UTC time> inside it)').makeOptionMandatory())
    .option('--json', 'print the result as JSON, as snapshot_db answers it (snake_case, with absolute_path)')
    .addHelpText('after', examples('eventbus snapshot --data ./data --output ./backups', 'eventbus snapshot --output ./backups --json'))
    .action(async (options: { data?: string; output: string; json?: boolean }) => {
      const { snapshotCommand } = await import('./offline.js');
      process.exitCode = await snapshotCommand(dataDir(options.data), options.output, options.json === true, print);
    });
  subcommand('verify')
    .summary('check a stopped store or a snapshot')
    .description('Check a data directory no server holds, or a snapshot: manifest, every record CRC, every index. Exit status 0 when sound, 2 when damaged, 64 when the path is not a data directory or snapshot, 75 when a running server holds the store (verify a snapshot of it instead).')
    .argument('[path]', 'a data directory or a snapshot directory (instead of --data; kept for compatibility)')
    .addOption(dataOption('the data directory or snapshot to check'))
    .option('--json', 'print the report as JSON')
    .addHelpText('after', examples('eventbus verify --data ./data', 'eventbus verify ./backups/snapshot-20261127T081020.382Z'))
    .action(async (given: string | undefined, options: { data?: string; json?: boolean }, command: Command) => {
      if (given !== undefined && command.getOptionValueSource('data') === 'cli') {
        throw new EventBusError(ErrorCodes.INVALID_PATH, `verify takes one path: ${given} or --data ${options.data}, not both; see 'eventbus verify --help'`);
      }
      const { verifyCommand } = await import('./offline.js');
      process.exitCode = verifyCommand(given ?? dataDir(options.data), options.json === true, print);
    });
  const restore = subcommand('restore')
    .summary('restore a snapshot into a new data directory')
    .description('Restore a snapshot into a new data directory (refuses a non-empty one, changing nothing), or a snapshot of the jetstream backend into a NATS cluster that holds no eventbus data (--nats-servers, with the credentials and TLS options of serve). Exit status 0 when done, 64 for a wrong path, 1 when the snapshot does not verify, a copy failed, or the cluster cannot be reached or refused the restore.')
    .argument('<snapshot>', 'the snapshot directory')
    .addOption(dataOption('new data directory, absent or empty'))
    .option('--json', 'print the result as JSON')
    .addOption(new Option('--nats-servers <list>', 'restore a snapshot of the jetstream backend into this NATS cluster instead (it must hold no eventbus data; tls:// URLs require TLS)').env('EVENTBUS_NATS_SERVERS').argParser(parseNatsServers))
    .addOption(new Option('--config <file>', "jetstream snapshots: the config file whose backend: section gives the NATS servers, credentials and TLS files (serve's)").env('EVENTBUS_CONFIG'));
  addNatsAccessOptions(restore)
    .addHelpText('after', examples('eventbus restore ./backups/snapshot-20261127T081020.382Z --data ./restored', 'eventbus restore ./snapshots/b/snapshot-20261201T000807.551Z --nats-servers n1:4222,n2:4222,n3:4222', 'eventbus restore ./snapshots/b/snapshot-20261201T000807.551Z --nats-servers tls://n1:4222 --nats-creds eventbus.creds --nats-tls-ca ca.pem'))
    .action(async (snapshot: string, options: { data?: string; json?: boolean; config?: string } & NatsFlags, command: Command) => {
      refuseSecretArguments(command);
      const { isJetStreamSnapshot } = await import('../bus/jetstream/restore.js');
      if (isJetStreamSnapshot(snapshot) || options.natsServers !== undefined) {
        if (!isJetStreamSnapshot(snapshot)) throw new EventBusError(ErrorCodes.INVALID_PATH, `${snapshot} is not a snapshot of the jetstream backend (restore an engine snapshot with --data)`);
        const { natsRestoreCommand } = await import('./nats-restore.js');
        await natsRestoreCommand(snapshot, options, print);
        return;
      }
      const { restoreCommand } = await import('./offline.js');
      restoreCommand(snapshot, dataDir(options.data), options.json === true, print);
    });

  subcommand('docs')
    .summary('print the protocol or operations document')
    .description('Print a document shipped with this build (Markdown): protocol (every operation, error code, limit and config setting) or operations (running, exit statuses, snapshots, recovery, measured figures).')
    .addArgument(new Argument('[name]', 'which document').choices([...DOCUMENTS]).default('protocol'))
    .addHelpText('after', examples('eventbus docs protocol | less', 'eventbus docs operations'))
    .action((name: DocumentName) => {
      process.stdout.write(resources.document(name));
    });

  addClientCommands(program, subcommand);

  return program;
}

