/**
 * The client commands as a person and a script use them: each as a real `eventbus` process
 * against a real server process, with its output and exit status on success and on every kind
 * of failure (a server that is down, wrong credentials, an unknown stream, bad JSON on a line
 * of stdin, a bad option).
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { MAIN, startServerProcess, tempDir, type ServerProcess } from '../helpers/server-process.js';
import type { TapTest } from '../helpers/temp-dir.js';

// Without tap's NODE_OPTIONS: its hooks slow every child process down.
const { NODE_OPTIONS: _tapHooks, ...BASE_ENV } = process.env;

type Run = (args: string[], options?: { input?: string; env?: NodeJS.ProcessEnv }) => SpawnSyncReturns<string>;

function runner(port: number, extraEnv: NodeJS.ProcessEnv = {}): Run {
  return (args, options = {}) => spawnSync(process.execPath, [MAIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    input: options.input ?? '',
    env: { ...BASE_ENV, EVENTBUS_PORT: String(port), ...extraEnv, ...options.env },
  });
}

/** A one-line failure on stderr with nothing on stdout. */
function oneLine(t: TapTest, result: SpawnSyncReturns<string>, status: number, pattern: RegExp, label: string): void {
  t.equal(result.status, status, `${label}: exit ${status} (${result.stderr.trim()})`);
  t.equal(result.stdout, '', `${label}: nothing on stdout`);
  const lines = result.stderr.trimEnd().split('\n');
  t.equal(lines.length, 1, `${label}: one line: ${JSON.stringify(result.stderr)}`);
  t.match(lines[0], /^eventbus: /, `${label}: eventbus: …`);
  t.match(lines[0], pattern, label);
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let server: ServerProcess;
let run: Run;
t.before(async () => {
  server = await startServerProcess();
  run = runner(server.port);
});
t.teardown(async () => {
  await server.stop('SIGKILL');
});

t.test('a session: create, write, read, info, streams, consume, delete', async (t) => {
  const created = run(['create', 'orders']);
  t.equal(created.status, 0, created.stderr);
  t.match(JSON.parse(created.stdout), { name: 'orders', created: true, id: /^[0-9a-f-]{36}$/, created_at: /Z$/ }, 'JSON when stdout is not a terminal');
  oneLine(t, run(['create', 'orders']), 3, /^eventbus: STREAM_EXISTS: stream: 'orders' already exists$/, 'create twice');
  t.match(JSON.parse(run(['create', 'orders', '--exists-ok']).stdout), { name: 'orders', created: false });

  const written = run(['write', 'orders', '{"total": 12.50, "n": 12345678901234567890}']);
  t.equal(written.status, 0, written.stderr);
  t.match(JSON.parse(written.stdout), { offset: 0, id: /^[0-9a-f-]{36}$/ });
  const lines = run(['write', 'orders'], { input: '{"n":1}\n\n  \r\n[2, 3]\r\n"four"' });
  t.equal(lines.status, 0, lines.stderr);
  t.match(JSON.parse(lines.stdout), { stream: 'orders', events: 3, lines: 5, first_offset: 1, last_offset: 3 }, 'blank lines skipped, CRLF and a last line without newline taken');

  const read = run(['read', 'orders']);
  t.equal(read.status, 0, read.stderr);
  const events = read.stdout.trimEnd().split('\n');
  t.equal(events.length, 4);
  t.match(events[0], /"body":\{"total":12\.50,"n":12345678901234567890\}/, 'the body byte for byte as stored (no rounding)');
  t.same(events.map((line) => (JSON.parse(line) as { offset: number }).offset), [0, 1, 2, 3]);
  t.same(events.slice(1).map((line) => (JSON.parse(line) as { body: unknown }).body), [{ n: 1 }, [2, 3], 'four']);
  t.same(run(['read', 'orders', '--from', '2', '--limit', '1']).stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { offset: number }).offset), [2]);
  t.equal(run(['read', 'orders', '--from', '4']).stdout, '', 'nothing from the end');
  oneLine(t, run(['read', 'orders', '--from', '99']), 3, /^eventbus: INVALID_FIELD: from_offset 99 is past the stream's next offset \(4\)$/, 'past the end: refused, as read --follow refuses it');

  const consumed = run(['consume', 'orders', '--consumer', 'billing', '--max', '2']);
  t.equal(consumed.status, 0, consumed.stderr);
  t.same(consumed.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { offset: number; delivery_count: number }).offset), [0, 1]);
  const acked = run(['consume', 'orders', '--consumer', 'billing', '--ack']);
  t.same(acked.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { offset: number }).offset), [2, 3], 'the rest, acknowledged');
  t.equal(run(['consume', 'orders', '--consumer', 'billing']).stdout, '', 'nothing more due');
  oneLine(t, run(['consume', 'orders', '--consumer', 'biling', '--retry']), 3, /^eventbus: INVALID_FIELD: stream orders has no consumer 'biling' \(its consumers: billing\)/, '--retry for a consumer that does not exist: refused with its code, as exit 3 lines are');
  t.notMatch(run(['info', 'orders']).stdout, /biling/, 'and it is not created');

  const info = run(['info', 'orders']);
  t.equal(info.status, 0, info.stderr);
  t.match(JSON.parse(info.stdout), { name: 'orders', event_count: 4, next_offset: 4, consumers: [{ name: 'billing', cursor: 4, pending: 2, lag: 0 }] }, 'two delivered without --ack are pending');

  run(['create', 'archive']);
  const streams = run(['streams']);
  t.equal(streams.status, 0, streams.stderr);
  t.same(streams.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { name: string }).name), ['archive', 'orders'], 'one JSON line per stream, in name order');
  t.equal(run(['streams', '--names']).stdout, 'archive\norders\n');

  const deleted = run(['delete', 'archive']);
  t.equal(deleted.status, 0, 'stdin not a terminal (a script): no question');
  t.same(JSON.parse(deleted.stdout), { name: 'archive', deleted: true });
  t.equal(run(['streams', '--names']).stdout, 'orders\n');
});

