/**
 * The options every client command shares: where the server is (--host, --port, --tls,
 * --tls-ca), who we are (--auth ID:SECRET) and how to print (--json, --no-color), each falling
 * back to its EVENTBUS_* environment variable, then to the default. `connect` opens the client
 * and turns a failure into a one-line CommandFailure (command-failure.ts).
 */
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { Option, type Command } from 'commander';
import { EventBusClient } from '../client/client.js';
import type { Endpoint } from './bench/endpoint.js';
import { CommandFailure, clientFailure, hostPort, unbracketedHost, type Target } from './command-failure.js';
import { envFlag } from './defaults.js';
import { fileErrorText } from './file-errors.js';
import { ExitStatus, type ExitStatusValue } from './exit-status.js';
import { parseServerPort } from './port-option.js';
import { signalReceived, stopOnSignals, unlessStopped, type StopSignal } from './stop-signal.js';

/** The parsed common options (commander's camelCase). */
export interface ConnectionFlags {
  host?: string;
  port?: number;
  tls?: boolean;
  tlsCa?: string;
  auth?: string;
  json?: boolean;
  /** False with --no-color. */
  color?: boolean;
}

export const CLIENT_DEFAULTS = { host: '127.0.0.1', port: 8080 };

/** The help that a usage failure here points to: the running command's. */
let helpCommand = 'eventbus';

/** Adds the common options to a client command. */
export function withConnectionOptions(command: Command): Command {
  return command
    .hook('preAction', (_program, action) => {
      helpCommand = `eventbus ${action.name()}`;
    })
    .addOption(new Option('--host <address>', `server address (default: ${CLIENT_DEFAULTS.host})`).env('EVENTBUS_HOST'))
    .addOption(new Option('--port <port>', `server port (default: ${CLIENT_DEFAULTS.port})`).env('EVENTBUS_PORT').argParser(parseServerPort))
    .addOption(new Option('--tls', 'connect with TLS, checking the server certificate against the system CAs (env EVENTBUS_TLS=1)'))
    .addOption(new Option('--tls-ca <file>', 'PEM certificate(s) to trust for TLS, e.g. a self-signed server certificate (implies --tls)').env('EVENTBUS_TLS_CA'))
    .addOption(new Option('--auth <id:secret>', "client id and secret of a client in the server's auth section (prefer EVENTBUS_AUTH: arguments are visible to other users in ps)").env('EVENTBUS_AUTH'))
    .addOption(new Option('--json', 'print JSON (snake_case, as on the wire); the default when stdout is not a terminal'))
    .addOption(new Option('--no-color', 'print without colour (also NO_COLOR=1)'));
}

