/**
 * The client commands of `eventbus` (streams, create, delete, info, write, read, consume,
 * bench, completion), registered on the program built in program.ts. Each takes the common
 * connection options (connection-options.ts) and loads its implementation only when run, so
 * `eventbus --help` and the other commands start fast.
 */
import { Argument, InvalidArgumentError, Option, type Command } from 'commander';
import { MAX_KEY_BYTES, MAX_TYPE_BYTES } from '../storage/format/record-fields.js';
import { withConnectionOptions } from './connection-options.js';

/** The defaults of `eventbus bench`: the harness's write-16x32 shape and drain (4 workers, batches of 100). */
export const BENCH_DEFAULTS = { connections: 16, depth: 32, size: 100, seconds: 10, workers: 4, batch: 100 };

/** `--expected-version`: any, no_stream, stream_exists or an integer of at least -1. */
function expectedVersion(value: string): string | number {
  if (value === 'any' || value === 'no_stream' || value === 'stream_exists') return value;
  if (/^-?\d+$/.test(value) && Number.isSafeInteger(Number(value)) && Number(value) >= -1) return Number(value);
  throw new InvalidArgumentError('give any, no_stream, stream_exists or a version number (-1 or more)');
}

/** A key or an event type: 1 to `maxBytes` bytes of UTF-8 (the server refuses any other; here it is a usage error). */
function eventField(maxBytes: number): (value: string) => string {
  return (value) => {
    const bytes = Buffer.byteLength(value);
    if (bytes === 0 || bytes > maxBytes) throw new InvalidArgumentError(`It must be 1 to ${maxBytes} bytes of UTF-8${bytes === 0 ? '' : ` (it is ${bytes})`}.`);
    return value;
  };
}

/** A whole number from `minimum` to 2^53 - 1 (a usage error otherwise). */
function wholeNumber(minimum: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < minimum) throw new InvalidArgumentError(`It must be a whole number from ${minimum} to ${Number.MAX_SAFE_INTEGER}.`);
    return n;
  };
}

