/**
 * EventBusServer.start, the server as a library, checks its options as `eventbus serve` checks its
 * own (src/server/server-options.ts): a port out of range or not a whole number, a host that is
 * not a string, a limit that is negative, fractional or unknown, a misspelt option, clients,
 * TLS, logger, http and bus options of the wrong shape: each is INVALID_FIELD naming the option
 * in `context.field`, with a reason that says what it must be, before anything binds. (Before: a
 * RangeError or TypeError from Node, a misspelt option ignored, `insecureNoAuth: 'yes'` taken.)
 */
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { Engine, ErrorCodes, EventBusServer, type ServerOptions } from 'eventbus';
import { refusedWith } from '../helpers/engine-refusal.js';
import { tempDir } from '../helpers/temp-dir.js';

const F = ErrorCodes.INVALID_FIELD;

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** True when something accepts connections on `port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

t.test('bad options of EventBusServer.start are INVALID_FIELD naming the option, and nothing listens', async (t) => {
  const dir = tempDir(t, 'server-options');
  const engine = await Engine.open({ dataDir: path.join(dir, 'data'), retentionIntervalMs: 0 });
  t.teardown(() => engine.close());
  const bus = { snapshotsRoot: path.join(dir, 'snapshots') };
  const port = await freePort();
  const cases: [string, Record<string, unknown>, string][] = [
    ['a negative port', { port: -1 }, 'port'],
    ['a port past 65535', { port: 70000 }, 'port'],
    ['a fractional port', { port: 1.5 }, 'port'],
    ['a port as a string', { port: '7100' }, 'port'],
    ['a host that is a number', { host: 5 }, 'host'],
    ['an empty host', { host: '' }, 'host'],
    ['a misspelt option', { prot: 7100 }, 'options.prot'],
    ['insecureNoAuth as a string', { insecureNoAuth: 'yes' }, 'insecureNoAuth'],
    ['a negative limit', { limits: { maxConnections: -1 } }, 'limits.maxConnections'],
    ['a fractional limit', { limits: { maxLineBytes: 1.5 } }, 'limits.maxLineBytes'],
    ['a limit of 0', { limits: { maxInFlightRequests: 0 } }, 'limits.maxInFlightRequests'],
    ['a timer past 2^31 - 1 ms', { limits: { shutdownTimeoutMs: 2 ** 31 } }, 'limits.shutdownTimeoutMs'],
    ['an unknown limit', { limits: { maxConnection: 5 } }, 'limits.maxConnection'],
    ['limits that are null', { limits: null }, 'limits'],
    ['clients that are a number', { clients: 5 }, 'clients'],
    ['a client without a secret', { clients: { app: { client_id: 'app' } } }, 'clients.app.client_secret'],
    ['TLS without a key', { tls: { cert: 'PEM' } }, 'tls.key'],
    ['a logger without its methods', { logger: {} }, 'logger'],
    ['an http port out of range', { http: { port: -3 } }, 'http.port'],
    ['an unknown http option', { http: { port: 0, maxConnection: 5 } }, 'http.maxConnection'],
    ['an unknown bus option', { bus: { ...bus, maxPageEvent: 5 } }, 'bus.maxPageEvent'],
    ['no engine', { engine: undefined }, 'engine'],
  ];
  for (const [label, bad, field] of cases) {
    const options = { engine, port, bus, ...bad } as unknown as ServerOptions;
    await refusedWith(t, () => EventBusServer.start(options), F, field, label);
  }
  t.notOk(await listening(port), 'nothing was left listening');
  await refusedWith(t, () => EventBusServer.start(undefined as never), F, 'options', 'no options at all');

  // The words: what it must be, and what came.
  const error = await EventBusServer.start({ engine, port: -1, bus }).catch((e: unknown) => e);
  t.match(error, { code: F, reason: 'invalid server option: port must be a whole number from 0 to 65535, got -1', context: { field: 'port', expected: 'a whole number from 0 to 65535' } });

  // Good options still start a server, and the engine is still usable.
  const server = await EventBusServer.start({ engine, port: 0, bus, limits: { idleTimeoutMs: 0 }, clients: { app: { client_id: 'app', client_secret: 's' } } });
  t.ok(await listening(server.port), 'good options serve');
  await server.close();
});
