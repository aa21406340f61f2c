/**
 * Protected defaults, on the real `eventbus serve`: loopback by default and nowhere else without
 * credentials; secrets never in the logs, even at trace; failed auth counted and logged; data
 * files readable by their owner only, whatever the umask; TLS with real TLS clients (openssl
 * s_client and Node's tls), not only our client library.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { EventBusServer } from '../../src/server/server.js';
import { Engine } from '../../src/storage/engine.js';
import { capturingLogger } from '../helpers/logger.js';
import { serverFor } from '../helpers/server-inprocess.js';
import { LineSocket } from '../helpers/server-lines.js';
import { MAIN, serverProcessFor, tempDir } from '../helpers/server-process.js';

const env = { ...process.env };
for (const key of Object.keys(env)) if (key.startsWith('EVENTBUS_')) delete env[key];

/** A non-loopback IPv4 address of this machine, if it has one. */
function externalAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

function connects(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

t.test('the default bind is 127.0.0.1: reachable on loopback, refused on the machine\'s other addresses', async (t) => {
  const server = await serverProcessFor(t, { env, args: ['--log-level', 'info'] });
  const output = await server.waitForOutput(/"msg":"listening"/);
  const listening = output.split('\n').filter((l) => l.includes('"msg":"listening"')).map((l) => JSON.parse(l));
  t.equal(listening[0]?.host, '127.0.0.1', 'it says where it listens');
  t.equal(await connects('127.0.0.1', server.port), 'connected');
  const external = externalAddress();
  if (external === undefined) t.comment('no non-loopback address on this machine: not checked');
  else t.equal(await connects(external, server.port), 'ECONNREFUSED', `${external}:${server.port} is refused`);
});

t.test('a non-loopback address without clients refuses to start, however it is given, and says how to fix it', async (t) => {
  const dir = tempDir(t);
  const external = externalAddress();
  const hostConfig = path.join(dir, 'host.yaml');
  writeFileSync(hostConfig, 'server:\n  host: 0.0.0.0\n');
  const attempts: [string, string[], NodeJS.ProcessEnv][] = [
    ['--host 0.0.0.0', ['--host', '0.0.0.0'], {}],
    ['--host ::', ['--host', '::'], {}],
    ['--host [::]', ['--host', '[::]'], {}],
    ...(external === undefined ? [] : [[`--host ${external}`, ['--host', external], {}] as [string, string[], NodeJS.ProcessEnv]]),
    ['EVENTBUS_HOST=0.0.0.0', [], { EVENTBUS_HOST: '0.0.0.0' }],
    ['server.host in the config file', ['--config', hostConfig], {}],
    ['EVENTBUS_INSECURE_NO_AUTH=false', ['--host', '0.0.0.0'], { EVENTBUS_INSECURE_NO_AUTH: 'false' }],
  ];
  for (const [label, args, extra] of attempts) {
    const data = path.join(dir, `never-${label.replace(/\W+/g, '_')}`);
    const result = spawnSync(process.execPath, [MAIN, 'serve', '--port', '0', '--data', data, ...args], { encoding: 'utf8', timeout: 10_000, env: { ...env, ...extra }, cwd: dir });
    t.equal(result.status, 1, `${label}: exit 1`);
    t.match(result.stderr, /^eventbus: refusing to listen on \S+ without authentication/, `${label}: says why`);
    t.match(result.stderr, /client_id: \.\.\., client_secret: \.\.\./, `${label}: says how to configure clients`);
    t.match(result.stderr, /--insecure-no-auth/, `${label}: names the explicit way out`);
    t.notOk(existsSync(data), `${label}: nothing created`);
  }
  for (const host of ['localhost', '127.0.0.2', '::1']) {
    const s = await serverProcessFor(t, { env, args: ['--host', host] }).catch((e: Error) => e);
    if (s instanceof Error) {
      t.match(s.message, /EADDRNOTAVAIL|EAFNOSUPPORT/, `${host}: not available here`);
      continue;
    }
    t.equal(await s.stop(), 0, `${host} is loopback: starts without clients`);
  }
  for (const [label, args, extra] of [
    ['--insecure-no-auth', ['--host', '0.0.0.0', '--insecure-no-auth'], {}],
    ['EVENTBUS_INSECURE_NO_AUTH=1', ['--host', '0.0.0.0'], { EVENTBUS_INSECURE_NO_AUTH: '1' }],
  ] as [string, string[], NodeJS.ProcessEnv][]) {
    const s = await serverProcessFor(t, { env: { ...env, ...extra }, args });
    t.equal(await s.stop(), 0, `${label} starts on 0.0.0.0`);
  }
  // Embedded: the same rule.
  const engine = await Engine.open({ dataDir: path.join(dir, 'embedded') });
  t.teardown(() => engine.close());
  await t.rejects(EventBusServer.start({ engine, host: '0.0.0.0', port: 0 }), { code: 'INVALID_FIELD', reason: /refusing to listen on 0\.0\.0\.0 without authentication/ });
  const open = await EventBusServer.start({ engine, host: '0.0.0.0', port: 0, insecureNoAuth: true });
  await open.close();
  const authed = await EventBusServer.start({ engine, host: '0.0.0.0', port: 0, clients: { a: { client_id: 'a', client_secret: 'b' } } });
  await authed.close();
  t.pass('embedded: refused, then allowed with insecureNoAuth or clients');
});

t.test('secrets never reach the logs, even at trace; failed auth is counted and logged', async (t) => {
  const nonce = randomBytes(6).toString('hex');
  const secret = `S3cret-${nonce}`;
  const wrong = `Wr0ng-${nonce}`;
  const dir = tempDir(t);
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, `auth:\n  app:\n    client_id: "app-id"\n    client_secret: "${secret}"\nserver:\n  max_line_bytes: 4096\n`);
  const server = await serverProcessFor(t, { env, args: ['--config', config, '--log-level', 'trace'] });
  const good = { client_id: 'app-id', client_secret: secret };
  const bad = { client_id: 'app-id', client_secret: wrong };
  let refused = 0;
  for (let c = 0; c < 3; c++) {
    const s = await LineSocket.connect(server.port);
    for (let i = 0; i < 4; i++) {
      const r = await s.request({ operation: 'create_stream', auth: c === 2 ? { client_id: secret, client_secret: wrong } : bad, body: { stream_name: 'x' } });
      t.equal(r.code, 'UNAUTHORIZED');
      refused += 1;
    }
    t.equal((await s.request({ operation: 'create_stream', auth: good, body: { stream_name: `s${c}` } })).status, true);
    // Secrets in lines the server cannot read, and in a line too long.
    await s.request(`{"operation":"create_stream","auth":{"client_secret":"${secret}"`);
    s.write(Buffer.concat([Buffer.from(`{"auth":{"client_secret":"${wrong}"},"x":"`), Buffer.from([0xff]), Buffer.from('"}\n')]));
    await s.readLine();
    s.close();
  }
  const long = await LineSocket.connect(server.port);
  long.write(`{"operation":"health","auth":{"client_secret":"${secret}"},"pad":"${'p'.repeat(5000)}"}\n`);
  t.equal(JSON.parse(await long.readLine()).code, 'LINE_TOO_LONG');
  long.close();
  t.equal(await server.stop('SIGTERM'), 0);
  const output = server.output();
  const records = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(records.some((r) => r.level === 10 || r.level === 20), `trace and debug lines were written (${records.length} lines)`);
  t.notOk(output.includes(secret), 'the configured secret appears nowhere in the output');
  t.notOk(output.includes(wrong), 'the wrong secret a client sent appears nowhere');
  const warnings = records.filter((r) => r.msg === 'request refused: unknown client credentials');
  t.equal(warnings.length, 3, 'one warning per connection that failed');
  t.same(warnings.map((w) => [w.level, typeof w.remote, w.authFailures]), [[40, 'string', 1], [40, 'string', 5], [40, 'string', 9]], 'at warn, with the remote address and the running count');
  // The third connection sent the secret as its client_id (fields swapped): not a configured id, not logged.
  t.same(warnings.map((w) => w.clientId), ['app-id', 'app-id', null], 'the client id is logged only when it is a configured one');
  const closed = records.find((r) => r.msg === 'server closed');
  t.equal(closed?.authFailures, refused, `the total at shutdown: ${refused} refused requests`);
});

