/**
 * The settings of `eventbus serve`, from (highest first) command-line options, EVENTBUS_*
 * environment variables, the config file, and the defaults.
 */
import path from 'node:path';
import { ErrorCodes, EventBusError } from '../errors.js';
import type { BusOptions } from '../bus/bus.js';
import { defaultSnapshotsRoot } from '../bus/snapshot-path.js';
import type { ClientCredentials } from '../server/auth.js';
import type { ServerLimits } from '../server/limits.js';
import type { HttpOptions } from '../server/http/http-options.js';
import type { EngineOptions } from '../storage/index.js';
import { resolveJetStreamOptions, type JetStreamOptions } from '../bus/jetstream/jetstream-options.js';
import { FSYNC_POLICIES, nodeIO, type FsyncPolicy } from '../storage/index.js';
import { fileInTheWay, realExisting } from '../storage/tools/snapshot.js';
import { CommandFailure, unbracketedHost } from './command-failure.js';
import { loadConfig, type FileConfig } from './config.js';
import { DEFAULTS, LOG_LEVELS, envFlag } from './defaults.js';
import { ExitStatus } from './exit-status.js';
import { natsAccessOf, natsServersOf, type NatsFlags } from './nats-options.js';

/** What commander hands over (options given on the command line or through EVENTBUS_*). */
export interface ServeFlags extends NatsFlags {
  host?: string;
  port?: number;
  data?: string;
  config?: string;
  fsync?: string;
  logLevel?: string;
  portFile?: string;
  insecureNoAuth?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  httpPort?: number;
  httpHost?: string;
  httpPortFile?: string;
  backend?: string;
  replicas?: number;
}

/**
 * The server's TLS files as given, each with where it was given (`--tls-cert`,
 * `EVENTBUS_TLS_CERT`, `server.tls.cert in FILE`), so that a file that cannot be used is refused
 * naming what to fix.
 */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  certGivenBy: string;
  keyGivenBy: string;
}

/** Where commander took an option's value from ('cli', 'env', ...; getOptionValueSource). */
export type OptionSource = (key: keyof ServeFlags) => string | undefined;

/** The storage backend: the embedded engine (default) or a NATS JetStream cluster. */
export type BackendSettings = { type: 'engine' } | { type: 'jetstream'; jetstream: JetStreamOptions };

export interface ServeSettings {
  host: string;
  port: number;
  portFile: string | undefined;
  insecureNoAuth: boolean;
  tls: TlsFiles | undefined;
  logLevel: string;
  logOutputs: string[];
  clients: Record<string, ClientCredentials>;
  engine: EngineOptions;
  limits: Partial<ServerLimits>;
  bus: BusOptions;
  snapshotsRoot: string;
  configFile: string | undefined;
  /** The HTTP side port (metrics, health, admin page); undefined: off. */
  http: HttpOptions | undefined;
  /** Once the HTTP port listens, its number is written here. */
  httpPortFile: string | undefined;
  backend: BackendSettings;
}


const LIMIT_KEYS = new Set([
  'maxLineBytes', 'maxConnections', 'maxInFlightRequests', 'maxInFlightBytes', 'maxOutputBytes', 'outputStallTimeoutMs',
  'idleTimeoutMs', 'partialLineTimeoutMs', 'closeLingerMs', 'maxMarkEventIds', 'shutdownTimeoutMs', 'maxSubscriptionBufferBytes',
]);
const BUS_KEYS = new Set(['defaultPageEvents', 'maxPageEvents', 'maxPageBytes']);

function bad(message: string): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_FIELD, message);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}


