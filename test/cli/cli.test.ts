/** The `eventbus` command: help, environment fallbacks, refusals. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';

t.test('--help explains every option of serve', async (t) => {
  const result = spawnSync(process.execPath, [MAIN, 'serve', '--help'], { encoding: 'utf8' });
  t.equal(result.status, 0);
  for (const option of ['--host', '--port', '--data', '--config', '--fsync', '--log-level', '--insecure-no-auth', '--tls-cert', '--tls-key', '--port-file']) {
    t.match(result.stdout, option);
  }
  for (const env of ['EVENTBUS_HOST', 'EVENTBUS_PORT', 'EVENTBUS_DATA', 'EVENTBUS_CONFIG', 'EVENTBUS_FSYNC', 'EVENTBUS_LOG_LEVEL']) t.match(result.stdout, env);
});

t.test('EVENTBUS_* variables are fallbacks for options', async (t) => {
  const dataDir = path.join(tempDir(t), 'from-env');
  const server = await startServerProcess({ dataDir, noDefaultFlags: true, env: { EVENTBUS_DATA: dataDir, EVENTBUS_FSYNC: 'never', EVENTBUS_LOG_LEVEL: 'info' } });
  const client = await EventBusClient.connect({ port: server.port });
  await client.createStream('x');
  await client.close();
  t.equal(await server.stop(), 0);
  t.match(server.output(), `"dataDir":"${dataDir}"`, 'EVENTBUS_DATA is the data directory');
  t.match(server.output(), /"msg":"listening"/, 'EVENTBUS_LOG_LEVEL=info logs at info');
  t.notMatch(server.output(), /create_stream/, 'nothing per request at info');

  const flagged = await startServerProcess({ env: { EVENTBUS_LOG_LEVEL: 'info' } });
  t.equal(await flagged.stop(), 0);
  t.notMatch(flagged.output(), /"msg":"listening"/, 'a flag (--log-level warn) beats the variable');
});

t.test('bad input stops the command with one clear line and status 1', async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'bad.yaml');
  writeFileSync(config, 'server:\n  prot: 1\n');
  const bad = spawnSync(process.execPath, [MAIN, 'serve', '--config', config, '--data', dir], { encoding: 'utf8' });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /^eventbus: config file .*bad.yaml: unknown setting 'server.prot'/);
  const fsync = spawnSync(process.execPath, [MAIN, 'serve', '--fsync', 'sometimes'], { encoding: 'utf8' });
  t.not(fsync.status, 0);
  t.match(fsync.stderr, /sometimes/);
  const port = spawnSync(process.execPath, [MAIN, 'serve', '--port', 'http'], { encoding: 'utf8' });
  t.not(port.status, 0);
  t.match(port.stderr, /whole number/);
});