t.test('failed auth in process: every refusal counted, one warning per connection', async (t) => {
  const logger = capturingLogger();
  const { port, server } = await serverFor(t, { clients: { a: { client_id: 'a', client_secret: 'right' } }, logger });
  for (let c = 0; c < 5; c++) {
    const s = await LineSocket.connect(port);
    for (let i = 0; i < 10; i++) await s.request({ operation: 'get_stream_info', auth: { client_id: 'a', client_secret: `nope${i}` }, body: { stream_name: 'x' } });
    s.close();
  }
  t.equal(server.stats.authFailures, 50);
  const warnings = logger.find('warn', 'unknown client credentials');
  t.equal(warnings.length, 5);
  t.notOk(JSON.stringify(logger.records).includes('nope'), 'no secret in any record');
});

t.test('data files are created readable by their owner only (0600, directories 0700), even with umask 000', async (t) => {
  const dir = tempDir(t);
  const dataDir = path.join(dir, 'data');
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, `storage:\n  segment_size_bytes: 4096\nsnapshots:\n  root: ${path.join(dir, 'snapshots')}\n`);
  const server = await serverProcessFor(t, { env, dataDir, cwd: dir, args: ['--config', config], wrapper: ['sh', '-c', 'umask 000 && exec "$@"', 'sh'] });
  t.match(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'), /^Umask:\s+0000$/m, 'the server runs with umask 000');
  const c = await EventBusClient.connect({ port: server.port });
  for (const name of ['a', 'b', 'gone']) await c.createStream(name);
  for (let i = 0; i < 100; i++) await c.writeEvent(i % 2 === 0 ? 'a' : 'b', { i, pad: 'p'.repeat(100) });
  const delivered = await c.processEvents('a', { maxEvents: 10 });
  await c.markEvent(delivered.events.map((e) => e.id), 1);
  await c.deleteStream('gone');
  const snapshot = await c.snapshot('nightly/one');
  await c.close();
  t.equal(await server.stop(), 0);
  const restored = path.join(dir, 'restored');
  execFileSync('sh', ['-c', `umask 000 && exec "${process.execPath}" "${MAIN}" restore "${path.join(dir, 'snapshots', snapshot.path)}" --data "${restored}"`], { stdio: 'ignore' });
  const offline = path.join(dir, 'offline');
  execFileSync('sh', ['-c', `umask 000 && exec "${process.execPath}" "${MAIN}" snapshot --data "${dataDir}" --output "${offline}"`], { stdio: 'ignore' });

  const wrong: string[] = [];
  let files = 0;
  let dirs = 0;
  const walk = (p: string) => {
    const st = statSync(p);
    const mode = st.mode & 0o777;
    if (st.isDirectory()) {
      dirs += 1;
      if (mode !== 0o700) wrong.push(`${path.relative(dir, p)}/ ${mode.toString(8)}`);
      for (const e of readdirSync(p)) walk(path.join(p, e));
    } else {
      files += 1;
      if (mode !== 0o600) wrong.push(`${path.relative(dir, p)} ${mode.toString(8)}`);
    }
  };
  for (const root of [dataDir, path.join(dir, 'snapshots'), restored, offline]) walk(root);
  t.ok(files > 20, `${files} files and ${dirs} directories checked (data, snapshot_db, restore, offline snapshot)`);
  t.same(wrong, [], 'every file is 0600 and every directory 0700');
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

t.test('TLS: the same protocol to real TLS clients (openssl s_client, Node tls); plaintext and old versions refused', { skip: hasOpenssl ? false : 'needs openssl' }, async (t) => {
  const dir = tempDir(t);
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const server = await serverProcessFor(t, { env, args: ['--tls-cert', cert, '--tls-key', key] });

  // openssl s_client: a TLS client that shares no code with Node.
  const session = [
    '{"operation":"health","request_id":"tls"}',
    '{"operation":"create_stream","body":{"stream_name":"secure"}}',
    '{"operation":"write_event","body":{"stream_name":"secure","event":{"over":"openssl","n":12345678901234567890}}}',
    '{"operation":"get_stream_events","body":{"stream_name":"secure"}}',
    'not json',
    '{"operation":"exit"}',
  ].join('\n') + '\n';
  const openssl = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-CAfile', cert, '-verify_return_error', '-quiet', '-servername', 'localhost'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  openssl.stdout.on('data', (d: Buffer) => (out += d.toString()));
  openssl.stderr.on('data', (d: Buffer) => (err += d.toString()));
  openssl.stdin.write(session);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => openssl.kill('SIGKILL'), 15_000);
    openssl.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const lines = out.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 6, `openssl s_client got 6 answers (exit ${code}; stderr: ${err.trim().slice(0, 300)})`);
  t.equal(lines[0], '{"operation":"health","status":true,"request_id":"tls"}');
  t.equal(JSON.parse(lines[1]!).body.stream.name, 'secure');
  t.equal(JSON.parse(lines[2]!).status, true);
  t.ok(lines[3]!.includes('"body":{"over":"openssl","n":12345678901234567890}'), 'the event comes back byte for byte');
  t.equal(lines[4], '{"operation":"decode_request","status":false,"context":{"position":1,"expected":"\'null\'","found":"\'o\'"},"reason":"invalid json provided","code":"INVALID_JSON"}');
  t.equal(lines[5], '{"operation":"exit","status":true}');

  // Node's tls, raw: a request split inside a multi-byte character, pipelined requests, exit.
  const socket = tls.connect({ port: server.port, host: '127.0.0.1', ca: readFileSync(cert), servername: 'localhost' });
  await new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  t.equal(socket.authorized, true, 'the certificate verifies');
  t.ok(['TLSv1.2', 'TLSv1.3'].includes(socket.getProtocol() ?? ''), `protocol ${socket.getProtocol()}`);
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString()));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  const line = Buffer.from('{"operation":"get_stream_info","body":{"stream_name":"secure"},"request_id":"é"}\n');
  socket.write(line.subarray(0, line.indexOf(0xc3) + 1));
  await new Promise((r) => setTimeout(r, 50));
  socket.write(Buffer.concat([line.subarray(line.indexOf(0xc3) + 1), Buffer.from('{"operation":"health"}\n{"operation":"exit"}\n')]));
  await closed;
  const answers = data.split('\n').filter((l) => l !== '');
  t.equal(answers.length, 3);
  t.equal(JSON.parse(answers[0]!).body.stream.event_count, 1);
  t.equal(JSON.parse(answers[0]!).request_id, 'é');
  t.same(answers.slice(1), ['{"operation":"health","status":true}', '{"operation":"exit","status":true}']);

  // Plaintext to the TLS port: no protocol answer, closed; TLS 1.1: refused.
  const plain = await LineSocket.connect(server.port);
  plain.write('{"operation":"health"}\n');
  t.ok(await plain.closesWithin(5000), 'a plaintext client is closed');
  t.notOk(plain.unread.includes('"status"'), 'and gets no protocol answer');
  const old = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-tls1_1', '-quiet'], { input: '{"operation":"health"}\n', encoding: 'utf8', timeout: 10_000 });
  t.notOk(old.stdout.includes('"status":true'), `TLS 1.1 gets nothing (exit ${old.status})`);
  const c = await EventBusClient.connect({ port: server.port, tls: { ca: readFileSync(cert) } });
  await c.health();
  await c.close();
  t.equal(await server.stop(), 0, 'the server is fine and stops cleanly');
});

