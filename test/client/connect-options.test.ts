/**
 * EventBusClient.connect checks the values of its options before connecting: a port of -1, 0 or
 * '8080', a host that is not a string, a connect timeout Node's timers cannot take, a negative
 * request timeout, a response limit of 0, a `tls` that is neither a boolean nor an object are
 * INVALID_FIELD naming the option (was: Node's RangeError ERR_SOCKET_BAD_PORT, or a timeout that
 * fired at once). responseError, public too, refuses what is no response.
 */
import t from 'tap';
import { EventBusClient, isEventBusError, responseError } from 'eventbus/client';

const js = (value: unknown): never => value as never;

t.test('connect refuses option values it cannot use, naming them, before connecting', async (t) => {
  const cases: [string, unknown, string][] = [
    ['a negative port', { port: -1 }, 'options.port'],
    ['port 0 (no server listens there)', { port: 0 }, 'options.port'],
    ['a port as a string', { port: '8080' }, 'options.port'],
    ['a port past 65535', { port: 70000 }, 'options.port'],
    ['a host that is a number', { host: 5 }, 'options.host'],
    ['an empty host', { host: '' }, 'options.host'],
    ['a connect timeout past 2^31 - 1 ms', { connectTimeoutMs: 2 ** 31 }, 'options.connectTimeoutMs'],
    ['a connect timeout of 0', { connectTimeoutMs: 0 }, 'options.connectTimeoutMs'],
    ['a negative request timeout', { requestTimeoutMs: -1 }, 'options.requestTimeoutMs'],
    ['a response limit of 0', { maxResponseBytes: 0 }, 'options.maxResponseBytes'],
    ['tls as a string', { tls: 'yes' }, 'options.tls'],
  ];
  for (const [label, options, field] of cases) {
    const error = await EventBusClient.connect(js(options)).catch((e: unknown) => e);
    t.ok(isEventBusError(error, 'INVALID_FIELD'), `${label}: INVALID_FIELD (${String(error)})`);
    t.match(error, { context: { field } }, `${label}: names ${field}`);
  }
  const error = await EventBusClient.connect({ port: -1 }).catch((e: unknown) => e);
  t.match(error, { reason: 'options.port must be a whole number from 1 to 65535, got -1', context: { expected: 'a whole number from 1 to 65535' } });
});

t.test('responseError refuses what is no response', async (t) => {
  t.throws(() => responseError(js(undefined)), { code: 'INVALID_FIELD', context: { field: 'response' } });
  t.match(responseError({ status: false, reason: "stream 'x' not found" } as never), { code: 'STREAM_NOT_FOUND' }, 'a response still maps');
});