/** Host, port, TLS options and credentials from the flags and environment; throws a usage failure. */
export function endpointOf(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Endpoint {
  const host = flags.host === undefined || flags.host === '' ? CLIENT_DEFAULTS.host : unbracketedHost(flags.host);
  const port = flags.port ?? CLIENT_DEFAULTS.port;
  let useTls = flags.tls === true;
  try {
    useTls ||= envFlag(env.EVENTBUS_TLS, 'EVENTBUS_TLS') === true;
  } catch (error) {
    throw new CommandFailure(64, (error as Error).message);
  }
  let tlsOptions: tls.ConnectionOptions | undefined;
  if (flags.tlsCa !== undefined && flags.tlsCa !== '') {
    try {
      tlsOptions = { ca: readFileSync(flags.tlsCa) };
    } catch (error) {
      throw new CommandFailure(64, `cannot read --tls-ca ${flags.tlsCa}: ${fileErrorText(error)}; see '${helpCommand} --help'`);
    }
    // Node takes only PEM here, and says nothing of a file that is not: every certificate is then refused.
    if (!(tlsOptions.ca as Buffer).includes('-----BEGIN CERTIFICATE-----')) {
      throw new CommandFailure(64, `--tls-ca ${flags.tlsCa} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the server's certificate or its CA's in PEM; see '${helpCommand} --help'`);
    }
  } else if (useTls) tlsOptions = {};
  const endpoint: Endpoint = { host, port };
  if (tlsOptions !== undefined) endpoint.tls = tlsOptions;
  if (flags.auth !== undefined && flags.auth !== '') endpoint.auth = credentials(flags.auth);
  return endpoint;
}

/** `ID:SECRET`, split at the first colon (an id cannot hold one; a secret may). */
function credentials(value: string): { clientId: string; clientSecret: string } {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new CommandFailure(64, `--auth (or EVENTBUS_AUTH) must be ID:SECRET, the client_id and client_secret of a configured client; see '${helpCommand} --help'`);
  return { clientId: value.slice(0, colon), clientSecret: value.slice(colon + 1) };
}

/** How a command that handles Ctrl-C (stop-signal.ts) wants to be stopped while it connects. */
export interface Interruptible {
  stop: StopSignal;
  /** The exit status of a command stopped before it connected: 130, or 0 for the follow modes. */
  status: ExitStatusValue;
}

/**
 * A connected client for the flags; a failure is a CommandFailure (69 when nothing answers). With
 * `interruptible`, Ctrl-C while connecting ends it at once (a CommandFailure of its status).
 */
export async function connect(flags: ConnectionFlags, interruptible?: Interruptible): Promise<{ client: EventBusClient; target: Target; endpoint: Endpoint }> {
  const endpoint = endpointOf(flags);
  const target = { host: endpoint.host, port: endpoint.port, tls: endpoint.tls !== undefined };
  try {
    const connecting = EventBusClient.connect({
      host: endpoint.host,
      port: endpoint.port,
      connectTimeoutMs: 10_000,
      ...(endpoint.tls === undefined ? {} : { tls: endpoint.tls }),
      ...(endpoint.auth === undefined ? {} : { auth: endpoint.auth }),
    });
    const client = interruptible === undefined ? await connecting : await unlessStopped(connecting, interruptible.stop, (late) => late.destroy());
    if (client === null) throw new CommandFailure(interruptible!.status, `interrupted while connecting to ${hostPort(target)}`);
    return { client, target, endpoint };
  } catch (error) {
    throw clientFailure(error, target);
  }
}

/** What a one-shot command (one with no Ctrl-C handling of its own) says when a signal stops it. */
export interface OneShot {
  /** Said after the line once a request that changes something was sent (it may have been carried out), e.g. `stream x may or may not have been created`. */
  unanswered?: () => string | undefined;
}

/**
 * Runs `work` with a connected client, closing it afterwards; what the client rejects with
 * becomes a one-line CommandFailure. Without `interruptible` (the one-shot commands: streams,
 * create, delete, info, a single write), Ctrl-C or SIGTERM ends the command at once with exit
 * 130, while it connects (`interrupted while connecting to …`) or waits for an answer
 * (`interrupted while waiting for an answer from …`), as the commands that handle signals do.
 */
export async function withClient<T>(flags: ConnectionFlags, work: (client: EventBusClient, endpoint: Endpoint) => Promise<T>, interruptible?: Interruptible, oneShot: OneShot = {}): Promise<T> {
  const own = interruptible === undefined ? stopOnSignals() : null;
  try {
    const { client, target, endpoint } = await connect(flags, interruptible ?? { stop: own!, status: ExitStatus.INTERRUPTED });
    try {
      if (own === null) return await work(client, endpoint);
      const done = await unlessStopped(work(client, endpoint).then((value) => ({ value })), own);
      if (done === null) throw interruptedWaiting(target, oneShot);
      return done.value;
    } catch (error) {
      throw clientFailure(error, target);
    } finally {
      // After a signal the work is over: the connection is dropped, not closed politely (close
      // waits up to a second for a server that does not close its side).
      if (signalReceived()) client.destroy();
      await client.close().catch(() => {});
    }
  } finally {
    own?.dispose();
  }
}

/** The failure of a one-shot command stopped while it waited for the server (exit 130). */
export function interruptedWaiting(target: Target, oneShot: OneShot = {}): CommandFailure {
  const unanswered = oneShot.unanswered?.();
  return new CommandFailure(ExitStatus.INTERRUPTED, `interrupted while waiting for an answer from ${hostPort(target)}${unanswered === undefined ? '' : ` (${unanswered})`}`);
}
