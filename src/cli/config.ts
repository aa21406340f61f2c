/**
 * The config file: YAML in the original's `config.yaml` layout (`logger.level`, `logger.output`,
 * an `auth` map of named clients with `client_id` and `client_secret`) plus our own sections
 * `server`, `storage`, `consumers`, `snapshots` and `http`. Every key is checked: an unknown key or a
 * value of the wrong type stops the server with a message naming it as written, so a typo never
 * passes silently. Relative paths are relative to the working directory, as in the original.
 *
 * What the original (viper and zap) accepted is accepted: keys in any case (`Logger:`, `Level:`),
 * log levels in any case and zap's `dpanic` and `panic`, and a credential written as a number.
 */
import { readFileSync } from 'node:fs';
import { parse, parseDocument } from 'yaml';
import { DEFAULT_BUS_OPTIONS } from '../bus/bus.js';
import { REPLICA_COUNTS } from '../bus/jetstream/jetstream-options.js';
import { ErrorCodes, EventBusError } from '../errors.js';
import type { ClientCredentials } from '../server/auth.js';
import { DEFAULT_HTTP_OPTIONS } from '../server/http/http-options.js';
import { MAX_TIMER_MS } from '../storage/api-arguments.js';
import { DEFAULT_CONSUMER_LIMITS } from '../storage/consumers/consumer-types.js';
import { MAX_PENDING } from '../storage/consumers/journal-codec.js';
import { DEFAULT_MAX_BATCH_EVENTS, MIN_KEY_CACHE_BYTES } from '../storage/engine-options.js';
import { MAX_EVENT_BYTES } from '../storage/format/record.js';
import { FSYNC_POLICIES } from '../storage/index.js';
import { LOG_LEVELS } from './defaults.js';

/** Everything a config file can set, in our terms (absent: not set). */
export interface FileConfig {
  logLevel?: string;
  logOutputs?: string[];
  clients: Record<string, ClientCredentials>;
  server: Record<string, string | number | boolean>;
  tls: { cert?: string; key?: string };
  storage: Record<string, string | number>;
  retention: Record<string, number>;
  consumers: Record<string, number>;
  snapshotsRoot?: string;
  /** The `http` section (the HTTP side port); empty when absent. */
  http: Record<string, string | number>;
  /** The `backend` section (engine or jetstream, NATS servers and credentials); empty when absent. */
  backend: Record<string, string | number>;
}

type Kind = 'string' | 'integer' | 'boolean' | 'port';

/** `section.key` (snake_case, as written in YAML) → our camelCase name and its type. */
const SERVER_KEYS: Record<string, [string, Kind]> = {
  host: ['host', 'string'],
  port: ['port', 'port'],
  port_file: ['portFile', 'string'],
  insecure_no_auth: ['insecureNoAuth', 'boolean'],
  max_line_bytes: ['maxLineBytes', 'integer'],
  max_connections: ['maxConnections', 'integer'],
  max_in_flight_requests: ['maxInFlightRequests', 'integer'],
  max_in_flight_bytes: ['maxInFlightBytes', 'integer'],
  max_output_bytes: ['maxOutputBytes', 'integer'],
  output_stall_timeout_ms: ['outputStallTimeoutMs', 'integer'],
  idle_timeout_ms: ['idleTimeoutMs', 'integer'],
  partial_line_timeout_ms: ['partialLineTimeoutMs', 'integer'],
  close_linger_ms: ['closeLingerMs', 'integer'],
  max_mark_event_ids: ['maxMarkEventIds', 'integer'],
  shutdown_timeout_ms: ['shutdownTimeoutMs', 'integer'],
  max_subscription_buffer_bytes: ['maxSubscriptionBufferBytes', 'integer'],
  default_page_events: ['defaultPageEvents', 'integer'],
  max_page_events: ['maxPageEvents', 'integer'],
  max_page_bytes: ['maxPageBytes', 'integer'],
};

