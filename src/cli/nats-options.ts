/**
 * The options that say how the command reaches a NATS cluster (credentials, TLS), shared by
 * `eventbus serve --backend jetstream` and `eventbus restore --nats-servers`: the same options,
 * environment variables, config keys (`backend:` section), checks and messages for both.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { ErrorCodes, EventBusError } from '../errors.js';
import type { NatsAccess } from '../bus/jetstream/nats-access.js';

/** The NATS options commander hands over (given on the command line or through EVENTBUS_*). */
export interface NatsFlags {
  natsServers?: string;
  natsCreds?: string;
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
}

/** Adds the credential and TLS options (not `--nats-servers`, which each command words its own way). */
export function addNatsAccessOptions(command: Command): Command {
  return command
    .addOption(new Option('--nats-creds <file>', 'jetstream backend: NATS credentials file (JWT and NKey seed; read at start)').env('EVENTBUS_NATS_CREDS'))
    .addOption(new Option('--nats-user <user>', 'jetstream backend: NATS user (the password from EVENTBUS_NATS_PASSWORD or the config file)').env('EVENTBUS_NATS_USER'))
    .addOption(new Option('--nats-password <password>').env('EVENTBUS_NATS_PASSWORD').hideHelp())
    .addOption(new Option('--nats-token <token>').env('EVENTBUS_NATS_TOKEN').hideHelp())
    .addOption(new Option('--nats-tls-ca <file>', 'jetstream backend: CA certificate to trust for TLS to NATS (a PEM certificate, read at start; TLS is then required, as by a tls:// server)').env('EVENTBUS_NATS_TLS_CA'))
    .addOption(new Option('--nats-tls-cert <file>', 'jetstream backend: client certificate for TLS to NATS (needs --nats-tls-key; the pair is read and checked at start)').env('EVENTBUS_NATS_TLS_CERT'))
    .addOption(new Option('--nats-tls-key <file>', 'jetstream backend: private key of --nats-tls-cert').env('EVENTBUS_NATS_TLS_KEY'));
}

/**
 * Refuses `--nats-password` and `--nats-token` as arguments (usage error, 64): they are options
 * only so that their environment variables are read, and a secret given as an argument is
 * visible to every user in ps (docs/protocol.md).
 */
export function refuseSecretArguments(command: Command): void {
  for (const [key, flag, variable, configKey] of [['natsPassword', '--nats-password', 'EVENTBUS_NATS_PASSWORD', 'password'], ['natsToken', '--nats-token', 'EVENTBUS_NATS_TOKEN', 'token']] as const) {
    if (command.getOptionValueSource(key) === 'cli') command.error(`${flag} is not taken as an argument (other users can see arguments in ps): set ${variable}, or backend.${configKey} in the config file`, { exitCode: 64, code: 'eventbus.secretArgument' });
  }
}

const nonEmpty = (value: string | undefined) => (value === '' ? undefined : value);

/** The servers of `--nats-servers` (else `backend.servers`), blanks dropped; empty when none is given. */
export function natsServersOf(flags: NatsFlags, section: Record<string, string | number>): string[] {
  return (nonEmpty(flags.natsServers) ?? (section.servers as string | undefined) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * The credentials and TLS files of the options over the config file's `backend:` section (paths
 * made absolute). Throws INVALID_FIELD for a client certificate without its key or the reverse.
 */
export function natsAccessOf(flags: NatsFlags, section: Record<string, string | number>): Omit<NatsAccess, 'servers'> {
  const pick = (flag: string | undefined, key: string) => nonEmpty(flag) ?? (section[key] as string | undefined);
  const access: Omit<NatsAccess, 'servers'> = {};
  const user = pick(flags.natsUser, 'user');
  const password = pick(flags.natsPassword, 'password');
  const token = pick(flags.natsToken, 'token');
  const creds = pick(flags.natsCreds, 'credsFile');
  if (user !== undefined) access.user = user;
  if (password !== undefined) access.password = password;
  if (token !== undefined) access.token = token;
  if (creds !== undefined) access.credsFile = path.resolve(creds);
  const ca = pick(flags.natsTlsCa, 'tlsCa');
  const cert = pick(flags.natsTlsCert, 'tlsCert');
  const key = pick(flags.natsTlsKey, 'tlsKey');
  if ((cert === undefined) !== (key === undefined)) throw new EventBusError(ErrorCodes.INVALID_FIELD, 'NATS TLS needs both a client certificate (--nats-tls-cert) and its key (--nats-tls-key)');
  if (ca !== undefined || cert !== undefined) {
    access.tls = { ...(ca === undefined ? {} : { caFile: path.resolve(ca) }), ...(cert === undefined ? {} : { certFile: path.resolve(cert), keyFile: path.resolve(key!) }) };
  }
  return access;
}
