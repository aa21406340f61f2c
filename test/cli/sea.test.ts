/**
 * The self-contained binary (Node single executable application): built by the same code as
 * `npm run build:sea`, copied alone into an empty directory, it serves a session, checks every
 * record with its embedded CRC32C, and stops cleanly on SIGTERM.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { buildSea } from '../../src/cli/sea-build.js';
import { EventBusClient } from '../../src/client/index.js';
import { tempDir } from '../helpers/server-process.js';

t.test('the single-executable binary serves the protocol on its own', async (t) => {
  const build = tempDir(t, 'eventbus-sea-build-');
  const built = buildSea(path.join(build, 'eventbus'));
  const home = tempDir(t, 'eventbus-sea-run-');
  const binary = path.join(home, 'eventbus');
  copyFileSync(built, binary);
  await import('node:fs').then((fs) => fs.chmodSync(binary, 0o755));

  const version = spawn(binary, ['--version'], { cwd: home });
  let printed = '';
  version.stdout.on('data', (chunk: Buffer) => (printed += chunk.toString()));
  await new Promise((resolve) => version.once('exit', resolve));
  t.equal(printed.trim(), (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version, 'knows its version');

  const portFile = path.join(home, 'port');
  // No NODE_OPTIONS, no node_modules, a directory holding nothing but the binary.
  const child = spawn(binary, ['serve', '--port', '0', '--port-file', portFile, '--data', path.join(home, 'data'), '--log-level', 'warn'], {
    cwd: home,
    env: { PATH: '/usr/bin:/bin', HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => { child.kill('SIGKILL'); });
  for (let i = 0; !existsSync(portFile); i++) {
    if (i > 500) throw new Error(`the binary did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const client = await EventBusClient.connect({ port: Number(readFileSync(portFile, 'utf8')) });
  await client.createStream('orders');
  const written = await client.writeEventJson('orders', '{"total":12.50,"n":12345678901234567890}');
  const { events } = await client.processEvents('orders');
  t.equal(events.length, 1);
  t.equal(events[0]!.id, written.id);
  await client.markEvent(written.id, 1);
  const info = await client.getStreamInfo('orders');
  t.same([info.eventCount, info.consumers[0]?.ackFloor], [1, 1], 'stored and acknowledged');
  await client.close();
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
  t.notMatch(output, /CRC-32C|Error/, `no errors in its output: ${output}`);
});
