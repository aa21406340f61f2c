/**
 * The HTTP API's paths and whom it answers: every valid stream name, `.` and `..` included,
 * round-trips through DELETE /api/streams/NAME as sent (never normalised) and through
 * DELETE /api/streams?name=NAME; an empty name is a 400 that says so. A port bound to loopback
 * answers only requests addressed to a loopback name (DNS rebinding; an absolute-form target is
 * addressed to its own authority), a request needs exactly one Host (HTTP/1.1), an unmet Expect is
 * 417, every refusal a JSON body, and `Origin: null` cannot change the store.
 */
import t from 'tap';
import { httpServerFor, rawHttp, rawRequest, statusOf } from './http-helpers.js';

const JSON_HEADERS = { 'Content-Type': 'application/json' };

t.test('every stream name round-trips through DELETE /api/streams/NAME, dot names included', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  const names = ['.', '..', '...', '.hidden', 'a b', 'a/b', 'x?y#z', '%2E', 'caf\u00e9 \u2615', 'plus+sign'];
  const cases: [string, string][] = [['.', '%2E'], ['.', '%2e'], ['..', '%2E%2E'], ['..', '%2e%2E'], ...names.slice(2).map((n): [string, string] => [n, encodeURIComponent(n)])];
  for (const [name, encoded] of cases) {
    await client.createStream(name);
    const answer = await rawRequest(server.httpPort, 'DELETE', `/api/streams/${encoded}`);
    t.equal(answer.status, 200, `DELETE /api/streams/${encoded}: 200`);
    t.same(answer.json, { deleted: name }, `deletes ${JSON.stringify(name)}`);
    await t.rejects(client.getStreamInfo(name), { code: 'STREAM_NOT_FOUND' }, `${JSON.stringify(name)} is gone`);
  }
  // Unescaped dot segments are the names too: nothing resolves them.
  await client.createStream('..');
  const plain = await rawRequest(server.httpPort, 'DELETE', '/api/streams/..');
  t.same([plain.status, plain.json], [200, { deleted: '..' }], 'DELETE /api/streams/.. as sent');
  t.equal(server.engine.listStreams().length, 0, 'every stream was deleted, and nothing else');
});

t.test('DELETE /api/streams?name=NAME deletes any stream too (the form the page sends)', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  for (const name of ['.', '..', 'a+b c', 'q&r=s']) {
    await client.createStream(name);
    const answer = await rawRequest(server.httpPort, 'DELETE', `/api/streams?name=${encodeURIComponent(name)}`);
    t.same([answer.status, answer.json], [200, { deleted: name }], `?name=${encodeURIComponent(name)}`);
  }
  const none = await rawRequest(server.httpPort, 'DELETE', '/api/streams');
  t.equal(none.status, 400, 'no name: 400');
  t.match(none.json, { error: { code: 'MISSING_FIELDS', reason: /DELETE \/api\/streams\/NAME/ } });
  const twice = await rawRequest(server.httpPort, 'DELETE', '/api/streams?name=a&name=b');
  t.match([twice.status, twice.json], [400, { error: { code: 'INVALID_FIELD' } }], 'two names: 400');
  await client.createStream('kept');
  const both = await rawRequest(server.httpPort, 'DELETE', '/api/streams/kept?name=kept');
  t.match([both.status, both.json], [400, { error: { code: 'INVALID_FIELD', reason: /named twice/ } }], 'a name in the path and the query: 400');
  t.equal((await client.getStreamInfo('kept')).name, 'kept', 'nothing deleted');
});

t.test('an empty name is a 400 saying so, not STREAM_NOT_FOUND; other paths under /api/streams/ are unknown', async (t) => {
  const server = await httpServerFor(t);
  for (const target of ['/api/streams/', '/api/streams?name=']) {
    const answer = await rawRequest(server.httpPort, 'DELETE', target);
    t.equal(answer.status, 400, `${target}: 400`);
    t.match(answer.json, { error: { code: 'INVALID_STREAM_NAME', reason: /names no stream|name is empty/ } });
  }
  const deeper = await rawRequest(server.httpPort, 'DELETE', '/api/streams/a/b');
  t.equal(deeper.status, 404, 'a slash in a name must be percent-encoded');
  t.match(deeper.json, { error: { reason: /no such path: \/api\/streams\/a\/b/ } });
  const dotted = await rawRequest(server.httpPort, 'GET', '/api/streams/../overview');
  t.equal(dotted.status, 404, 'dot segments are never resolved, on any path');
  const badEscape = await rawRequest(server.httpPort, 'DELETE', '/api/streams/%E0%A4%A');
  t.match([badEscape.status, badEscape.json], [400, { error: { code: 'INVALID_STREAM_NAME' } }]);
  const overview = await rawRequest(server.httpPort, 'GET', '/api/overview?since=0');
  t.equal(overview.status, 200, 'queries still read');
  const absolute = await rawRequest(server.httpPort, 'GET', `http://127.0.0.1:${server.httpPort}/healthz`);
  t.equal(absolute.status, 200, 'an absolute-form target is routed on its path');
});

