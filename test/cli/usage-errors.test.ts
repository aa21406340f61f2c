/**
 * Errors a person can act on: a usage error is one line pointing to the command's help (exit
 * 64), never the whole help; a port in use is one line before the store is opened or anything
 * is logged; a config file's out-of-range port names the file and the key.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { MAIN, tempDir } from '../helpers/server-process.js';

function run(args: string[], cwd?: string) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 30_000, ...(cwd === undefined ? {} : { cwd }) });
}

t.test('usage errors are one line with a pointer to the help, exit status 64', async (t) => {
  const cases: [string[], RegExp, string][] = [
    [['serve', '--bogus'], /unknown option '--bogus'/, 'eventbus serve --help'],
    [['serve', '--port', 'abc'], /'--port <port>' argument 'abc' is invalid.*0 to 65535/, 'eventbus serve --help'],
    [['serve', '--port', '99999'], /'--port <port>' argument '99999' is invalid/, 'eventbus serve --help'],
    // A client command's port names a server: 0 is refused, so the range said is 1 to 65535.
    [['streams', '--port', '65536'], /'--port <port>' argument '65536' is invalid\. It must be a whole number from 1 to 65535;/, 'eventbus streams --help'],
    [['streams', '--port', 'abc'], /'--port <port>' argument 'abc' is invalid\. It must be a whole number from 1 to 65535;/, 'eventbus streams --help'],
    [['read', 'x', '--from', '9007199254740993'], /'--from <offset>' argument '9007199254740993' is invalid\. It must be a whole number from 0 to 9007199254740991;/, 'eventbus read --help'],
    // A key or type is 1 to 255 bytes: an empty or longer one is the command line's mistake, not the server's refusal.
    [['write', 'x', '{}', '--key', ''], /'--key <key>' argument '' is invalid\. It must be 1 to 255 bytes of UTF-8;/, 'eventbus write --help'],
    [['write', 'x', '{}', '--key', 'é'.repeat(128)], /'--key <key>' argument 'é+' is invalid\. It must be 1 to 255 bytes of UTF-8 \(it is 256\);/, 'eventbus write --help'],
    [['write', 'x', '{}', '--type', ''], /'--type <type>' argument '' is invalid\. It must be 1 to 255 bytes of UTF-8;/, 'eventbus write --help'],
    [['serve', '--hots', 'x'], /unknown option '--hots' \(Did you mean --host\?\)/, 'eventbus serve --help'],
    [['serve', '--fsync', 'sometimes'], /'sometimes' is invalid/, 'eventbus serve --help'],
    [['bogus'], /unknown command 'bogus'/, 'eventbus --help'],
    [['snapshot', '--data', 'x'], /required option '--output <dir>' not specified/, 'eventbus snapshot --help'],
    [['restore'], /missing required argument 'snapshot'/, 'eventbus restore --help'],
    [['verify', 'a', 'b'], /too many arguments/, 'eventbus verify --help'],
    [['serve', '--nats-password', 'pw'], /--nats-password is not taken as an argument .*EVENTBUS_NATS_PASSWORD/, 'eventbus serve --help'],
    [['serve', '--nats-token', 'tk'], /--nats-token is not taken as an argument .*EVENTBUS_NATS_TOKEN/, 'eventbus serve --help'],
  ];
  for (const [args, reason, help] of cases) {
    const result = run(args);
    const label = `eventbus ${args.join(' ')}`;
    t.equal(result.status, 64, `${label}: exit 64`);
    t.equal(result.stdout, '', `${label}: nothing on stdout`);
    const lines = result.stderr.trimEnd().split('\n');
    t.equal(lines.length, 1, `${label}: one line: ${JSON.stringify(result.stderr)}`);
    t.match(lines[0], /^eventbus: /, `${label}: starts with eventbus:`);
    t.match(lines[0], reason, `${label}: says what is wrong`);
    t.ok(lines[0]!.endsWith(`see '${help}'`), `${label}: points to ${help}`);
  }
});

t.test('help and version still exit 0 on stdout', async (t) => {
  for (const args of [['--help'], ['serve', '--help'], ['--version']]) {
    const result = run(args);
    t.equal(result.status, 0, args.join(' '));
    t.not(result.stdout, '');
    t.equal(result.stderr, '');
  }
  t.match(run(['--help']).stdout, /Exit status:[\s\S]*1 .*failed[\s\S]*delete declined[\s\S]*64[\s\S]*75[\s\S]*130 interrupted/, 'the help lists the exit statuses, as operations.md does');
});

t.test('a port in use is one line, before the store is opened or anything is logged', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => holder.close());
  const port = (holder.address() as net.AddressInfo).port;
  const dataDir = path.join(tempDir(t), 'data');
  const result = run(['serve', '--port', String(port), '--data', dataDir, '--log-level', 'info']);
  t.equal(result.status, 1, 'a failure to start');
  t.equal(result.stdout, '', 'no log lines');
  t.equal(result.stderr, `eventbus: cannot listen on 127.0.0.1:${port}: port ${port} is in use by another process (choose another with --port, or 0 for any free one)\n`);
  // An IPv6 address in brackets, so that its port can be told from it.
  const holder6 = net.createServer();
  const listening6 = await new Promise<boolean>((resolve) => {
    holder6.once('error', () => resolve(false));
    holder6.listen({ host: '::1', port: 0 }, () => resolve(true));
  });
  if (listening6) {
    t.teardown(() => holder6.close());
    const port6 = (holder6.address() as net.AddressInfo).port;
    const result6 = run(['serve', '--host', '::1', '--port', String(port6), '--data', dataDir]);
    t.equal(result6.stderr, `eventbus: cannot listen on [::1]:${port6}: port ${port6} is in use by another process (choose another with --port, or 0 for any free one)\n`);
  } else {
    t.comment('no IPv6 loopback on this machine: the bracketed address is not checked');
  }
  t.notOk(existsSync(dataDir), 'the store was neither created nor opened');
});

/** A port free now (taken and released). */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