const STORAGE_KEYS: Record<string, [string, Kind]> = {
  data: ['dataDir', 'string'],
  fsync: ['fsync', 'string'],
  fsync_interval_ms: ['fsyncIntervalMs', 'integer'],
  segment_size_bytes: ['segmentSizeBytes', 'integer'],
  max_event_bytes: ['maxEventBytes', 'integer'],
  max_batch_events: ['maxBatchEvents', 'integer'],
  max_batch_bytes: ['maxBatchBytes', 'integer'],
  duplicate_window_ms: ['duplicateWindowMs', 'integer'],
  duplicate_window_events: ['duplicateWindowEvents', 'integer'],
  key_cache_bytes: ['keyCacheBytes', 'integer'],
  retention_interval_ms: ['retentionIntervalMs', 'integer'],
  max_open_segments: ['maxOpenSegments', 'integer'],
  max_streams: ['maxStreams', 'integer'],
};

const RETENTION_KEYS: Record<string, [string, Kind]> = {
  max_age_ms: ['maxAgeMs', 'integer'],
  max_bytes: ['maxBytes', 'integer'],
  max_events: ['maxEvents', 'integer'],
};

const CONSUMER_KEYS: Record<string, [string, Kind]> = {
  ack_wait_ms: ['ackWaitMs', 'integer'],
  max_deliveries: ['maxDeliveries', 'integer'],
  max_pending: ['maxPending', 'integer'],
  default_batch_events: ['defaultBatchEvents', 'integer'],
  max_batch_events: ['maxBatchEvents', 'integer'],
  max_batch_bytes: ['maxBatchBytes', 'integer'],
  max_wait_ms: ['maxWaitMs', 'integer'],
  max_consumers_per_stream: ['maxConsumersPerStream', 'integer'],
};

const BACKEND_KEYS: Record<string, [string, Kind]> = {
  type: ['type', 'string'],
  servers: ['servers', 'string'],
  replicas: ['replicas', 'integer'],
  user: ['user', 'string'],
  password: ['password', 'string'],
  token: ['token', 'string'],
  creds: ['credsFile', 'string'],
  tls_ca: ['tlsCa', 'string'],
  tls_cert: ['tlsCert', 'string'],
  tls_key: ['tlsKey', 'string'],
  request_timeout_ms: ['requestTimeoutMs', 'integer'],
  write_timeout_ms: ['writeTimeoutMs', 'integer'],
  start_timeout_ms: ['startTimeoutMs', 'integer'],
  duplicate_window_ms: ['duplicateWindowMs', 'integer'],
};

const HTTP_KEYS: Record<string, [string, Kind]> = {
  port: ['port', 'port'],
  host: ['host', 'string'],
  port_file: ['portFile', 'string'],
  max_connections: ['maxConnections', 'integer'],
  max_header_bytes: ['maxHeaderBytes', 'integer'],
  headers_timeout_ms: ['headersTimeoutMs', 'integer'],
  request_timeout_ms: ['requestTimeoutMs', 'integer'],
  max_body_bytes: ['maxBodyBytes', 'integer'],
  max_labelled_streams: ['maxLabelledStreams', 'integer'],
  max_labelled_consumers: ['maxLabelledConsumers', 'integer'],
};

/**
 * Whole numbers that must be above 0 (0 would disable what they bound) or within a range: every
 * bound the layers set on the option a key maps to. Checked here, where the file is read, so that
 * a mistake names the file and the key (`storage.key_cache_bytes`, not the engine's
 * `keyIndex.cacheBytes`); the layers check again for embedded users (bus.ts, limits.ts,
 * engine-options.ts, jetstream-options.ts, http-options.ts). test/cli/config-bounds.test.ts sweeps
 * the keys for a value accepted here and refused there.
 */
