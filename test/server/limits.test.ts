/**
 * Per-connection and server limits: line length, connection count, idle and partial-line
 * timeouts, clients that never read. Each offender gets one error line (where a request is
 * pending) and is closed; everyone else is unaffected.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { serverFor } from '../helpers/server-inprocess.js';
import { LineSocket, linesFor } from '../helpers/server-lines.js';

t.test('a line over max_line_bytes gets LINE_TOO_LONG after earlier responses, then the connection closes', async (t) => {
  const { port, server } = await serverFor(t, { limits: { maxLineBytes: 1024 } });
  const s = await linesFor(t, port);
  s.write('{"operation":"health","request_id":1}\n');
  s.write(`{"operation":"health","pad":"${'x'.repeat(4096)}`); // never finished, keeps coming
  t.equal(await s.readLine(), '{"operation":"health","status":true,"request_id":1}');
  const error = JSON.parse(await s.readLine());
  t.same(error, { operation: 'decode_request', status: false, reason: 'request line longer than 1024 bytes; closing the connection', code: 'LINE_TOO_LONG' });
  s.write('x'.repeat(10_000)); // more of the line: dropped, not buffered
  t.ok(await s.closesWithin(3000), 'closed');
  t.equal(server.stats.linesTooLong, 1);
  const other = await linesFor(t, port);
  t.equal((await other.request({ operation: 'health' })).status, true, 'the server is fine');
});

t.test('the connection past max_connections gets TOO_MANY_CONNECTIONS and is closed; the others work', async (t) => {
  const { port, server } = await serverFor(t, { limits: { maxConnections: 2 } });
  const a = await linesFor(t, port);
  const b = await linesFor(t, port);
  t.equal((await a.request({ operation: 'health' })).status, true);
  const c = await linesFor(t, port);
  t.same(JSON.parse(await c.readLine()), { operation: 'decode_request', status: false, reason: 'too many connections (the limit is 2)', code: 'TOO_MANY_CONNECTIONS' });
  t.ok(await c.closesWithin(3000));
  t.equal((await b.request({ operation: 'health' })).status, true);
  a.close();
  await a.closed;
  for (let i = 0; i < 100 && server.connectionCount > 1; i++) await new Promise((r) => setTimeout(r, 10));
  const d = await linesFor(t, port);
  t.equal((await d.request({ operation: 'health' })).status, true, 'a slot freed by a close is taken again');
});

t.test('idle connections are closed silently; busy ones are not', async (t) => {
  // The server shares this process's event loop: a timeout well above the busy client's 50 ms
  // interval keeps a loaded machine's stalls from making it look idle.
  const { port } = await serverFor(t, { limits: { idleTimeoutMs: 1000 } });
  // Taken before the idle connection is made: its timer starts when the server accepts it.
  const started = Date.now();
  const idle = await linesFor(t, port);
  const busy = await linesFor(t, port);
  const timer = setInterval(() => busy.write('{"operation":"health"}\n'), 50);
  t.teardown(() => clearInterval(timer));
  t.ok(await idle.closesWithin(5000), 'idle one closed');
  t.ok(Date.now() - started >= 990, 'not before the timeout');
  t.equal(idle.unread, '', 'with no line written');
  t.notOk(await busy.closesWithin(1500), 'the busy one stays, past the timeout');
});

t.test('a line started and not finished in time gets TIMEOUT and is closed (slowloris)', async (t) => {
  const { port, server } = await serverFor(t, { limits: { partialLineTimeoutMs: 300 } });
  const s = await linesFor(t, port);
  s.write('{"operation":');
  const timer = setInterval(() => s.write(' '), 50); // dribbling bytes does not keep it alive
  t.teardown(() => clearInterval(timer));
  const error = JSON.parse(await s.readLine(3000));
  t.equal(error.code, 'TIMEOUT');
  t.equal(error.operation, 'decode_request');
  clearInterval(timer);
  t.ok(await s.closesWithin(3000));
  t.equal(server.stats.timeouts, 1);
});

t.test('the partial-line timeout counts from where the line starts, not from a blank line before it', async (t) => {
  const { port } = await serverFor(t, { limits: { partialLineTimeoutMs: 600 } });
  const s = await linesFor(t, port);
  // A blank line's end arriving with the next line's start: that line starts then.
  s.write('\r');
  await sleep(400);
  s.write('\n{"operation":"hea');
  await sleep(400);
  s.write('lth","request_id":"a"}\n');
  t.same(JSON.parse(await s.readLine(3000)), { operation: 'health', status: true, request_id: 'a' }, 'answered: the line was open 400 ms of 600');
  // Blank lines, each ended in time, never add up to a timeout.
  for (let i = 0; i < 4; i++) {
    s.write(' ');
    await sleep(300);
    s.write('\n');
  }
  s.write('{"operation":"health","request_id":"b"}\n');
  t.same(JSON.parse(await s.readLine(3000)), { operation: 'health', status: true, request_id: 'b' }, 'four blank lines of 300 ms each: still open');
});

t.test('a client that never reads is disconnected; another client is unaffected', async (t) => {
  const { port, server } = await serverFor(t, { limits: { outputStallTimeoutMs: 400, maxOutputBytes: 4 * 1024 * 1024 } });
  const setup = await linesFor(t, port);
  await setup.request({ operation: 'create_stream', body: { stream_name: 'big' } });
  const payload = JSON.stringify('y'.repeat(60_000));
  for (let i = 0; i < 20; i++) await setup.request(`{"operation":"write_event","body":{"stream_name":"big","event":${payload}}}`);
  const reader = await LineSocket.connect(port);
  t.teardown(() => reader.close());
  reader.socket.pause(); // never reads
  const request = '{"operation":"get_stream_events","body":{"stream_name":"big"}}\n'.repeat(200);
  reader.socket.write(request);
  const good = await linesFor(t, port);
  const started = Date.now();
  while (Date.now() - started < 700) {
    const r = await good.request({ operation: 'get_stream_info', body: { stream_name: 'big' } });
    if (r.status !== true) t.fail('the other client failed');
  }
  for (let i = 0; i < 200 && server.stats.slowReadersDisconnected === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(server.stats.slowReadersDisconnected, 1, 'the non-reader was disconnected');
  t.equal((await good.request({ operation: 'health' })).status, true);
});