t.test('bound to loopback, only requests addressed to a loopback name are answered (DNS rebinding)', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  await client.createStream('victim');
  const port = server.httpPort;
  const evil = `evil.example:${port}`;
  const rebound = await rawRequest(port, 'POST', '/api/streams', { host: evil, headers: { ...JSON_HEADERS, Origin: `http://${evil}` }, body: '{"name":"rebind"}' });
  t.equal(rebound.status, 403, 'a create from a rebound name: 403');
  t.match(rebound.json, { error: { status: 403, reason: /evil\.example.*loopback.*DNS rebinding/ } });
  await t.rejects(client.getStreamInfo('rebind'), { code: 'STREAM_NOT_FOUND' }, 'nothing created');
  const deleted = await rawRequest(port, 'DELETE', '/api/streams/victim', { host: evil, headers: { Origin: `http://${evil}` } });
  t.equal(deleted.status, 403, 'a delete from a rebound name: 403');
  t.equal((await client.getStreamInfo('victim')).name, 'victim', 'nothing deleted');
  for (const path of ['/api/overview', '/metrics', '/', '/healthz', '/readyz', '/nowhere']) {
    t.equal((await rawRequest(port, 'GET', path, { host: evil })).status, 403, `GET ${path} for another name: 403`);
  }
  t.equal((await rawRequest(port, 'GET', '/api/overview', { host: 'evil.example' })).status, 403, 'without a port too');
  t.equal((await rawRequest(port, 'GET', '/api/overview', { host: '127.0.0.1.evil.example' })).status, 403, 'a name that only starts like an address');

  for (const host of [`localhost:${port}`, 'localhost', `LocalHost:${port}`, `127.0.0.1:${port}`, `127.8.9.10:${port}`, `[::1]:${port}`, '[::1]']) {
    t.equal((await rawRequest(port, 'GET', '/api/overview', { host })).status, 200, `Host: ${host} is answered`);
  }
  const made = await rawRequest(port, 'POST', '/api/streams', { host: `localhost:${port}`, headers: { ...JSON_HEADERS, Origin: `http://localhost:${port}` }, body: '{"name":"local"}' });
  t.equal(made.status, 201, 'the page from localhost still creates');
  const http10 = await rawHttp(port, 'GET /healthz HTTP/1.0\r\n\r\n');
  t.equal(statusOf(http10), 200, 'no Host at all (HTTP/1.0, never a browser) is answered');
});

