/** The config file: the original's config.yaml layout, our sections, and precedence of sources. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/cli/config.js';
import { resolveSettings } from '../../src/cli/settings.js';
import { EventBusClient } from '../../src/client/client.js';
import { serverProcessFor, tempDir } from '../helpers/server-process.js';

const ORIGINAL = `
logger:
  level: debug
  output:
    - stdout
    - app.log
auth:
  go-client:
    client_id: "dope_go_client_id"
    client_secret: "dope_go_client_secret"
  expenses-rest-api-client:
    client_id: "dope_expenses_rest_api_client_id"
    client_secret: "dope_expenses_rest_api_client_secret"
`;

t.test("the original's config.yaml is accepted as is", async (t) => {
  const config = parseConfig(ORIGINAL, 'config.yaml');
  t.equal(config.logLevel, 'debug');
  t.same(config.logOutputs, ['stdout', 'app.log']);
  t.same(config.clients, {
    'go-client': { client_id: 'dope_go_client_id', client_secret: 'dope_go_client_secret' },
    'expenses-rest-api-client': { client_id: 'dope_expenses_rest_api_client_id', client_secret: 'dope_expenses_rest_api_client_secret' },
  });
});

t.test("log levels as the original's zap read them: any case, and dpanic and panic (as fatal)", async (t) => {
  const cases: [string, string][] = [
    ['DEBUG', 'debug'], ['Info', 'info'], ['WARN', 'warn'], ['error', 'error'], ['FATAL', 'fatal'],
    ['panic', 'fatal'], ['dpanic', 'fatal'], ['DPANIC', 'fatal'], ['Panic', 'fatal'], ['""', 'info'], ['trace', 'trace'], ['Silent', 'silent'],
  ];
  for (const [written, ours] of cases) t.equal(parseConfig(`logger:\n  level: ${written}\n`, 'v.yaml').logLevel, ours, written);
  t.equal(parseConfig('logger:\n  level:\n', 'v.yaml').logLevel, undefined, 'an empty level is no setting');
  t.throws(() => parseConfig('Logger:\n  Level: verbose\n', 'v.yaml'), { code: 'INVALID_FIELD', message: /'Logger\.Level' must be one of fatal, error, warn, info, debug, trace, silent .*got 'verbose'/ });
  t.throws(() => parseConfig('logger:\n  level: 1\n', 'v.yaml'), { message: /'logger\.level' must be a string/ });
});

t.test('keys are matched in any case, as viper did; unknown keys are still refused, named as written', async (t) => {
  const config = parseConfig(`
Logger:
  Level: DEBUG
  OUTPUT: [stdout]
Auth:
  Go-Client:
    Client_ID: "id"
    CLIENT_SECRET: "secret"
Server:
  Port: 9000
  TLS: { Cert: c.pem, KEY: k.pem }
Storage:
  Fsync: never
  Retention: { Max_Age_Ms: 5 }
Consumers: { Ack_Wait_Ms: 7 }
Snapshots: { Root: /b }
HTTP: { Port: 9090 }
Backend: { Type: engine }
`, 'v.yaml');
  t.equal(config.logLevel, 'debug');
  t.same(config.logOutputs, ['stdout']);
  t.same(config.clients, { 'Go-Client': { client_id: 'id', client_secret: 'secret' } }, 'client names stay as written');
  t.same([config.server, config.tls, config.storage, config.retention, config.consumers, config.snapshotsRoot, config.http, config.backend],
    [{ port: 9000 }, { cert: 'c.pem', key: 'k.pem' }, { fsync: 'never' }, { maxAgeMs: 5 }, { ackWaitMs: 7 }, '/b', { port: 9090 }, { type: 'engine' }]);

  t.throws(() => parseConfig('Server:\n  Max_Conections: 5\n', 'v.yaml'), { code: 'INVALID_FIELD', message: /unknown setting 'Server\.Max_Conections'/ });
  t.throws(() => parseConfig('Nope: 1\n', 'v.yaml'), { message: /unknown section 'Nope'/ });
  t.throws(() => parseConfig('Logger:\n  Levle: info\n', 'v.yaml'), { message: /unknown setting 'Logger\.Levle'/ });
  t.throws(() => parseConfig('auth:\n  c:\n    Client_Id: a\n    Secret: b\n', 'v.yaml'), { message: /unknown setting 'auth\.c\.Secret'/ });
  t.throws(() => parseConfig('Server:\n  Port: "80"\n', 'v.yaml'), { message: /'Server\.Port' must be a whole number/ });
  t.throws(() => parseConfig('Storage:\n  Key_Cache_Bytes: 4096\n', 'v.yaml'), { message: /'Storage\.Key_Cache_Bytes' must be a whole number of at least 65536, got 4096/ });
  t.throws(() => parseConfig('logger:\n  level: info\n  Level: debug\n', 'v.yaml'), { message: /'logger\.Level' is given twice \('level' and 'Level'/ });
  t.throws(() => parseConfig('server: {}\nSERVER: {}\n', 'v.yaml'), { message: /'SERVER' is given twice/ });
});

t.test('credentials written as numbers are their decimal text, as viper read them', async (t) => {
  const config = parseConfig('auth:\n  c:\n    client_id: 12345\n    client_secret: -7\n  D:\n    Client_Id: 0\n    Client_Secret: 9007199254740991\n', 'v.yaml');
  t.same(config.clients, { c: { client_id: '12345', client_secret: '-7' }, D: { client_id: '0', client_secret: '9007199254740991' } });
  // The text, our YAML 1.2 reading and the original's YAML 1.1 reading of these disagree (0123: "0123", 123, 83).
  for (const written of ['-0', '0123', '1e3', '0x1F', '1.5', '+5', '12345678901234567890', '.inf']) {
    t.throws(() => parseConfig(`auth:\n  c:\n    client_id: ${written}\n    client_secret: s\n`, 'v.yaml'), { code: 'INVALID_FIELD', message: new RegExp(`'auth\\.c\\.client_id' must be a non-empty string, or a whole number in plain decimal; put ${written.replace(/[.+]/g, '\\$&')} in quotes`) }, written);
  }
  t.throws(() => parseConfig('auth:\n  c:\n    client_id: true\n    client_secret: s\n', 'v.yaml'), { message: /'auth\.c\.client_id' must be a non-empty string/ });
  t.throws(() => parseConfig('auth:\n  c:\n    client_id: ""\n    client_secret: s\n', 'v.yaml'), { message: /'auth\.c\.client_id' must be a non-empty string/ });
});

t.test("resolveSettings takes the original's spellings from the file", async (t) => {
  const file = path.join(tempDir(t), 'v.yaml');
  writeFileSync(file, 'Logger:\n  Level: DPANIC\nAuth:\n  c:\n    Client_ID: 12345\n    Client_Secret: "s"\n');
  const settings = resolveSettings({ config: file }, {});
  t.equal(settings.logLevel, 'fatal');
  t.same(settings.clients, { c: { client_id: '12345', client_secret: 's' } });
});

t.test("serve --config starts with the original's spellings: capitalised keys, an upper-case level, numeric credentials", async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'v.yaml');
  writeFileSync(file, 'Logger:\n  Level: DEBUG\nAuth:\n  Go-Client:\n    Client_ID: 12345\n    client_secret: 67890\n');
  const server = await serverProcessFor(t, { noDefaultFlags: true, args: ['--data', path.join(dir, 'data'), '--port', '47321', '--config', file] });
  const client = await EventBusClient.connect({ port: server.port, auth: { clientId: '12345', clientSecret: '67890' } });
  t.equal((await client.createStream('s')).name, 's', 'the numeric credentials are the decimal text');
  await client.close();
  await server.waitForOutput(/"level":20[^\n]*connection opened/);
  t.pass('logged at debug, as the file says');
  t.equal(await server.stop(), 0);
});

t.test('our sections', async (t) => {
  const config = parseConfig(`
server:
  host: 127.0.0.1
  port: 9000
  max_connections: 50
  idle_timeout_ms: 0
  tls: { cert: c.pem, key: k.pem }
storage:
  data: /var/lib/eventbus
  fsync: interval
  segment_size_bytes: 1048576
  retention: { max_age_ms: 86400000 }
consumers:
  ack_wait_ms: 5000
  max_deliveries: 3
snapshots:
  root: /backups
`, 'x.yaml');
  t.same(config.server, { host: '127.0.0.1', port: 9000, maxConnections: 50, idleTimeoutMs: 0 });
  t.same(config.tls, { cert: 'c.pem', key: 'k.pem' });
  t.same(config.storage, { dataDir: '/var/lib/eventbus', fsync: 'interval', segmentSizeBytes: 1048576 });
  t.same(config.retention, { maxAgeMs: 86400000 });
  t.same(config.consumers, { ackWaitMs: 5000, maxDeliveries: 3 });
  t.equal(config.snapshotsRoot, '/backups');
});

t.test('mistakes are named', async (t) => {
  t.throws(() => parseConfig('server:\n  max_conections: 5\n', 'x.yaml'), { code: 'INVALID_FIELD', message: /unknown setting 'server.max_conections'/ });
  t.throws(() => parseConfig('server:\n  port: "80"\n', 'x.yaml'), { message: /'server.port' must be a whole number/ });
  t.throws(() => parseConfig('nope: 1\n', 'x.yaml'), { message: /unknown section 'nope'/ });
  t.throws(() => parseConfig('auth:\n  a:\n    client_id: x\n', 'x.yaml'), { message: /'auth.a.client_secret' must be a non-empty string/ });
  t.throws(() => parseConfig('a: [', 'x.yaml'), { message: /not valid YAML/ });
});

t.test('precedence: flag, then environment (commander), then file, then default', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'c.yaml');
  writeFileSync(file, 'server:\n  port: 9001\n  host: 127.0.0.2\nstorage:\n  fsync: never\n  data: from-file\nlogger:\n  level: warn\n');
  const fromFile = resolveSettings({ config: file }, {});
  t.same([fromFile.port, fromFile.host, fromFile.engine.fsync, fromFile.logLevel, fromFile.engine.dataDir], [9001, '127.0.0.2', 'never', 'warn', path.resolve('from-file')]);
  const flagged = resolveSettings({ config: file, port: 9002, fsync: 'always', data: 'd' }, {});
  t.same([flagged.port, flagged.engine.fsync, flagged.engine.dataDir], [9002, 'always', path.resolve('d')]);
  const defaults = resolveSettings({}, {});
  t.same([defaults.host, defaults.port, defaults.engine.fsync, defaults.engine.dataDir, defaults.logLevel], ['127.0.0.1', 8080, 'always', path.resolve('data'), 'info']);
  t.equal(resolveSettings({}, { EVENTBUS_INSECURE_NO_AUTH: 'true' }).insecureNoAuth, true);
  t.throws(() => resolveSettings({}, { EVENTBUS_INSECURE_NO_AUTH: 'maybe' }), { message: /EVENTBUS_INSECURE_NO_AUTH/ });
  t.throws(() => resolveSettings({ tlsCert: 'c.pem' }, {}), { message: /both a certificate/ });
});

t.test('client names and setting names are plain text, never object internals', async (t) => {
  const config = parseConfig('auth:\n  __proto__:\n    client_id: "a"\n    client_secret: "b"\n', 'config.yaml');
  t.same(Object.keys(config.clients), ['__proto__'], 'a client called __proto__ is a client, so auth stays on');
  t.same(config.clients['__proto__'], { client_id: 'a', client_secret: 'b' });
  t.throws(() => parseConfig('server:\n  constructor: 5\n', 'config.yaml'), { code: 'INVALID_FIELD', message: /unknown setting 'server.constructor'/ });
});

t.test('log files are created readable by their owner only', async (t) => {
  const { createLogger } = await import('../../src/cli/logging.js');
  const { statSync } = await import('node:fs');
  const file = path.join(tempDir(t), 'logs', 'eventbus.log');
  const previous = process.umask(0);
  try {
    createLogger('info', [file]).info('hello');
  } finally {
    process.umask(previous);
  }
  t.equal(statSync(file).mode & 0o777, 0o600);
});
