/**
 * Over the wire: get_stream_events backward (from "end" and from an offset), from a time and from
 * "end", each reply saying where to continue and whether it is at the end, paged through against
 * a reference; create_stream retention, set_stream_retention and truncate_stream with what
 * get_stream_info shows; process_events start and the consumer's start in get_stream_info.
 */
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { onJetStream } from '../helpers/backend.js';
import { serverFor } from '../helpers/server-inprocess.js';

type Page = { events: { offset: number; created_at: string; body: { i: number } }[]; next_offset: number; at_end: boolean };

t.test('backward and by time, paged to the end, against a reference', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  for (let b = 0; b < 20; b++) {
    await Promise.all(Array.from({ length: 5 }, (_, k) => client.writeEvent('s', { i: b * 5 + k })));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const read = async (body: Record<string, unknown>) => (await client.request('get_stream_events', { stream_name: 's', ...body })).body as Page;
  const all = await read({ max_events: 1000 });
  t.equal(all.events.length, 100);
  t.equal(all.at_end, true, 'a forward page that reaches the end says so');
  t.equal(all.next_offset, 100);
  const first = await read({ max_events: 10 });
  t.same([first.next_offset, first.at_end], [10, false]);
  const endPage = await read({ from_offset: 'end' });
  t.same(endPage, { events: [], next_offset: 100, at_end: true }, 'from "end" forward: nothing yet, continue at the next offset');
  t.same(await read({ from_offset: 500 }), { events: [], next_offset: 100, at_end: true }, 'from past the end: clamped, continue at the next offset (never skipping offsets)');
  t.same(await read({ from_offset: 500, types: ['T'] }), { events: [], next_offset: 100, at_end: true }, 'the same with types');

  const backward: number[] = [];
  let page = await read({ direction: 'backward', from_offset: 'end', max_events: 7 });
  for (let pages = 0; ; pages++) {
    backward.push(...page.events.map((e) => e.offset));
    if (page.at_end) break;
    t.ok(pages < 50);
    page = await read({ direction: 'backward', from_offset: page.next_offset, max_events: 7 });
  }
  t.same(backward, Array.from({ length: 100 }, (_, i) => 99 - i), 'backward pages from "end": newest first, every event once');
  t.equal(page.next_offset, -1, 'the last backward page: next_offset below the first offset');
  t.same(await read({ direction: 'backward', from_offset: -1 }), { events: [], next_offset: -1, at_end: true }, 'that -1 sent back: an empty page at the end, not INVALID_FIELD');
  t.same((await read({ direction: 'backward', from_offset: 42, max_events: 3 })).events.map((e) => e.offset), [42, 41, 40], 'backward from an offset includes it');

  let mismatches = 0;
  for (const event of all.events.filter((_, k) => k % 7 === 0)) {
    const at = await read({ from_time: event.created_at, max_events: 1 });
    const expected = all.events.find((e) => e.created_at >= event.created_at)!.offset;
    if (at.events[0]!.offset !== expected) mismatches += 1;
    const before = await read({ from_time: event.created_at, direction: 'backward', max_events: 1 });
    const expectedBefore = [...all.events].reverse().find((e) => e.created_at <= event.created_at)!.offset;
    if (before.events[0]!.offset !== expectedBefore) mismatches += 1;
  }
  t.equal(mismatches, 0, 'from_time forward (first at or after) and backward (last at or before) match a scan');
  // A time inside the last event's millisecond: forward, nothing is at or after it.
  const last = all.events[all.events.length - 1]!;
  const inside = `${last.created_at.slice(0, -1)}1Z`;
  t.same((await read({ from_time: inside })).events, [], `forward from ${inside}: the last event (${last.created_at}) is before it`);
  t.equal((await read({ from_time: inside, direction: 'backward', max_events: 1 })).events[0]?.offset, last.offset, 'backward: the last event is at or before it');
  const future = await read({ from_time: '2999-01-01T00:00:00Z' });
  t.same(future, { events: [], next_offset: 100, at_end: true });
});