export function resolveSettings(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env, sourceOf: OptionSource = () => 'cli'): ServeSettings {
  const configFile = flags.config;
  const file: FileConfig = configFile === undefined
    ? { clients: {}, server: {}, tls: {}, storage: {}, retention: {}, consumers: {}, http: {}, backend: {} }
    : loadConfig(configFile);

  // `[::1]`, as errors print an IPv6 address, is the address ::1.
  const host = unbracketedHost(flags.host ?? (file.server.host as string | undefined) ?? DEFAULTS.host);
  const port = flags.port ?? (file.server.port as number | undefined) ?? DEFAULTS.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad(`port must be from 0 to 65535, got ${port}`);
  const fsync = flags.fsync ?? (file.storage.fsync as string | undefined) ?? DEFAULTS.fsync;
  if (!(FSYNC_POLICIES as readonly string[]).includes(fsync)) throw bad(`fsync must be one of ${FSYNC_POLICIES.join(', ')}, got '${fsync}'`);
  const logLevel = flags.logLevel ?? file.logLevel ?? DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw bad(`log level must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  const insecureNoAuth = flags.insecureNoAuth ?? envFlag(env.EVENTBUS_INSECURE_NO_AUTH, 'EVENTBUS_INSECURE_NO_AUTH') ?? (file.server.insecureNoAuth as boolean | undefined) ?? false;

  const tls = resolveTls(flags, file, configFile, sourceOf);

  const limits: Record<string, number> = {};
  const bus: Record<string, number> = {};
  for (const [key, value] of Object.entries(file.server)) {
    if (LIMIT_KEYS.has(key)) limits[key] = value as number;
    else if (BUS_KEYS.has(key)) bus[key] = value as number;
  }

  const { dataDir, fsync: _fsync, keyCacheBytes, ...storage } = file.storage;
  void _fsync;
  const engine: EngineOptions = {
    ...(storage as Partial<EngineOptions>),
    ...(keyCacheBytes === undefined ? {} : { keyIndex: { cacheBytes: keyCacheBytes as number } }),
    // An empty EVENTBUS_DATA counts as unset (path.resolve('') would be the working directory).
    dataDir: path.resolve(nonEmpty(flags.data) ?? (dataDir as string | undefined) ?? DEFAULTS.data),
    fsync: fsync as FsyncPolicy,
    ...(Object.keys(file.retention).length > 0 ? { retention: file.retention } : {}),
    ...(Object.keys(file.consumers).length > 0 ? { consumers: file.consumers } : {}),
  };

  const { port: httpPortInFile, host: httpHostInFile, portFile: httpPortFileInFile, ...httpLimits } = file.http;
  const httpPort = flags.httpPort ?? (httpPortInFile as number | undefined);
  const httpHostGiven = nonEmpty(flags.httpHost) ?? (httpHostInFile as string | undefined);
  const httpHost = httpHostGiven === undefined ? undefined : unbracketedHost(httpHostGiven);
  const http: HttpOptions | undefined = httpPort === undefined
    ? undefined
    : { port: httpPort, ...(httpHost === undefined ? {} : { host: httpHost }), ...(httpLimits as Partial<HttpOptions>) };

  return {
    host,
    port,
    portFile: flags.portFile ?? (file.server.portFile as string | undefined),
    insecureNoAuth,
    tls,
    logLevel,
    logOutputs: file.logOutputs ?? ['stdout'],
    clients: file.clients,
    engine,
    limits: limits as Partial<ServerLimits>,
    bus: bus as BusOptions,
    // Default beside the data directory, never relative to the working directory (systemd's is /).
    snapshotsRoot: snapshotsRootOf(file.snapshotsRoot, engine.dataDir),
    configFile,
    http,
    httpPortFile: nonEmpty(flags.httpPortFile) ?? (httpPortFileInFile as string | undefined),
    backend: resolveBackend(flags, file, engine),
  };
}

/** `--tls-cert`/`--tls-key` (or their variables) over the config file's `server.tls`, each with where it was given. */
function resolveTls(flags: ServeFlags, file: FileConfig, configFile: string | undefined, sourceOf: OptionSource): TlsFiles | undefined {
  const pick = (key: 'tlsCert' | 'tlsKey', option: string, variable: string, configKey: 'cert' | 'key') => {
    // An empty value (EVENTBUS_TLS_CERT=) counts as unset, as for the other paths.
    const given = nonEmpty(flags[key]);
    if (given !== undefined) return { file: given, givenBy: sourceOf(key) === 'env' ? variable : option };
    const inFile = file.tls[configKey];
    return inFile === undefined ? undefined : { file: inFile, givenBy: `server.tls.${configKey} in ${configFile ?? 'the config file'}` };
  };
  const cert = pick('tlsCert', '--tls-cert', 'EVENTBUS_TLS_CERT', 'cert');
  const key = pick('tlsKey', '--tls-key', 'EVENTBUS_TLS_KEY', 'key');
  if ((cert === undefined) !== (key === undefined)) throw bad('TLS needs both a certificate (--tls-cert) and a key (--tls-key)');
  if (cert === undefined || key === undefined) return undefined;
  return { certFile: cert.file, keyFile: key.file, certGivenBy: cert.givenBy, keyGivenBy: key.givenBy };
}

/**
 * `snapshots.root`, or the default beside the data directory. A root inside the data directory is
 * refused at start, also through a symbolic link (real paths compared as far as they exist):
 * every snapshot there would be refused (INVALID_PATH), since the store would take it for stray
 * files. So is a root that is a file or lies under one: no snapshot could be made.
 */
function snapshotsRootOf(configured: string | undefined, dataDir: string): string {
  if (configured === undefined) return defaultSnapshotsRoot(dataDir);
  const root = path.resolve(configured);
  const data = path.resolve(dataDir);
  const inside = (parent: string, candidate: string) => {
    const relative = path.relative(parent, candidate);
    return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
  };
  if (inside(data, root) || inside(realExisting(data), realExisting(root))) {
    const link = inside(data, root) ? '' : ` (through a symbolic link: it is really ${realExisting(root)})`;
    throw bad(`snapshots.root ${root} is inside the data directory ${data}${link}: put it beside it (the default is ${defaultSnapshotsRoot(dataDir)})`);
  }
  const file = fileInTheWay(nodeIO, root);
  if (file === root) throw bad(`snapshots.root ${root} is a file, not a directory: give a directory (the default is ${defaultSnapshotsRoot(dataDir)})`);
  if (file !== null) throw bad(`snapshots.root ${root} cannot be created: ${file} is a file`);
  return root;
}

/** `--backend` and the NATS options over the config file's `backend:` section. */
function resolveBackend(flags: ServeFlags, file: FileConfig, engine: EngineOptions): BackendSettings {
  const section = file.backend;
  const type = nonEmpty(flags.backend) ?? (section.type as string | undefined) ?? 'engine';
  if (type === 'engine') return { type: 'engine' };
  if (type !== 'jetstream') throw bad(`backend must be engine or jetstream, got '${type}'`);
  const servers = natsServersOf(flags, section);
  if (servers.length === 0) {
    const reason = 'the jetstream backend needs NATS servers: --nats-servers h1:p1,h2:p2,h3:p3 (or backend.servers in the config file)';
    // Asked for on the command line, it is a usage error there (64); a config file's, a failure to start (1).
    throw nonEmpty(flags.backend) === undefined ? bad(reason) : new CommandFailure(ExitStatus.USAGE, `${reason}; see 'eventbus serve --help'`);
  }
  const jetstream: JetStreamOptions = { servers, ...natsAccessOf(flags, section) };
  const replicas = flags.replicas ?? (section.replicas as number | undefined);
  if (replicas !== undefined) jetstream.replicas = replicas;
  for (const name of ['requestTimeoutMs', 'writeTimeoutMs', 'startTimeoutMs', 'duplicateWindowMs'] as const) {
    const value = section[name];
    if (value !== undefined) jetstream[name] = value as number;
  }
  if (engine.maxEventBytes !== undefined) jetstream.maxEventBytes = engine.maxEventBytes;
  if (engine.consumers !== undefined) jetstream.consumers = engine.consumers;
  // Checked now, as every other setting: a mistake in the config file is one line before anything starts.
  resolveJetStreamOptions(jetstream);
  return { type: 'jetstream', jetstream };
}

export { DEFAULTS, envFlag };
