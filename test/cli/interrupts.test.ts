/**
 * Ctrl-C and SIGTERM end every client command promptly (issue 14): `read` without --follow
 * (exit 130, saying how many events it printed), and each command waiting on a server that
 * accepted the connection and never answers (`read`, `read --follow`, `consume`, `bench`, a bulk
 * `write`), where the old code went on for seconds, or until the request timed out; the one-shot
 * commands (`streams`, `create`, `info`, `delete`, a single `write`) likewise, exit 130 with one line.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { MAIN, startServerProcess } from '../helpers/server-process.js';

// Without tap's NODE_OPTIONS: its hooks slow every child process down.
const { NODE_OPTIONS: _tapHooks, ...BASE_ENV } = process.env;

interface Child {
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit status once the process has ended. */
  exited: Promise<number | null>;
  signal(signal: NodeJS.Signals): void;
  pauseOutput(): void;
  resumeOutput(): void;
}

function start(args: string[], port: number, input?: string): Child {
  const child = spawn(process.execPath, [MAIN, ...args], { env: { ...BASE_ENV, EVENTBUS_PORT: String(port) }, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A pipe left open after the input: a writer that is not done yet.
  if (input !== undefined) child.stdin!.write(input);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    signal: (signal) => void child.kill(signal),
    pauseOutput: () => void child.stdout!.pause(),
    resumeOutput: () => void child.stdout!.resume(),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the status, or null when the process had not ended within `ms` (it is then killed). */
async function exitWithin(child: Child, ms: number): Promise<number | null | 'still running'> {
  const result = await Promise.race([child.exited, sleep(ms).then(() => 'still running' as const)]);
  if (result === 'still running') child.signal('SIGKILL');
  return result;
}

t.test('a server that accepts and never answers: Ctrl-C and SIGTERM end each command at once', async (t) => {
  // Each connection it accepts is announced: a command is signalled only once it has connected
  // (a loaded machine can take over a second to start Node), so its handlers are in place.
  let connected: () => void = () => {};
  const silent = net.createServer(() => connected());
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const port = (silent.address() as net.AddressInfo).port;
  const cases: [string[], NodeJS.Signals, number, RegExp | null, string?][] = [
    [['read', 'x'], 'SIGINT', 130, /^eventbus: interrupted: 0 events printed\n$/],
    [['read', 'x'], 'SIGTERM', 130, /^eventbus: interrupted: 0 events printed\n$/],
    [['read', 'x', '--follow'], 'SIGINT', 0, /^$/],
    [['read', 'x', '--follow'], 'SIGTERM', 0, /^$/],
    [['consume', 'x', '--follow'], 'SIGINT', 0, null],
    [['bench', '--events', '10'], 'SIGINT', 130, /^eventbus: interrupted before the server answered create_stream: nothing was measured/],
    [['write', 'x'], 'SIGINT', 130, /^eventbus: interrupted: 0 events were written, nothing after line 1 of stdin was sent; 1 write was not answered within 2 s and may or may not be stored\n$/, '{"a":1}\n'],
    // The one-shot commands (no handling of their own before): the same line and exit 130.
    [['streams'], 'SIGINT', 130, /^eventbus: interrupted while waiting for an answer from 127\.0\.0\.1:\d+\n$/],
    [['streams'], 'SIGTERM', 130, /^eventbus: interrupted while waiting for an answer from 127\.0\.0\.1:\d+\n$/],
    [['info', 'x'], 'SIGTERM', 130, /^eventbus: interrupted while waiting for an answer from 127\.0\.0\.1:\d+\n$/],
    [['create', 'x'], 'SIGINT', 130, /^eventbus: interrupted while waiting for an answer from 127\.0\.0\.1:\d+ \(stream x may or may not have been created\)\n$/],
    [['delete', 'x', '--yes'], 'SIGTERM', 130, /^eventbus: interrupted while waiting for an answer from 127\.0\.0\.1:\d+ \(stream x may or may not have been deleted\)\n$/],
    [['write', 'x', '{"a":1}'], 'SIGINT', 130, /^eventbus: interrupted while waiting for an answer from 127\.0\.0\.1:\d+ \(the event was sent: it may or may not be stored\)\n$/],
    // --tls against a server that never answers: the TLS handshake, and so the connect, hangs.
    [['streams', '--tls'], 'SIGTERM', 130, /^eventbus: interrupted while connecting to 127\.0\.0\.1:\d+\n$/],
    [['write', 'x', '{"a":1}', '--tls'], 'SIGINT', 130, /^eventbus: interrupted while connecting to 127\.0\.0\.1:\d+\n$/],
    [['write', 'x', '--tls'], 'SIGINT', 130, /^eventbus: interrupted while connecting to 127\.0\.0\.1:\d+\n$/, '{"a":1}\n'],
  ];
  for (const [args, signal, status, stderr, input] of cases) {
    const label = `${args.join(' ')}, ${signal}`;
    const connection = new Promise<void>((resolve) => (connected = resolve));
    const child = start(args, port, input);
    await Promise.race([connection, sleep(20_000)]);
    await sleep(300); // its request sent, unanswered
    child.signal(signal);
    t.equal(await exitWithin(child, 5000), status, `${label}: exit ${status} within 5 s of the signal`);
    if (stderr !== null) t.match(child.stderr(), stderr, `${label}: ${JSON.stringify(child.stderr())}`);
  }
});

t.test('read without --follow stops at Ctrl-C or SIGTERM, exit 130, saying what it printed', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => void server.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  await client.createStream('long');
  const total = 50_000;
  for (let i = 0; i < total; i += 1000) {
    await client.appendEvents('long', Array.from({ length: 1000 }, (_, j) => ({ body: { n: i + j, pad: 'x'.repeat(40) } })));
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const child = start(['read', 'long'], server.port);
    // The reader holds back: the command waits on a full pipe within its first pages.
    for (let i = 0; child.stdout() === ''; i++) {
      if (i > 500) throw new Error(`no output after 10 s: ${child.stderr()}`);
      await sleep(20);
    }
    child.pauseOutput();
    await sleep(300);
    child.signal(signal);
    await sleep(300);
    child.resumeOutput();
    t.equal(await exitWithin(child, 10_000), 130, `${signal}: exit 130`);
    const lines = child.stdout().trimEnd().split('\n');
    t.ok(lines.length < total, `${signal}: stopped early (${lines.length} of ${total} printed)`);
    t.same(lines.map((line) => (JSON.parse(line) as { offset: number }).offset), lines.map((_, i) => i), `${signal}: whole lines, in order`);
    t.equal(child.stderr(), `eventbus: interrupted: ${lines.length.toLocaleString('en-US')} events printed (offsets 0–${(lines.length - 1).toLocaleString('en-US')})\n`, `${signal}: says what was printed`);
  }
});

t.test('bench: Ctrl-C or SIGTERM while draining stops the workers, deletes the stream and exits 130', async (t) => {
  const server = await startServerProcess();
  t.teardown(() => void server.stop('SIGKILL'));
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const stream = `bench-drain-${signal}`;
    const child = start(['bench', '--stream', stream, '--events', '60000', '--connections', '2', '--depth', '16', '--workers', '1', '--batch', '50'], server.port);
    // The drain has begun once its consumer has acknowledged something.
    for (let i = 0; ; i++) {
      const info = await client.getStreamInfo(stream).catch(() => null);
      if (info !== null && info.consumers.length > 0) break;
      if (i > 1500) throw new Error(`no drain after 30 s: ${child.stderr()}`);
      await sleep(20);
    }
    child.signal(signal);
    t.equal(await exitWithin(child, 10_000), 130, `${signal}: exit 130`);
    t.equal(child.stderr(), `eventbus: interrupted: stream ${stream} deleted\n`, `${signal}: says the stream was deleted, nothing else`);
    t.equal(child.stdout(), '', `${signal}: no results printed`);
    t.equal(await client.getStreamInfo(stream).then(() => "exists", (error: { code?: string }) => error.code), "STREAM_NOT_FOUND", `${signal}: the stream is gone`);
  }
});

t.test('read --follow: Ctrl-C ends it at once even against a server that never closes its side', async (t) => {
  // allowHalfOpen: the client's end of the connection is never answered with the server's, as
  // with a server that hangs; closing politely would wait a second for it.
  let connected: () => void = () => {};
  const silent = net.createServer({ allowHalfOpen: true }, () => connected());
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const port = (silent.address() as net.AddressInfo).port;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const connection = new Promise<void>((resolve) => (connected = resolve));
    const child = start(['read', 'x', '--follow'], port);
    await Promise.race([connection, sleep(20_000)]);
    await sleep(300);
    const signalledAt = performance.now();
    child.signal(signal);
    t.equal(await exitWithin(child, 5000), 0, `${signal}: exit 0`);
    const tookMs = performance.now() - signalledAt;
    t.ok(tookMs < 600, `${signal}: ended within 0.6 s of the signal (${Math.round(tookMs)} ms; it waited a second before)`);
  }
});