t.test('an unknown stream is a refusal with the server\'s code (exit 3)', async (t) => {
  for (const args of [['info', 'nope'], ['read', 'nope'], ['write', 'nope', '{}'], ['consume', 'nope'], ['delete', 'nope', '--yes']]) {
    oneLine(t, run(args), 3, /^eventbus: STREAM_NOT_FOUND: stream 'nope' not found$/, args.join(' '));
  }
  oneLine(t, run(['write', 'nope'], { input: '{"a":1}\n' }), 3, /^eventbus: line 1 of stdin: STREAM_NOT_FOUND: stream 'nope' not found; 0 events were written/, 'write from stdin');
});

t.test('bad JSON: an argument is a usage error (64), a line of stdin names its number (65)', async (t) => {
  run(['create', 'bad-json']);
  oneLine(t, run(['write', 'bad-json', '{"total": 12,}']), 64, /the event is not JSON: at byte 13, expected a property name in double quotes, found '\}'.*see 'eventbus write --help'$/, 'argument');
  // A fragment that would change the request if spliced in as it is.
  oneLine(t, run(['write', 'bad-json', '1},"operation":"delete_stream","body":{"stream_name":"bad-json"']), 64, /not JSON/, 'an injection attempt');
  const piped = run(['write', 'bad-json'], { input: '{"n":1}\n{"n":2}\n{"n":3,,}\n{"n":4}\n' });
  oneLine(t, piped, 65, /^eventbus: line 3 of stdin is not JSON: at byte 7, expected a property name in double quotes, found ','; 2 events were written \(offsets 0–1\), nothing from line 3 on was sent$/, 'line 3');
  const notUtf8 = spawnSync(process.execPath, [MAIN, 'write', 'bad-json'], { input: Buffer.concat([Buffer.from('{"n":5}\n"'), Buffer.from([0xff]), Buffer.from('"\n')]), env: { ...BASE_ENV, EVENTBUS_PORT: String(server.port) }, encoding: 'utf8' });
  oneLine(t, notUtf8, 65, /^eventbus: line 2 of stdin is not valid UTF-8; 1 event was written/, 'invalid UTF-8');
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  t.same((await client.getStreamEvents('bad-json')).events.map((e) => e.body), [{ n: 1 }, { n: 2 }, { n: 5 }], 'only the lines before each bad one were stored');
});

t.test('a server that is down: every client command exits 69 with one line', async (t) => {
  const down = runner(await closedPort());
  for (const args of [['streams'], ['create', 'x'], ['delete', 'x', '--yes'], ['info', 'x'], ['write', 'x', '{}'], ['read', 'x'], ['consume', 'x'], ['bench', '--events', '10']]) {
    oneLine(t, down(args), 69, /^eventbus: CONNECTION_ERROR: could not connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED.*is a server running there\?/, args.join(' '));
  }
  oneLine(t, down(['write', 'x'], { input: '{}\n' }), 69, /CONNECTION_ERROR/, 'write from stdin');
});

