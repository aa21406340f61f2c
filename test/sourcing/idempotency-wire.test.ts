/**
 * Idempotency as a client sees it from the real server process: the exact reason of each
 * IDEMPOTENCY_CONFLICT (every clause a whole sentence), and what docs/protocol.md
 * ("Idempotency") says of a retry's content.
 */
import t from 'tap';
import { serverProcessFor, startServerProcess } from '../helpers/server-process.js';
import { linesFor, type LineSocket } from '../helpers/server-lines.js';

async function append(s: LineSocket, body: Record<string, unknown>): Promise<any> {
  s.write(`${JSON.stringify({ operation: 'append_events', body: { stream_name: 's', ...body } })}\n`);
  return JSON.parse(await s.readLine());
}

const ids = (...msgIds: (string | null)[]) => msgIds.map((msgId, i) => (msgId === null ? { body: i } : { body: i, msg_id: msgId }));

t.test("IDEMPOTENCY_CONFLICT's reason, for each way a batch is partly seen", async (t) => {
  const server = await serverProcessFor(t);
  const s = await linesFor(t, server.port);
  s.write('{"operation":"create_stream","body":{"stream_name":"s"}}\n');
  await s.readLine();
  t.equal((await append(s, { events: ids('a3') })).status, true);
  t.equal((await append(s, { key: 'K', events: ids('k1') })).status, true);
  const cases: [string, Record<string, unknown>, string, string[]][] = [
    ['a seen id and an unseen one (the window)', { events: ids('a3', 'a4') },
      "1 of the batch's 2 events was appended before (by msg_id); 1 event with a msg_id was not", ['a3']],
    ['a seen id and two unseen', { events: ids('a5', 'a3', 'a6') },
      "1 of the batch's 3 events was appended before (by msg_id); 2 events with a msg_id were not", ['a3']],
    ['a seen id and one without an id', { events: ids('a3', null) },
      "1 of the batch's 2 events was appended before (by msg_id); 1 event without a msg_id cannot be recognised as appended before", ['a3']],
    ['both, plural', { events: ids('a3', 'a7', 'a8', null, null) },
      "1 of the batch's 5 events was appended before (by msg_id); 2 events with a msg_id were not; 2 events without a msg_id cannot be recognised as appended before", ['a3']],
    ['the exact rule: a prefix and one without an id', { key: 'K', expected_version: -1, events: ids('k1', null) },
      "the key's first events repeat only the first 1 of the batch's 2 events (by msg_id); 1 event without a msg_id cannot be recognised as appended before", ['k1']],
  ];
  for (const [label, body, reason, msgIds] of cases) {
    t.same(await append(s, body), { operation: 'append_events', status: false, code: 'IDEMPOTENCY_CONFLICT', reason, context: { msg_ids: msgIds } }, label);
  }
  s.write('{"operation":"get_stream_info","body":{"stream_name":"s"}}\n');
  t.equal(JSON.parse(await s.readLine()).body.stream.event_count, 2, 'nothing was appended');
});

// Pins documented behaviour (docs/protocol.md, "Idempotency": content is not compared), as
// EventStoreDB does: it passed before that sentence was written too.
t.test('a retry is recognised by msg_id alone: another body, type or metadata gets the original, and is not stored', async (t) => {
  const server = await serverProcessFor(t);
  const s = await linesFor(t, server.port);
  s.write('{"operation":"create_stream","body":{"stream_name":"s"}}\n');
  await s.readLine();
  const first = await append(s, { key: 'K', events: [{ body: { n: 1 }, type: 'A', msg_id: 'c1' }] });
  const other = { key: 'K', events: [{ body: { n: 2 }, type: 'B', metadata: { by: 'someone else' }, msg_id: 'c1' }] };
  const windowed = await append(s, other);
  t.same([windowed.status, windowed.body.duplicate, windowed.body.events], [true, true, first.body.events], 'the window: duplicate, the original events');
  const exact = await append(s, { ...other, expected_version: -1 });
  t.same([exact.status, exact.body.duplicate, exact.body.events], [true, true, first.body.events], 'the exact rule: the same');
  s.write('{"operation":"write_event","body":{"stream_name":"s","key":"K","event":{"n":3},"msg_id":"c1"}}\n');
  const written = JSON.parse(await s.readLine());
  t.same([written.body.duplicate, written.body.event.id], [true, first.body.events[0].id], 'write_event: the same');
  s.write('{"operation":"get_stream_events","body":{"stream_name":"s"}}\n');
  const events = JSON.parse(await s.readLine()).body.events;
  t.same(events.map((e: any) => [e.body, e.type, e.metadata]), [[{ n: 1 }, 'A', undefined]], 'only the first content is stored');
});

// Pins documented behaviour (docs/protocol.md, delete_stream and "Idempotency"): it passed
// before those sentences were written too.
t.test('a stream deleted and created again under its name starts afresh: versions from 0, its msg_ids forgotten, also across a kill -9', async (t) => {
  let server = await serverProcessFor(t);
  let s = await linesFor(t, server.port);
  const call = async (operation: string, body: Record<string, unknown>) => {
    s.write(`${JSON.stringify({ operation, body })}\n`);
    return JSON.parse(await s.readLine());
  };
  const batch = { key: 'K', events: ids('m1', 'm2', 'm3') };
  await call('create_stream', { stream_name: 's' });
  t.equal((await append(s, batch)).body.next_expected_version, 2);
  for (const killed of [false, true]) {
    await call('delete_stream', { stream_name: 's' });
    if (killed) {
      await server.stop('SIGKILL');
      server = await startServerProcess({ dataDir: server.dataDir, cwd: server.cwd });
      const again = server;
      t.teardown(() => again.stop('SIGKILL'));
      s = await linesFor(t, server.port);
    }
    await call('create_stream', { stream_name: 's' });
    const label = killed ? ' (kill -9 between delete and create)' : '';
    t.match(await append(s, { key: 'K', expected_version: 2, events: ids('x') }), { code: 'WRONG_EXPECTED_VERSION', context: { expected: 2, actual: -1 } }, `the old version is gone${label}`);
    t.match(await append(s, { key: 'K', expected_version: 'stream_exists', events: ids('x') }), { code: 'WRONG_EXPECTED_VERSION', context: { actual: -1 } }, `stream_exists${label}`);
    const retried = await append(s, batch);
    t.same([retried.body.duplicate, retried.body.events.map((e: any) => [e.offset, e.version])], [false, [[0, 0], [1, 1], [2, 2]]], `the old msg_ids are forgotten: appended as new, from offset and version 0${label}`);
  }
});