t.test('retention and truncation: create, set, truncate; get_stream_info shows them; consumers start where told', { skip: onJetStream ? 'refused on the jetstream backend (docs/protocol.md): retention and truncation' : false }, async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.request('create_stream', { stream_name: 's', retention: { max_events: 1000, max_age_ms: 86_400_000 } });
  let info = (await client.request('get_stream_info', { stream_name: 's' })).body as { stream: Record<string, unknown> };
  t.same(info.stream.retention, { max_age_ms: 86_400_000, max_bytes: 0, max_events: 1000 });
  const set = await client.request('set_stream_retention', { stream_name: 's', retention: { max_bytes: 1 << 30 } });
  t.same(set.body, { retention: { max_age_ms: 0, max_bytes: 1 << 30, max_events: 0 } }, 'the limits left out follow the store again');
  for (let i = 0; i < 10; i++) await client.writeEvent('s', { i });
  const truncated = await client.request('truncate_stream', { stream_name: 's', before_offset: 4 });
  t.same(truncated.body, { first_offset: 4, next_offset: 10 });
  const page = (await client.request('get_stream_events', { stream_name: 's' })).body as Page;
  t.equal(page.events[0]!.offset, 4, 'reads start at the truncation');
  const below = (await client.request('get_stream_events', { stream_name: 's', direction: 'backward', from_offset: 1 })).body as Page;
  t.same(below, { events: [], next_offset: 3, at_end: true }, 'backward from below the truncation: nothing, next_offset first_offset - 1');
  await t.rejects(client.request('truncate_stream', { stream_name: 's', before_offset: 11 }), { code: 'INVALID_FIELD' });
  await t.rejects(client.request('truncate_stream', { stream_name: 'nope', before_offset: 1 }), { code: 'STREAM_NOT_FOUND' });
  await t.rejects(client.request('set_stream_retention', { stream_name: 's', retention: { max_events: -1 } }), { code: 'INVALID_FIELD' });

  const first = async (consumer: string, start: unknown) =>
    ((await client.request('process_events', { stream_name: 's', consumer, start, max_events: 1 })).body as Page).events[0]?.offset;
  t.equal(await first('a', 'all'), 4);
  t.equal(await first('n', 'new'), undefined);
  t.equal(await first('o', { offset: 6 }), 6);
  t.equal(await first('t', { time: '2000-01-01T00:00:00Z' }), 4);
  await t.rejects(client.request('process_events', { stream_name: 's', consumer: 'x', start: { offset: 99 } }), { code: 'INVALID_FIELD' });
  info = (await client.request('get_stream_info', { stream_name: 's' })).body as { stream: Record<string, unknown> };
  const starts = Object.fromEntries((info.stream.consumers as { name: string; start: unknown }[]).map((c) => [c.name, c.start]));
  t.same(starts, { a: 'all', n: 'new', o: { offset: 6 }, t: { time: '2000-01-01T00:00:00.000Z' } });
  t.equal(info.stream.first_offset, 4);
});

t.test('a worker\'s batch of acknowledgements that straddles a truncation: the removed ones succeed as done, the rest apply', { skip: onJetStream ? 'refused on the jetstream backend (docs/protocol.md): retention and truncation' : false }, async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  for (let i = 0; i < 10; i++) await client.writeEvent('s', { i });
  const delivered = ((await client.request('process_events', { stream_name: 's', consumer: 'w', max_events: 10 })).body as { events: { id: string }[] }).events;
  t.equal(delivered.length, 10);
  await client.request('truncate_stream', { stream_name: 's', before_offset: 5 });
  await client.request('mark_event', { event_ids: [delivered[3]!.id, delivered[7]!.id], status: 1, consumer: 'w' });
  const pending = async () => ((await client.request('get_stream_info', { stream_name: 's' })).body as { stream: { consumers: { pending: number }[] } }).stream.consumers[0]!.pending;
  t.equal(await pending(), 4, 'offset 7 is acknowledged; offset 3 is gone and was not pending');
  await t.rejects(client.request('mark_event', { event_id: delivered[2]!.id, status: 2, consumer: 'w' }), { code: 'EVENT_NOT_FOUND' }, 'a removed event cannot be retried');
  await t.rejects(client.request('mark_event', { event_id: delivered[2]!.id, status: 0, consumer: 'w' }), { code: 'EVENT_NOT_FOUND' }, 'nor delivered again');
  await client.request('mark_event', { event_ids: [delivered[0]!.id, delivered[1]!.id], status: 1, consumer: 'w' });
  t.equal(await pending(), 4, 'a batch of removed events only: succeeds, changes nothing');
});

