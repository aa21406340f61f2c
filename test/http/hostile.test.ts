/**
 * Bad input on the HTTP port of a real `eventbus serve --http-port` process: huge heads, slow
 * heads and bodies, unknown paths, wrong methods, malformed requests, oversized and non-JSON
 * bodies, cross-origin posts and a connection flood each get a clear 4xx (or are closed at the
 * limit), the process stays up, and the TCP side keeps answering throughout.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { EventBusClient } from '../../src/client/index.js';
import { serverProcessFor, tempDir, type ServerProcess } from '../helpers/server-process.js';
import type { TapTest } from '../helpers/temp-dir.js';
import { rawHttp, statusOf } from './http-helpers.js';

interface Started {
  server: ServerProcess;
  httpPort: number;
  client: EventBusClient;
}

async function start(t: TapTest, config: string): Promise<Started> {
  const dir = tempDir(t, 'eventbus-http-');
  const configFile = path.join(dir, 'config.yaml');
  writeFileSync(configFile, config);
  const httpPortFile = path.join(dir, 'http-port');
  const server = await serverProcessFor(t, { args: ['--config', configFile, '--http-port', '0', '--http-port-file', httpPortFile] });
  const httpPort = Number(readFileSync(httpPortFile, 'utf8').trim());
  const client = await EventBusClient.connect({ port: server.port });
  t.teardown(() => client.close());
  await client.createStream('steady');
  return { server, httpPort, client };
}

/** The TCP side still writes and reads, and the process is alive. */
async function tcpStillServes(t: TapTest, started: Started, label: string): Promise<void> {
  const written = await started.client.writeEvent('steady', { label });
  const page = await started.client.getStreamEvents('steady', { fromOffset: written.offset });
  t.equal(page.events[0]?.offset, written.offset, `TCP still serves after ${label}`);
  t.equal(started.server.child.exitCode, null, `the process is up after ${label}`);
}

const LIMITS = 'http:\n  max_header_bytes: 4096\n  headers_timeout_ms: 500\n  request_timeout_ms: 1000\n  max_body_bytes: 1024\n  max_connections: 8\n';

