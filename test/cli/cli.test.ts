/** The `eventbus` command: help, environment fallbacks, refusals. */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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

t.test('bad input stops the command with one clear line', async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'bad.yaml');
  writeFileSync(config, 'server:\n  prot: 1\n');
  const bad = spawnSync(process.execPath, [MAIN, 'serve', '--config', config, '--data', dir], { encoding: 'utf8' });
  t.equal(bad.status, 1, 'a config file error is a failure to start (1)');
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
  const snapshotPath = JSON.parse(snapshot.stdout).absolute_path as string;
  const verified = run('verify', snapshotPath);
  t.equal(verified.status, 0);
  t.match(verified.stdout, /^OK: snapshot/);
  t.equal(run('restore', snapshotPath, '--data', path.join(dir, 'restored')).status, 0);
  const again = run('restore', snapshotPath, '--data', path.join(dir, 'restored'));
  t.equal(again.status, 64, 'a non-empty directory is never overwritten (usage status)');
  t.match(again.stderr, /not an empty directory/);
  t.equal(run('verify', path.join(dir, 'missing')).status, 64, 'verify of a missing directory is a usage error, not damage');
  t.equal(run('snapshot', '--data', path.join(dir, 'missing'), '--output', path.join(dir, 'x')).status, 64, 'snapshot does not create a data directory');

  const restored = await startServerProcess({ dataDir: path.join(dir, 'restored') });
  t.teardown(() => void restored.stop('SIGKILL'));
  const reader = await EventBusClient.connect({ port: restored.port });
  t.teardown(() => reader.close());
  const page = await reader.getStreamEvents('s');
  t.same(page.events.map((e) => e.id), [written.id], 'same ids after restore');
});

t.test('--insecure-no-auth on a public address warns at every start; loopback does not', async (t) => {
  const exposed = await startServerProcess({ args: ['--host', '0.0.0.0', '--insecure-no-auth'] });
  t.equal(await exposed.stop(), 0);
  const warning = exposed.output().split('\n').find((line) => line.includes('without authentication'));
  t.ok(warning !== undefined, `a warning is logged: ${exposed.output()}`);
  const record = JSON.parse(warning!) as { level: number; msg: string };
  t.equal(record.level, 40, 'at warn level');
  t.match(record.msg, new RegExp(`listening on 0\\.0\\.0\\.0:${exposed.port} without authentication.*anyone who can reach this port can read, write and delete every stream`));
  const loopback = await startServerProcess({ args: ['--insecure-no-auth'] });
  t.equal(await loopback.stop(), 0);
  t.notMatch(loopback.output(), /without authentication/, 'nothing to warn about on loopback');
});

t.test('the npm build: eventbus docs prints the documents, --version says which CRC32C', async (t) => {
  const root = new URL('../../../', import.meta.url);
  for (const [args, file] of [[['docs'], 'protocol'], [['docs', 'protocol'], 'protocol'], [['docs', 'operations'], 'operations']] as const) {
    const printed = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
    t.equal(printed.status, 0);
    t.equal(printed.stdout, readFileSync(new URL(`docs/${file}.md`, root), 'utf8'), `eventbus ${args.join(' ')} prints docs/${file}.md`);
  }
  const version = spawnSync(process.execPath, [MAIN, '--version'], { encoding: 'utf8' });
  const addonBuilt = existsSync(new URL('node_modules/sse4_crc32/build/Release/crc32c.node', root));
  t.match(version.stdout, new RegExp(`^\\d+\\.\\d+\\.\\d+ \\(npm, Node\\.js ${process.version.replace(/\./g, '\\.')}, CRC32C ${addonBuilt ? 'native' : 'JavaScript'}`));
  const server = await startServerProcess({ args: ['--log-level', 'info'] });
  t.equal(await server.stop(), 0);
  const starting = server.output().split('\n').find((line) => line.includes('"msg":"starting"'));
  t.match(JSON.parse(starting!), { build: 'npm', crc32c: addonBuilt ? /^native/ : /^JavaScript/ }, 'the start-up log says which');
});

t.test('help and docs piped into a reader that stops early end quietly (exit 0, nothing on stderr)', async (t) => {
  const errors = path.join(tempDir(t), 'stderr');
  for (const args of ['--help', 'help write', 'write --help', 'docs protocol']) {
    // `head -1` closes the pipe after one line; PIPESTATUS[0] is the eventbus process's own status.
    const result = spawnSync('bash', ['-c', `'${process.execPath}' '${MAIN}' ${args} 2>'${errors}' | head -1 > /dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
    t.equal(result.stdout.trim(), '0', `${args}: exit 0`);
    t.equal(readFileSync(errors, 'utf8'), '', `${args}: nothing on stderr`);
  }
});
