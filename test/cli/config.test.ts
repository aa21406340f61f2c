/** The config file: the original's config.yaml layout, our sections, and precedence of sources. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/cli/config.js';
import { resolveSettings } from '../../src/cli/settings.js';
import { tempDir } from '../helpers/server-process.js';

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
