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

t.test('offline snapshot, verify and restore; the restored store serves the same events', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const first = await startServerProcess({ dataDir });
  const client = await EventBusClient.connect({ port: first.port });
  await client.createStream('s');
  const written = await client.writeEventJson('s', '{"n":12345678901234567890}');
  await client.close();
  t.equal(await first.stop(), 0);

  const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  const snapshot = run('snapshot', '--data', dataDir, '--output', path.join(dir, 'snaps'), '--json');
  t.equal(snapshot.status, 0, snapshot.stderr);
  const snapshotPath = JSON.parse(snapshot.stdout).path as string;
  const verified = run('verify', snapshotPath);
  t.equal(verified.status, 0);
  t.match(verified.stdout, /^OK: snapshot/);
  t.equal(run('restore', snapshotPath, '--data', path.join(dir, 'restored')).status, 0);
  const again = run('restore', snapshotPath, '--data', path.join(dir, 'restored'));
  t.equal(again.status, 1, 'a non-empty directory is never overwritten');
  t.match(again.stderr, /not an empty directory/);
  const missing = run('verify', path.join(dir, 'missing'));
  t.ok(missing.status !== 0 && missing.status !== 2, 'verify fails on a missing directory, as a usage problem, not as damage (2)');
  t.equal(run('snapshot', '--data', path.join(dir, 'missing'), '--output', path.join(dir, 'x')).status, 1, 'snapshot does not create a data directory');

  const restored = await startServerProcess({ dataDir: path.join(dir, 'restored') });
  t.teardown(() => void restored.stop('SIGKILL'));
  const reader = await EventBusClient.connect({ port: restored.port });
  t.teardown(() => reader.close());
  const page = await reader.getStreamEvents('s');
  t.same(page.events.map((e) => e.id), [written.id], 'same ids after restore');
});
