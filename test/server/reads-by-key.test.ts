/**
 * Reads by key (an aggregate's events through the key index, forward and backward, paged with
 * next_version, from a version, an offset, a time or the end) and by type (a bounded scan paged with next_offset) against a reference model of
 * what was appended; a consumer with a key or types filter (fixed at creation, shown by
 * get_stream_info) gets exactly its events; a subscription with a key gets its key's events,
 * history then live.
 */
import t from 'tap';
import { EventBusClient } from '../../src/client/client.js';
import { onJetStream } from '../helpers/backend.js';
import { seededRandom } from '../helpers/random.js';
import { serverFor } from '../helpers/server-inprocess.js';

type Page = { events: { offset: number; key?: string; version?: number; type?: string; body: { n: number } }[]; next_version?: number; next_offset?: number; at_end: boolean };

t.test('by key forward and backward, by types, against a reference model', async (t) => {
  const { port } = await serverFor(t);
  const client = await EventBusClient.connect({ port });
  t.teardown(() => client.close());
  await client.createStream('s');
  const random = seededRandom(1313);
  const model: { offset: number; key: string; version: number; type: string; n: number }[] = [];
  const versions = new Map<string, number>();
  let n = 0;
  for (let batch = 0; batch < 120; batch++) {
    const key = `k${random.int(0, 7)}`;
    const events = Array.from({ length: random.int(1, 4) }, () => ({ body: { n: n++ }, type: random.next() < 0.3 ? 'Rare' : 'Common' }));
    // docs/protocol.md, the jetstream backend: one event per append there (no atomic batches in 2.9).
    const result = onJetStream
      ? { events: await Promise.all(events.map(async (event) => (await client.appendEvents('s', [event], { key })).events[0]!)) }
      : await client.appendEvents('s', events, { key });
    events.forEach((event, i) => {
      const version = (versions.get(key) ?? -1) + 1;
      versions.set(key, version);
      model.push({ offset: result.events[i]!.offset, key, version, type: event.type, n: event.body.n });
    });
  }
  await client.writeEvent('s', { n: -1 }); // an event without key or type
  const read = async (body: Record<string, unknown>) => (await client.request('get_stream_events', { stream_name: 's', ...body })).body as Page;
  let mismatches = 0;
  for (const key of versions.keys()) {
    const expected = model.filter((e) => e.key === key);
    for (const direction of ['forward', 'backward'] as const) {
      const got: number[] = [];
      let page = await read({ key, direction, max_events: 3 });
      for (let pages = 0; ; pages++) {
        got.push(...page.events.map((e) => e.version!));
        if (page.events.some((e) => e.key !== key)) mismatches += 1;
        if (page.at_end || pages > 100) break;
        page = await read({ key, direction, from_version: page.next_version, max_events: 3 });
      }
      const want = expected.map((e) => e.version);
      if (direction === 'backward') want.reverse();
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        mismatches += 1;
        t.comment(`${key} ${direction}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      }
    }
    const from = Math.floor(expected.length / 2);
    const middle = await read({ key, from_version: from, max_events: 2 });
    if (JSON.stringify(middle.events.map((e) => e.body.n)) !== JSON.stringify(expected.slice(from, from + 2).map((e) => e.n))) mismatches += 1;
  }
  t.equal(mismatches, 0, 'every key, paged forward and backward by version, matches the model');

  // The position as an offset or a time instead of a version: the key's events at or after it
  // (backward: at or before it), checked against the whole stream read plainly.
  type Stored = { offset: number; created_at: string; key?: string; version?: number };
  const stream = (await read({ max_events: 10_000 })).events as unknown as Stored[];
  let positionMismatches = 0;
  const expect = async (body: Record<string, unknown>, want: Stored[], what: string) => {
    const got = (await read({ ...body, max_events: 3 })).events.map((e) => e.version!);
    const wanted = want.slice(0, 3).map((e) => e.version!);
    if (JSON.stringify(got) === JSON.stringify(wanted)) return;
    positionMismatches += 1;
    t.comment(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(wanted)}`);
  };
  for (const key of [...versions.keys()].slice(0, 2)) {
    const mine = stream.filter((e) => e.key === key);
    for (const probe of stream.filter((_, i) => i % 29 === 0)) {
      await expect({ key, from_offset: probe.offset }, mine.filter((e) => e.offset >= probe.offset), `${key} from_offset ${probe.offset}`);
      await expect({ key, direction: 'backward', from_offset: probe.offset }, mine.filter((e) => e.offset <= probe.offset).reverse(), `${key} backward from_offset ${probe.offset}`);
      await expect({ key, from_time: probe.created_at }, mine.filter((e) => e.created_at >= probe.created_at), `${key} from_time ${probe.created_at}`);
      await expect({ key, direction: 'backward', from_time: probe.created_at }, mine.filter((e) => e.created_at <= probe.created_at).reverse(), `${key} backward from_time ${probe.created_at}`);
    }
    const last = versions.get(key)!;
    t.same(await read({ key, from_version: 'end' }), { events: [], next_version: last + 1, at_end: true }, `${key} forward from_version "end": an empty page at the end, continuing at the next version`);
    t.same(await read({ key, from_offset: 'end' }), { events: [], next_version: last + 1, at_end: true }, `${key} forward from_offset "end" likewise`);
    t.same(await read({ key, from_version: last + 50 }), { events: [], next_version: last + 1, at_end: true }, `${key} forward past the last version: clamped to the next one`);
  }
  t.equal(positionMismatches, 0, 'by key from an offset or a time, forward and backward, matches the stream');
  await t.rejects(read({ key: 'k1', from_version: 0, from_offset: 3 }), { code: 'INVALID_FIELD' }, 'from_version with from_offset is refused');
  await t.rejects(read({ key: 'k1', from_version: 0, from_time: '2026-01-01T00:00:00Z' }), { code: 'INVALID_FIELD' }, 'from_version with from_time is refused');
  const unknown = await read({ key: 'nobody' });
  t.same([unknown.events.length, unknown.at_end], [0, true], 'a key with no events: an empty page at the end');

  const rare: number[] = [];
  let page = await read({ types: ['Rare'], max_events: 5 });
  for (let pages = 0; ; pages++) {
    rare.push(...page.events.map((e) => e.offset));
    if (page.at_end || pages > 200) break;
    page = await read({ types: ['Rare'], from_offset: page.next_offset, max_events: 5 });
  }
  t.same(rare, model.filter((e) => e.type === 'Rare').map((e) => e.offset), 'types: every event of the type, in order, paged by next_offset');
  const rareBack = await read({ types: ['Rare'], direction: 'backward', max_events: 3 });
  t.same(rareBack.events.map((e) => e.offset), model.filter((e) => e.type === 'Rare').map((e) => e.offset).reverse().slice(0, 3), 'types backward');

  // docs/protocol.md, the jetstream backend: consumer filters are refused there.
  if (!onJetStream) {
    // Consumers with a filter, fixed at creation.
    const consume = async (consumer: string, extra: Record<string, unknown> = {}) => {
      const offsets: number[] = [];
      for (let i = 0; i < 100; i++) {
        const body = (await client.request('process_events', { stream_name: 's', consumer, max_events: 7, auto_ack: true, ...extra })).body as { events: { offset: number }[]; more: boolean };
        offsets.push(...body.events.map((e) => e.offset));
        if (body.events.length === 0 && !body.more) break;
      }
      return offsets;
    };
    t.same(await consume('k3-only', { key: 'k3' }), model.filter((e) => e.key === 'k3').map((e) => e.offset), 'a consumer with a key gets exactly that key\'s events');
    t.same(await consume('rare-only', { types: ['Rare'] }), model.filter((e) => e.type === 'Rare').map((e) => e.offset), 'a consumer with types gets exactly those');
    const info = (await client.request('get_stream_info', { stream_name: 's' })).body as { stream: { consumers: { name: string; filter: unknown; pending: number }[] } };
    const filters = Object.fromEntries(info.stream.consumers.map((c) => [c.name, c.filter]));
    t.same(filters, { 'k3-only': { key: 'k3' }, 'rare-only': { types: ['Rare'] } });
  }

  // A subscription with a key: history, caught up, then live events of that key only.
  const subscription = await client.subscribe<{ n: number }>('s', { key: 'k5' });
  const seen: number[] = [];
  for await (const item of subscription) {
    if (item.kind === 'caught_up') {
      await client.appendEvents('s', [{ body: { n: 1000 } }], { key: 'k6' });
      await client.appendEvents('s', [{ body: { n: 1001 } }], { key: 'k5' });
      continue;
    }
    seen.push(item.event.body.n);
    if (item.event.body.n === 1001) break;
  }
  subscription.close();
  t.same(seen, [...model.filter((e) => e.key === 'k5').map((e) => e.n), 1001], 'subscribe with a key: that key\'s history, then its live events only');
});
