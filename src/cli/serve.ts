/**
 * `eventbus serve`: opens the store, starts the server, and on SIGINT or SIGTERM stops
 * accepting, answers what was already received, makes everything durable and exits 0; or 1 when
 * the store's close says something acknowledged may not be on disk (a write or fsync failed that
 * no request was told of).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { ErrorCodes, EventBusError } from '../errors.js';
import { checkCanListen } from '../server/listen-check.js';
import { EventBusServer, checkExposure } from '../server/server.js';
import { Engine } from '../storage/index.js';
import { JetStreamStore } from '../bus/jetstream/jetstream-store.js';
import { nodeIO, type FileIO } from '../storage/index.js';
import type { Logger as PinoLogger } from 'pino';
import { fileErrorText } from './file-errors.js';
import { createLogger } from './logging.js';
import { checkNatsFiles } from './nats-files.js';
import { checkServeDirectory } from './store-checks.js';
import type { Resources } from './resources.js';
import type { ServeSettings, TlsFiles } from './settings.js';

/** `certs/c.pem (/srv/certs/c.pem)` for a relative path: where it was looked for. */
function shownPath(file: string): string {
  return path.isAbsolute(file) ? file : `${file} (${path.resolve(file)})`;
}

/**
 * Reads the TLS certificate and key and checks that they make a usable pair, before anything is
 * opened or logged: a wrong path or a file that is no PEM is one line naming the file and where
 * it was given (option, variable or config key), not a bare `ENOENT` or OpenSSL code after the
 * store was opened.
 */
function loadTls(files: TlsFiles): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string, givenBy: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new EventBusError(ErrorCodes.INVALID_FIELD, `cannot read the TLS ${what} ${shownPath(file)} given by ${givenBy}: ${fileErrorText(error)}`);
    }
  };
  const cert = read(files.certFile, 'certificate', files.certGivenBy);
  const key = read(files.keyFile, 'key', files.keyGivenBy);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `the TLS certificate ${shownPath(files.certFile)} (${files.certGivenBy}) and key ${shownPath(files.keyFile)} (${files.keyGivenBy}) cannot be used: ${detail}`);
  }
  return { cert, key };
}

/**
 * What a second signal's exit leaves, by fsync policy: only `always` has every acknowledged event
 * on disk; the others have handed them to the OS, which keeps them across the exit but not
 * across a power loss before its next sync.
 */
const SECOND_SIGNAL_DURABILITY = {
  always: 'acknowledged events are already durable',
  interval: 'acknowledged events are written but those of the last fsync interval are not yet synced: safe across this exit, not a power loss',
  never: 'acknowledged events are written but not synced (fsync never): safe across this exit, not a power loss',
  jetstream: 'acknowledged events are in the NATS cluster',
} as const;

