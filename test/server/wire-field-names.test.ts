/**
 * The engine names a library call's arguments in `context.field` (`name`, `beforeOffset`:
 * docs/embedding.md); the wire's replies name the request's fields, exactly as before
 * (`stream_name`, `before_offset`; src/bus/wire-fields.ts renames them). Also the calls the bus
 * makes to the engine carry only options the engine knows (it refuses any other key): a read of
 * every kind, a consume with a start and a filter, a write with every event-sourcing field.
 */
import t from 'tap';
import { serverFor } from '../helpers/server-inprocess.js';
import { linesFor } from '../helpers/server-lines.js';

t.test('refusals the engine makes read on the wire as they always have', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  const exchange = async (line: string) => {
    s.write(`${line}\n`);
    return s.readLine();
  };
  t.equal(JSON.parse(await exchange('{"operation":"create_stream","body":{"stream_name":"s"}}')).status, true);
  const cases: [string, string][] = [
    ['{"operation":"create_stream","body":{"stream_name":""}}', '{"operation":"create_stream","status":false,"context":{"field":"stream_name"},"reason":"invalid stream name: it is empty","code":"INVALID_STREAM_NAME"}'],
    ['{"operation":"create_stream","body":{"stream_name":"$dlq:x"}}', '{"operation":"create_stream","status":false,"context":{"field":"stream_name"},"reason":"invalid stream name: names starting with \'$dlq:\' are reserved for dead-letter streams","code":"INVALID_STREAM_NAME"}'],
    ['{"operation":"truncate_stream","body":{"stream_name":"s","before_offset":5}}', '{"operation":"truncate_stream","status":false,"context":{"field":"before_offset","expected":"an integer from 0 to 0"},"reason":"before_offset must be from 0 to the stream\'s next offset (0), got 5","code":"INVALID_FIELD"}'],
    ['{"operation":"write_event","body":{"stream_name":"","event":{}}}', '{"operation":"write_event","status":false,"reason":"stream \'\' not found","code":"STREAM_NOT_FOUND"}'],
  ];
  for (const [line, expected] of cases) t.equal(await exchange(line), expected, line);
});

t.test('the bus passes the engine only options it knows', async (t) => {
  const { port } = await serverFor(t);
  const s = await linesFor(t, port);
  const request = async (line: string) => {
    s.write(`${line}\n`);
    const reply = JSON.parse(await s.readLine()) as { status: boolean; code?: string; reason?: string };
    t.equal(reply.status, true, `${line}: ${reply.code ?? 'ok'} ${reply.reason ?? ''}`);
    return reply;
  };
  await request('{"operation":"create_stream","body":{"stream_name":"s","retention":{"max_events":100}}}');
  await request('{"operation":"write_event","body":{"stream_name":"s","event":{"a":1},"key":"k","type":"t","msg_id":"m1","metadata":{"m":1},"expected_version":"any"}}');
  await request('{"operation":"append_events","body":{"stream_name":"s","key":"k","expected_version":0,"events":[{"body":2,"type":"t","msg_id":"m2","metadata":{"m":2}}]}}');
  await request('{"operation":"get_stream_events","body":{"stream_name":"s","from_offset":0,"max_events":10}}');
  await request('{"operation":"get_stream_events","body":{"stream_name":"s","direction":"backward","max_events":10}}');
  await request('{"operation":"get_stream_events","body":{"stream_name":"s","key":"k","max_events":10}}');
  await request('{"operation":"get_stream_events","body":{"stream_name":"s","types":["t"],"max_events":10}}');
  await request('{"operation":"process_events","body":{"stream_name":"s","consumer":"c","max_events":1,"start":{"offset":0},"types":["t"]}}');
  await request('{"operation":"process_events","body":{"stream_name":"s","consumer":"c2","start":"new","key":"k","wait_ms":1}}');
  await request('{"operation":"retry_events","body":{"stream_name":"s","consumer":"c","max_events":5}}');
  await request('{"operation":"set_stream_retention","body":{"stream_name":"s","retention":{"max_age_ms":0}}}');
  await request('{"operation":"truncate_stream","body":{"stream_name":"s","before_offset":1}}');
});
