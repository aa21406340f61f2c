/**
 * append_events refuses a body member it does not have (a misspelt expected_version, a
 * camel-case expectedVersion, a `Key`) with INVALID_FIELD naming it and nothing written, against
 * the real server process: ignored, they turned a conditional append into an unconditional one
 * and a keyed one into an unkeyed one, answered status true. write_event keeps ignoring unknown
 * body keys, as the original Go server did (docs/protocol.md, "Requests").
 */
import t from 'tap';
import { serverProcessFor } from '../helpers/server-process.js';
import { linesFor, type LineSocket } from '../helpers/server-lines.js';

async function send(s: LineSocket, line: string): Promise<any> {
  s.write(`${line}\n`);
  return JSON.parse(await s.readLine());
}

const EXPECTED = "one of append_events' members: stream_name, key, expected_version, events (type, metadata and msg_id are each event's, inside events)";

t.test('append_events: an unknown body member is INVALID_FIELD naming it, nothing written', async (t) => {
  const server = await serverProcessFor(t);
  const s = await linesFor(t, server.port);
  await send(s, '{"operation":"create_stream","body":{"stream_name":"s"}}');
  t.equal((await send(s, '{"operation":"append_events","body":{"stream_name":"s","key":"K","events":[{"body":1}]}}')).status, true);
  const cases: [string, string][] = [
    ['expected_verison', '{"operation":"append_events","body":{"stream_name":"s","key":"K","expected_verison":5,"events":[{"body":2}]}}'],
    ['expectedVersion', '{"operation":"append_events","body":{"stream_name":"s","key":"K","expectedVersion":5,"events":[{"body":3}]}}'],
    ['Key', '{"operation":"append_events","body":{"stream_name":"s","Key":"K2","events":[{"body":4}]}}'],
    // Null is refused too: the member is still a mistake, whatever its value.
    ['msg_id', '{"operation":"append_events","body":{"stream_name":"s","msg_id":null,"events":[{"body":5}]}}'],
  ];
  for (const [member, line] of cases) {
    t.same(await send(s, line), {
      operation: 'append_events', status: false, code: 'INVALID_FIELD', reason: 'invalid json provided', context: { field: member, expected: EXPECTED },
    }, `${member} is refused, named`);
  }
  // Refused before the stream is looked up: a mistake in the request is reported whatever the stream.
  t.match(await send(s, '{"operation":"append_events","body":{"stream_name":"nope","expected_verison":0,"events":[{"body":1}]}}'), { code: 'INVALID_FIELD', context: { field: 'expected_verison' } });
  const info = await send(s, '{"operation":"get_stream_info","body":{"stream_name":"s"}}');
  t.equal(info.body.stream.event_count, 1, 'nothing was written by the refused appends');
  // The members it has still work, the connection is still up.
  const keyed = await send(s, '{"operation":"append_events","body":{"stream_name":"s","key":"K","expected_version":0,"events":[{"body":6}]}}');
  t.same([keyed.status, keyed.body.events[0].version], [true, 1]);
});

t.test('write_event still ignores unknown body keys, as the original did: a misspelt expected_version is not checked', async (t) => {
  const server = await serverProcessFor(t);
  const s = await linesFor(t, server.port);
  await send(s, '{"operation":"create_stream","body":{"stream_name":"s"}}');
  const plain = await send(s, '{"operation":"write_event","body":{"stream_name":"s","event":1,"extra":true}}');
  t.same(Object.keys(plain.body), ['event'], 'the original reply, the unknown key ignored');
  const misspelt = await send(s, '{"operation":"write_event","body":{"stream_name":"s","key":"K","expected_verison":7,"event":2}}');
  t.same([misspelt.status, misspelt.body.event.version], [true, 0], 'written unconditionally (docs/protocol.md says so: use append_events)');
});
