/**
 * What a client connecting during shutdown meets, as operations.md says, through a real
 * `eventbus serve` process: the listener closes at SIGTERM, so a new TCP connection is refused
 * by the OS (ECONNREFUSED, counted nowhere); only a TLS connection accepted before the signal
 * whose handshake completes after it is answered SHUTTING_DOWN and closed, counted in
 * eventbus_connections_refused_total{reason="limit"}, which /metrics shows while the TCP side drains.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { serverProcessFor, tempDir } from '../helpers/server-process.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

async function refusedLimit(httpPort: number): Promise<string | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return /^eventbus_connections_refused_total\{reason="limit"\} (\d+)$/m.exec(text)?.[1];
}

t.test('during shutdown: new TCP connections are refused by the OS; a TLS handshake finishing then is answered SHUTTING_DOWN', { skip: hasOpenssl ? false : 'openssl is needed to make a test certificate' }, async (t) => {
  const dir = tempDir(t);
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const httpPortFile = path.join(dir, 'http-port');
  const server = await serverProcessFor(t, { args: ['--tls-cert', cert, '--tls-key', key, '--http-port', '0', '--http-port-file', httpPortFile] });
  const httpPort = Number(readFileSync(httpPortFile, 'utf8').trim());

  // A TLS client that never reads its answers keeps the shutdown draining (shutdown_timeout_ms, 10 s).
  const stuck = tls.connect({ port: server.port, host: '127.0.0.1', ca: readFileSync(cert) });
  await new Promise((resolve, reject) => stuck.once('secureConnect', resolve).once('error', reject));
  stuck.on('error', () => {});
  t.teardown(() => stuck.destroy());
  stuck.write('{"operation":"create_stream","body":{"stream_name":"big"}}\n');
  const payload = JSON.stringify('y'.repeat(60_000));
  for (let i = 0; i < 20; i++) stuck.write(`{"operation":"write_event","body":{"stream_name":"big","event":${payload}}}\n`);
  await sleep(300);
  stuck.pause();
  stuck.write('{"operation":"get_stream_events","body":{"stream_name":"big"}}\n'.repeat(200));
  // Accepted before the signal, its handshake not begun.
  const early = await new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({ port: server.port, host: '127.0.0.1' });
    socket.once('connect', () => resolve(socket)).once('error', reject);
  });
  await sleep(300);
  t.equal(await refusedLimit(httpPort), '0', 'nothing refused yet');

  server.child.kill('SIGTERM');
  await sleep(300);
  t.equal(server.child.exitCode, null, 'still draining');
  t.equal(await connectError(server.port), 'ECONNREFUSED', 'a new connection: refused by the OS, the listener is closed');

  const late = tls.connect({ socket: early, ca: readFileSync(cert), servername: 'localhost' });
  const line = await new Promise<string>((resolve, reject) => {
    let text = '';
    late.on('data', (chunk: Buffer) => (text += chunk.toString()));
    late.once('close', () => resolve(text));
    late.once('error', reject);
  });
  t.match(JSON.parse(line.trim()), { status: false, code: 'SHUTTING_DOWN' }, 'a handshake finished during shutdown: one SHUTTING_DOWN line, then closed');
  t.equal(await refusedLimit(httpPort), '1', 'counted under reason="limit"');
});
