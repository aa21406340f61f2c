/** `--backend jetstream` and the config file's `backend:` section: precedence, checks, refusals. */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { parseConfig } from '../../src/cli/config.js';
import { resolveSettings } from '../../src/cli/settings.js';
import { resolveJetStreamOptions } from '../../src/bus/jetstream/jetstream-options.js';
import { MAIN, startServerProcess, tempDir } from '../helpers/server-process.js';

t.test('the backend section and the flags', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, `
backend:
  type: jetstream
  servers: [a:4222, b:4222]
  replicas: 1
  creds: nats.creds
  tls_ca: ca.pem
  write_timeout_ms: 1000
consumers:
  ack_wait_ms: 500
storage:
  max_event_bytes: 2048
`);
  const settings = resolveSettings({ config: file }, {});
  t.match(settings.backend, { type: 'jetstream', jetstream: { servers: ['a:4222', 'b:4222'], replicas: 1, writeTimeoutMs: 1000, maxEventBytes: 2048, consumers: { ackWaitMs: 500 } } });
  if (settings.backend.type === 'jetstream') {
    t.equal(settings.backend.jetstream.credsFile, path.resolve('nats.creds'));
    t.same(settings.backend.jetstream.tls, { caFile: path.resolve('ca.pem') });
  }
  const flags = resolveSettings({ config: file, natsServers: 'c:1,d:2', replicas: 3 }, {});
  t.match(flags.backend, { type: 'jetstream', jetstream: { servers: ['c:1', 'd:2'], replicas: 3 } }, 'flags win over the file');
  t.same(resolveSettings({}, {}).backend, { type: 'engine' }, 'the engine by default');
  t.throws(() => resolveSettings({ backend: 'jetstream' }, {}), { status: 64, message: /--nats-servers/ }, 'asked for on the command line: a usage error');
  const noServers = path.join(tempDir(t), 'config.yaml');
  writeFileSync(noServers, 'backend:\n  type: jetstream\n');
  t.throws(() => resolveSettings({ config: noServers }, {}), { code: 'INVALID_FIELD', message: /--nats-servers/ }, "a config file's: a failure to start");
  t.throws(() => resolveSettings({ backend: 'jetstream', natsServers: 'a:1', natsTlsCert: 'c.pem' }, {}), { code: 'INVALID_FIELD', message: /nats-tls-key/ });
  t.throws(() => parseConfig('backend:\n  type: kafka\n', 'x.yaml'), { code: 'INVALID_FIELD', message: /engine or jetstream/ });
  t.throws(() => parseConfig('backend:\n  sever: a:1\n', 'x.yaml'), { code: 'INVALID_FIELD', message: /unknown setting 'backend.sever'/ });
});

t.test('option checks', async (t) => {
  t.throws(() => resolveJetStreamOptions({ servers: [] }), { code: 'INVALID_FIELD' });
  t.throws(() => resolveJetStreamOptions({ servers: ['a b'] }), { code: 'INVALID_FIELD', message: /not host:port/ });
  t.throws(() => resolveJetStreamOptions({ servers: ['a:1'], replicas: 2 }), { code: 'INVALID_FIELD', message: /1, 3 or 5/ });
  t.throws(() => resolveJetStreamOptions({ servers: ['a:1'], duplicateWindowMs: 10 }), { code: 'INVALID_FIELD' });
  t.match(resolveJetStreamOptions({ servers: ['nats://a:1'] }), { replicas: 3, writeTimeoutMs: 30_000, duplicateWindowMs: 120_000 });
});

t.test('serve refuses an unreachable cluster in one line', async (t) => {
  const unreachable = await startServerProcess({ args: ['--backend', 'jetstream', '--nats-servers', '127.0.0.1:1'], timeoutMs: 20_000 }).catch((error: Error) => error);
  t.match((unreachable as Error).message, /cannot connect to NATS at 127\.0\.0\.1:1/);
});