t.test('consumers start where told and take only their key; get_stream_info shows start and filter', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  for (let i = 0; i < 10; i++) await client.request('write_event', { stream_name: 's', event: { i }, ...(i % 2 === 0 ? { key: 'even' } : {}), ...(i % 3 === 0 ? { type: 'tri' } : {}) });
  const offsets = async (consumer: string, extra: Record<string, unknown>) =>
    ((await client.request('process_events', { stream_name: 's', consumer, max_events: 100, ...extra })).body as Page).events.map((e) => e.offset);
  t.same(await offsets('a', { start: 'all' }), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.same(await offsets('n', { start: 'new' }), [], 'a new consumer started at "new" has nothing yet');
  t.same(await offsets('o', { start: { offset: 6 } }), [6, 7, 8, 9]);
  t.same(await offsets('old', { start: { offset: 0 }, key: 'even' }), [0, 2, 4, 6, 8], 'a key filter takes only that key');
  t.same(await offsets('typed', { types: ['tri', 'other'] }), [0, 3, 6, 9], 'a types filter takes only those types');
  t.same(await offsets('both', { key: 'even', types: ['tri'] }), [0, 6], 'key and types together');
  t.same(await offsets('t', { start: { time: '2000-01-01T00:00:00Z' } }), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  t.same(await offsets('future', { start: { time: '2999-01-01T00:00:00Z' } }), []);
  await t.rejects(client.request('process_events', { stream_name: 's', consumer: 'x', start: { offset: 11 } }), { code: 'INVALID_FIELD' });
  t.same(await offsets('o', { start: 'all' }), [], 'a start is fixed at creation: ignored afterwards');

  await client.request('write_event', { stream_name: 's', event: { i: 10 }, key: 'even' });
  await client.request('write_event', { stream_name: 's', event: { i: 11 }, type: 'tri' });
  t.same(await offsets('n', {}), [10, 11], 'the "new" consumer takes what was written after it');
  t.same(await offsets('old', {}), [10], 'the key\'s consumer takes the key\'s new event only');
  t.same(await offsets('typed', {}), [11], 'the types\' consumer its type\'s');
  t.same(await offsets('both', {}), [], 'and the consumer of both neither');
  t.same(await offsets('future', {}), [10, 11], 'a start still to come: what was written after the creation, as "new"');

  const info = (await client.request('get_stream_info', { stream_name: 's' })).body as { stream: { consumers: { name: string; start: unknown; filter: unknown }[] } };
  const setups = Object.fromEntries(info.stream.consumers.map((c) => [c.name, [c.start, c.filter]]));
  t.same(setups, {
    a: ['all', null],
    n: ['new', null],
    o: [{ offset: 6 }, null],
    old: [{ offset: 0 }, { key: 'even' }],
    typed: ['all', { types: ['tri', 'other'] }],
    both: ['all', { key: 'even', types: ['tri'] }],
    t: [{ time: '2000-01-01T00:00:00.000Z' }, null],
    // The jetstream backend keeps a time still to come as "new" (docs/protocol.md).
    future: [onJetStream ? 'new' : { time: '2999-01-01T00:00:00.000Z' }, null],
  });
});