t.test('each kind of bad request gets a clear 4xx and never disturbs the TCP side', async (t) => {
  const started = await start(t, LIMITS);
  const port = started.httpPort;

  const huge = await rawHttp(port, `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
  t.equal(statusOf(huge), 431, 'a head over max_header_bytes: 431');
  t.match(huge, /request head too large: its target, header names and header values come to 4096 bytes or more/);
  await tcpStillServes(t, started, 'a huge head');

  // The limit as documented (Node's count): target + header names + values under 4096, whatever
  // the method, version, separators and line ends add. 40 headers `Hnn: v` count 4 bytes each.
  const headers = Array.from({ length: 40 }, (_, i) => `H${String(i).padStart(2, '0')}: v\r\n`).join('');
  const counted = (filler: number) => `GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}X: ${'a'.repeat(filler)}\r\nConnection: close\r\n\r\n`;
  const fixed = '/metrics'.length + 'Host127.0.0.1'.length + 40 * 4 + 'X'.length + 'Connectionclose'.length;
  const under = counted(4095 - fixed);
  t.ok(under.length > 4096 + 150, 'the whole head is well over 4096 bytes');
  t.equal(statusOf(await rawHttp(port, under)), 200, 'target, names and values of 4095 bytes: answered');
  t.equal(statusOf(await rawHttp(port, counted(4096 - fixed))), 431, 'of 4096 bytes: 431');

  const longTarget = await rawHttp(port, `GET /${'x'.repeat(6000)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  t.equal(statusOf(longTarget), 431, 'a request line over the limit counts as the head');

  const slowStarted = Date.now();
  const slow = await rawHttp(port, 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n', { timeoutMs: 10_000 });
  t.equal(statusOf(slow), 408, 'a head never finished: 408');
  t.ok(Date.now() - slowStarted < 5_000, 'cut within a few seconds of the timeout');
  await tcpStillServes(t, started, 'a slow head');

  const slowBody = await rawHttp(port, 'POST /api/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na', { timeoutMs: 10_000 });
  t.equal(statusOf(slowBody), 408, 'a body never finished: 408');

  const unknown = await fetch(`http://127.0.0.1:${port}/wp-admin/setup.php`);
  t.equal(unknown.status, 404);
  t.match(await unknown.json(), { error: { status: 404, reason: /no such path: \/wp-admin\/setup.php/ } });

  const wrongMethod = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST', body: 'x' });
  t.equal(wrongMethod.status, 405);
  t.equal(wrongMethod.headers.get('allow'), 'GET, HEAD');
  const deleteAll = await fetch(`http://127.0.0.1:${port}/api/streams`, { method: 'DELETE' });
  t.equal(deleteAll.status, 400, 'DELETE /api/streams without ?name=: 400, nothing deleted');
  t.match(await deleteAll.json(), { error: { code: 'MISSING_FIELDS' } });
  const putAll = await fetch(`http://127.0.0.1:${port}/api/streams`, { method: 'PUT', body: '{}' });
  t.equal(putAll.status, 405);
  t.equal(putAll.headers.get('allow'), 'POST, DELETE');

  const garbage = await rawHttp(port, 'HELLO THERE\r\n\r\n');
  t.equal(statusOf(garbage), 400, 'not HTTP: 400');
  const binary = await rawHttp(port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]));
  t.equal(statusOf(binary), 400, 'a TLS hello on the plain port: 400');

  const bigBody = await fetch(`http://127.0.0.1:${port}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x'.repeat(5000) }) });
  t.equal(bigBody.status, 413, 'a body over max_body_bytes: 413');
  const notJson = await fetch(`http://127.0.0.1:${port}/api/streams`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'name=x' });
  t.equal(notJson.status, 415, 'a form post (what a cross-site page can send) is not JSON: 415');
  const badJson = await fetch(`http://127.0.0.1:${port}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
  t.equal(badJson.status, 400);
  t.match(await badJson.json(), { error: { code: 'INVALID_JSON' } });
  const badName = await fetch(`http://127.0.0.1:${port}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":""}' });
  t.equal(badName.status, 400);
  t.match(await badName.json(), { error: { code: 'INVALID_STREAM_NAME' } });
  const crossOrigin = await fetch(`http://127.0.0.1:${port}/api/streams`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body: '{"name":"csrf"}' });
  t.equal(crossOrigin.status, 403, 'another origin: 403');
  const badEscape = await fetch(`http://127.0.0.1:${port}/api/streams/%E0%A4%A`, { method: 'DELETE' });
  t.equal(badEscape.status, 400);
  const missing = await fetch(`http://127.0.0.1:${port}/api/streams/nope`, { method: 'DELETE' });
  t.equal(missing.status, 404);
  t.match(await missing.json(), { error: { code: 'STREAM_NOT_FOUND' } });
  for (const query of ['since=abc', 'since=-5', 'since=1.5', 'since=1e3', 'since=', 'since', 'since=5&since=6', 'since=0&since=0']) {
    const badSince = await fetch(`http://127.0.0.1:${port}/api/overview?${query}`);
    t.equal(badSince.status, 400, `?${query}: 400, not taken as 0 nor ignored`);
    t.match(await badSince.json(), { error: { code: 'INVALID_FIELD', reason: /^since must be one whole number of milliseconds/ } });
  }
  t.equal((await fetch(`http://127.0.0.1:${port}/api/overview?since=0`)).status, 200);
  const head = await fetch(`http://127.0.0.1:${port}/api/overview`, { method: 'HEAD' });
  t.same([head.status, head.headers.get('content-type'), await head.text()], [200, 'application/json; charset=utf-8', ''], 'HEAD /api/overview: the GET\'s head, no body');
  await t.rejects(started.client.getStreamInfo('csrf'), { code: 'STREAM_NOT_FOUND' }, 'nothing was created by any of them');
  await tcpStillServes(t, started, 'every bad request');

  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.match(metrics, /eventbus_http_requests_total\{route="other",status="431"\} 3/, 'refusals are counted by status');
  t.match(metrics, /eventbus_http_requests_total\{route="other",status="404"\} 1/);
});

t.test('a change refused before its body came is the only answer (the connection closes); a client gone mid-body is no error', async (t) => {
  const dir = tempDir(t, 'eventbus-http-');
  const configFile = path.join(dir, 'config.yaml');
  writeFileSync(configFile, `${LIMITS}auth:\n  ops:\n    client_id: "ops"\n    client_secret: "s3cret"\n`);
  const httpPortFile = path.join(dir, 'http-port');
  const server = await serverProcessFor(t, { args: ['--config', configFile, '--http-port', '0', '--http-port-file', httpPortFile] });
  const port = Number(readFileSync(httpPortFile, 'utf8').trim());
  const head = 'POST /api/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n';
  const startedMs = Date.now();
  const refused = await rawHttp(port, `${head}\r\n{"na`, { timeoutMs: 5_000 });
  t.equal(statusOf(refused), 401, 'no credentials: 401 at once');
  t.equal(refused.match(/^HTTP\/1\.1 /gm)?.length, 1, 'one answer only: no 408 after it on the same connection');
  t.ok(Date.now() - startedMs < 900, 'the connection closes with the answer, not at the request timeout');

  const auth = Buffer.from('ops:s3cret').toString('base64');
  await new Promise<void>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write(`${head}Authorization: Basic ${auth}\r\n\r\n{"na`);
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 100);
    });
    socket.on('error', () => {});
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.notMatch(server.output(), /unexpected error on the http port/, 'a client that went away mid-body is not logged as an error');
  t.equal(server.child.exitCode, null);
});