t.test('serve exits 1 in one line when a server takes the connection but is no NATS server', async (t) => {
  // An eventbus port, say: it accepts and waits for a request line; NATS waits for a greeting.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const port = (silent.address() as net.AddressInfo).port;
  const started = Date.now();
  // Before the fix the process stayed alive, not listening: this waited until its 20 s timeout.
  const refused = await startServerProcess({ args: ['--backend', 'jetstream', '--nats-servers', `127.0.0.1:${port}`], timeoutMs: 20_000 }).catch((error: Error) => error);
  // Log lines may come first (a machine without the native CRC32C addon warns at start); the
  // error itself is one line of its own.
  t.match((refused as Error).message, new RegExp(`server exited with 1 before listening:\\n(?:\\{.*\\}\\n)*eventbus: cannot connect to NATS at 127\\.0\\.0\\.1:${port}: .*sent nothing within 5000 ms`));
  t.ok(Date.now() - started < 15_000, 'and exits once the greeting is overdue');
});

t.test('a bad --replicas or --nats-servers is a usage error (64) in one line, before anything starts', async (t) => {
  for (const args of [['--replicas', '2'], ['--replicas', 'abc'], ['--nats-servers', 'not a url'], ['--nats-servers', ',']]) {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [MAIN, 'serve', '--port', '0', '--backend', 'jetstream', '--nats-servers', '127.0.0.1:1', ...args], (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error as { code: number }).code, stdout, stderr }));
    });
    t.equal(result.code, 64, `${args.join(' ')}: status 64`);
    t.equal(result.stdout, '', 'nothing logged');
    t.match(result.stderr, /^eventbus: option '--(replicas|nats-servers) <(n|list)>' argument .* is invalid\. [^\n]*\n$/, 'one line');
  }
  const { EVENTBUS_NATS_SERVERS: _servers, ...env } = process.env;
  const missing = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [MAIN, 'serve', '--port', '0', '--backend', 'jetstream'], { env }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error as { code: number }).code, stdout, stderr }));
  });
  t.equal(missing.code, 64, '--backend jetstream without --nats-servers: status 64');
  t.match(missing.stderr, /^eventbus: the jetstream backend needs NATS servers: --nats-servers h1:p1,h2:p2,h3:p3 [^\n]*\n$/, 'one line');
  const dir = tempDir(t);
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, 'backend:\n  type: jetstream\n  servers: [a:4222]\n  replicas: 2\n');
  t.throws(() => resolveSettings({ config: file }, {}), { code: 'INVALID_FIELD', message: /'backend\.replicas' must be 1, 3 or 5, got 2/ }, 'the config file\'s backend section is checked when it is read, naming the key');
});

t.test('a NATS server port outside 1-65535 is refused as a malformed list is: 64 on the command line, 1 in the config file', async (t) => {
  const runServe = (args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [MAIN, 'serve', '--port', '0', '--backend', 'jetstream', ...args], { timeout: 20_000 }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error as { code: number }).code, stdout, stderr }));
  });
  for (const server of ['127.0.0.1:0', '127.0.0.1:70000', 'nats://127.0.0.1:0', 'nats://127.0.0.1:70000', 'nats://127.0.0.1:-1', 'tls://127.0.0.1:65536']) {
    const result = await runServe(['--nats-servers', `127.0.0.1:4222,${server}`]);
    t.equal(result.code, 64, `--nats-servers ...,${server}: status 64`);
    t.equal(result.stdout, '', 'nothing logged');
    t.match(result.stderr, /^eventbus: option '--nats-servers <list>' argument .* is invalid\. [^\n]*port [^\n]*1 to 65535[^\n]*\n$/, `one line naming the port range: ${result.stderr.trim()}`);
  }
  const dir = tempDir(t);
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, 'backend:\n  type: jetstream\n  servers: [127.0.0.1:4222, 127.0.0.1:70000]\n');
  const config = await runServe(['--config', file]);
  t.equal(config.code, 1, "the config file's: status 1");
  t.equal(config.stdout, '', 'nothing logged');
  t.match(config.stderr, /^eventbus: [^\n]*127\.0\.0\.1:70000[^\n]*port [^\n]*1 to 65535[^\n]*\n$/, `one line: ${config.stderr.trim()}`);
  t.ok(resolveJetStreamOptions({ servers: ['a:1', 'nats://b:65535', 'tls://c', '[::1]:4222'] }), 'ports 1 and 65535, and none (4222), are taken');
});