const BOUNDS: Record<string, [number, number?]> = {
  'server.max_line_bytes': [1], 'server.max_connections': [1], 'server.max_in_flight_requests': [1],
  'server.max_in_flight_bytes': [1], 'server.max_output_bytes': [1], 'server.output_stall_timeout_ms': [1, MAX_TIMER_MS],
  'server.partial_line_timeout_ms': [1, MAX_TIMER_MS], 'server.close_linger_ms': [1, MAX_TIMER_MS], 'server.max_mark_event_ids': [1],
  'server.shutdown_timeout_ms': [1, MAX_TIMER_MS], 'server.max_subscription_buffer_bytes': [1], 'server.default_page_events': [1], 'server.max_page_events': [1],
  'server.max_page_bytes': [1], 'storage.segment_size_bytes': [1024, 1024 ** 3],
  'storage.max_event_bytes': [1, MAX_EVENT_BYTES], 'storage.max_batch_events': [1], 'storage.max_batch_bytes': [1, MAX_EVENT_BYTES], 'storage.max_open_segments': [1],
  'storage.max_streams': [1], 'consumers.max_pending': [1, MAX_PENDING], 'consumers.default_batch_events': [1],
  'consumers.max_batch_events': [1], 'consumers.max_batch_bytes': [1], 'consumers.max_consumers_per_stream': [1],
  'http.max_connections': [1], 'http.max_header_bytes': [1024, 1024 * 1024], 'http.headers_timeout_ms': [1, MAX_TIMER_MS],
  'http.request_timeout_ms': [1, MAX_TIMER_MS], 'http.max_body_bytes': [1, 64 * 1024 * 1024], 'http.max_labelled_streams': [1],
  'http.max_labelled_consumers': [1],
  // Timers take at most MAX_TIMER_MS (a longer delay would fire at once).
  'storage.fsync_interval_ms': [1, MAX_TIMER_MS], 'storage.retention_interval_ms': [0, MAX_TIMER_MS], 'consumers.max_wait_ms': [0, MAX_TIMER_MS],
  'storage.key_cache_bytes': [MIN_KEY_CACHE_BYTES],
  'backend.request_timeout_ms': [1], 'backend.write_timeout_ms': [1], 'backend.start_timeout_ms': [1], 'backend.duplicate_window_ms': [100],
};

/** One reading of a config file: its name and text, and every key as written there. */
interface Reading {
  file: string;
  text: string;
  /** A key's path in lower case (`logger.level`) → its path as written (`Logger.Level`). */
  written: Map<string, string>;
  /** A key's path in lower case → the key itself as written (`Level`). */
  keys: Map<string, string>;
}

/** `path` (lower case) as the file writes it, for messages. */
function shown(r: Reading, path: string): string {
  return r.written.get(path) ?? path;
}

function inBounds(r: Reading, path: string, value: string | number | boolean): string | number | boolean {
  const bounds = Object.hasOwn(BOUNDS, path) ? BOUNDS[path] : undefined;
  if (bounds === undefined || typeof value !== 'number') return value;
  const [min, max = Number.MAX_SAFE_INTEGER] = bounds;
  if (value >= min && value <= max) return value;
  throw invalid(r.file, `'${shown(r, path)}' must be ${wholeNumber(path)}, got ${value}`);
}

/** What an integer setting must be, the same words for a wrong type and a value out of bounds. */
function wholeNumber(path: string): string {
  const bounds = Object.hasOwn(BOUNDS, path) ? BOUNDS[path] : undefined;
  if (bounds === undefined) return 'a whole number of at least 0';
  const [min, max] = bounds;
  return max === undefined ? `a whole number of at least ${min}` : `a whole number from ${min} to ${max}`;
}

/** `value` if it is one of `choices`; INVALID_FIELD naming the key otherwise. */
function oneOf(r: Reading, path: string, value: string, choices: readonly string[]): string {
  if (choices.includes(value)) return value;
  throw invalid(r.file, `'${shown(r, path)}' must be one of ${choices.join(', ')}, got '${value}'`);
}

/**
 * The original's log levels (zap's, read through viper) in ours: zap took a level in lower or
 * upper case, or any case once lowered, and "" as info. Its dpanic and panic lie between error
 * and fatal; nothing here logs at them, so what they let through is fatal.
 */
const ORIGINAL_LEVELS: Record<string, string> = { dpanic: 'fatal', panic: 'fatal', '': 'info' };