t.test('the HTTP port is checked with the TCP port, before the store is opened or anything is logged', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen({ host: '127.0.0.1', port: 0 }, resolve));
  t.teardown(() => holder.close());
  const held = (holder.address() as net.AddressInfo).port;
  const dataDir = path.join(tempDir(t), 'data');
  const inUse = run(['serve', '--port', '0', '--http-port', String(held), '--data', dataDir, '--log-level', 'info']);
  t.equal(inUse.status, 1, 'an HTTP port in use: a failure to start');
  t.equal(inUse.stdout, '', 'no log lines');
  t.equal(inUse.stderr, `eventbus: cannot listen on 127.0.0.1:${held}: port ${held} is in use by another process (choose another with --http-port, or 0 for any free one)\n`, 'the hint names --http-port');
  t.notOk(existsSync(dataDir), 'the store was neither created nor opened');

  const port = await freePort();
  const same = run(['serve', '--port', String(port), '--http-port', String(port), '--data', dataDir, '--log-level', 'info']);
  t.equal(same.status, 1, 'the same port for both: a failure to start');
  t.equal(same.stdout, '', 'no log lines');
  t.equal(same.stderr, `eventbus: cannot listen on 127.0.0.1:${port}: port ${port} is already the one of --port (on 127.0.0.1); choose another with --http-port, or 0 for any free one\n`);
  t.notOk(existsSync(dataDir), 'the store was neither created nor opened');

  const overlapping = run(['serve', '--port', String(port), '--http-port', String(port), '--http-host', '0.0.0.0', '--insecure-no-auth', '--data', dataDir]);
  t.equal(overlapping.status, 1);
  t.match(overlapping.stderr, /^eventbus: cannot listen on 0\.0\.0\.0:\d+: port \d+ is already the one of --port \(on 127\.0\.0\.1\)/, 'a wildcard HTTP host overlapping the TCP one');
  t.notOk(existsSync(dataDir));
});

t.test("a config file's out-of-range port names the file and the key", async (t) => {
  const dir = tempDir(t);
  const config = path.join(dir, 'eventbus.yaml');
  writeFileSync(config, 'server:\n  port: 99999\n');
  const result = run(['serve', '--config', config, '--data', path.join(dir, 'data')]);
  t.equal(result.status, 1);
  t.equal(result.stderr, `eventbus: config file ${config}: 'server.port' must be a whole number from 0 to 65535, got 99999\n`);
});