/** Runs the server until a signal; resolves once everything is closed. */
export async function serve(settings: ServeSettings, resources: Resources): Promise<void> {
  // Before the store is opened, and before any log line: a refused start is one line and leaves
  // nothing behind (a port in use, a snapshot or a file given as the data directory).
  checkExposure(settings.host, Object.keys(settings.clients).length, settings.insecureNoAuth);
  const http = settings.http === undefined ? undefined : { ...settings.http, assets: resources.pageAsset };
  const httpHost = http?.host ?? settings.host;
  if (http !== undefined) checkExposure(httpHost, Object.keys(settings.clients).length, settings.insecureNoAuth, '--http-host');
  if (settings.backend.type === 'engine') checkServeDirectory(settings.engine.dataDir);
  await checkCanListen([
    { host: settings.host, port: settings.port, option: '--port' },
    ...(http === undefined ? [] : [{ host: httpHost, port: http.port, option: '--http-port' }]),
  ]);
  const tls = settings.tls === undefined ? undefined : loadTls(settings.tls);
  if (settings.backend.type === 'jetstream') checkNatsFiles(settings.backend.jetstream);
  const logger = createLogger(settings.logLevel, settings.logOutputs);
  const crc32c = resources.crc32c();
  logger.info({ version: resources.version, build: resources.build, node: process.version, crc32c: crc32c.description, dataDir: settings.engine.dataDir }, 'starting');
  if (!crc32c.native) logger.warn({ crc32c: crc32c.description }, 'CRC32C runs in JavaScript: checksums cost about 20 times more CPU than with the native addon');
  if (!settings.insecureNoAuth && Object.keys(settings.clients).length === 0) {
    logger.info({ host: settings.host }, 'no clients configured: requests need no credentials (loopback only)');
  }

  let engine: Engine | JetStreamStore;
  if (settings.backend.type === 'jetstream') {
    logger.info({ backend: 'jetstream', servers: settings.backend.jetstream.servers, replicas: settings.backend.jetstream.replicas ?? 3 }, 'connecting to the NATS JetStream cluster');
    engine = await JetStreamStore.open(settings.backend.jetstream);
  } else {
    const io = await testIO(logger);
    engine = await Engine.open({ ...settings.engine, ...(io === undefined ? {} : { io }), logger: logger.child({ component: 'storage' }) });
  }
  let server: EventBusServer;
  try {
    server = await EventBusServer.start({
      engine,
      host: settings.host,
      port: settings.port,
      clients: settings.clients,
      insecureNoAuth: settings.insecureNoAuth,
      limits: settings.limits,
      bus: { ...settings.bus, snapshotsRoot: settings.snapshotsRoot },
      logger: logger.child({ component: 'server' }),
      version: resources.version,
      ...(tls === undefined ? {} : { tls }),
      ...(http === undefined ? {} : { http }),
    });
  } catch (error) {
    await engine.close();
    throw error;
  }
  // The HTTP port's file first: a reader of the TCP port file may then expect both.
  if (settings.httpPortFile !== undefined && server.http !== null) writePortFile(settings.httpPortFile, server.http.port);
  if (settings.portFile !== undefined) writePortFile(settings.portFile, server.port);

  await new Promise<void>((resolve, reject) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, `second signal during shutdown: exiting now (${SECOND_SIGNAL_DURABILITY[settings.backend.type === 'jetstream' ? 'jetstream' : settings.engine.fsync ?? 'always']})`);
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      // A failed close rejects serve: one line on stderr and exit status 1 (run.ts).
      shutDown(server, engine, logger).then(resolve, reject);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * Stops the server, then closes the store, also when the server's close failed (the store's
 * close releases its LOCK). Rejects with the store's failure, logged first: the engine's close
 * rejects when a write or fsync failed that no request was told of, so that something
 * acknowledged may not be on disk.
 */
async function shutDown(server: EventBusServer, engine: Engine | JetStreamStore, logger: PinoLogger): Promise<void> {
  let serverFailure: unknown = null;
  await server.close().catch((error: unknown) => {
    logger.error({ err: error }, 'shutdown: the server did not close cleanly');
    serverFailure = error;
  });
  try {
    await engine.close();
  } catch (error) {
    const code = error instanceof EventBusError ? error.code : ErrorCodes.INTERNAL;
    logger.error({ err: error, code }, 'shutdown: the store did not close cleanly: exiting with status 1');
    throw error;
  }
  if (serverFailure !== null) throw serverFailure;
  logger.info(engine instanceof Engine ? { commits: engine.commitStats } : { backend: 'jetstream' }, 'stopped');
}

/** Writes `port` to `file`, whole or not at all: a reader never sees a partial number. */
function writePortFile(file: string, port: number): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${port}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

/**
 * TEST HOOK, never for production: when EVENTBUS_TEST_IO_MODULE names a module (a file path,
 * relative to the working directory), the engine's file-system layer is the one its exported
 * `createIO(inner: FileIO): FileIO` builds over the real one. The fault suites (test/fault) use it
 * to journal every file operation of a real server process (power loss after SIGKILL) and to
 * inject disk errors. Unset (the normal case), nothing changes.
 */
async function testIO(logger: { warn(object: object, message: string): void }): Promise<FileIO | undefined> {
  const name = process.env.EVENTBUS_TEST_IO_MODULE;
  if (name === undefined || name === '') return undefined;
  const loaded = await import(pathToFileURL(path.resolve(name)).href) as { createIO?: (inner: FileIO) => FileIO };
  if (typeof loaded.createIO !== 'function') {
    throw new EventBusError(ErrorCodes.INVALID_FIELD, `EVENTBUS_TEST_IO_MODULE: ${name} does not export createIO(inner)`);
  }
  const message = `TEST HOOK ACTIVE: EVENTBUS_TEST_IO_MODULE=${name} replaces the storage file-system layer; for fault tests only, never in production`;
  process.stderr.write(`eventbus: WARNING: ${message}\n`);
  logger.warn({ module: name }, message);
  return loaded.createIO(nodeIO);
}