t.test('credentials: wrong or missing ones exit 77; EVENTBUS_AUTH and --auth work; a malformed one is a usage error', async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, 'auth:\n  ops:\n    client_id: "ops"\n    client_secret: "s3cret:with:colons"\n');
  const secured = await startServerProcess({ args: ['--config', config] });
  t.teardown(() => void secured.stop('SIGKILL'));
  const runSecured = runner(secured.port);
  for (const [label, env] of [['no credentials', {}], ['a wrong secret', { EVENTBUS_AUTH: 'ops:wrong' }]] as const) {
    oneLine(t, runSecured(['streams'], { env }), 77, /^eventbus: UNAUTHORIZED: unauthorized to make request \(the server at 127\.0\.0\.1:\d+ needs the client id and secret of a configured client: --auth ID:SECRET or EVENTBUS_AUTH\)$/, label);
  }
  const good = runSecured(['create', 'private'], { env: { EVENTBUS_AUTH: 'ops:s3cret:with:colons' } });
  t.equal(good.status, 0, `EVENTBUS_AUTH (a secret may hold colons): ${good.stderr}`);
  t.equal(runSecured(['streams', '--names', '--auth', 'ops:s3cret:with:colons']).stdout, 'private\n', '--auth');
  oneLine(t, runSecured(['streams', '--auth', 'nocolon']), 64, /--auth \(or EVENTBUS_AUTH\) must be ID:SECRET.*see 'eventbus streams --help'$/, 'malformed: points to the command\'s help');
  oneLine(t, runSecured(['bench', '--events', '10']), 77, /UNAUTHORIZED/, 'bench');
});