t.test('a NATS server port outside 1-65535 followed by a path or query, or in brackets, is refused too (64)', async (t) => {
  const runServe = (args: string[]) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [MAIN, 'serve', '--port', '0', '--backend', 'jetstream', ...args], { timeout: 20_000 }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error as { code: number }).code, stdout, stderr }));
  });
  // Before, only a port at the very end was checked: these were taken, and failed at connect.
  for (const [server, port] of [['nats://127.0.0.1:0/x', '0'], ['nats://127.0.0.1:99999?x=1', '99999'], ['tls://127.0.0.1:0#a', '0'], ['[::1]:0', '0'], ['nats://[::1]:70000/', '70000']]) {
    const result = await runServe(['--nats-servers', `127.0.0.1:4222,${server}`]);
    t.equal(result.code, 64, `--nats-servers ...,${server}: status 64`);
    t.equal(result.stdout, '', 'nothing logged');
    t.match(result.stderr, new RegExp(`^eventbus: option '--nats-servers <list>' argument .* is invalid\\. [^\\n]*port must be from 1 to 65535, got ${port}[.;][^\\n]*\\n$`), `one line naming the port: ${result.stderr.trim()}`);
  }
  const taken = ['[::1]:4222', 'nats://[::1]:4222', 'nats://[::1]:4222/', 'nats://a:4222?x=1', 'tls://u:p@b:65535', '::1'];
  t.ok(resolveJetStreamOptions({ servers: taken }), `taken: ${taken.join(' ')}`);
});

t.test('NATS credentials and TLS files that cannot be used: one line naming the option, the config key and the file, before anything starts', async (t) => {
  const dir = tempDir(t);
  const garbage = path.join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  const missing = (name: string) => path.join(dir, name);
  const cases: [string[], RegExp][] = [
    [['--nats-creds', missing('missing.creds')], /^eventbus: cannot read the NATS credentials file .*missing\.creds \(--nats-creds, backend\.creds in the config file\): ENOENT\n$/],
    [['--nats-tls-ca', dir], /^eventbus: cannot read the NATS TLS CA .* \(--nats-tls-ca, backend\.tls_ca in the config file\): EISDIR\n$/],
    [['--nats-tls-ca', garbage], /^eventbus: the NATS TLS CA .*garbage\.pem \(--nats-tls-ca, backend\.tls_ca in the config file\) is no PEM certificate: [^\n]+\n$/],
    [['--nats-tls-cert', missing('cert.pem'), '--nats-tls-key', garbage], /^eventbus: cannot read the NATS TLS certificate .*cert\.pem \(--nats-tls-cert, backend\.tls_cert in the config file\): ENOENT\n$/],
    [['--nats-tls-cert', garbage, '--nats-tls-key', missing('key.pem')], /^eventbus: cannot read the NATS TLS key .*key\.pem \(--nats-tls-key, backend\.tls_key in the config file\): ENOENT\n$/],
    [['--nats-tls-cert', garbage, '--nats-tls-key', garbage], /^eventbus: the NATS TLS certificate .*garbage\.pem and key .*garbage\.pem cannot be used: [^\n]+\n$/],
  ];
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, `backend:\n  type: jetstream\n  servers: 127.0.0.1:1\n  creds: ${missing('config.creds')}\n`);
  cases.push([['--config', config], /^eventbus: cannot read the NATS credentials file .*config\.creds \(--nats-creds, backend\.creds in the config file\): ENOENT\n$/]);
  for (const [args, expected] of cases) {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      // The default log level: the start's log lines are what must not come before the refusal.
      execFile(process.execPath, [MAIN, 'serve', '--port', '0', '--data', path.join(dir, 'data'), '--backend', 'jetstream', '--nats-servers', '127.0.0.1:1', ...args], { timeout: 20_000 }, (error, stdout, stderr) => resolve({ code: error === null ? 0 : (error as { code: number }).code, stdout, stderr }));
    });
    const label = args.map((a) => path.basename(a)).join(' ');
    t.equal(result.code, 1, `${label}: status 1`);
    t.equal(result.stdout, '', 'nothing logged: the gateway did not start connecting');
    t.match(result.stderr, expected, `one line: ${result.stderr.trim()}`);
  }
});