t.test('RFC 9112: no Host on HTTP/1.1, or two, is 400 JSON; an absolute-form target is addressed to its own authority', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  const port = server.httpPort;
  const answer = async (text: string) => {
    const raw = await rawHttp(port, text);
    const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    return { status: statusOf(raw), json: body === '' ? undefined : (JSON.parse(body) as unknown) };
  };
  const noHost = await answer('GET /healthz HTTP/1.1\r\n\r\n');
  t.same(noHost, { status: 400, json: { error: { status: 400, reason: 'an HTTP/1.1 request must have a Host header' } } }, 'HTTP/1.1 without Host: 400 with a JSON body');
  const twoHosts = await answer(`GET /healthz HTTP/1.1\r\nHost: localhost:${port}\r\nHost: evil.example\r\n\r\n`);
  t.match(twoHosts, { status: 400, json: { error: { status: 400, reason: /2 Host headers/ } } }, 'two Host headers: 400');
  const twoLocal = await answer(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nhost: localhost\r\n\r\n`);
  t.equal(twoLocal.status, 400, 'two Host headers, even the same: 400');
  const created = await answer(`POST /api/streams HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{"name":"two"}`);
  t.equal(created.status, 400, 'a change with two Host headers: 400');
  await t.rejects(client.getStreamInfo('two'), { code: 'STREAM_NOT_FOUND' }, 'nothing created');

  const absoluteEvil = await answer(`GET http://evil.example/healthz HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n`);
  t.match(absoluteEvil, { status: 403, json: { error: { reason: /request for host "evil\.example" refused/ } } }, 'absolute-form for another name: 403, whatever Host says');
  const rebind = await answer(`POST http://evil.example:${port}/api/streams HTTP/1.1\r\nHost: localhost:${port}\r\nOrigin: http://evil.example:${port}\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"name":"abs1"}`);
  t.equal(rebind.status, 403, 'a change in absolute-form for another name: 403');
  const absoluteLocal = await answer(`GET http://localhost:${port}/healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
  t.equal(absoluteLocal.status, 200, 'absolute-form for localhost: answered (Host is ignored, RFC 9112 §3.2.2)');
  const sameOrigin = await answer(`POST http://127.0.0.1:${port}/api/streams HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: http://127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{"name":"abs2"}`);
  t.equal(sameOrigin.status, 201, 'the Origin is compared with the absolute target\'s authority');
  await t.rejects(client.getStreamInfo('abs1'), { code: 'STREAM_NOT_FOUND' });
});

t.test('an Expect the server does not meet is 417 JSON; 100-continue is met', async (t) => {
  const server = await httpServerFor(t);
  const port = server.httpPort;
  const raw = await rawHttp(port, `POST /api/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: something-else\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"name":"e"}`);
  t.equal(statusOf(raw), 417);
  t.match(raw, /content-type: application\/json/i);
  t.match(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), { error: { status: 417, reason: /Expect: "something-else" is not supported/ } });
  t.same(server.engine.listStreams(), [], 'nothing created');
  const continued = await rawHttp(port, `POST /api/streams HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{"name":"c"}`);
  t.match(continued, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /, '100-continue: 100, then the answer');
});

t.test('Origin: null cannot change the store', async (t) => {
  const server = await httpServerFor(t);
  const client = await server.client();
  const port = server.httpPort;
  const created = await rawRequest(port, 'POST', '/api/streams', { headers: { ...JSON_HEADERS, Origin: 'null' }, body: '{"name":"sandboxed"}' });
  t.equal(created.status, 403, 'POST with Origin: null: 403');
  t.match(created.json, { error: { reason: /cross-origin request refused/ } });
  await t.rejects(client.getStreamInfo('sandboxed'), { code: 'STREAM_NOT_FOUND' });
  await client.createStream('kept');
  t.equal((await rawRequest(port, 'DELETE', '/api/streams/kept', { headers: { Origin: 'null' } })).status, 403, 'DELETE with Origin: null: 403');
  t.equal((await rawRequest(port, 'POST', '/api/snapshots', { headers: { ...JSON_HEADERS, Origin: 'null' }, body: '{}' })).status, 403, 'snapshot with Origin: null: 403');
  t.equal((await client.getStreamInfo('kept')).name, 'kept');
  const sameOrigin = await rawRequest(port, 'POST', '/api/streams', { headers: { ...JSON_HEADERS, Origin: `http://127.0.0.1:${port}` }, body: '{"name":"mine"}' });
  t.equal(sameOrigin.status, 201, 'its own origin is accepted');
  const noOrigin = await rawRequest(port, 'POST', '/api/streams', { headers: JSON_HEADERS, body: '{"name":"curl"}' });
  t.equal(noOrigin.status, 201, 'no Origin (curl, scripts) is accepted');
});

t.test('bound to a non-loopback address, any Host is answered; the Origin must still be the Host', async (t) => {
  const server = await httpServerFor(t, { insecureNoAuth: true, httpOptions: { host: '0.0.0.0' } });
  const port = server.httpPort;
  t.equal((await rawRequest(port, 'GET', '/api/overview', { host: `eventbus.internal:${port}` })).status, 200, 'a name of this machine the server cannot know');
  const crossSite = await rawRequest(port, 'POST', '/api/streams', { host: `eventbus.internal:${port}`, headers: { ...JSON_HEADERS, Origin: 'http://evil.example' }, body: '{"name":"x"}' });
  t.equal(crossSite.status, 403, 'another origin is still refused');
});
