/**
 * The self-contained binary (Node single executable application): built as `npm run build:sea`
 * builds it (without postject's harmless `.note` warnings), copied alone into an empty
 * directory, it serves a session with the native CRC32C addon it carries (loaded from a private
 * temporary file that is gone once loaded), runs the client commands' session against itself
 * (test/cli/client-commands.test.ts has the full one), falls back to JavaScript where the addon cannot load
 * and says so, prints its bundled documents, and stops cleanly on SIGTERM.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { tempDir } from '../helpers/server-process.js';
import type { TapTest } from '../helpers/temp-dir.js';

const ROOT = new URL('../../../', import.meta.url);
const VERSION = (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version: string }).version;
const ADDON_BUILT = existsSync(fileURLToPath(new URL('node_modules/sse4_crc32/build/Release/crc32c.node', ROOT)));

/** Runs the binary with a private TMPDIR and a bare environment; resolves once it listens. */
async function serveBinary(t: TapTest, binary: string, home: string, tmp: string) {
  const portFile = path.join(home, 'port');
  // No NODE_OPTIONS, no node_modules, a directory holding nothing but the binary.
  const child = spawn(binary, ['serve', '--port', '0', '--port-file', portFile, '--data', path.join(home, 'data'), '--log-level', 'info'], {
    cwd: home,
    env: { PATH: '/usr/bin:/bin', HOME: home, TMPDIR: tmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => { child.kill('SIGKILL'); });
  for (let i = 0; !existsSync(portFile); i++) {
    if (i > 1500) throw new Error(`the binary did not start in 30 s: ${output}`); // a loaded CI machine
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { port: Number(readFileSync(portFile, 'utf8')), child, exited, output: () => output };
}

async function session(t: TapTest, port: number): Promise<void> {
  const client = await EventBusClient.connect({ port });
  await client.createStream('orders');
  const written = await client.writeEventJson('orders', '{"total":12.50,"n":12345678901234567890}');
  const { events } = await client.processEvents('orders');
  t.equal(events.length, 1);
  t.equal(events[0]!.id, written.id);
  await client.markEvent(written.id, 1);
  const info = await client.getStreamInfo('orders');
  t.same([info.eventCount, info.consumers[0]?.ackFloor], [1, 1], 'stored and acknowledged');
  await client.close();
}

/** The client commands, from the binary alone in its directory: the same session as test/cli/client-commands. */
function clientSession(t: TapTest, binary: string, home: string, port: number): void {
  const run = (args: string[], input = '') => spawnSync(binary, args, { cwd: home, encoding: 'utf8', input, timeout: 60_000, env: { PATH: '/usr/bin:/bin', EVENTBUS_PORT: String(port) } });
  const ok = (args: string[], input = '') => {
    const result = run(args, input);
    t.equal(result.status, 0, `eventbus ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  t.match(JSON.parse(ok(['create', 'cli'])), { name: 'cli', created: true });
  t.match(JSON.parse(ok(['write', 'cli', '{"n":12345678901234567890}'])), { offset: 0 });
  t.match(JSON.parse(ok(['write', 'cli'], '{"n":1}\n{"n":2}\n')), { events: 2, first_offset: 1, last_offset: 2 });
  const bad = run(['write', 'cli'], '{"n":3}\n{"n":4}\n{"n":\n');
  t.equal(bad.status, 65);
  t.match(bad.stderr, /^eventbus: line 3 of stdin is not JSON/);
  t.match(ok(['read', 'cli', '--limit', '1']), /"body":\{"n":12345678901234567890\}/);
  t.equal(ok(['read', 'cli']).trimEnd().split('\n').length, 5);
  t.match(ok(['streams', '--names']), /^cli$/m);
  t.equal(ok(['consume', 'cli', '--consumer', 'c', '--ack']).trimEnd().split('\n').length, 5);
  t.match(JSON.parse(ok(['info', 'cli'])), { event_count: 5, consumers: [{ name: 'c', ack_floor: 5, pending: 0 }] });
  t.match(JSON.parse(ok(['bench', '--events', '500', '--connections', '2', '--depth', '4'])), { write: { events: 500, errors: 0 }, drain: { events: 500, errors: 0 } });
  t.match(ok(['completion', 'bash']), /complete -F _eventbus eventbus/);
  t.same(JSON.parse(ok(['delete', 'cli', '--yes'])), { name: 'cli', deleted: true });
  const missing = run(['info', 'cli']);
  t.equal(missing.status, 3);
  t.match(missing.stderr, /^eventbus: STREAM_NOT_FOUND: /);
}

// Built once, as `npm run build:sea` builds it (the same script, in its own process).
const build = tempDir(t, 'eventbus-sea-build-');
const built = spawnSync(process.execPath, [fileURLToPath(new URL('dist/src/cli/sea-build.js', ROOT)), path.join(build, 'eventbus')], { encoding: 'utf8', timeout: 240_000 });

t.test('the single-executable binary serves the protocol on its own', async (t) => {
  t.equal(built.status, 0, `built: ${built.stderr}`);
  t.notMatch(built.stderr, /Can't find string offset/, "postject's .note warnings are not shown");
  t.notMatch(built.stderr, /warning/i, `no warnings at all: ${built.stderr}`);

  const home = tempDir(t, 'eventbus-sea-run-');
  const binary = path.join(home, 'eventbus');
  copyFileSync(path.join(build, 'eventbus'), binary);
  chmodSync(binary, 0o755);
  const tmp = path.join(home, 'tmp');
  mkdirSync(tmp, { mode: 0o700 });

  const crc = ADDON_BUILT ? String.raw`native \((SSE4\.2|table)\)` : String.raw`JavaScript \(native addon unavailable: the addon was not built into this executable\)`;
  const version = spawnSync(binary, ['--version'], { cwd: home, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', TMPDIR: tmp } });
  t.equal(version.status, 0);
  t.match(version.stdout, new RegExp(`^${VERSION.replace(/\./g, '\\.')} \\(single executable, Node\\.js v[\\d.]+, `), 'knows its version and build');
  t.match(version.stdout, new RegExp(`CRC32C ${crc}\\)$`, 'm'), `says which CRC32C it uses: ${version.stdout.trim()}`);

  const server = await serveBinary(t, binary, home, tmp);
  t.same(readdirSync(tmp), [], 'the addon was loaded from a private temporary file, removed once loaded');
  await session(t, server.port);
  clientSession(t, binary, home, server.port);
  server.child.kill('SIGTERM');
  t.equal(await server.exited, 0, 'stops cleanly on SIGTERM');
  const down = spawnSync(binary, ['streams'], { cwd: home, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', EVENTBUS_PORT: String(server.port) } });
  t.equal(down.status, 69, 'a server that is down: exit 69');
  t.match(down.stderr, /^eventbus: CONNECTION_ERROR: /);
  const starting = server.output().split('\n').find((line) => line.includes('"msg":"starting"'));
  t.ok(starting !== undefined, 'a starting line');
  t.match(JSON.parse(starting!).crc32c, new RegExp(`^${crc}$`), 'the start-up log says which CRC32C it uses');
  t.notMatch(server.output(), /CRC-32C|Error/, `no errors in its output: ${server.output()}`);

  for (const name of ['protocol', 'operations']) {
    const printed = spawnSync(binary, ['docs', name], { cwd: home, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    t.equal(printed.status, 0);
    t.equal(printed.stdout, readFileSync(new URL(`docs/${name}.md`, ROOT), 'utf8'), `eventbus docs ${name} prints docs/${name}.md`);
  }
  const unknown = spawnSync(binary, ['docs', 'nope'], { cwd: home, encoding: 'utf8' });
  t.equal(unknown.status, 64);
  t.match(unknown.stderr, /protocol, operations/);
  t.match(spawnSync(binary, ['serve', '--help'], { encoding: 'utf8' }).stdout, /eventbus docs protocol/, 'the help points to the bundled document');
});

t.test('where the addon cannot load, the binary says why and works in JavaScript', { skip: ADDON_BUILT ? false : 'the sse4_crc32 addon is not built (install a C++ compiler and reinstall)' }, async (t) => {
  t.equal(built.status, 0, built.stderr);
  const home = tempDir(t, 'eventbus-sea-run-');
  const missing = path.join(home, 'no-such-tmp');
  const server = await serveBinary(t, path.join(build, 'eventbus'), home, missing);
  await session(t, server.port);
  server.child.kill('SIGTERM');
  t.equal(await server.exited, 0);
  const warning = server.output().split('\n').find((line) => line.includes('CRC32C runs in JavaScript'));
  t.ok(warning !== undefined, `a warning at start: ${server.output()}`);
  t.match(JSON.parse(warning!).crc32c, /JavaScript \(native addon unavailable: no private temporary directory for it \(ENOENT in .*no-such-tmp\)\)/, 'with the reason');
});
