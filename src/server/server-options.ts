/**
 * The checks of EventBusServer.start's options (ServerOptions), for a program that embeds the
 * server: what `eventbus serve` refuses in its options and config file (src/cli/settings.ts,
 * config.ts) is refused here too, with the same code (INVALID_FIELD) and words, naming the option
 * in `context.field` (`port`, `limits.maxConnections`, `http.port`, `options.prot` for an unknown
 * one), before anything binds. Without them a port of -1 or 1.5 was Node's RangeError, a host of
 * 5 a TypeError, a misspelt option or an `insecureNoAuth: 'yes'` was ignored (or taken), and a
 * logger without `info` failed only after the port was bound.
 */
import { ErrorCodes, EventBusError } from '../errors.js';
import { describe, firstUnknownKey } from '../storage/api-arguments.js';
import { Engine } from '../storage/engine.js';

/** Every option of ServerOptions (server.ts). */
const SERVER_OPTION_KEYS = ['engine', 'host', 'port', 'clients', 'insecureNoAuth', 'tls', 'limits', 'bus', 'logger', 'http', 'version'] as const;
const LOGGER_METHODS = ['debug', 'info', 'warn', 'error'] as const;
/** The methods an EventStore has that the server calls first (the bus's interface, src/bus/event-store.ts). */
const EVENT_STORE_METHODS = ['createStream', 'deleteStream', 'streamInfo', 'listStreams', 'append', 'read'] as const;

/** INVALID_FIELD for option `field`, which should have been `expected`. */
export function badServerOption(field: string, expected: string, value: unknown): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_FIELD, `invalid server option: ${field} must be ${expected}, got ${describe(value)}`, { context: { field, expected } });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** An optional nested object (`limits`, `http`, `bus`, `tls`): absent, or an object of `known` keys only. */
export function checkSection(value: unknown, field: string, known: readonly string[]): asserts value is Record<string, unknown> | undefined {
  if (value === undefined) return;
  if (!isObject(value)) throw badServerOption(field, 'an object', value);
  const unknown = firstUnknownKey(value, known);
  if (unknown !== undefined) {
    const expected = `one of ${known.join(', ')} (unknown option)`;
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `invalid server option: ${field}.${unknown} is not known: expected ${expected}`, { context: { field: `${field}.${unknown}`, expected } });
  }
}

/** A port to bind: a whole number from 0 (any free port) to 65535, as `--port` takes. */
export function checkPort(value: unknown, field: string): void {
  if (!(Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= 65535)) throw badServerOption(field, 'a whole number from 0 to 65535', value);
}

/** An address to bind: a non-empty string (a name or an IP address; `--host`). */
export function checkHost(value: unknown, field: string): void {
  if (typeof value !== 'string' || value.trim() === '') throw badServerOption(field, 'a non-empty string (an address or host name to bind)', value);
}

/**
 * The options of EventBusServer.start, except those its own resolvers check with the same words
 * (limits: limits.ts; http: http-options.ts; bus: bus.ts). Throws INVALID_FIELD naming the first
 * bad one.
 */
export function checkServerOptions(options: unknown): void {
  if (!isObject(options)) throw badServerOption('options', 'an object with at least engine', options);
  checkSection(options, 'options', SERVER_OPTION_KEYS);
  const engine = options.engine;
  if (!(engine instanceof Engine) && !(isObject(engine) && EVENT_STORE_METHODS.every((m) => typeof engine[m] === 'function'))) {
    throw badServerOption('engine', 'an open Engine (or another EventStore)', engine);
  }
  if (options.host !== undefined) checkHost(options.host, 'host');
  if (options.port !== undefined) checkPort(options.port, 'port');
  checkClients(options.clients);
  if (options.insecureNoAuth !== undefined && typeof options.insecureNoAuth !== 'boolean') throw badServerOption('insecureNoAuth', 'a boolean', options.insecureNoAuth);
  checkTls(options.tls);
  const logger = options.logger;
  if (logger !== undefined && !(isObject(logger) && LOGGER_METHODS.every((m) => typeof logger[m] === 'function'))) {
    throw badServerOption('logger', `a Logger (${LOGGER_METHODS.join(', ')}; a pino logger fits)`, logger);
  }
  if (options.version !== undefined && typeof options.version !== 'string') throw badServerOption('version', 'a string', options.version);
}

/** Named clients: each `{ client_id, client_secret }`, non-empty strings (the config file's `auth` map). */
function checkClients(clients: unknown): void {
  if (clients === undefined) return;
  if (!isObject(clients)) throw badServerOption('clients', 'an object', clients);
  for (const [name, client] of Object.entries(clients)) {
    const field = `clients.${name}`;
    if (!isObject(client)) throw badServerOption(field, 'an object with client_id and client_secret', client);
    checkSection(client, field, ['client_id', 'client_secret']);
    for (const key of ['client_id', 'client_secret'] as const) {
      if (typeof client[key] !== 'string' || client[key] === '') throw badServerOption(`${field}.${key}`, 'a non-empty string', client[key]);
    }
  }
}

/** PEM certificate and key: both given, each a string or a Buffer. */
function checkTls(tls: unknown): void {
  checkSection(tls, 'tls', ['cert', 'key']);
  if (tls === undefined) return;
  for (const key of ['cert', 'key'] as const) {
    const value = tls[key];
    if (!(typeof value === 'string' && value !== '') && !Buffer.isBuffer(value)) throw badServerOption(`tls.${key}`, 'a PEM text (a string or a Buffer)', value);
  }
}