function logLevel(r: Reading, value: unknown): string {
  const text = typed(r, 'logger.level', value, 'string') as string;
  const lower = text.toLowerCase();
  const level = Object.hasOwn(ORIGINAL_LEVELS, lower) ? ORIGINAL_LEVELS[lower]! : lower;
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level;
  throw invalid(r.file, `'${shown(r, 'logger.level')}' must be one of ${LOG_LEVELS.join(', ')} (any case; the original's dpanic and panic are fatal), got '${text}'`);
}

/** A whole number as YAML writes it in decimal: the same text for every YAML reader. */
const DECIMAL_INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

/**
 * A client's `client_id` or `client_secret`. The original (viper's weakly typed decoding) took a
 * number as its decimal text, so `client_id: 12345` is "12345". Only a whole number written in
 * plain decimal is taken: for `0123`, `1e3` or `0x1F` the text, our reading (YAML 1.2: 123) and
 * the original's (YAML 1.1: 83) disagree, so such a credential is refused, asking for quotes.
 */
function credential(r: Reading, value: unknown, path: string, yamlPath: string[]): string {
  if (typeof value === 'string' && value.length > 0) return value;
  if (typeof value === 'number') {
    const node = parseDocument(r.text).getIn(yamlPath, true) as { source?: unknown } | undefined;
    const source = typeof node?.source === 'string' ? node.source : String(value);
    if (Number.isSafeInteger(value) && DECIMAL_INTEGER.test(source)) return source;
    throw invalid(r.file, `'${shown(r, path)}' must be a non-empty string, or a whole number in plain decimal; put ${source} in quotes (YAML readers differ on what number it is)`);
  }
  throw invalid(r.file, `'${shown(r, path)}' must be a non-empty string`);
}

function invalid(file: string, message: string): EventBusError {
  return new EventBusError(ErrorCodes.INVALID_FIELD, `config file ${file}: ${message}`);
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The map at `path` with its keys in lower case, as viper read the original's file (`Logger:` is
 * `logger:`), each key's spelling kept for messages. Two spellings of one key are refused: which
 * one counts would be a guess.
 */
function section(r: Reading, value: unknown, path: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (!isMap(value)) throw invalid(r.file, `'${path === '' ? '(top level)' : shown(r, path)}' must be a map`);
  // Keys are the user's text: a null-prototype map keeps `__proto__` an ordinary (unknown) key.
  const folded = Object.create(null) as Record<string, unknown>;
  for (const [key, raw] of Object.entries(value)) {
    const lower = key.toLowerCase();
    const full = path === '' ? lower : `${path}.${lower}`;
    const written = path === '' ? key : `${shown(r, path)}.${key}`;
    if (Object.hasOwn(folded, lower)) throw invalid(r.file, `'${written}' is given twice ('${r.keys.get(full)}' and '${key}'; keys are matched in any case)`);
    folded[lower] = raw;
    r.written.set(full, written);
    r.keys.set(full, key);
  }
  return folded;
}

function typed(r: Reading, path: string, value: unknown, kind: Kind): string | number | boolean {
  if (kind === 'string' && typeof value === 'string') return value;
  if (kind === 'boolean' && typeof value === 'boolean') return value;
  if (kind === 'integer' && typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  if (kind === 'port' && typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535) return value;
  const what = kind === 'integer' ? wholeNumber(path) : kind === 'port' ? 'a whole number from 0 to 65535' : kind === 'boolean' ? 'true or false' : 'a string';
  throw invalid(r.file, `'${shown(r, path)}' must be ${what}, got ${JSON.stringify(value)}`);
}

/** The keys of `folded` (a {@link section}, at `name`) in our terms, each checked. */
function readSection<T extends string | number | boolean>(r: Reading, folded: Record<string, unknown>, name: string, keys: Record<string, [string, Kind]>, skip: string[] = []): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [key, raw] of Object.entries(folded)) {
    if (skip.includes(key)) continue;
    const spec = Object.hasOwn(keys, key) ? keys[key] : undefined;
    if (spec === undefined) throw invalid(r.file, `unknown setting '${shown(r, `${name}.${key}`)}' (known: ${[...Object.keys(keys), ...skip].join(', ')})`);
    if (raw === null || raw === undefined) continue;
    out[spec[0]] = inBounds(r, `${name}.${key}`, typed(r, `${name}.${key}`, raw, spec[1])) as T;
  }
  return out;
}

