/**
 * `eventbus write` from stdin at its edges: a line too long for the server (refused before it is
 * sent, after reading no more of it than the limit, with the line named however many good lines
 * came first), a byte order mark on line 1, a count written in the singular, and the window of
 * 4,096 unanswered writes (held line by line, not per chunk of stdin), and stdin with no event
 * for a stream that does not exist (refused as a write to it is, not "0 events").
 */
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { MAIN, startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { until } from '../helpers/until.js';

// Without tap's NODE_OPTIONS: its hooks slow every child process down.
const { NODE_OPTIONS: _tapHooks, ...BASE_ENV } = process.env;

let server: ServerProcess;
let client: EventBusClient;
t.before(async () => {
  server = await startServerProcess();
  client = await EventBusClient.connect({ port: server.port });
  await client.createStream('big');
});
t.teardown(async () => {
  await client.close();
  await server.stop('SIGKILL');
});

const run = (args: string[], input: string | Buffer) => spawnSync(process.execPath, [MAIN, ...args], {
  input,
  encoding: 'utf8',
  timeout: 60_000,
  env: { ...BASE_ENV, EVENTBUS_PORT: String(server.port) },
});

t.test('a line longer than the server takes stops the writing once 5 MiB of it are read, and is named', async (t) => {
  // Up to 40 MB of one unfinished line, fed as fast as the command reads it: it must stop
  // reading at the limit (the old code joined every chunk to all before it, quadratic, and
  // read the whole line before the server refused it).
  const child = spawn(process.execPath, [MAIN, 'write', 'big'], { env: { ...BASE_ENV, EVENTBUS_PORT: String(server.port) }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdin.on('error', () => {}); // EPIPE once the command stops reading
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let fed = 0;
  const started = performance.now();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  child.stdin.write('"'); // a JSON string, never ended
  while (!done && fed < 40_000_000) {
    if (!child.stdin.write(chunk)) await new Promise((resolve) => { child.stdin.once('drain', resolve); void exited.then(resolve); });
    fed += chunk.length;
  }
  child.stdin.end();
  const status = await exited;
  const seconds = (performance.now() - started) / 1000;
  t.equal(status, 3, stderr);
  t.match(stderr, /^eventbus: line 1 of stdin: LINE_TOO_LONG: longer than the server takes \(5,242,880 bytes in a request line[^\n]*; 0 events were written, nothing from line 1 on was sent\n$/);
  t.ok(fed < 16_000_000, `stopped reading soon after the limit: ${fed} bytes taken`);
  t.ok(seconds < 20, `fast: ${seconds.toFixed(1)} s`);
});

t.test('a too-long line after many good ones is named the same way (not a lost connection)', async (t) => {
  const good = '{"n":1}\n'.repeat(3000);
  const result = run(['write', 'big'], Buffer.concat([Buffer.from(`${good}"`), Buffer.alloc(6_000_000, 'a'), Buffer.from('"\n{"n":2}\n')]));
  t.equal(result.status, 3, result.stderr);
  t.match(result.stderr, /^eventbus: line 3,001 of stdin: LINE_TOO_LONG: [^\n]*; 3,000 events were written \(offsets \d[\d,]*–\d[\d,]*\), nothing from line 3,001 on was sent\n$/);
  // --max-line-bytes: a server set to less is respected before sending.
  const small = run(['write', 'big', '--max-line-bytes', '200'], `{"n":1}\n"${'b'.repeat(300)}"\n`);
  t.equal(small.status, 3, small.stderr);
  t.match(small.stderr, /line 2 of stdin: LINE_TOO_LONG: longer than the server takes \(200 bytes[^\n]*; 1 event was written \(offset [\d,]+\),/);
});

t.test('a UTF-8 byte order mark on line 1 is skipped', async (t) => {
  const before = (await client.getStreamInfo('big')).nextOffset;
  const result = run(['write', 'big'], Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"bom":1}\n{"bom":2}\n')]));
  t.equal(result.status, 0, result.stderr);
  t.match(JSON.parse(result.stdout), { events: 2, lines: 2 });
  const page = await client.getStreamEvents<{ bom: number }>('big', { fromOffset: before });
  t.same(page.events.map((e) => e.body), [{ bom: 1 }, { bom: 2 }]);
});

t.test('at most 4,096 writes unanswered: a server that never answers receives 4,096 lines, not a chunk of stdin more', async (t) => {
  // It reads and counts request lines, and answers none.
  let received = 0;
  const silent = net.createServer((socket) => socket.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 0x0a) received += 1;
  }));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const port = (silent.address() as net.AddressInfo).port;
  const child = spawn(process.execPath, [MAIN, 'write', 'x'], { env: { ...BASE_ENV, EVENTBUS_PORT: String(port) }, stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => void child.kill('SIGKILL'));
  child.stdin.on('error', () => {}); // EPIPE when it is killed
  // 8-byte lines: one 64 KiB chunk of stdin holds 8,192 of them.
  child.stdin.end('{"n":1}\n'.repeat(20_000));
  t.ok(await until(() => received >= 4096, 30_000), `the window is sent (${received} lines)`);
  // Whatever more it would send goes out at once (it waits for nothing): give it time to.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal(received, 4096, 'exactly the window, then it waits for answers');
});

t.test('stdin with no event, for a stream that does not exist: STREAM_NOT_FOUND (exit 3), as a write to it would be', async (t) => {
  for (const input of ['', '\n  \n']) {
    const missing = run(['write', 'nosuchstream'], input);
    t.equal(missing.status, 3, `${JSON.stringify(input)}: ${missing.stderr}`);
    t.match(missing.stderr, /^eventbus: STREAM_NOT_FOUND: [^\n]*nosuchstream[^\n]*\(stdin held no event to write\)\n$/, `${JSON.stringify(input)}: one line with the code`);
    t.equal(missing.stdout, '', 'no report');
  }
  const existing = run(['write', 'big'], '');
  t.equal(existing.status, 0, existing.stderr);
  t.match(JSON.parse(existing.stdout), { stream: 'big', events: 0, lines: 0 }, 'an existing stream: 0 events, exit 0');
});