t.test('TLS files that cannot be used: one line naming the option and the file, before anything is opened', { skip: hasOpenssl ? false : 'needs openssl' }, async (t) => {
  const dir = tempDir(t);
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const otherKey = path.join(dir, 'other-key.pem');
  const garbage = path.join(dir, 'garbage.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  execFileSync('openssl', ['genrsa', '-out', otherKey, '2048'], { stdio: 'ignore' });
  writeFileSync(garbage, 'not a certificate\n');
  const cases: [string, string, RegExp][] = [
    [path.join(dir, 'missing.pem'), key, /^eventbus: cannot read the TLS certificate \S*missing\.pem given by --tls-cert: no such file \(ENOENT\)$/],
    [cert, dir, /^eventbus: cannot read the TLS key \S+ given by --tls-key: a directory, not a file \(EISDIR\)$/],
    [garbage, key, /^eventbus: the TLS certificate \S*garbage\.pem \(--tls-cert\) and key \S*key\.pem \(--tls-key\) cannot be used: .+/],
    [cert, otherKey, /^eventbus: the TLS certificate \S*cert\.pem \(--tls-cert\) and key \S*other-key\.pem \(--tls-key\) cannot be used: .+/],
  ];
  for (const [certFile, keyFile, expected] of cases) {
    const data = path.join(dir, `data-${path.basename(certFile)}-${path.basename(keyFile)}`);
    const run = spawnSync(process.execPath, [MAIN, 'serve', '--port', '0', '--data', data, '--tls-cert', certFile, '--tls-key', keyFile], { env, encoding: 'utf8', timeout: 20_000 });
    t.equal(run.status, 1, `${path.basename(certFile)} + ${path.basename(keyFile)}: exit status 1`);
    const lines = run.stderr.trim().split('\n');
    t.equal(lines.length, 1, `one line on stderr: ${run.stderr.trim()}`);
    t.match(lines[0], expected);
    t.equal(run.stdout, '', 'nothing logged: the server did not start');
    t.notOk(existsSync(data), 'the data directory was not created');
  }
});

t.test('a TLS file that cannot be read is named with where it was given: the option, the variable or the config key and file', { skip: hasOpenssl ? false : 'needs openssl' }, async (t) => {
  const dir = tempDir(t);
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  const config = path.join(dir, 'tls.yaml');
  writeFileSync(config, `server:\n  tls:\n    cert: ${cert}\n    key: certs/missing-key.pem\n`);
  const missingKey = path.join(dir, 'certs', 'missing-key.pem');
  const cases: [string, string[], NodeJS.ProcessEnv, string][] = [
    ['EVENTBUS_TLS_CERT', ['--tls-key', key], { EVENTBUS_TLS_CERT: path.join(dir, 'env-cert.pem') }, `cannot read the TLS certificate ${path.join(dir, 'env-cert.pem')} given by EVENTBUS_TLS_CERT: no such file (ENOENT)`],
    // A relative path is read from the working directory: the line shows where that led.
    ['server.tls.key', ['--config', config], {}, `cannot read the TLS key certs/missing-key.pem (${missingKey}) given by server.tls.key in ${config}: no such file (ENOENT)`],
    ['--tls-key over the config file', ['--config', config, '--tls-key', path.join(dir, 'flag-key.pem')], {}, `cannot read the TLS key ${path.join(dir, 'flag-key.pem')} given by --tls-key: no such file (ENOENT)`],
  ];
  for (const [label, args, extra, expected] of cases) {
    const data = path.join(dir, `data-${label.replace(/\W+/g, '_')}`);
    const run = spawnSync(process.execPath, [MAIN, 'serve', '--port', '0', '--data', data, ...args], { env: { ...env, ...extra }, cwd: dir, encoding: 'utf8', timeout: 20_000 });
    t.equal(run.status, 1, `${label}: exit status 1, a failure to start`);
    t.equal(run.stderr, `eventbus: ${expected}\n`, `${label}: one line naming where the path was given`);
    t.equal(run.stdout, '', `${label}: nothing logged`);
    t.notOk(existsSync(data), `${label}: the data directory was not created`);
  }
});
