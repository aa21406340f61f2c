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
import { FSYNC_POLICIES, type FsyncPolicy } from '../storage/index.js';
import { loadConfig, type FileConfig } from './config.js';
import { DEFAULTS, LOG_LEVELS, envFlag } from './defaults.js';

/** What commander hands over (options given on the command line or through EVENTBUS_*). */
export interface ServeFlags {
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
}

export interface ServeSettings {
  host: string;
  port: number;
  portFile: string | undefined;
  insecureNoAuth: boolean;
  tls: { certFile: string; keyFile: string } | undefined;
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
}


const LIMIT_KEYS = new Set([
  'maxLineBytes', 'maxConnections', 'maxInFlightRequests', 'maxInFlightBytes', 'maxOutputBytes', 'outputStallTimeoutMs',
  'idleTimeoutMs', 'partialLineTimeoutMs', 'closeLingerMs', 'maxMarkEventIds', 'shutdownTimeoutMs',
]);
const BUS_KEYS = new Set(['defaultPageEvents', 'maxPageEvents', 'maxPageBytes']);

function bad(message: string): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_FIELD, message);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}


export function resolveSettings(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): ServeSettings {
  const configFile = flags.config;
  const file: FileConfig = configFile === undefined
    ? { clients: {}, server: {}, tls: {}, storage: {}, retention: {}, consumers: {}, http: {} }
    : loadConfig(configFile);

  const host = flags.host ?? (file.server.host as string | undefined) ?? DEFAULTS.host;
  const port = flags.port ?? (file.server.port as number | undefined) ?? DEFAULTS.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad(`port must be from 0 to 65535, got ${port}`);
  const fsync = flags.fsync ?? (file.storage.fsync as string | undefined) ?? DEFAULTS.fsync;
  if (!(FSYNC_POLICIES as readonly string[]).includes(fsync)) throw bad(`fsync must be one of ${FSYNC_POLICIES.join(', ')}, got '${fsync}'`);
  const logLevel = flags.logLevel ?? file.logLevel ?? DEFAULTS.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw bad(`log level must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  const insecureNoAuth = flags.insecureNoAuth ?? envFlag(env.EVENTBUS_INSECURE_NO_AUTH, 'EVENTBUS_INSECURE_NO_AUTH') ?? (file.server.insecureNoAuth as boolean | undefined) ?? false;

  const certFile = flags.tlsCert ?? file.tls.cert;
  const keyFile = flags.tlsKey ?? file.tls.key;
  if ((certFile === undefined) !== (keyFile === undefined)) throw bad('TLS needs both a certificate (--tls-cert) and a key (--tls-key)');

  const limits: Record<string, number> = {};
  const bus: Record<string, number> = {};
  for (const [key, value] of Object.entries(file.server)) {
    if (LIMIT_KEYS.has(key)) limits[key] = value as number;
    else if (BUS_KEYS.has(key)) bus[key] = value as number;
  }

  const { dataDir, fsync: _fsync, ...storage } = file.storage;
  void _fsync;
  const engine: EngineOptions = {
    ...(storage as Partial<EngineOptions>),
    // An empty EVENTBUS_DATA counts as unset (path.resolve('') would be the working directory).
    dataDir: path.resolve(nonEmpty(flags.data) ?? (dataDir as string | undefined) ?? DEFAULTS.data),
    fsync: fsync as FsyncPolicy,
    ...(Object.keys(file.retention).length > 0 ? { retention: file.retention } : {}),
    ...(Object.keys(file.consumers).length > 0 ? { consumers: file.consumers } : {}),
  };

  const { port: httpPortInFile, host: httpHostInFile, portFile: httpPortFileInFile, ...httpLimits } = file.http;
  const httpPort = flags.httpPort ?? (httpPortInFile as number | undefined);
  const httpHost = nonEmpty(flags.httpHost) ?? (httpHostInFile as string | undefined);
  const http: HttpOptions | undefined = httpPort === undefined
    ? undefined
    : { port: httpPort, ...(httpHost === undefined ? {} : { host: httpHost }), ...(httpLimits as Partial<HttpOptions>) };

  return {
    host,
    port,
    portFile: flags.portFile ?? (file.server.portFile as string | undefined),
    insecureNoAuth,
    tls: certFile === undefined ? undefined : { certFile, keyFile: keyFile! },
    logLevel,
    logOutputs: file.logOutputs ?? ['stdout'],
    clients: file.clients,
    engine,
    limits: limits as Partial<ServerLimits>,
    bus: bus as BusOptions,
    // Default beside the data directory, never relative to the working directory (systemd's is /).
    snapshotsRoot: file.snapshotsRoot === undefined ? defaultSnapshotsRoot(engine.dataDir) : path.resolve(file.snapshotsRoot),
    configFile,
    http,
    httpPortFile: nonEmpty(flags.httpPortFile) ?? (httpPortFileInFile as string | undefined),
  };
}

export { DEFAULTS, envFlag };