/** A help section of example command lines. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => `  ${line}`).join('\n')}`;
}

const CONNECTION_HELP = '\nThe server: --host/--port (EVENTBUS_HOST, EVENTBUS_PORT; default 127.0.0.1:8080), --tls or --tls-ca FILE (EVENTBUS_TLS, EVENTBUS_TLS_CA), --auth ID:SECRET (EVENTBUS_AUTH).';

/** Registers the client commands; `subcommand(name)` makes a subcommand with one-line usage errors. */
export function addClientCommands(program: Command, subcommand: (name: string) => Command): void {
  program.commandsGroup('Client commands (a running server):');
  const client = (name: string) => withConnectionOptions(subcommand(name)).addHelpText('after', CONNECTION_HELP);

  client('streams')
    .summary('every stream with its figures and consumers')
    .description('List every stream with its event count, size, offsets and consumers (with their lag).')
    .option('--names', 'print only the names, one per line')
    .addHelpText('after', examples('eventbus streams', 'eventbus streams --json | jq -r \'select(.event_count > 0) | .name\''))
    .action(async (flags) => (await import('./stream-commands.js')).streamsCommand(flags));

  client('create')
    .summary('create a stream')
    .description('Create a stream.')
    .argument('<name>', 'the stream name (1 to 255 bytes of UTF-8, no control characters)')
    .option('--exists-ok', 'succeed when the stream exists already (for scripts run more than once)')
    .addHelpText('after', examples('eventbus create orders', 'eventbus create orders --exists-ok'))
    .action(async (name: string, flags) => (await import('./stream-commands.js')).createCommand(name, flags));

  client('delete')
    .summary('delete a stream (asks first on a terminal, unless --yes)')
    .description('Delete a stream with its events and consumers, for good. It asks first on a terminal, unless --yes; the answer is read from stdin, so when stdin is not a terminal (a script) it does not ask.')
    .argument('<name>', 'the stream')
    .option('-y, --yes', 'do not ask')
    .addHelpText('after', examples('eventbus delete orders', 'eventbus delete orders --yes'))
    .action(async (name: string, flags) => (await import('./stream-commands.js')).deleteCommand(name, flags));

  client('info')
    .summary("a stream's figures, consumers and damage")
    .description("Show a stream's figures, its consumers (cursor, pending, retry, lag) and any damage.")
    .argument('<name>', 'the stream')
    .addHelpText('after', examples('eventbus info orders', 'eventbus info orders --json | jq .consumers'))
    .action(async (name: string, flags) => (await import('./stream-commands.js')).infoCommand(name, flags));

  client('write')
    .summary('write an event, or JSON lines from stdin')
    .description('Write one event given as JSON, or, without it, JSON lines from stdin: one event per line, pipelined, stored in the order of the lines. A line that is not JSON stops the writing and is named (exit status 65).')
    .argument('<name>', 'the stream')
    .argument('[json]', 'the event: one JSON value (stored exactly as written)')
    .addOption(new Option('--key <key>', "the aggregate the event belongs to (1 to 255 bytes): it gets the key's next version; from stdin, every line goes to this key in order").argParser(eventField(MAX_KEY_BYTES)))
    .addOption(new Option('--type <type>', 'the event type (1 to 255 bytes), e.g. OrderPlaced').argParser(eventField(MAX_TYPE_BYTES)))
    .addOption(new Option('--expected-version <v>', 'append only if the key (without --key, the stream) is at this version: any, no_stream, stream_exists or a number; one event only').argParser(expectedVersion))
    .addOption(new Option('--max-line-bytes <n>', "the server's max_line_bytes, for lines from stdin: a longer line stops the writing before it is sent (default: 5242880, the server's default)").argParser(wholeNumber(1)))
    .addHelpText('after', examples(`eventbus write orders '{"total":12.5}'`, `eventbus write orders --key order-123 --type OrderPlaced '{"total":12.5}'`, 'eventbus write orders < orders.jsonl', 'jq -c \'.[]\' export.json | eventbus write orders'))
    .action(async (name: string, json: string | undefined, flags) => (await import('./write-command.js')).writeCommand(name, json, flags));

  client('read')
    .summary("print a stream's events; --follow for new ones")
    .description("Print a stream's events in offset order as JSON lines (each event as the server sends it; on a terminal, one readable line each). With --follow, go on printing new events until Ctrl-C (exit status 0); without it, Ctrl-C stops the reading with exit status 130, saying how many events were printed.")
    .argument('<name>', 'the stream')
    .addOption(new Option('--from <offset>', "first offset (default: 0, the oldest); past the stream's next offset it is refused (INVALID_FIELD)").argParser(wholeNumber(0)))
    .addOption(new Option('--limit <n>', 'print at most this many events').argParser(wholeNumber(1)))
    .option('-f, --follow', 'keep printing new events as they are written, like tail -f (until Ctrl-C)')
    .option('--consumer <name>', "report statuses for this consumer (default: default); reading never creates a consumer")
    .addHelpText('after', examples('eventbus read orders', 'eventbus read orders --from 1000 --limit 10', 'eventbus read orders --follow', 'eventbus read orders | jq .body.total'))
    .action(async (name: string, flags) => (await import('./read-command.js')).readCommand(name, flags));

  client('consume')
    .summary("deliver (and --ack) a consumer's events")
    .description('Deliver the events due to a consumer (process_events) and print them; with --ack, acknowledge them once printed. Without --ack they stay pending and come back through retry_events after the acknowledgement deadline. Stops when nothing is due, after --max events, or with --follow on Ctrl-C.')
    .argument('<name>', 'the stream')
    .option('--consumer <name>', 'the consumer (created on first use; default: default)')
    .option('--ack', 'acknowledge each batch once printed (mark_event status 1)')
    .addOption(new Option('--max <n>', 'deliver at most this many events').argParser(wholeNumber(1)))
    .addOption(new Option('--batch <n>', 'events per process_events (default: 100; the server caps it at 1,000)').argParser(wholeNumber(1)))
    .option('--retry', 'deliver the events due for retry instead (retry_events)')
    .option('-f, --follow', 'wait for new events instead of stopping when nothing is due (until Ctrl-C), connecting again to a server that restarts')
    .addHelpText('after', examples('eventbus consume orders --consumer billing --max 10', 'eventbus consume orders --consumer billing --ack --follow', 'eventbus consume orders --consumer billing --retry'))
    .action(async (name: string, flags) => (await import('./consume-command.js')).consumeCommand(name, flags));

  client('bench')
    .summary('measure a server: writes and a drain')
    .description('Measure a server: write into a new stream of its own with --connections × --depth writes in flight for --seconds (or --events), then drain and acknowledge every event, and print the throughput and latency percentiles of each phase. The stream is deleted afterwards, also on Ctrl-C.')
    .addOption(new Option('--connections <n>', 'connections writing').argParser(wholeNumber(1)).default(BENCH_DEFAULTS.connections))
    .addOption(new Option('--depth <n>', 'writes in flight per connection').argParser(wholeNumber(1)).default(BENCH_DEFAULTS.depth))
    .addOption(new Option('--size <bytes>', 'event size in bytes').argParser(wholeNumber(20)).default(BENCH_DEFAULTS.size))
    .addOption(new Option('--seconds <s>', `write for this long (default: ${BENCH_DEFAULTS.seconds})`).argParser(wholeNumber(1)).conflicts('events'))
    .addOption(new Option('--events <n>', 'write this many events instead').argParser(wholeNumber(1)))
    .option('--no-drain', 'only write')
    .addOption(new Option('--workers <n>', 'consumers draining').argParser(wholeNumber(1)).default(BENCH_DEFAULTS.workers))
    .addOption(new Option('--batch <n>', 'events per fetch when draining').argParser(wholeNumber(1)).default(BENCH_DEFAULTS.batch))
    .option('--stream <name>', 'the stream to write into (must not exist; default: eventbus-bench-<random>)')
    .option('--keep', 'keep the stream afterwards')
    .addHelpText('after', examples('eventbus bench', 'eventbus bench --connections 1 --depth 1 --seconds 5 --no-drain', 'eventbus bench --events 1000000 --size 1024 --host bus.internal --tls --json'))
    .action(async (flags) => (await import('./bench-command.js')).benchCommand(flags));

  subcommand('completion')
    .summary('a completion script for bash or zsh')
    .description('Print a shell completion script for bash or zsh (commands, options, and stream names from the server).')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']))
    .addHelpText('after', examples(
      'eval "$(eventbus completion bash)"                 # now; add the line to ~/.bashrc for every shell',
      'eventbus completion bash > /etc/bash_completion.d/eventbus',
      'eventbus completion zsh > "${fpath[1]}/_eventbus"  # or: eval "$(eventbus completion zsh)" in ~/.zshrc',
    ))
    .action(async (shell: 'bash' | 'zsh') => {
      const { completionScript } = await import('./completion.js');
      process.stdout.write(completionScript(program, shell));
    });
}