/** Parses config text (`file` names it in errors). Throws INVALID_FIELD. */
export function parseConfig(text: string, file: string): FileConfig {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw invalid(file, `not valid YAML: ${(error as Error).message}`);
  }
  const r: Reading = { file, text, written: new Map(), keys: new Map() };
  const root = section(r, document ?? {}, '');
  const known = ['logger', 'auth', 'server', 'storage', 'consumers', 'snapshots', 'http', 'backend'];
  for (const key of Object.keys(root)) {
    if (!known.includes(key)) throw invalid(file, `unknown section '${shown(r, key)}' (known: ${known.join(', ')})`);
  }
  // Client names are the user's text: a null-prototype map keeps `__proto__` an ordinary name.
  const config: FileConfig = { clients: Object.create(null) as FileConfig['clients'], server: {}, tls: {}, storage: {}, retention: {}, consumers: {}, http: {}, backend: {} };

  for (const [key, value] of Object.entries(section(r, root.logger, 'logger'))) {
    if (key === 'level') {
      if (value !== null) config.logLevel = logLevel(r, value);
    } else if (key === 'output') {
      const outputs = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(outputs) || outputs.length === 0 || !outputs.every((o) => typeof o === 'string' && o.length > 0)) {
        throw invalid(file, `'${shown(r, 'logger.output')}' must be a list of sinks (stdout, stderr or file paths)`);
      }
      config.logOutputs = outputs as string[];
    } else throw invalid(file, `unknown setting '${shown(r, `logger.${key}`)}' (known: level, output)`);
  }

  // Client names are kept as written (only their members' keys are matched in any case).
  const auth = root.auth;
  if (auth !== undefined && auth !== null && !isMap(auth)) throw invalid(file, `'${shown(r, 'auth')}' must be a map`);
  for (const [name, raw] of Object.entries(auth ?? {})) {
    const at = `auth.${name}`;
    r.written.set(at, `${shown(r, 'auth')}.${name}`);
    if (!isMap(raw)) throw invalid(file, `'${shown(r, at)}' must be a map with client_id and client_secret`);
    const client = section(r, raw, at);
    for (const key of Object.keys(client)) {
      if (key !== 'client_id' && key !== 'client_secret') throw invalid(file, `unknown setting '${shown(r, `${at}.${key}`)}' (known: client_id, client_secret)`);
    }
    const yamlPath = (key: string) => [r.keys.get('auth')!, name, r.keys.get(`${at}.${key}`) ?? key];
    const id = credential(r, client.client_id, `${at}.client_id`, yamlPath('client_id'));
    const secret = credential(r, client.client_secret, `${at}.client_secret`, yamlPath('client_secret'));
    config.clients[name] = { client_id: id, client_secret: secret };
  }

  const server = section(r, root.server, 'server');
  config.server = readSection(r, server, 'server', SERVER_KEYS, ['tls']);
  for (const [key, value] of Object.entries(section(r, server.tls, 'server.tls'))) {
    if (key !== 'cert' && key !== 'key') throw invalid(file, `unknown setting '${shown(r, `server.tls.${key}`)}' (known: cert, key)`);
    config.tls[key] = typed(r, `server.tls.${key}`, value, 'string') as string;
  }

  const storage = section(r, root.storage, 'storage');
  config.storage = readSection(r, storage, 'storage', STORAGE_KEYS, ['retention']);
  if (config.storage.fsync !== undefined) oneOf(r, 'storage.fsync', config.storage.fsync as string, FSYNC_POLICIES);
  checkWindowHoldsBatch(r, config.storage);
  config.retention = readSection(r, section(r, storage.retention, 'storage.retention'), 'storage.retention', RETENTION_KEYS);
  config.consumers = readSection(r, section(r, root.consumers, 'consumers'), 'consumers', CONSUMER_KEYS);
  // A default batch given above the cap is refused (the engine lowers only an unset default).
  const batchEvents = config.consumers.maxBatchEvents ?? DEFAULT_CONSUMER_LIMITS.maxBatchEvents;
  if (config.consumers.defaultBatchEvents !== undefined && config.consumers.defaultBatchEvents > batchEvents) {
    throw invalid(file, `'${shown(r, 'consumers.default_batch_events')}' (${config.consumers.defaultBatchEvents}) must not be larger than '${shown(r, 'consumers.max_batch_events')}' (${batchEvents})`);
  }

  const pageEvents = { ...DEFAULT_BUS_OPTIONS, ...config.server };
  if (pageEvents.defaultPageEvents > pageEvents.maxPageEvents) {
    throw invalid(file, `'${shown(r, 'server.default_page_events')}' (${pageEvents.defaultPageEvents}) must not be larger than '${shown(r, 'server.max_page_events')}' (${pageEvents.maxPageEvents})`);
  }

  config.http = readSection(r, section(r, root.http, 'http'), 'http', HTTP_KEYS);
  const headersMs = (config.http.headersTimeoutMs as number | undefined) ?? DEFAULT_HTTP_OPTIONS.headersTimeoutMs;
  const requestMs = (config.http.requestTimeoutMs as number | undefined) ?? DEFAULT_HTTP_OPTIONS.requestTimeoutMs;
  if (headersMs > requestMs) {
    throw invalid(file, `'${shown(r, 'http.headers_timeout_ms')}' (${headersMs}) must not be larger than '${shown(r, 'http.request_timeout_ms')}' (${requestMs})`);
  }

  const backend = section(r, root.backend, 'backend');
  // servers: a YAML list or one comma-separated string.
  if (Array.isArray(backend.servers)) backend.servers = backend.servers.map(String).join(',');
  config.backend = readSection(r, backend, 'backend', BACKEND_KEYS);
  if (config.backend.type !== undefined && config.backend.type !== 'engine' && config.backend.type !== 'jetstream') {
    throw invalid(file, `'${shown(r, 'backend.type')}' must be engine or jetstream, got '${String(config.backend.type)}'`);
  }
  if (config.backend.replicas !== undefined && !REPLICA_COUNTS.includes(config.backend.replicas as number)) {
    throw invalid(file, `'${shown(r, 'backend.replicas')}' must be ${REPLICA_COUNTS.join(', ').replace(/, (?=[^,]*$)/, ' or ')}, got ${String(config.backend.replicas)}`);
  }

  for (const [key, value] of Object.entries(section(r, root.snapshots, 'snapshots'))) {
    if (key !== 'root') throw invalid(file, `unknown setting '${shown(r, `snapshots.${key}`)}' (known: root)`);
    config.snapshotsRoot = typed(r, 'snapshots.root', value, 'string') as string;
  }
  return config;
}

/**
 * A duplicate window of fewer ids than a batch could never recognise a full batch sent again (its
 * first ids pushed out by its last): refused when written so. Left out, the window is raised to
 * a batch (engine-options.ts).
 */
function checkWindowHoldsBatch(r: Reading, storage: Record<string, unknown>): void {
  const windowEvents = storage.duplicateWindowEvents as number | undefined;
  const batchEvents = (storage.maxBatchEvents as number | undefined) ?? DEFAULT_MAX_BATCH_EVENTS;
  if (windowEvents === undefined || windowEvents === 0 || windowEvents >= batchEvents) return;
  throw invalid(r.file, `'${shown(r, 'storage.duplicate_window_events')}' (${windowEvents}) must be 0 (no window) or at least '${shown(r, 'storage.max_batch_events')}' (${batchEvents}): a smaller window cannot recognise a full batch sent again`);
}

/** Reads and parses the config file at `file`. Throws INVALID_FIELD. */
export function loadConfig(file: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw invalid(file, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseConfig(text, file);
}