t.test('usage errors are one line pointing to the help (exit 64)', async (t) => {
  const cases: [string[], RegExp][] = [
    [['read', 'x', '--from', 'abc'], /'--from <offset>' argument 'abc' is invalid.*see 'eventbus read --help'$/],
    [['read'], /missing required argument 'name'; see 'eventbus read --help'$/],
    [['consume', 'x', '--max', '0'], /from 1 to 9007199254740991.*see 'eventbus consume --help'$/],
    [['bench', '--seconds', '1', '--events', '5'], /cannot be used with option '--events/],
    [['completion', 'fish'], /Allowed choices are bash, zsh/],
    [['streams', '--port', '99999'], /'--port <port>' argument '99999' is invalid/],
    [['info', 'x', '--bogus'], /unknown option '--bogus'; see 'eventbus info --help'$/],
  ];
  for (const [args, pattern] of cases) oneLine(t, run(args), 64, pattern, args.join(' '));
  for (const command of ['streams', 'create', 'delete', 'info', 'write', 'read', 'consume', 'bench', 'completion']) {
    const help = run([command, '--help']);
    t.equal(help.status, 0);
    t.match(help.stdout, /\nExamples:\n {2}(eventbus |eval )/, `${command} --help shows an example`);
  }
  t.match(run(['read', '--help']).stdout, /EVENTBUS_HOST/, 'the help names the environment variables');
});

t.test('100,000 JSON lines piped into eventbus write are all stored, in order', async (t) => {
  run(['create', 'bulk']);
  const count = 100_000;
  let input = '';
  for (let i = 0; i < count; i++) input += `{"i":${i},"pad":"${'x'.repeat(40)}"}\n`;
  const result = run(['write', 'bulk'], { input });
  t.equal(result.status, 0, result.stderr);
  t.match(JSON.parse(result.stdout), { events: count, lines: count, first_offset: 0, last_offset: count - 1 });
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  let next = 0;
  let inOrder = true;
  for (let from = 0; ;) {
    const page = await client.getStreamEvents<{ i: number }>('bulk', { fromOffset: from, maxEvents: 10_000 });
    if (page.events.length === 0) break;
    for (const event of page.events) {
      if (event.body.i !== next || event.offset !== next) inOrder = false;
      next += 1;
    }
    from = page.nextOffset;
  }
  t.equal(next, count, 'every line stored');
  t.ok(inOrder, 'line n is the event at offset n');

  // A reader that stops early (head) ends read quietly, with exit 0.
  const early = spawnSync('bash', ['-c', `'${process.execPath}' '${MAIN}' read bulk | head -1 > /dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8', env: { ...BASE_ENV, EVENTBUS_PORT: String(server.port) } });
  t.equal(early.stdout.trim(), '0', 'exit 0 when the reader goes away');
  t.equal(early.stderr, '', 'and nothing on stderr');
});

t.test('read --follow prints an event written after it started, and stops on Ctrl-C with exit 0', async (t) => {
  run(['create', 'live']);
  run(['write', 'live', '{"n":"before"}']);
  const child = spawn(process.execPath, [MAIN, 'read', 'live', '--follow'], { env: { ...BASE_ENV, EVENTBUS_PORT: String(server.port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const until = async (predicate: () => boolean, what: string) => {
    for (let i = 0; !predicate(); i++) {
      if (i > 500) throw new Error(`${what}: no sign after 10 s; output so far: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await until(() => output.includes('"before"'), 'the existing event');
  const client = await EventBusClient.connect({ port: server.port });
  await client.writeEventJson('live', '{"n":"after"}');
  await client.close();
  await until(() => output.includes('"after"'), 'the new event');
  t.same(output.trimEnd().split('\n').map((l) => (JSON.parse(l) as { body: { n: string } }).body.n), ['before', 'after']);
  child.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C ends it cleanly');
});

t.test('consume --follow stops at once on Ctrl-C (exit 0): its long-poll is abandoned, nothing delivered after', async (t) => {
  run(['create', 'queue']);
  const child = spawn(process.execPath, [MAIN, 'consume', 'queue', '--consumer', 'workers', '--ack', '--follow'], { env: { ...BASE_ENV, EVENTBUS_PORT: String(server.port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  await client.writeEventJson('queue', '{"n":"first"}');
  for (let i = 0; !output.includes('"first"'); i++) {
    if (i > 500) throw new Error(`no event after 10 s: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 300)); // the next long-poll is waiting
  const signalled = performance.now();
  child.kill('SIGINT');
  await new Promise((resolve) => setTimeout(resolve, 200));
  await client.writeEventJson('queue', '{"n":"late"}');
  const status = await exited;
  const ms = performance.now() - signalled;
  t.equal(status, 0, 'exit 0, as read --follow');
  t.ok(ms < 2000, `exits at once (${Math.round(ms)} ms; the long-poll waits 10 s)`);
  t.notMatch(output, /late/, 'nothing delivered after Ctrl-C');
  const consumer = (await client.getStreamInfo('queue')).consumers.find((c) => c.name === 'workers');
  // The late one may have been handed to the abandoned long-poll: then it is pending, never acknowledged.
  t.match(consumer, { ackFloor: 1 }, 'only the first event is acknowledged');
});

t.test('read --follow rides out a server killed and restarted: it subscribes again and prints each event once', async (t) => {
  const port = await closedPort();
  const dataDir = path.join(tempDir(t, 'follow-restart-'), 'data');
  let own = await startServerProcess({ dataDir, args: ['--port', String(port)] });
  t.teardown(() => own.stop('SIGKILL'));
  const runOwn = runner(port);
  runOwn(['create', 'restarts']);
  runOwn(['write', 'restarts', '{"n":"before"}']);
  const child = spawn(process.execPath, [MAIN, 'read', 'restarts', '--follow'], { env: { ...BASE_ENV, EVENTBUS_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const until = async (predicate: () => boolean, what: string) => {
    for (let i = 0; !predicate(); i++) {
      if (i > 1000) throw new Error(`${what}: no sign after 20 s; output so far: ${output}; stderr: ${errors}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await until(() => output.includes('"before"'), 'the existing event');
  await own.stop('SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 500)); // down for a while: the follower retries meanwhile
  own = await startServerProcess({ dataDir, args: ['--port', String(port)] });
  runOwn(['write', 'restarts', '{"n":"after"}']);
  await until(() => output.includes('"after"'), 'the event written after the restart');
  t.same(output.trimEnd().split('\n').map((l) => (JSON.parse(l) as { body: { n: string } }).body.n), ['before', 'after'], 'each event once, in order');
  t.equal(child.exitCode, null, 'still following');
  child.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C ends it cleanly');
});

t.test('consume --follow --ack rides out a server restarted (kill -9, then SIGTERM): it reconnects and delivers and acknowledges each event once', async (t) => {
  const port = await closedPort();
  const dataDir = path.join(tempDir(t, 'consume-restart-'), 'data');
  let own = await startServerProcess({ dataDir, args: ['--port', String(port)] });
  t.teardown(() => own.stop('SIGKILL'));
  const runOwn = runner(port);
  runOwn(['create', 'jobs']);
  runOwn(['write', 'jobs', '{"n":"before"}']);
  const child = spawn(process.execPath, [MAIN, 'consume', 'jobs', '--consumer', 'workers', '--ack', '--follow'], { env: { ...BASE_ENV, EVENTBUS_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let output = '';
  let errors = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const until = async (predicate: () => boolean, what: string) => {
    for (let i = 0; !predicate(); i++) {
      if (i > 1000) throw new Error(`${what}: no sign after 20 s; output so far: ${output}; stderr: ${errors}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await until(() => output.includes('"before"'), 'the existing event');
  await new Promise((resolve) => setTimeout(resolve, 300)); // acknowledged, and the next long-poll waiting
  // Killed: the long-poll's connection drops; down for a while (the old code gave up ~2 s after a drop).
  await own.stop('SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 2500));
  own = await startServerProcess({ dataDir, args: ['--port', String(port)] });
  runOwn(['write', 'jobs', '{"n":"after-kill"}']);
  await until(() => output.includes('"after-kill"'), 'the event written after the restart');
  await new Promise((resolve) => setTimeout(resolve, 300));
  // Stopped politely (SHUTTING_DOWN to the long-poll, or the connection closed), then started again.
  await own.stop('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 2500));
  own = await startServerProcess({ dataDir, args: ['--port', String(port)] });
  runOwn(['write', 'jobs', '{"n":"after-term"}']);
  await until(() => output.includes('"after-term"'), 'the event written after the second restart');
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.same(output.trimEnd().split('\n').map((l) => (JSON.parse(l) as { body: { n: string } }).body.n), ['before', 'after-kill', 'after-term'], 'each event once, in order');
  t.equal(child.exitCode, null, `still consuming (stderr: ${errors})`);
  t.equal(errors, '', 'nothing on stderr');
  const client = await EventBusClient.connect({ port });
  const consumer = (await client.getStreamInfo('jobs')).consumers.find((c) => c.name === 'workers');
  await client.close();
  t.match(consumer, { ackFloor: 3, pending: 0, retry: 0, lag: 0 }, 'all three acknowledged (ack_floor is the offset after the last)');
  child.kill('SIGINT');
  t.equal(await exited, 0, 'Ctrl-C ends it cleanly');
});

t.test('bench: writes and a drain against the server, with percentiles; its stream is removed', async (t) => {
  const result = run(['bench', '--events', '3000', '--connections', '2', '--depth', '8', '--workers', '2', '--batch', '50']);
  t.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Record<string, { events: number; errors: number; events_per_second: number; latency_ms: Record<string, number> }>;
  t.match(report, { connections: 2, depth: 8, size_bytes: 100, write: { events: 3000, errors: 0 }, drain: { events: 3000, errors: 0, workers: 2, batch: 50 } });
  for (const phase of ['write', 'drain']) {
    const { p50, p99, p999, max } = report[phase]!.latency_ms as { p50: number; p99: number; p999: number; max: number };
    t.ok(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 <= max, `${phase}: 0 < p50 ≤ p99 ≤ p99.9 ≤ max`);
    t.ok(report[phase]!.events_per_second > 0);
  }
  t.match(report, { stream: /^eventbus-bench-[0-9a-f]{8}$/ }, 'the report names the generated stream');
  t.notMatch(run(['streams', '--names']).stdout, /eventbus-bench-/, 'the stream is deleted afterwards');
  // Every write refused (events over the server's 1 MiB): named, not throughput, no drain.
  const refused = run(['bench', '--events', '10', '--size', '2000000', '--connections', '1', '--depth', '1']);
  t.equal(refused.status, 3, refused.stderr);
  t.match(refused.stderr, /^eventbus: 10 requests failed during the run \(the first: EVENT_TOO_LARGE: [^\n]+\); the drain was skipped\n$/);
  t.match(JSON.parse(refused.stdout), { write: { events: 0, events_per_second: 0, errors: 10, first_error: /^EVENT_TOO_LARGE: / }, drain: null });
  const writesOnly = JSON.parse(run(['bench', '--seconds', '1', '--connections', '1', '--depth', '1', '--no-drain']).stdout) as { drain: unknown; write: { events: number } };
  t.equal(writesOnly.drain, null);
  t.ok(writesOnly.write.events > 0);
});

t.test('TLS: --tls-ca trusts a self-signed server; without it the certificate is refused (exit 69)', { skip: spawnSync('openssl', ['version']).status === 0 ? false : 'openssl is needed to make a test certificate' }, async (t) => {
  const dir = tempDir(t);
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const secure = await startServerProcess({ args: ['--tls-cert', cert, '--tls-key', key] });
  t.teardown(() => void secure.stop('SIGKILL'));
  const runTls = runner(secure.port, { EVENTBUS_TLS_CA: cert });
  t.equal(runTls(['create', 'secure']).status, 0);
  t.equal(runTls(['write', 'secure'], { input: '{"over":"tls"}\n' }).status, 0);
  t.match(runTls(['read', 'secure']).stdout, /"body":\{"over":"tls"\}/);
  t.match(JSON.parse(runTls(['bench', '--events', '200', '--connections', '2', '--depth', '2']).stdout), { tls: true, write: { events: 200, errors: 0 }, drain: { events: 200 } }, 'bench over TLS');
  oneLine(t, runner(secure.port)(['streams', '--tls']), 69, /^eventbus: CONNECTION_ERROR: could not connect to 127\.0\.0\.1:\d+: self[- ]signed certificate \(trust it with --tls-ca FILE: the server's certificate, or its CA's, in PEM\)$/, 'an untrusted certificate: the hint is --tls-ca');
  oneLine(t, runner(secure.port)(['streams', '--tls-ca', path.join(dir, 'missing.pem')]), 64, /^eventbus: cannot read --tls-ca .*missing\.pem: no such file \(ENOENT\); see 'eventbus streams --help'$/, 'a missing CA file: in words, with the help pointer of usage errors');
  const plain = run(['streams', '--tls']);
  oneLine(t, plain, 69, /^eventbus: CONNECTION_ERROR: could not connect to 127\.0\.0\.1:\d+: the server did not answer in TLS \(OpenSSL: wrong version number\) \(TLS on one side only\?/, '--tls against a server without TLS: one line, and the hint is about TLS');
  t.notMatch(plain.stderr, /SSL routines|:error:|\.c:\d+/, "without OpenSSL's raw text");
  oneLine(t, runner(secure.port)(['streams']), 69, /^eventbus: CONNECTION_ERROR: .*\(a server with TLS\? give --tls, or --tls-ca FILE/, 'a plain client against a TLS server: the hint is about TLS');
  for (const args of [['read', 'secure', '--follow'], ['read', 'secure'], ['consume', 'secure', '--follow']]) {
    oneLine(t, runner(secure.port)(args), 69, /^eventbus: CONNECTION_ERROR: the connection was closed before any answer \(a server with TLS\? give --tls, or --tls-ca FILE/, `${args.join(' ')} without --tls against a TLS server: the hint is about TLS`);
  }
  writeFileSync(path.join(dir, 'not-pem.txt'), 'not a certificate\n');
  oneLine(t, runner(secure.port)(['streams', '--tls-ca', path.join(dir, 'not-pem.txt')]), 64, /--tls-ca .*not-pem\.txt holds no PEM certificate.*see 'eventbus streams --help'$/, 'a CA file that is not PEM');
});

t.test('consume goes on past pages a filtered consumer scanned without a match (more: true), to the events that match', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => void server.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: server.port });
  await client.createStream('mixed');
  // More non-matching events than one process_events scans (16 pages of 100), then a match.
  for (let i = 0; i < 4_000; i += 500) {
    await client.appendEvents('mixed', Array.from({ length: 500 }, (_, k) => ({ body: { i: i + k }, type: 'Noise' })));
  }
  await client.appendEvents('mixed', [{ body: { wanted: true }, type: 'Wanted' }]);
  const first = await client.processEvents('mixed', { consumer: 'picky', types: ['Wanted'], maxEvents: 10 });
  t.same(first.events, [], 'the consumer is created with its filter, and its first call finds nothing yet');
  t.equal(first.more, true, 'more: true, the scan budget was used');
  await client.close();
  const result = runner(server.port)(['consume', 'mixed', '--consumer', 'picky', '--json']);
  t.equal(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split('\n').filter((line) => line !== '');
  t.equal(lines.length, 1, 'the one matching event is printed');
  t.match(JSON.parse(lines[0]!), { type: 'Wanted' });
});