t.test('a flood of connections past http.max_connections is closed at the limit; TCP and HTTP keep serving', async (t) => {
  const started = await start(t, LIMITS);
  const sockets: net.Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  for (let i = 0; i < 40; i++) {
    const socket = net.connect({ host: '127.0.0.1', port: started.httpPort });
    socket.on('error', () => {});
    sockets.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  await tcpStillServes(t, started, 'an HTTP connection flood');
  // The idle ones are cut by the head timeout; then the port answers again.
  const deadline = Date.now() + 10_000;
  let status = 0;
  while (Date.now() < deadline) {
    status = await fetch(`http://127.0.0.1:${started.httpPort}/healthz`).then((r) => r.status, () => 0);
    if (status === 200) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  t.equal(status, 200, 'the HTTP port serves again once the flood is cut');
});

t.test('the HTTP port is off unless asked for, and follows the TCP exposure rules', async (t) => {
  const plain = await serverProcessFor(t);
  const client = await EventBusClient.connect({ port: plain.port });
  t.teardown(() => client.close());
  await client.health();
  t.notMatch(plain.output(), /http listening/, 'no HTTP port by default');

  const dir = tempDir(t, 'eventbus-http-');
  const refused = await serverProcessFor(t, { args: ['--http-port', '0', '--http-host', '0.0.0.0'] }).then(
    () => 'started',
    (error: Error) => error.message,
  );
  t.match(refused, /refusing to listen on 0\.0\.0\.0 without authentication/, 'a non-loopback HTTP host needs clients or --insecure-no-auth');
  t.match(refused, /bind a loopback address \(--http-host 127\.0\.0\.1\)/, 'the way out names the option that set the HTTP host');
  const configFile = path.join(dir, 'bad.yaml');
  writeFileSync(configFile, 'http:\n  port: 0\n  max_header_byte: 10\n');
  const badKey = await serverProcessFor(t, { args: ['--config', configFile] }).then(() => 'started', (error: Error) => error.message);
  t.match(badKey, /unknown setting 'http\.max_header_byte'/);
  writeFileSync(configFile, 'http:\n  port: 0\n  headers_timeout_ms: 5000\n  request_timeout_ms: 1000\n');
  const badTimeouts = await serverProcessFor(t, { args: ['--config', configFile] }).then(() => 'started', (error: Error) => error.message);
  t.match(badTimeouts, /'http\.headers_timeout_ms' \(5000\) must not be larger than 'http\.request_timeout_ms' \(1000\)/);
});
