/**
 * The original README's sample session (shared/seed/event-bus-in-go.md), line by line against
 * the real `eventbus serve` process, with the responses the original's clients expect.
 */
import path from 'node:path';
import t, { type Test } from 'tap';
import { LineSocket } from '../helpers/server-lines.js';
import { startServerProcess, tempDir, type ServerProcess } from '../helpers/server-process.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function checkCreated(t: Test, line: string, name: string): void {
  const response = JSON.parse(line);
  t.same(Object.keys(response), ['operation', 'status', 'body'], 'field order: operation, status, body');
  t.equal(response.operation, 'create_stream');
  t.equal(response.status, true);
  t.same(Object.keys(response.body.stream), ['id', 'name', 'created_at']);
  t.match(response.body.stream.id, UUID);
  t.equal(response.body.stream.name, name);
  t.match(response.body.stream.created_at, RFC3339_UTC);
  t.ok(Math.abs(Date.parse(response.body.stream.created_at) - Date.now()) < 5000, 'created_at is now');
}

let server: ServerProcess;
t.teardown(() => server.stop('SIGKILL').then(() => undefined)); // first: before its directory goes
// The store and its snapshots (a snapshots directory beside the data directory) live in a
// temporary directory of their own, removed at the end.
const home = tempDir(t, 'eventbus-session-');
t.before(async () => {
  server = await startServerProcess({ dataDir: path.join(home, 'data'), cwd: home });
});

t.test('the seed session, line by line', async (t) => {
  const s = await LineSocket.connect(server.port);
  t.teardown(() => s.close());
  const send = async (line: string) => {
    s.write(`${line}\n`);
    return s.readLine();
  };
  const notFound = (operation: string, name: string) => `{"operation":"${operation}","status":false,"reason":"stream '${name}' not found","code":"STREAM_NOT_FOUND"}`;

  t.equal(await send('{"operation": "health"}'), '{"operation":"health","status":true}');
  s.write('\n'); // the blank lines of the sample get no response
  checkCreated(t, await send('{"operation": "create_stream", "body": {"stream_name": "steve"}}'), 'steve');
  checkCreated(t, await send('{"operation": "create_stream", "body": {"stream_name": "john"}}'), 'john');
  checkCreated(t, await send('{"operation": "create_stream", "body": {"stream_name": "mike"}}'), 'mike');
  s.write('\n');
  t.equal(await send('{"operation": "delete_stream", "body": {"stream_name": "steve"}}'), '{"operation":"delete_stream","status":true}');
  t.equal(await send('{"operation": "delete_stream", "body": {"stream_name": "john"}}'), '{"operation":"delete_stream","status":true}');
  s.write('\n');
  t.equal(await send('{"operation": "get_stream_info", "body": {"stream_name": "steve"}}'), notFound('get_stream_info', 'steve'));
  t.equal(await send('{"operation": "get_stream_info", "body": {"stream_name": "john"}}'), notFound('get_stream_info', 'john'));
  s.write('\n');
  for (let i = 1; i <= 5; i++) {
    t.equal(await send(`{"operation": "write_event", "body": {"stream_name": "steve", "event": {"e${i}": "event ${i} value"}}}`), notFound('write_event', 'steve'));
  }
  s.write('\n');
  for (let i = 1; i <= 2; i++) {
    t.equal(await send(`{"operation": "write_event", "body": {"stream_name": "john", "event": {"e${i}": "event ${i} value"}}}`), notFound('write_event', 'john'));
  }
  s.write('\n');
  t.equal(await send('{"operation": "process_events", "body": {"stream_name": "steve"}}'), notFound('process_events', 'steve'));
  t.equal(await send('{"operation": "process_events", "body": {"stream_name": "john"}}'), notFound('process_events', 'john'));
  s.write('\n');
  t.equal(await send('{"operation": "retry_events", "body": {"stream_name": "steve"}}'), notFound('retry_events', 'steve'));
  s.write('\n');
  const snapshot = JSON.parse(await send('{"operation": "snapshot_db", "body": {"output": "backups"}}'));
  t.same(Object.keys(snapshot), ['operation', 'status', 'body']);
  t.equal(snapshot.status, true);
  t.match(snapshot.body.snapshot.path, /^backups\/snapshot-/);
  t.equal(snapshot.body.snapshot.streams, 1, 'only mike is left');
  s.write('\n');
  t.equal(await send('{"operation": "exit"}'), '{"operation":"exit","status":true}');
  t.ok(await s.closesWithin(2000), 'exit closes the connection');
  t.equal(s.unread, '', 'nothing else was written');
});

t.test('the same samples on a live stream: writes, process, retry', async (t) => {
  const s = await LineSocket.connect(server.port);
  t.teardown(() => s.close());
  const send = async (line: string) => {
    s.write(`${line}\n`);
    return JSON.parse(await s.readLine());
  };
  checkCreated(t, JSON.stringify(await send('{"operation": "create_stream", "body": {"stream_name": "steve"}}')), 'steve');
  const ids: string[] = [];
  for (let i = 1; i <= 5; i++) {
    const response = await send(`{"operation": "write_event", "body": {"stream_name": "steve", "event": {"e${i}": "event ${i} value"}}}`);
    t.same(Object.keys(response), ['operation', 'status', 'body']);
    t.same(Object.keys(response.body.event), ['id', 'offset', 'created_at']);
    t.equal(response.body.event.offset, i - 1, 'offsets count from 0');
    t.match(response.body.event.created_at, RFC3339_UTC);
    ids.push(response.body.event.id);
  }
  t.equal(new Set(ids).size, 5, 'ids are distinct');
  const info = await send('{"operation": "get_stream_info", "body": {"stream_name": "steve"}}');
  t.same(Object.keys(info.body.stream).slice(0, 3), ['id', 'name', 'created_at']);
  t.equal(info.body.stream.event_count, 5);
  t.equal(info.body.stream.next_offset, 5);

  const processed = await send('{"operation": "process_events", "body": {"stream_name": "steve"}}');
  t.equal(processed.status, true);
  t.same(processed.body.events.map((e: { body: unknown }) => e.body), [1, 2, 3, 4, 5].map((i) => ({ [`e${i}`]: `event ${i} value` })));
  t.same(Object.keys(processed.body.events[0]), ['id', 'stream_id', 'status', 'created_at', 'body', 'offset', 'delivery_count']);
  t.same(processed.body.events.map((e: { id: string }) => e.id), ids);
  t.equal(processed.body.events[0].stream_id, info.body.stream.id);
  t.equal(processed.body.more, false);

  const retried = await send('{"operation": "retry_events", "body": {"stream_name": "steve"}}');
  t.same(retried, { operation: 'retry_events', status: true, body: { events: [], more: false } }, 'nothing is due for retry yet');
  t.same(await send('{"operation": "exit"}'), { operation: 'exit', status: true });
  t.ok(await s.closesWithin(2000));
});

t.test('SIGTERM: the server exits 0', async (t) => {
  t.equal(await server.stop('SIGTERM'), 0);
});
